"""A WebSocket upgrade is passed through and frames flow both ways."""

import base64
import hashlib
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def masked_frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def read_exact(f, n):
    data = f.read(n)
    assert len(data) == n, f"connection closed after {len(data)} of {n}"
    return data


def read_frame(f):
    """Return (fin, opcode, payload) of one server frame, which RFC 6455
    section 5.1 requires to be unmasked."""
    b0, b1 = read_exact(f, 2)
    assert b1 & 0x80 == 0, "server frame is masked"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(f, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(f, 8))[0]
    return bool(b0 & 0x80), b0 & 0x0F, read_exact(f, n)


def test_websocket_echo(portico_factory, host_server):
    ws = host_server("ws_echo.py")
    portico = portico_factory("--route", f"ws.test=http://127.0.0.1:{ws.port}")
    key = base64.b64encode(os.urandom(16)).decode()
    expected_accept = base64.b64encode(
        hashlib.sha1((key + GUID).encode()).digest()).decode()

    sock = socket.create_connection(("127.0.0.1", portico.port), timeout=5)
    f = sock.makefile("rb")
    sock.sendall((
        "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    status_line = f.readline().decode()
    assert status_line.split(" ")[1] == "101", status_line
    headers = {}
    while (line := f.readline().decode().strip()):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    assert headers["sec-websocket-accept"] == expected_accept

    sock.sendall(masked_frame(1, b"hello portico"))
    assert read_frame(f) == (True, 1, b"hello portico")

    big = os.urandom(70000)
    sock.sendall(masked_frame(2, big))
    assert read_frame(f) == (True, 2, big)

    sock.sendall(masked_frame(9, b"ping"))
    assert read_frame(f) == (True, 10, b"ping")

    sock.sendall(masked_frame(8, struct.pack("!H", 1000)))
    assert read_frame(f) == (True, 8, struct.pack("!H", 1000))
    assert f.read(1) == b"", "connection still open after close"
    sock.close()

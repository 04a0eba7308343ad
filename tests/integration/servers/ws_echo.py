"""WebSocket echo server (RFC 6455) on the Python standard library.

Usage: ws_echo.py --port PORT
The server sends text and binary frames back with the same opcode and
payload, replies to a ping with a pong, and to a close frame with a close
frame carrying the same status code. A client frame without a mask is answered with close code
1002 (protocol error), as RFC 6455 section 5.1 requires.
"""

import argparse
import base64
import hashlib
import socketserver
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key):
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode()


def encode_frame(opcode, payload):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        request_line = self.rfile.readline().decode("latin-1").strip()
        headers = {}
        while True:
            line = self.rfile.readline().decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        if "websocket" not in headers.get("upgrade", "").lower() or not key:
            body = f"ws echo: not a websocket request: {request_line}\n"
            self.wfile.write(
                ("HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                 + body).encode())
            return
        self.wfile.write(
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode())
        self.wfile.flush()
        self.echo_frames()

    def read_exact(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def echo_frames(self):
        while True:
            try:
                b0, b1 = self.read_exact(2)
            except EOFError:
                return
            opcode = b0 & 0x0F
            masked = b1 & 0x80
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.read_exact(8))[0]
            mask = self.read_exact(4) if masked else None
            payload = bytearray(self.read_exact(n))
            if mask is None:
                self.wfile.write(encode_frame(8, struct.pack("!H", 1002)))
                return
            for i in range(n):
                payload[i] ^= mask[i % 4]
            if opcode == 8:
                self.wfile.write(encode_frame(8, bytes(payload[:2])))
                return
            if opcode == 9:
                self.wfile.write(encode_frame(10, bytes(payload)))
            elif opcode in (0, 1, 2):
                self.wfile.write(encode_frame(opcode, bytes(payload)))
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    Server(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

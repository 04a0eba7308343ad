"""Raw-byte HTTP helpers: a client that sends exact bytes and a recording
upstream that stores every byte it receives, per connection."""

import re
import socket
import threading
import time

from harness import free_port


def exchange(port, data, timeout=3.0, pause=0.0):
    """Send data (bytes, or a list of bytes sent pause seconds apart) to
    127.0.0.1:port and return (reply, closed): what came back before the
    server closed or timeout seconds passed, and whether it closed."""
    parts = data if isinstance(data, list) else [data]
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    reply = b""
    closed = False
    try:
        for part in parts:
            try:
                sock.sendall(part)
            except OSError:
                break  # the server already closed; read what it sent
            if pause:
                time.sleep(pause)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            reply += chunk
    finally:
        sock.close()
    return reply, closed


def first_reply(port, data, timeout=5.0):
    """Send data and return (first bytes received, seconds until then)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        try:
            reply = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            reply = b""
    return reply, time.monotonic() - t0


def status_of(reply):
    """Return the status code of the first response in reply, or None."""
    if not reply.startswith(b"HTTP/1."):
        return None
    return int(reply.split(b" ", 2)[1])


def statuses(reply):
    """Return the status codes of all responses in reply, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", reply)]


class Upstream:
    """A threaded upstream on a loopback port. Each accepted connection's
    bytes are recorded in self.connections (a list of bytearrays). The
    default handler answers every complete request with 200 and a body
    naming the request's method and target; handler(conn, recorded) may
    replace it and owns the socket."""

    def __init__(self, handler=None):
        self.port = free_port()
        self.handler = handler or self.answer_requests
        self.connections = []
        self.heads = []  # request heads parsed by the default handler
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(128)
        self.stopping = False
        self.thread = threading.Thread(target=self.accept_loop, daemon=True)
        self.thread.start()

    def accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            recorded = bytearray()
            with self.lock:
                self.connections.append(recorded)
            threading.Thread(target=self.run_handler, args=(conn, recorded),
                             daemon=True).start()

    def run_handler(self, conn, recorded):
        try:
            conn.settimeout(10)
            self.handler(conn, recorded)
        except OSError:
            pass
        finally:
            conn.close()

    def received(self):
        """All bytes received, connections joined in accept order."""
        with self.lock:
            return b"".join(bytes(c) for c in self.connections)

    def stop(self):
        self.stopping = True
        self.sock.close()

    @staticmethod
    def read_more(conn, buf, recorded):
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
        recorded += chunk
        return buf

    def read_request(self, conn, buf, recorded):
        """Read one request from conn; return (head, body, rest)."""
        while b"\r\n\r\n" not in buf:
            buf = self.read_more(conn, buf, recorded)
        head, buf = buf.split(b"\r\n\r\n", 1)
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = b""
            while True:
                while b"\r\n" not in buf:
                    buf = self.read_more(conn, buf, recorded)
                line, buf = buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf = self.read_more(conn, buf, recorded)
                body, buf = body + buf[:size], buf[size + 2:]
                if size == 0:
                    break
        else:
            length = int(fields.get(b"content-length", b"0"))
            while len(buf) < length:
                buf = self.read_more(conn, buf, recorded)
            body, buf = buf[:length], buf[length:]
        return head, body, buf

    def answer_requests(self, conn, recorded):
        buf = b""
        while True:
            try:
                head, body, buf = self.read_request(conn, buf, recorded)
            except (EOFError, ValueError):
                return
            with self.lock:
                self.heads.append(head)
            line = head.split(b"\r\n", 1)[0]
            reply = line + b" body=" + str(len(body)).encode() + b"\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: "
                         + str(len(reply)).encode() + b"\r\n\r\n" + reply)


def header_values(head, name):
    """Return the values of the header name in a raw request head."""
    out = []
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            out.append(value.strip())
    return out

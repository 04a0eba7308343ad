"""HTTP server that consumes request bodies and reports their size and
sha256, for upload tests. GET returns a short text naming the server.

Usage: sink.py --port PORT [--stall-after BYTES --stall-ms MS]
With --stall-after, the server stops reading for MS milliseconds once BYTES
of a body have arrived. A proxy in front of it must then apply backpressure
to its client instead of buffering the rest of the body.
"""

import argparse
import hashlib
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.reply(200, f"sink {self.server.server_port}\n".encode(),
                   "text/plain")

    def do_POST(self):
        h = hashlib.sha256()
        total = 0
        stalled = False
        for chunk in self.body_chunks():
            h.update(chunk)
            total += len(chunk)
            if (not stalled and self.server.stall_after is not None
                    and total >= self.server.stall_after):
                stalled = True
                time.sleep(self.server.stall_ms / 1000)
        body = json.dumps({"bytes": total, "sha256": h.hexdigest()})
        self.reply(200, body.encode(), "application/json")

    def body_chunks(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return
                yield from self.read_n(size)
                self.rfile.readline()
        else:
            yield from self.read_n(int(self.headers.get("Content-Length",
                                                         "0")))

    def read_n(self, n):
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                raise ConnectionError(f"body ended {n} bytes early")
            n -= len(chunk)
            yield chunk

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stall-after", type=int)
    parser.add_argument("--stall-ms", type=int, default=1000)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.stall_after = args.stall_after
    server.stall_ms = args.stall_ms
    server.serve_forever()


if __name__ == "__main__":
    main()

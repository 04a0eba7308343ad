"""A scriptable stand-in for the Docker engine on a Unix socket.

It serves the four GET endpoints Portico uses: /version, /containers/json,
/containers/{id}/json and /events, the last three under any /vX.Y prefix.
Tests set what it returns, including replies a real engine never sends:
invalid JSON, odd API versions, event streams cut in the middle of a line.
Standard library only; one thread per connection.
"""

import hashlib
import http.server
import json
import queue
import sys
import socket
import socketserver
import threading
import time

API_VERSION = "1.43"
STARTED_AT = "2024-01-01T00:00:00.000000000Z"


def container_id(n):
    """Return a 64-hex container id made from the number n. Ids differ in
    their first 12 characters, the short id that Portico logs."""
    return hashlib.sha256(str(n).encode()).hexdigest()


def container(cid, name, labels=None, env=None, running=True,
              network_mode="host", networks=None):
    """Return an inspect document as GET /containers/{id}/json has it."""
    return {
        "Id": cid,
        "Name": "/" + name,
        "State": {"Status": "running" if running else "exited",
                  "Running": running, "Paused": False,
                  "StartedAt": STARTED_AT},
        "Config": {"Labels": labels or {}, "Env": env or [],
                   "ExposedPorts": {}},
        "HostConfig": {"NetworkMode": network_mode},
        "NetworkSettings": {"Networks": networks or {network_mode: {
            "IPAddress": ""}}},
    }


def event(action, cid, **attributes):
    """Return one /events line for a container, newline included."""
    doc = {"Type": "container", "Action": action,
           "Actor": {"ID": cid, "Attributes": attributes},
           "time": int(time.time()), "timeNano": time.time_ns()}
    return (json.dumps(doc) + "\n").encode()


# Items on a subscriber's queue besides bytes to send.
CUT = "cut"  # close the connection without ending the chunked body


class FakeEngine:
    """The engine's state. Tests change the attributes directly; each
    request reads them under the lock."""

    def __init__(self, path):
        self.path = str(path)
        self.host = "unix://" + self.path
        self.lock = threading.Lock()
        self.version = {"ApiVersion": API_VERSION, "MinAPIVersion": "1.12",
                        "Version": "24.0.0", "Os": "linux"}
        self.containers = {}        # id -> inspect document
        self.list_body = None       # raw /containers/json reply, or None
        self.inspect_replies = {}   # id -> (status, raw body)
        self.requests = []          # request paths, in arrival order
        self.subscribers = []       # one queue per open /events stream
        self.server = None
        self.thread = None

    def add(self, doc):
        with self.lock:
            self.containers[doc["Id"]] = doc

    def remove(self, cid):
        with self.lock:
            self.containers.pop(cid, None)

    def emit(self, data):
        """Send bytes on every open events stream."""
        with self.lock:
            for q in self.subscribers:
                q.put(data)

    def cut(self, data=b""):
        """Send data, then drop every events connection mid-body."""
        with self.lock:
            for q in self.subscribers:
                q.put(data)
                q.put(CUT)

    def subscribed(self):
        with self.lock:
            return len(self.subscribers)

    def count(self, prefix):
        """Return how many requests had a path (version prefix removed)
        starting with prefix."""
        with self.lock:
            return sum(1 for p in self.requests if p.startswith(prefix))

    def start(self):
        engine = self

        class Handler(EngineHandler):
            pass
        Handler.engine = engine
        self.server = Server(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is None:
            return
        self.server.stopping = True
        with self.lock:
            for q in self.subscribers:
                q.put(CUT)
        self.server.shutdown()
        self.server.server_close()
        self.server = None


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    stopping = False
    request_queue_size = 64

    def handle_error(self, request, client_address):
        # Portico closing a connection mid-reply is expected; anything else
        # is a bug in this fake and is printed.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def strip_version(path):
    """Turn "/v1.43/containers/json?x" into "/containers/json"."""
    path = path.split("?", 1)[0]
    if path.startswith("/v"):
        rest = path[2:]
        slash = rest.find("/")
        if slash > 0 and all(c.isdigit() or c == "." for c in rest[:slash]):
            return rest[slash:]
    return path


class EngineHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    engine = None

    def log_message(self, fmt, *args):
        pass

    def address_string(self):
        return "unix"

    def send_body(self, status, body, content_type="application/json"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        e = self.engine
        path = strip_version(self.path)
        with e.lock:
            e.requests.append(path)
        if path == "/version":
            with e.lock:
                doc = e.version
            body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
            self.send_body(200, body)
        elif path == "/containers/json":
            self.list_containers()
        elif path == "/events":
            self.stream_events()
        elif path.startswith("/containers/") and path.endswith("/json"):
            self.inspect(path[len("/containers/"):-len("/json")])
        else:
            self.send_body(404, '{"message":"page not found"}')

    def list_containers(self):
        e = self.engine
        with e.lock:
            body = e.list_body
            if body is None:
                body = json.dumps([
                    {"Id": c["Id"], "Names": [c["Name"]],
                     "State": c["State"]["Status"],
                     "Labels": c["Config"]["Labels"]}
                    for c in e.containers.values()
                    if c["State"]["Running"]])
        self.send_body(200, body)

    def inspect(self, cid):
        e = self.engine
        with e.lock:
            reply = e.inspect_replies.get(cid)
            doc = e.containers.get(cid)
        if reply is not None:
            self.send_body(*reply)
        elif doc is not None:
            self.send_body(200, json.dumps(doc))
        else:
            self.send_body(404, json.dumps(
                {"message": f"No such container: {cid}"}))

    def send_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream_events(self):
        e = self.engine
        q = queue.Queue()
        # Subscribed before the reply starts, so that nothing emitted
        # once Portico has seen the headers is lost.
        with e.lock:
            e.subscribers.append(q)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            while not self.server.stopping:
                try:
                    item = q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item == CUT:
                    break
                if item:
                    self.send_chunk(item)
        except OSError:
            pass
        finally:
            with e.lock:
                e.subscribers.remove(q)
            self.close_connection = True
            # An abrupt close: no terminating chunk, so Portico sees a
            # transfer that ended in the middle of the body.
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

"""Processes and clients for the integration tests.

Everything here talks to 127.0.0.1 or to a Unix socket: a private Docker
engine (dockerd), the Portico daemon under test, busybox backends run by that
engine, and helper servers run on the host.
"""

import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable

# Ports handed out to Portico, backends and helper servers. Each port is
# checked with bind() before use and never handed out twice in one session.
PORT_RANGE = os.environ.get("PORTICO_IT_PORTS", "23000-23999")
TMP_ROOT = os.environ.get("PORTICO_IT_TMPDIR", "/tmp")
IMAGE = "busybox:local"
# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer write
# to stderr when they find a bug.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "LeakSanitizer has encountered", "runtime error:")


def portico_binary():
    """Return the daemon to test: $PORTICO_BIN or build/portico."""
    path = os.environ.get("PORTICO_BIN") or str(REPO / "build" / "portico")
    return path


class PortAllocator:
    def __init__(self, spec):
        low, high = (int(x) for x in spec.split("-"))
        self.ports = list(range(low, high + 1))
        # Start at a pid-dependent offset so that two sessions run one after
        # the other do not reuse ports that may still be in TIME_WAIT.
        self.next = os.getpid() % len(self.ports)
        self.used = set()

    def take(self):
        for _ in range(len(self.ports)):
            port = self.ports[self.next]
            self.next = (self.next + 1) % len(self.ports)
            if port in self.used or not is_port_free(port):
                continue
            self.used.add(port)
            return port
        raise RuntimeError(f"no free loopback port in {PORT_RANGE}")


def is_port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_ports = PortAllocator(PORT_RANGE)


def free_port():
    """Return a free loopback TCP port from PORTICO_IT_PORTS."""
    return _ports.take()


def wait_until(cond, timeout=10.0, interval=0.05, what=None):
    """Poll cond() until it returns a true value and return that value.

    Exceptions from cond() count as "not yet". On timeout, raise an
    AssertionError with the last value and the last exception.
    """
    deadline = time.monotonic() + timeout
    last_value = None
    last_error = None
    while True:
        try:
            value = cond()
        except Exception as e:  # the condition may raise until it is met
            last_error = e
        else:
            if value:
                return value
            last_value = value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for "
                f"{what or getattr(cond, '__name__', cond)}: "
                f"last value {last_value!r}, last error {last_error!r}")
        time.sleep(interval)


def can_connect(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------
# HTTP client with control over every byte sent


class Response:
    def __init__(self, version, status, reason, headers, body, closed):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in received order
        self.body = body
        self.closed = closed  # the server closed the connection after it

    def header(self, name):
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return (f"<Response {self.version} {self.status} "
                f"body={self.body[:80]!r}>")


class HttpConnection:
    """One client connection to 127.0.0.1:port, written and parsed by hand
    so tests control the request line, version and headers exactly."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.reader = self.sock.makefile("rb")
        self.expect_close = False

    def close(self):
        self.reader.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, method, path, host, headers=(), body=b"",
                version="HTTP/1.1"):
        lines = [f"{method} {path} {version}"]
        if host is not None:
            lines.append(f"Host: {host}")
        for name, value in headers:
            lines.append(f"{name}: {value}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        self.sock.sendall(head.encode("latin-1") + body)
        # RFC 9112 section 9.3: an HTTP/1.0 request without keep-alive, or
        # "Connection: close" on either side, ends the connection.
        sent = {name.lower(): value.lower() for name, value in headers}
        self.expect_close = (
            sent.get("connection") == "close"
            or (version == "HTTP/1.0"
                and sent.get("connection") != "keep-alive"))
        return self.read_response(method)

    def read_response(self, method="GET"):
        status_line = self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before a response")
        parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        while True:
            line = self.reader.readline()
            if not line:
                raise ConnectionError("connection closed inside headers")
            line = line.decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        response = Response(version, status, reason, headers, b"", False)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return response
        te = (response.header("Transfer-Encoding") or "").lower()
        length = response.header("Content-Length")
        if "chunked" in te:
            response.body = self.read_chunked()
        elif length is not None:
            response.body = self.read_exact(int(length))
        else:
            response.body = self.reader.read()
            response.closed = True
        if not response.closed:
            response.closed = self.peer_closed(response)
        return response

    def read_exact(self, n):
        data = self.reader.read(n)
        if len(data) != n:
            raise ConnectionError(f"body truncated: {len(data)} of {n}")
        return data

    def read_chunked(self):
        body = bytearray()
        while True:
            size_line = self.reader.readline().split(b";")[0].strip()
            size = int(size_line, 16)
            if size == 0:
                while self.reader.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += self.read_exact(size)
            self.reader.readline()

    def peer_closed(self, response):
        """Return True if the server closed the connection after a response
        that ends it. Other connections are reported open without a check,
        and the next request on them shows whether they are."""
        announced = (response.header("Connection") or "").lower() == "close"
        if not announced and not self.expect_close:
            return False
        timeout = self.sock.gettimeout()
        self.sock.settimeout(2)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return False
        finally:
            self.sock.settimeout(timeout)


def http_get(port, host, path="/", headers=(), version="HTTP/1.1",
             method="GET", body=b"", timeout=5.0):
    """Send one request on a new connection and return its Response."""
    with HttpConnection(port, timeout=timeout) as conn:
        hdrs = list(headers)
        if version == "HTTP/1.1":
            hdrs.append(("Connection", "close"))
        return conn.request(method, path, host, hdrs, body, version)


def status_of(port, host, path="/"):
    """Return the status of GET host/path, or None if no response came."""
    try:
        return http_get(port, host, path, timeout=3).status
    except (OSError, ValueError, IndexError):
        return None


def body_of(port, host, path="/"):
    """Return the body of a 200 response, or None for any other outcome."""
    try:
        r = http_get(port, host, path, timeout=3)
    except (OSError, ValueError, IndexError):
        return None
    return r.body if r.status == 200 else None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_random_file(path, size):
    """Write size pseudo-random bytes to path and return their sha256."""
    h = hashlib.sha256()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        written = 0
        counter = 0
        while written < size:
            # Vary every MiB so a proxy that repeats or drops a block is
            # caught by the digest.
            chunk = counter.to_bytes(8, "big") + block[8:]
            chunk = chunk[:size - written]
            f.write(chunk)
            h.update(chunk)
            written += len(chunk)
            counter += 1
    return h.hexdigest()


def vm_hwm_kib(pid):
    """Return the peak resident set size (VmHWM) of pid in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def child_pids(pid):
    """Return the pids whose parent is pid (for a forking daemon)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            children.append(int(entry))
    return children


def stop_process(proc, timeout=10.0):
    """Stop proc with SIGTERM, or SIGKILL after timeout. Return its exit
    status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------
# The private Docker engine


class Engine:
    """A dockerd of our own: socket, data and exec root under one folder."""

    def __init__(self, root):
        self.dir = Path(root)
        self.sock = self.dir / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.log_path = self.dir / "dockerd.log"
        self.proc = None

    def start(self, timeout=60.0):
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                ["dockerd", "--iptables=false", "--ip6tables=false",
                 "--bridge=none", "--storage-driver=vfs",
                 "-H", self.host,
                 "--data-root", str(self.dir / "data"),
                 "--exec-root", str(self.dir / "exec"),
                 "--pidfile", str(self.dir / "docker.pid")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        finally:
            log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"dockerd exited with {self.proc.returncode}:\n"
                    + tail(self.log_path))
            return self.ping()

        try:
            wait_until(ready, timeout, 0.1, "dockerd to answer /_ping")
        except AssertionError:
            if self.proc.poll() is not None:
                raise
            raise AssertionError(f"dockerd did not respond within {timeout}s:\n"
                                 + tail(self.log_path))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ping(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(str(self.sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            return data.startswith(b"HTTP/1.") and b" 200 " in data[:16]
        except OSError:
            return False
        finally:
            s.close()

    def stop(self, timeout=30.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self.kill_containerd()
        self.proc = None

    def kill_containerd(self):
        pidfile = self.dir / "exec" / "containerd" / "containerd.pid"
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def env(self):
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        env.pop("DOCKER_TLS_VERIFY", None)
        env.pop("DOCKER_CERT_PATH", None)
        return env

    def docker(self, *args, check=True, timeout=60, input=None):
        """Run the docker client against this engine and return its stdout."""
        cp = subprocess.run(["docker", *args], env=self.env(), input=input,
                            capture_output=True, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} failed ({cp.returncode}): "
                f"{cp.stderr.decode(errors='replace').strip()}")
        return cp.stdout.decode(errors="replace").strip()

    def import_image(self):
        """Import busybox:local: /bin/busybox plus /bin/sh for health
        commands, which Docker runs through /bin/sh -c."""
        if self.docker("images", "-q", IMAGE):
            return
        img = self.dir / "img"
        (img / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy("/bin/busybox", img / "bin" / "busybox")
        if not (img / "bin" / "sh").exists():
            os.symlink("busybox", img / "bin" / "sh")
        tar = subprocess.run(["tar", "-C", str(img), "-c", "."],
                             capture_output=True, check=True)
        self.docker("import", "-c", "ENTRYPOINT []", "-", IMAGE,
                    input=tar.stdout)

    def remove_all_containers(self):
        ids = self.docker("ps", "-aq").split()
        if ids:
            self.docker("rm", "-f", *ids, check=False)

    def unmount_all(self):
        """Lazily unmount everything under the folder (netns files)."""
        prefix = str(self.dir) + "/"
        with open("/proc/mounts") as f:
            targets = [line.split()[1] for line in f]
        targets = [t.replace("\\040", " ") for t in targets
                   if t.startswith(prefix)]
        ok = True
        for target in sorted(targets, key=len, reverse=True):
            if subprocess.run(["umount", "-l", target]).returncode != 0:
                ok = False
        return ok

    def destroy(self):
        try:
            if self.running():
                self.remove_all_containers()
        finally:
            self.stop()
            if self.unmount_all():
                shutil.rmtree(self.dir, ignore_errors=True)


def make_temp_dir(prefix):
    Path(TMP_ROOT).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=TMP_ROOT))


# ---------------------------------------------------------------------------
# Portico under test


class Portico:
    """One build/portico process with its output captured to files."""

    def __init__(self, engine, workdir, args=(), env=None, port=None,
                 docker_host=None):
        self.engine = engine
        self.workdir = Path(workdir)
        self.extra_args = list(args)
        self.extra_env = dict(env or {})
        self.port = port or free_port()
        self.docker_host = docker_host or engine.host
        self.proc = None
        self.stdout_path = self.workdir / "stdout.log"
        self.stderr_path = self.workdir / "stderr.log"
        self.returncode = None
        self.sanitizer_checked = 0

    def command(self):
        return [portico_binary(),
                "--docker-host", self.docker_host,
                "--http-listen", f"127.0.0.1:{self.port}",
                # No test may reach a public CA: HTTPS and ACME are opt-in
                # per test, which passes its own --https-listen and Pebble.
                "--https-listen", "off",
                "--acme", "off",
                # The default admin port is fixed, so two instances would
                # collide; tests of the admin API pass their own.
                "--admin-listen", "off",
                "--state-dir", str(self.workdir / "state"),
                "--host-network-address", "127.0.0.1",
                "--log-level", "debug",
                "--access-log", "-",
                *self.extra_args]

    def start(self, wait=True, timeout=10.0):
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("PORTICO_") or key.startswith("DOCKER_"):
                del env[key]
        env.update(self.extra_env)
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), env=env,
                                         stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        finally:
            out.close()
            err.close()
        self.returncode = None
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0):
        def answers():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"portico exited with {self.proc.returncode}:\n"
                    + tail(self.stderr_path))
            return http_get(self.port, "portico-ready.invalid",
                            timeout=1).status > 0
        try:
            wait_until(answers, timeout, 0.05, "portico to answer HTTP")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{tail(self.stderr_path)}") from None

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10.0):
        """Stop Portico and raise AssertionError if its stderr has a new
        sanitizer report (a build from scripts/test-sanitize.sh)."""
        if self.proc is not None:
            self.returncode = stop_process(self.proc, timeout)
            self.check_sanitizers()
        return self.returncode

    def check_sanitizers(self):
        text = self.stderr()
        new, self.sanitizer_checked = text[self.sanitizer_checked:], len(text)
        for marker in SANITIZER_MARKERS:
            at = new.find(marker)
            if at >= 0:
                raise AssertionError(
                    f"sanitizer report in {self.stderr_path}:\n"
                    + new[max(0, at - 200):at + 3000])

    def restart(self, wait=True):
        self.stop()
        return self.start(wait)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def log_lines(self, *needles):
        """Return stderr lines containing every one of needles."""
        return [line for line in self.stderr().splitlines()
                if all(n in line for n in needles)]

    def wait_log(self, *needles, timeout=10.0):
        """Wait for a stderr line containing every needle and return it."""
        lines = wait_until(lambda: self.log_lines(*needles), timeout, 0.05,
                           f"a log line containing {needles!r}")
        return lines[0]

    def routed(self, container):
        """Return True once a "route added" or "route updated" line lists
        container among its upstreams' containers."""
        for line in self.stderr().splitlines():
            if "route added" not in line and "route updated" not in line:
                continue
            m = re.search(r'container=("[^"]*"|\S+)', line)
            if not m:
                continue
            # Items are "name" or "name/short-id", separated by commas.
            for item in m.group(1).strip('"').replace(" ", ",").split(","):
                if item.lstrip("/").split("/")[0] == container:
                    return True
        return False

    def get(self, host, path="/", **kw):
        return http_get(self.port, host, path, **kw)

    def status(self, host, path="/"):
        return status_of(self.port, host, path)

    def body(self, host, path="/"):
        return body_of(self.port, host, path)

    def hwm_kib(self):
        """Return the largest VmHWM among Portico and its child processes."""
        pids = [self.pid] + child_pids(self.pid)
        return max(vm_hwm_kib(p) for p in pids)


# ---------------------------------------------------------------------------
# Backends: busybox httpd containers and host processes


class Backend:
    def __init__(self, name, port, www, content, cid):
        self.name = name
        self.port = port
        self.www = www
        self.content = content
        self.id = cid

    def __repr__(self):
        return f"<Backend {self.name} 127.0.0.1:{self.port}>"


class Backends:
    """Starts busybox httpd containers on host networking, one folder each,
    serving index.html with content unique to the container."""

    def __init__(self, engine, root):
        self.engine = engine
        self.root = Path(root)
        self.count = 0

    def run(self, host=None, via="label", labels=None, env=None, args=(),
            name=None, port=None, wait=True, virtual_port=True, files=None):
        """Start a backend container and return its Backend.

        host sets VIRTUAL_HOST and (unless virtual_port is False)
        VIRTUAL_PORT, as labels or as env ("via"). In labels, env values and
        args, "{port}" is replaced by the backend's port. files maps extra
        paths under the served folder to their text.
        """
        self.count += 1
        name = name or f"it-{os.getpid()}-{self.count}"
        port = port or free_port()
        www = self.root / name
        www.mkdir(parents=True, exist_ok=True)
        content = f"backend {name} port {port}\n"
        (www / "index.html").write_text(content)
        for rel, text in (files or {}).items():
            (www / rel).parent.mkdir(parents=True, exist_ok=True)
            (www / rel).write_text(text)

        fill = {"port": port}
        labels = {k: str(v).format(**fill) for k, v in (labels or {}).items()}
        env = {k: str(v).format(**fill) for k, v in (env or {}).items()}
        routed = labels if via == "label" else env
        if host is not None:
            routed["VIRTUAL_HOST"] = host
            if virtual_port:
                routed["VIRTUAL_PORT"] = str(port)

        cmd = ["run", "-d", "--init", "--name", name, "--network", "host",
               "-v", f"{www}:/www:ro"]
        for key, value in labels.items():
            cmd += ["-l", f"{key}={value}"]
        for key, value in env.items():
            cmd += ["-e", f"{key}={value}"]
        cmd += [a.format(**fill) for a in args]
        cmd += [IMAGE, "/bin/busybox", "httpd", "-f",
                "-p", f"127.0.0.1:{port}", "-h", "/www"]
        cid = self.engine.docker(*cmd)
        backend = Backend(name, port, www, content.encode(), cid)
        if wait:
            wait_until(lambda: can_connect(port), 10, 0.05,
                       f"{name} to listen on {port}")
        return backend


class HostProcess:
    """A helper server run on the host, stopped by pid."""

    def __init__(self, argv, port, log_path):
        self.argv = argv
        self.port = port
        self.log_path = log_path
        log = open(log_path, "ab")
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        finally:
            log.close()

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"{argv[0]} exited:\n"
                                     + tail(log_path))
            return can_connect(port)
        wait_until(listening, 10, 0.05, f"{argv} to listen")

    def stop(self):
        return stop_process(self.proc, 5)


def http_post_stream(port, host, path, size, chunks, timeout=60.0):
    """POST size bytes produced by the chunks iterable; return
    (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=chunks,
                     headers={"Host": host, "Content-Length": str(size),
                              "Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()

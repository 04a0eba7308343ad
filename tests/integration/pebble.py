"""Start and stop a real Pebble ACME server (Debian package `pebble`) and
its mock DNS server, pebble-challtestsrv, on free loopback ports.

    p = start_pebble(workdir, http_port=..., tls_port=...)
    ... p.directory_url, p.ca_file, p.fetch_root() ...
    stop_pebble(p)

Pebble validates HTTP-01 on 127.0.0.1:http_port and TLS-ALPN-01 on
127.0.0.1:tls_port, because the mock DNS resolves every name to 127.0.0.1.
Nonce rejection stays at Pebble's default (5% of nonces are refused with
badNonce), so clients under test must retry.
"""

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} not listening after {timeout}s")


def make_tls_files(workdir):
    """Create a CA and a certificate for 127.0.0.1/localhost signed by it,
    for Pebble's own HTTPS. Returns (ca_file, cert_file, key_file)."""
    d = Path(workdir)
    ca_key, ca = d / "pebble-ca.key", d / "pebble-ca.pem"
    key, csr, cert = d / "pebble.key", d / "pebble.csr", d / "pebble.pem"
    ext = d / "pebble.ext"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(ca_key),
        "-out", str(ca), "-days", "30", "-subj", "/CN=pebble test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
        "-out", str(csr), "-subj", "/CN=localhost")
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca),
        "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "30", "-extfile", str(ext))
    return str(ca), str(cert), str(key)


@dataclass
class Pebble:
    directory_url: str
    ca_file: str  # CA bundle that verifies Pebble's HTTPS
    management_port: int
    workdir: Path
    dns_management_port: int = 0  # pebble-challtestsrv's HTTP API
    procs: list = field(default_factory=list)

    def fetch_root(self, index=0):
        """Return the PEM of Pebble's issuing root (changes every start)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        url = f"https://127.0.0.1:{self.management_port}/roots/{index}"
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            return r.read().decode()

    def set_address(self, host, address):
        """Make the mock DNS resolve host to address (IPv4), e.g. to an
        address where nothing listens so that validation fails."""
        body = json.dumps({"host": host.rstrip(".") + ".",
                           "addresses": [address]}).encode()
        url = f"http://127.0.0.1:{self.dns_management_port}/add-a"
        urllib.request.urlopen(url, data=body, timeout=10).read()

    def write_root(self, path):
        Path(path).write_text(self.fetch_root())
        return str(path)


def start_pebble(workdir, http_port, tls_port, validity_seconds=None,
                 eab_keys=None, env=None, port=None, management_port=None,
                 dns_port=None, dns_management_port=None, dns_server=None):
    """Start challtestsrv (DNS only) and Pebble. Ports default to free
    ones; http_port and tls_port are where the client under test answers
    challenges. eab_keys ({kid: base64url key}) makes EAB required.
    dns_server ("127.0.0.1:PORT") makes Pebble resolve through that server
    (a BIND for DNS-01) instead of a challtestsrv."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    management_port = management_port or _free_port()
    dns_port = dns_port or _free_port()
    dns_management_port = dns_management_port or _free_port()
    ca, cert, key = make_tls_files(workdir)
    conf = {
        "listenAddress": f"127.0.0.1:{port}",
        "managementListenAddress": f"127.0.0.1:{management_port}",
        "certificate": cert,
        "privateKey": key,
        "httpPort": http_port,
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": bool(eab_keys),
    }
    if eab_keys:
        conf["externalAccountMACKeys"] = eab_keys
    if validity_seconds:
        conf["certificateValidityPeriod"] = validity_seconds
    (workdir / "pebble.json").write_text(json.dumps({"pebble": conf}))
    penv = dict(os.environ, PEBBLE_VA_NOSLEEP="1")
    penv.pop("PEBBLE_WFE_NONCEREJECT", None)
    penv.update(env or {})
    p = Pebble(f"https://127.0.0.1:{port}/dir", ca, management_port, workdir,
               dns_management_port)
    try:
        if dns_server:
            return _start_pebble_only(p, workdir, penv, dns_server, port,
                                      management_port)
        dns = subprocess.Popen(
            [CHALLTESTSRV, "-dns01", f"127.0.0.1:{dns_port}", "-http01", "",
             "-https01", "", "-tlsalpn01", "",
             "-management", f"127.0.0.1:{dns_management_port}",
             "-defaultIPv6", ""],
            stdout=open(workdir / "challtestsrv.log", "w"),
            stderr=subprocess.STDOUT)
        p.procs.append(dns)
        srv = subprocess.Popen(
            [PEBBLE, "-config", str(workdir / "pebble.json"),
             "-dnsserver", f"127.0.0.1:{dns_port}"],
            env=penv, stdout=open(workdir / "pebble.log", "w"),
            stderr=subprocess.STDOUT)
        p.procs.append(srv)
        _wait_port(dns_management_port, dns)
        _wait_port(port, srv)
        _wait_port(management_port, srv)
    except Exception:
        stop_pebble(p)
        raise
    return p


def _start_pebble_only(p, workdir, penv, dns_server, port, management_port):
    srv = subprocess.Popen(
        [PEBBLE, "-config", str(workdir / "pebble.json"),
         "-dnsserver", dns_server],
        env=penv, stdout=open(workdir / "pebble.log", "w"),
        stderr=subprocess.STDOUT)
    p.procs.append(srv)
    _wait_port(port, srv)
    _wait_port(management_port, srv)
    return p


def stop_pebble(p):
    """Stop both processes by pid."""
    for proc in reversed(p.procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    p.procs.clear()

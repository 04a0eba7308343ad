"""DNS-01 with real components: BIND 9 takes RFC 2136 updates signed with
TSIG, Pebble validates through that BIND, and Portico serves the issued
certificates over HTTPS."""

import hashlib
import socket
import ssl
import time
from pathlib import Path

import pytest

from bind import start_bind, stop_bind
from harness import free_port, wait_until
from pebble import start_pebble, stop_pebble

ZONE = "example.test"


@pytest.fixture
def bind(test_dir):
    b = start_bind(test_dir / "bind", free_port(), ZONE)
    yield b
    stop_bind(b)


@pytest.fixture
def pebble(test_dir, bind):
    # Pebble validates DNS-01 only, so its HTTP-01 and TLS-ALPN-01 ports
    # stay unused. They still come from the test port range.
    p = start_pebble(test_dir / "pebble", http_port=free_port(),
                     tls_port=free_port(), port=free_port(),
                     management_port=free_port(), dns_server=bind.address)
    yield p
    stop_pebble(p)


def rfc2136_args(bind, pebble, https_port, *extra):
    return ("--https-listen", f"127.0.0.1:{https_port}",
            "--acme", "on", "--acme-directory", pebble.directory_url,
            "--acme-ca-file", pebble.ca_file,
            "--acme-email", "admin@example.test",
            "--dns-rfc2136-server", bind.address,
            "--dns-resolver", bind.address,
            "--dns-propagation-timeout", "20", *extra)


def tls_get(port, host, cafile):
    """GET / over TLS with SNI host, verified against cafile. Returns
    (status, body, sha256 of the peer certificate)."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as t:
            t.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := t.recv(65536):
                data += chunk
            fingerprint = hashlib.sha256(
                t.getpeercert(binary_form=True)).hexdigest()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body, fingerprint


def wait_served(port, host, pebble, roots, timeout=60):
    def served():
        # Pebble's root changes every start; the chain carries the
        # intermediate.
        roots.write_text(pebble.fetch_root())
        try:
            status, body, fp = tls_get(port, host, str(roots))
        except (OSError, ssl.SSLError):
            return None
        return (body, fp) if status == 200 else None

    return wait_until(served, timeout, 0.5,
                      what=f"an ACME certificate for {host}")


def challenge_records(bind, *names):
    return {n: bind.txt(f"_acme-challenge.{n}") for n in names}


def stored_certificates(p):
    return sorted(x.name for x in (p.workdir / "state" / "certs").glob("*.pem"))


def test_dns01_single_name(portico_factory, backends, bind, pebble,
                           test_dir):
    https_port = free_port()
    b = backends.run(host="app.example.test")
    p = portico_factory(*rfc2136_args(bind, pebble, https_port,
                                      "--dns-rfc2136-key-file", bind.key_file,
                                      "--acme-challenge", "dns-01"))
    body, _ = wait_served(https_port, "app.example.test", pebble,
                          test_dir / "roots.pem")
    assert body == b.content
    p.wait_log("DNS-01 record added", "name=_acme-challenge.app.example.test")
    p.wait_log("DNS-01 record removed",
               "name=_acme-challenge.app.example.test")
    assert challenge_records(bind, "app.example.test") == {
        "app.example.test": []}
    assert bind.secret not in p.stderr_path.read_text()


def test_dns01_wildcard_one_certificate(portico_factory, backends, bind,
                                        pebble, test_dir):
    https_port = free_port()
    roots = test_dir / "roots.pem"
    wild = backends.run(host="*.example.test", labels={
        "portico.tls.domains": "*.example.test,example.test",
        "portico.tls.challenge": "dns-01"})
    # A second container whose host the wildcard covers: it gets no
    # certificate of its own although the global challenge is HTTP-01.
    other = backends.run(host="other.example.test")
    secret_file = test_dir / "tsig.secret"
    secret_file.write_text(bind.secret + "\n")
    p = portico_factory(*rfc2136_args(
        bind, pebble, https_port, "--dns-rfc2136-key-name", bind.key_name,
        "--dns-rfc2136-key-secret-file", str(secret_file)))
    body_a, fp_a = wait_served(https_port, "a.example.test", pebble, roots)
    status_b, body_b, fp_b = tls_get(https_port, "b.example.test", str(roots))
    status_o, body_o, fp_o = tls_get(https_port, "other.example.test",
                                     str(roots))
    assert body_a == wild.content
    assert (status_b, body_b) == (200, wild.content)
    assert (status_o, body_o) == (200, other.content)
    assert fp_a == fp_b == fp_o
    assert stored_certificates(p) == ["_wildcard.example.test.pem"]
    assert len(p.log_lines("order started")) == 1
    p.wait_log("DNS-01 record removed", "name=_acme-challenge.example.test")
    assert challenge_records(bind, "example.test") == {"example.test": []}
    assert bind.secret not in p.stderr_path.read_text()


def test_dns01_wrong_secret_backs_off(portico_factory, backends, bind,
                                      pebble, test_dir):
    https_port = free_port()
    backends.run(host="app.example.test")
    p = portico_factory(*rfc2136_args(
        bind, pebble, https_port, "--acme-challenge", "dns-01",
        "--dns-rfc2136-key-name", bind.key_name,
        "--dns-rfc2136-key-secret", "c2VjcmV0IHRoYXQgaXMgbm90IHRoZSBrZXk="))
    line = p.wait_log("order failed", "name=app.example.test", timeout=30)
    assert "BADSIG" in line
    assert "retry_in=60s" in line
    assert p.proc.poll() is None
    assert "c2VjcmV0IHRoYXQgaXMgbm90IHRoZSBrZXk=" not in p.stderr()
    assert challenge_records(bind, "app.example.test") == {
        "app.example.test": []}


def test_dns01_hook_with_nsupdate(portico_factory, backends, bind, pebble,
                                  test_dir):
    https_port = free_port()
    hook = test_dir / "hook.sh"
    hook.write_text(
        "#!/bin/sh\n"
        "set -e\n"
        'case "$1" in\n'
        '  add) op="add $2. 60" ;;\n'
        '  remove) op="delete $2." ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
        f"printf 'server 127.0.0.1 {bind.port}\\nupdate %s TXT \"%s\"\\n"
        f"send\\n' \"$op\" \"$3\" | /usr/bin/nsupdate -k {bind.key_file}\n"
        'echo "hook $1 $2 done"\n')
    hook.chmod(0o755)
    b = backends.run(host="hook.example.test")
    p = portico_factory(
        "--https-listen", f"127.0.0.1:{https_port}",
        "--acme", "on", "--acme-directory", pebble.directory_url,
        "--acme-ca-file", pebble.ca_file, "--acme-challenge", "dns-01",
        "--dns-hook", str(hook), "--dns-resolver", bind.address,
        "--dns-propagation-timeout", "20")
    body, _ = wait_served(https_port, "hook.example.test", pebble,
                          test_dir / "roots.pem")
    assert body == b.content
    added = p.wait_log("DNS hook succeeded", "action=add")
    assert "hook add _acme-challenge.hook.example.test done" in added
    p.wait_log("DNS hook succeeded", "action=remove")
    assert challenge_records(bind, "hook.example.test") == {
        "hook.example.test": []}


def test_dns01_wildcard_needs_dns01(portico_factory, backends, bind,
                                    pebble):
    backends.run(host="*.example.test", labels={
        "portico.tls.domains": "*.example.test"})
    p = portico_factory(*rfc2136_args(bind, pebble, free_port()))
    p.wait_log("needs the dns-01 challenge")
    time.sleep(1)
    assert len(p.log_lines("needs the dns-01 challenge")) == 1
    assert p.log_lines("order started") == []

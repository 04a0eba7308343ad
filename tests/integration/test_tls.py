"""HTTPS serving: certificates chosen by SNI from --certs-dir, the default
certificate, ACME certificates from a real Pebble, HTTPS redirects, HSTS
and HTTP-01 responses."""

import hashlib
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from harness import PYTHON, free_port, wait_until
from pebble import start_pebble, stop_pebble


def make_cert(directory, host, name=None):
    """Write a self-signed certificate for host as <name>.crt/.key."""
    name = name or host
    crt, key = Path(directory) / f"{name}.crt", Path(directory) / f"{name}.key"
    tmp_crt, tmp_key = crt.with_suffix(".crt.tmp"), key.with_suffix(".key.tmp")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(tmp_key),
         "-out", str(tmp_crt), "-days", "2", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host}"],
        check=True, capture_output=True)
    # The key goes first: a scan between the two renames then finds a
    # mismatched pair at worst, and Portico keeps the previous certificate.
    tmp_key.rename(key)
    tmp_crt.rename(crt)
    return str(crt)


def pem_fingerprint(path):
    der = ssl.PEM_cert_to_DER_cert(Path(path).read_text())
    return hashlib.sha256(der).hexdigest()


def tls_connect(port, server_name, cafile=None, alpn=None):
    """Return a connected TLS socket, verified against cafile if given."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_name)
    except Exception:
        raw.close()
        raise


def peer_fingerprint(port, server_name):
    with tls_connect(port, server_name) as t:
        return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def https_get(port, host, path="/", cafile=None):
    """GET over TLS with SNI host; returns (status, headers, body)."""
    with tls_connect(port, host, cafile) as t:
        t.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := t.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def handshake_error(port, server_name):
    """Return the SSL error text of a failed handshake, or None."""
    try:
        tls_connect(port, server_name).close()
    except ssl.SSLError as e:
        return str(e)
    return None


@pytest.fixture
def certs_dir(test_dir):
    path = test_dir / "certs"
    path.mkdir()
    return path


def start_https(portico_factory, *args):
    port = free_port()
    p = portico_factory("--https-listen", f"127.0.0.1:{port}", *args)
    p.https_port = port
    return p


def test_tls_certs_dir_served_by_sni(portico_factory, backends, certs_dir):
    a_crt = make_cert(certs_dir, "a.tls.test")
    b_crt = make_cert(certs_dir, "b.tls.test")
    a = backends.run(host="a.tls.test")
    b = backends.run(host="b.tls.test")
    p = start_https(portico_factory, "--certs-dir", str(certs_dir))
    wait_until(lambda: p.routed(a.name) and p.routed(b.name), 10,
               what="routes for both containers")

    status, headers, body = https_get(p.https_port, "a.tls.test",
                                      cafile=a_crt)
    assert status == 200
    assert body == a.content
    status, _, body = https_get(p.https_port, "b.tls.test", cafile=b_crt)
    assert status == 200
    assert body == b.content
    assert peer_fingerprint(p.https_port, "a.tls.test") == \
        pem_fingerprint(a_crt)
    assert peer_fingerprint(p.https_port, "b.tls.test") == \
        pem_fingerprint(b_crt)

    # curl, as users check it, with the name resolved to the listener.
    out = subprocess.run(
        ["curl", "-sS", "--cacert", a_crt, "--resolve",
         f"a.tls.test:{p.https_port}:127.0.0.1",
         f"https://a.tls.test:{p.https_port}/"],
        capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout == a.content


ECHO_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = str(self.headers).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""


def test_tls_forwarded_headers(portico_factory, host_server, certs_dir,
                               test_dir):
    crt = make_cert(certs_dir, "fwd.tls.test")
    script = test_dir / "echo_headers.py"
    script.write_text(ECHO_SERVER)
    echo = host_server(argv=[PYTHON, str(script), "{port}"])
    p = start_https(portico_factory, "--certs-dir", str(certs_dir),
                    "--route", f"fwd.tls.test=http://127.0.0.1:{echo.port}")
    status, _, body = https_get(p.https_port, "fwd.tls.test", cafile=crt)
    assert status == 200
    text = body.decode().lower()
    assert "x-forwarded-proto: https" in text
    assert f"x-forwarded-port: {p.https_port}" in text


def test_tls_certs_dir_reload(portico_factory, backends, certs_dir):
    first = make_cert(certs_dir, "reload.tls.test")
    backends.run(host="reload.tls.test")
    p = start_https(portico_factory, "--certs-dir", str(certs_dir))
    assert peer_fingerprint(p.https_port, "reload.tls.test") == \
        pem_fingerprint(first)

    second = make_cert(certs_dir, "reload.tls.test")
    wait_until(lambda: peer_fingerprint(p.https_port, "reload.tls.test")
               == pem_fingerprint(second), 15,
               what="the replaced certificate to be served")
    p.wait_log("certificate reloaded", "host=reload.tls.test")

    # A broken pair is logged and the previous certificate stays.
    (certs_dir / "reload.tls.test.key").write_text("not a key\n")
    p.wait_log("certificate pair invalid", "host=reload.tls.test",
               timeout=15)
    assert peer_fingerprint(p.https_port, "reload.tls.test") == \
        pem_fingerprint(second)


def test_tls_unknown_name_rejected(portico_factory, backends, certs_dir):
    make_cert(certs_dir, "known.tls.test")
    backends.run(host="known.tls.test")
    backends.run(host="nocert.tls.test")
    p = start_https(portico_factory, "--certs-dir", str(certs_dir))

    for name in ("nocert.tls.test", "other.tls.test"):
        error = handshake_error(p.https_port, name)
        assert error is not None and "UNRECOGNIZED_NAME" in error.upper(), \
            error
    # No SNI at all: no certificate either.
    error = handshake_error(p.https_port, None)
    assert error is not None and "UNRECOGNIZED_NAME" in error.upper(), error

    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{p.https_port}",
         "-servername", "nocert.tls.test"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    assert b"unrecognized name" in out.stderr
    assert b"BEGIN CERTIFICATE" not in out.stdout
    p.wait_log("no certificate for server name", "name=nocert.tls.test")


def test_tls_default_cert_for_unknown_names(portico_factory, backends,
                                            certs_dir, test_dir):
    known = make_cert(certs_dir, "known.tls.test")
    default = make_cert(test_dir, "default.invalid", "fallback")
    backends.run(host="known.tls.test")
    p = start_https(portico_factory, "--certs-dir", str(certs_dir),
                    "--default-cert", default,
                    "--default-key", str(test_dir / "fallback.key"))

    assert peer_fingerprint(p.https_port, "known.tls.test") == \
        pem_fingerprint(known)
    assert peer_fingerprint(p.https_port, "unknown.tls.test") == \
        pem_fingerprint(default)
    assert peer_fingerprint(p.https_port, None) == pem_fingerprint(default)


def test_tls_hsts_only_over_https(portico_factory, backends, certs_dir):
    crt = make_cert(certs_dir, "hsts.tls.test")
    b = backends.run(host="hsts.tls.test",
                     labels={"HTTPS_METHOD": "noredirect"})
    p = start_https(portico_factory, "--certs-dir", str(certs_dir))
    wait_until(lambda: p.routed(b.name), 10, what="the route")

    r = p.get("hsts.tls.test")
    assert r.status == 200
    assert r.header("strict-transport-security") is None
    status, headers, _ = https_get(p.https_port, "hsts.tls.test", cafile=crt)
    assert status == 200
    assert headers.get("strict-transport-security") == "max-age=31536000"


def test_tls_redirect_once_cert_exists(portico_factory, backends, certs_dir):
    b = backends.run(host="redir.tls.test")
    p = start_https(portico_factory, "--certs-dir", str(certs_dir))
    wait_until(lambda: p.routed(b.name), 10, what="the route")

    # Without a certificate, plain HTTP is served as before.
    r = p.get("redir.tls.test", "/a?b=1")
    assert r.status == 404  # busybox has no /a, but it answered
    assert p.body("redir.tls.test") == b.content

    make_cert(certs_dir, "redir.tls.test")
    r = wait_until(lambda: (lambda r: r if r.status == 301 else None)(
        p.get("redir.tls.test", "/a?b=1")), 15,
        what="a redirect once the certificate exists")
    assert r.header("location") == \
        f"https://redir.tls.test:{p.https_port}/a?b=1"


def test_tls_nohttp_and_nohttps(portico_factory, backends, certs_dir):
    make_cert(certs_dir, "only-https.tls.test")
    make_cert(certs_dir, "only-http.tls.test")
    s = backends.run(host="only-https.tls.test",
                     labels={"HTTPS_METHOD": "nohttp"})
    h = backends.run(host="only-http.tls.test",
                     labels={"HTTPS_METHOD": "nohttps"})
    p = start_https(portico_factory, "--certs-dir", str(certs_dir))
    wait_until(lambda: p.routed(s.name) and p.routed(h.name), 10,
               what="both routes")

    assert p.status("only-https.tls.test") == 503
    assert https_get(p.https_port, "only-https.tls.test")[2] == s.content
    assert p.body("only-http.tls.test") == h.content
    error = handshake_error(p.https_port, "only-http.tls.test")
    assert error is not None and "UNRECOGNIZED_NAME" in error.upper(), error


def test_tls_challenge_answered_before_routing(portico_factory, backends,
                                               certs_dir):
    # The container serves a file at the challenge path: it must never be
    # reached, whatever the route's policy.
    token_path = ".well-known/acme-challenge/unknown-token"
    b = backends.run(host="chal.tls.test",
                     labels={"HTTPS_METHOD": "nohttp"},
                     files={token_path: "from the backend\n"})
    make_cert(certs_dir, "chal.tls.test")
    closed = free_port()
    p = start_https(portico_factory, "--certs-dir", str(certs_dir),
                    "--acme", "on", "--acme-directory",
                    f"https://127.0.0.1:{closed}/dir")
    wait_until(lambda: p.routed(b.name), 10, what="the route")

    for host in ("chal.tls.test", "unrouted.tls.test"):
        r = p.get(host, "/" + token_path)
        assert r.status == 404
        assert b"backend" not in r.body
    assert p.status("chal.tls.test") == 503


def run_acme(portico_factory, backends, test_dir, challenge):
    http_port, https_port = free_port(), free_port()
    pebble = start_pebble(test_dir / "pebble", http_port=http_port,
                          tls_port=https_port)
    try:
        # VIRTUAL_PORT too: the busybox backend listens on a free port.
        b = backends.run(host="app.example.test")
        p = portico_factory(
            "--https-listen", f"127.0.0.1:{https_port}",
            "--acme", "on", "--acme-directory", pebble.directory_url,
            "--acme-ca-file", pebble.ca_file,
            "--acme-challenge", challenge,
            "--acme-email", "admin@example.test",
            port=http_port)
        roots = test_dir / "pebble-roots.pem"

        def served():
            # The root changes every Pebble start; the intermediate comes
            # with the chain Portico sends.
            roots.write_text(pebble.fetch_root())
            status, _, body = https_get(https_port, "app.example.test",
                                        cafile=str(roots))
            return body if status == 200 else None

        body = wait_until(served, 60, 0.5,
                          what="an ACME certificate for app.example.test")
        assert body == b.content
        answered = [line for line in p.stdout().splitlines()
                    if "end=acme_challenge" in line and "status=200" in line]
        if challenge == "http-01":
            assert answered
        else:
            assert not answered
            p.wait_log("answering TLS-ALPN-01 validation",
                       "name=app.example.test")
        return p
    finally:
        stop_pebble(pebble)


def test_tls_acme_http01_with_pebble(portico_factory, backends, test_dir):
    run_acme(portico_factory, backends, test_dir, "http-01")


def test_tls_acme_tls_alpn01_with_pebble(portico_factory, backends,
                                         test_dir):
    run_acme(portico_factory, backends, test_dir, "tls-alpn-01")

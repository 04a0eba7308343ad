"""ACME certificate lifecycle against a real Pebble and the real Docker
engine: reuse of stored certificates after a restart, live renewal, backoff
for a name that fails validation, a CA that is down at start, SIGKILL
during an order, and the time from `docker run` to the first HTTPS
response."""

import ssl
import subprocess
import time
from pathlib import Path

import pytest

import pebble as pebble_module
from harness import TMP_ROOT, free_port, wait_until
from pebble import start_pebble, stop_pebble
from test_tls import https_get, tls_connect

# Long enough for an order against Pebble with badNonce retries (Pebble
# rejects 5% of nonces) and PEBBLE_VA_NOSLEEP set.
ISSUE_TIMEOUT = 30


@pytest.fixture
def ca(test_dir):
    """Start Pebble: ca(http_port, https_port, **start_pebble options).
    Every Pebble port comes from PORTICO_IT_PORTS unless given."""
    started = []

    def start(http_port, https_port, **kw):
        for name in ("port", "management_port", "dns_port",
                     "dns_management_port"):
            kw.setdefault(name, free_port())
        p = start_pebble(test_dir / f"pebble-{len(started)}",
                         http_port=http_port, tls_port=https_port, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        stop_pebble(p)


class Site:
    """Portico with ACME on, the Pebble it uses, and the roots file that
    verifies what Portico serves."""

    def __init__(self, portico, pebble, https_port, roots):
        self.portico = portico
        self.pebble = pebble
        self.https_port = https_port
        self.roots = roots

    def refresh_roots(self):
        # The root changes every Pebble start. The intermediate comes with
        # the chain Portico sends.
        self.roots.write_text(self.pebble.fetch_root())

    def get(self, host):
        """Return (status, body) of an HTTPS GET verified against
        Pebble's root."""
        status, _, body = https_get(self.https_port, host,
                                    cafile=str(self.roots))
        return status, body

    def served_cert(self, host):
        """Return (serial, DER) of the verified certificate served for
        host."""
        with tls_connect(self.https_port, host, str(self.roots)) as t:
            return (t.getpeercert()["serialNumber"],
                    t.getpeercert(binary_form=True))

    def wait_cert(self, host, content, timeout=ISSUE_TIMEOUT):
        """Wait for a verified HTTPS 200 with content for host and return
        the served (serial, DER)."""
        def served():
            return self.get(host) == (200, content)
        wait_until(served, timeout, 0.2,
                   what=f"an ACME certificate for {host}")
        return self.served_cert(host)

    def certs_dir(self):
        return self.portico.workdir / "state" / "certs"


def start_portico(portico_factory, test_dir, http_port, https_port,
                  directory, ca_file):
    """Start Portico with ACME on and HTTP-01 responses served on
    http_port. Return its Site, whose pebble the caller sets."""
    p = portico_factory(
        "--https-listen", f"127.0.0.1:{https_port}",
        "--acme", "on",
        "--acme-directory", directory,
        "--acme-ca-file", ca_file,
        "--acme-challenge", "http-01",
        "--acme-email", "admin@example.test",
        port=http_port)
    return Site(p, None, https_port, test_dir / "pebble-roots.pem")


def start_site(portico_factory, ca, test_dir, pebble_setup=None,
               **pebble_options):
    """Start Pebble, call pebble_setup(pebble) if given, then start
    Portico against it."""
    http_port, https_port = free_port(), free_port()
    pebble = ca(http_port, https_port, **pebble_options)
    if pebble_setup:
        pebble_setup(pebble)
    site = start_portico(portico_factory, test_dir, http_port, https_port,
                         pebble.directory_url, pebble.ca_file)
    site.pebble = pebble
    site.refresh_roots()
    return site


def pebble_orders(pebble):
    """Return the number of orders Pebble logged as created."""
    log = (pebble.workdir / "pebble.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines() if "Added order" in line)


def key_matches_leaf(pem_path):
    """Return True if the private key in pem_path belongs to the first
    certificate in it (Portico stores key and chain in one file)."""
    cert_pub = subprocess.run(
        ["openssl", "x509", "-noout", "-pubkey", "-in", str(pem_path)],
        check=True, capture_output=True).stdout
    key_pub = subprocess.run(
        ["openssl", "pkey", "-pubout", "-in", str(pem_path)],
        check=True, capture_output=True).stdout
    return cert_pub == key_pub


def leaf_der(pem_path):
    """Return the DER of the first certificate in pem_path."""
    text = Path(pem_path).read_text()
    begin = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", begin)
    return ssl.PEM_cert_to_DER_cert(
        text[begin:end + len("-----END CERTIFICATE-----")])


def test_acme_restart_reuses_stored_cert(portico_factory, backends, ca,
                                         test_dir):
    b = backends.run(host="keep.example.test")
    site = start_site(portico_factory, ca, test_dir)
    p = site.portico
    first = site.wait_cert("keep.example.test", b.content)
    assert len(p.log_lines("order started", "name=keep.example.test")) == 1
    orders = pebble_orders(site.pebble)
    assert orders == 1

    log_before = len(p.stderr())
    p.restart()

    # No wait: the stored certificate is served once Portico accepts HTTP.
    assert site.get("keep.example.test") == (200, b.content)
    assert site.served_cert("keep.example.test") == first
    wait_until(lambda: p.routed(b.name), 10, what="the route after restart")
    new_log = p.stderr()[log_before:]
    assert "stored certificate loaded" in new_log
    # An order would start right after the route is added. Two seconds of
    # HTTPS requests give it time to show.
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        assert site.served_cert("keep.example.test") == first
    new_log = p.stderr()[log_before:]
    assert "order started" not in new_log
    assert pebble_orders(site.pebble) == orders


def test_acme_renewal_replaces_cert_live(portico_factory, backends, ca,
                                         test_dir):
    # Renewal is due after two thirds of the validity period: 20 s here.
    b = backends.run(host="renew.example.test")
    site = start_site(portico_factory, ca, test_dir, validity_seconds=30)
    p = site.portico
    first = site.wait_cert("renew.example.test", b.content)
    pid = p.pid

    # A connection opened on the first certificate keeps working.
    kept_connection = tls_connect(site.https_port, "renew.example.test",
                                  str(site.roots))
    request = b"GET / HTTP/1.1\r\nHost: renew.example.test\r\n\r\n"
    try:
        def get_on_kept_connection():
            kept_connection.sendall(request)
            data = b""
            while not data.endswith(b.content):
                chunk = kept_connection.recv(65536)
                assert chunk, "Portico closed the kept-open connection"
                data += chunk
            return data.split(b"\r\n", 1)[0]

        assert get_on_kept_connection() == b"HTTP/1.1 200 OK"

        def renewed():
            assert get_on_kept_connection() == b"HTTP/1.1 200 OK"
            return site.served_cert("renew.example.test") != first

        wait_until(renewed, 45, 1.0, what="a renewed certificate")
        assert get_on_kept_connection() == b"HTTP/1.1 200 OK"
        kept_der = kept_connection.getpeercert(binary_form=True)
        assert kept_der == first[1]
    finally:
        kept_connection.close()

    second = site.served_cert("renew.example.test")
    assert second[0] != first[0]
    assert site.get("renew.example.test") == (200, b.content)
    assert p.pid == pid
    assert p.alive()
    assert len(p.log_lines("certificate issued",
                           "name=renew.example.test")) == 2


def test_acme_failed_name_backs_off(portico_factory, backends, ca,
                                    test_dir):
    # Nothing listens on 127.0.0.2, so HTTP-01 validation fails.
    bad = backends.run(host="bad.example.test")
    good = backends.run(host="good.example.test")
    site = start_site(portico_factory, ca, test_dir,
                      pebble_setup=lambda pebble: pebble.set_address(
                          "bad.example.test", "127.0.0.2"))
    p = site.portico

    site.wait_cert("good.example.test", good.content)
    line = p.wait_log("order failed", "name=bad.example.test",
                      timeout=ISSUE_TIMEOUT)
    assert " step=poll-authorization " in line
    assert " type=urn:ietf:params:acme:error:connection " in line
    assert " retry_in=60s " in line
    assert line.endswith(" attempt=1")

    # Both routes still work, and the failed name is not retried at once.
    # HTTP redirects to HTTPS only for the name that has a certificate.
    assert p.get("bad.example.test").body == bad.content
    redirect = p.get("good.example.test")
    assert redirect.status == 301
    assert redirect.header("location") == (
        f"https://good.example.test:{site.https_port}/")
    assert site.get("good.example.test") == (200, good.content)
    assert len(p.log_lines("order started", "name=bad.example.test")) == 1
    assert len(p.log_lines("order started", "name=good.example.test")) == 1
    assert p.alive()


def test_acme_ca_down_at_start(portico_factory, backends, ca, test_dir,
                               monkeypatch):
    # Pebble's HTTPS files exist before Portico starts, so --acme-ca-file
    # names a real file while Pebble is still down.
    tls_dir = test_dir / "pebble-tls"
    tls_dir.mkdir()
    tls_files = pebble_module.make_tls_files(tls_dir)
    monkeypatch.setattr(pebble_module, "make_tls_files",
                        lambda workdir: tls_files)
    directory_port = free_port()
    directory = f"https://127.0.0.1:{directory_port}/dir"

    b = backends.run(host="late.example.test")
    http_port, https_port = free_port(), free_port()
    started = time.monotonic()
    site = start_portico(portico_factory, test_dir, http_port, https_port,
                         directory, tls_files[0])
    p = site.portico

    # HTTP routing does not wait for the CA.
    wait_until(lambda: p.routed(b.name), 10, what="the route")
    assert p.get("late.example.test").body == b.content
    routed_after = time.monotonic() - started
    assert routed_after < 5
    line = p.wait_log("request retried", "name=late.example.test",
                      "retry_in=2s", timeout=10)
    assert "attempt=1/3" in line

    # Pebble comes up on the directory's port while the order is still
    # inside its transport retries (2, 4 and 8 s).
    site.pebble = ca(http_port, https_port, port=directory_port)
    site.refresh_roots()
    site.wait_cert("late.example.test", b.content, timeout=25)
    assert not p.log_lines("order failed", "name=late.example.test")
    assert len(p.log_lines("order started", "name=late.example.test")) == 1


def test_acme_sigkill_leaves_loadable_store(portico_factory, backends, ca,
                                            test_dir):
    b = backends.run(host="crash.example.test")
    site = start_site(portico_factory, ca, test_dir)
    p = site.portico
    certs = site.certs_dir()

    # Each point is a log line to wait for and the delay in seconds before
    # SIGKILL. Pebble may reuse a valid authorization, so the points name
    # only lines that every order logs. Portico polls the order 2 s after
    # "step=poll-order", then downloads and stores the certificate within a
    # few milliseconds. The last three kills aim at that write.
    kill_points = [("order started", 0), ("order started", 0.3),
                   ("order created", 0), ("step=poll-order", 0),
                   ("step=poll-order", 2.0), ("step=poll-order", 2.003),
                   ("step=poll-order", 2.006)]
    log_start = 0

    def kill_and_restart():
        nonlocal log_start
        p.proc.kill()
        p.proc.wait()
        for pem in certs.glob("*.pem"):
            assert key_matches_leaf(pem), pem
        stored = (certs / "crash.example.test.pem").exists()
        log_start = len(p.stderr())
        p.start()
        return stored

    issued = False
    for needle, delay in kill_points:
        def reached():
            run = p.stderr()[log_start:]
            return needle in run or "certificate issued" in run
        wait_until(reached, ISSUE_TIMEOUT, 0.001,
                   what=f"{needle!r} after start at offset {log_start}")
        time.sleep(delay)  # where in the order the kill lands
        issued = kill_and_restart()
        print(f"SIGKILL {delay:.3f} s after {needle!r}: "
              f"certificate stored {issued}")
        if issued:
            break
    if not issued:
        p.wait_log("certificate issued", "name=crash.example.test",
                   timeout=ISSUE_TIMEOUT)
        assert kill_and_restart()

    site.wait_cert("crash.example.test", b.content)
    last_run = p.stderr()[log_start:]
    assert "stored certificate loaded id=crash.example.test" in last_run
    assert "order started" not in last_run
    assert not p.log_lines("stored certificate ignored")
    assert not p.log_lines("state file write failed")
    pems = sorted(certs.glob("*.pem"))
    assert [x.name for x in pems] == ["crash.example.test.pem"]
    for pem in pems:
        assert key_matches_leaf(pem), pem
    assert site.served_cert("crash.example.test")[1] == leaf_der(pems[0])
    assert not [x.name for x in certs.iterdir() if ".tmp." in x.name]


def test_acme_https_live_after_docker_run(portico_factory, backends, ca,
                                          test_dir):
    site = start_site(portico_factory, ca, test_dir)
    host = "fresh.example.test"

    b = backends.run(host=host, wait=False)
    started = time.monotonic()

    def served():
        return site.get(host) == (200, b.content)

    wait_until(served, ISSUE_TIMEOUT, 0.02,
               what=f"a verified HTTPS response for {host}")
    seconds = time.monotonic() - started
    print(f"\nHTTPS live {seconds:.2f} s after docker run returned "
          f"(VIRTUAL_HOST and VIRTUAL_PORT only, Pebble HTTP-01)")
    Path(TMP_ROOT, "https_live_seconds.txt").write_text(f"{seconds:.2f}\n")
    assert seconds < ISSUE_TIMEOUT

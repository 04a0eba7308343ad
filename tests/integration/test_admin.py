"""Admin API: probes, JSON views of routes and containers, Prometheus
metrics checked by promtool, the bearer token, and the dashboard page in
headless Chromium."""

import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import HostProcess, free_port, portico_binary, wait_until
from pebble import PEBBLE, start_pebble, stop_pebble

PROMTOOL = shutil.which("promtool")
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def admin_get(port, path, token=None, timeout=5):
    """Return (status, headers, body bytes) of GET path on the admin port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def admin_json(port, path, token=None):
    status, headers, body = admin_get(port, path, token)
    assert status == 200, f"{path}: HTTP {status} {body!r}"
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def start_with_admin(portico_factory, *args, env=None, port=None):
    admin_port = free_port()
    p = portico_factory("--admin-listen", f"127.0.0.1:{admin_port}", *args,
                        env=env, port=port)
    p.admin_port = admin_port
    return p


def find_route(routes, host):
    matches = [r for r in routes["routes"] if r["host"] == host]
    return matches[0] if matches else None


def metric_value(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def tls_handshake(port, server_name, cafile):
    """Complete a TLS handshake with SNI server_name and close; return the
    error text of a failed handshake, or None."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=server_name) as t:
                t.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\n"
                          "Connection: close\r\n\r\n".encode())
                while t.recv(65536):
                    pass
    except ssl.SSLError as e:
        return str(e)
    return None


def test_admin_probes(portico_factory):
    p = start_with_admin(portico_factory)
    assert admin_get(p.admin_port, "/healthz")[:3:2] == (200, b"ok\n")
    wait_until(lambda: admin_get(p.admin_port, "/readyz")[0] == 200, 10,
               what="/readyz to return 200 after the first sync")
    assert admin_get(p.admin_port, "/nope")[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", p.admin_port, timeout=5)
    conn.request("POST", "/api/v1/routes", body=b"{}")
    r = conn.getresponse()
    assert r.status == 405
    assert r.getheader("Allow") == "GET, HEAD"
    conn.close()


def test_admin_readyz_before_sync(portico_factory, test_dir):
    port = free_port()
    portico_factory("--admin-listen", f"127.0.0.1:{port}",
                    docker_host=f"unix://{test_dir}/no-engine.sock")
    status, _, body = admin_get(port, "/readyz")
    assert status == 503
    assert b"no sync" in body
    assert admin_get(port, "/healthz")[0] == 200


def test_admin_routes_and_containers(portico_factory, backends):
    p = start_with_admin(portico_factory)
    b = backends.run(host="admin.test", labels={"VIRTUAL_PATH": "/app"})
    wait_until(lambda: p.routed(b.name), 10, what="admin.test to be routed")

    route = find_route(admin_json(p.admin_port, "/api/v1/routes"),
                       "admin.test")
    assert route is not None
    assert route["path"] == "/app"
    assert route["static"] is False
    assert route["policy"]["https"] == "redirect"
    assert len(route["upstreams"]) == 1
    up = route["upstreams"][0]
    assert up["address"] == f"127.0.0.1:{b.port}"
    assert up["container_name"] == b.name
    assert up["container_id"] == b.id
    assert up["tls"] is False

    containers = admin_json(p.admin_port, "/api/v1/containers")["containers"]
    c = [c for c in containers if c["id"] == b.id]
    assert len(c) == 1
    assert c[0]["name"] == b.name
    assert c[0]["routable"] is True
    assert c[0]["hosts"] == ["admin.test"]
    assert c[0]["path"] == "/app"
    assert c[0]["port"] == b.port
    assert c[0]["skip_reason"] is None

    certs = admin_json(p.admin_port, "/api/v1/certificates")
    assert certs == {"certificates": []}


def test_admin_lists_skipped_container_and_error(portico_factory, backends):
    p = start_with_admin(portico_factory)
    # Host networking exposes no ports, so without VIRTUAL_PORT the
    # container has no port to route to.
    bad = backends.run(host="skipped.test", virtual_port=False)
    wait_until(lambda: any(s["container_id"] == bad.id for s in admin_json(
        p.admin_port, "/api/v1/routes")["skipped"]), 10,
        what="the container to be listed as skipped")
    skipped = [s for s in admin_json(p.admin_port, "/api/v1/routes")
               ["skipped"] if s["container_id"] == bad.id][0]
    assert skipped["container_name"] == bad.name
    assert skipped["reason"]

    containers = admin_json(p.admin_port, "/api/v1/containers")["containers"]
    c = [c for c in containers if c["id"] == bad.id][0]
    assert c["routable"] is False
    assert c["skip_reason"] == skipped["reason"]

    errors = admin_json(p.admin_port, "/api/v1/errors")["errors"]
    mentions = [line for line in errors if bad.name in line]
    assert mentions, errors
    assert any("container skipped" in line for line in mentions), mentions


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package "
                    "prometheus) is not installed")
def test_admin_metrics_pass_promtool_and_count(portico_factory, backends,
                                               test_dir):
    p = start_with_admin(portico_factory)
    b = backends.run(host="metrics.test")
    wait_until(lambda: p.body("metrics.test") == b.content, 10,
               what="metrics.test to reach the container")

    status, headers, body = admin_get(p.admin_port, "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4"
    before = body.decode()
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr

    ok = 'portico_http_requests_total{host="metrics.test",code_class="2xx"}'
    other = 'portico_http_requests_total{host="other",code_class="5xx"}'
    for _ in range(5):
        assert p.status("metrics.test") == 200
    assert p.status("unrouted.test") == 503

    after = admin_get(p.admin_port, "/metrics")[2].decode()
    (test_dir / "metrics.txt").write_text(after)
    assert metric_value(after, ok) - metric_value(before, ok) == 5
    assert metric_value(after, other) - metric_value(before, other) == 1
    assert 'host="unrouted.test"' not in after
    assert metric_value(after, "portico_routes") >= 1
    assert metric_value(after, "portico_upstreams") >= 1
    assert metric_value(after, "portico_docker_events_total") >= 1
    assert metric_value(after, "portico_connections_total") >= 6
    count = "portico_http_request_duration_seconds_count"
    assert metric_value(after, count) - metric_value(before, count) == 6
    latency = "portico_route_update_latency_seconds_count"
    assert metric_value(after, latency) >= 1


@pytest.mark.skipif(not os.path.exists(PEBBLE), reason="pebble is not "
                    "installed")
def test_admin_certificates_after_acme_order(portico_factory, backends,
                                             test_dir):
    http_port, https_port = free_port(), free_port()
    pebble = start_pebble(test_dir / "pebble", http_port=http_port,
                          tls_port=https_port, port=free_port(),
                          management_port=free_port(), dns_port=free_port(),
                          dns_management_port=free_port())
    try:
        backends.run(host="cert.admin.test")
        p = start_with_admin(
            portico_factory, "--https-listen", f"127.0.0.1:{https_port}",
            "--acme", "on", "--acme-directory", pebble.directory_url,
            "--acme-ca-file", pebble.ca_file,
            "--acme-email", "admin@example.test", port=http_port)

        def issued():
            certs = admin_json(p.admin_port, "/api/v1/certificates")
            return [c for c in certs["certificates"]
                    if c["has_certificate"]
                    and "cert.admin.test" in c["names"]]
        cert = wait_until(issued, 60, 0.5,
                          what="a certificate for cert.admin.test")[0]
        roots = test_dir / "pebble-roots.pem"
        roots.write_text(pebble.fetch_root())
    finally:
        stop_pebble(pebble)

    before = admin_get(p.admin_port, "/metrics")[2].decode()
    assert tls_handshake(https_port, "cert.admin.test", roots) is None
    assert tls_handshake(https_port, "unknown.admin.test", roots) is not None
    after = admin_get(p.admin_port, "/metrics")[2].decode()
    for series in ("portico_tls_handshakes_total",
                   "portico_tls_handshake_failures_total"):
        assert metric_value(after, series) - metric_value(before, series) \
            == 1, series

    assert cert["issuer"]
    assert cert["last_error"] == ""
    assert cert["failed_attempts"] == 0
    assert cert["not_after_unix"] > time.time()
    assert cert["not_after"].endswith("Z")
    assert cert["next_renewal"] is not None

    text = admin_get(p.admin_port, "/metrics")[2].decode()
    expiry = metric_value(
        text, 'portico_certificate_expiry_timestamp_seconds'
              f'{{name="{cert["id"]}"}}')
    assert expiry == cert["not_after_unix"]
    assert metric_value(
        text, 'portico_acme_orders_total{result="valid"}') >= 1
    if PROMTOOL is not None:
        check = subprocess.run([PROMTOOL, "check", "metrics"],
                               input=text.encode(), capture_output=True,
                               timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr


def test_admin_token_required_when_set(portico_factory):
    p = start_with_admin(portico_factory, "--admin-token", "s3cret-token")
    port = p.admin_port
    assert admin_get(port, "/healthz")[0] == 200
    for path in ("/api/v1/routes", "/api/v1/containers",
                 "/api/v1/certificates", "/api/v1/errors", "/metrics",
                 "/readyz"):
        status, headers, _ = admin_get(port, path)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert admin_get(port, path, token="wrong")[0] == 401, path
        assert admin_get(port, path, token="s3cret-token-")[0] == 401, path
    assert admin_get(port, "/api/v1/routes", token="s3cret-token")[0] == 200
    assert admin_get(port, "/metrics", token="s3cret-token")[0] == 200
    p.wait_log("admin request without a valid token", "client=127.0.0.1",
               "path=/metrics")
    assert "s3cret-token" not in p.stderr()


def test_admin_token_from_environment(portico_factory):
    p = start_with_admin(portico_factory,
                         env={"PORTICO_ADMIN_TOKEN": "env-token"})
    assert admin_get(p.admin_port, "/api/v1/routes")[0] == 401
    assert admin_get(p.admin_port, "/api/v1/routes",
                     token="env-token")[0] == 200


@pytest.mark.parametrize("listen", ["0.0.0.0:{port}", "[::]:{port}"])
def test_admin_public_listen_without_token_exits_2(listen):
    addr = listen.format(port=free_port())
    cp = subprocess.run([portico_binary(), "--admin-listen", addr,
                         "--docker-host", "unix:///nonexistent.sock"],
                        capture_output=True, timeout=10, env={})
    assert cp.returncode == 2
    assert b"--admin-token" in cp.stderr
    assert addr.encode() in cp.stderr


def test_admin_port_in_use_exits_1(portico_factory, engine, test_dir):
    first = start_with_admin(portico_factory)
    cp = subprocess.run([portico_binary(), "--docker-host", engine.host,
                         "--http-listen", f"127.0.0.1:{free_port()}",
                         "--https-listen", "off", "--acme", "off",
                         "--state-dir", str(test_dir / "state2"),
                         "--admin-listen", f"127.0.0.1:{first.admin_port}"],
                        capture_output=True, timeout=10, env={})
    assert cp.returncode == 1
    assert b"admin server failed to start" in cp.stderr


# ---------------------------------------------------------------------------
# Dashboard in headless Chromium, driven through chromedriver's W3C API.


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path}: {e.read()!r}") from None

    def start(self, profile):
        caps = {"browserName": "chrome",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": ["--headless", "--no-sandbox", "--disable-gpu",
                             "--disable-quic", "--no-first-run",
                             "--disable-background-networking",
                             "--disable-component-update", "--disable-sync",
                             "--disable-dev-shm-usage",
                             "--window-size=1280,900",
                             f"--user-data-dir={profile}"]}}
        value = self.call("POST", "/session",
                          {"capabilities": {"alwaysMatch": caps}})
        self.session = value["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def open(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def run(self, script, *args):
        return self.call("POST", self.s("/execute/sync"),
                         {"script": script, "args": list(args)})

    def console(self):
        return self.call("POST", self.s("/se/log"), {"type": "browser"})

    def screenshot(self, path):
        path.write_bytes(base64.b64decode(
            self.call("GET", self.s("/screenshot"))))

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""))
            except (AssertionError, OSError):
                pass


@pytest.fixture
def browser(test_dir):
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("chromium and chromium-driver are not installed")
    port = free_port()
    log = test_dir / "chromedriver.log"
    driver = HostProcess([CHROMEDRIVER, f"--port={port}"], port, log)
    wd = WebDriver(port)
    try:
        wait_until(lambda: driver_ready(port), 20, 0.1,
                   what="chromedriver to answer")
        wd.start(test_dir / "chromium-profile")
        yield wd
    finally:
        wd.quit()
        driver.stop()


def driver_ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status",
                                    timeout=2) as r:
            return json.loads(r.read())["value"]["ready"]
    except OSError:
        return False


ROUTE_ROWS = """
return Array.from(document.querySelectorAll('#routes tbody tr'))
  .map(tr => tr.dataset.host + ' ' + tr.innerText);
"""


def severe_console_entries(wd):
    return [e for e in wd.console() if e.get("level") == "SEVERE"]


def test_admin_dashboard_shows_route(portico_factory, backends, browser,
                                     test_dir):
    p = start_with_admin(portico_factory)
    b = backends.run(host="dash.test")
    wait_until(lambda: p.routed(b.name), 10, what="dash.test to be routed")

    browser.open(f"http://127.0.0.1:{p.admin_port}/")
    rows = wait_until(lambda: [r for r in browser.run(ROUTE_ROWS)
                               if r.startswith("dash.test ")], 15, 0.2,
                      what="the dashboard to list dash.test")
    assert b.name in rows[0]
    assert f"127.0.0.1:{b.port}" in rows[0]
    wait_until(lambda: browser.run(
        "return document.getElementById('ready').textContent") == "ready",
        10, 0.2, what="the dashboard to show ready")
    browser.screenshot(test_dir / "dashboard.png")
    assert severe_console_entries(browser) == []

    # The page refreshes itself: a second container appears without a
    # reload.
    b2 = backends.run(host="dash2.test")
    wait_until(lambda: any(r.startswith("dash2.test ")
                           for r in browser.run(ROUTE_ROWS)), 15, 0.2,
               what="the dashboard to list dash2.test without a reload")
    assert b2.name in "".join(browser.run(ROUTE_ROWS))
    assert severe_console_entries(browser) == []


def test_admin_dashboard_with_token(portico_factory, backends, browser):
    p = start_with_admin(portico_factory, "--admin-token", "dash-token")
    b = backends.run(host="dashtok.test")
    wait_until(lambda: p.routed(b.name), 10, what="dashtok.test routed")

    browser.open(f"http://127.0.0.1:{p.admin_port}/")
    wait_until(lambda: "token" in browser.run(
        "return document.getElementById('message').textContent"), 10, 0.2,
        what="the dashboard to ask for the token")
    browser.run("document.getElementById('token').value = arguments[0];"
                "document.querySelector('#token-form button').click();",
                "dash-token")
    wait_until(lambda: any(r.startswith("dashtok.test ")
                           for r in browser.run(ROUTE_ROWS)), 15, 0.2,
               what="the dashboard to list dashtok.test with the token")
    assert browser.run("return document.getElementById('message').hidden")


def test_admin_lists_certs_dir_certificates(portico_factory, test_dir):
    """Certificates from --certs-dir appear in /api/v1/certificates and in
    the expiry metric, marked with their source."""
    from test_tls import make_cert

    certs = test_dir / "certs"
    certs.mkdir()
    crt = make_cert(certs, "user.test")
    expected = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-dateopt", "iso_8601",
         "-in", crt], capture_output=True, text=True, check=True)
    not_after = expected.stdout.strip().split("=", 1)[1].replace(" ", "T")
    p = start_with_admin(portico_factory, "--https-listen",
                         f"127.0.0.1:{free_port()}", "--certs-dir",
                         str(certs))

    def listed():
        certificates = admin_json(p.admin_port, "/api/v1/certificates")
        return [c for c in certificates["certificates"]
                if c["names"] == ["user.test"]]
    wait_until(lambda: len(listed()) == 1, 10,
               what="the certs-dir certificate to be listed")
    entry = listed()[0]
    assert entry["source"] == "certs-dir"
    assert entry["has_certificate"] is True
    assert entry["not_after"] == not_after
    assert "CN = user.test" in entry["issuer"] or "CN=user.test" in \
        entry["issuer"]
    metrics = admin_get(p.admin_port, "/metrics")[2].decode()
    series = 'portico_certificate_expiry_timestamp_seconds{name="user.test"}'
    assert metric_value(metrics, series) == entry["not_after_unix"]

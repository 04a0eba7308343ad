"""HTTP/1.x client handling and error statuses."""

from harness import HttpConnection, free_port, http_get, wait_until


def test_unknown_host_gets_503(portico, backends):
    b = backends.run(host="known.test")
    wait_until(lambda: portico.body("known.test") == b.content, 10,
               what="known.test to be routed")
    r = portico.get("unknown.test")
    assert r.status == 503
    r = portico.get("known.test.other")
    assert r.status == 503


def test_no_upstream_gets_502(portico_factory):
    dead = free_port()
    portico = portico_factory("--route", f"dead.test=http://127.0.0.1:{dead}")
    assert portico.get("dead.test").status == 502


def test_http10_client_with_host(portico, backends):
    b = backends.run(host="old.test")
    wait_until(lambda: portico.body("old.test") == b.content, 10,
               what="old.test to be routed")
    r = http_get(portico.port, "old.test", version="HTTP/1.0")
    assert r.status == 200
    assert r.body == b.content
    assert r.closed


def test_keepalive_two_requests(portico, backends):
    b = backends.run(host="keep.test",
                     files={"second.txt": "second file\n"})
    wait_until(lambda: portico.body("keep.test") == b.content, 10,
               what="keep.test to be routed")
    with HttpConnection(portico.port) as conn:
        first = conn.request("GET", "/", "keep.test")
        assert first.status == 200
        assert first.body == b.content
        assert not first.closed
        second = conn.request("GET", "/second.txt", "keep.test")
        assert second.status == 200
        assert second.body == b"second file\n"


def test_503_keeps_connection_usable(portico, backends):
    """An error that Portico sends itself is logged once, and the next
    request on the same connection is routed normally."""
    b = backends.run(host="after503.test")
    wait_until(lambda: portico.body("after503.test") == b.content, 10,
               what="after503.test to be routed")
    with HttpConnection(portico.port) as conn:
        first = conn.request("GET", "/", "nothing-here.test")
        assert first.status == 503
        assert not first.closed
        second = conn.request("GET", "/", "after503.test")
        assert second.status == 200
        assert second.body == b.content

    def logged():
        lines = portico.stdout_path.read_text().splitlines()
        return [l for l in lines if "host=nothing-here.test" in l]
    wait_until(lambda: len(logged()) >= 1, 5, what="the access log line")
    assert len(logged()) == 1
    assert "status=503" in logged()[0]
    assert "end=no_route" in logged()[0]

"""HTTP/1.1 semantics at the byte level: Expect, HTTP/1.0, pipelining,
X-Forwarded-* handling and upgrades other than WebSocket."""

import socket
import time

import pytest

from rawhttp import (Upstream, exchange, first_reply, header_values,
                     status_of, statuses)

HOST = "app.test"


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def proxy(portico_factory, upstream):
    return portico_factory("--route", f"{HOST}=http://127.0.0.1:{upstream.port}")


@pytest.mark.parametrize("status", [401, 413])
def test_expect_continue_rejection_reaches_client(portico_factory, status):
    def reject(conn, recorded):
        recorded += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 %d No\r\nContent-Length: 3\r\n\r\nno\n"
                     % status)
        time.sleep(1)
    u = Upstream(reject)
    try:
        p = portico_factory("--route", f"{HOST}=http://127.0.0.1:{u.port}")
        reply, seconds = first_reply(
            p.port, b"PUT / HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue"
            b"\r\nContent-Length: 100000\r\n\r\n", timeout=4.0)
        assert status_of(reply) == status
        assert seconds < 2.0
        assert b"Connection: close" in reply
    finally:
        u.stop()


def test_http10_without_host_gets_400(proxy, upstream):
    reply, closed = exchange(proxy.port, b"GET / HTTP/1.0\r\n\r\n")
    assert status_of(reply) == 400
    assert closed
    assert upstream.received() == b""


def test_http10_keepalive_honoured(proxy, upstream):
    req = b"GET /%d HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive" \
        b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=3) as s:
        s.sendall(req % 1)
        first = s.recv(65536)
        assert status_of(first) == 200
        assert b"Connection: keep-alive" in first
        s.sendall(req % 2)
        second = s.recv(65536)
        assert status_of(second) == 200
        assert b"GET /2 HTTP/1.1" in second


def test_pipelined_requests_answered_in_order(proxy, upstream):
    raw = b"".join(b"GET /%d HTTP/1.1\r\nHost: app.test\r\n\r\n" % i
                   for i in range(1, 4))
    raw += b"GET /4 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n"
    reply, closed = exchange(proxy.port, raw)
    assert statuses(reply) == [200, 200, 200, 200]
    positions = [reply.find(b"GET /%d HTTP/1.1" % i) for i in range(1, 5)]
    assert -1 not in positions
    assert positions == sorted(positions)
    assert closed


FORWARDED = (b"GET / HTTP/1.1\r\nHost: app.test\r\n"
             b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
             b"X-Forwarded-Host: evil.test\r\nX-Forwarded-Port: 1\r\n"
             b"X-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n")


def test_forwarded_headers_overwritten(proxy, upstream):
    reply, _ = exchange(proxy.port, FORWARDED)
    assert status_of(reply) == 200
    head = upstream.heads[0]
    assert header_values(head, b"x-forwarded-for") == [b"127.0.0.1"]
    assert header_values(head, b"x-forwarded-proto") == [b"http"]
    assert header_values(head, b"x-forwarded-host") == [b"app.test"]
    assert header_values(head, b"x-forwarded-port") == [
        str(proxy.port).encode()]
    assert header_values(head, b"x-real-ip") == [b"127.0.0.1"]


def test_trusted_proxy_forwarded_kept(portico_factory, upstream):
    p = portico_factory("--route", f"{HOST}=http://127.0.0.1:{upstream.port}",
                        "--trusted-proxies", "10.0.0.0/8,127.0.0.0/8,::1")
    reply, _ = exchange(p.port, FORWARDED)
    assert status_of(reply) == 200
    head = upstream.heads[0]
    assert header_values(head, b"x-forwarded-for") == [b"6.6.6.6, 127.0.0.1"]
    assert header_values(head, b"x-forwarded-proto") == [b"https"]
    assert header_values(head, b"x-forwarded-host") == [b"evil.test"]
    assert header_values(head, b"x-forwarded-port") == [b"1"]
    assert header_values(head, b"x-real-ip") == [b"6.6.6.6"]


def test_untrusted_network_still_overwritten(portico_factory, upstream):
    p = portico_factory("--route", f"{HOST}=http://127.0.0.1:{upstream.port}",
                        "--trusted-proxies", "10.0.0.0/8")
    exchange(p.port, FORWARDED)
    head = upstream.heads[0]
    assert header_values(head, b"x-forwarded-for") == [b"127.0.0.1"]
    assert header_values(head, b"x-real-ip") == [b"127.0.0.1"]


def test_connection_cannot_remove_forwarded(proxy, upstream):
    raw = (b"GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close, "
           b"X-Forwarded-For, X-Real-IP, Host, X-Secret\r\n"
           b"X-Secret: 1\r\n\r\n")
    reply, _ = exchange(proxy.port, raw)
    assert status_of(reply) == 200
    head = upstream.heads[0]
    assert header_values(head, b"x-forwarded-for") == [b"127.0.0.1"]
    assert header_values(head, b"x-real-ip") == [b"127.0.0.1"]
    assert header_values(head, b"host") == [b"app.test"]
    assert header_values(head, b"x-secret") == []


@pytest.mark.parametrize("method,upgrade", [("GET", "h2c"),
                                            ("POST", "websocket"),
                                            ("GET", "foo")])
def test_other_upgrades_not_tunnelled(proxy, upstream, method, upgrade):
    raw = (f"{method} / HTTP/1.1\r\nHost: app.test\r\n"
           f"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: {upgrade}\r\n"
           "HTTP2-Settings: AAMAAABkAAQAAP__\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n").encode()
    reply, _ = exchange(proxy.port, raw, timeout=1.0)
    assert status_of(reply) == 200
    head = upstream.heads[0]
    assert header_values(head, b"upgrade") == []
    assert header_values(head, b"http2-settings") == []
    assert header_values(head, b"connection") == [b"keep-alive"]

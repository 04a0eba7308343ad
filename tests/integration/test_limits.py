"""Limits and timeouts: header and body sizes, slow clients, upstream
timeouts, the connection limit and graceful shutdown, driven with short
option values."""

import signal
import socket
import threading
import time

import pytest

from harness import can_connect, free_port, wait_until
from rawhttp import Upstream, exchange, first_reply, status_of

HOST = "app.test"
GET = b"GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


def start(portico_factory, upstream_port, *args):
    return portico_factory("--route", f"{HOST}=http://127.0.0.1:{upstream_port}",
                           *args)


def test_header_size_over_limit_gets_431(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--max-header-size", "2048")
    big = b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + b"a" * 3000 \
        + b"\r\n\r\n"
    reply, closed = exchange(p.port, big)
    assert status_of(reply) == 431
    assert closed
    assert upstream.received() == b""


def test_header_size_under_limit_forwarded(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--max-header-size", "2048")
    head = b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + b"a" * 1500 \
        + b"\r\n\r\n"
    reply, _ = exchange(p.port, head, timeout=1.0)
    assert status_of(reply) == 200


def test_header_count_over_limit_gets_431(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--max-headers", "5")
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(5))
    reply, closed = exchange(
        p.port, b"GET / HTTP/1.1\r\nHost: app.test\r\n" + fields + b"\r\n")
    assert status_of(reply) == 431
    assert closed
    assert upstream.received() == b""
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(4))
    reply, _ = exchange(
        p.port, b"GET / HTTP/1.1\r\nHost: app.test\r\n" + fields + b"\r\n",
        timeout=1.0)
    assert status_of(reply) == 200


def test_content_length_over_limit_gets_413(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--max-body-size", "10")
    reply, closed = exchange(
        p.port, b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 11"
        b"\r\n\r\nhello world")
    assert status_of(reply) == 413
    assert closed
    assert upstream.received() == b""
    reply, _ = exchange(
        p.port, b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10"
        b"\r\n\r\nhelloworld", timeout=1.0)
    assert status_of(reply) == 200


def test_chunked_body_over_limit_gets_413(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--max-body-size", "10")
    head = b"POST / HTTP/1.1\r\nHost: app.test\r\n" \
        b"Transfer-Encoding: chunked\r\n\r\n"
    reply, closed = exchange(
        p.port, [head + b"8\r\n12345678\r\n", b"8\r\n12345678\r\n0\r\n\r\n"],
        pause=0.2)
    assert status_of(reply) == 413
    assert closed
    # The upstream got the first chunk but never the end of the body.
    assert upstream.heads == []
    assert b"0\r\n\r\n" not in upstream.received()


def test_partial_head_gets_408(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--header-timeout", "1")
    t0 = time.monotonic()
    reply, closed = exchange(p.port, b"GET / HTTP/1.1\r\nHo", timeout=4.0)
    assert status_of(reply) == 408
    assert closed
    assert time.monotonic() - t0 < 3.0
    p.wait_log("client request head timed out", "client=127.0.0.1")


def test_trickled_head_gets_408(portico_factory, upstream):
    """Bytes arriving slowly do not extend the header timeout."""
    p = start(portico_factory, upstream.port, "--header-timeout", "1")
    reply, closed = exchange(p.port, [bytes([b]) for b in GET[:20]],
                             pause=0.15, timeout=2.0)
    assert status_of(reply) == 408
    assert closed
    assert upstream.received() == b""


def test_idle_keepalive_closed_silently(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--keepalive-timeout", "1")
    with socket.create_connection(("127.0.0.1", p.port), timeout=4) as s:
        s.sendall(GET)
        first = s.recv(65536)
        assert status_of(first) == 200
        t0 = time.monotonic()
        assert s.recv(65536) == b""
        assert 0.5 < time.monotonic() - t0 < 3.0


def test_slow_upstream_gets_504(portico_factory):
    def stall(conn, recorded):
        recorded += conn.recv(65536)
        time.sleep(3)
    slow = Upstream(stall)
    try:
        p = start(portico_factory, slow.port,
                  "--upstream-response-timeout", "1")
        reply, seconds = first_reply(p.port, GET, timeout=4.0)
        assert status_of(reply) == 504
        assert seconds < 2.8
        p.wait_log("upstream timed out", "client=127.0.0.1", "host=app.test")
    finally:
        slow.stop()


def test_refused_upstream_gets_502(portico_factory):
    p = start(portico_factory, free_port())
    reply, _ = exchange(p.port, GET)
    assert status_of(reply) == 502


def test_unanswered_connect_gets_504(portico_factory):
    """A listener whose accept queue is full drops SYNs, so connecting to
    it times out."""
    port = free_port()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", port))
    lsock.listen(0)
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        p = start(portico_factory, port, "--upstream-connect-timeout", "1")
        reply, seconds = first_reply(p.port, GET, timeout=4.0)
        assert status_of(reply) == 504
        assert seconds < 2.8
    finally:
        for s in fillers:
            s.close()
        lsock.close()


def test_connection_limit_closes_extra(portico_factory, upstream):
    p = start(portico_factory, upstream.port, "--max-connections", "3",
              "--workers", "1")
    held = [socket.create_connection(("127.0.0.1", p.port), timeout=3)
            for _ in range(3)]
    try:
        time.sleep(0.2)
        reply, closed = exchange(p.port, GET, timeout=2.0)
        assert reply == b""
        assert closed
        p.wait_log("connection limit reached", "max_connections=3")
        held.pop().close()
        wait_until(lambda: status_of(exchange(p.port, GET, timeout=1.0)[0])
                   == 200, 5.0, 0.1, "a free connection slot")
    finally:
        for s in held:
            s.close()


def test_graceful_shutdown_finishes_request(portico_factory):
    def slow_answer(conn, recorded):
        recorded += conn.recv(65536)
        time.sleep(1.5)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow\n")
    slow = Upstream(slow_answer)
    try:
        p = start(portico_factory, slow.port, "--shutdown-timeout", "5")
        idle = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        result = {}

        def client():
            result["reply"] = exchange(p.port, GET, timeout=5.0)
        t = threading.Thread(target=client)
        t.start()
        wait_until(lambda: slow.connections, 3.0, 0.02, "the request upstream")
        p.proc.send_signal(signal.SIGTERM)
        # The idle connection is closed at once, new ones are refused.
        idle.settimeout(2)
        assert idle.recv(100) == b""
        idle.close()
        wait_until(lambda: not can_connect(p.port), 2.0, 0.05,
                   "the listener to close")
        t.join(6)
        reply, closed = result["reply"]
        assert status_of(reply) == 200
        assert reply.endswith(b"slow\n")
        assert b"Connection: close" in reply
        assert p.proc.wait(5) == 0
    finally:
        slow.stop()


def test_shutdown_timeout_cuts_slow_request(portico_factory):
    def stall(conn, recorded):
        recorded += conn.recv(65536)
        time.sleep(5)
    slow = Upstream(stall)
    try:
        p = start(portico_factory, slow.port, "--shutdown-timeout", "1")
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        s.sendall(GET)
        wait_until(lambda: slow.connections, 3.0, 0.02, "the request upstream")
        t0 = time.monotonic()
        p.proc.send_signal(signal.SIGTERM)
        assert p.proc.wait(5) == 0
        assert time.monotonic() - t0 < 3.0
        s.close()
    finally:
        slow.stop()


def test_slow_clients_do_not_block_others(portico_factory, upstream):
    """500 connections sending one header byte a second for about five
    seconds; normal requests keep being answered meanwhile."""
    p = start(portico_factory, upstream.port, "--header-timeout", "30")
    slow = []
    try:
        for _ in range(500):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=3)
            s.setblocking(False)
            slow.append(s)
        worst = 0.0
        for second in range(5):
            for s in slow:
                try:
                    s.send(GET[second:second + 1])
                except OSError:
                    pass
            reply, seconds = first_reply(p.port, GET, timeout=2.0)
            worst = max(worst, seconds)
            assert status_of(reply) == 200
            time.sleep(max(0.0, 1.0 - seconds))
        assert worst < 2.0
    finally:
        for s in slow:
            s.close()


def post_status(port, host, size):
    """Sends a POST with a body of `size` bytes and returns the status."""
    body = b"x" * size
    head = (f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n"
            "Connection: close\r\n\r\n").encode()
    reply, _ = exchange(port, head + body)
    return status_of(reply)


def test_container_max_body_size_label(portico_factory, backends):
    """portico.max-body-size sets a route's limit and wins over the global
    --max-body-size in both directions."""
    p = portico_factory("--max-body-size", "1k")
    small = backends.run(host="small.test",
                         labels={"portico.max-body-size": "100"})
    large = backends.run(host="large.test",
                         labels={"portico.max-body-size": "1m"})
    plain = backends.run(host="plain.test")
    for host, b in (("small.test", small), ("large.test", large),
                    ("plain.test", plain)):
        wait_until(lambda host=host, b=b: p.body(host) == b.content, 10,
                   what=f"{host} to be routed")
    assert post_status(p.port, "small.test", 101) == 413
    assert post_status(p.port, "small.test", 100) != 413
    assert post_status(p.port, "large.test", 4096) != 413
    assert post_status(p.port, "plain.test", 1025) == 413
    assert post_status(p.port, "plain.test", 1024) != 413


def test_invalid_max_body_size_label_warns(portico_factory, backends):
    p = portico_factory("--max-body-size", "1k")
    b = backends.run(host="badlimit.test",
                     labels={"portico.max-body-size": "ten"})
    wait_until(lambda: p.body("badlimit.test") == b.content, 10,
               what="badlimit.test to be routed")
    assert 'portico.max-body-size on container' in p.stderr()
    assert 'invalid value \\"ten\\"' in p.stderr()
    assert post_status(p.port, "badlimit.test", 1025) == 413

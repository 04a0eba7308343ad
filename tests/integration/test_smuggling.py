"""Request smuggling: ambiguous or malformed framing sent as raw bytes is
rejected with the connection closed, and nothing of it reaches the
upstream; malformed upstream responses become 502."""

import pytest

from rawhttp import Upstream, exchange, status_of

HOST = "app.test"
# A complete second request hidden in the first one's body by a framing
# that some parsers read differently.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def proxy(portico_factory, upstream):
    return portico_factory("--route", f"{HOST}=http://127.0.0.1:{upstream.port}")


def request(head_lines, body=b""):
    head = b"\r\n".join([b"POST / HTTP/1.1", b"Host: app.test", *head_lines])
    return head + b"\r\n\r\n" + body


# (id, raw request, expected status). Every one must close the connection
# and leave the upstream without a byte.
REJECTED = [
    ("cl-and-te", request([b"Content-Length: 6",
                           b"Transfer-Encoding: chunked"],
                          b"0\r\n\r\n" + SMUGGLED), 400),
    ("te-and-cl", request([b"Transfer-Encoding: chunked",
                           b"Content-Length: 6"],
                          b"0\r\n\r\n" + SMUGGLED), 400),
    ("two-different-cl", request([b"Content-Length: 5",
                                  b"Content-Length: 6"], b"hello!"), 400),
    ("cl-list-differs", request([b"Content-Length: 5, 6"], b"hello!"), 400),
    ("cl-plus-sign", request([b"Content-Length: +5"], b"hello"), 400),
    ("cl-hex", request([b"Content-Length: 0x5"], b"hello"), 400),
    ("cl-empty", request([b"Content-Length: "], b""), 400),
    ("cl-negative", request([b"Content-Length: -1"], b""), 400),
    ("cl-overflow", request([b"Content-Length: 99999999999999999999999"]),
     400),
    ("te-gzip-chunked", request([b"Transfer-Encoding: gzip, chunked"],
                                b"0\r\n\r\n"), 501),
    ("te-identity", request([b"Transfer-Encoding: identity"],
                            b"0\r\n\r\n" + SMUGGLED), 400),
    ("te-chunked-twice", request([b"Transfer-Encoding: chunked",
                                  b"Transfer-Encoding: chunked"],
                                 b"0\r\n\r\n"), 400),
    ("te-chunked-then-identity", request([b"Transfer-Encoding: chunked",
                                          b"Transfer-Encoding: identity"],
                                         b"0\r\n\r\n"), 400),
    ("te-xchunked", request([b"Transfer-Encoding: xchunked"],
                            b"0\r\n\r\n" + SMUGGLED), 400),
    ("te-chunked-comma", request([b"Transfer-Encoding: chunked, "],
                                 b"0\r\n\r\n"), 400),
    ("te-vertical-tab", request([b"Transfer-Encoding: \x0bchunked"],
                                b"0\r\n\r\n"), 400),
    ("space-before-colon", request([b"Transfer-Encoding : chunked"],
                                   b"0\r\n\r\n" + SMUGGLED), 400),
    ("obs-fold", request([b"X-A: 1", b" Transfer-Encoding: chunked"],
                         b"0\r\n\r\n"), 400),
    ("nul-in-value", request([b"X-A: a\x00b"]), 400),
    ("cr-in-value", request([b"X-A: a\rb"]), 400),
    ("bare-lf-line", b"GET / HTTP/1.1\r\nHost: app.test\nX-A: 1\r\n\r\n",
     400),
    ("control-in-target", b"GET /a\x01b HTTP/1.1\r\nHost: app.test\r\n\r\n",
     400),
    ("space-in-target", b"GET /a b HTTP/1.1\r\nHost: app.test\r\n\r\n", 400),
    ("double-space-line", b"GET  / HTTP/1.1\r\nHost: app.test\r\n\r\n", 400),
    ("trailing-space-line", b"GET / HTTP/1.1 \r\nHost: app.test\r\n\r\n",
     400),
    ("tab-in-line", b"GET\t/ HTTP/1.1\r\nHost: app.test\r\n\r\n", 400),
    ("bad-method-token", b"G(T / HTTP/1.1\r\nHost: app.test\r\n\r\n", 400),
    ("http-1-2", b"GET / HTTP/1.2\r\nHost: app.test\r\n\r\n", 505),
    ("http-2-0", b"GET / HTTP/2.0\r\nHost: app.test\r\n\r\n", 505),
    ("lower-case-version", b"GET / http/1.1\r\nHost: app.test\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: app.test\r\nHost: b.test"
     b"\r\n\r\n", 400),
    ("empty-header-name", request([b": x"]), 400),
]


@pytest.mark.parametrize("raw,expected", [c[1:] for c in REJECTED],
                         ids=[c[0] for c in REJECTED])
def test_request_framing_rejected(proxy, upstream, raw, expected):
    reply, closed = exchange(proxy.port, raw)
    assert status_of(reply) == expected, reply[:200]
    assert b"Connection: close" in reply
    assert closed
    assert upstream.received() == b""


def chunked(body_frames):
    return request([b"Transfer-Encoding: chunked"], body_frames)


# Invalid chunked bodies: the upstream has the head and some data but
# never a complete request, and nothing after the invalid framing.
BAD_CHUNKS = [
    ("size-not-hex", b"zz\r\nhello\r\n0\r\n\r\n"),
    ("size-plus-sign", b"+5\r\nhello\r\n0\r\n\r\n"),
    ("size-0x-prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("size-space-inside", b"5 5\r\nhello\r\n0\r\n\r\n"),
    ("size-overflow", b"fffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    ("no-crlf-after-data", b"5\r\nhelloXX0\r\n\r\n" + SMUGGLED),
    ("lf-only-after-size", b"5\nhello\r\n0\r\n\r\n"),
    ("endless-extension", b"5;" + b"a" * 70000 + b"\r\nhello\r\n"),
    ("oversized-trailers",
     b"0\r\n" + b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 1000)
                         for i in range(40)) + b"\r\n"),
]


@pytest.mark.parametrize("frames", [c[1] for c in BAD_CHUNKS],
                         ids=[c[0] for c in BAD_CHUNKS])
def test_invalid_chunked_body_rejected(proxy, upstream, frames):
    reply, closed = exchange(proxy.port, chunked(frames))
    assert status_of(reply) in (400, None), reply[:200]
    assert closed
    received = upstream.received()
    assert b"/smuggled" not in received
    # The upstream never gets the terminating chunk, so it saw no complete
    # request and answered nothing.
    assert upstream.heads == []


def test_valid_chunked_body_forwarded(proxy, upstream):
    raw = chunked(b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n")
    reply, _ = exchange(proxy.port, raw, timeout=1.0)
    assert status_of(reply) == 200
    assert b"POST / HTTP/1.1 body=5" in reply


def test_smuggled_request_in_body_stays_body(proxy, upstream):
    """A second request inside a Content-Length body is body bytes."""
    raw = request([b"Content-Length: %d" % len(SMUGGLED)], SMUGGLED)
    reply, _ = exchange(proxy.port, raw, timeout=1.0)
    assert status_of(reply) == 200
    assert len(upstream.heads) == 1
    assert upstream.heads[0].startswith(b"POST / HTTP/1.1")


def raw_response_upstream(response):
    def handler(conn, recorded):
        recorded += conn.recv(65536)
        conn.sendall(response)
    return Upstream(handler)


BAD_RESPONSES = [
    ("cl-and-te", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("two-different-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
     b"Content-Length: 3\r\n\r\nabc"),
    ("bad-status-line", b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"),
    ("not-http", b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
    ("header-injection", b"HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: x=1\r\n"
     b"Content-Length: 0\r\n\r\n"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX-A: a\r\n Set-Cookie: x=1\r\n"
     b"Content-Length: 0\r\n\r\n"),
    ("space-before-colon", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"),
]


@pytest.mark.parametrize("response", [c[1] for c in BAD_RESPONSES],
                         ids=[c[0] for c in BAD_RESPONSES])
def test_invalid_response_gives_502(portico_factory, response):
    bad = raw_response_upstream(response)
    try:
        p = portico_factory("--route", f"{HOST}=http://127.0.0.1:{bad.port}")
        reply, _ = exchange(p.port, b"GET / HTTP/1.1\r\nHost: app.test\r\n"
                            b"\r\n", timeout=2.0)
    finally:
        bad.stop()
    assert status_of(reply) == 502, reply[:200]
    assert b"Set-Cookie" not in reply

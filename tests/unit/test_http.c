/* Unit tests for the HTTP/1.1 head parsers and the chunked decoder. */
#include "check.h"
#include "http.h"

#include <stdlib.h>

#define MAX_HEAD 8192

enum { NONE = HTTP_BODY_NONE, LEN = HTTP_BODY_LENGTH,
       CHUNKED = HTTP_BODY_CHUNKED, CLOSE = HTTP_BODY_UNTIL_CLOSE };

static struct http_request req;
static struct http_response resp;

static char *
span_str(struct http_span s)
{
    static char out[4][256];
    static int next;
    char *p = out[next++ % 4];

    snprintf(p, sizeof(out[0]), "%.*s", (int)s.len, s.p ? s.p : "");
    return p;
}

static const struct request_case {
    int line;
    const char *text;
    int body;
    uint64_t length;
    int keep_alive, upgrade, websocket, expect, is_head;
    const char *host;
} good_requests[] = {
#define H11 " HTTP/1.1\r\nHost: a\r\n"
    {__LINE__, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "a.example"},
    {__LINE__, "GET / HTTP/1.0\r\n\r\n", NONE, 0, 0, 0, 0, 0, 0, ""},
    {__LINE__, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, ""},
    {__LINE__, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
     NONE, 0, 0, 0, 0, 0, 0, ""},
    {__LINE__, "GET /" H11 "Connection: close\r\n\r\n",
     NONE, 0, 0, 0, 0, 0, 0, "a"},
    {__LINE__, "GET /" H11 "Connection: foo , CLOSE\r\n\r\n",
     NONE, 0, 0, 0, 0, 0, 0, "a"},
    {__LINE__, "GET /" H11 "Connection: closed\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "\r\nGET /" H11 "\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "\r\n\r\nGET /" H11 "\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "HEAD /" H11 "\r\n", NONE, 0, 1, 0, 0, 0, 1, "a"},
    {__LINE__, "head /" H11 "\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "M-SEARCH *" H11 "\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "OPTIONS *" H11 "\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "GET http://b/x?y=%20&z#f" H11 "\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "a"},

    /* Content-Length */
    {__LINE__, "POST /" H11 "Content-Length: 5\r\n\r\n",
     LEN, 5, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "content-length:5\r\n\r\n",
     LEN, 5, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Content-Length: 0\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
     LEN, 5, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Content-Length: 5 ,5\r\n\r\n",
     LEN, 5, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Content-Length: 007\r\n\r\n",
     LEN, 7, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Content-Length: 5\r\nContent-Length: 05\r\n\r\n",
     LEN, 5, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Content-Length: 9223372036854775807\r\n\r\n",
     LEN, 9223372036854775807ULL, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Content-Length: 5 \t\r\n\r\n",
     LEN, 5, 1, 0, 0, 0, 0, "a"},

    /* Transfer-Encoding. A trailing HTAB is OWS, so it is trimmed away. */
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked\r\n\r\n",
     CHUNKED, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Transfer-Encoding: CHUNKED\r\n\r\n",
     CHUNKED, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked\t\r\n\r\n",
     CHUNKED, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "POST /" H11 "Transfer-Encoding:chunked\r\n\r\n",
     CHUNKED, 0, 1, 0, 0, 0, 0, "a"},

    /* Upgrade and WebSocket */
    {__LINE__, "GET /ws" H11 "Connection: Upgrade\r\nUpgrade: websocket\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
     "Sec-WebSocket-Version: 13\r\n\r\n", NONE, 0, 1, 1, 1, 0, 0, "a"},
    {__LINE__, "GET /ws" H11 "Connection: keep-alive, Upgrade\r\n"
     "Upgrade: h2c, WebSocket\r\nSec-WebSocket-Key: x\r\n\r\n",
     NONE, 0, 1, 1, 1, 0, 0, "a"},
    {__LINE__, "POST /ws" H11 "Connection: Upgrade\r\nUpgrade: websocket\r\n"
     "Sec-WebSocket-Key: x\r\n\r\n", NONE, 0, 1, 1, 0, 0, 0, "a"},
    {__LINE__, "GET /ws" H11 "Connection: Upgrade\r\nUpgrade: websocket\r\n"
     "\r\n", NONE, 0, 1, 1, 0, 0, 0, "a"},
    {__LINE__, "GET /ws" H11 "Connection: Upgrade\r\nUpgrade: h2c\r\n"
     "Sec-WebSocket-Key: x\r\n\r\n", NONE, 0, 1, 1, 0, 0, 0, "a"},
    {__LINE__, "GET /ws" H11 "Upgrade: websocket\r\n"
     "Sec-WebSocket-Key: x\r\n\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "GET /ws" H11 "Connection: upgrade\r\n"
     "Sec-WebSocket-Key: x\r\n\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "GET /ws HTTP/1.0\r\nConnection: Upgrade\r\n"
     "Upgrade: websocket\r\nSec-WebSocket-Key: x\r\n\r\n",
     NONE, 0, 0, 0, 0, 0, 0, ""},

    /* Expect */
    {__LINE__, "PUT /" H11 "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
     LEN, 1, 1, 0, 0, 1, 0, "a"},
    {__LINE__, "PUT /" H11 "Expect: 200-ok\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "a"},
    {__LINE__, "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
     NONE, 0, 0, 0, 0, 0, 0, ""},

    /* Host */
    {__LINE__, "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "[::1]:8080"},
    {__LINE__, "GET / HTTP/1.1\r\nHost: 127.0.0.1:65535\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "127.0.0.1:65535"},
    {__LINE__, "GET / HTTP/1.1\r\nhOsT:   App.Example  \r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "App.Example"},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a%41b_c~d!$&'()*+,;=\r\n\r\n",
     NONE, 0, 1, 0, 0, 0, 0, "a%41b_c~d!$&'()*+,;="},
    {__LINE__, "GET / HTTP/1.1\r\nHost:\r\n\r\n", NONE, 0, 1, 0, 0, 0, 0, ""},
    {__LINE__, "GET / HTTP/1.0\r\nHost: a:80\r\n\r\n",
     NONE, 0, 0, 0, 0, 0, 0, "a:80"},

    /* Field values */
    {__LINE__, "GET /" H11 "X-Utf8: caf\xc3\xa9\r\nX-Empty:\r\n"
     "X-Tab:\ta\t b\t\r\n\r\n", NONE, 0, 1, 0, 0, 0, 0, "a"},
#undef H11
};

static void
test_request_good(void)
{
    for (size_t k = 0; k < sizeof(good_requests) / sizeof(good_requests[0]);
         k++) {
        const struct request_case *t = &good_requests[k];
        size_t len = strlen(t->text);

        CHECK_INT(t->line, len, http_parse_request(t->text, len, MAX_HEAD,
                                                   &req));
        CHECK_INT(t->line, t->body, req.body);
        CHECK_INT(t->line, t->length, req.content_length);
        CHECK_INT(t->line, t->keep_alive, req.keep_alive);
        CHECK_INT(t->line, t->upgrade, req.upgrade);
        CHECK_INT(t->line, t->websocket, req.websocket);
        CHECK_INT(t->line, t->expect, req.expect_continue);
        CHECK_INT(t->line, t->is_head, req.is_head);
        CHECK_STR(t->line, t->host, span_str(req.host));
    }
}

static const struct status_case {
    int line;
    const char *text;
    int status;
} bad_requests[] = {
#define H11 " HTTP/1.1\r\nHost: a\r\n"
    /* Request line */
    {__LINE__, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, " GET / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "G(ET / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET\x7f / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET /\x01" H11 "\r\n", -400},
    {__LINE__, "GET /a\tb" H11 "\r\n", -400},
    {__LINE__, "GET /\x7f" H11 "\r\n", -400},
    {__LINE__, "GET /\x80" H11 "\r\n", -400},
    {__LINE__, "GET  HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET /\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET / http/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/11\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.10\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.x\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505},
    {__LINE__, "GET / HTTP/1.2\r\nHost: a\r\n\r\n", -505},
    {__LINE__, "GET / HTTP/0.9\r\nHost: a\r\n\r\n", -505},
    {__LINE__, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -505},

    /* Line endings */
    {__LINE__, "GET / HTTP/1.1\nHost: a\n\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a\r\n\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a\r\n\r\r", -400},
    {__LINE__, "GET / HTTP/1.1\rHost: a\r\n\r\n", -400},
    {__LINE__, "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", -400},

    /* Field syntax */
    {__LINE__, "GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X-A: 1\r\n  continued\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X-A: 1\r\n\tcontinued\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400},
    {__LINE__, "GET /" H11 ": v\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X-A\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X\x01: v\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X(A): v\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X: a\x7f\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X: a\x01z\r\n\r\n", -400},
    {__LINE__, "GET /" H11 "X: a\x1b\r\n\r\n", -400},

    /* Host */
    {__LINE__, "GET / HTTP/1.1\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a%4\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: [127.0.0.1]\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: [v1.x]\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", -400},
    {__LINE__, "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", -400},

    /* Content-Length */
    {__LINE__, "POST /" H11 "Content-Length: +5\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: -1\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: 5 5\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: 0x5\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: 5.0\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: \r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: 5,\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: ,5\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: 5,,5\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: 5, 6\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
     -400},
    {__LINE__, "POST /" H11 "Content-Length: 9223372036854775808\r\n\r\n",
     -400},
    {__LINE__, "POST /" H11 "Content-Length: 99999999999999999999\r\n\r\n",
     -400},

    /* Transfer-Encoding */
    {__LINE__, "POST /" H11 "Content-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked\r\n"
     "Content-Length: 0\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", -501},
    {__LINE__, "POST /" H11 "Transfer-Encoding: x;q=\"a,b\" , chunked\r\n\r\n",
     -501},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: identity\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: xchunked\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunkedx\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n",
     -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: gzip\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding:\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked,\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: , chunked\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked;a=b\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: chunked\tx\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", -400},
    {__LINE__, "POST /" H11 "Transfer-Encoding: x;q=\"a, chunked\r\n\r\n",
     -400},
    {__LINE__, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400},
#undef H11
};

static void
test_request_bad(void)
{
    for (size_t k = 0; k < sizeof(bad_requests) / sizeof(bad_requests[0]);
         k++) {
        const struct status_case *t = &bad_requests[k];

        CHECK_INT(t->line, t->status, http_parse_request(
                      t->text, strlen(t->text), MAX_HEAD, &req));
    }
}

static void
test_request_nul_in_value(void)
{
    static const char text[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
    static const char text_in_target[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";

    CHECK_INT(__LINE__, -400, http_parse_request(text, sizeof(text) - 1,
                                                 MAX_HEAD, &req));
    CHECK_INT(__LINE__, -400, http_parse_request(
                  text_in_target, sizeof(text_in_target) - 1, MAX_HEAD,
                  &req));
}

/* Every proper prefix of a valid head needs more bytes. */
static void
test_request_prefixes_need_more(void)
{
    for (size_t k = 0; k < sizeof(good_requests) / sizeof(good_requests[0]);
         k++) {
        const struct request_case *t = &good_requests[k];
        size_t len = strlen(t->text);

        for (size_t n = 0; n < len; n++) {
            ssize_t rc = http_parse_request(t->text, n, MAX_HEAD, &req);
            if (rc != 0) {
                CHECK_INT(t->line, 0, rc);
                break;
            }
        }
    }
}

/* A prefix of an invalid head needs more bytes or fails the same way. */
static void
test_request_prefixes_fail_alike(void)
{
    for (size_t k = 0; k < sizeof(bad_requests) / sizeof(bad_requests[0]);
         k++) {
        const struct status_case *t = &bad_requests[k];
        size_t len = strlen(t->text);

        for (size_t n = 0; n < len; n++) {
            ssize_t rc = http_parse_request(t->text, n, MAX_HEAD, &req);
            if (rc != 0 && rc != t->status) {
                CHECK_INT(t->line, t->status, rc);
                break;
            }
        }
    }
}

static void
test_request_spans(void)
{
    const char text[] = "\r\nPOST /p?q=1 HTTP/1.1\r\nHost: h\r\n"
                        "X-A: \t one  two \t\r\nx-b:\r\n\r\nBODY";
    ssize_t rc = http_parse_request(text, sizeof(text) - 1, MAX_HEAD, &req);

    CHECK_INT(__LINE__, sizeof(text) - 1 - 4, rc);
    CHECK_STR(__LINE__, "POST", span_str(req.method));
    CHECK_STR(__LINE__, "/p?q=1", span_str(req.target));
    CHECK_INT(__LINE__, 1, req.minor_version);
    CHECK_INT(__LINE__, 3, req.n_headers);
    CHECK_STR(__LINE__, "X-A", span_str(req.headers[1].name));
    CHECK_STR(__LINE__, "one  two", span_str(req.headers[1].value));
    CHECK_STR(__LINE__, "", span_str(req.headers[2].value));
    CHECK(req.headers[1].value.p > text &&
          req.headers[1].value.p < text + sizeof(text));

    const struct http_header *h = http_find_header(req.headers,
                                                   req.n_headers, "X-B");
    CHECK(h == &req.headers[2]);
    CHECK(http_find_header(req.headers, req.n_headers, "X-C") == NULL);
}

static void
test_request_max_head(void)
{
    const char text[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET";
    size_t head = sizeof(text) - 1 - 3;

    CHECK_INT(__LINE__, head, http_parse_request(text, head, head, &req));
    CHECK_INT(__LINE__, head, http_parse_request(text, head + 3, head, &req));
    CHECK_INT(__LINE__, -431, http_parse_request(text, head, head - 1, &req));
    CHECK_INT(__LINE__, -431, http_parse_request(text, 10, 10, &req));
    CHECK_INT(__LINE__, -431, http_parse_request(text, 11, 10, &req));
    CHECK_INT(__LINE__, 0, http_parse_request(text, 9, 10, &req));

    /* A slowloris sending one endless field value is cut at max_head. */
    char big[MAX_HEAD + 64];
    size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nX: ");
    memset(big + n, 'a', sizeof(big) - n);
    CHECK_INT(__LINE__, -431, http_parse_request(big, MAX_HEAD, MAX_HEAD,
                                                 &req));
    CHECK_INT(__LINE__, -431, http_parse_request(big, sizeof(big), MAX_HEAD,
                                                 &req));
    CHECK_INT(__LINE__, 0, http_parse_request(big, MAX_HEAD - 1, MAX_HEAD,
                                              &req));
}

static void
test_request_header_count(void)
{
    char text[MAX_HEAD];

    for (int extra = 0; extra <= 1; extra++) {
        size_t n = (size_t)snprintf(text, sizeof(text),
                                    "GET / HTTP/1.1\r\nHost: a\r\n");
        for (int k = 1; k < HTTP_MAX_HEADERS + extra; k++)
            n += (size_t)snprintf(text + n, sizeof(text) - n, "X%d: v\r\n", k);
        n += (size_t)snprintf(text + n, sizeof(text) - n, "\r\n");

        ssize_t rc = http_parse_request(text, n, sizeof(text), &req);
        CHECK_INT(__LINE__, extra ? -431 : (ssize_t)n, rc);
        if (!extra)
            CHECK_INT(__LINE__, HTTP_MAX_HEADERS, req.n_headers);
    }
}

static const struct response_case {
    int line;
    const char *text;
    bool head;
    int status;
    int body;
    uint64_t length;
    int keep_alive, upgrade;
    const char *reason;
} good_responses[] = {
    {__LINE__, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
     false, 200, LEN, 5, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
     false, 200, NONE, 0, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n",
     false, 200, LEN, 4, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\n\r\n", false, 200, CLOSE, 0, 0, 0, "OK"},
    {__LINE__, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n",
     false, 404, LEN, 9, 1, 0, "Not Found"},
    {__LINE__, "HTTP/1.1 204 No Content\r\n\r\n",
     false, 204, NONE, 0, 1, 0, "No Content"},
    {__LINE__, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
     false, 304, NONE, 0, 1, 0, "Not Modified"},
    {__LINE__, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
     true, 200, NONE, 0, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
     true, 200, NONE, 0, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 100 Continue\r\n\r\n",
     false, 100, NONE, 0, 1, 0, "Continue"},
    {__LINE__, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
     "Upgrade: websocket\r\n\r\n",
     false, 101, NONE, 0, 1, 1, "Switching Protocols"},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
     false, 200, CHUNKED, 0, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
     false, 200, CHUNKED, 0, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", false, 200, CHUNKED, 0, 1, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
     false, 200, CLOSE, 0, 0, 0, "OK"},
    {__LINE__, "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
     false, 200, LEN, 3, 0, 0, "OK"},
    {__LINE__, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
     "Content-Length: 3\r\n\r\n", false, 200, LEN, 3, 1, 0, "OK"},
    {__LINE__, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
     false, 200, CLOSE, 0, 0, 0, "OK"},
    {__LINE__, "HTTP/1.1 200 OK\r\nConnection: close\r\n"
     "Content-Length: 3\r\n\r\n", false, 200, LEN, 3, 0, 0, "OK"},
    {__LINE__, "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n",
     false, 200, LEN, 1, 1, 0, ""},
    {__LINE__, "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n",
     false, 200, LEN, 1, 1, 0, ""},
    {__LINE__, "HTTP/1.1 599 Any\treason \xc3\xa9\r\nContent-Length: 1\r\n\r\n",
     false, 599, LEN, 1, 1, 0, "Any\treason \xc3\xa9"},
};

static void
test_response_good(void)
{
    for (size_t k = 0; k < sizeof(good_responses) / sizeof(good_responses[0]);
         k++) {
        const struct response_case *t = &good_responses[k];
        size_t len = strlen(t->text);

        CHECK_INT(t->line, len, http_parse_response(t->text, len, MAX_HEAD,
                                                    t->head, &resp));
        CHECK_INT(t->line, t->status, resp.status);
        CHECK_INT(t->line, t->body, resp.body);
        CHECK_INT(t->line, t->length, resp.content_length);
        CHECK_INT(t->line, t->keep_alive, resp.keep_alive);
        CHECK_INT(t->line, t->upgrade, resp.upgrade);
        CHECK_STR(t->line, t->reason, span_str(resp.reason));

        for (size_t n = 0; n < len; n++) {
            ssize_t rc = http_parse_response(t->text, n, MAX_HEAD, t->head,
                                             &resp);
            if (rc != 0) {
                CHECK_INT(t->line, 0, rc);
                break;
            }
        }
    }
}

static const struct status_case bad_responses[] = {
    {__LINE__, "HTTP/2.0 200 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.2 200 OK\r\n\r\n", -502},
    {__LINE__, "http/1.1 200 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 20 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 2000 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 099 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 600 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1  200 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 O\x01K\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\n\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nX: y\n\r\n", -502},
    {__LINE__, "\r\nHTTP/1.1 200 OK\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nX : y\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
     "Content-Length: 6\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 204 OK\r\nContent-Length: 5\r\n"
     "Content-Length: 6\r\n\r\n", -502},
    {__LINE__, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     "Transfer-Encoding: chunked\r\n\r\n", -502},
    {__LINE__, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n", -502},
};

static void
test_response_bad(void)
{
    for (size_t k = 0; k < sizeof(bad_responses) / sizeof(bad_responses[0]);
         k++) {
        const struct status_case *t = &bad_responses[k];
        size_t len = strlen(t->text);

        CHECK_INT(t->line, t->status, http_parse_response(
                      t->text, len, MAX_HEAD, false, &resp));
        for (size_t n = 0; n < len; n++) {
            ssize_t rc = http_parse_response(t->text, n, MAX_HEAD, false,
                                             &resp);
            if (rc != 0 && rc != t->status) {
                CHECK_INT(t->line, t->status, rc);
                break;
            }
        }
    }
}

static void
test_response_max_head(void)
{
    const char text[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    size_t head = sizeof(text) - 1 - 1;

    CHECK_INT(__LINE__, head, http_parse_response(text, head + 1, head, false,
                                                  &resp));
    CHECK_INT(__LINE__, -502, http_parse_response(text, head, head - 1, false,
                                                  &resp));
}

/* Outcome of decoding a whole chunked body. */
struct decoded {
    int status; /* 1 done, 0 needs more input, -1 invalid */
    size_t consumed;
    char data[8192];
    size_t data_len;
};

/*
 * Decodes in[0..len) as it would arrive from a socket: all at once for
 * seed 0, byte by byte for seed 1, and in random pieces of 1 to 7 bytes
 * for other seeds.
 */
static void
decode(const char *in, size_t len, size_t max_trailer, unsigned seed,
       struct decoded *out)
{
    struct http_chunked c;
    size_t pos = 0, avail = 0;

    http_chunked_init(&c, max_trailer);
    memset(out, 0, sizeof(*out));
    srand(seed);
    while (!c.done) {
        size_t off, n;
        ssize_t rc = http_chunked_step(&c, in + pos, avail - pos, &off, &n);
        if (rc < 0) {
            out->status = -1;
            break;
        }
        if (n > 0) {
            CHECK(off + n <= (size_t)rc);
            CHECK(out->data_len + n <= sizeof(out->data));
            memcpy(out->data + out->data_len, in + pos + off, n);
            out->data_len += n;
        }
        pos += (size_t)rc;
        if (rc > 0 || c.done)
            continue;
        if (avail == len)
            break;
        if (seed == 0)
            avail = len;
        else if (seed == 1)
            avail++;
        else
            avail += 1 + (size_t)(rand() % 7);
        if (avail > len)
            avail = len;
    }
    if (out->status == 0 && c.done)
        out->status = 1;
    out->consumed = pos;
}

static const struct chunked_case {
    int line;
    const char *text;
    int status;
    const char *data;
    size_t tail; /* bytes left after the body when done */
} chunked_cases[] = {
    {__LINE__, "5\r\nhello\r\n0\r\n\r\n", 1, "hello", 0},
    {__LINE__, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET", 1,
     "hello world", 3},
    {__LINE__, "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", 1,
     "0123456789abcdefghij", 0},
    {__LINE__, "000\r\n\r\n", 1, "", 0},
    {__LINE__, "0000000000000000\r\n\r\n", 1, "", 0},
    {__LINE__, "5;ext\r\nhello\r\n0;a=b\r\n\r\n", 1, "hello", 0},
    {__LINE__, "5 ; a = b ;c=\"q\\\"; x\" ;d\r\nhello\r\n0\r\n\r\n", 1,
     "hello", 0},
    {__LINE__, "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n", 1, "hello", 0},
    {__LINE__, "5\r\nhe", 0, "he", 0},
    {__LINE__, "5\r\nhello\r\n0\r\n\r", 0, "hello", 0},
    {__LINE__, "7fffffffffffffff\r\nab", 0, "ab", 0},

    {__LINE__, "\r\n", -1, "", 0},
    {__LINE__, "g\r\n", -1, "", 0},
    {__LINE__, "-1\r\n", -1, "", 0},
    {__LINE__, "0x5\r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "+5\r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5\r\rhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5 \r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5;\r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5;a=\r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5;a=\"x\r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5;a=b c\r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5;a\nb\r\nhello\r\n0\r\n\r\n", -1, "", 0},
    {__LINE__, "5\r\nhelloX\r\n0\r\n\r\n", -1, "hello", 0},
    {__LINE__, "5\r\nhello\n0\r\n\r\n", -1, "hello", 0},
    {__LINE__, "5\r\nhello\r0\r\n\r\n", -1, "hello", 0},
    {__LINE__, "10000000000000000\r\n", -1, "", 0},
    {__LINE__, "00000000000000000\r\n\r\n", -1, "", 0},
    {__LINE__, "8000000000000000\r\n", -1, "", 0},
    {__LINE__, "ffffffffffffffff\r\n", -1, "", 0},
    {__LINE__, "0\r\n\r\r", -1, "", 0},
    {__LINE__, "0\r\n\n", -1, "", 0},
    {__LINE__, "0\r\nX: y\n\r\n", -1, "", 0},
    {__LINE__, "0\r\n X: y\r\n\r\n", -1, "", 0},
    {__LINE__, "0\r\nX : y\r\n\r\n", -1, "", 0},
    {__LINE__, "0\r\n: y\r\n\r\n", -1, "", 0},
    {__LINE__, "0\r\nX: \x01\r\n\r\n", -1, "", 0},
};

static void
test_chunked_cases(void)
{
    static struct decoded out;

    for (size_t k = 0; k < sizeof(chunked_cases) / sizeof(chunked_cases[0]);
         k++) {
        const struct chunked_case *t = &chunked_cases[k];
        size_t len = strlen(t->text);

        int failed_before = check_failed;

        /* Seed 0 feeds everything at once, 1 byte by byte, others random. */
        for (unsigned seed = 0; seed < 40; seed++) {
            decode(t->text, len, 0, seed, &out);
            CHECK_INT(t->line, t->status, out.status);
            out.data[out.data_len] = '\0';
            CHECK_STR(t->line, t->data, out.data);
            if (t->status == 1)
                CHECK_INT(t->line, len - t->tail, out.consumed);
            if (check_failed > failed_before)
                break;
        }
    }
}

static void
test_chunked_limits(void)
{
    static char text[8192];
    static struct decoded out;

    /* A size line of exactly 4096 bytes with its CRLF is accepted. */
    memset(text, 'e', sizeof(text));
    memcpy(text, "1;", 2);
    memcpy(text + 4094, "\r\nx\r\n0\r\n\r\n", 10);
    decode(text, 4104, 0, 0, &out);
    CHECK_INT(__LINE__, 1, out.status);
    decode(text, 4104, 0, 1, &out);
    CHECK_INT(__LINE__, 1, out.status);

    memcpy(text, "1;e", 3);
    memcpy(text + 4095, "\r\nx\r\n0\r\n\r\n", 10);
    decode(text, 4105, 0, 0, &out);
    CHECK_INT(__LINE__, -1, out.status);

    /* Trailers count the final CRLF: "X: 1\r\n\r\n" is 8 bytes. */
    const char *trailer = "0\r\nX: 1\r\n\r\n";
    decode(trailer, strlen(trailer), 8, 1, &out);
    CHECK_INT(__LINE__, 1, out.status);
    decode(trailer, strlen(trailer), 7, 1, &out);
    CHECK_INT(__LINE__, -1, out.status);

    size_t n = (size_t)snprintf(text, sizeof(text), "0\r\n");
    while (n + 16 < sizeof(text))
        n += (size_t)snprintf(text + n, sizeof(text) - n, "X-Pad: 12345\r\n");
    decode(text, n, 4096, 0, &out);
    CHECK_INT(__LINE__, -1, out.status);
}

static void
test_chunked_done_consumes_nothing(void)
{
    struct http_chunked c;
    size_t off, n;

    http_chunked_init(&c, 0);
    CHECK_INT(__LINE__, 5, http_chunked_step(&c, "0\r\n\r\nX", 6, &off, &n));
    CHECK(c.done);
    CHECK_INT(__LINE__, 0, n);
    CHECK_INT(__LINE__, 0, http_chunked_step(&c, "X", 1, &off, &n));
    CHECK_INT(__LINE__, 0, http_chunked_step(&c, "", 0, &off, &n));
}

static void
test_helpers(void)
{
    struct http_span s = {"Keep-Alive", 10};
    struct http_span list = {" a ,, Upgrade\t, keep-alive ,", 28};
    struct http_span empty = {"", 0};

    CHECK(http_span_eq(s, "keep-alive"));
    CHECK(!http_span_eq(s, "keep-aliv"));
    CHECK(!http_span_eq(s, "keep-alivee"));
    CHECK(http_list_has_token(list, "upgrade"));
    CHECK(http_list_has_token(list, "KEEP-ALIVE"));
    CHECK(http_list_has_token(list, "a"));
    CHECK(!http_list_has_token(list, "keep"));
    CHECK(!http_list_has_token(list, "close"));
    CHECK(!http_list_has_token(empty, "close"));
    CHECK_STR(__LINE__, "OK", http_reason(200));
    CHECK_STR(__LINE__, "Bad Gateway", http_reason(502));
    CHECK_STR(__LINE__, "Request Header Fields Too Large", http_reason(431));
    CHECK_STR(__LINE__, "Unknown", http_reason(299));
}

int
main(void)
{
    test_request_good();
    test_request_bad();
    test_request_nul_in_value();
    test_request_prefixes_need_more();
    test_request_prefixes_fail_alike();
    test_request_spans();
    test_request_max_head();
    test_request_header_count();
    test_response_good();
    test_response_bad();
    test_response_max_head();
    test_chunked_cases();
    test_chunked_limits();
    test_chunked_done_consumes_nothing();
    test_helpers();
    return check_done();
}

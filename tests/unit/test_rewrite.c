#include <string.h>

#include "check.h"
#include "config.h"
#include "http.h"
#include "rewrite.h"

#define CRLF "\r\n"
#define ADDED_HEADERS                                                         \
    "X-Forwarded-Proto: http" CRLF "X-Forwarded-Host: app.test" CRLF          \
    "X-Forwarded-Port: 8080" CRLF "X-Real-IP: 10.0.0.9" CRLF CRLF

struct request_case {
    int line;
    const char *in;
    bool websocket;
    const char *out;
    bool trusted; /* the client is a --trusted-proxies peer */
};

static const struct request_case request_cases[] = {
    {__LINE__, "GET /a?b=1 HTTP/1.1" CRLF "Host: app.test" CRLF CRLF, false,
     "GET /a?b=1 HTTP/1.1" CRLF "Host: app.test" CRLF
     "Connection: keep-alive" CRLF "X-Forwarded-For: 10.0.0.9" CRLF
     ADDED_HEADERS, false},
    /* An HTTP/1.0 request goes upstream as HTTP/1.1. */
    {__LINE__, "GET / HTTP/1.0" CRLF "Host: app.test:8080" CRLF CRLF, false,
     "GET / HTTP/1.1" CRLF "Host: app.test:8080" CRLF
     "Connection: keep-alive" CRLF "X-Forwarded-For: 10.0.0.9" CRLF
     ADDED_HEADERS, false},
    /* From a trusted proxy, X-Forwarded-For values are kept in order, then
     * the client. */
    {__LINE__,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "X-Forwarded-For: 1.1.1.1"
     CRLF "Accept: */*" CRLF "X-Forwarded-For: 2.2.2.2, 3.3.3.3" CRLF CRLF,
     false,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "Accept: */*" CRLF
     "Connection: keep-alive" CRLF
     "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9" CRLF
     ADDED_HEADERS, true},
    /* From any other client they are replaced by the client address. */
    {__LINE__,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "X-Forwarded-For: 1.1.1.1"
     CRLF "Accept: */*" CRLF "X-Forwarded-For: 2.2.2.2, 3.3.3.3" CRLF CRLF,
     false,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "Accept: */*" CRLF
     "Connection: keep-alive" CRLF "X-Forwarded-For: 10.0.0.9" CRLF
     ADDED_HEADERS, false},
    /* A trusted proxy's X-Forwarded-Proto, -Host, -Port and X-Real-IP are
     * kept where they were; Portico adds those it did not send. */
    {__LINE__,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "X-Real-IP: 6.6.6.6" CRLF
     "X-Forwarded-Proto: https" CRLF "X-Forwarded-Port: 443" CRLF CRLF,
     false,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "X-Real-IP: 6.6.6.6" CRLF
     "X-Forwarded-Proto: https" CRLF "X-Forwarded-Port: 443" CRLF
     "Connection: keep-alive" CRLF "X-Forwarded-For: 10.0.0.9" CRLF
     "X-Forwarded-Host: app.test" CRLF CRLF, true},
    /* Connection cannot remove what a trusted proxy sent either. */
    {__LINE__,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF
     "Connection: X-Forwarded-For, X-Forwarded-Proto" CRLF
     "X-Forwarded-For: 1.1.1.1" CRLF "X-Forwarded-Proto: https" CRLF CRLF,
     false,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "X-Forwarded-Proto: https"
     CRLF "Connection: keep-alive" CRLF
     "X-Forwarded-For: 1.1.1.1, 10.0.0.9" CRLF "X-Forwarded-Host: app.test"
     CRLF "X-Forwarded-Port: 8080" CRLF "X-Real-IP: 10.0.0.9" CRLF CRLF,
     true},
    /* Hop-by-hop headers and those named in Connection are removed, but
     * Connection cannot remove Host or the headers Portico sets. */
    {__LINE__,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF
     "Connection: keep-alive, X-Secret, Host, X-Real-IP" CRLF
     "Keep-Alive: timeout=5" CRLF "Proxy-Connection: keep-alive" CRLF
     "TE: trailers" CRLF "Upgrade: h2c" CRLF "X-Secret: 1" CRLF
     "Proxy-Authorization: Basic eA==" CRLF CRLF,
     false,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF
     "Proxy-Authorization: Basic eA==" CRLF "Connection: keep-alive" CRLF
     "X-Forwarded-For: 10.0.0.9" CRLF ADDED_HEADERS, false},
    /* Values a client sends for the headers Portico sets are replaced. */
    {__LINE__,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "X-Real-IP: 6.6.6.6" CRLF
     "X-Forwarded-Proto: https" CRLF "X-Forwarded-Host: evil" CRLF
     "X-Forwarded-Port: 1" CRLF CRLF,
     false,
     "GET / HTTP/1.1" CRLF "Host: app.test" CRLF "Connection: keep-alive" CRLF
     "X-Forwarded-For: 10.0.0.9" CRLF ADDED_HEADERS, false},
    {__LINE__,
     "POST /up HTTP/1.1" CRLF "Host: app.test" CRLF "Content-Length: 5" CRLF
     "Content-Type: text/plain" CRLF CRLF,
     false,
     "POST /up HTTP/1.1" CRLF "Host: app.test" CRLF
     "Content-Type: text/plain" CRLF "Content-Length: 5" CRLF
     "Connection: keep-alive" CRLF "X-Forwarded-For: 10.0.0.9" CRLF
     ADDED_HEADERS, false},
    {__LINE__,
     "POST /up HTTP/1.1" CRLF "Host: app.test" CRLF
     "Transfer-Encoding: chunked" CRLF "Expect: 100-continue" CRLF CRLF,
     false,
     "POST /up HTTP/1.1" CRLF "Host: app.test" CRLF
     "Expect: 100-continue" CRLF "Transfer-Encoding: chunked" CRLF
     "Connection: keep-alive" CRLF "X-Forwarded-For: 10.0.0.9" CRLF
     ADDED_HEADERS, false},
    {__LINE__,
     "GET /ws HTTP/1.1" CRLF "Host: app.test" CRLF "Upgrade: websocket" CRLF
     "Connection: Upgrade" CRLF "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
     CRLF "Sec-WebSocket-Version: 13" CRLF CRLF,
     true,
     "GET /ws HTTP/1.1" CRLF "Host: app.test" CRLF
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" CRLF
     "Sec-WebSocket-Version: 13" CRLF "Connection: Upgrade" CRLF
     "Upgrade: websocket" CRLF "X-Forwarded-For: 10.0.0.9" CRLF
     ADDED_HEADERS, false},
};

static void
test_rewrite_request_cases(void)
{
    static struct http_request r;
    char out[4096];

    for (size_t i = 0; i < sizeof request_cases / sizeof request_cases[0];
         i++) {
        const struct request_case *tc = &request_cases[i];
        ssize_t n = http_parse_request(tc->in, strlen(tc->in), 32768, &r);
        CHECK_INT(tc->line, (ssize_t)strlen(tc->in), n);
        if (n <= 0)
            continue;
        CHECK_INT(tc->line, tc->websocket, r.websocket);
        struct rewrite_request rw = {
            .client_ip = "10.0.0.9",
            .proto = "http",
            .listen_port = 8080,
            .body = r.body,
            .content_length = r.content_length,
            .websocket = r.websocket,
            .trusted = tc->trusted,
        };
        n = proxy_rewrite_request(out, sizeof out - 1, &r, &rw);
        CHECK_INT(tc->line, (ssize_t)strlen(tc->out), n);
        out[n > 0 ? n : 0] = '\0';
        CHECK_STR(tc->line, tc->out, out);
    }
}

static void
test_rewrite_request_small_buffer(void)
{
    static struct http_request r;
    const char *in = "GET / HTTP/1.1" CRLF "Host: app.test" CRLF CRLF;
    struct rewrite_request rw = {.client_ip = "10.0.0.9", .proto = "http",
                                 .listen_port = 80};
    char out[64];

    CHECK(http_parse_request(in, strlen(in), 32768, &r) > 0);
    CHECK_INT(__LINE__, -1, proxy_rewrite_request(out, sizeof out, &r, &rw));
}

struct response_case {
    int line;
    const char *in;
    bool is_head;
    struct rewrite_response rw;
    const char *out;
};

static const struct response_case response_cases[] = {
    {__LINE__,
     "HTTP/1.1 200 OK" CRLF "Content-Length: 3" CRLF "Connection: close" CRLF
     "Server: x" CRLF CRLF,
     false, {HTTP_BODY_LENGTH, 3, true, false, NULL},
     "HTTP/1.1 200 OK" CRLF "Server: x" CRLF "Content-Length: 3" CRLF
     "Connection: keep-alive" CRLF CRLF},
    /* Chunked framing is replaced by Portico's own. */
    {__LINE__,
     "HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked" CRLF
     "Connection: X-Hop" CRLF "X-Hop: 1" CRLF "ETag: \"a\"" CRLF CRLF,
     false, {HTTP_BODY_CHUNKED, 0, false, false, NULL},
     "HTTP/1.1 200 OK" CRLF "ETag: \"a\"" CRLF "Transfer-Encoding: chunked"
     CRLF "Connection: close" CRLF CRLF},
    /* An HTTP/1.0 client gets a body delimited by close. */
    {__LINE__,
     "HTTP/1.1 200 OK" CRLF "Transfer-Encoding: chunked" CRLF CRLF, false,
     {HTTP_BODY_UNTIL_CLOSE, 0, false, false, NULL},
     "HTTP/1.1 200 OK" CRLF "Connection: close" CRLF CRLF},
    /* The Content-Length of a HEAD response describes the GET body. */
    {__LINE__, "HTTP/1.1 200 OK" CRLF "Content-Length: 100" CRLF CRLF, true,
     {HTTP_BODY_NONE, 0, true, false, NULL},
     "HTTP/1.1 200 OK" CRLF "Content-Length: 100" CRLF
     "Connection: keep-alive" CRLF CRLF},
    /* HSTS is added over HTTPS unless the upstream sent its own. */
    {__LINE__, "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF CRLF, false,
     {HTTP_BODY_LENGTH, 0, true, false, "max-age=60"},
     "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF
     "Connection: keep-alive" CRLF "Strict-Transport-Security: max-age=60"
     CRLF CRLF},
    {__LINE__,
     "HTTP/1.1 200 OK" CRLF "Strict-Transport-Security: max-age=5" CRLF
     "Content-Length: 0" CRLF CRLF,
     false, {HTTP_BODY_LENGTH, 0, true, false, "max-age=60"},
     "HTTP/1.1 200 OK" CRLF "Strict-Transport-Security: max-age=5" CRLF
     "Content-Length: 0" CRLF "Connection: keep-alive" CRLF CRLF},
    /* A missing reason phrase gets the standard one. */
    {__LINE__, "HTTP/1.1 404 " CRLF "Content-Length: 0" CRLF CRLF, false,
     {HTTP_BODY_LENGTH, 0, true, false, NULL},
     "HTTP/1.1 404 Not Found" CRLF "Content-Length: 0" CRLF
     "Connection: keep-alive" CRLF CRLF},
    {__LINE__,
     "HTTP/1.1 101 Switching Protocols" CRLF "Upgrade: websocket" CRLF
     "Connection: Upgrade" CRLF "Sec-WebSocket-Accept: abc=" CRLF CRLF,
     false, {HTTP_BODY_NONE, 0, false, true, NULL},
     "HTTP/1.1 101 Switching Protocols" CRLF "Sec-WebSocket-Accept: abc=" CRLF
     "Connection: Upgrade" CRLF "Upgrade: websocket" CRLF CRLF},
};

static void
test_rewrite_response_cases(void)
{
    static struct http_response r;
    char out[4096];

    for (size_t i = 0; i < sizeof response_cases / sizeof response_cases[0];
         i++) {
        const struct response_case *tc = &response_cases[i];
        ssize_t n = http_parse_response(tc->in, strlen(tc->in), 32768,
                                        tc->is_head, &r);
        CHECK_INT(tc->line, (ssize_t)strlen(tc->in), n);
        if (n <= 0)
            continue;
        n = proxy_rewrite_response(out, sizeof out - 1, &r, &tc->rw);
        CHECK_INT(tc->line, (ssize_t)strlen(tc->out), n);
        out[n > 0 ? n : 0] = '\0';
        CHECK_STR(tc->line, tc->out, out);
    }
}

static void
test_host_len_strips_port(void)
{
    static const struct {
        int line;
        const char *host;
        size_t len;
    } cases[] = {
        {__LINE__, "app.test", 8},  {__LINE__, "app.test:8080", 8},
        {__LINE__, "app.test:", 8}, {__LINE__, "[::1]:443", 5},
        {__LINE__, "[::1]", 5},     {__LINE__, "::1", 3},
        {__LINE__, "10.0.0.1:80", 8},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_INT(cases[i].line, cases[i].len,
                  proxy_host_len(cases[i].host, strlen(cases[i].host)));
}

struct cidr_case {
    int line;
    const char *nets; /* comma-separated */
    const char *ip;
    bool match;
};

static const struct cidr_case cidr_cases[] = {
    {__LINE__, "10.0.0.0/8", "10.1.2.3", true},
    {__LINE__, "10.0.0.0/8", "11.0.0.1", false},
    {__LINE__, "192.168.1.0/25", "192.168.1.127", true},
    {__LINE__, "192.168.1.0/25", "192.168.1.128", false},
    {__LINE__, "127.0.0.1", "127.0.0.1", true},
    {__LINE__, "127.0.0.1", "127.0.0.2", false},
    {__LINE__, "0.0.0.0/0", "203.0.113.9", true},
    {__LINE__, "0.0.0.0/0", "::1", false},
    {__LINE__, "fd00::/8", "fd12:3456::1", true},
    {__LINE__, "fd00::/8", "fe80::1", false},
    {__LINE__, "2001:db8::/33", "2001:db8:7fff::1", true},
    {__LINE__, "2001:db8::/33", "2001:db8:8000::1", false},
    {__LINE__, "::1", "::1", true},
    {__LINE__, "10.0.0.0/8", "::ffff:10.9.9.9", true},
    {__LINE__, "172.16.0.0/12,::1", "::1", true},
    {__LINE__, "172.16.0.0/12,::1", "172.31.255.255", true},
    {__LINE__, "172.16.0.0/12,::1", "172.32.0.0", false},
    {__LINE__, "", "10.0.0.1", false},
};

static void
test_cidr_match_cases(void)
{
    for (size_t i = 0; i < sizeof cidr_cases / sizeof cidr_cases[0]; i++) {
        const struct cidr_case *tc = &cidr_cases[i];
        struct cfg_cidr nets[4];
        char copy[128], *save = NULL;
        size_t n = 0;

        strcpy(copy, tc->nets);
        for (char *t = strtok_r(copy, ",", &save); t && n < 4;
             t = strtok_r(NULL, ",", &save))
            CHECK_INT(tc->line, 0, cfg_cidr_parse(t, &nets[n++]));
        CHECK_INT(tc->line, tc->match, cfg_cidr_match(nets, n, tc->ip));
    }
}

static void
test_cidr_parse_rejects(void)
{
    static const char *const bad[] = {"10.0.0.0/33", "::/129", "10.0.0/8",
                                      "10.0.0.0/", "10.0.0.0/-1", "/8",
                                      "example.com/8", "10.0.0.0/8x"};
    struct cfg_cidr net;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(__LINE__, -1, cfg_cidr_parse(bad[i], &net));
}

int
main(void)
{
    test_rewrite_request_cases();
    test_rewrite_request_small_buffer();
    test_rewrite_response_cases();
    test_host_len_strips_port();
    test_cidr_match_cases();
    test_cidr_parse_rejects();
    return check_done();
}

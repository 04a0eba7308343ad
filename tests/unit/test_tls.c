/* The pure parts of HTTPS serving: certificate file names, ClientHello
 * extension parsing, HTTPS policy decisions, redirects and HSTS. */
#include <string.h>

#include "check.h"
#include "http.h"
#include "proxy_int.h"
#include "rewrite.h"

#define CRLF "\r\n"

static struct http_span
span(const char *s)
{
    return (struct http_span){s, strlen(s)};
}

struct file_case {
    int line;
    const char *file;
    int rc;
    const char *host;
};

static const struct file_case file_cases[] = {
    {__LINE__, "app.example.com.crt", 0, "app.example.com"},
    {__LINE__, "App.Example.COM.crt", 0, "app.example.com"},
    {__LINE__, "localhost.crt", 0, "localhost"},
    {__LINE__, "my_host-1.test.crt", 0, "my_host-1.test"},
    {__LINE__, "app.example.com.key", -1, NULL},
    {__LINE__, "app.example.com.chain.pem", -1, NULL},
    {__LINE__, "app.example.com.dhparam.pem", -1, NULL},
    {__LINE__, "default.crt", -1, NULL},
    {__LINE__, ".crt", -1, NULL},
    {__LINE__, ".hidden.crt", -1, NULL},
    {__LINE__, "trailing..crt", -1, NULL},
    {__LINE__, "*.example.com.crt", -1, NULL},
    {__LINE__, "space name.crt", -1, NULL},
    {__LINE__, "crt", -1, NULL},
};

static void
test_certs_file_names(void)
{
    for (size_t i = 0; i < sizeof file_cases / sizeof file_cases[0]; i++) {
        const struct file_case *tc = &file_cases[i];
        char host[256] = "";
        int rc = proxy_certs_host_from_file(tc->file, host, sizeof host);

        CHECK_INT(tc->line, tc->rc, rc);
        if (tc->rc == 0)
            CHECK_STR(tc->line, tc->host, host);
    }
}

static void
test_certs_file_name_too_long(void)
{
    char file[300];
    char host[256];

    memset(file, 'a', 254);
    strcpy(file + 254, ".crt");
    CHECK_INT(__LINE__, -1,
              proxy_certs_host_from_file(file, host, sizeof host));
}

struct sni_case {
    int line;
    const char *ext; /* the extension body */
    size_t len;
    int rc;
    const char *name;
};

#define SNI(s) s, sizeof s - 1

static const struct sni_case sni_cases[] = {
    {__LINE__, SNI("\x00\x0e\x00\x00\x0b" "App.Test.IO"), 1, "app.test.io"},
    /* A fully qualified name with its trailing dot. */
    {__LINE__, SNI("\x00\x0c\x00\x00\x09" "app.test."), 1, "app.test"},
    /* List length disagrees with the extension length. */
    {__LINE__, SNI("\x00\x0f\x00\x00\x0b" "app.test.io"), -1, NULL},
    /* Name length runs past the list. */
    {__LINE__, SNI("\x00\x0e\x00\x00\x0c" "app.test.io"), -1, NULL},
    {__LINE__, SNI("\x00\x04\x00\x00\x01" "\x00"), -1, NULL},
    {__LINE__, SNI("\x00\x05\x00\x00\x02" "a/"), -1, NULL},
    {__LINE__, SNI("\x00\x03\x00\x00\x00"), -1, NULL},
    {__LINE__, SNI("\x00"), -1, NULL},
    /* A name type other than host_name (0) is ignored. */
    {__LINE__, SNI("\x00\x04\x01\x00\x01" "a"), 0, NULL},
};

static void
test_tls_sni_parse(void)
{
    for (size_t i = 0; i < sizeof sni_cases / sizeof sni_cases[0]; i++) {
        const struct sni_case *tc = &sni_cases[i];
        char name[256] = "";
        int rc = proxy_tls_parse_sni((const unsigned char *)tc->ext, tc->len,
                                     name, sizeof name);

        CHECK_INT(tc->line, tc->rc, rc);
        if (tc->rc == 1)
            CHECK_STR(tc->line, tc->name, name);
    }
}

static void
test_tls_alpn_offers(void)
{
    static const unsigned char both[] = "\x00\x17\x02h2\x0a"
                                        "acme-tls/1\x08http/1.1";
    static const unsigned char plain[] = "\x00\x0c\x02h2\x08http/1.1";
    static const unsigned char cut[] = "\x00\x0c\x02h2\x0a"
                                       "acme-tls/1";
    static const unsigned char prefix[] = "\x00\x0a\x09"
                                          "acme-tls/";

    CHECK(proxy_tls_alpn_offers(both, sizeof both - 1, "acme-tls/1"));
    CHECK(proxy_tls_alpn_offers(both, sizeof both - 1, "http/1.1"));
    CHECK(!proxy_tls_alpn_offers(plain, sizeof plain - 1, "acme-tls/1"));
    CHECK(!proxy_tls_alpn_offers(cut, sizeof cut - 1, "acme-tls/1"));
    CHECK(!proxy_tls_alpn_offers(prefix, sizeof prefix - 1, "acme-tls/1"));
    CHECK(!proxy_tls_alpn_offers(both, 1, "acme-tls/1"));
}

struct decide_case {
    int line;
    enum route_https policy;
    bool over_tls;
    bool https_on;
    bool has_cert;
    enum proxy_https_action action;
};

static const struct decide_case decide_cases[] = {
    {__LINE__, ROUTE_HTTPS_REDIRECT, false, true, true, PROXY_HTTPS_REDIRECT},
    /* No certificate yet: a redirect would lead to a handshake failure. */
    {__LINE__, ROUTE_HTTPS_REDIRECT, false, true, false, PROXY_HTTPS_FORWARD},
    {__LINE__, ROUTE_HTTPS_REDIRECT, false, false, true, PROXY_HTTPS_FORWARD},
    {__LINE__, ROUTE_HTTPS_REDIRECT, true, true, true, PROXY_HTTPS_FORWARD},
    {__LINE__, ROUTE_HTTPS_NOREDIRECT, false, true, true, PROXY_HTTPS_FORWARD},
    {__LINE__, ROUTE_HTTPS_NOREDIRECT, true, true, true, PROXY_HTTPS_FORWARD},
    {__LINE__, ROUTE_HTTPS_NOHTTP, false, true, true, PROXY_HTTPS_REJECT},
    {__LINE__, ROUTE_HTTPS_NOHTTP, false, false, false, PROXY_HTTPS_REJECT},
    {__LINE__, ROUTE_HTTPS_NOHTTP, true, true, true, PROXY_HTTPS_FORWARD},
    {__LINE__, ROUTE_HTTPS_NOHTTPS, false, true, true, PROXY_HTTPS_FORWARD},
    {__LINE__, ROUTE_HTTPS_NOHTTPS, true, true, true, PROXY_HTTPS_REJECT},
};

static void
test_https_policy_decisions(void)
{
    for (size_t i = 0; i < sizeof decide_cases / sizeof decide_cases[0];
         i++) {
        const struct decide_case *tc = &decide_cases[i];

        CHECK_INT(tc->line, tc->action,
                  proxy_https_decide(tc->policy, tc->over_tls, tc->https_on,
                                     tc->has_cert));
    }
}

struct location_case {
    int line;
    const char *host;
    const char *target;
    unsigned port;
    const char *location; /* NULL: rejected */
};

static const struct location_case location_cases[] = {
    {__LINE__, "app.test", "/a/b?c=1", 443, "https://app.test/a/b?c=1"},
    {__LINE__, "app.test", "/", 8443, "https://app.test:8443/"},
    {__LINE__, "app.test", "http://app.test/x?y", 443, "https://app.test/x?y"},
    {__LINE__, "app.test", "http://app.test", 443, "https://app.test/"},
    {__LINE__, "[::1]", "/p", 26443, "https://[::1]:26443/p"},
    {__LINE__, "bad\"host", "/", 443, NULL},
    {__LINE__, "bad host", "/", 443, NULL},
};

static void
test_https_redirect_location(void)
{
    for (size_t i = 0;
         i < sizeof location_cases / sizeof location_cases[0]; i++) {
        const struct location_case *tc = &location_cases[i];
        char out[256];
        ssize_t n = proxy_https_location(out, sizeof out, tc->host,
                                         span(tc->target), tc->port);

        if (tc->location == NULL) {
            CHECK_INT(tc->line, -1, n);
            continue;
        }
        CHECK_INT(tc->line, strlen(tc->location), n);
        CHECK_STR(tc->line, tc->location, n >= 0 ? out : NULL);
    }
}

static void
test_https_redirect_small_buffer(void)
{
    char out[16];

    CHECK_INT(__LINE__, -1,
              proxy_https_location(out, sizeof out, "app.example.test",
                                   span("/"), 443));
}

struct challenge_case {
    int line;
    const char *method;
    const char *target;
    const char *token; /* NULL: not a challenge request */
};

static const struct challenge_case challenge_cases[] = {
    {__LINE__, "GET", "/.well-known/acme-challenge/abc_DEF-123", "abc_DEF-123"},
    {__LINE__, "HEAD", "/.well-known/acme-challenge/t0k", "t0k"},
    {__LINE__, "POST", "/.well-known/acme-challenge/t0k", NULL},
    {__LINE__, "GET", "/.well-known/acme-challenge/", NULL},
    {__LINE__, "GET", "/.well-known/acme-challenge/a/b", NULL},
    {__LINE__, "GET", "/.well-known/acme-challenge/a?x=1", NULL},
    {__LINE__, "GET", "/.well-known/acme-challengeX", NULL},
    {__LINE__, "GET", "/index.html", NULL},
};

static void
test_https_challenge_token(void)
{
    for (size_t i = 0;
         i < sizeof challenge_cases / sizeof challenge_cases[0]; i++) {
        const struct challenge_case *tc = &challenge_cases[i];
        struct http_span token = {NULL, 0};
        bool found = proxy_https_challenge_token(span(tc->method),
                                                 span(tc->target), &token);
        char text[128] = "";

        CHECK_INT(tc->line, tc->token != NULL, found);
        if (!found)
            continue;
        memcpy(text, token.p, token.len);
        CHECK_STR(tc->line, tc->token, text);
    }
}

struct hsts_case {
    int line;
    const char *in;
    const char *hsts;
    const char *out;
};

static const struct hsts_case hsts_cases[] = {
    {__LINE__, "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF CRLF,
     "max-age=31536000",
     "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF
     "Connection: keep-alive" CRLF
     "Strict-Transport-Security: max-age=31536000" CRLF CRLF},
    /* The upstream's own header wins. */
    {__LINE__,
     "HTTP/1.1 200 OK" CRLF "Strict-Transport-Security: max-age=5" CRLF
     "Content-Length: 0" CRLF CRLF,
     "max-age=31536000",
     "HTTP/1.1 200 OK" CRLF "Strict-Transport-Security: max-age=5" CRLF
     "Content-Length: 0" CRLF "Connection: keep-alive" CRLF CRLF},
    {__LINE__, "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF CRLF, NULL,
     "HTTP/1.1 200 OK" CRLF "Content-Length: 0" CRLF
     "Connection: keep-alive" CRLF CRLF},
};

static void
test_rewrite_response_hsts(void)
{
    for (size_t i = 0; i < sizeof hsts_cases / sizeof hsts_cases[0]; i++) {
        const struct hsts_case *tc = &hsts_cases[i];
        struct http_response r;
        struct rewrite_response rw = {.body = HTTP_BODY_NONE,
                                      .keep_alive = true,
                                      .hsts = tc->hsts};
        char out[1024];
        ssize_t n;

        CHECK(http_parse_response(tc->in, strlen(tc->in), 32768, false, &r) >
              0);
        n = proxy_rewrite_response(out, sizeof out - 1, &r, &rw);
        CHECK_INT(tc->line, strlen(tc->out), n);
        out[n < 0 ? 0 : n] = '\0';
        CHECK_STR(tc->line, tc->out, out);
    }
}

int
main(void)
{
    test_certs_file_names();
    test_certs_file_name_too_long();
    test_tls_sni_parse();
    test_tls_alpn_offers();
    test_https_policy_decisions();
    test_https_redirect_location();
    test_https_redirect_small_buffer();
    test_https_challenge_token();
    test_rewrite_response_hsts();
    return check_done();
}

/*
 * libFuzzer target for proxy/http.c. The first input byte picks max_head
 * and whether the response is to a HEAD request; the rest goes to the
 * request parser, the response parser and the chunked decoder. Besides
 * crashes, it checks that spans stay inside the head, that every prefix
 * of the input parses consistently with the whole, and that the chunked
 * decoder gives the same result however the input is split.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>

static struct http_request req;
static struct http_response resp;

static void
check_span(struct http_span s, const char *buf, ssize_t head)
{
    if (s.len > 0 && (s.p < buf || s.p + s.len > buf + head))
        abort();
}

static void
check_headers(const struct http_header *h, size_t n, const char *buf,
              ssize_t head)
{
    if (n > HTTP_MAX_HEADERS)
        abort();
    for (size_t k = 0; k < n; k++) {
        check_span(h[k].name, buf, head);
        check_span(h[k].value, buf, head);
        if (h[k].name.len == 0)
            abort();
    }
}

static ssize_t
parse(int kind, const char *buf, size_t len, size_t max_head, bool is_head)
{
    if (kind == 0)
        return http_parse_request(buf, len, max_head, &req);
    return http_parse_response(buf, len, max_head, is_head, &resp);
}

/* A prefix needs more bytes, or gives the same result as the whole. */
static void
check_prefixes(int kind, const char *buf, size_t len, size_t max_head,
               bool is_head, ssize_t whole)
{
    size_t step = len > 512 ? len / 64 : 1;

    for (size_t n = 0; n < len; n += step) {
        ssize_t rc = parse(kind, buf, n, max_head, is_head);
        if (whole > 0 && n < (size_t)whole && rc != 0)
            abort();
        if (whole > 0 && n >= (size_t)whole && rc != whole)
            abort();
        if (whole <= 0 && rc != 0 && rc != whole)
            abort();
    }
}

static void
fuzz_request(const char *buf, size_t len, size_t max_head)
{
    ssize_t rc = http_parse_request(buf, len, max_head, &req);

    if (rc > 0) {
        if ((size_t)rc > len || (size_t)rc > max_head)
            abort();
        check_span(req.method, buf, rc);
        check_span(req.target, buf, rc);
        check_span(req.host, buf, rc);
        check_headers(req.headers, req.n_headers, buf, rc);
        if (req.minor_version > 1 || req.body == HTTP_BODY_UNTIL_CLOSE)
            abort();
        if (req.body == HTTP_BODY_CHUNKED && req.minor_version != 1)
            abort();
        if (req.websocket && !req.upgrade)
            abort();
    } else if (rc != 0 && rc != -400 && rc != -431 && rc != -501 &&
               rc != -505) {
        abort();
    }
    check_prefixes(0, buf, len, max_head, false, rc);
}

static void
fuzz_response(const char *buf, size_t len, size_t max_head, bool is_head)
{
    ssize_t rc = http_parse_response(buf, len, max_head, is_head, &resp);

    if (rc > 0) {
        if ((size_t)rc > len || (size_t)rc > max_head)
            abort();
        check_span(resp.reason, buf, rc);
        check_headers(resp.headers, resp.n_headers, buf, rc);
        if (resp.status < 100 || resp.status > 599)
            abort();
        if (resp.body == HTTP_BODY_UNTIL_CLOSE && resp.keep_alive)
            abort();
        if (is_head && resp.body != HTTP_BODY_NONE)
            abort();
    } else if (rc != 0 && rc != -502) {
        abort();
    }
    check_prefixes(1, buf, len, max_head, is_head, rc);
}

struct decoded {
    int status;
    size_t consumed;
    char *data;
    size_t data_len;
};

/* Feeds buf in pieces whose sizes come from `sizes` (0 means all). */
static void
decode(const char *buf, size_t len, const unsigned char *sizes,
       size_t n_sizes, size_t max_trailer, struct decoded *out)
{
    struct http_chunked c;
    size_t pos = 0, avail = 0, next_size = 0;

    http_chunked_init(&c, max_trailer);
    out->status = 0;
    out->data_len = 0;
    while (!c.done) {
        size_t off, n;
        ssize_t rc = http_chunked_step(&c, buf + pos, avail - pos, &off, &n);
        if (rc < 0) {
            out->status = -1;
            break;
        }
        if ((size_t)rc > avail - pos || (n > 0 && off + n > (size_t)rc))
            abort();
        memcpy(out->data + out->data_len, buf + pos + off, n);
        out->data_len += n;
        pos += (size_t)rc;
        if (rc > 0 || c.done)
            continue;
        if (avail == len)
            break;
        if (n_sizes == 0)
            avail = len;
        else
            avail += 1 + sizes[next_size++ % n_sizes] % 16;
        if (avail > len)
            avail = len;
    }
    if (c.done)
        out->status = 1;
    out->consumed = pos;
}

static void
fuzz_chunked(const char *buf, size_t len, size_t max_trailer)
{
    static const unsigned char one_byte[] = {0};
    struct decoded a, b, s;

    a.data = malloc(len + 1);
    b.data = malloc(len + 1);
    s.data = malloc(len + 1);
    decode(buf, len, NULL, 0, max_trailer, &a);
    decode(buf, len, one_byte, 1, max_trailer, &b);
    decode(buf, len, (const unsigned char *)buf, len, max_trailer, &s);
    if (a.status != b.status || a.status != s.status)
        abort();
    if (a.status == 1 && (a.consumed != b.consumed ||
                          a.consumed != s.consumed))
        abort();
    if (a.data_len != b.data_len || a.data_len != s.data_len ||
        memcmp(a.data, b.data, a.data_len) != 0 ||
        memcmp(a.data, s.data, a.data_len) != 0)
        abort();
    free(a.data);
    free(b.data);
    free(s.data);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;

    size_t max_head = 16 + (size_t)(data[0] & 0x7f) * 64;
    bool is_head = data[0] & 0x80;
    size_t len = size - 1;
    /* An exact-size copy lets AddressSanitizer see any read past len. */
    char *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);

    fuzz_request(buf, len, max_head);
    fuzz_response(buf, len, max_head, is_head);
    fuzz_chunked(buf, len, max_head);
    free(buf);
    return 0;
}

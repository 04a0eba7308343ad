/*
 * Strict HTTP/1.1 head and chunked-body parsing (RFC 9110, RFC 9112).
 *
 * The head parsers keep no state between calls. Each call rescans buf from
 * the start in one left-to-right pass and stops at the first invalid byte,
 * so an error seen in a prefix is the same error the complete head gives.
 * Framing checks (Content-Length, Transfer-Encoding, Host) run once the
 * empty line that ends the head has arrived.
 */
#include "http.h"

#include <arpa/inet.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Maximum chunk-size line, extensions and CRLF included, in bytes. */
#define HTTP_CHUNK_LINE_MAX 4096
#define HTTP_TRAILER_DEFAULT_MAX (32 * 1024)
/* 16 hex digits fit in 64 bits, and a size must also be below 2^63. */
#define HTTP_CHUNK_SIZE_DIGITS 16

enum char_class {
    C_TCHAR = 1,   /* token character (RFC 9110 5.6.2) */
    C_TARGET = 2,  /* visible ASCII, %x21-7E */
    C_VALUE = 4,   /* field-vchar, SP or HTAB (RFC 9110 5.5) */
    C_HEX = 8,     /* HEXDIG */
    C_REGNAME = 16 /* unreserved or sub-delims (RFC 3986 3.2.2) */
};

static const unsigned char char_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     4, 23,  6,  7, 23,  7, 23, 23, 22, 22, 23, 23, 22, 23, 23,  6,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31,  6, 22,  6, 22,  6,  6,
     6, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23,  6,  6,  6,  7, 23,
     7, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23,  6,  7,  6, 23,  0,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
     4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
};

/* Header fields the parsers act on. */
enum field {
    F_OTHER,
    F_HOST,
    F_CONTENT_LENGTH,
    F_TRANSFER_ENCODING,
    F_CONNECTION,
    F_UPGRADE,
    F_EXPECT,
    F_SEC_WEBSOCKET_KEY
};

/* Facts from the Connection, Content-Length and Transfer-Encoding fields. */
struct framing {
    bool has_length;
    uint64_t length;
    size_t te_lines;
    size_t te_codings;
    size_t te_chunked;
    bool te_last_chunked;
    bool close;
    bool keep_alive;
    bool upgrade;
};

static inline bool
is_class(unsigned char c, unsigned char mask)
{
    return (char_class[c] & mask) != 0;
}

static inline bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char
to_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
equal_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (to_lower((unsigned char)a[i]) != to_lower((unsigned char)b[i]))
            return false;
    }
    return true;
}

static size_t
skip_ows(const char *p, size_t i, size_t n)
{
    while (i < n && is_ows(p[i]))
        i++;
    return i;
}

static size_t
skip_token(const char *p, size_t i, size_t n)
{
    while (i < n && is_class((unsigned char)p[i], C_TCHAR))
        i++;
    return i;
}

/*
 * Returns the index of the first byte from buf[i] that is not allowed in a
 * request-target (visible ASCII), or end.
 */
static size_t
skip_target(const char *buf, size_t i, size_t end)
{
#ifdef __SSE2__
    /* Signed bytes below 0x21 are the controls, SP and all of 0x80-0xFF. */
    const __m128i low = _mm_set1_epi8(0x21), del = _mm_set1_epi8(0x7f);

    while (end - i >= 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(buf + i));
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(b, low),
                                   _mm_cmpeq_epi8(b, del));
        unsigned mask = (unsigned)_mm_movemask_epi8(bad);
        if (mask != 0)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < end && is_class((unsigned char)buf[i], C_TARGET))
        i++;
    return i;
}

/*
 * Returns the index of the first byte from buf[i] that is not a
 * field-vchar, SP or HTAB, or end.
 */
static size_t
skip_value(const char *buf, size_t i, size_t end)
{
#ifdef __SSE2__
    /* Flags the controls, HTAB included, and DEL, 16 bytes at a time. */
    const __m128i ctl = _mm_set1_epi8(0x1f), del = _mm_set1_epi8(0x7f);

    while (end - i >= 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(buf + i));
        __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(b, ctl), b),
                                   _mm_cmpeq_epi8(b, del));
        unsigned mask = (unsigned)_mm_movemask_epi8(bad);
        if (mask == 0) {
            i += 16;
            continue;
        }
        i += (size_t)__builtin_ctz(mask);
        if (buf[i] != '\t')
            return i;
        i++;
    }
#endif
    while (i < end && is_class((unsigned char)buf[i], C_VALUE))
        i++;
    return i;
}

/*
 * Checks CRLF at buf[i]. Returns the index after it, 0 when buf ends
 * first, or -1 on any other byte.
 */
static ssize_t
expect_crlf(const char *buf, size_t i, size_t end)
{
    if (i >= end)
        return 0;
    if (buf[i] != '\r')
        return -1;
    if (i + 1 >= end)
        return 0;
    if (buf[i + 1] != '\n')
        return -1;
    return (ssize_t)(i + 2);
}

/*
 * Parses HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3) at buf[i].
 * Returns the index after it, 0 when buf ends first, -400 on bad syntax or
 * -505 on a well-formed version other than 1.0 and 1.1.
 */
static ssize_t
parse_version(const char *buf, size_t i, size_t end, int *minor)
{
    static const char pattern[] = "HTTP/9.9";

    for (size_t k = 0; k < sizeof(pattern) - 1; k++) {
        if (i + k >= end)
            return 0;
        unsigned char c = (unsigned char)buf[i + k];
        if (pattern[k] == '9' ? c < '0' || c > '9' : c != pattern[k])
            return -400;
    }
    if (buf[i + 5] != '1' || buf[i + 7] > '1')
        return -505;
    *minor = buf[i + 7] - '0';
    return (ssize_t)(i + 8);
}

/*
 * Parses field lines from buf[i] through the empty line that ends the
 * head. Returns the head length, 0 when buf ends first, -400 on bad syntax
 * or -431 on more than HTTP_MAX_HEADERS fields.
 */
static ssize_t
parse_fields(const char *buf, size_t i, size_t end, struct http_header *h,
             size_t *n_headers)
{
    size_t n = 0;

    for (;;) {
        if (i >= end)
            return 0;
        if (buf[i] == '\r') {
            ssize_t rc = expect_crlf(buf, i, end);
            if (rc > 0)
                *n_headers = n;
            return rc < 0 ? -400 : rc;
        }
        if (n == HTTP_MAX_HEADERS)
            return -431;

        /* A line starting with SP or HTAB is obs-fold (RFC 9112 5.2). */
        size_t name = i;
        i = skip_token(buf, i, end);
        if (i >= end)
            return 0;
        if (buf[i] != ':' || i == name)
            return -400;
        h[n].name.p = buf + name;
        h[n].name.len = i - name;

        size_t value = i = skip_ows(buf, i + 1, end);
        i = skip_value(buf, i, end);
        ssize_t next = expect_crlf(buf, i, end);
        if (next <= 0)
            return next < 0 ? -400 : 0;
        while (i > value && is_ows(buf[i - 1]))
            i--;
        h[n].value.p = buf + value;
        h[n].value.len = i - value;
        n++;
        i = (size_t)next;
    }
}

static enum field
classify_field(struct http_span name)
{
    switch (name.len) {
    case 4:
        return equal_nocase(name.p, "host", 4) ? F_HOST : F_OTHER;
    case 6:
        return equal_nocase(name.p, "expect", 6) ? F_EXPECT : F_OTHER;
    case 7:
        return equal_nocase(name.p, "upgrade", 7) ? F_UPGRADE : F_OTHER;
    case 10:
        return equal_nocase(name.p, "connection", 10) ? F_CONNECTION
                                                      : F_OTHER;
    case 14:
        return equal_nocase(name.p, "content-length", 14) ? F_CONTENT_LENGTH
                                                          : F_OTHER;
    case 17:
        if (equal_nocase(name.p, "transfer-encoding", 17))
            return F_TRANSFER_ENCODING;
        if (equal_nocase(name.p, "sec-websocket-key", 17))
            return F_SEC_WEBSOCKET_KEY;
        return F_OTHER;
    default:
        return F_OTHER;
    }
}

/*
 * Adds one Content-Length value to f. The value is 1*DIGIT or a list of
 * them (RFC 9110 8.6), and every value in every line must be equal and
 * below 2^63. Returns 0 or -1.
 */
static int
add_content_length(struct framing *f, struct http_span v)
{
    size_t i = 0;

    for (;;) {
        uint64_t n = 0;
        size_t start = i = skip_ows(v.p, i, v.len);
        while (i < v.len && v.p[i] >= '0' && v.p[i] <= '9') {
            unsigned digit = (unsigned)(v.p[i] - '0');
            if (n > ((uint64_t)INT64_MAX - digit) / 10)
                return -1;
            n = n * 10 + digit;
            i++;
        }
        if (i == start || (f->has_length && n != f->length))
            return -1;
        f->has_length = true;
        f->length = n;

        i = skip_ows(v.p, i, v.len);
        if (i == v.len)
            return 0;
        if (v.p[i] != ',')
            return -1;
        i++;
    }
}

/*
 * Skips a quoted-string (RFC 9110 5.6.4) that starts at p[i]. Returns the
 * index after the closing quote, or 0 when it is unterminated. Field values
 * hold only C_VALUE bytes, so qdtext is any of them except '"' and '\'.
 */
static size_t
skip_quoted(const char *p, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (p[i] == '"')
            return i + 1;
        if (p[i] == '\\' && ++i == n)
            return 0;
    }
    return 0;
}

/*
 * Adds one Transfer-Encoding line to f: a non-empty list of
 * transfer-coding = token *( OWS ";" OWS token BWS "=" BWS value )
 * (RFC 9112 7). Empty list elements are rejected, although RFC 9110 5.6.1
 * lets a recipient skip them, so that "chunked," cannot be read two ways
 * by Portico and a backend. Returns 0 or -1.
 */
static int
add_transfer_encoding(struct framing *f, struct http_span v)
{
    const char *p = v.p;
    size_t n = v.len, i = 0;

    f->te_lines++;
    for (;;) {
        size_t name = i = skip_ows(p, i, n);
        i = skip_token(p, i, n);
        if (i == name)
            return -1;
        bool chunked = i - name == 7 && equal_nocase(p + name, "chunked", 7);
        bool params = false;

        i = skip_ows(p, i, n);
        while (i < n && p[i] == ';') {
            size_t param = i = skip_ows(p, i + 1, n);
            i = skip_token(p, i, n);
            if (i == param)
                return -1;
            i = skip_ows(p, i, n);
            if (i == n || p[i] != '=')
                return -1;
            size_t value = i = skip_ows(p, i + 1, n);
            if (i < n && p[i] == '"')
                i = skip_quoted(p, i, n);
            else
                i = skip_token(p, i, n);
            if (i == 0 || i == value)
                return -1;
            i = skip_ows(p, i, n);
            params = true;
        }
        /* The chunked coding has no parameters (RFC 9112 7.1). */
        if (chunked && params)
            return -1;
        f->te_codings++;
        f->te_chunked += chunked;
        f->te_last_chunked = chunked;

        if (i == n)
            return 0;
        if (p[i] != ',')
            return -1;
        i++;
    }
}

/*
 * Finds the next element of a comma-separated list from *i and stores it,
 * without OWS, in *element. Returns false at the end of the list.
 */
static bool
next_element(struct http_span list, size_t *i, struct http_span *element)
{
    if (*i >= list.len)
        return false;

    size_t start = skip_ows(list.p, *i, list.len);
    const char *comma = memchr(list.p + start, ',', list.len - start);
    size_t end = comma ? (size_t)(comma - list.p) : list.len;
    *i = end + 1;
    while (end > start && is_ows(list.p[end - 1]))
        end--;
    element->p = list.p + start;
    element->len = end - start;
    return true;
}

static void
add_connection(struct framing *f, struct http_span v)
{
    struct http_span e;
    size_t i = 0;

    while (next_element(v, &i, &e)) {
        if (e.len == 5 && equal_nocase(e.p, "close", 5))
            f->close = true;
        else if (e.len == 10 && equal_nocase(e.p, "keep-alive", 10))
            f->keep_alive = true;
        else if (e.len == 7 && equal_nocase(e.p, "upgrade", 7))
            f->upgrade = true;
    }
}

/*
 * Checks uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2). An empty
 * value is valid because RFC 9112 3.2 requires one when the target has no
 * authority. A non-empty value needs a non-empty host, and a port, when the
 * colon is present, of 1 to 5 digits up to 65535. IP-literals must be
 * IPv6 addresses; IPvFuture and zone identifiers are rejected.
 */
static bool
is_valid_host(struct http_span h)
{
    const char *p = h.p;
    size_t n = h.len, i = 0;

    if (n == 0)
        return true;
    if (p[0] == '[') {
        char addr[INET6_ADDRSTRLEN];
        struct in6_addr in6;
        const char *close = memchr(p, ']', n);
        if (close == NULL || close - p - 1 >= (ptrdiff_t)sizeof(addr))
            return false;
        memcpy(addr, p + 1, (size_t)(close - p - 1));
        addr[close - p - 1] = '\0';
        if (inet_pton(AF_INET6, addr, &in6) != 1)
            return false;
        i = (size_t)(close - p) + 1;
    } else {
        while (i < n && p[i] != ':') {
            if (is_class((unsigned char)p[i], C_REGNAME))
                i++;
            else if (p[i] == '%' && i + 2 < n &&
                     is_class((unsigned char)p[i + 1], C_HEX) &&
                     is_class((unsigned char)p[i + 2], C_HEX))
                i += 3;
            else
                return false;
        }
        if (i == 0)
            return false;
    }
    if (i == n)
        return true;
    if (p[i] != ':' || n - i - 1 < 1 || n - i - 1 > 5)
        return false;

    unsigned port = 0;
    for (i++; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        port = port * 10 + (unsigned)(p[i] - '0');
    }
    return port <= 65535;
}

static ssize_t
parse_request_line(const char *buf, size_t end, struct http_request *r)
{
    size_t i = 0;

    /* RFC 9112 2.2: a server SHOULD ignore empty lines before the request. */
    while (i < end && buf[i] == '\r') {
        ssize_t rc = expect_crlf(buf, i, end);
        if (rc <= 0)
            return rc < 0 ? -400 : 0;
        i = (size_t)rc;
    }

    size_t method = i;
    i = skip_token(buf, i, end);
    if (i >= end)
        return 0;
    if (buf[i] != ' ' || i == method)
        return -400;
    r->method.p = buf + method;
    r->method.len = i - method;

    size_t target = ++i;
    i = skip_target(buf, i, end);
    if (i >= end)
        return 0;
    if (buf[i] != ' ' || i == target)
        return -400;
    r->target.p = buf + target;
    r->target.len = i - target;

    ssize_t rc = parse_version(buf, i + 1, end, &r->minor_version);
    if (rc <= 0)
        return rc;
    rc = expect_crlf(buf, (size_t)rc, end);
    return rc < 0 ? -400 : rc;
}

/* Applies RFC 9112 6.1 and 6.3 to a request's framing fields. */
static int
frame_request(struct http_request *r, const struct framing *f)
{
    if (f->te_lines == 0) {
        r->body = f->has_length && f->length > 0 ? HTTP_BODY_LENGTH
                                                 : HTTP_BODY_NONE;
        r->content_length = f->has_length ? f->length : 0;
        return 0;
    }

    /* Both fields, or TE from an HTTP/1.0 client, are a smuggling risk. */
    if (f->has_length || r->minor_version == 0 || f->te_lines > 1)
        return -400;
    if (f->te_chunked != 1 || !f->te_last_chunked)
        return -400;
    if (f->te_codings > 1)
        return -501;
    r->body = HTTP_BODY_CHUNKED;
    return 0;
}

static int
check_request_fields(struct http_request *r)
{
    struct framing f = {0};
    size_t hosts = 0;
    bool upgrade_field = false, websocket_key = false;

    for (size_t k = 0; k < r->n_headers; k++) {
        const struct http_header *h = &r->headers[k];
        switch (classify_field(h->name)) {
        case F_HOST:
            if (++hosts > 1 || !is_valid_host(h->value))
                return -400;
            r->host = h->value;
            break;
        case F_CONTENT_LENGTH:
            if (add_content_length(&f, h->value) < 0)
                return -400;
            break;
        case F_TRANSFER_ENCODING:
            if (add_transfer_encoding(&f, h->value) < 0)
                return -400;
            break;
        case F_CONNECTION:
            add_connection(&f, h->value);
            break;
        case F_UPGRADE:
            upgrade_field = true;
            r->websocket |= http_list_has_token(h->value, "websocket");
            break;
        case F_EXPECT:
            r->expect_continue |= http_span_eq(h->value, "100-continue");
            break;
        case F_SEC_WEBSOCKET_KEY:
            websocket_key = true;
            break;
        case F_OTHER:
            break;
        }
    }
    if (hosts == 0 && r->minor_version == 1)
        return -400;

    int rc = frame_request(r, &f);
    if (rc < 0)
        return rc;

    bool http11 = r->minor_version == 1;
    r->keep_alive = !f.close && (http11 || f.keep_alive);
    /* HTTP/1.0 recipients ignore Upgrade and Expect (RFC 9110 7.8, 10.1.1). */
    r->upgrade = http11 && f.upgrade && upgrade_field;
    r->websocket = r->upgrade && r->websocket && websocket_key &&
                   r->method.len == 3 && memcmp(r->method.p, "GET", 3) == 0;
    r->expect_continue = http11 && r->expect_continue;
    r->is_head = r->method.len == 4 && memcmp(r->method.p, "HEAD", 4) == 0;
    return 0;
}

ssize_t
http_parse_request(const char *buf, size_t len, size_t max_head,
                   struct http_request *r)
{
    size_t end = len < max_head ? len : max_head;

    memset(r, 0, offsetof(struct http_request, headers));
    r->n_headers = 0;
    memset(&r->host, 0, sizeof(*r) - offsetof(struct http_request, host));

    ssize_t rc = parse_request_line(buf, end, r);
    if (rc > 0)
        rc = parse_fields(buf, (size_t)rc, end, r->headers, &r->n_headers);
    if (rc == 0)
        return len >= max_head ? -431 : 0;
    if (rc < 0)
        return rc;

    int status = check_request_fields(r);
    return status < 0 ? status : rc;
}

/*
 * Parses status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF
 * (RFC 9112 4). A status line that ends right after the code, with no SP,
 * is accepted too, because it cannot be read any other way.
 */
static ssize_t
parse_status_line(const char *buf, size_t end, struct http_response *r)
{
    ssize_t rc = parse_version(buf, 0, end, &r->minor_version);
    if (rc <= 0)
        return rc < 0 ? -502 : 0;

    size_t i = (size_t)rc;
    for (size_t k = 0; k < 4; k++) {
        if (i + k >= end)
            return 0;
        char c = buf[i + k];
        if (k == 0 ? c != ' ' : c < '0' || c > '9')
            return -502;
    }
    r->status = (buf[i + 1] - '0') * 100 + (buf[i + 2] - '0') * 10 +
                (buf[i + 3] - '0');
    /* RFC 9110 15: valid status codes are 100 to 599. */
    if (r->status < 100 || r->status > 599)
        return -502;
    i += 4;

    if (i < end && buf[i] == ' ') {
        size_t reason = ++i;
        while (i < end && is_class((unsigned char)buf[i], C_VALUE))
            i++;
        r->reason.p = buf + reason;
        r->reason.len = i - reason;
    }
    rc = expect_crlf(buf, i, end);
    return rc < 0 ? -502 : rc;
}

static int
check_response_fields(struct http_response *r, bool request_is_head)
{
    struct framing f = {0};

    for (size_t k = 0; k < r->n_headers; k++) {
        const struct http_header *h = &r->headers[k];
        switch (classify_field(h->name)) {
        case F_CONTENT_LENGTH:
            if (add_content_length(&f, h->value) < 0)
                return -502;
            break;
        case F_TRANSFER_ENCODING:
            if (add_transfer_encoding(&f, h->value) < 0)
                return -502;
            break;
        case F_CONNECTION:
            add_connection(&f, h->value);
            break;
        default:
            break;
        }
    }

    /*
     * RFC 9112 6.1: TE with Content-Length, or TE in an HTTP/1.0 message,
     * is faulty framing. Chunked must be the final coding and only once.
     */
    if (f.te_lines > 0 && (f.has_length || r->minor_version == 0))
        return -502;
    if (f.te_chunked > 1 || (f.te_chunked == 1 && !f.te_last_chunked))
        return -502;

    r->keep_alive = !f.close && (r->minor_version == 1 || f.keep_alive);
    r->upgrade = r->status == 101;
    if (request_is_head || r->status < 200 || r->status == 204 ||
        r->status == 304) {
        r->body = HTTP_BODY_NONE;
    } else if (f.te_chunked) {
        r->body = HTTP_BODY_CHUNKED;
    } else if (f.te_lines > 0) {
        /* RFC 9112 6.3: without chunked last, the body ends at close. */
        r->body = HTTP_BODY_UNTIL_CLOSE;
        r->keep_alive = false;
    } else if (f.has_length) {
        r->body = f.length > 0 ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
        r->content_length = f.length;
    } else {
        r->body = HTTP_BODY_UNTIL_CLOSE;
        r->keep_alive = false;
    }
    return 0;
}

ssize_t
http_parse_response(const char *buf, size_t len, size_t max_head,
                    bool request_is_head, struct http_response *r)
{
    size_t end = len < max_head ? len : max_head;

    memset(r, 0, offsetof(struct http_response, headers));
    r->n_headers = 0;
    memset(&r->body, 0, sizeof(*r) - offsetof(struct http_response, body));

    ssize_t rc = parse_status_line(buf, end, r);
    if (rc > 0)
        rc = parse_fields(buf, (size_t)rc, end, r->headers, &r->n_headers);
    if (rc == 0)
        return len >= max_head ? -502 : 0;
    if (rc < 0)
        return -502;
    return check_response_fields(r, request_is_head) < 0 ? -502 : rc;
}

/* Decoder states; those before CH_DATA belong to the chunk-size line. */
enum chunked_state {
    CH_SIZE,
    CH_EXT_SEMI,       /* BWS after the size or a value, before ';' */
    CH_EXT_NAME_START, /* after ';' */
    CH_EXT_NAME,
    CH_EXT_NAME_BWS,   /* BWS after a name, before '=' or ';' */
    CH_EXT_VALUE_START,
    CH_EXT_TOKEN,
    CH_EXT_QUOTED,
    CH_EXT_QUOTED_PAIR,
    CH_EXT_VALUE_END,  /* after a quoted value */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START,  /* start of a trailer line or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF
};

void
http_chunked_init(struct http_chunked *c, size_t max_trailer)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
    c->max_trailer = max_trailer ? max_trailer : HTTP_TRAILER_DEFAULT_MAX;
}

static int
hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = to_lower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/*
 * Advances the chunk-size line by one byte:
 * chunk-size [ chunk-ext ] CRLF, chunk-ext = *( BWS ";" BWS ext-name
 * [ BWS "=" BWS ( token / quoted-string ) ] ) (RFC 9112 7.1.1).
 * Returns the next state or -1.
 */
static int
step_size_line(struct http_chunked *c, unsigned char ch)
{
    bool tchar = is_class(ch, C_TCHAR);
    bool ws = ch == ' ' || ch == '\t';

    switch (c->state) {
    case CH_SIZE: {
        int digit = hex_value(ch);
        if (digit >= 0) {
            if (c->line_bytes > HTTP_CHUNK_SIZE_DIGITS)
                return -1;
            c->remaining = c->remaining << 4 | (uint64_t)digit;
            return c->remaining > (uint64_t)INT64_MAX ? -1 : CH_SIZE;
        }
        if (c->line_bytes == 1)
            return -1;
        if (ch == ';')
            return CH_EXT_NAME_START;
        if (ws)
            return CH_EXT_SEMI;
        return ch == '\r' ? CH_SIZE_LF : -1;
    }
    case CH_EXT_SEMI:
        return ws ? CH_EXT_SEMI : ch == ';' ? CH_EXT_NAME_START : -1;
    case CH_EXT_NAME_START:
        return ws ? CH_EXT_NAME_START : tchar ? CH_EXT_NAME : -1;
    case CH_EXT_NAME:
        if (tchar)
            return CH_EXT_NAME;
        if (ws)
            return CH_EXT_NAME_BWS;
        if (ch == '=')
            return CH_EXT_VALUE_START;
        return ch == ';' ? CH_EXT_NAME_START : ch == '\r' ? CH_SIZE_LF : -1;
    case CH_EXT_NAME_BWS:
        if (ws)
            return CH_EXT_NAME_BWS;
        if (ch == '=')
            return CH_EXT_VALUE_START;
        return ch == ';' ? CH_EXT_NAME_START : -1;
    case CH_EXT_VALUE_START:
        if (ws)
            return CH_EXT_VALUE_START;
        return tchar ? CH_EXT_TOKEN : ch == '"' ? CH_EXT_QUOTED : -1;
    case CH_EXT_QUOTED:
        if (ch == '"')
            return CH_EXT_VALUE_END;
        if (ch == '\\')
            return CH_EXT_QUOTED_PAIR;
        return is_class(ch, C_VALUE) ? CH_EXT_QUOTED : -1;
    case CH_EXT_QUOTED_PAIR:
        return is_class(ch, C_VALUE) ? CH_EXT_QUOTED : -1;
    case CH_EXT_TOKEN:
        if (tchar)
            return CH_EXT_TOKEN;
        /* fall through */
    case CH_EXT_VALUE_END:
        if (ws)
            return CH_EXT_SEMI;
        return ch == ';' ? CH_EXT_NAME_START : ch == '\r' ? CH_SIZE_LF : -1;
    case CH_SIZE_LF:
        if (ch != '\n')
            return -1;
        return c->remaining == 0 ? CH_TRAILER_START : CH_DATA;
    default:
        return -1;
    }
}

/* Advances the CRLF after data and the trailer section by one byte. */
static int
step_after_data(struct http_chunked *c, unsigned char ch)
{
    switch (c->state) {
    case CH_DATA_CR:
        return ch == '\r' ? CH_DATA_LF : -1;
    case CH_DATA_LF:
        c->line_bytes = 0;
        return ch == '\n' ? CH_SIZE : -1;
    case CH_TRAILER_START:
        if (ch == '\r')
            return CH_END_LF;
        return is_class(ch, C_TCHAR) ? CH_TRAILER_NAME : -1;
    case CH_TRAILER_NAME:
        if (is_class(ch, C_TCHAR))
            return CH_TRAILER_NAME;
        return ch == ':' ? CH_TRAILER_VALUE : -1;
    case CH_TRAILER_VALUE:
        if (is_class(ch, C_VALUE))
            return CH_TRAILER_VALUE;
        return ch == '\r' ? CH_TRAILER_LF : -1;
    case CH_TRAILER_LF:
        return ch == '\n' ? CH_TRAILER_START : -1;
    case CH_END_LF:
        if (ch != '\n')
            return -1;
        c->done = true;
        return CH_END_LF;
    default:
        return -1;
    }
}

ssize_t
http_chunked_step(struct http_chunked *c, const char *buf, size_t len,
                  size_t *data_off, size_t *data_len)
{
    size_t i = 0;

    *data_off = 0;
    *data_len = 0;
    while (i < len && !c->done) {
        if (c->state == CH_DATA) {
            size_t n = len - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            *data_off = i;
            *data_len = n;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            return (ssize_t)(i + n);
        }

        unsigned char ch = (unsigned char)buf[i++];
        int next;
        if (c->state < CH_DATA) {
            if (++c->line_bytes > HTTP_CHUNK_LINE_MAX)
                return -1;
            next = step_size_line(c, ch);
        } else {
            if (c->state >= CH_TRAILER_START &&
                ++c->trailer_bytes > c->max_trailer)
                return -1;
            next = step_after_data(c, ch);
        }
        if (next < 0)
            return -1;
        c->state = next;
    }
    return (ssize_t)i;
}

bool
http_equal_nocase(const char *a, const char *b, size_t n)
{
    return equal_nocase(a, b, n);
}

const struct http_header *
http_find_header(const struct http_header *h, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++) {
        if (http_span_eq(h[k].name, name))
            return &h[k];
    }
    return NULL;
}

bool
http_list_has_token(struct http_span value, const char *token)
{
    size_t n = strlen(token), i = 0;
    struct http_span e;

    while (next_element(value, &i, &e)) {
        if (e.len == n && equal_nocase(e.p, token, n))
            return true;
    }
    return false;
}

const char *
http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
    }
}

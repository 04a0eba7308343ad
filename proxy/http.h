/*
 * Strict, incremental HTTP/1.1 message parsing (RFC 9112), independent of
 * libevent so it can be unit-tested and fuzzed alone. Parsers never copy:
 * every span points into the caller's buffer.
 */
#ifndef PORTICO_HTTP_H
#define PORTICO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS 128

struct http_span {
    const char *p;
    size_t len;
};

struct http_header {
    struct http_span name;
    struct http_span value; /* leading and trailing whitespace removed */
};

enum http_body {
    HTTP_BODY_NONE,
    HTTP_BODY_LENGTH,     /* Content-Length bytes follow */
    HTTP_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
    HTTP_BODY_UNTIL_CLOSE /* responses only: read until the upstream closes */
};

struct http_request {
    struct http_span method;
    struct http_span target;
    int minor_version; /* HTTP/1.<minor>: 0 or 1 */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;

    /*
     * Host header value, empty when absent. NOTE: for an absolute-form
     * target, RFC 9112 3.2.2 makes the target's authority override Host,
     * and the parser does not compare the two.
     */
    struct http_span host;
    enum http_body body; /* Content-Length: 0 gives HTTP_BODY_NONE */
    uint64_t content_length;
    bool keep_alive;     /* after Connection and version defaults */
    bool upgrade;        /* Connection: upgrade with an Upgrade header */
    bool websocket;      /* upgrade to websocket on GET */
    bool expect_continue;
    bool is_head;
};

struct http_response {
    int minor_version;
    int status;
    struct http_span reason;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t n_headers;

    enum http_body body;
    uint64_t content_length;
    bool keep_alive;
    bool upgrade; /* 101 Switching Protocols */
};

/*
 * Parses a request head from buf[0..len). Returns the head length (the
 * bytes up to and including the blank line) when complete, 0 when more
 * bytes are needed, or a negated HTTP status on an invalid head: -400 bad
 * syntax or framing, -431 head larger than max_head or too many headers,
 * -501 a transfer coding Portico cannot forward, -505 a version other than
 * HTTP/1.0 and HTTP/1.1.
 *
 * -431 also comes back once len >= max_head without a complete head, so a
 * caller never buffers more than max_head bytes. -501 means a well-formed
 * Transfer-Encoding list that ends in chunked but has other codings before
 * it; any other Transfer-Encoding than exactly "chunked" is -400.
 */
ssize_t http_parse_request(const char *buf, size_t len, size_t max_head,
                           struct http_request *r);

/*
 * Parses a response head. `request_is_head` and the status decide whether a
 * body follows (none for HEAD, 1xx, 204 and 304). Returns like
 * http_parse_request, with -502 for any invalid response, including a head
 * over max_head and one with more than HTTP_MAX_HEADERS fields.
 */
ssize_t http_parse_response(const char *buf, size_t len, size_t max_head,
                            bool request_is_head, struct http_response *r);

/* Decoder state for a chunked body (RFC 9112 section 7.1). */
struct http_chunked {
    int state;
    uint64_t remaining;  /* data bytes left in the current chunk */
    size_t line_bytes;   /* bytes read of the current size or trailer line */
    size_t trailer_bytes;
    size_t max_trailer;  /* trailer section limit; 0 means 32 KiB */
    bool done;           /* the last chunk and trailers were read */
};

void http_chunked_init(struct http_chunked *c, size_t max_trailer);

/*
 * Consumes chunked framing from buf[0..len). When the return value n > 0
 * and *data_len > 0, buf[*data_off .. *data_off + *data_len) is body data
 * and lies within the n consumed bytes. Call again with the rest of the
 * buffer until it returns 0 (more input needed) or c->done. Returns -1 on
 * invalid framing: bad hex, a size over 2^63, a missing CRLF after data, a
 * size line or trailers over the limit.
 *
 * A call returns right after the first data span it finds. Size lines,
 * extensions and CRLF included, are limited to 4096 bytes. Trailer fields
 * are checked and counted against max_trailer but not returned.
 */
ssize_t http_chunked_step(struct http_chunked *c, const char *buf, size_t len,
                          size_t *data_off, size_t *data_len);

/* Case-insensitive comparisons of a span with a C string. */
bool http_equal_nocase(const char *a, const char *b, size_t n);

/* Inline, so the length of a literal is known at compile time and most
 * header names are rejected on their length alone. */
static inline bool
http_span_eq(struct http_span s, const char *lit)
{
    size_t n = __builtin_strlen(lit);

    return s.len == n && http_equal_nocase(s.p, lit, n);
}
/* Finds a header by name (case-insensitive), or NULL. */
const struct http_header *http_find_header(const struct http_header *h,
                                           size_t n, const char *name);
/* Does a comma-separated list value contain token (case-insensitive)? */
bool http_list_has_token(struct http_span value, const char *token);

/* Returns the standard reason phrase for a status code, or "Unknown". */
const char *http_reason(int status);

#endif

#include "rewrite.h"

#include <stdio.h>
#include <string.h>

struct out {
    char *p;
    size_t len;
    size_t cap;
    bool overflow;
};

static void
put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || o->cap - o->len < n) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void
put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void
put_span(struct out *o, struct http_span s)
{
    put(o, s.p, s.len);
}

static void
put_u64(struct out *o, uint64_t v)
{
    char buf[24];
    size_t i = sizeof buf;

    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    put(o, buf + i, sizeof buf - i);
}

static void
put_header(struct out *o, const char *name, const char *value)
{
    put_str(o, name);
    put(o, ": ", 2);
    put_str(o, value);
    put(o, "\r\n", 2);
}

static void
put_field(struct out *o, const struct http_header *h)
{
    put_span(o, h->name);
    put(o, ": ", 2);
    put_span(o, h->value);
    put(o, "\r\n", 2);
}

/* Writes the framing header Portico chose: one Content-Length, chunked, or
 * nothing for a body that ends with the connection or has no body. */
static void
put_framing(struct out *o, enum http_body body, uint64_t content_length)
{
    if (body == HTTP_BODY_LENGTH) {
        put_str(o, "Content-Length: ");
        put_u64(o, content_length);
        put(o, "\r\n", 2);
    } else if (body == HTTP_BODY_CHUNKED) {
        put_header(o, "Transfer-Encoding", "chunked");
    }
}

static bool
is_hop_by_hop(struct http_span name)
{
    static const char *const names[] = {
        "connection", "proxy-connection", "keep-alive",
        "te",         "transfer-encoding", "upgrade",
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (http_span_eq(name, names[i]))
            return true;
    return false;
}

bool
proxy_rewrite_is_protected(struct http_span name)
{
    return http_span_eq(name, "host") ||
           http_span_eq(name, "x-forwarded-for") ||
           http_span_eq(name, "x-forwarded-proto") ||
           http_span_eq(name, "x-forwarded-host") ||
           http_span_eq(name, "x-forwarded-port") ||
           http_span_eq(name, "x-real-ip");
}

/* Is the header named in one of the Connection headers? */
static bool
is_named_in_connection(const struct http_header *h, size_t n,
                       struct http_span name)
{
    char token[128];

    if (name.len >= sizeof token)
        return false;
    memcpy(token, name.p, name.len);
    token[name.len] = '\0';
    for (size_t i = 0; i < n; i++)
        if (http_span_eq(h[i].name, "connection") &&
            http_list_has_token(h[i].value, token))
            return true;
    return false;
}

static bool
is_removed(const struct http_header *h, size_t n, struct http_span name,
           bool has_connection)
{
    if (is_hop_by_hop(name))
        return true;
    return has_connection && is_named_in_connection(h, n, name);
}

size_t
proxy_host_len(const char *host, size_t len)
{
    size_t i = len;

    while (i > 0 && host[i - 1] >= '0' && host[i - 1] <= '9')
        i--;
    if (i > 0 && host[i - 1] == ':') {
        size_t end = i - 1;
        /* "::1" without brackets is an address, not a host and port. */
        if (memchr(host, ':', end) == NULL || (end > 0 && host[end - 1] == ']'))
            return end;
    }
    return len;
}

static void
put_forwarded_for(struct out *o, const struct http_request *r,
                  const char *client_ip, bool trusted)
{
    put_str(o, "X-Forwarded-For: ");
    for (size_t i = 0; trusted && i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (!http_span_eq(h->name, "x-forwarded-for") || h->value.len == 0)
            continue;
        put_span(o, h->value);
        put(o, ", ", 2);
    }
    put_str(o, client_ip);
    put(o, "\r\n", 2);
}

static bool
is_set_by_portico(struct http_span name)
{
    return !http_span_eq(name, "host") && proxy_rewrite_is_protected(name);
}

/* Writes "name: value" unless a trusted proxy sent the header, which the
 * header loop has already copied. */
static void
put_forwarded(struct out *o, const struct http_request *r, bool trusted,
              const char *name, struct http_span value)
{
    if (trusted && http_find_header(r->headers, r->n_headers, name) != NULL)
        return;
    put_str(o, name);
    put(o, ": ", 2);
    put_span(o, value);
    put(o, "\r\n", 2);
}

static struct http_span
span_of(const char *s)
{
    return (struct http_span){s, strlen(s)};
}

ssize_t
proxy_rewrite_request(char *out, size_t cap, const struct http_request *r,
                      const struct rewrite_request *rw)
{
    struct out o = {out, 0, cap, false};
    bool has_connection = http_find_header(r->headers, r->n_headers,
                                           "connection") != NULL;
    char port[8];

    put_span(&o, r->method);
    put(&o, " ", 1);
    put_span(&o, r->target);
    put_str(&o, " HTTP/1.1\r\n");

    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        bool keep_forwarded = rw->trusted &&
                              !http_span_eq(h->name, "x-forwarded-for");
        if ((is_set_by_portico(h->name) && !keep_forwarded) ||
            http_span_eq(h->name, "content-length"))
            continue;
        if (!proxy_rewrite_is_protected(h->name) &&
            is_removed(r->headers, r->n_headers, h->name, has_connection))
            continue;
        put_field(&o, h);
    }

    put_framing(&o, rw->body, rw->content_length);
    if (rw->websocket) {
        put_header(&o, "Connection", "Upgrade");
        put_header(&o, "Upgrade", "websocket");
    } else {
        put_header(&o, "Connection", "keep-alive");
    }

    put_forwarded_for(&o, r, rw->client_ip, rw->trusted);
    put_forwarded(&o, r, rw->trusted, "X-Forwarded-Proto",
                  span_of(rw->proto));
    if (r->host.len > 0) {
        struct http_span host = {r->host.p,
                                 proxy_host_len(r->host.p, r->host.len)};
        put_forwarded(&o, r, rw->trusted, "X-Forwarded-Host", host);
    }
    snprintf(port, sizeof port, "%u", rw->listen_port);
    put_forwarded(&o, r, rw->trusted, "X-Forwarded-Port", span_of(port));
    put_forwarded(&o, r, rw->trusted, "X-Real-IP", span_of(rw->client_ip));
    put(&o, "\r\n", 2);
    return o.overflow ? -1 : (ssize_t)o.len;
}

static void
put_status_line(struct out *o, const struct http_response *r)
{
    char buf[16];

    snprintf(buf, sizeof buf, "HTTP/1.1 %03d ", r->status);
    put_str(o, buf);
    if (r->reason.len > 0)
        put_span(o, r->reason);
    else
        put_str(o, http_reason(r->status));
    put(o, "\r\n", 2);
}

ssize_t
proxy_rewrite_response(char *out, size_t cap, const struct http_response *r,
                       const struct rewrite_response *rw)
{
    struct out o = {out, 0, cap, false};
    bool has_connection = http_find_header(r->headers, r->n_headers,
                                           "connection") != NULL;

    put_status_line(&o, r);
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (rw->body != HTTP_BODY_NONE &&
            http_span_eq(h->name, "content-length"))
            continue;
        if (is_removed(r->headers, r->n_headers, h->name, has_connection))
            continue;
        put_field(&o, h);
    }

    put_framing(&o, rw->body, rw->content_length);
    if (rw->upgrade) {
        put_header(&o, "Connection", "Upgrade");
        put_header(&o, "Upgrade", "websocket");
    } else {
        put_header(&o, "Connection", rw->keep_alive ? "keep-alive" : "close");
    }
    if (rw->hsts != NULL &&
        http_find_header(r->headers, r->n_headers,
                         "strict-transport-security") == NULL)
        put_header(&o, "Strict-Transport-Security", rw->hsts);
    put(&o, "\r\n", 2);
    return o.overflow ? -1 : (ssize_t)o.len;
}

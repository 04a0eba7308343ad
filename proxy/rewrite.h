/*
 * Rewriting of request and response heads between client and upstream:
 * hop-by-hop headers removed (RFC 9110 section 7.6.1), framing and
 * X-Forwarded-* headers set by Portico. Pure functions on caller buffers.
 */
#ifndef PORTICO_REWRITE_H
#define PORTICO_REWRITE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"

/* Connection facts and framing for a forwarded request head. */
struct rewrite_request {
    const char *client_ip;
    const char *proto;       /* "http" or "https" */
    unsigned listen_port;
    enum http_body body;     /* framing sent upstream: NONE, LENGTH, CHUNKED */
    uint64_t content_length; /* with HTTP_BODY_LENGTH */
    bool websocket;          /* send Connection: Upgrade, Upgrade: websocket */
    /* The client is a --trusted-proxies peer: its X-Forwarded-For is
     * extended and its X-Forwarded-Proto, -Host, -Port and X-Real-IP kept.
     * Otherwise all five are replaced. */
    bool trusted;
};

/* Framing and connection handling of a response head to the client. */
struct rewrite_response {
    /*
     * HTTP_BODY_NONE keeps the upstream's Content-Length (HEAD, 304),
     * HTTP_BODY_LENGTH writes content_length, HTTP_BODY_CHUNKED adds
     * Transfer-Encoding: chunked, HTTP_BODY_UNTIL_CLOSE adds no framing.
     */
    enum http_body body;
    uint64_t content_length;
    bool keep_alive;
    bool upgrade; /* 101 to a websocket request */
    /* Strict-Transport-Security value added when the upstream sent none,
     * or NULL. */
    const char *hsts;
};

/*
 * Writes the request head to send upstream into out[0..cap): HTTP/1.1,
 * Host and end-to-end headers kept in order, hop-by-hop headers and the
 * headers named in Connection removed (except Host and the X-Forwarded-*
 * and X-Real-IP headers), X-Forwarded-For set to the client address or,
 * from a trusted proxy, extended with it. Returns the head length, or -1
 * when cap is too small.
 */
ssize_t proxy_rewrite_request(char *out, size_t cap,
                              const struct http_request *r,
                              const struct rewrite_request *rw);

/*
 * Writes the response head to send to the client. Returns the head length,
 * or -1 when cap is too small.
 */
ssize_t proxy_rewrite_response(char *out, size_t cap,
                               const struct http_response *r,
                               const struct rewrite_response *rw);

/* Is the header one that Connection may not remove? */
bool proxy_rewrite_is_protected(struct http_span name);

/* Length of host without a ":port" suffix ("[::1]:80" keeps the brackets). */
size_t proxy_host_len(const char *host, size_t len);

#endif

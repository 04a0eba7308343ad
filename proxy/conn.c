/*
 * One client connection and the requests on it, one at a time: the head is
 * parsed and routed, the rewritten head and the re-framed body go to an
 * upstream connection, and the response comes back the same way. The next
 * pipelined request is parsed only after the previous response finished.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdatomic.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "acme.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "proxy_int.h"
#include "rewrite.h"

/* Seconds a closing connection keeps discarding an unread request body. */
#define LINGER_TIMEOUT 2

static void on_client_read(struct bufferevent *bev, void *arg);
static void on_client_write(struct bufferevent *bev, void *arg);
static void on_client_event(struct bufferevent *bev, short what, void *arg);
static void on_up_read(struct bufferevent *bev, void *arg);
static void on_up_write(struct bufferevent *bev, void *arg);
static void on_up_event(struct bufferevent *bev, short what, void *arg);
static void read_head(struct proxy_conn *c);
static void respond_error(struct proxy_conn *c, int status, const char *end);
static void connect_upstream(struct proxy_conn *c, bool use_pool);
static void log_tls_failure(struct proxy_conn *c, struct bufferevent *bev,
                            short what);

static void
set_nodelay(struct bufferevent *bev)
{
    int one = 1;
    evutil_socket_t fd = bufferevent_getfd(bev);

    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/*
 * Writes the output to the socket right away instead of waiting for the
 * write event, which saves two epoll_ctl calls per message. The write event
 * is enabled only for what the socket did not take. TLS bufferevents (raw
 * false) write through libevent as usual.
 */
static void
flush_output(struct bufferevent *bev, bool raw)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    bool writing = bufferevent_get_enabled(bev) & EV_WRITE;

    int n = 0;

    if (evbuffer_get_length(out) == 0)
        return;
    if (raw) {
        /* A bufferevent keeps its output's start frozen except while its
         * own write callback runs; writing here is the same step. */
        evbuffer_unfreeze(out, 1);
        n = evbuffer_write(out, bufferevent_getfd(bev));
        evbuffer_freeze(out, 1);
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        /* libevent's write callback reports the error to on_*_event. */
        bufferevent_enable(bev, EV_WRITE);
        return;
    }
    if (evbuffer_get_length(out) == 0) {
        if (writing)
            bufferevent_disable(bev, EV_WRITE);
    } else if (!writing) {
        bufferevent_enable(bev, EV_WRITE);
    }
}

static void
flush_client(struct proxy_conn *c)
{
    flush_output(c->client, !c->listener->tls);
}

static void
flush_upstream(struct proxy_conn *c)
{
    flush_output(c->up->bev, !c->up->tls);
}

static double
elapsed_ms(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) * 1e3 +
           (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

static void
log_request(struct proxy_conn *c)
{
    const char *upstream = "-";

    metrics_request_done(c->w->id, c->host, c->status,
                         elapsed_ms(&c->start) / 1e3);
    if (!log_access_enabled())
        return;
    if (c->n_targets > 0 && c->target < c->n_targets)
        upstream = c->targets[c->target].addr_text;
    log_access("client=%s method=%s host=%s path=%s status=%d bytes=%llu "
               "duration_ms=%.3f upstream=%s end=%s",
               c->client_ip, c->method[0] ? c->method : "-",
               c->host[0] ? c->host : "-", c->path[0] ? c->path : "-",
               c->status, (unsigned long long)c->bytes_sent,
               elapsed_ms(&c->start), upstream, c->end ? c->end : "ok");
}

static void
drop_upstream(struct proxy_conn *c)
{
    proxy_upconn_free(c->up);
    c->up = NULL;
    c->up_paused = false;
}

/* Sends close_notify when the socket takes it at once; libevent frees the
 * SSL without one. Fails harmlessly after a fatal TLS error. */
static void
send_close_notify(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);

    if (ssl != NULL && SSL_is_init_finished(ssl) &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        SSL_shutdown(ssl);
    ERR_clear_error();
}

void
proxy_conn_free(struct proxy_conn *c)
{
    metrics_connection_close(c->w->id);
    atomic_fetch_sub(&proxy_n_conns, 1);
    event_free(c->head_timer);
    drop_upstream(c);
    if (c->listener->tls)
        send_close_notify(c->client);
    proxy_reader_free(&c->client_reader);
    bufferevent_free(c->client);
    LIST_REMOVE(c, link);
    free(c->head);
    free(c);
}

static void
arm_head_timer(struct proxy_conn *c, int seconds)
{
    struct timeval tv = {seconds, 0};

    event_add(c->head_timer, &tv);
}

/* Resets the per-request state and waits for the next request head;
 * timeout is the keep-alive or header timeout in seconds. */
static void
begin_request(struct proxy_conn *c, int timeout)
{
    c->state = CONN_READ_HEAD;
    c->head_started = false;
    c->connect_timed_out = false;
    c->method[0] = c->host[0] = c->path[0] = '\0';
    c->client_keep_alive = false;
    c->close_after = false;
    c->client_paused = c->up_paused = false;
    c->retried = c->up_eof = false;
    c->websocket = c->is_head = false;
    c->n_targets = c->target = 0;
    c->status = 0;
    c->hsts[0] = '\0';
    c->bytes_sent = 0;
    c->end = NULL;
    proxy_body_init(&c->req_body, HTTP_BODY_NONE, 0, false);
    proxy_body_init(&c->resp_body, HTTP_BODY_NONE, 0, false);
    /* The head timer, not the read timeout, limits the wait: a read
     * timeout restarts with every byte a slow client sends. */
    proxy_reader_set_timeouts(&c->client_reader, 0, PROXY_BODY_TIMEOUT);
    arm_head_timer(c, timeout);
    proxy_reader_enable(&c->client_reader, true);
    if (evbuffer_get_length(bufferevent_get_input(c->client)) > 0)
        bufferevent_trigger(c->client, EV_READ,
                            BEV_TRIG_IGNORE_WATERMARKS | BEV_OPT_DEFER_CALLBACKS);
}

/* Ends the connection once the output is flushed. */
static void
start_closing(struct proxy_conn *c)
{
    drop_upstream(c);
    c->state = CONN_CLOSING;
    bufferevent_setwatermark(c->client, EV_WRITE, 0, 0);
    flush_client(c);
    if (evbuffer_get_length(bufferevent_get_output(c->client)) == 0)
        on_client_write(c->client, c);
}

/*
 * Closes after the flush. When a request body is left unread, the write
 * side is shut first and input discarded for a while. Closing with unread
 * input makes the kernel send a reset, which can destroy the response in
 * flight.
 */
static void
on_flushed(struct proxy_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->client);
    evutil_socket_t fd = bufferevent_getfd(c->client);

    if ((c->req_body.done && evbuffer_get_length(in) == 0) || fd < 0) {
        proxy_conn_free(c);
        return;
    }
    /* A TLS connection keeps its write side: a raw shutdown would cut the
     * TLS stream, and the client closes after a "Connection: close"
     * response anyway. */
    if (!c->listener->tls)
        shutdown(fd, SHUT_WR);
    c->state = CONN_LINGER;
    evbuffer_drain(in, evbuffer_get_length(in));
    proxy_reader_set_timeouts(&c->client_reader, LINGER_TIMEOUT, 0);
    proxy_reader_enable(&c->client_reader, true);
}

static const char *
error_body(int status)
{
    switch (status) {
    case 400: return "bad request\n";
    case 408: return "request head timed out\n";
    case 413: return "request body too large\n";
    case 431: return "request header fields too large\n";
    case 501: return "transfer coding not implemented\n";
    case 502: return "no upstream answered\n";
    case 503: return "no route for this host\n";
    case 504: return "upstream timed out\n";
    case 505: return "HTTP version not supported\n";
    default: return "error\n";
    }
}

/*
 * Sends a response generated by Portico. extra is empty or header lines
 * ending in CRLF. The connection stays open unless the request could not
 * be parsed or its body is still unread.
 */
static void
respond(struct proxy_conn *c, int status, const char *extra,
        const char *body, const char *end)
{
    bool parse_error = status == 400 || status == 408 || status == 431 ||
                       status == 501 || status == 505;
    bool keep = !parse_error && c->client_keep_alive && c->req_body.done &&
                !c->w->draining;
    struct evbuffer *out = bufferevent_get_output(c->client);
    int n;

    drop_upstream(c);
    n = evbuffer_add_printf(out,
                            "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
                            "charset=utf-8\r\nContent-Length: %zu\r\n%s"
                            "Connection: %s\r\n\r\n",
                            status, http_reason(status), strlen(body), extra,
                            keep ? "keep-alive" : "close");
    if (!c->is_head) {
        evbuffer_add(out, body, strlen(body));
        n += (int)strlen(body);
    }
    flush_client(c);
    c->status = status;
    c->bytes_sent = (uint64_t)n;
    c->end = end;
    log_request(c);
    if (keep)
        begin_request(c, cfg.keepalive_timeout);
    else
        start_closing(c);
}

static void
respond_error(struct proxy_conn *c, int status, const char *end)
{
    respond(c, status, "", error_body(status), end);
}

/* Ends a request whose response already started: the client sees the
 * connection close before the body's end. */
static void
abort_request(struct proxy_conn *c, const char *end)
{
    c->end = end;
    if (c->status == 0)
        c->status = 502;
    log_request(c);
    start_closing(c);
}

static bool
is_idempotent(struct http_span m)
{
    static const char *const methods[] = {"GET",    "HEAD",  "OPTIONS",
                                          "PUT",    "DELETE", "TRACE"};

    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (m.len == strlen(methods[i]) &&
            memcmp(m.p, methods[i], m.len) == 0)
            return true;
    return false;
}

static void
copy_span(char *dst, size_t cap, struct http_span s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;

    if (n > 0)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

/* The path to route by: origin-form up to '?', or the path of an
 * absolute-form target. */
static struct http_span
routing_path(struct http_span target)
{
    struct http_span p = target;
    const char *q;

    if (p.len == 0 || p.p[0] != '/') {
        const char *scheme = memmem(p.p, p.len, "://", 3);
        const char *slash = NULL;
        if (scheme != NULL)
            slash = memchr(scheme + 3, '/', p.len - (size_t)(scheme + 3 - p.p));
        if (slash == NULL)
            return (struct http_span){"/", 1};
        p.len -= (size_t)(slash - p.p);
        p.p = slash;
    }
    q = memchr(p.p, '?', p.len);
    if (q != NULL)
        p.len = (size_t)(q - p.p);
    return p;
}

/* Copies the route's upstreams, starting at the round-robin position, and
 * its HTTPS policy. */
static int
find_targets(struct proxy_conn *c, const struct http_request *r,
             enum route_https *https)
{
    struct http_span path = routing_path(r->target);
    const struct route_table *t = route_read_begin(c->w->rd);
    const struct route *rt = route_lookup(t, r->host.p, r->host.len, path.p,
                                          path.len);
    size_t start;

    if (rt == NULL || rt->n_upstreams == 0) {
        route_read_end(c->w->rd);
        return -1;
    }
    *https = rt->policy.https;
    c->max_body = rt->policy.max_body > 0 ? rt->policy.max_body
                                          : cfg.max_body_size;
    if (c->listener->tls && rt->policy.hsts != NULL &&
        strlen(rt->policy.hsts) < sizeof c->hsts)
        strcpy(c->hsts, rt->policy.hsts);
    start = route_next_upstream(rt);
    c->n_targets = rt->n_upstreams < PROXY_MAX_TRIES ? rt->n_upstreams
                                                     : PROXY_MAX_TRIES;
    for (size_t i = 0; i < c->n_targets; i++) {
        const struct route_upstream *u =
            &rt->upstreams[(start + i) % rt->n_upstreams];
        struct proxy_target *d = &c->targets[i];
        memcpy(&d->addr, &u->addr, u->addrlen);
        d->addrlen = u->addrlen;
        d->tls = u->tls;
        memcpy(d->addr_text, u->addr_text, sizeof d->addr_text);
    }
    route_read_end(c->w->rd);
    return 0;
}

static int
rewrite_head(struct proxy_conn *c, const struct http_request *r)
{
    struct rewrite_request rw = {
        .client_ip = c->client_ip,
        .proto = c->listener->proto,
        .listen_port = c->listener->port,
        .body = r->body == HTTP_BODY_UNTIL_CLOSE ? HTTP_BODY_NONE : r->body,
        .content_length = r->content_length,
        .websocket = c->websocket,
        .trusted = cfg_cidr_match(cfg.trusted_proxies, cfg.n_trusted_proxies,
                                  c->client_ip),
    };
    ssize_t n;

    if (c->head == NULL) {
        c->head_cap = 4096;
        if ((c->head = malloc(c->head_cap)) == NULL)
            return -1;
    }
    n = proxy_rewrite_request(c->head, c->head_cap, r, &rw);
    if (n < 0) {
        char *p = realloc(c->head, PROXY_MAX_OUT_HEAD);
        if (p == NULL)
            return -1;
        c->head = p;
        c->head_cap = PROXY_MAX_OUT_HEAD;
        n = proxy_rewrite_request(c->head, c->head_cap, r, &rw);
    }
    if (n < 0)
        return -1;
    c->head_len = (size_t)n;
    return 0;
}

static void
note_request(struct proxy_conn *c, const struct http_request *r)
{
    copy_span(c->method, sizeof c->method, r->method);
    copy_span(c->host, sizeof c->host, r->host);
    copy_span(c->path, sizeof c->path, r->target);
    c->client_minor = r->minor_version;
    c->client_keep_alive = r->keep_alive;
    c->is_head = r->is_head;
    c->idempotent = is_idempotent(r->method);
    c->websocket = r->websocket;
}

/* The port in redirects: the configured HTTPS port. */
static unsigned
https_port(void)
{
    const struct sockaddr *sa = (const struct sockaddr *)&cfg.https_listen.sa;

    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

/*
 * Responds to an ACME HTTP-01 request on the HTTP listener for any host, before
 * routing, so neither a redirect nor an upstream sees it. Returns true
 * when the request was answered.
 */
static bool
answer_challenge(struct proxy_conn *c, const struct http_request *r,
                 size_t head_len)
{
    char key_authorization[512];
    struct http_span token;
    bool found;

    if (c->listener->tls || !proxy_tls_acme_on() ||
        !proxy_https_challenge_token(r->method, r->target, &token))
        return false;
    /* token points into the input buffer, so draining waits for lookup. */
    found = acme_http01_lookup(token.p, token.len, key_authorization,
                               sizeof key_authorization) == 0;
    evbuffer_drain(bufferevent_get_input(c->client), head_len);
    if (!found) {
        respond(c, 404, "", "unknown challenge token\n", "acme_challenge");
        return true;
    }
    respond(c, 200, "", key_authorization, "acme_challenge");
    return true;
}

/* Redirects or rejects the request as its route's policy requires. Returns
 * true when the request was answered. */
static bool
apply_https_policy(struct proxy_conn *c, const struct http_request *r,
                   enum route_https https, size_t head_len)
{
    bool https_on = cfg.https_listen.len > 0;
    bool has_cert = false;
    char host[256];
    char extra[1200];
    int host_len = route_normalize_host(r->host.p, r->host.len, host,
                                        sizeof host - 1);
    ssize_t n;

    if (host_len < 0)
        return false;
    host[host_len] = '\0';
    if (!c->listener->tls && https == ROUTE_HTTPS_REDIRECT && https_on)
        has_cert = proxy_tls_has_cert(host);
    switch (proxy_https_decide(https, c->listener->tls, https_on, has_cert)) {
    case PROXY_HTTPS_FORWARD:
        return false;
    case PROXY_HTTPS_REJECT:
        evbuffer_drain(bufferevent_get_input(c->client), head_len);
        respond_error(c, 503, c->listener->tls ? "https_off" : "http_off");
        return true;
    case PROXY_HTTPS_REDIRECT:
        break;
    }
    memcpy(extra, "Location: ", 10);
    n = proxy_https_location(extra + 10, sizeof extra - 12, host, r->target,
                             https_port());
    if (n < 0)
        return false;
    memcpy(extra + 10 + n, "\r\n", 3);
    evbuffer_drain(bufferevent_get_input(c->client), head_len);
    respond(c, 301, extra, "moved to HTTPS\n", "https_redirect");
    return true;
}

static void
read_head(struct proxy_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->client);
    size_t len = evbuffer_get_length(in);
    struct http_request *r = &c->w->req;
    size_t max_head = (size_t)cfg.max_header_size;
    enum route_https https;
    ssize_t n;
    const char *p;

    if (len == 0)
        return;
    if (!c->head_started) {
        c->head_started = true;
        c->requests++;
        if (c->requests > 1)
            arm_head_timer(c, cfg.header_timeout);
    }
    if (len > max_head + 4)
        len = max_head + 4;
    p = (const char *)evbuffer_pullup(in, (ssize_t)len);
    n = http_parse_request(p, len, max_head, r);
    if (n == 0 && len > max_head)
        n = -431;
    if (n == 0)
        return;
    event_del(c->head_timer);
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    if (n > 0 && r->n_headers > (size_t)cfg.max_headers)
        n = -431;
    if (n < 0) {
        respond_error(c, (int)-n, "bad_request");
        return;
    }

    note_request(c, r);
    if (r->host.len == 0) {
        evbuffer_drain(in, (size_t)n);
        respond_error(c, 400, "bad_request");
        return;
    }
    proxy_body_init(&c->req_body, r->body, r->content_length,
                    r->body == HTTP_BODY_CHUNKED);
    if (answer_challenge(c, r, (size_t)n))
        return;
    if (find_targets(c, r, &https) < 0) {
        evbuffer_drain(in, (size_t)n);
        respond_error(c, 503, "no_route");
        return;
    }
    if (c->max_body > 0 && r->body == HTTP_BODY_LENGTH &&
        r->content_length > (uint64_t)c->max_body) {
        evbuffer_drain(in, (size_t)n);
        proxy_body_init(&c->req_body, r->body, r->content_length, false);
        log_info("proxy", "request body too large",
                 "client=%s host=%s length=%llu limit=%lld", c->client_ip,
                 c->host, (unsigned long long)r->content_length, c->max_body);
        respond_error(c, 413, "body_too_large");
        return;
    }
    if (apply_https_policy(c, r, https, (size_t)n))
        return;
    if (rewrite_head(c, r) < 0) {
        evbuffer_drain(in, (size_t)n);
        respond_error(c, 431, "bad_request");
        return;
    }
    evbuffer_drain(in, (size_t)n);
    /* Reading stays enabled so a closing client is noticed, but without a
     * read timeout once the body is in: a download can take hours. */
    proxy_reader_set_timeouts(&c->client_reader,
                              c->req_body.done ? 0 : PROXY_BODY_TIMEOUT,
                              PROXY_BODY_TIMEOUT);
    connect_upstream(c, true);
}

/* Is the request body, counted as it streams, over the route's limit? */
static bool
body_too_large(const struct proxy_conn *c)
{
    return c->max_body > 0 && c->req_body.bytes_in > (uint64_t)c->max_body;
}

/* Moves request body bytes upstream, pausing the client when the
 * upstream's output is full. */
static void
forward_request_body(struct proxy_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->up->bev);
    int rc = proxy_body_move(&c->req_body, bufferevent_get_input(c->client),
                             out);

    if (rc >= 0 && body_too_large(c)) {
        /* Checked before the flush, so that the bytes of this read, the
         * end of the body among them, stay in the output that is dropped
         * with the upstream connection. */
        log_info("proxy", "request body too large",
                 "client=%s host=%s limit=%lld", c->client_ip, c->host,
                 c->max_body);
        c->client_keep_alive = false;
        if (c->status == 0)
            respond_error(c, 413, "body_too_large");
        else
            abort_request(c, "body_too_large");
        return;
    }
    flush_upstream(c);
    if (rc < 0) {
        if (c->state == CONN_FORWARD) {
            respond_error(c, 400, "bad_request");
        } else {
            abort_request(c, "bad_request");
        }
        return;
    }
    if (rc == 1) {
        proxy_reader_set_timeouts(&c->client_reader, 0, PROXY_BODY_TIMEOUT);
        proxy_reader_set_timeouts(&c->up->reader,
                                  cfg.upstream_response_timeout,
                                  PROXY_BODY_TIMEOUT);
    } else if (evbuffer_get_length(out) > PROXY_HIGH_WATER) {
        proxy_reader_enable(&c->client_reader, false);
        c->client_paused = true;
    }
}

/* Writes the request head on a connected upstream connection. */
static void
send_head(struct proxy_conn *c)
{
    struct bufferevent *up = c->up->bev;

    c->state = CONN_FORWARD;
    evbuffer_add(bufferevent_get_output(up), c->head, c->head_len);
    /* The response timeout starts once the whole request is sent. */
    proxy_reader_set_timeouts(&c->up->reader,
                              c->req_body.done ? cfg.upstream_response_timeout
                                               : 0,
                              PROXY_BODY_TIMEOUT);
    proxy_reader_enable(&c->up->reader, true);
    if (!c->req_body.done)
        forward_request_body(c);
    else
        flush_upstream(c);
}

static void
attach_upstream(struct proxy_conn *c, struct proxy_upconn *u)
{
    c->up = u;
    bufferevent_setcb(u->bev, on_up_read, on_up_write, on_up_event, c);
    bufferevent_setwatermark(u->bev, EV_WRITE, PROXY_LOW_WATER, 0);
}

static void
host_for_sni(const struct proxy_conn *c, char *out, size_t cap)
{
    size_t n = proxy_host_len(c->host, strlen(c->host));

    if (n >= cap)
        n = cap - 1;
    memcpy(out, c->host, n);
    out[n] = '\0';
}

/*
 * Takes a pooled connection to the current target or starts a connect;
 * a target that cannot even start one is skipped. 502 when none is left.
 */
static void
connect_upstream(struct proxy_conn *c, bool use_pool)
{
    char sni[256];

    host_for_sni(c, sni, sizeof sni);
    for (; c->target < c->n_targets; c->target++) {
        const struct proxy_target *t = &c->targets[c->target];
        struct proxy_upconn *u = use_pool ? proxy_pool_take(c->w, t) : NULL;
        if (u != NULL) {
            attach_upstream(c, u);
            send_head(c);
            return;
        }
        u = proxy_upconn_connect(c->w, t, sni);
        if (u != NULL) {
            attach_upstream(c, u);
            c->state = CONN_CONNECTING;
            return;
        }
        proxy_upstream_down(t, strerror(errno));
        metrics_upstream_connect_failed(c->w->id);
    }
    c->target = 0;
    if (c->connect_timed_out)
        respond_error(c, 504, "connect_timeout");
    else
        respond_error(c, 502, "connect_failed");
}

static const char *
describe_error(struct bufferevent *bev, short what, char *buf, size_t cap)
{
    unsigned long e;

    if (what & BEV_EVENT_TIMEOUT)
        return "timed out";
    if ((e = bufferevent_get_openssl_error(bev)) != 0) {
        ERR_error_string_n(e, buf, cap);
        return buf;
    }
    if (what & BEV_EVENT_EOF)
        return "connection closed";
    return evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
}

static void
on_connect_result(struct proxy_conn *c, short what)
{
    const struct proxy_target *t = &c->targets[c->target];
    char buf[256];

    if (what & BEV_EVENT_CONNECTED) {
        proxy_upstream_up(t);
        set_nodelay(c->up->bev);
        send_head(c);
        return;
    }
    c->connect_timed_out = (what & BEV_EVENT_TIMEOUT) != 0;
    proxy_upstream_down(t, describe_error(c->up->bev, what, buf, sizeof buf));
    metrics_upstream_connect_failed(c->w->id);
    drop_upstream(c);
    c->target++;
    connect_upstream(c, true);
}

/* Relays an interim response (100 Continue, 103) to HTTP/1.1 clients. */
static void
relay_interim(struct proxy_conn *c, size_t head_len)
{
    struct evbuffer *in = bufferevent_get_input(c->up->bev);

    if (c->client_minor >= 1) {
        evbuffer_remove_buffer(in, bufferevent_get_output(c->client),
                               head_len);
        flush_client(c);
    } else
        evbuffer_drain(in, head_len);
}

static void
start_tunnel(struct proxy_conn *c)
{
    c->state = CONN_TUNNEL;
    c->req_body.done = true;
    proxy_reader_set_timeouts(&c->client_reader, cfg.tunnel_timeout,
                              cfg.tunnel_timeout);
    proxy_reader_set_timeouts(&c->up->reader, cfg.tunnel_timeout,
                              cfg.tunnel_timeout);
    proxy_reader_enable(&c->client_reader, true);
    proxy_reader_enable(&c->up->reader, true);
}

/* Chooses the response framing towards the client and writes the head. */
static void
send_response_head(struct proxy_conn *c, const struct http_response *r)
{
    struct rewrite_response rw = {.body = r->body,
                                  .content_length = r->content_length};
    ssize_t n;

    if (r->body == HTTP_BODY_CHUNKED || r->body == HTTP_BODY_UNTIL_CLOSE) {
        if (c->client_minor >= 1) {
            rw.body = HTTP_BODY_CHUNKED;
        } else {
            rw.body = HTTP_BODY_UNTIL_CLOSE;
            c->close_after = true;
        }
    }
    if (!c->req_body.done) {
        /* The upstream responded before the whole body arrived (413, or
         * 401 after Expect), so forwarding stops and the client connection
         * closes after the response. */
        c->close_after = true;
        proxy_reader_enable(&c->client_reader, false);
        c->client_paused = false;
    }
    if (c->w->draining)
        c->close_after = true;
    rw.keep_alive = c->client_keep_alive && !c->close_after;
    rw.upgrade = r->upgrade;
    rw.hsts = c->hsts[0] ? c->hsts : NULL;
    n = proxy_rewrite_response(c->w->out_head, PROXY_MAX_OUT_HEAD, r, &rw);
    if (n < 0) {
        respond_error(c, 502, "bad_response");
        return;
    }
    evbuffer_add(bufferevent_get_output(c->client), c->w->out_head,
                 (size_t)n);
    c->bytes_sent += (uint64_t)n;
    c->status = r->status;
    proxy_body_init(&c->resp_body, r->body, r->content_length,
                    rw.body == HTTP_BODY_CHUNKED);
}

static void
finish_response(struct proxy_conn *c, bool up_keep)
{
    struct proxy_upconn *u = c->up;

    c->up = NULL;
    c->bytes_sent += c->resp_body.bytes_in;
    if (up_keep && !c->up_eof && c->req_body.done &&
        c->resp_body.in != HTTP_BODY_UNTIL_CLOSE)
        proxy_pool_put(u);
    else
        proxy_upconn_free(u);
    log_request(c);
    if (c->close_after || !c->client_keep_alive || c->w->draining)
        start_closing(c);
    else
        begin_request(c, cfg.keepalive_timeout);
}

static void
forward_response_body(struct proxy_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->client);
    struct evbuffer *in = bufferevent_get_input(c->up->bev);
    int rc = proxy_body_move(&c->resp_body, in, out);

    if (c->up_eof && rc == 0)
        proxy_body_end(&c->resp_body, out);
    flush_client(c);
    if (rc < 0) {
        log_warn("proxy", "upstream sent invalid chunked body",
                 "upstream=%s host=%s", c->targets[c->target].addr_text,
                 c->host);
        abort_request(c, "bad_response");
    } else if (rc == 1) {
        finish_response(c, c->up_keep);
    } else if (c->up_eof) {
        finish_response(c, false);
    } else if (evbuffer_get_length(out) > PROXY_HIGH_WATER) {
        proxy_reader_enable(&c->up->reader, false);
        c->up_paused = true;
    }
}

static void
read_response_head(struct proxy_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->up->bev);
    struct http_response *r = &c->w->resp;

    for (;;) {
        size_t len = evbuffer_get_length(in);
        const char *p;
        ssize_t n;

        if (len == 0)
            return;
        if (len > PROXY_MAX_HEAD + 4)
            len = PROXY_MAX_HEAD + 4;
        p = (const char *)evbuffer_pullup(in, (ssize_t)len);
        n = http_parse_response(p, len, PROXY_MAX_HEAD, c->is_head, r);
        if (n == 0 && len <= PROXY_MAX_HEAD)
            return;
        if (n <= 0) {
            log_warn("proxy", "upstream response invalid",
                     "upstream=%s host=%s", c->targets[c->target].addr_text,
                     c->host);
            respond_error(c, 502, "bad_response");
            return;
        }
        if (r->status >= 100 && r->status < 200 && r->status != 101) {
            relay_interim(c, (size_t)n);
            continue;
        }
        if (r->status == 101 && !c->websocket) {
            respond_error(c, 502, "bad_response");
            return;
        }
        c->up_keep = r->keep_alive;
        send_response_head(c, r);
        if (c->up == NULL)
            return;
        evbuffer_drain(in, (size_t)n);
        if (r->status == 101) {
            start_tunnel(c);
            on_up_read(c->up->bev, c);
            on_client_read(c->client, c);
            return;
        }
        c->state = CONN_RESPONSE;
        proxy_reader_set_timeouts(&c->up->reader,
                                  cfg.upstream_response_timeout,
                                  PROXY_BODY_TIMEOUT);
        forward_response_body(c);
        return;
    }
}

/* Moves tunnel bytes from one side to the other with backpressure. */
static void
relay(struct proxy_reader *from, struct bufferevent *to, bool raw,
      bool *paused)
{
    struct evbuffer *out = bufferevent_get_output(to);

    evbuffer_add_buffer(out, bufferevent_get_input(from->bev));
    flush_output(to, raw);
    if (evbuffer_get_length(out) > PROXY_HIGH_WATER) {
        proxy_reader_enable(from, false);
        *paused = true;
    }
}

static void
on_client_read(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;

    switch (c->state) {
    case CONN_READ_HEAD:
        read_head(c);
        break;
    case CONN_FORWARD:
        if (!c->req_body.done)
            forward_request_body(c);
        break;
    case CONN_TUNNEL:
        relay(&c->client_reader, c->up->bev, !c->up->tls,
              &c->client_paused);
        break;
    case CONN_CLOSING:
    case CONN_LINGER:
        evbuffer_drain(bufferevent_get_input(bev),
                       evbuffer_get_length(bufferevent_get_input(bev)));
        break;
    default:
        break;
    }
}

static void
on_client_write(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;

    if (c->state == CONN_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            on_flushed(c);
        return;
    }
    if (c->state == CONN_LINGER)
        return;
    if (!c->up_paused ||
        evbuffer_get_length(bufferevent_get_output(bev)) > PROXY_LOW_WATER)
        return;
    c->up_paused = false;
    proxy_reader_enable(&c->up->reader, true);
    if (c->state == CONN_RESPONSE)
        forward_response_body(c);
    else if (c->state == CONN_TUNNEL)
        relay(&c->up->reader, c->client, !c->listener->tls,
              &c->up_paused);
}

static void
on_client_event(struct bufferevent *bev, short what, void *arg)
{
    struct proxy_conn *c = arg;

    /* A TLS listener's bufferevent reports the finished handshake. */
    if (what & BEV_EVENT_CONNECTED) {
        metrics_tls_handshake(c->w->id, true);
        return;
    }
    switch (c->state) {
    case CONN_READ_HEAD:
        if (c->listener->tls && (what & BEV_EVENT_ERROR))
            log_tls_failure(c, bev, what);
        if (c->listener->tls && (what & BEV_EVENT_ERROR) &&
            !SSL_is_init_finished(bufferevent_openssl_get_ssl(bev)))
            metrics_tls_handshake(c->w->id, false);
        proxy_conn_free(c);
        return;
    case CONN_CLOSING:
    case CONN_LINGER:
        proxy_conn_free(c);
        return;
    case CONN_TUNNEL:
        c->end = (what & BEV_EVENT_TIMEOUT) ? "tunnel_timeout" : "ok";
        if (what & BEV_EVENT_TIMEOUT)
            log_info("proxy", "tunnel timed out", "client=%s host=%s",
                     c->client_ip, c->host);
        log_request(c);
        proxy_conn_free(c);
        return;
    default:
        c->end = (what & BEV_EVENT_TIMEOUT) ? "client_timeout"
                                            : "client_closed";
        if (c->status == 0)
            c->status = 499;
        c->bytes_sent += c->resp_body.bytes_in;
        log_request(c);
        proxy_conn_free(c);
    }
}

static void
on_up_read(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;

    switch (c->state) {
    case CONN_FORWARD:
        read_response_head(c);
        break;
    case CONN_RESPONSE:
        forward_response_body(c);
        break;
    case CONN_TUNNEL:
        relay(&c->up->reader, c->client, !c->listener->tls,
              &c->up_paused);
        break;
    default:
        break;
    }
}

static void
on_up_write(struct bufferevent *bev, void *arg)
{
    struct proxy_conn *c = arg;

    if (!c->client_paused ||
        evbuffer_get_length(bufferevent_get_output(bev)) > PROXY_LOW_WATER)
        return;
    c->client_paused = false;
    proxy_reader_enable(&c->client_reader, true);
    if (c->state == CONN_TUNNEL)
        relay(&c->client_reader, c->up->bev, !c->up->tls,
              &c->client_paused);
    else if (!c->req_body.done)
        forward_request_body(c);
}

/*
 * A pooled connection can have been closed by the upstream just as the
 * request went out. A body-less idempotent request is then sent again once,
 * on a fresh connection (RFC 9112 section 9.3.1).
 */
static bool
retry_fresh(struct proxy_conn *c)
{
    if (!c->up->reused || c->retried || !c->idempotent ||
        c->req_body.in != HTTP_BODY_NONE ||
        evbuffer_get_length(bufferevent_get_input(c->up->bev)) > 0)
        return false;
    drop_upstream(c);
    c->retried = true;
    connect_upstream(c, false);
    return true;
}

static void
on_up_closed(struct proxy_conn *c, short what)
{
    switch (c->state) {
    case CONN_FORWARD:
        if (what & BEV_EVENT_TIMEOUT) {
            log_warn("proxy", "upstream timed out",
                     "upstream=%s client=%s host=%s",
                     c->targets[c->target].addr_text, c->client_ip, c->host);
            respond_error(c, 504, "upstream_timeout");
        } else if (!retry_fresh(c)) {
            respond_error(c, 502, "upstream_closed");
        }
        break;
    case CONN_RESPONSE:
        if (!(what & BEV_EVENT_TIMEOUT) &&
            c->resp_body.in == HTTP_BODY_UNTIL_CLOSE) {
            c->up_eof = true;
            forward_response_body(c);
        } else {
            c->bytes_sent += c->resp_body.bytes_in;
            abort_request(c, (what & BEV_EVENT_TIMEOUT) ? "upstream_timeout"
                                                        : "upstream_closed");
        }
        break;
    case CONN_TUNNEL:
        evbuffer_add_buffer(bufferevent_get_output(c->client),
                            bufferevent_get_input(c->up->bev));
        c->end = (what & BEV_EVENT_TIMEOUT) ? "tunnel_timeout" : "ok";
        if (what & BEV_EVENT_TIMEOUT)
            log_info("proxy", "tunnel timed out", "client=%s host=%s",
                     c->client_ip, c->host);
        log_request(c);
        start_closing(c);
        break;
    default:
        break;
    }
}

static void
on_up_event(struct bufferevent *bev, short what, void *arg)
{
    struct proxy_conn *c = arg;

    if (c->state == CONN_CONNECTING) {
        on_connect_result(c, what);
        return;
    }
    if (what & BEV_EVENT_CONNECTED)
        return;
    on_up_closed(c, what);
}

/* Wraps an accepted HTTPS connection; the handshake runs on first use. */
static struct bufferevent *
open_client_tls(struct proxy_conn *c, evutil_socket_t fd)
{
    SSL *ssl = proxy_tls_new_ssl(c);
    struct bufferevent *bev;

    if (ssl == NULL)
        return NULL;
    bev = bufferevent_openssl_socket_new(c->w->base, fd, ssl,
                                         BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    /* A client closing without close_notify ends the connection like a
     * plain EOF, as with any HTTP/1.1 client that reads to the end. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* Logs why a TLS connection failed before its first request, at debug
 * level: scanners and clients that reject the certificate do this all day. */
static void
log_tls_failure(struct proxy_conn *c, struct bufferevent *bev, short what)
{
    unsigned long e;
    char buf[256] = "";

    /* libevent also queues bare SSL_get_error codes, which have no
     * library; only OpenSSL's own errors say what went wrong. */
    while ((e = bufferevent_get_openssl_error(bev)) != 0)
        if (ERR_GET_LIB(e) != 0)
            ERR_error_string_n(e, buf, sizeof buf);
    if (buf[0] != '\0' && !(what & BEV_EVENT_EOF))
        log_debug("tls", "TLS connection failed", "client=%s error=%s",
                  c->client_ip, buf);
}

/*
 * Ends the wait for a request head: 408 when part of a head arrived (a
 * slow client), a silent close for an idle connection.
 */
static void
on_head_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_conn *c = arg;

    if (c->state != CONN_READ_HEAD)
        return;
    if (!c->head_started) {
        log_info("proxy", "idle client connection timed out",
                 "client=%s requests=%u", c->client_ip,
                 (unsigned)c->requests);
        proxy_conn_free(c);
        return;
    }
    log_info("proxy", "client request head timed out", "client=%s host=-",
             c->client_ip);
    clock_gettime(CLOCK_MONOTONIC, &c->start);
    evbuffer_drain(bufferevent_get_input(c->client),
                   evbuffer_get_length(bufferevent_get_input(c->client)));
    respond_error(c, 408, "header_timeout");
}

void
proxy_conn_close_idle(struct proxy_conn *c)
{
    if (c->state == CONN_READ_HEAD && !c->head_started)
        proxy_conn_free(c);
}

void
proxy_conn_new(struct proxy_worker *w, const struct proxy_listener *l,
               evutil_socket_t fd, const struct sockaddr *sa)
{
    struct proxy_conn *c = calloc(1, sizeof *c);

    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->w = w;
    c->listener = l;
    if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  c->client_ip, sizeof c->client_ip);
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
                  c->client_ip, sizeof c->client_ip);
    if (l->tls)
        c->client = open_client_tls(c, fd);
    else
        c->client = bufferevent_socket_new(w->base, fd,
                                           BEV_OPT_CLOSE_ON_FREE);
    if (c->client == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->head_timer = evtimer_new(w->base, on_head_timeout, c);
    if (c->head_timer == NULL) {
        bufferevent_free(c->client);
        free(c);
        return;
    }
    atomic_fetch_add(&proxy_n_conns, 1);
    metrics_connection_open(w->id);
    proxy_reader_init(&c->client_reader, c->client, !l->tls);
    set_nodelay(c->client);
    bufferevent_set_max_single_read(c->client, PROXY_IO_CHUNK);
    bufferevent_set_max_single_write(c->client, PROXY_IO_CHUNK);
    bufferevent_setcb(c->client, on_client_read, on_client_write,
                      on_client_event, c);
    bufferevent_setwatermark(c->client, EV_WRITE, PROXY_LOW_WATER, 0);
    /* Pipelined requests wait in the input buffer up to this much. */
    proxy_reader_set_high_water(&c->client_reader, PROXY_HIGH_WATER);
    LIST_INSERT_HEAD(&w->conns, c, link);
    begin_request(c, cfg.header_timeout);
}

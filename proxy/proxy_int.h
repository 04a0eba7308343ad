/* Internals shared by the proxy's worker, connection and upstream code. */
#ifndef PORTICO_PROXY_INT_H
#define PORTICO_PROXY_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "http.h"
#include "route.h"

/* Largest response head; request heads are limited by --max-header-size,
 * at most PROXY_MAX_REQUEST_HEAD. */
#define PROXY_MAX_HEAD (32 * 1024)
#define PROXY_MAX_REQUEST_HEAD (64 * 1024)
/* Rewritten heads add X-Forwarded-* (the Host value again) to the input. */
#define PROXY_MAX_OUT_HEAD (2 * PROXY_MAX_REQUEST_HEAD + 1024)
/* Reading one side stops while the other side's output buffer contains
 * more than PROXY_HIGH_WATER bytes, and resumes below PROXY_LOW_WATER. */
#define PROXY_HIGH_WATER (256 * 1024)
/* Maximum bytes per write(2), and per read of a TLS bufferevent. */
#define PROXY_IO_CHUNK (64 * 1024)
/* Bytes asked of one read(2) on a plain socket: a 16 KiB response with its
 * head in one call. Kept under 32 KiB so that the evbuffer chain libevent
 * allocates for it, header included, fits a 32 KiB allocation. */
#define PROXY_READ_CHUNK (32 * 1024 - 512)
#define PROXY_LOW_WATER (64 * 1024)
/* Upstreams of one route tried per request before 502. */
#define PROXY_MAX_TRIES 8
#define PROXY_POOL_MAX_IDLE 64

/* Timeouts in seconds; a test build may define shorter ones. The header,
 * keep-alive, upstream connect, upstream response and tunnel timeouts are
 * options (cfg). */
#ifndef PROXY_BODY_TIMEOUT
#define PROXY_BODY_TIMEOUT 60
#endif
#ifndef PROXY_POOL_IDLE_TIMEOUT
#define PROXY_POOL_IDLE_TIMEOUT 60
#endif

/* One upstream address copied out of a routing snapshot. */
struct proxy_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool tls;
    char addr_text[ROUTE_ADDR_TEXT_MAX];
};

struct proxy_bucket;

/*
 * The read side of a bufferevent. On a plain socket Portico reads by
 * itself, because libevent 2.1 calls ioctl(FIONREAD) before every read(2)
 * and reads at most 4 KiB. The bufferevent's EV_READ then stays disabled,
 * so reading must be switched and timed only through proxy_reader_*. A TLS
 * bufferevent (raw false) reads through libevent as usual. Either way the
 * callbacks set with bufferevent_setcb run as libevent runs them: on end of
 * file, error or read timeout, reading is disabled and the event callback
 * gets BEV_EVENT_READING with BEV_EVENT_EOF, _ERROR or _TIMEOUT.
 */
struct proxy_reader {
    struct bufferevent *bev;
    struct event *ev; /* the socket's read event, created on first enable */
    struct evbuffer_cb_entry *drain_cb; /* set while reading is suspended */
    size_t high_water; /* input length that suspends reading; 0 for none */
    int read_timeout;  /* seconds, 0 for none */
    int write_timeout; /* seconds, 0 for none, -1 before the first set */
    bool raw;
    bool enabled;
    bool suspended;
};

/* A connection to an upstream, owned by a request or idle in the pool. */
struct proxy_upconn {
    struct bufferevent *bev;
    struct proxy_reader reader;
    struct proxy_worker *w;
    struct proxy_bucket *bucket; /* non-NULL while idle in the pool */
    TAILQ_ENTRY(proxy_upconn) idle_link;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool tls;
    bool reused; /* taken from the pool, not freshly connected */
};

/* The idle connections of one worker to one (address, tls) pair. */
struct proxy_bucket {
    LIST_ENTRY(proxy_bucket) link;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool tls;
    unsigned n_idle;
    TAILQ_HEAD(proxy_upconn_list, proxy_upconn) idle;
};

/* Progress of a message body from one buffer to another. */
struct proxy_body {
    enum http_body in;
    bool chunked_out;   /* re-encode as chunked towards the peer */
    uint64_t remaining; /* with HTTP_BODY_LENGTH */
    struct http_chunked chunked;
    uint64_t bytes_in;  /* body bytes moved, without framing */
    bool done;
};

enum conn_state {
    CONN_READ_HEAD,  /* waiting for a request head (or keep-alive idle) */
    CONN_CONNECTING, /* request parsed, upstream connection pending */
    CONN_FORWARD,    /* head sent upstream, body and response head pending */
    CONN_RESPONSE,   /* response head sent to the client, body streaming */
    CONN_TUNNEL,     /* after 101: bytes relayed both ways */
    CONN_CLOSING,    /* flushing the last response, then closing */
    CONN_LINGER,     /* write side shut, discarding unread input */
};

struct proxy_listener {
    struct evconnlistener *ev;
    struct proxy_worker *w;
    unsigned port;
    const char *proto; /* "http" or "https" */
    bool tls;
};

struct proxy_worker {
    int id;
    struct event_base *base;
    struct proxy_listener http;
    struct proxy_listener https; /* ev NULL when HTTPS is off */
    pthread_t thread;
    int stop_pipe[2];
    struct event *stop_ev;
    struct route_reader *rd;
    /* Scratch space for head parsing, used within one callback. */
    struct http_request req;
    struct http_response resp;
    LIST_HEAD(, proxy_conn) conns;
    LIST_HEAD(, proxy_bucket) buckets;
    char *out_head; /* PROXY_MAX_OUT_HEAD bytes for response heads */
    /* Set by a graceful stop: listeners are closed and connections end
     * after their response in flight. */
    bool draining;
    struct event *drain_ev;
};

struct proxy_conn {
    struct proxy_worker *w;
    LIST_ENTRY(proxy_conn) link;
    struct bufferevent *client;
    struct proxy_reader client_reader;
    struct proxy_upconn *up;
    enum conn_state state;
    const struct proxy_listener *listener;
    /* The header timeout, or the keep-alive timeout until a kept-alive
     * connection receives the first byte of its next head. */
    struct event *head_timer;
    unsigned requests; /* requests started on the connection */
    bool head_started; /* bytes of the current head arrived */
    char client_ip[INET6_ADDRSTRLEN];

    /* The request in flight; reset for the next one on the connection. */
    char method[16];
    char host[256]; /* Host header value, for the log and SNI */
    char path[512]; /* request target, truncated for the log */
    int client_minor;
    bool client_keep_alive;
    bool is_head;
    bool idempotent;
    bool websocket;
    bool retried;       /* a pooled connection already failed once */
    bool close_after;   /* close the client connection after the response */
    bool client_paused; /* client reads stopped for upstream backpressure */
    bool up_paused;     /* upstream reads stopped for client backpressure */
    bool up_eof;
    bool up_keep; /* the upstream allows another request */
    bool connect_timed_out; /* the last upstream connect attempt timed out */
    struct proxy_body req_body;
    struct proxy_body resp_body;
    char *head; /* rewritten request head, kept for a retry */
    size_t head_len;
    size_t head_cap;
    struct proxy_target targets[PROXY_MAX_TRIES];
    size_t n_targets;
    size_t target; /* index of the target in use */
    int status;
    char hsts[256]; /* Strict-Transport-Security to add over HTTPS, or "" */
    long long max_body; /* body limit of the request's route, 0: none */
    uint64_t bytes_sent;
    struct timespec start;
    const char *end;
};

/* upstream.c */
struct proxy_upconn *proxy_upconn_connect(struct proxy_worker *w,
                                          const struct proxy_target *t,
                                          const char *sni);
void proxy_upconn_free(struct proxy_upconn *u);
struct proxy_upconn *proxy_pool_take(struct proxy_worker *w,
                                     const struct proxy_target *t);
void proxy_pool_put(struct proxy_upconn *u);
void proxy_pool_free(struct proxy_worker *w);
void proxy_upstream_down(const struct proxy_target *t, const char *error);
void proxy_upstream_up(const struct proxy_target *t);
int proxy_tls_init(void);
void proxy_tls_free(void);

/* body.c */
void proxy_body_init(struct proxy_body *b, enum http_body in,
                     uint64_t length, bool chunked_out);
int proxy_body_move(struct proxy_body *b, struct evbuffer *src,
                    struct evbuffer *dst);
void proxy_body_end(struct proxy_body *b, struct evbuffer *dst);
void proxy_reader_init(struct proxy_reader *r, struct bufferevent *bev,
                       bool raw);
void proxy_reader_free(struct proxy_reader *r);
void proxy_reader_set_high_water(struct proxy_reader *r, size_t high);
void proxy_reader_enable(struct proxy_reader *r, bool on);
/* Sets the read and write timeouts in seconds, 0 for none. */
void proxy_reader_set_timeouts(struct proxy_reader *r, int read_s,
                               int write_s);

/* tls.c: the HTTPS listener's contexts (all inactive when HTTPS is off). */
int proxy_tls_server_init(void);
void proxy_tls_server_free(void);
/* Returns an SSL for an accepted connection, with conn as its app data. */
SSL *proxy_tls_new_ssl(void *conn);
/* Applies the protocol range, ciphers, ALPN and ticket keys of the HTTPS
 * listener to a context that serves certificates. */
void proxy_tls_setup_ctx(SSL_CTX *ctx);
/* Loads a certificate (with any chain after it), optional extra chain and
 * key into a new set-up context. Returns NULL with the file and reason
 * written to error. */
SSL_CTX *proxy_tls_load_ctx(const char *cert_file, const char *key_file,
                            const char *chain_file, char *error, size_t cap);
int proxy_tls_add_chain(SSL_CTX *ctx, const char *path);
int proxy_tls_parse_sni(const unsigned char *p, size_t len, char *name,
                        size_t cap);
bool proxy_tls_alpn_offers(const unsigned char *p, size_t len,
                           const char *proto);
/* Is there a --certs-dir or ACME certificate for exactly this name (or an
 * ACME wildcard covering it)? The default certificate does not count. */
bool proxy_tls_has_cert(const char *name);
/* Does the proxy respond to ACME challenges (HTTPS on and ACME not off)? */
bool proxy_tls_acme_on(void);

/* certs.c */
int proxy_certs_start(const char *dir);
void proxy_certs_stop(void);
/* Returns a referenced context for exactly name, or NULL. */
SSL_CTX *proxy_certs_get(const char *name);
/* Writes the lower-case host of "<host>.crt" to host. Returns 0, or -1 for
 * any other file name and for nginx-proxy's "default.crt". */
int proxy_certs_host_from_file(const char *file, char *host, size_t cap);

/* https.c */
enum proxy_https_action {
    PROXY_HTTPS_FORWARD,  /* proxy the request */
    PROXY_HTTPS_REDIRECT, /* 301 to the same target over HTTPS */
    PROXY_HTTPS_REJECT,   /* 503: the route is not served on this listener */
};

/* Finds the token of an ACME HTTP-01 request (GET or HEAD of
 * /.well-known/acme-challenge/<token>). */
bool proxy_https_challenge_token(struct http_span method,
                                 struct http_span target,
                                 struct http_span *token);
enum proxy_https_action proxy_https_decide(enum route_https policy,
                                           bool over_tls, bool https_on,
                                           bool has_cert);
ssize_t proxy_https_location(char *out, size_t cap, const char *host,
                             struct http_span target, unsigned port);

/* proxy.c: client connections open across workers. */
extern _Atomic int proxy_n_conns;

/* conn.c */
/* Closes a connection waiting for its next request (a graceful stop). */
void proxy_conn_close_idle(struct proxy_conn *c);
void proxy_conn_new(struct proxy_worker *w, const struct proxy_listener *l,
                    evutil_socket_t fd, const struct sockaddr *sa);
void proxy_conn_free(struct proxy_conn *c);

#endif

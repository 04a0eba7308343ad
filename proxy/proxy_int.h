/* Internals shared by the proxy's worker, connection and upstream code. */
#ifndef PORTICO_PROXY_INT_H
#define PORTICO_PROXY_INT_H

#include <netinet/in.h>
#include <pthread.h>
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

#define PROXY_MAX_HEAD (32 * 1024)
/* Rewritten heads add X-Forwarded-* (the Host value again) to the input. */
#define PROXY_MAX_OUT_HEAD (2 * PROXY_MAX_HEAD + 1024)
/* Reading one side stops while the other side's output buffer contains
 * more than PROXY_HIGH_WATER bytes, and resumes below PROXY_LOW_WATER. */
#define PROXY_HIGH_WATER (256 * 1024)
/* Bytes moved per read(2) or write(2). libevent 2.1 reads 4 KiB at a time
 * by default, which costs four system calls for a 16 KiB response. */
#define PROXY_IO_CHUNK (64 * 1024)
/* libevent 2.1's fixed maximum per read(2) on a socket bufferevent. */
#define LIBEVENT_MAX_READ 4096
#define PROXY_LOW_WATER (64 * 1024)
/* Upstreams of one route tried per request before 502. */
#define PROXY_MAX_TRIES 8
#define PROXY_POOL_MAX_IDLE 64

/* Timeouts in seconds; a test build may define shorter ones. TODO: make
 * them options. */
#ifndef PROXY_HEAD_TIMEOUT
#define PROXY_HEAD_TIMEOUT 30
#endif
#ifndef PROXY_KEEPALIVE_TIMEOUT
#define PROXY_KEEPALIVE_TIMEOUT 60
#endif
#ifndef PROXY_CONNECT_TIMEOUT
#define PROXY_CONNECT_TIMEOUT 5
#endif
#ifndef PROXY_RESPONSE_TIMEOUT
#define PROXY_RESPONSE_TIMEOUT 60
#endif
#ifndef PROXY_BODY_TIMEOUT
#define PROXY_BODY_TIMEOUT 60
#endif
#ifndef PROXY_POOL_IDLE_TIMEOUT
#define PROXY_POOL_IDLE_TIMEOUT 60
#endif
#ifndef PROXY_TUNNEL_TIMEOUT
#define PROXY_TUNNEL_TIMEOUT 3600
#endif

/* One upstream address copied out of a routing snapshot. */
struct proxy_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool tls;
    char addr_text[ROUTE_ADDR_TEXT_MAX];
};

struct proxy_bucket;

/* A connection to an upstream, owned by a request or idle in the pool. */
struct proxy_upconn {
    struct bufferevent *bev;
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
    unsigned port;
    const char *proto; /* "http"; "https" with a TLS listener later */
    bool tls;
};

struct proxy_worker {
    int id;
    struct event_base *base;
    struct proxy_listener http;
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
};

struct proxy_conn {
    struct proxy_worker *w;
    LIST_ENTRY(proxy_conn) link;
    struct bufferevent *client;
    struct proxy_upconn *up;
    enum conn_state state;
    const struct proxy_listener *listener;
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
    struct proxy_body req_body;
    struct proxy_body resp_body;
    char *head; /* rewritten request head, kept for a retry */
    size_t head_len;
    size_t head_cap;
    struct proxy_target targets[PROXY_MAX_TRIES];
    size_t n_targets;
    size_t target; /* index of the target in use */
    int status;
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

/* conn.c */
void proxy_conn_new(struct proxy_worker *w, const struct proxy_listener *l,
                    evutil_socket_t fd, const struct sockaddr *sa);
void proxy_conn_free(struct proxy_conn *c);

#endif

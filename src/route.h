/*
 * The routing table: an immutable snapshot from (host, path prefix) to a
 * list of upstreams. The watcher thread builds a new snapshot off the request
 * path and publishes it with one atomic pointer swap. Readers never lock.
 * Each reading thread owns a route_reader and brackets every use of a
 * snapshot with route_read_begin/route_read_end inside one callback. An old
 * snapshot is freed only after every reader has left the section it was in
 * when the snapshot was replaced (epoch-based reclamation).
 *
 * A snapshot must not be used after route_read_end: anything a request
 * needs later (upstream addresses for retries) is copied out before.
 */
#ifndef PORTICO_ROUTE_H
#define PORTICO_ROUTE_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

/* "[ffff:...:ffff]:65535" plus the terminator. */
#define ROUTE_ADDR_TEXT_MAX 56

/* nginx-proxy's default HSTS header value. */
#define ROUTE_HSTS_DEFAULT "max-age=31536000"

struct route_upstream {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool tls;                          /* VIRTUAL_PROTO=https */
    char addr_text[ROUTE_ADDR_TEXT_MAX]; /* "172.17.0.2:80", "[::1]:8080" */
    const char *container_id;          /* NULL for a static --route */
    const char *container_name;        /* NULL for a static --route */
};

/* Plain HTTP behaviour of a route (nginx-proxy's HTTPS_METHOD). */
enum route_https {
    ROUTE_HTTPS_REDIRECT,   /* 301 to HTTPS once a certificate exists */
    ROUTE_HTTPS_NOREDIRECT, /* both served */
    ROUTE_HTTPS_NOHTTPS,    /* HTTP only */
    ROUTE_HTTPS_NOHTTP,     /* HTTPS only; plain HTTP gets 503 */
};

/* Per-route behaviour beyond the upstreams. */
struct route_policy {
    enum route_https https;
    const char *hsts; /* Strict-Transport-Security value, NULL: none */
    long long max_body; /* portico.max-body-size in bytes, 0: the global */
};

struct route {
    const char *host;    /* lower case, no port */
    const char *path;    /* prefix, starts with '/' */
    size_t path_len;
    struct route_upstream *upstreams;
    size_t n_upstreams;
    atomic_uint *cursor; /* round-robin position, shared by all workers */
    bool is_static;      /* from --route */
    bool shadows_static; /* a container route that replaced a --route */
    struct route_policy policy;
};

/* A container that asked for routing and did not get it, with the reason. */
struct route_skip {
    const char *container_id;
    const char *container_name;
    const char *reason;
};

struct route_table;
struct route_reader;
struct route_builder;

/* Readers. Call route_reader_new once per thread before any request. */
struct route_reader *route_reader_new(void);
const struct route_table *route_read_begin(struct route_reader *r);
void route_read_end(struct route_reader *r);

/*
 * Finds the route for a host (any case, an optional ":port" is ignored) and
 * request path: exact host, then the longest path prefix that matches.
 * Prefixes match as plain string prefixes, as nginx's `location /p` does,
 * so "/api" matches "/api", "/api/x" and "/apix". Returns NULL when no route
 * matches.
 */
const struct route *route_lookup(const struct route_table *t, const char *host,
                                 size_t host_len, const char *path,
                                 size_t path_len);

/* Picks the upstream index to try first, round-robin. */
size_t route_next_upstream(const struct route *r);

size_t route_table_count(const struct route_table *t);
const struct route *route_table_at(const struct route_table *t, size_t i);
size_t route_table_skip_count(const struct route_table *t);
const struct route_skip *route_table_skip_at(const struct route_table *t,
                                             size_t i);
/* Prints routes and skipped containers in a human-readable table. */
void route_table_print(const struct route_table *t, FILE *out);

/*
 * Builders. route_builder_add copies every string it is given. Routes with
 * the same host and path from several containers become one route with
 * several upstreams, and the first one's policy. A static route for a host
 * and path that a container also routes is dropped with a warning. A NULL
 * policy means redirect to HTTPS and nginx-proxy's default HSTS.
 */
struct route_builder *route_builder_new(void);
void route_builder_add(struct route_builder *b, const char *host,
                       const char *path, const struct route_upstream *up,
                       const struct route_policy *policy, bool is_static);
void route_builder_skip(struct route_builder *b, const char *container_id,
                        const char *container_name, const char *reason);
/* Consumes the builder. Returns NULL only when out of memory. */
struct route_table *route_builder_finish(struct route_builder *b);

/*
 * Publishes a snapshot (taking ownership) and logs each route added or
 * removed against the previous one. Called from one thread only.
 */
void route_publish(struct route_table *t);

/* Frees retired snapshots that no reader can still see. Called periodically
 * by the publishing thread. */
void route_reclaim(void);

void route_table_free(struct route_table *t);

/* Frees the published and retired snapshots. Call after every reader has
 * stopped. */
void route_shutdown(void);

/* Lower-cases a host and strips a ":port" suffix (and IPv6 brackets are
 * kept). Writes at most cap bytes, returns the length or -1 when too long. */
int route_normalize_host(const char *host, size_t len, char *out, size_t cap);

#endif

/*
 * Upstream connections: non-blocking connects (plain or TLS), the
 * per-worker pool of idle keep-alive connections, and the up/down state of
 * each upstream address so a failure is logged once per change.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "config.h"
#include "log.h"
#include "proxy_int.h"

static SSL_CTX *client_ctx;

/* Addresses whose last connect failed, shared by all workers. */
struct down_entry {
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

static pthread_mutex_t down_lock = PTHREAD_MUTEX_INITIALIZER;
static struct down_entry *down;
static size_t n_down;
static size_t down_cap;
static atomic_size_t n_down_hint;

int
proxy_tls_init(void)
{
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (client_ctx == NULL) {
        log_error("proxy", "TLS client context failed", "error=%s",
                  ERR_reason_error_string(ERR_get_error()));
        return -1;
    }
    /* Upstream certificates are not verified, as with nginx's default
     * proxy_ssl_verify off, which nginx-proxy keeps. */
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION);
    return 0;
}

void
proxy_tls_free(void)
{
    SSL_CTX_free(client_ctx);
    client_ctx = NULL;
}

static bool
is_ip_literal(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;

    return inet_pton(AF_INET, host, &a4) == 1 ||
           inet_pton(AF_INET6, host, &a6) == 1 || host[0] == '[';
}

static struct bufferevent *
open_tls(struct proxy_worker *w, const char *sni)
{
    SSL *ssl = SSL_new(client_ctx);
    struct bufferevent *bev;

    if (ssl == NULL)
        return NULL;
    if (sni != NULL && sni[0] != '\0' && !is_ip_literal(sni))
        SSL_set_tlsext_host_name(ssl, sni);
    bev = bufferevent_openssl_socket_new(w->base, -1, ssl,
                                         BUFFEREVENT_SSL_CONNECTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/*
 * Starts a connect; the result arrives as BEV_EVENT_CONNECTED or an error
 * on the bufferevent's event callback, which the caller sets.
 */
struct proxy_upconn *
proxy_upconn_connect(struct proxy_worker *w, const struct proxy_target *t,
                     const char *sni)
{
    struct proxy_upconn *u = calloc(1, sizeof *u);

    if (u == NULL)
        return NULL;
    u->w = w;
    memcpy(&u->addr, &t->addr, t->addrlen);
    u->addrlen = t->addrlen;
    u->tls = t->tls;
    if (t->tls)
        u->bev = open_tls(w, sni);
    else
        u->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (u->bev == NULL)
        goto fail;
    proxy_reader_init(&u->reader, u->bev, !t->tls);
    bufferevent_set_max_single_read(u->bev, PROXY_IO_CHUNK);
    bufferevent_set_max_single_write(u->bev, PROXY_IO_CHUNK);
    proxy_reader_set_timeouts(&u->reader, 0, cfg.upstream_connect_timeout);
    if (bufferevent_socket_connect(u->bev, (struct sockaddr *)&t->addr,
                                   (int)t->addrlen) < 0)
        goto fail;
    return u;

fail:
    if (u->bev != NULL)
        bufferevent_free(u->bev);
    free(u);
    return NULL;
}

void
proxy_upconn_free(struct proxy_upconn *u)
{
    if (u == NULL)
        return;
    if (u->bucket != NULL) {
        TAILQ_REMOVE(&u->bucket->idle, u, idle_link);
        u->bucket->n_idle--;
    }
    proxy_reader_free(&u->reader);
    bufferevent_free(u->bev);
    free(u);
}

static struct proxy_bucket *
find_bucket(struct proxy_worker *w, const struct sockaddr_storage *addr,
            socklen_t addrlen, bool tls, bool create)
{
    struct proxy_bucket *b;

    LIST_FOREACH(b, &w->buckets, link)
        if (b->tls == tls && b->addrlen == addrlen &&
            memcmp(&b->addr, addr, addrlen) == 0)
            return b;
    if (!create || (b = calloc(1, sizeof *b)) == NULL)
        return NULL;
    memcpy(&b->addr, addr, addrlen);
    b->addrlen = addrlen;
    b->tls = tls;
    TAILQ_INIT(&b->idle);
    LIST_INSERT_HEAD(&w->buckets, b, link);
    return b;
}

/* Anything an idle connection reads, EOF included, ends it. */
static void
on_idle_read(struct bufferevent *bev, void *arg)
{
    proxy_upconn_free(arg);
}

static void
on_idle_event(struct bufferevent *bev, short what, void *arg)
{
    proxy_upconn_free(arg);
}

struct proxy_upconn *
proxy_pool_take(struct proxy_worker *w, const struct proxy_target *t)
{
    struct proxy_bucket *b = find_bucket(w, &t->addr, t->addrlen, t->tls,
                                         false);
    struct proxy_upconn *u;

    if (b == NULL || (u = TAILQ_LAST(&b->idle, proxy_upconn_list)) == NULL)
        return NULL;
    TAILQ_REMOVE(&b->idle, u, idle_link);
    b->n_idle--;
    u->bucket = NULL;
    u->reused = true;
    return u;
}

/* Keeps a connection whose response completed, or frees it when full. */
void
proxy_pool_put(struct proxy_upconn *u)
{
    struct proxy_bucket *b = find_bucket(u->w, &u->addr, u->addrlen, u->tls,
                                         true);

    if (b == NULL || b->n_idle >= PROXY_POOL_MAX_IDLE ||
        evbuffer_get_length(bufferevent_get_input(u->bev)) > 0) {
        proxy_upconn_free(u);
        return;
    }
    bufferevent_setcb(u->bev, on_idle_read, NULL, on_idle_event, u);
    bufferevent_setwatermark(u->bev, EV_READ, 0, 0);
    proxy_reader_set_timeouts(&u->reader, PROXY_POOL_IDLE_TIMEOUT, 0);
    proxy_reader_enable(&u->reader, true);
    TAILQ_INSERT_TAIL(&b->idle, u, idle_link);
    b->n_idle++;
    u->bucket = b;
}

void
proxy_pool_free(struct proxy_worker *w)
{
    struct proxy_bucket *b;

    while ((b = LIST_FIRST(&w->buckets)) != NULL) {
        struct proxy_upconn *u;
        while ((u = TAILQ_FIRST(&b->idle)) != NULL)
            proxy_upconn_free(u);
        LIST_REMOVE(b, link);
        free(b);
    }
}

static ssize_t
find_down(const struct proxy_target *t)
{
    for (size_t i = 0; i < n_down; i++)
        if (down[i].addrlen == t->addrlen &&
            memcmp(&down[i].addr, &t->addr, t->addrlen) == 0)
            return (ssize_t)i;
    return -1;
}

/* Records a failed connect; logs only when the address was up before. */
void
proxy_upstream_down(const struct proxy_target *t, const char *error)
{
    bool changed = false;

    pthread_mutex_lock(&down_lock);
    if (find_down(t) < 0) {
        if (n_down == down_cap) {
            size_t cap = down_cap ? 2 * down_cap : 16;
            struct down_entry *d = realloc(down, cap * sizeof *d);
            if (d != NULL) {
                down = d;
                down_cap = cap;
            }
        }
        if (n_down < down_cap) {
            memcpy(&down[n_down].addr, &t->addr, t->addrlen);
            down[n_down].addrlen = t->addrlen;
            n_down++;
            atomic_store(&n_down_hint, n_down);
            changed = true;
        }
    }
    pthread_mutex_unlock(&down_lock);
    if (changed)
        log_warn("proxy", "upstream connect failed", "upstream=%s error=%s",
                 t->addr_text, error);
}

/* Records a successful connect; logs when the address was down. */
void
proxy_upstream_up(const struct proxy_target *t)
{
    ssize_t i;

    if (atomic_load_explicit(&n_down_hint, memory_order_relaxed) == 0)
        return;
    pthread_mutex_lock(&down_lock);
    i = find_down(t);
    if (i >= 0) {
        down[i] = down[--n_down];
        atomic_store(&n_down_hint, n_down);
    }
    pthread_mutex_unlock(&down_lock);
    if (i >= 0)
        log_notice("proxy", "upstream reachable again", "upstream=%s",
                   t->addr_text);
}

/*
 * Worker threads: each owns an event_base, SO_REUSEPORT listeners on the
 * HTTP and HTTPS addresses, its client connections and its upstream
 * connection pool, so no request ever takes a lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proxy.h"
#include "proxy_int.h"

#define LISTEN_BACKLOG 1024
/* Accepting pauses this long after EMFILE and similar errors. */
#define ACCEPT_PAUSE_MS 500

/* Default of --max-connections, lowered to fit RLIMIT_NOFILE. */
#define DEFAULT_MAX_CONNECTIONS 10000
/* File descriptors kept for listeners, the engine, admin and logs. */
#define RESERVED_FDS 64
/* How often a draining worker checks for its last connection. */
#define DRAIN_CHECK_MS 50

_Atomic int proxy_n_conns;

static struct proxy_worker *workers;
static int n_workers;
static int max_connections;
static _Atomic long last_limit_warning; /* CLOCK_MONOTONIC seconds */

static void
warn_connection_limit(void)
{
    struct timespec now;
    long last = atomic_load(&last_limit_warning);

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec == last ||
        !atomic_compare_exchange_strong(&last_limit_warning, &last,
                                        (long)now.tv_sec))
        return;
    log_warn("proxy", "connection limit reached, closing new connections",
             "max_connections=%d", max_connections);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
    struct proxy_listener *pl = arg;

    if (atomic_load(&proxy_n_conns) >= max_connections) {
        warn_connection_limit();
        evutil_closesocket(fd);
        return;
    }
    proxy_conn_new(pl->w, pl, fd, sa);
}

/* Each proxied connection takes a client and an upstream descriptor. */
static int
choose_max_connections(void)
{
    struct rlimit rl;
    long fit;

    if (cfg.max_connections > 0)
        return cfg.max_connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return DEFAULT_MAX_CONNECTIONS;
    fit = ((long)rl.rlim_cur - RESERVED_FDS) / 2;
    if (fit < 1)
        fit = 1;
    return fit < DEFAULT_MAX_CONNECTIONS ? (int)fit : DEFAULT_MAX_CONNECTIONS;
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    evconnlistener_enable(arg);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
    struct proxy_listener *pl = arg;
    struct proxy_worker *w = pl->w;
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    int err = EVUTIL_SOCKET_ERROR();

    log_error("proxy", "accept failed",
              "worker=%d listener=%s error=%s retry_in_ms=%d", w->id,
              pl->proto, evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
    evconnlistener_disable(l);
    event_base_once(w->base, -1, EV_TIMEOUT, on_accept_resume, l, &tv);
}

static unsigned
bound_port(struct evconnlistener *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &len))
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int
open_listener(struct proxy_worker *w, struct proxy_listener *pl,
              const struct cfg_addr *a, const char *proto)
{
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
                     LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT;

    pl->w = w;
    pl->ev = evconnlistener_new_bind(w->base, on_accept, pl, flags,
                                     LISTEN_BACKLOG,
                                     (const struct sockaddr *)&a->sa,
                                     (int)a->len);
    if (pl->ev == NULL) {
        log_error("proxy", "listen failed", "address=%s error=%s", a->text,
                  strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(pl->ev, on_accept_error);
    pl->port = bound_port(pl->ev);
    pl->proto = proto;
    pl->tls = strcmp(proto, "https") == 0;
    return 0;
}

static void
on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_worker *w = arg;

    if (LIST_EMPTY(&w->conns))
        event_base_loopbreak(w->base);
}

static void
on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_worker *w = arg;

    event_base_loopbreak(w->base);
}

/*
 * Starts a graceful stop: no new connections, idle ones closed, and the
 * loop ends when the last connection has closed or after
 * --shutdown-timeout, whichever comes first.
 */
static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_worker *w = arg;
    struct timeval check = {0, DRAIN_CHECK_MS * 1000};
    struct timeval deadline = {cfg.shutdown_timeout, 0};
    struct proxy_conn *c, *next;

    w->draining = true;
    if (w->http.ev != NULL)
        evconnlistener_free(w->http.ev);
    if (w->https.ev != NULL)
        evconnlistener_free(w->https.ev);
    w->http.ev = w->https.ev = NULL;
    for (c = LIST_FIRST(&w->conns); c != NULL; c = next) {
        next = LIST_NEXT(c, link);
        proxy_conn_close_idle(c);
    }
    w->drain_ev = event_new(w->base, -1, EV_PERSIST, on_drain_check, w);
    if (cfg.shutdown_timeout == 0 || w->drain_ev == NULL ||
        event_add(w->drain_ev, &check) < 0 ||
        event_base_once(w->base, -1, EV_TIMEOUT, on_drain_deadline, w,
                        &deadline) < 0) {
        event_base_loopbreak(w->base);
        return;
    }
    on_drain_check(-1, 0, w);
}

static int
open_stop_pipe(struct proxy_worker *w)
{
    if (pipe2(w->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        w->stop_pipe[0] = w->stop_pipe[1] = -1;
        return -1;
    }
    w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ, on_stop, w);
    if (w->stop_ev == NULL || event_add(w->stop_ev, NULL) < 0)
        return -1;
    return 0;
}

static void
stop_worker(struct proxy_worker *w)
{
    char b = 0;

    if (write(w->stop_pipe[1], &b, 1) < 0)
        log_error("proxy", "worker stop failed", "worker=%d error=%s", w->id,
                  strerror(errno));
}

static void *
run_worker(void *arg)
{
    struct proxy_worker *w = arg;

    w->rd = route_reader_new();
    event_base_dispatch(w->base);
    return NULL;
}

static void
free_worker(struct proxy_worker *w)
{
    struct proxy_conn *c;

    while ((c = LIST_FIRST(&w->conns)) != NULL)
        proxy_conn_free(c);
    proxy_pool_free(w);
    if (w->http.ev != NULL)
        evconnlistener_free(w->http.ev);
    if (w->https.ev != NULL)
        evconnlistener_free(w->https.ev);
    if (w->stop_ev != NULL)
        event_free(w->stop_ev);
    if (w->drain_ev != NULL)
        event_free(w->drain_ev);
    if (w->base != NULL)
        event_base_free(w->base);
    for (int i = 0; i < 2; i++)
        if (w->stop_pipe[i] >= 0)
            close(w->stop_pipe[i]);
    free(w->out_head);
}

/*
 * A worker's base is used by its thread alone, so it needs no lock. Other
 * threads reach it only through the stop pipe. The changelist turns an event added and deleted within one loop pass,
 * as a bufferevent's write event often is, into no epoll_ctl at all. */
static struct event_base *
new_base(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *base;

    if (ec == NULL)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
    base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

/*
 * Fails when another socket already listens on the address. The workers
 * bind with SO_REUSEPORT, which would let a second Portico (or any process
 * of the same user with that option) share the port and silently take
 * part of the traffic. A plain bind first turns that into a clear error.
 */
static int
check_address_free(const struct cfg_addr *a)
{
    int one = 1, fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return 0; /* the real bind reports the problem */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0 &&
        errno == EADDRINUSE) {
        log_error("proxy", "listen failed", "address=%s error=%s", a->text,
                  "address already in use by another process");
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int
init_worker(struct proxy_worker *w, int id)
{
    w->id = id;
    w->stop_pipe[0] = w->stop_pipe[1] = -1;
    LIST_INIT(&w->conns);
    LIST_INIT(&w->buckets);
    w->base = new_base();
    w->out_head = malloc(PROXY_MAX_OUT_HEAD);
    if (w->base == NULL || w->out_head == NULL || open_stop_pipe(w) < 0) {
        log_error("proxy", "worker setup failed", "worker=%d", id);
        return -1;
    }
    if (open_listener(w, &w->http, &cfg.http_listen, "http") < 0)
        return -1;
    if (cfg.https_listen.len == 0)
        return 0;
    return open_listener(w, &w->https, &cfg.https_listen, "https");
}

/* Stops and joins the first `running` workers, then frees every worker
 * and the TLS contexts. */
static void
free_workers(int running)
{
    for (int i = 0; i < running; i++)
        stop_worker(&workers[i]);
    for (int i = 0; i < running; i++)
        pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < n_workers; i++)
        free_worker(&workers[i]);
    free(workers);
    workers = NULL;
    n_workers = 0;
    proxy_tls_server_free();
    proxy_tls_free();
}

int
proxy_start(void)
{
    int n = cfg.workers > 0 ? cfg.workers : 1;
    int started = 0;

    /* A client that closes mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    max_connections = choose_max_connections();
    if (proxy_tls_init() < 0)
        return -1;
    if (proxy_tls_server_init() < 0) {
        proxy_tls_free();
        return -1;
    }
    workers = calloc((size_t)n, sizeof *workers);
    if (workers == NULL) {
        proxy_tls_server_free();
        proxy_tls_free();
        return -1;
    }
    n_workers = n;
    /* free_worker closes these, so workers never set up must hold -1. */
    for (int i = 0; i < n; i++)
        workers[i].stop_pipe[0] = workers[i].stop_pipe[1] = -1;
    if (check_address_free(&cfg.http_listen) < 0 ||
        (cfg.https_listen.len && check_address_free(&cfg.https_listen) < 0))
        goto fail;
    for (int i = 0; i < n; i++)
        if (init_worker(&workers[i], i) < 0)
            goto fail;
    for (; started < n; started++)
        if (pthread_create(&workers[started].thread, NULL, run_worker,
                           &workers[started]) != 0) {
            log_error("proxy", "worker thread start failed", "worker=%d",
                      started);
            goto fail;
        }
    log_info("proxy", "listening", "address=%s workers=%d max_connections=%d",
             cfg.http_listen.text, n, max_connections);
    if (cfg.https_listen.len > 0)
        log_info("proxy", "listening for HTTPS", "address=%s workers=%d",
                 cfg.https_listen.text, n);
    return 0;

fail:
    free_workers(started);
    return -1;
}

void
proxy_stop(void)
{
    if (n_workers > 0)
        log_info("proxy", "stopping", "connections=%d shutdown_timeout=%d",
                 atomic_load(&proxy_n_conns), cfg.shutdown_timeout);
    free_workers(n_workers);
}

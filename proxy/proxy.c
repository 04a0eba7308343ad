/*
 * Worker threads: each owns an event_base, SO_REUSEPORT listeners on the
 * HTTP and HTTPS addresses, its client connections and its upstream
 * connection pool, so no request ever takes a lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proxy.h"
#include "proxy_int.h"

#define LISTEN_BACKLOG 1024
/* Accepting pauses this long after EMFILE and similar errors. */
#define ACCEPT_PAUSE_MS 500

static struct proxy_worker *workers;
static int n_workers;

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
    struct proxy_listener *pl = arg;

    proxy_conn_new(pl->w, pl, fd, sa);
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
on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_worker *w = arg;

    event_base_loopbreak(w->base);
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

int
proxy_start(void)
{
    int n = cfg.workers > 0 ? cfg.workers : 1;
    int started = 0;

    /* A client that closes mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
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
    log_info("proxy", "listening", "address=%s workers=%d",
             cfg.http_listen.text, n);
    if (cfg.https_listen.len > 0)
        log_info("proxy", "listening for HTTPS", "address=%s workers=%d",
                 cfg.https_listen.text, n);
    return 0;

fail:
    for (int i = 0; i < started; i++) {
        stop_worker(&workers[i]);
        pthread_join(workers[i].thread, NULL);
    }
    for (int i = 0; i < n; i++)
        free_worker(&workers[i]);
    free(workers);
    workers = NULL;
    n_workers = 0;
    proxy_tls_server_free();
    proxy_tls_free();
    return -1;
}

void
proxy_stop(void)
{
    for (int i = 0; i < n_workers; i++)
        stop_worker(&workers[i]);
    for (int i = 0; i < n_workers; i++)
        pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < n_workers; i++)
        free_worker(&workers[i]);
    free(workers);
    workers = NULL;
    n_workers = 0;
    proxy_tls_server_free();
    proxy_tls_free();
}

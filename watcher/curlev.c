/*
 * libcurl's multi_socket API on libevent. curl reports the sockets it
 * waits on (CURLMOPT_SOCKETFUNCTION) and the timeout it needs
 * (CURLMOPT_TIMERFUNCTION). libevent reports readiness back through
 * curl_multi_socket_action. Completed transfers are collected after each
 * action, outside curl's callbacks, so `done` may add or remove transfers.
 */
#include "curlev.h"

#include <stdlib.h>

#include "log.h"

struct curlev {
    CURLM *multi;
    struct event_base *base;
    struct event *timer;
    curlev_done_cb done;
    void *arg;
    struct watched_socket *sockets;
};

/* One per socket curl watches, attached with curl_multi_assign. */
struct watched_socket {
    struct event *ev;
    struct watched_socket *prev, *next;
};

static void
forget_socket(struct curlev *m, struct watched_socket *s)
{
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        m->sockets = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->ev != NULL)
        event_free(s->ev);
    free(s);
}

static void
collect_done(struct curlev *m)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_multi_remove_handle(m->multi, easy);
        m->done(easy, result, m->arg);
    }
}

static void
act_on_socket(struct curlev *m, curl_socket_t fd, int flags)
{
    int running;
    CURLMcode rc = curl_multi_socket_action(m->multi, fd, flags, &running);

    if (rc != CURLM_OK)
        log_error("curl", "curl_multi_socket_action failed", "error=%s",
                  curl_multi_strerror(rc));
    collect_done(m);
}

static void
on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
    int flags = 0;

    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    act_on_socket(arg, fd, flags);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
    act_on_socket(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
    struct curlev *m = arg;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

    if (timeout_ms < 0)
        evtimer_del(m->timer);
    else
        evtimer_add(m->timer, &tv);
    return 0;
}

static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg,
               void *socket_arg)
{
    struct curlev *m = arg;
    struct watched_socket *s = socket_arg;
    short kind = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            forget_socket(m, s);
            curl_multi_assign(m->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return -1;
        s->next = m->sockets;
        if (m->sockets != NULL)
            m->sockets->prev = s;
        m->sockets = s;
        curl_multi_assign(m->multi, fd, s);
    } else {
        event_free(s->ev);
    }
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    s->ev = event_new(m->base, fd, kind, on_socket_ready, m);
    if (s->ev == NULL || event_add(s->ev, NULL) < 0)
        return -1;
    return 0;
}

struct curlev *
curlev_new(struct event_base *base, long max_connections,
           curlev_done_cb done, void *arg)
{
    struct curlev *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->base = base;
    m->done = done;
    m->arg = arg;
    m->multi = curl_multi_init();
    m->timer = evtimer_new(base, on_timeout, m);
    if (m->multi == NULL || m->timer == NULL) {
        curlev_free(m);
        return NULL;
    }
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    if (max_connections > 0)
        curl_multi_setopt(m->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          max_connections);
    return m;
}

void
curlev_free(struct curlev *m)
{
    if (m == NULL)
        return;
    if (m->multi != NULL)
        curl_multi_cleanup(m->multi);
    /* curl may close cached connections without reporting their sockets. */
    while (m->sockets != NULL)
        forget_socket(m, m->sockets);
    if (m->timer != NULL)
        event_free(m->timer);
    free(m);
}

int
curlev_add(struct curlev *m, CURL *easy)
{
    CURLMcode rc = curl_multi_add_handle(m->multi, easy);

    if (rc != CURLM_OK) {
        log_error("curl", "curl_multi_add_handle failed", "error=%s",
                  curl_multi_strerror(rc));
        return -1;
    }
    return 0;
}

void
curlev_remove(struct curlev *m, CURL *easy)
{
    curl_multi_remove_handle(m->multi, easy);
}

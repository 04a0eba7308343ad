/*
 * The watcher thread: one event_base driving a curl multi handle. After a
 * connect it negotiates the API version, looks up Portico's own container,
 * subscribes to events and only then lists and inspects the containers, so
 * nothing that starts in between is missed. Each event updates the one
 * container it concerns; a burst of events ends in one `changed` call.
 *
 * libcurl forbids adding or removing transfers from inside its callbacks,
 * so new requests are queued and started from the `kick` event.
 */
#include "watch_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "curlev.h"
#include "log.h"
#include "metrics.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define REQUEST_TIMEOUT_S 30L
/* The events stream keeps one connection; inspects share the others. */
#define MAX_CONNECTIONS 8
#define MAX_EVENT_LINE (1u << 20)
#define MAX_BODY (64u << 20)

/* Event priorities: queued requests start first, then I/O, and the
 * `changed` notification runs only once no I/O is pending. */
#define PRIORITY_KICK 0
#define PRIORITY_NOTIFY 2
#define N_PRIORITIES 3

enum req_kind { REQ_VERSION, REQ_SELF, REQ_EVENTS, REQ_LIST, REQ_INSPECT };

struct req {
    struct watcher *w;
    enum req_kind kind;
    CURL *h;
    bool started;
    struct watch_buf body;
    char *id;     /* REQ_INSPECT: the container */
    uint64_t seq; /* REQ_INSPECT: issue order */
    bool sync;    /* REQ_INSPECT: part of a full resync */
    char errbuf[CURL_ERROR_SIZE];
    struct req *prev, *next;
};

/* A known container and what the watcher remembers about it. */
struct entry {
    struct watch_container *c;
    char *started_at;     /* State.StartedAt, to tell a restart */
    uint64_t applied_seq; /* the inspect shown in c */
    uint64_t touched_seq; /* the latest inspect completed, for resync */
    char *logged;         /* the problems already logged */
};

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };

struct watcher {
    struct watch_ops ops;
    void *arg;
    struct watch_engine engine;
    struct watch_parse_env env;

    pthread_t thread;
    bool started;
    int stop_fds[2];
    struct event_base *base;
    struct curlev *multi;
    struct event *stop_ev, *kick_ev, *retry_ev, *resync_ev, *notify_ev;
    struct req *reqs;

    enum conn_state state;
    bool events_open;
    bool lost_logged;
    bool ever_connected;
    long backoff_ms;
    struct watch_buf line; /* an events line not yet complete */

    uint64_t seq;
    bool syncing;
    bool synced_once;
    uint64_t sync_seq;
    size_t sync_pending;
    bool dirty;

    struct entry *entries;
    size_t n_entries, cap_entries;
};

static void lose_connection(struct watcher *w, const char *error);
static void start_sync(struct watcher *w);

/* ---- Requests ---- */

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;

    return watch_buf_append(&r->body, p, n, MAX_BODY) == 0 ? n : 0;
}

static void
unlink_req(struct watcher *w, struct req *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        w->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void
destroy_req(struct req *r)
{
    if (r->h != NULL)
        curl_easy_cleanup(r->h);
    watch_buf_clear(&r->body);
    free(r->id);
    free(r);
}

static void
free_req(struct watcher *w, struct req *r)
{
    unlink_req(w, r);
    destroy_req(r);
}

static void
cancel_all(struct watcher *w)
{
    while (w->reqs != NULL) {
        if (w->reqs->started)
            curlev_remove(w->multi, w->reqs->h);
        free_req(w, w->reqs);
    }
}

/* Queues a GET; the kick event starts it. Returns NULL when memory runs
 * out, which the caller treats like a lost connection. */
static struct req *
queue_req(struct watcher *w, enum req_kind kind, const char *path,
          bool versioned, long timeout_s)
{
    struct req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->w = w;
    r->kind = kind;
    r->next = w->reqs;
    if (w->reqs != NULL)
        w->reqs->prev = r;
    w->reqs = r;
    r->h = curl_easy_init();
    if (r->h == NULL ||
        watch_engine_prepare(&w->engine, r->h, path, versioned, timeout_s) <
            0) {
        free_req(w, r);
        return NULL;
    }
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    event_active(w->kick_ev, EV_WRITE, 0);
    return r;
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct watcher *w = arg;

    for (struct req *r = w->reqs; r != NULL; r = r->next) {
        if (r->started)
            continue;
        if (curlev_add(w->multi, r->h) < 0) {
            lose_connection(w, "cannot start a transfer");
            return;
        }
        r->started = true;
    }
}

static const char *
describe_failure(struct req *r, CURLcode result, char *buf, size_t size)
{
    long status = 0;

    if (result != CURLE_OK)
        return watch_engine_error(&r->w->engine, r->h, result, r->errbuf, buf,
                                  size);
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    snprintf(buf, size, "HTTP status %ld %.200s", status,
             r->body.data ? r->body.data : "");
    return buf;
}

static cJSON *
parse_body(struct req *r)
{
    return r->body.data != NULL ? cJSON_Parse(r->body.data) : NULL;
}

/* ---- Container entries ---- */

/* The 12-character id the Docker CLI shows, for log lines. */
static const char *
short_id(const char *id, char buf[13])
{
    snprintf(buf, 13, "%s", id);
    return buf;
}

static struct entry *
find_entry(struct watcher *w, const char *id)
{
    for (size_t i = 0; i < w->n_entries; i++) {
        if (strcmp(w->entries[i].c->id, id) == 0)
            return &w->entries[i];
    }
    return NULL;
}

static struct entry *
add_entry(struct watcher *w, struct watch_container *c)
{
    struct entry *e;

    if (w->n_entries == w->cap_entries) {
        size_t cap = w->cap_entries ? w->cap_entries * 2 : 16;

        e = realloc(w->entries, cap * sizeof(*e));
        if (e == NULL)
            return NULL;
        w->entries = e;
        w->cap_entries = cap;
    }
    e = &w->entries[w->n_entries++];
    memset(e, 0, sizeof(*e));
    e->c = c;
    return e;
}

static void
free_entry(struct watcher *w, struct entry *e)
{
    watch_container_free(e->c);
    free(e->started_at);
    free(e->logged);
    *e = w->entries[--w->n_entries];
}

static void
drop_entry(struct watcher *w, struct entry *e)
{
    char sid[13];

    log_debug("watch", "container removed", "container=%s id=%s",
              e->c->name, short_id(e->c->id, sid));
    free_entry(w, e);
}

static void
mark_changed(struct watcher *w)
{
    w->dirty = true;
    if (w->synced_once)
        event_active(w->notify_ev, EV_WRITE, 0);
}

static void
notify_changed(struct watcher *w)
{
    struct watch_container **list = NULL;

    w->dirty = false;
    if (w->n_entries > 0) {
        list = malloc(w->n_entries * sizeof(*list));
        if (list == NULL) {
            log_error("watch", "out of memory", "containers=%zu",
                      w->n_entries);
            return;
        }
    }
    for (size_t i = 0; i < w->n_entries; i++)
        list[i] = w->entries[i].c;
    w->ops.changed(w->arg, list, w->n_entries);
    free(list);
}

/* Runs at the lowest priority, so a burst of events ends in one call. */
static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct watcher *w = arg;

    if (w->dirty)
        notify_changed(w);
}

/* Logs a container's label problems once, and again only when they
 * change. Containers that are not running or want no routing stay quiet. */
static void
log_problems(struct entry *e)
{
    struct watch_container *c = e->c;
    char *key = NULL;
    size_t len = 0;
    FILE *f;

    if (!c->running || !c->wants_routing)
        return;
    f = open_memstream(&key, &len);
    if (f == NULL)
        return;
    fprintf(f, "%s", c->skip_reason ? c->skip_reason : "");
    for (size_t i = 0; i < c->n_warnings; i++)
        fprintf(f, "\n%s", c->warnings[i]);
    fclose(f);
    if (len == 0 || (e->logged != NULL && strcmp(e->logged, key) == 0)) {
        if (len == 0) {
            free(e->logged);
            e->logged = NULL;
        }
        free(key);
        return;
    }
    for (size_t i = 0; i < c->n_warnings; i++)
        log_warn("watch", "label value ignored", "container=%s reason=%s",
                 c->name, c->warnings[i]);
    if (c->skip_reason != NULL)
        log_warn("watch", "container skipped", "container=%s reason=%s",
                 c->name, c->skip_reason);
    free(e->logged);
    e->logged = key;
}

/*
 * Shows an inspect result unless a later-issued inspect of the same
 * container was shown already. A kill event's `stopping` mark lasts until
 * the container stops or starts again (a new StartedAt).
 */
static void
apply_inspect(struct watcher *w, struct req *r, const cJSON *doc)
{
    struct watch_container *c = watch_container_from_inspect(doc, &w->env);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(doc, "State");
    const char *started = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(state, "StartedAt"));
    struct entry *e = find_entry(w, r->id);
    bool changed = true;
    char sid[13];

    if (c == NULL) {
        log_warn("watch", "invalid container inspect", "id=%s",
                 short_id(r->id, sid));
        return;
    }
    if (e == NULL) {
        e = add_entry(w, c);
        if (e == NULL) {
            watch_container_free(c);
            return;
        }
    } else if (r->seq < e->applied_seq) {
        watch_container_free(c);
        return;
    } else {
        if (e->c->stopping && c->running && started != NULL &&
            e->started_at != NULL && strcmp(started, e->started_at) == 0)
            c->stopping = true;
        changed = !watch_container_equal(e->c, c);
        watch_container_free(e->c);
        e->c = c;
    }
    free(e->started_at);
    e->started_at = started ? strdup(started) : NULL;
    e->applied_seq = r->seq;
    if (!changed)
        return;
    log_problems(e);
    log_debug("watch", "container updated",
              "container=%s id=%s running=%d routable=%d", c->name,
              short_id(c->id, sid), c->running, watch_container_routable(c));
    mark_changed(w);
}

/* ---- Full resync ---- */

static void
finish_sync(struct watcher *w)
{
    for (size_t i = 0; i < w->n_entries;) {
        if (w->entries[i].touched_seq < w->sync_seq) {
            drop_entry(w, &w->entries[i]);
            w->dirty = true;
        } else {
            i++;
        }
    }
    w->syncing = false;
    log_debug("watch", "resync done", "containers=%zu", w->n_entries);
    if (w->dirty || !w->synced_once)
        notify_changed(w);
    w->synced_once = true;
    if (w->ops.synced != NULL)
        w->ops.synced(w->arg);
}

static int
inspect(struct watcher *w, const char *id, bool sync)
{
    char path[256];
    struct req *r;

    if (strlen(id) > 128 || strspn(id, "0123456789abcdef") != strlen(id))
        return 0;
    snprintf(path, sizeof(path), "/containers/%s/json", id);
    r = queue_req(w, REQ_INSPECT, path, true, REQUEST_TIMEOUT_S);
    if (r == NULL || (r->id = strdup(id)) == NULL)
        return -1;
    r->seq = ++w->seq;
    r->sync = sync;
    if (sync)
        w->sync_pending++;
    return 0;
}

static void
start_sync(struct watcher *w)
{
    if (w->syncing || w->state != CONN_UP)
        return;
    w->syncing = true;
    w->sync_pending = 0;
    w->sync_seq = ++w->seq;
    if (queue_req(w, REQ_LIST, "/containers/json", true, REQUEST_TIMEOUT_S) ==
        NULL)
        lose_connection(w, "out of memory");
}

static void
on_list_done(struct watcher *w, struct req *r)
{
    cJSON *doc = parse_body(r);
    const cJSON *item;

    if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        lose_connection(w, "invalid container list");
        return;
    }
    cJSON_ArrayForEach(item, doc) {
        const char *id = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(item, "Id"));

        if (id != NULL && inspect(w, id, true) < 0) {
            cJSON_Delete(doc);
            lose_connection(w, "out of memory");
            return;
        }
    }
    cJSON_Delete(doc);
    if (w->sync_pending == 0)
        finish_sync(w);
}

static void
on_inspect_done(struct watcher *w, struct req *r, long status)
{
    struct entry *e = find_entry(w, r->id);
    char sid[13];
    cJSON *doc;

    if (status == 404) {
        /* Removed between its event or listing and this inspect. */
        log_debug("watch", "container not found", "id=%s",
                  short_id(r->id, sid));
        if (e != NULL) {
            drop_entry(w, e);
            mark_changed(w);
        }
    } else if (status == 200 && (doc = parse_body(r)) != NULL) {
        apply_inspect(w, r, doc);
        cJSON_Delete(doc);
    } else {
        log_warn("watch", "container inspect failed", "id=%s status=%ld",
                 short_id(r->id, sid), status);
    }
    e = find_entry(w, r->id);
    if (e != NULL && e->touched_seq < r->seq)
        e->touched_seq = r->seq;
    if (r->sync && w->syncing && --w->sync_pending == 0)
        finish_sync(w);
}

static void
on_resync_timer(evutil_socket_t fd, short what, void *arg)
{
    start_sync(arg);
}

/* ---- Events ---- */

/* Signals that reload or signal a process without stopping it. */
static bool
is_stop_signal(const char *signal)
{
    static const char *const keep[] = {"1", "10", "12", "28", "SIGHUP",
                                       "SIGUSR1", "SIGUSR2", "SIGWINCH"};

    if (signal == NULL)
        return true;
    for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++) {
        if (strcmp(signal, keep[i]) == 0)
            return false;
    }
    return true;
}

static bool
needs_inspect(const char *action)
{
    static const char *const actions[] = {
        "start", "restart", "unpause", "die",    "stop",
        "rename", "oom",    "update",  "health_status"};

    for (size_t i = 0; i < sizeof(actions) / sizeof(*actions); i++) {
        size_t n = strlen(actions[i]);

        /* health_status events read "health_status: healthy". */
        if (strncmp(action, actions[i], n) == 0 &&
            (action[n] == '\0' || action[n] == ':'))
            return true;
    }
    return false;
}

static int
apply_container_event(struct watcher *w, const char *action, const char *id,
                      const char *sig)
{
    struct entry *e = find_entry(w, id);

    if (strcmp(action, "kill") == 0) {
        if (e != NULL && !e->c->stopping && is_stop_signal(sig)) {
            e->c->stopping = true;
            mark_changed(w);
        }
    } else if (strcmp(action, "pause") == 0) {
        if (e != NULL && !e->c->paused) {
            e->c->paused = true;
            mark_changed(w);
        }
    } else if (strcmp(action, "destroy") == 0) {
        if (e != NULL) {
            drop_entry(w, e);
            mark_changed(w);
        }
    } else if (needs_inspect(action)) {
        return inspect(w, id, false);
    }
    return 0;
}

int
watch_event_decode(const cJSON *ev, struct watch_event *out)
{
    const cJSON *actor = cJSON_GetObjectItemCaseSensitive(ev, "Actor");
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(actor,
                                                          "Attributes");

    memset(out, 0, sizeof(*out));
    out->type = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(ev, "Type"));
    out->action = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(ev, "Action"));
    if (out->type == NULL || out->action == NULL)
        return -1;
    out->signal = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(attrs, "signal"));
    if (strcmp(out->type, "container") == 0)
        out->id = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(actor, "ID"));
    else if (strcmp(out->type, "network") == 0)
        out->id = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(attrs, "container"));
    return 0;
}

static int
apply_event(struct watcher *w, const cJSON *doc)
{
    struct watch_event ev;

    if (watch_event_decode(doc, &ev) < 0)
        return 0;
    log_debug("watch", "engine event", "type=%s action=%s", ev.type,
              ev.action);
    metrics_docker_event(ev.type, ev.action);
    if (ev.id == NULL)
        return 0;
    if (strcmp(ev.type, "container") == 0)
        return apply_container_event(w, ev.action, ev.id, ev.signal);
    if (strcmp(ev.action, "connect") == 0 ||
        strcmp(ev.action, "disconnect") == 0) {
        if (find_entry(w, ev.id) != NULL)
            return inspect(w, ev.id, false);
    }
    return 0;
}

int
watch_split_lines(struct watch_buf *line, const char *p, size_t n,
                  size_t max, watch_line_cb on_line, void *arg)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - p) : n;

        if (line->len + take + 1 > max)
            return WATCH_LINE_TOO_LONG;
        if (watch_buf_append(line, p, take, max) < 0)
            return -1;
        if (nl == NULL)
            break;
        /* watch_buf_append keeps the data NUL-terminated. */
        if (on_line(arg, line->data, line->len) < 0)
            return -1;
        line->len = 0;
        p += take + 1;
        n -= take + 1;
    }
    return 0;
}

static int
on_event_line(void *arg, char *text, size_t len)
{
    struct watcher *w = arg;
    cJSON *ev = cJSON_Parse(text);
    int rc;

    if (ev == NULL) {
        if (len > 0)
            log_warn("watch", "invalid event from engine", "line=%.200s",
                     text);
        return 0;
    }
    rc = apply_event(w, ev);
    cJSON_Delete(ev);
    return rc;
}

/* Splits the stream into lines, which may arrive across several reads. A
 * failure ends the transfer, so the connection is lost and resynced. */
static size_t
on_events_body(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    struct watcher *w = r->w;
    int rc;

    if (!w->events_open)
        return on_body(p, size, n, arg);
    rc = watch_split_lines(&w->line, p, n, MAX_EVENT_LINE, on_event_line, w);
    if (rc == WATCH_LINE_TOO_LONG)
        log_warn("watch", "event from engine too long", "max_bytes=%u",
                 MAX_EVENT_LINE);
    return rc == 0 ? n : 0;
}

static void
on_events_open(struct watcher *w)
{
    w->state = CONN_UP;
    w->backoff_ms = BACKOFF_MIN_MS;
    if (w->ever_connected)
        log_notice("watch", "engine connection restored",
                   "endpoint=%s api_version=%s", w->engine.endpoint,
                   w->engine.api_version);
    else
        log_msg(w->lost_logged ? LOG_NOTICE : LOG_INFO, "watch",
                "engine connected", "endpoint=%s api_version=%s",
                w->engine.endpoint, w->engine.api_version);
    if (w->ever_connected)
        metrics_docker_reconnect();
    w->lost_logged = false;
    w->ever_connected = true;
    start_sync(w);
}

/* The list starts only once the engine accepted the subscription. It is
 * queued for the kick event because this runs inside a libcurl callback. */
static size_t
on_events_header(char *p, size_t size, size_t n, void *arg)
{
    struct req *r = arg;
    long status = 0;

    if (n > 2 || (n == 2 && p[0] != '\r') || (n == 1 && p[0] != '\n'))
        return n;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 && !r->w->events_open) {
        r->w->events_open = true;
        on_events_open(r->w);
    }
    return n;
}

static void
subscribe(struct watcher *w)
{
    const char *filters = "{\"type\":[\"container\",\"network\"]}";
    char *escaped = curl_easy_escape(NULL, filters, 0);
    char path[256];
    struct req *r = NULL;

    if (escaped != NULL) {
        snprintf(path, sizeof(path), "/events?filters=%s", escaped);
        r = queue_req(w, REQ_EVENTS, path, true, 0);
        curl_free(escaped);
    }
    if (r == NULL) {
        lose_connection(w, "out of memory");
        return;
    }
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_events_body);
    curl_easy_setopt(r->h, CURLOPT_HEADERFUNCTION, on_events_header);
    curl_easy_setopt(r->h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->h, CURLOPT_TCP_KEEPALIVE, 1L);
}

/* ---- Connection ---- */

static void
connect_engine(struct watcher *w)
{
    w->state = CONN_CONNECTING;
    w->events_open = false;
    w->engine.api_version[0] = '\0';
    if (queue_req(w, REQ_VERSION, "/version", false, REQUEST_TIMEOUT_S) ==
        NULL)
        lose_connection(w, "out of memory");
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    connect_engine(arg);
}

/*
 * Keeps the last container set, so routes keep working while the engine
 * is away, and retries with capped exponential backoff. Logged once per
 * outage.
 */
static void
lose_connection(struct watcher *w, const char *error)
{
    struct timeval tv = {w->backoff_ms / 1000, (w->backoff_ms % 1000) * 1000};

    if (w->state == CONN_DOWN)
        return;
    cancel_all(w);
    w->state = CONN_DOWN;
    w->events_open = false;
    w->syncing = false;
    w->line.len = 0;
    if (!w->lost_logged) {
        log_warn("watch",
                 w->ever_connected ? "engine connection lost"
                                   : "engine unreachable",
                 "endpoint=%s error=%s retry_in=%ldms", w->engine.endpoint,
                 error, w->backoff_ms);
        w->lost_logged = true;
    } else {
        log_debug("watch", "engine reconnect failed",
                  "endpoint=%s error=%s retry_in=%ldms", w->engine.endpoint,
                  error, w->backoff_ms);
    }
    evtimer_add(w->retry_ev, &tv);
    w->backoff_ms *= 2;
    if (w->backoff_ms > BACKOFF_MAX_MS)
        w->backoff_ms = BACKOFF_MAX_MS;
}

static void
on_version_done(struct watcher *w, struct req *r)
{
    cJSON *doc = parse_body(r);
    char path[512];

    if (doc == NULL || watch_engine_negotiate(&w->engine, doc) < 0) {
        cJSON_Delete(doc);
        lose_connection(w, "invalid GET /version response");
        return;
    }
    cJSON_Delete(doc);
    if (watch_self_path(path, sizeof(path)) < 0) {
        subscribe(w);
        return;
    }
    if (queue_req(w, REQ_SELF, path, true, REQUEST_TIMEOUT_S) == NULL)
        lose_connection(w, "out of memory");
}

static void
on_self_done(struct watcher *w, struct req *r, long status)
{
    cJSON *doc = status == 200 ? parse_body(r) : NULL;

    if (doc != NULL && !watch_is_self(doc)) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    if (watch_env_set_self(&w->env, doc) < 0) {
        cJSON_Delete(doc);
        lose_connection(w, "out of memory");
        return;
    }
    if (doc != NULL)
        log_info("watch", "running in a container",
                 "networks=%zu shared_only=1", w->env.n_own_networks);
    cJSON_Delete(doc);
    subscribe(w);
}

static void
handle_response(struct watcher *w, struct req *r, CURLcode result)
{
    long status = 0;
    char buf[256];

    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
    if (r->kind == REQ_EVENTS && result == CURLE_OK && w->events_open) {
        lose_connection(w, "events stream ended");
        return;
    }
    /* An inspect may fail alone; a 404 on Portico's own name means it
     * does not run in a container. */
    if (result != CURLE_OK || r->kind == REQ_EVENTS ||
        (r->kind != REQ_INSPECT && status != 200 &&
         !(r->kind == REQ_SELF && status == 404))) {
        lose_connection(w, describe_failure(r, result, buf, sizeof(buf)));
        return;
    }
    switch (r->kind) {
    case REQ_VERSION:
        on_version_done(w, r);
        break;
    case REQ_SELF:
        on_self_done(w, r, status);
        break;
    case REQ_LIST:
        on_list_done(w, r);
        break;
    case REQ_INSPECT:
        on_inspect_done(w, r, status);
        break;
    case REQ_EVENTS:
        break;
    }
}

/* The request leaves the list first, so lose_connection cannot free it
 * while its response is handled. */
static void
on_done(CURL *h, CURLcode result, void *arg)
{
    struct watcher *w = arg;
    struct req *r;

    curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&r);
    unlink_req(w, r);
    handle_response(w, r, result);
    destroy_req(r);
}

/* ---- Thread and lifetime ---- */

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static void *
run(void *arg)
{
    struct watcher *w = arg;

    connect_engine(w);
    event_base_dispatch(w->base);
    return NULL;
}

static int
create_events(struct watcher *w)
{
    struct timeval interval = {cfg.resync_interval, 0};

    w->base = event_base_new();
    if (w->base == NULL || event_base_priority_init(w->base, N_PRIORITIES) < 0)
        return -1;
    w->multi = curlev_new(w->base, MAX_CONNECTIONS, on_done, w);
    w->stop_ev = event_new(w->base, w->stop_fds[0], EV_READ, on_stop,
                           w->base);
    w->kick_ev = event_new(w->base, -1, 0, on_kick, w);
    w->notify_ev = event_new(w->base, -1, 0, on_notify, w);
    w->retry_ev = evtimer_new(w->base, on_retry, w);
    w->resync_ev = event_new(w->base, -1, EV_PERSIST, on_resync_timer, w);
    if (w->multi == NULL || w->stop_ev == NULL || w->kick_ev == NULL ||
        w->notify_ev == NULL || w->retry_ev == NULL || w->resync_ev == NULL)
        return -1;
    event_priority_set(w->kick_ev, PRIORITY_KICK);
    event_priority_set(w->notify_ev, PRIORITY_NOTIFY);
    if (event_add(w->stop_ev, NULL) < 0)
        return -1;
    if (cfg.resync_interval > 0 && event_add(w->resync_ev, &interval) < 0)
        return -1;
    return 0;
}

struct watcher *
watch_new(const struct watch_ops *ops, void *arg)
{
    struct watcher *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w->ops = *ops;
    w->arg = arg;
    w->backoff_ms = BACKOFF_MIN_MS;
    w->env.host_network_address = cfg.host_network_address;
    w->stop_fds[0] = w->stop_fds[1] = -1;
    if (watch_engine_init(&w->engine) < 0)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, w->stop_fds) < 0) {
        log_error("watch", "socketpair failed", "error=%s", strerror(errno));
        goto fail;
    }
    if (create_events(w) < 0) {
        log_error("watch", "event loop setup failed", "error=%s",
                  "out of memory");
        goto fail;
    }
    return w;

fail:
    watch_free(w);
    return NULL;
}

int
watch_start(struct watcher *w)
{
    int rc = pthread_create(&w->thread, NULL, run, w);

    if (rc != 0) {
        log_error("watch", "cannot start the watcher thread", "error=%s",
                  strerror(rc));
        return -1;
    }
    w->started = true;
    return 0;
}

static void
free_event(struct event *ev)
{
    if (ev != NULL)
        event_free(ev);
}

void
watch_free(struct watcher *w)
{
    if (w == NULL)
        return;
    if (w->started) {
        while (write(w->stop_fds[1], "x", 1) < 0 && errno == EINTR)
            ;
        pthread_join(w->thread, NULL);
    }
    if (w->multi != NULL)
        cancel_all(w);
    curlev_free(w->multi);
    free_event(w->stop_ev);
    free_event(w->kick_ev);
    free_event(w->notify_ev);
    free_event(w->retry_ev);
    free_event(w->resync_ev);
    if (w->base != NULL)
        event_base_free(w->base);
    while (w->n_entries > 0)
        free_entry(w, &w->entries[0]);
    free(w->entries);
    watch_buf_clear(&w->line);
    watch_env_clear(&w->env);
    watch_engine_clear(&w->engine);
    for (int i = 0; i < 2; i++) {
        if (w->stop_fds[i] >= 0)
            close(w->stop_fds[i]);
    }
    free(w);
    curl_global_cleanup();
}

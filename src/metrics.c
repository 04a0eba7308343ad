#include "metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"

#define HOST_NAME_CAP 256
#define HOST_BUCKETS (METRICS_MAX_HOSTS * 2) /* a power of two */
#define OTHER_HOST METRICS_MAX_HOSTS         /* counter row for "other" */
#define N_CLASSES 6                          /* none, 1xx ... 5xx */
#define N_BOUNDS 11

/* A pending event older than this is not observed: the change it announced
 * never reached the routing table (a kill that only reloads, say). */
#define STALE_EVENT_NS (60LL * 1000000000LL)

typedef atomic_uint_least64_t counter;

/* Prometheus' default histogram buckets, in seconds. */
static const double bounds[N_BOUNDS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,    2.5,   5,    10};
static const char *const class_names[N_CLASSES] = {"none", "1xx", "2xx",
                                                   "3xx",  "4xx", "5xx"};

/* Non-cumulative bucket counts; the last one is +Inf. */
struct histogram {
    counter buckets[N_BOUNDS + 1];
    counter sum_us;
};

/* Counters written by one worker and read by the scrape. The alignment
 * keeps two workers off the same cache line. */
struct worker_slot {
    counter requests[METRICS_MAX_HOSTS + 1][N_CLASSES];
    struct histogram duration;
    counter conn_opened;
    counter conn_closed;
    counter connect_failures;
    counter tls_handshakes;
    counter tls_failures;
} __attribute__((aligned(64)));

static struct worker_slot *slots;
static int n_slots;

/* Host label table: open addressing from the name's hash to a slot index
 * plus one (0: empty). Entries are only ever added. */
static atomic_int host_buckets[HOST_BUCKETS];
static char host_names[METRICS_MAX_HOSTS][HOST_NAME_CAP];
static atomic_int n_hosts;

static counter docker_events;
static counter docker_reconnects;
static counter acme_valid;
static counter acme_failed;
static struct histogram route_latency;
static atomic_llong pending_event_ns; /* monotonic; 0: none pending */

static void
add(counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(const counter *c)
{
    return atomic_load_explicit((counter *)c, memory_order_relaxed);
}

static struct worker_slot *
slot_of(int worker)
{
    if (slots == NULL)
        return NULL;
    return &slots[worker >= 0 && worker < n_slots ? worker : 0];
}

static void
observe(struct histogram *h, double seconds)
{
    size_t i = 0;

    if (seconds < 0)
        seconds = 0;
    while (i < N_BOUNDS && seconds > bounds[i])
        i++;
    add(&h->buckets[i], 1);
    add(&h->sum_us, (uint64_t)(seconds * 1e6));
}

static long long
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* FNV-1a. */
static size_t
hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h & (HOST_BUCKETS - 1);
}

/* Returns the slot of a normalized host, or -1. */
static int
find_host(const char *host, size_t len)
{
    size_t b = hash_name(host, len);

    for (size_t probes = 0; probes < HOST_BUCKETS; probes++) {
        int v = atomic_load_explicit(&host_buckets[b], memory_order_acquire);
        if (v == 0)
            return -1;
        if (strncmp(host_names[v - 1], host, len) == 0 &&
            host_names[v - 1][len] == '\0')
            return v - 1;
        b = (b + 1) & (HOST_BUCKETS - 1);
    }
    return -1;
}

int
metrics_init(int n_workers)
{
    if (n_workers < 1)
        n_workers = 1;
    slots = aligned_alloc(64, (size_t)n_workers * sizeof(*slots));
    if (slots == NULL) {
        log_error("metrics", "out of memory", "workers=%d", n_workers);
        return -1;
    }
    memset(slots, 0, (size_t)n_workers * sizeof(*slots));
    n_slots = n_workers;
    return 0;
}

void
metrics_free(void)
{
    free(slots);
    slots = NULL;
    n_slots = 0;
}

void
metrics_add_host(const char *host)
{
    size_t len = strlen(host), b;
    int n = atomic_load(&n_hosts);

    if (len == 0 || len >= HOST_NAME_CAP || find_host(host, len) >= 0)
        return;
    if (n >= METRICS_MAX_HOSTS) {
        log_debug("metrics", "host label table full, counted as other",
                  "host=%s max=%d", host, METRICS_MAX_HOSTS);
        return;
    }
    memcpy(host_names[n], host, len + 1);
    b = hash_name(host, len);
    while (atomic_load(&host_buckets[b]) != 0)
        b = (b + 1) & (HOST_BUCKETS - 1);
    atomic_store_explicit(&host_buckets[b], n + 1, memory_order_release);
    atomic_store(&n_hosts, n + 1);
}

/* Returns the row of a Host header: its own name, else a wildcard route's
 * "*.parent" covering its first label, else OTHER_HOST. */
static int
find_row(const char *host)
{
    char name[HOST_NAME_CAP];
    const char *dot;
    int len, found;

    len = route_normalize_host(host, strlen(host), name, sizeof name - 1);
    if (len <= 0)
        return OTHER_HOST;
    found = find_host(name, (size_t)len);
    if (found >= 0)
        return found;
    dot = memchr(name, '.', (size_t)len);
    if (dot == NULL || dot == name)
        return OTHER_HOST;
    len -= (int)(dot - name) - 1;
    memmove(name + 1, dot, (size_t)len - 1);
    name[0] = '*';
    found = find_host(name, (size_t)len);
    return found >= 0 ? found : OTHER_HOST;
}

void
metrics_request_done(int worker, const char *host, int status,
                     double seconds)
{
    struct worker_slot *s = slot_of(worker);
    int cls = status >= 100 && status <= 599 ? status / 100 : 0;

    if (s == NULL)
        return;
    add(&s->requests[host ? find_row(host) : OTHER_HOST][cls], 1);
    observe(&s->duration, seconds);
}

void
metrics_connection_open(int worker)
{
    struct worker_slot *s = slot_of(worker);

    if (s != NULL)
        add(&s->conn_opened, 1);
}

void
metrics_connection_close(int worker)
{
    struct worker_slot *s = slot_of(worker);

    if (s != NULL)
        add(&s->conn_closed, 1);
}

void
metrics_upstream_connect_failed(int worker)
{
    struct worker_slot *s = slot_of(worker);

    if (s != NULL)
        add(&s->connect_failures, 1);
}

void
metrics_tls_handshake(int worker, bool ok)
{
    struct worker_slot *s = slot_of(worker);

    if (s != NULL)
        add(ok ? &s->tls_handshakes : &s->tls_failures, 1);
}

/* Container actions after which the watcher may publish new routes. */
static bool
changes_routes(const char *type, const char *action)
{
    static const char *const actions[] = {
        "start", "restart", "unpause", "pause", "die", "stop", "kill",
        "destroy", "health_status", "connect", "disconnect"};

    if (strcmp(type, "container") != 0 && strcmp(type, "network") != 0)
        return false;
    for (size_t i = 0; i < sizeof(actions) / sizeof(*actions); i++) {
        size_t n = strlen(actions[i]);
        if (strncmp(action, actions[i], n) == 0 &&
            (action[n] == '\0' || action[n] == ':'))
            return true;
    }
    return false;
}

void
metrics_docker_event(const char *type, const char *action)
{
    long long none = 0;

    add(&docker_events, 1);
    if (type != NULL && action != NULL && changes_routes(type, action))
        atomic_compare_exchange_strong(&pending_event_ns, &none, now_ns());
}

void
metrics_docker_reconnect(void)
{
    add(&docker_reconnects, 1);
}

void
metrics_routes_published(void)
{
    long long since = atomic_exchange(&pending_event_ns, 0);
    long long age;

    if (since == 0)
        return;
    age = now_ns() - since;
    if (age < STALE_EVENT_NS)
        observe(&route_latency, (double)age / 1e9);
}

void
metrics_acme_order(bool valid)
{
    add(valid ? &acme_valid : &acme_failed, 1);
}

/* Label values here are host names that passed validation, but a quote,
 * backslash or newline would break the format, so they are escaped. */
static void
put_label(FILE *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

static void
put_header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
put_histogram(FILE *out, const char *name, uint64_t *buckets, uint64_t sum_us)
{
    uint64_t cumulative = 0;

    for (size_t i = 0; i < N_BOUNDS; i++) {
        cumulative += buckets[i];
        fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                (unsigned long long)cumulative);
    }
    cumulative += buckets[N_BOUNDS];
    fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
            (unsigned long long)cumulative);
    fprintf(out, "%s_sum %.6f\n", name, (double)sum_us / 1e6);
    fprintf(out, "%s_count %llu\n", name, (unsigned long long)cumulative);
}

static uint64_t
sum_workers(size_t offset)
{
    uint64_t total = 0;

    for (int w = 0; w < n_slots; w++)
        total += get((const counter *)((const char *)&slots[w] + offset));
    return total;
}

static void
render_requests(FILE *out)
{
    int hosts = atomic_load(&n_hosts);

    put_header(out, "portico_http_requests_total", "counter",
               "Finished HTTP requests by routed host and status class.");
    for (int row = 0; row <= METRICS_MAX_HOSTS; row++) {
        if (row >= hosts && row != OTHER_HOST)
            continue;
        for (int cls = 0; cls < N_CLASSES; cls++) {
            uint64_t n = sum_workers(
                offsetof(struct worker_slot, requests[row][cls]));
            if (n == 0)
                continue;
            fputs("portico_http_requests_total{host=\"", out);
            put_label(out, row == OTHER_HOST ? "other" : host_names[row]);
            fprintf(out, "\",code_class=\"%s\"} %llu\n", class_names[cls],
                    (unsigned long long)n);
        }
    }
}

static void
render_durations(FILE *out)
{
    uint64_t buckets[N_BOUNDS + 1];

    for (size_t i = 0; i <= N_BOUNDS; i++)
        buckets[i] = sum_workers(
            offsetof(struct worker_slot, duration.buckets[i]));
    put_header(out, "portico_http_request_duration_seconds", "histogram",
               "Time from the request head to the end of the response.");
    put_histogram(out, "portico_http_request_duration_seconds", buckets,
                  sum_workers(offsetof(struct worker_slot, duration.sum_us)));
    for (size_t i = 0; i <= N_BOUNDS; i++)
        buckets[i] = get(&route_latency.buckets[i]);
    put_header(out, "portico_route_update_latency_seconds", "histogram",
               "Time from a Docker event to the routing table that "
               "reflects it being published.");
    put_histogram(out, "portico_route_update_latency_seconds", buckets,
                  get(&route_latency.sum_us));
}

static void
put_counter(FILE *out, const char *name, const char *help, uint64_t n)
{
    put_header(out, name, "counter", help);
    fprintf(out, "%s %llu\n", name, (unsigned long long)n);
}

static void
render_connections(FILE *out)
{
    uint64_t opened = sum_workers(offsetof(struct worker_slot, conn_opened));
    uint64_t closed = sum_workers(offsetof(struct worker_slot, conn_closed));

    put_counter(out, "portico_connections_total",
                "Client connections accepted.", opened);
    put_header(out, "portico_connections_active", "gauge",
               "Client connections open now.");
    fprintf(out, "portico_connections_active %llu\n",
            (unsigned long long)(opened > closed ? opened - closed : 0));
    put_counter(out, "portico_upstream_connect_failures_total",
                "Upstream connections that could not be established.",
                sum_workers(offsetof(struct worker_slot, connect_failures)));
    put_counter(out, "portico_tls_handshakes_total",
                "Completed TLS handshakes with clients.",
                sum_workers(offsetof(struct worker_slot, tls_handshakes)));
    put_counter(out, "portico_tls_handshake_failures_total",
                "TLS handshakes with clients that failed.",
                sum_workers(offsetof(struct worker_slot, tls_failures)));
}

static void
render_state(FILE *out, const struct metrics_gauges *g)
{
    put_header(out, "portico_routes", "gauge",
               "Routes (host and path) in the routing table.");
    fprintf(out, "portico_routes %zu\n", g->routes);
    put_header(out, "portico_upstreams", "gauge",
               "Upstreams across all routes.");
    fprintf(out, "portico_upstreams %zu\n", g->upstreams);
    put_counter(out, "portico_docker_events_total",
                "Events received from the Docker engine.",
                get(&docker_events));
    put_counter(out, "portico_docker_reconnects_total",
                "Times the Docker engine connection was restored after a "
                "loss.", get(&docker_reconnects));
    put_header(out, "portico_acme_orders_total", "counter",
               "Finished ACME orders by result.");
    fprintf(out, "portico_acme_orders_total{result=\"valid\"} %llu\n",
            (unsigned long long)get(&acme_valid));
    fprintf(out, "portico_acme_orders_total{result=\"failed\"} %llu\n",
            (unsigned long long)get(&acme_failed));
    put_header(out, "portico_certificate_expiry_timestamp_seconds", "gauge",
               "Expiry (notAfter) of each managed certificate, in Unix "
               "time.");
    for (size_t i = 0; i < g->n_certs; i++) {
        fputs("portico_certificate_expiry_timestamp_seconds{name=\"", out);
        put_label(out, g->certs[i].name);
        fprintf(out, "\"} %lld\n", (long long)g->certs[i].not_after);
    }
}

void
metrics_render(FILE *out, const struct metrics_gauges *g)
{
    put_header(out, "portico_build_info", "gauge",
               "Always 1; the labels carry the version.");
    fprintf(out, "portico_build_info{version=\"%s\"} 1\n", PORTICO_VERSION);
    render_requests(out);
    render_durations(out);
    render_connections(out);
    render_state(out, g);
}

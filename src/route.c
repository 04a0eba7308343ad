#include "route.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_READERS 64
#define MAX_HOST_LEN 255

struct host_slot {
    uint32_t hash;
    uint32_t first; /* index of the host's first route */
    uint32_t count; /* 0: empty slot */
};

struct route_table {
    struct route *routes; /* by host, then longest path first */
    size_t n_routes;
    struct host_slot *slots;
    size_t slot_mask;
    struct route_skip *skips;
    size_t n_skips;
    atomic_uint *cursors;
};

/* One builder entry: a host and path served by one upstream. */
struct entry {
    char *host;
    char *path;
    struct route_upstream up;
    struct route_policy policy;
    bool is_static;
    bool shadows_static;
};

struct route_builder {
    struct entry *entries;
    size_t n, cap;
    struct route_skip *skips;
    size_t n_skips, cap_skips;
};

/* Readers announce the epoch they started reading in; 0 means idle. Each
 * slot has its own cache line so workers never share one. */
struct route_reader {
    _Alignas(64) atomic_uint_fast64_t active;
};

struct retired {
    struct route_table *table;
    uint64_t epoch;
    struct retired *next;
};

static struct route_reader readers[MAX_READERS];
static atomic_uint n_readers;
static _Atomic(struct route_table *) current;
static atomic_uint_fast64_t epoch = 1;
static struct retired *retired_list;
static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;

static char *
xstrdup(const char *s)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (p == NULL)
        abort();
    return p;
}

static uint32_t
hash_host(const char *s, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int
route_normalize_host(const char *host, size_t len, char *out, size_t cap)
{
    size_t end = len;

    if (len > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        if (close == NULL)
            return -1;
        end = (size_t)(close - host) + 1;
    } else {
        for (size_t i = len; i > 0; i--) {
            if (host[i - 1] == ':') {
                end = i - 1;
                break;
            }
            if (!isdigit((unsigned char)host[i - 1]))
                break;
        }
    }
    if (end > 0 && host[end - 1] == '.')
        end--; /* "example.com." is the same name */
    if (end >= cap)
        return -1;
    for (size_t i = 0; i < end; i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    out[end] = '\0';
    return (int)end;
}

struct route_reader *
route_reader_new(void)
{
    unsigned i = atomic_fetch_add(&n_readers, 1);

    if (i >= MAX_READERS) {
        log_error("route", "too many routing table readers", "max=%d",
                  MAX_READERS);
        abort();
    }
    return &readers[i];
}

const struct route_table *
route_read_begin(struct route_reader *r)
{
    /* The store must be visible before the pointer load, so a publisher
     * that swaps the pointer afterwards finds this reader active. */
    atomic_store(&r->active, atomic_load(&epoch));
    return atomic_load(&current);
}

void
route_read_end(struct route_reader *r)
{
    atomic_store_explicit(&r->active, 0, memory_order_release);
}

static const struct host_slot *
find_slot(const struct route_table *t, const char *host, size_t len)
{
    uint32_t h;

    if (t == NULL || t->slots == NULL)
        return NULL;
    h = hash_host(host, len);
    for (size_t i = h & t->slot_mask;; i = (i + 1) & t->slot_mask) {
        const struct host_slot *s = &t->slots[i];
        const struct route *r;

        if (s->count == 0)
            return NULL;
        r = &t->routes[s->first];
        if (s->hash == h && strlen(r->host) == len &&
            memcmp(r->host, host, len) == 0)
            return s;
    }
}

const struct route *
route_lookup(const struct route_table *t, const char *host, size_t host_len,
             const char *path, size_t path_len)
{
    char name[MAX_HOST_LEN + 1];
    const struct host_slot *s;
    int n = route_normalize_host(host, host_len, name, sizeof(name));

    if (n <= 0)
        return NULL;
    s = find_slot(t, name, (size_t)n);
    if (s == NULL) {
        /* A wildcard host "*.example.com" covers exactly one label, and
         * only when no route names the host itself. */
        const char *dot = memchr(name, '.', (size_t)n);
        char wild[MAX_HOST_LEN + 2];
        size_t rest;

        if (dot == NULL)
            return NULL;
        rest = (size_t)n - (size_t)(dot - name);
        wild[0] = '*';
        memcpy(wild + 1, dot, rest);
        s = find_slot(t, wild, rest + 1);
        if (s == NULL)
            return NULL;
    }
    for (uint32_t i = 0; i < s->count; i++) {
        const struct route *r = &t->routes[s->first + i];
        if (r->path_len <= path_len &&
            memcmp(r->path, path, r->path_len) == 0)
            return r;
    }
    return NULL;
}

size_t
route_next_upstream(const struct route *r)
{
    unsigned n = atomic_fetch_add_explicit(r->cursor, 1, memory_order_relaxed);

    return n % r->n_upstreams;
}

size_t
route_table_count(const struct route_table *t)
{
    return t ? t->n_routes : 0;
}

const struct route *
route_table_at(const struct route_table *t, size_t i)
{
    return &t->routes[i];
}

size_t
route_table_skip_count(const struct route_table *t)
{
    return t ? t->n_skips : 0;
}

const struct route_skip *
route_table_skip_at(const struct route_table *t, size_t i)
{
    return &t->skips[i];
}

struct route_builder *
route_builder_new(void)
{
    return xcalloc(1, sizeof(struct route_builder));
}

void
route_builder_add(struct route_builder *b, const char *host, const char *path,
                  const struct route_upstream *up,
                  const struct route_policy *policy, bool is_static)
{
    static const struct route_policy defaults = {ROUTE_HTTPS_REDIRECT,
                                                 ROUTE_HSTS_DEFAULT, 0};
    struct entry *e;

    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->entries = realloc(b->entries, b->cap * sizeof(*b->entries));
        if (b->entries == NULL)
            abort();
    }
    e = &b->entries[b->n++];
    e->host = xstrdup(host);
    e->path = xstrdup(path && *path ? path : "/");
    e->up = *up;
    e->up.container_id = xstrdup(up->container_id);
    e->up.container_name = xstrdup(up->container_name);
    e->policy = policy ? *policy : defaults;
    e->policy.hsts = xstrdup(e->policy.hsts);
    e->is_static = is_static;
    e->shadows_static = false;
}

void
route_builder_skip(struct route_builder *b, const char *container_id,
                   const char *container_name, const char *reason)
{
    struct route_skip *s;

    if (b->n_skips == b->cap_skips) {
        b->cap_skips = b->cap_skips ? b->cap_skips * 2 : 8;
        b->skips = realloc(b->skips, b->cap_skips * sizeof(*b->skips));
        if (b->skips == NULL)
            abort();
    }
    s = &b->skips[b->n_skips++];
    s->container_id = xstrdup(container_id);
    s->container_name = xstrdup(container_name);
    s->reason = xstrdup(reason);
}

/* Orders by host, then longest path first, then path text, then container
 * entries before static ones, then upstream address so replicas keep a
 * stable order across snapshots. */
static int
compare_entries(const void *pa, const void *pb)
{
    const struct entry *a = pa, *b = pb;
    size_t la = strlen(a->path), lb = strlen(b->path);
    int c = strcmp(a->host, b->host);

    if (c)
        return c;
    if (la != lb)
        return la > lb ? -1 : 1;
    c = strcmp(a->path, b->path);
    if (c)
        return c;
    if (a->is_static != b->is_static)
        return a->is_static ? 1 : -1;
    c = strcmp(a->up.addr_text, b->up.addr_text);
    if (c)
        return c;
    return strcmp(a->up.container_id ? a->up.container_id : "",
                  b->up.container_id ? b->up.container_id : "");
}

static void
free_entry(struct entry *e)
{
    free(e->host);
    free(e->path);
    free((char *)e->policy.hsts);
    free((char *)e->up.container_id);
    free((char *)e->up.container_name);
}

static bool
same_key(const struct entry *a, const struct entry *b)
{
    return strcmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0;
}

/* Drops static entries whose host and path a container also serves, and
 * marks the container entry. The entries are sorted, so container entries
 * come first in each group. */
static size_t
drop_shadowed_static(struct entry *e, size_t n)
{
    size_t out = 0;

    for (size_t i = 0; i < n; i++) {
        if (e[i].is_static && out > 0 && same_key(&e[out - 1], &e[i]) &&
            !e[out - 1].is_static) {
            e[out - 1].shadows_static = true;
            free_entry(&e[i]);
            continue;
        }
        e[out++] = e[i];
    }
    return out;
}

static void
index_hosts(struct route_table *t)
{
    size_t n_slots = 16;

    while (n_slots < t->n_routes * 2)
        n_slots *= 2;
    t->slots = xcalloc(n_slots, sizeof(*t->slots));
    t->slot_mask = n_slots - 1;
    for (size_t i = 0; i < t->n_routes;) {
        const char *host = t->routes[i].host;
        uint32_t h = hash_host(host, strlen(host));
        size_t j = i, k;

        while (j < t->n_routes && strcmp(t->routes[j].host, host) == 0)
            j++;
        for (k = h & t->slot_mask; t->slots[k].count; k = (k + 1) & t->slot_mask)
            ;
        t->slots[k] = (struct host_slot){h, (uint32_t)i, (uint32_t)(j - i)};
        i = j;
    }
}

struct route_table *
route_builder_finish(struct route_builder *b)
{
    struct route_table *t = xcalloc(1, sizeof(*t));
    size_t n;

    if (b->n > 0)
        qsort(b->entries, b->n, sizeof(*b->entries), compare_entries);
    n = drop_shadowed_static(b->entries, b->n);
    t->routes = xcalloc(n, sizeof(*t->routes));
    t->cursors = xcalloc(n, sizeof(*t->cursors));
    for (size_t i = 0; i < n;) {
        struct route *r = &t->routes[t->n_routes];
        size_t j = i;

        while (j < n && same_key(&b->entries[i], &b->entries[j]))
            j++;
        r->host = b->entries[i].host;
        r->path = b->entries[i].path;
        r->path_len = strlen(r->path);
        r->is_static = b->entries[i].is_static;
        r->policy = b->entries[i].policy;
        for (size_t k = i; k < j; k++)
            r->shadows_static |= b->entries[k].shadows_static;
        r->n_upstreams = j - i;
        r->upstreams = xcalloc(j - i, sizeof(*r->upstreams));
        r->cursor = &t->cursors[t->n_routes];
        for (size_t k = i; k < j; k++) {
            r->upstreams[k - i] = b->entries[k].up;
            if (k > i) {
                free(b->entries[k].host);
                free(b->entries[k].path);
                free((char *)b->entries[k].policy.hsts);
            }
        }
        t->n_routes++;
        i = j;
    }
    index_hosts(t);
    t->skips = b->skips;
    t->n_skips = b->n_skips;
    free(b->entries);
    free(b);
    return t;
}

void
route_table_free(struct route_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_routes; i++) {
        struct route *r = &t->routes[i];
        for (size_t k = 0; k < r->n_upstreams; k++) {
            free((char *)r->upstreams[k].container_id);
            free((char *)r->upstreams[k].container_name);
        }
        free(r->upstreams);
        free((char *)r->policy.hsts);
        free((char *)r->host);
        free((char *)r->path);
    }
    for (size_t i = 0; i < t->n_skips; i++) {
        free((char *)t->skips[i].container_id);
        free((char *)t->skips[i].container_name);
        free((char *)t->skips[i].reason);
    }
    free(t->skips);
    free(t->routes);
    free(t->cursors);
    free(t->slots);
    free(t);
}

/* Same order as compare_entries, on finished routes. */
static int
compare_routes(const struct route *a, const struct route *b)
{
    int c = strcmp(a->host, b->host);

    if (c)
        return c;
    if (a->path_len != b->path_len)
        return a->path_len > b->path_len ? -1 : 1;
    return strcmp(a->path, b->path);
}

static bool
same_upstreams(const struct route *a, const struct route *b)
{
    if (a->n_upstreams != b->n_upstreams)
        return false;
    for (size_t i = 0; i < a->n_upstreams; i++) {
        const struct route_upstream *x = &a->upstreams[i], *y = &b->upstreams[i];
        if (strcmp(x->addr_text, y->addr_text) != 0 || x->tls != y->tls)
            return false;
        if ((x->container_id == NULL) != (y->container_id == NULL))
            return false;
        if (x->container_id && strcmp(x->container_id, y->container_id) != 0)
            return false;
    }
    return true;
}

/* Joins upstream addresses and container names ("name/shortid") with
 * commas, for logs and --print-routes. */
static void
describe_upstreams(const struct route *r, char *addrs, size_t addrs_cap,
                   char *names, size_t names_cap)
{
    size_t a = 0, n = 0;

    addrs[0] = names[0] = '\0';
    for (size_t i = 0; i < r->n_upstreams; i++) {
        const struct route_upstream *u = &r->upstreams[i];
        const char *sep = i ? "," : "";
        int w;

        w = snprintf(addrs + a, addrs_cap - a, "%s%s%s", sep,
                     u->tls ? "https://" : "", u->addr_text);
        if (w > 0 && (size_t)w < addrs_cap - a)
            a += (size_t)w;
        if (u->container_name)
            w = snprintf(names + n, names_cap - n, "%s%s/%.12s", sep,
                         u->container_name, u->container_id);
        else
            w = snprintf(names + n, names_cap - n, "%sstatic", sep);
        if (w > 0 && (size_t)w < names_cap - n)
            n += (size_t)w;
    }
}

static void
log_route(const char *msg, const struct route *r)
{
    char addrs[1024], names[1024];

    describe_upstreams(r, addrs, sizeof(addrs), names, sizeof(names));
    log_info("route", msg, "host=%s path=%s upstream=%s container=%s",
             r->host, r->path, addrs, names);
}

/* Warns once when a container route starts replacing a --route. */
static void
warn_shadowing(const struct route *old, const struct route *new)
{
    if (new->shadows_static && (old == NULL || !old->shadows_static))
        log_warn("route", "static route replaced by a container route",
                 "host=%s path=%s container=%s", new->host, new->path,
                 new->upstreams[0].container_name);
}

static void
log_changes(const struct route_table *old, const struct route_table *new)
{
    size_t i = 0, j = 0;
    size_t n_old = old ? old->n_routes : 0, n_new = new ? new->n_routes : 0;

    while (i < n_old || j < n_new) {
        int c;

        if (i == n_old)
            c = 1;
        else if (j == n_new)
            c = -1;
        else
            c = compare_routes(&old->routes[i], &new->routes[j]);
        if (c < 0) {
            log_route("route removed", &old->routes[i++]);
        } else if (c > 0) {
            warn_shadowing(NULL, &new->routes[j]);
            log_route("route added", &new->routes[j++]);
        } else {
            warn_shadowing(&old->routes[i], &new->routes[j]);
            if (!same_upstreams(&old->routes[i], &new->routes[j]))
                log_route("route updated", &new->routes[j]);
            i++;
            j++;
        }
    }
}

static bool
reader_may_see(uint64_t retired_epoch)
{
    unsigned n = atomic_load(&n_readers);

    if (n > MAX_READERS)
        n = MAX_READERS;
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = atomic_load(&readers[i].active);
        if (a != 0 && a <= retired_epoch)
            return true;
    }
    return false;
}

void
route_reclaim(void)
{
    struct retired **p, *r;

    pthread_mutex_lock(&retired_lock);
    p = &retired_list;
    while ((r = *p) != NULL) {
        if (reader_may_see(r->epoch)) {
            p = &r->next;
            continue;
        }
        *p = r->next;
        route_table_free(r->table);
        free(r);
    }
    pthread_mutex_unlock(&retired_lock);
}

void
route_publish(struct route_table *t)
{
    struct route_table *old = atomic_load(&current);
    struct retired *r;

    log_changes(old, t);
    old = atomic_exchange(&current, t);
    if (old != NULL) {
        /* Readers that loaded `old` started at an epoch no later than the
         * one before this increment. */
        r = xcalloc(1, sizeof(*r));
        r->table = old;
        r->epoch = atomic_fetch_add(&epoch, 1);
        pthread_mutex_lock(&retired_lock);
        r->next = retired_list;
        retired_list = r;
        pthread_mutex_unlock(&retired_lock);
    }
    route_reclaim();
}

void
route_shutdown(void)
{
    struct retired *r;

    route_table_free(atomic_exchange(&current, NULL));
    pthread_mutex_lock(&retired_lock);
    while ((r = retired_list) != NULL) {
        retired_list = r->next;
        route_table_free(r->table);
        free(r);
    }
    pthread_mutex_unlock(&retired_lock);
}

void
route_table_print(const struct route_table *t, FILE *out)
{
    size_t n = route_table_count(t), n_skips = route_table_skip_count(t);

    fprintf(out, "%-32s %-16s %-28s %s\n", "HOST", "PATH", "UPSTREAMS",
            "CONTAINERS");
    for (size_t i = 0; i < n; i++) {
        const struct route *r = route_table_at(t, i);
        char addrs[1024], names[1024];

        describe_upstreams(r, addrs, sizeof(addrs), names, sizeof(names));
        fprintf(out, "%-32s %-16s %-28s %s\n", r->host, r->path, addrs, names);
    }
    if (n == 0)
        fprintf(out, "(no routes)\n");
    if (n_skips == 0)
        return;
    fprintf(out, "\nSKIPPED CONTAINERS\n");
    for (size_t i = 0; i < n_skips; i++) {
        const struct route_skip *s = route_table_skip_at(t, i);
        fprintf(out, "%s (%.12s): %s\n", s->container_name, s->container_id,
                s->reason);
    }
}

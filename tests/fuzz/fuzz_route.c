/*
 * libFuzzer target for src/route.c. The input is a list of "host path"
 * lines. The first byte (mod 32) is how many of them are routes, and a
 * leading '!' makes a route static. Every further line is a lookup, which
 * is checked against a linear scan of the finished table: the same host
 * after normalization (or its "*.parent" wildcard when no route names the
 * host) and the longest matching prefix.
 */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOST 255

struct line {
    const char *host, *path;
    size_t host_len, path_len;
    bool is_static;
};

/* Splits "host path" without copying. The path runs to the end of the
 * line, spaces included. */
static void
split_line(const char *p, size_t len, struct line *out)
{
    const char *space;

    out->is_static = len > 0 && p[0] == '!';
    if (out->is_static) {
        p++;
        len--;
    }
    space = memchr(p, ' ', len);
    out->host = p;
    out->host_len = space ? (size_t)(space - p) : len;
    out->path = space ? space + 1 : p + len;
    out->path_len = space ? len - out->host_len - 1 : 0;
}

static void
add_route(struct route_builder *b, const struct line *l, unsigned n)
{
    struct route_upstream up = {0};
    char host[MAX_HOST + 1];
    char *path = strndup(l->path, l->path_len);
    int len = route_normalize_host(l->host, l->host_len, host, sizeof(host));

    if (len > 0 && memchr(host, '\0', (size_t)len) == NULL) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&up.addr;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)(1 + n));
        up.addrlen = sizeof(*sin);
        up.container_id = l->is_static ? NULL : "0123456789ab";
        up.container_name = l->is_static ? NULL : "fuzz";
        route_builder_add(b, host, path, &up, NULL, l->is_static);
    }
    free(path);
}

static bool
matches(const struct route *r, const char *host, const char *path,
        size_t path_len)
{
    return strcmp(r->host, host) == 0 && r->path_len <= path_len &&
           memcmp(r->path, path, r->path_len) == 0;
}

/* Picks the host whose routes a lookup of `host` must use: the host when a
 * route names it, else "*.rest" for "label.rest", else none (""). */
static void
pick_host(const struct route_table *t, const char *host, char *out,
          size_t cap)
{
    const char *dot = strchr(host, '.');

    for (size_t i = 0; i < route_table_count(t); i++) {
        if (strcmp(route_table_at(t, i)->host, host) == 0) {
            snprintf(out, cap, "%s", host);
            return;
        }
    }
    snprintf(out, cap, "%s%s", dot ? "*" : "", dot ? dot : "");
}

static void
check_lookup(const struct route_table *t, const struct line *l)
{
    char host[MAX_HOST + 2], target[MAX_HOST + 3];
    const struct route *best = NULL;
    const struct route *r = route_lookup(t, l->host, l->host_len, l->path,
                                         l->path_len);
    int len = route_normalize_host(l->host, l->host_len, host, sizeof(host));

    if (len <= 0 || memchr(host, '\0', (size_t)len) != NULL) {
        if (r != NULL && len <= 0)
            abort();
        return;
    }
    pick_host(t, host, target, sizeof(target));
    for (size_t i = 0; i < route_table_count(t); i++) {
        const struct route *c = route_table_at(t, i);

        if (c->n_upstreams == 0 || c->path_len != strlen(c->path))
            abort();
        if (matches(c, target, l->path, l->path_len) &&
            (best == NULL || c->path_len > best->path_len))
            best = c;
    }
    if ((r == NULL) != (best == NULL))
        abort();
    if (r != NULL && (!matches(r, target, l->path, l->path_len) ||
                      r->path_len != best->path_len))
        abort();
    if (r != NULL && route_next_upstream(r) >= r->n_upstreams)
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct route_builder *b;
    struct route_table *t;
    const char *p = (const char *)data + 1;
    const char *end = (const char *)data + size;
    unsigned n_routes, n = 0;

    if (size < 1)
        return 0;
    n_routes = data[0] % 32;
    b = route_builder_new();
    t = NULL;
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct line l;

        split_line(p, len, &l);
        if (n < n_routes) {
            add_route(b, &l, n);
        } else {
            if (t == NULL)
                t = route_builder_finish(b);
            check_lookup(t, &l);
        }
        n++;
        p += len + 1;
    }
    if (t == NULL)
        t = route_builder_finish(b);
    route_table_free(t);
    return 0;
}

/* Routing table: lookup order, host normalisation, static routes, replicas
 * and snapshot reclamation. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "route.h"
#include "routes.h"

static struct route_upstream
upstream(const char *ip, int port, const char *name)
{
    struct route_upstream up;

    routes_make_upstream(&up, ip, port, false);
    up.container_id = name ? "0123456789abcdef" : NULL;
    up.container_name = name;
    return up;
}

static struct route_table *
sample_table(void)
{
    struct route_builder *b = route_builder_new();
    struct route_upstream a = upstream("127.0.0.1", 8001, "root");
    struct route_upstream api = upstream("127.0.0.1", 8002, "api");
    struct route_upstream api2 = upstream("127.0.0.1", 8003, "api-2");
    struct route_upstream other = upstream("::1", 8004, "other");
    struct route_upstream stat = upstream("127.0.0.1", 9000, NULL);
    struct route_upstream stat2 = upstream("127.0.0.1", 9001, NULL);

    route_builder_add(b, "app.test", "/", &a, NULL, false);
    route_builder_add(b, "app.test", "/api", &api, NULL, false);
    route_builder_add(b, "app.test", "/api", &api2, NULL, false);
    route_builder_add(b, "app.test", "/api/v2", &other, NULL, false);
    route_builder_add(b, "nas.test", "/", &stat, NULL, true);
    route_builder_add(b, "app.test", "/", &stat2, NULL, true); /* shadowed */
    route_builder_skip(b, "fedcba9876543210", "broken", "no exposed port");
    return route_builder_finish(b);
}

static void
test_route_lookup_longest_prefix(void)
{
    struct route_table *t = sample_table();
    static const struct {
        int line;
        const char *host, *path, *expected_path;
    } cases[] = {
        {__LINE__, "app.test", "/", "/"},
        {__LINE__, "app.test", "/index.html", "/"},
        {__LINE__, "app.test", "/api", "/api"},
        {__LINE__, "app.test", "/api/users", "/api"},
        {__LINE__, "app.test", "/apix", "/api"},
        {__LINE__, "app.test", "/api/v2/x", "/api/v2"},
        {__LINE__, "APP.Test", "/api", "/api"},
        {__LINE__, "app.test:8080", "/api", "/api"},
        {__LINE__, "app.test.", "/", "/"},
        {__LINE__, "nas.test", "/share", "/"},
        {__LINE__, "unknown.test", "/", NULL},
        {__LINE__, "app.tes", "/", NULL},
        {__LINE__, "", "/", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct route *r =
            route_lookup(t, cases[i].host, strlen(cases[i].host),
                         cases[i].path, strlen(cases[i].path));
        CHECK_STR(cases[i].line, cases[i].expected_path, r ? r->path : NULL);
    }
    route_table_free(t);
}

static void
test_route_lookup_wildcard(void)
{
    struct route_builder *b = route_builder_new();
    struct route_upstream wild = upstream("127.0.0.1", 8101, "wild");
    struct route_upstream exact = upstream("127.0.0.1", 8102, "exact");
    struct route_upstream deep = upstream("127.0.0.1", 8103, "deep");
    struct route_table *t;
    static const struct {
        int line;
        const char *host, *path, *expected_container;
    } cases[] = {
        {__LINE__, "a.example.test", "/", "wild"},
        {__LINE__, "B.Example.Test:443", "/x", "wild"},
        {__LINE__, "www.example.test", "/only/x", "exact"},
        {__LINE__, "www.example.test", "/", NULL}, /* exact host wins */
        {__LINE__, "example.test", "/", NULL},
        {__LINE__, "a.b.example.test", "/", NULL},
        {__LINE__, "x.sub.example.test", "/", "deep"},
        {__LINE__, "sub.example.test", "/", "wild"},
        {__LINE__, "test", "/", NULL},
    };

    route_builder_add(b, "*.example.test", "/", &wild, NULL, false);
    route_builder_add(b, "www.example.test", "/only", &exact, NULL, false);
    route_builder_add(b, "*.sub.example.test", "/", &deep, NULL, false);
    t = route_builder_finish(b);
    /* A path that misses on www.example.test does not fall back to the
     * wildcard: the host is routed, so the wildcard is never consulted. */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct route *r =
            route_lookup(t, cases[i].host, strlen(cases[i].host),
                         cases[i].path, strlen(cases[i].path));
        CHECK_STR(cases[i].line, cases[i].expected_container,
                  r ? r->upstreams[0].container_name : NULL);
    }
    route_table_free(t);
}

static void
test_route_static_shadowed_by_container(void)
{
    struct route_table *t = sample_table();
    const struct route *r = route_lookup(t, "app.test", 8, "/", 1);

    CHECK(r != NULL);
    CHECK_INT(__LINE__, 1, r->n_upstreams);
    CHECK_STR(__LINE__, "127.0.0.1:8001", r->upstreams[0].addr_text);
    CHECK_INT(__LINE__, 0, r->is_static);
    CHECK_INT(__LINE__, 1, r->shadows_static);
    r = route_lookup(t, "nas.test", 8, "/", 1);
    CHECK(r != NULL);
    CHECK_INT(__LINE__, 1, r->is_static);
    CHECK_INT(__LINE__, 4, route_table_count(t));
    CHECK_INT(__LINE__, 1, route_table_skip_count(t));
    CHECK_STR(__LINE__, "no exposed port", route_table_skip_at(t, 0)->reason);
    route_table_free(t);
}

static void
test_route_replicas_round_robin(void)
{
    struct route_table *t = sample_table();
    const struct route *r = route_lookup(t, "app.test", 8, "/api", 4);
    int seen[2] = {0, 0};

    CHECK_INT(__LINE__, 2, r->n_upstreams);
    for (int i = 0; i < 10; i++)
        seen[route_next_upstream(r)]++;
    CHECK_INT(__LINE__, 5, seen[0]);
    CHECK_INT(__LINE__, 5, seen[1]);
    CHECK_STR(__LINE__, "[::1]:8004",
              route_lookup(t, "app.test", 8, "/api/v2", 7)
                  ->upstreams[0]
                  .addr_text);
    route_table_free(t);
}

static void
test_route_normalize_host(void)
{
    static const struct {
        int line;
        const char *in, *out;
    } cases[] = {
        {__LINE__, "Example.COM", "example.com"},
        {__LINE__, "example.com:443", "example.com"},
        {__LINE__, "example.com.", "example.com"},
        {__LINE__, "[::1]:8080", "[::1]"},
        {__LINE__, "[::1]", "[::1]"},
        {__LINE__, "127.0.0.1:80", "127.0.0.1"},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = route_normalize_host(cases[i].in, strlen(cases[i].in), out,
                                     sizeof(out));
        CHECK_STR(cases[i].line, cases[i].out, n >= 0 ? out : NULL);
    }
    CHECK_INT(__LINE__, -1, route_normalize_host("[::1", 4, out, sizeof(out)));
}

/* A snapshot replaced while a reader is inside its section stays readable
 * until that reader leaves. */
static void
test_route_reclaim_waits_for_readers(void)
{
    struct route_reader *rd = route_reader_new();
    const struct route_table *seen;
    const struct route *r;

    route_publish(sample_table());
    seen = route_read_begin(rd);
    route_publish(route_builder_finish(route_builder_new()));
    route_reclaim();
    r = route_lookup(seen, "app.test", 8, "/", 1);
    CHECK(r != NULL);
    CHECK_STR(__LINE__, "app.test", r ? r->host : NULL);
    route_read_end(rd);
    route_reclaim();
    seen = route_read_begin(rd);
    CHECK_INT(__LINE__, 0, route_table_count(seen));
    route_read_end(rd);
    route_shutdown();
}

int
main(void)
{
    test_route_lookup_longest_prefix();
    test_route_lookup_wildcard();
    test_route_static_shadowed_by_container();
    test_route_replicas_round_robin();
    test_route_normalize_host();
    test_route_reclaim_waits_for_readers();
    return check_done();
}

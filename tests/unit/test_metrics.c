/* Metrics: host label bounding, status classes, histogram buckets and the
 * Prometheus text rendering. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

static char *
render(const struct metrics_gauges *g)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    metrics_render(out, g);
    fclose(out);
    return text;
}

/* Returns the value of the sample line that starts with `series ` exactly,
 * or -1 when there is none. */
static long long
sample(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return atoll(p + n + 1);
    return -1;
}

static void
test_metrics_requests_by_host_and_class(void)
{
    static const struct {
        int line;
        const char *series;
        long long expected;
    } cases[] = {
        {__LINE__, "portico_http_requests_total{host=\"app.test\","
                   "code_class=\"2xx\"}", 3},
        {__LINE__, "portico_http_requests_total{host=\"app.test\","
                   "code_class=\"5xx\"}", 1},
        {__LINE__, "portico_http_requests_total{host=\"api.test\","
                   "code_class=\"4xx\"}", 1},
        {__LINE__, "portico_http_requests_total{host=\"other\","
                   "code_class=\"2xx\"}", 2},
        {__LINE__, "portico_http_requests_total{host=\"other\","
                   "code_class=\"none\"}", 1},
        {__LINE__, "portico_http_requests_total{host=\"app.test\","
                   "code_class=\"3xx\"}", -1},
        {__LINE__, "portico_http_requests_total{host=\"*.wild.test\","
                   "code_class=\"2xx\"}", 1},
        {__LINE__, "portico_http_request_duration_seconds_bucket{le="
                   "\"0.005\"}", 4},
        {__LINE__, "portico_http_request_duration_seconds_bucket{le="
                   "\"0.1\"}", 7},
        {__LINE__, "portico_http_request_duration_seconds_bucket{le="
                   "\"10\"}", 8},
        {__LINE__, "portico_http_request_duration_seconds_bucket{le="
                   "\"+Inf\"}", 9},
        {__LINE__, "portico_http_request_duration_seconds_count", 9},
        {__LINE__, "portico_connections_total", 3},
        {__LINE__, "portico_connections_active", 2},
        {__LINE__, "portico_upstream_connect_failures_total", 1},
        {__LINE__, "portico_tls_handshakes_total", 1},
        {__LINE__, "portico_tls_handshake_failures_total", 1},
        {__LINE__, "portico_routes", 4},
        {__LINE__, "portico_upstreams", 5},
        {__LINE__, "portico_docker_events_total", 2},
        {__LINE__, "portico_acme_orders_total{result=\"valid\"}", 1},
        {__LINE__, "portico_acme_orders_total{result=\"failed\"}", 2},
        {__LINE__, "portico_certificate_expiry_timestamp_seconds{name="
                   "\"app.test\"}", 1900000000},
        {__LINE__, "portico_route_update_latency_seconds_count", 1},
    };
    struct metrics_cert certs[] = {{"app.test", 1900000000}};
    struct metrics_gauges g = {4, 5, certs, 1};
    char *text;

    CHECK(metrics_init(2) == 0);
    metrics_add_host("app.test");
    metrics_add_host("api.test");
    metrics_add_host("app.test"); /* a second add keeps one row */
    metrics_add_host("*.wild.test");
    metrics_request_done(0, "app.test", 200, 0.001);
    metrics_request_done(1, "APP.test:8080", 204, 0.002);
    metrics_request_done(1, "app.test", 200, 0.05);
    metrics_request_done(0, "app.test", 502, 0.06);
    metrics_request_done(0, "api.test", 404, 0.07);
    metrics_request_done(0, "unknown.test", 200, 3);
    metrics_request_done(0, "a.wild.test", 200, 0.001);
    metrics_request_done(0, "a.b.wild.test", 200, 0.001); /* other */
    metrics_request_done(0, NULL, 0, 12);
    metrics_connection_open(0);
    metrics_connection_open(1);
    metrics_connection_open(1);
    metrics_connection_close(1);
    metrics_upstream_connect_failed(1);
    metrics_tls_handshake(0, true);
    metrics_tls_handshake(0, false);
    metrics_docker_event("container", "start");
    metrics_docker_event("container", "exec_create: sh");
    metrics_routes_published();
    metrics_routes_published(); /* nothing pending: not observed */
    metrics_acme_order(true);
    metrics_acme_order(false);
    metrics_acme_order(false);
    text = render(&g);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(cases[i].line, cases[i].expected,
                  sample(text, cases[i].series));
    CHECK(strstr(text, "# TYPE portico_http_requests_total counter\n"));
    CHECK(strstr(text, "# TYPE portico_http_request_duration_seconds "
                       "histogram\n"));
    CHECK(strstr(text, "# HELP portico_connections_active "));
    free(text);
    metrics_free();
}

static void
test_metrics_host_table_full_counts_other(void)
{
    struct metrics_gauges g = {0};
    char name[64], *text;

    CHECK(metrics_init(1) == 0);
    /* Three hosts already exist from the test above. */
    for (int i = 0; i < METRICS_MAX_HOSTS + 10; i++) {
        snprintf(name, sizeof(name), "h%d.test", i);
        metrics_add_host(name);
    }
    metrics_request_done(0, "h0.test", 200, 0.001);
    snprintf(name, sizeof(name), "h%d.test", METRICS_MAX_HOSTS + 5);
    metrics_request_done(0, name, 200, 0.001);
    text = render(&g);
    CHECK_INT(__LINE__, 1,
              sample(text, "portico_http_requests_total{host=\"h0.test\","
                           "code_class=\"2xx\"}"));
    CHECK_INT(__LINE__, 1,
              sample(text, "portico_http_requests_total{host=\"other\","
                           "code_class=\"2xx\"}"));
    CHECK(strstr(text, name) == NULL);
    free(text);
    metrics_free();
}

static void
test_metrics_render_without_init(void)
{
    struct metrics_gauges g = {0};
    char *text;

    metrics_request_done(0, "app.test", 200, 0.001); /* ignored */
    text = render(&g);
    CHECK_INT(__LINE__, 0, sample(text, "portico_connections_total"));
    CHECK_INT(__LINE__, 1, sample(text, "portico_build_info{version=\""
                                        PORTICO_VERSION "\"}"));
    free(text);
}

int
main(void)
{
    test_metrics_render_without_init();
    test_metrics_requests_by_host_and_class();
    test_metrics_host_table_full_counts_other();
    return check_done();
}

/*
 * The admin server runs on libmicrohttpd's internal polling thread, so a
 * slow client or a large scrape never delays the proxy workers. It reads
 * routes through its own route_reader and everything else through
 * functions that copy under their owner's lock.
 */
#include "admin.h"

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "acme.h"
#include "dashboard_html.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "route.h"

#define CONNECTION_LIMIT 32
#define CONNECTION_TIMEOUT_S 15

static struct MHD_Daemon *daemon_handle;
static atomic_bool synced;
static struct route_reader *reader; /* used by the server thread only */

static pthread_mutex_t containers_lock = PTHREAD_MUTEX_INITIALIZER;
static char *containers_json; /* the last summary, NULL before the first */

static const char *const health_names[] = {
    [WATCH_HEALTH_NONE] = "none",
    [WATCH_HEALTH_STARTING] = "starting",
    [WATCH_HEALTH_HEALTHY] = "healthy",
    [WATCH_HEALTH_UNHEALTHY] = "unhealthy",
};

static const char *const https_names[] = {
    [ROUTE_HTTPS_REDIRECT] = "redirect",
    [ROUTE_HTTPS_NOREDIRECT] = "noredirect",
    [ROUTE_HTTPS_NOHTTPS] = "nohttps",
    [ROUTE_HTTPS_NOHTTP] = "nohttp",
};

void
admin_set_synced(void)
{
    atomic_store(&synced, true);
}

static cJSON *
string_array(char *const *items, size_t n)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    return a;
}

static cJSON *
describe_container(const struct watch_container *c)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddBoolToObject(o, "running", c->running);
    cJSON_AddBoolToObject(o, "paused", c->paused);
    cJSON_AddBoolToObject(o, "stopping", c->stopping);
    cJSON_AddStringToObject(o, "health", health_names[c->health]);
    cJSON_AddBoolToObject(o, "wants_routing", c->wants_routing);
    cJSON_AddBoolToObject(o, "routable", watch_container_routable(c));
    cJSON_AddItemToObject(o, "hosts", string_array(c->hosts, c->n_hosts));
    if (c->path != NULL)
        cJSON_AddStringToObject(o, "path", c->path);
    if (c->port > 0)
        cJSON_AddNumberToObject(o, "port", c->port);
    if (c->upstream_ip != NULL)
        cJSON_AddStringToObject(o, "address", c->upstream_ip);
    if (c->network != NULL)
        cJSON_AddStringToObject(o, "network", c->network);
    if (c->skip_reason != NULL)
        cJSON_AddStringToObject(o, "skip_reason", c->skip_reason);
    else
        cJSON_AddNullToObject(o, "skip_reason");
    cJSON_AddItemToObject(o, "warnings",
                          string_array(c->warnings, c->n_warnings));
    return o;
}

void
admin_set_containers(struct watch_container *const *list, size_t n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(root, "containers");
    char *text;

    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, describe_container(list[i]));
    text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        log_error("admin", "out of memory", "containers=%zu", n);
        return;
    }
    pthread_mutex_lock(&containers_lock);
    free(containers_json);
    containers_json = text;
    pthread_mutex_unlock(&containers_lock);
}

/* ---- Responses ---- */

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned status, const char *type,
          char *body, size_t len, bool must_free)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    r = MHD_create_response_from_buffer(len, body,
                                        must_free ? MHD_RESPMEM_MUST_FREE
                                                  : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"portico\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result
send_static(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return send_text(conn, status, "text/plain; charset=utf-8", (char *)text,
                     strlen(text), false);
}

/* Consumes root. */
static enum MHD_Result
send_json(struct MHD_Connection *conn, cJSON *root)
{
    char *text = cJSON_PrintUnformatted(root);

    cJSON_Delete(root);
    if (text == NULL)
        return send_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "out of memory\n");
    return send_text(conn, MHD_HTTP_OK, "application/json", text,
                     strlen(text), true);
}

static enum MHD_Result
send_dashboard(struct MHD_Connection *conn)
{
    struct MHD_Response *r;
    enum MHD_Result rc;

    r = MHD_create_response_from_buffer(sizeof(dashboard_html) - 1,
                                        (void *)dashboard_html,
                                        MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/html; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; "
                            "frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- Endpoints ---- */

static cJSON *
describe_upstream(const struct route_upstream *u)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "address", u->addr_text);
    cJSON_AddBoolToObject(o, "tls", u->tls);
    if (u->container_id != NULL) {
        cJSON_AddStringToObject(o, "container_id", u->container_id);
        cJSON_AddStringToObject(o, "container_name", u->container_name);
    } else {
        cJSON_AddNullToObject(o, "container_id");
        cJSON_AddNullToObject(o, "container_name");
    }
    return o;
}

static cJSON *
describe_route(const struct route *r)
{
    cJSON *o = cJSON_CreateObject(), *policy, *ups;

    cJSON_AddStringToObject(o, "host", r->host);
    cJSON_AddStringToObject(o, "path", r->path);
    cJSON_AddBoolToObject(o, "static", r->is_static);
    cJSON_AddBoolToObject(o, "shadows_static", r->shadows_static);
    policy = cJSON_AddObjectToObject(o, "policy");
    cJSON_AddStringToObject(policy, "https", https_names[r->policy.https]);
    if (r->policy.hsts != NULL)
        cJSON_AddStringToObject(policy, "hsts", r->policy.hsts);
    else
        cJSON_AddNullToObject(policy, "hsts");
    ups = cJSON_AddArrayToObject(o, "upstreams");
    for (size_t i = 0; i < r->n_upstreams; i++)
        cJSON_AddItemToArray(ups, describe_upstream(&r->upstreams[i]));
    return o;
}

static enum MHD_Result
get_routes(struct MHD_Connection *conn)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *routes = cJSON_AddArrayToObject(root, "routes");
    cJSON *skipped = cJSON_AddArrayToObject(root, "skipped");
    const struct route_table *t = route_read_begin(reader);

    for (size_t i = 0; t != NULL && i < route_table_count(t); i++)
        cJSON_AddItemToArray(routes, describe_route(route_table_at(t, i)));
    for (size_t i = 0; t != NULL && i < route_table_skip_count(t); i++) {
        const struct route_skip *s = route_table_skip_at(t, i);
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "container_id", s->container_id);
        cJSON_AddStringToObject(o, "container_name", s->container_name);
        cJSON_AddStringToObject(o, "reason", s->reason);
        cJSON_AddItemToArray(skipped, o);
    }
    route_read_end(reader);
    return send_json(conn, root);
}

static void
format_time(time_t t, char *out, size_t cap)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
on_cert(const struct acme_cert_info *info, void *arg)
{
    cJSON *o = cJSON_CreateObject();
    char when[32];

    cJSON_AddStringToObject(o, "id", info->id);
    cJSON_AddItemToObject(o, "names", string_array((char *const *)info->names,
                                                   info->n_names));
    cJSON_AddBoolToObject(o, "has_certificate", info->has_cert);
    cJSON_AddStringToObject(o, "issuer", info->issuer);
    if (info->has_cert) {
        format_time(info->not_after, when, sizeof(when));
        cJSON_AddStringToObject(o, "not_after", when);
        cJSON_AddNumberToObject(o, "not_after_unix", (double)info->not_after);
    } else {
        cJSON_AddNullToObject(o, "not_after");
        cJSON_AddNullToObject(o, "not_after_unix");
    }
    if (info->next_order > 1) {
        format_time(info->next_order, when, sizeof(when));
        cJSON_AddStringToObject(o, "next_renewal", when);
    } else if (info->next_order == 1) {
        cJSON_AddStringToObject(o, "next_renewal", "now");
    } else {
        cJSON_AddNullToObject(o, "next_renewal");
    }
    cJSON_AddNumberToObject(o, "failed_attempts", info->attempts);
    cJSON_AddStringToObject(o, "last_error", info->last_error);
    cJSON_AddItemToArray(arg, o);
}

static void
on_acme_cert(const struct acme_cert_info *info, void *arg)
{
    on_cert(info, arg);
    cJSON_AddStringToObject(cJSON_GetArrayItem(arg, cJSON_GetArraySize(arg) - 1),
                            "source", "acme");
}

static void
on_user_cert(const struct acme_cert_info *info, void *arg)
{
    on_cert(info, arg);
    cJSON_AddStringToObject(cJSON_GetArrayItem(arg, cJSON_GetArraySize(arg) - 1),
                            "source", "certs-dir");
}

/* Lists ACME certificates, then the --certs-dir ones; each entry's
 * "source" field names where it comes from. */
static enum MHD_Result
get_certificates(struct MHD_Connection *conn)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "certificates");

    acme_cert_list(on_acme_cert, list);
    proxy_certs_list(on_user_cert, list);
    return send_json(conn, root);
}

static enum MHD_Result
get_containers(struct MHD_Connection *conn)
{
    char *text;

    pthread_mutex_lock(&containers_lock);
    text = strdup(containers_json ? containers_json : "{\"containers\":[]}");
    pthread_mutex_unlock(&containers_lock);
    if (text == NULL)
        return send_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "out of memory\n");
    return send_text(conn, MHD_HTTP_OK, "application/json", text,
                     strlen(text), true);
}

static void
on_recent_line(const char *line, void *arg)
{
    cJSON_AddItemToArray(arg, cJSON_CreateString(line));
}

static enum MHD_Result
get_errors(struct MHD_Connection *conn)
{
    cJSON *root = cJSON_CreateObject();

    log_recent_each(on_recent_line, cJSON_AddArrayToObject(root, "errors"));
    return send_json(conn, root);
}

/* Collects certificate expiry times; names are copied because the info
 * is valid only during the callback. */
struct cert_list {
    struct metrics_cert *items;
    size_t n, cap;
};

static void
on_cert_expiry(const struct acme_cert_info *info, void *arg)
{
    struct cert_list *l = arg;
    struct metrics_cert *grown;

    if (!info->has_cert)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        grown = realloc(l->items, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n].name = strdup(info->id);
    l->items[l->n].not_after = info->not_after;
    if (l->items[l->n].name != NULL)
        l->n++;
}

static enum MHD_Result
get_metrics(struct MHD_Connection *conn)
{
    struct metrics_gauges g = {0};
    struct cert_list certs = {0};
    const struct route_table *t;
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    t = route_read_begin(reader);
    g.routes = t ? route_table_count(t) : 0;
    for (size_t i = 0; i < g.routes; i++)
        g.upstreams += route_table_at(t, i)->n_upstreams;
    route_read_end(reader);
    acme_cert_list(on_cert_expiry, &certs);
    proxy_certs_list(on_cert_expiry, &certs);
    g.certs = certs.items;
    g.n_certs = certs.n;
    out = open_memstream(&text, &len);
    if (out != NULL) {
        metrics_render(out, &g);
        fclose(out);
    }
    for (size_t i = 0; i < certs.n; i++)
        free((char *)certs.items[i].name);
    free(certs.items);
    if (out == NULL || text == NULL)
        return send_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "out of memory\n");
    return send_text(conn, MHD_HTTP_OK, "text/plain; version=0.0.4", text,
                     len, true);
}

/* ---- Requests ---- */

/* Compares SHA-256 digests in constant time, so neither the token's
 * content nor its length shows in the response time. */
static bool
token_matches(const char *given)
{
    unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)given, strlen(given), a);
    SHA256((const unsigned char *)cfg.admin_token, strlen(cfg.admin_token),
           b);
    return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

static void
log_unauthorized(struct MHD_Connection *conn, const char *url)
{
    const union MHD_ConnectionInfo *info;
    char client[NI_MAXHOST] = "-";

    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info != NULL && info->client_addr != NULL)
        getnameinfo(info->client_addr,
                    info->client_addr->sa_family == AF_INET6
                        ? sizeof(struct sockaddr_in6)
                        : sizeof(struct sockaddr_in),
                    client, sizeof(client), NULL, 0, NI_NUMERICHOST);
    log_info("admin", "admin request without a valid token",
             "client=%s path=%s", client, url);
}

static bool
is_authorized(struct MHD_Connection *conn)
{
    const char *h;

    if (cfg.admin_token == NULL)
        return true;
    h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    return token_matches(h + 7);
}

static enum MHD_Result
route_request(struct MHD_Connection *conn, const char *url)
{
    if (strcmp(url, "/api/v1/routes") == 0)
        return get_routes(conn);
    if (strcmp(url, "/api/v1/certificates") == 0)
        return get_certificates(conn);
    if (strcmp(url, "/api/v1/containers") == 0)
        return get_containers(conn);
    if (strcmp(url, "/api/v1/errors") == 0)
        return get_errors(conn);
    if (strcmp(url, "/metrics") == 0)
        return get_metrics(conn);
    if (strcmp(url, "/readyz") == 0) {
        if (atomic_load(&synced))
            return send_static(conn, MHD_HTTP_OK, "ready\n");
        return send_static(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "not ready: no sync with the Docker engine yet\n");
    }
    return send_static(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
    if (reader == NULL)
        reader = route_reader_new();
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "method not allowed\n");
    if (*upload_data_size != 0)
        return send_static(conn, MHD_HTTP_BAD_REQUEST, "unexpected body\n");
    if (strcmp(url, "/healthz") == 0)
        return send_static(conn, MHD_HTTP_OK, "ok\n");
    /* The page contains no data, and its requests carry the token. */
    if (strcmp(url, "/") == 0)
        return send_dashboard(conn);
    if (!is_authorized(conn)) {
        log_unauthorized(conn, url);
        return send_static(conn, MHD_HTTP_UNAUTHORIZED,
                           "missing or invalid bearer token\n");
    }
    return route_request(conn, url);
}

static void
on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    size_t len;

    vsnprintf(text, sizeof(text), fmt, ap);
    len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    log_warn("admin", "admin server error", "error=%s", text);
}

int
admin_start(void)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    if (cfg.admin_listen.len == 0)
        return 0;
    if (cfg.admin_listen.sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first so that errors about later options reach it. */
    daemon_handle = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, NULL, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&cfg.admin_listen.sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_END);
    if (daemon_handle == NULL) {
        log_error("admin", "admin server failed to start",
                  "listen=%s hint=%s", cfg.admin_listen.text,
                  "another process may hold the port; set --admin-listen");
        return -1;
    }
    log_info("admin", "admin server listening", "listen=%s token=%s",
             cfg.admin_listen.text, cfg.admin_token ? "required" : "none");
    return 0;
}

void
admin_stop(void)
{
    if (daemon_handle != NULL)
        MHD_stop_daemon(daemon_handle);
    daemon_handle = NULL;
    pthread_mutex_lock(&containers_lock);
    free(containers_json);
    containers_json = NULL;
    pthread_mutex_unlock(&containers_lock);
}

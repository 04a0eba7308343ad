/*
 * The Docker endpoint as the Docker CLI configures it (DOCKER_HOST,
 * DOCKER_CERT_PATH, DOCKER_TLS_VERIFY), API version negotiation and the
 * blocking one-shot listing used by --print-routes.
 */
#include "watch_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define DEFAULT_DOCKER_HOST "unix:///var/run/docker.sock"
#define CONNECT_TIMEOUT_S 10L
#define ONCE_TIMEOUT_S 30L
#define MAX_BODY (64u << 20)

static char *
join_path(const char *dir, const char *file)
{
    char *s;

    if (asprintf(&s, "%s/%s", dir, file) < 0)
        return NULL;
    return s;
}

static int
set_tls_files(struct watch_engine *e)
{
    const char *dir = cfg.docker_cert_path;
    char *home_dir = NULL;
    int rc = -1;

    if (dir == NULL || dir[0] == '\0') {
        const char *home = getenv("HOME");

        if (home == NULL || asprintf(&home_dir, "%s/.docker", home) < 0)
            goto out;
        dir = home_dir;
    }
    e->ca_file = join_path(dir, "ca.pem");
    e->cert_file = join_path(dir, "cert.pem");
    e->key_file = join_path(dir, "key.pem");
    if (e->ca_file != NULL && e->cert_file != NULL && e->key_file != NULL)
        rc = 0;
out:
    free(home_dir);
    return rc;
}

/*
 * tcp://HOST[:PORT] uses TLS when DOCKER_CERT_PATH or DOCKER_TLS_VERIFY is
 * set, and verifies the server only with DOCKER_TLS_VERIFY, as the Docker
 * CLI does. The default ports are Docker's: 2376 with TLS, 2375 without.
 */
static int
init_tcp(struct watch_engine *e, const char *hostport)
{
    bool tls = (cfg.docker_cert_path != NULL && cfg.docker_cert_path[0]) ||
               cfg.docker_tls_verify;
    size_t len = strcspn(hostport, "/");
    const char *bracket = memchr(hostport, ']', len);
    const char *colon = memchr(bracket ? bracket : hostport, ':',
                               len - (bracket ? bracket - hostport : 0));
    const char *scheme = tls ? "https" : "http";
    int n;

    if (len == 0)
        return -1;
    if (colon != NULL)
        n = asprintf(&e->base_url, "%s://%.*s", scheme, (int)len, hostport);
    else
        n = asprintf(&e->base_url, "%s://%.*s:%d", scheme, (int)len, hostport,
                     tls ? 2376 : 2375);
    if (n < 0) {
        e->base_url = NULL;
        return -1;
    }
    e->tls_verify = cfg.docker_tls_verify;
    return tls ? set_tls_files(e) : 0;
}

int
watch_engine_init(struct watch_engine *e)
{
    const char *host = cfg.docker_host;

    memset(e, 0, sizeof(*e));
    if (host == NULL || host[0] == '\0')
        host = DEFAULT_DOCKER_HOST;
    e->endpoint = strdup(host);
    if (e->endpoint == NULL)
        goto fail;
    if (strncmp(host, "unix://", 7) == 0 && host[7] == '/') {
        e->socket_path = strdup(host + 7);
        e->base_url = strdup("http://docker");
        if (e->socket_path == NULL || e->base_url == NULL)
            goto fail;
        return 0;
    }
    if (strncmp(host, "tcp://", 6) == 0 && init_tcp(e, host + 6) == 0)
        return 0;

    log_error("watch", "unsupported Docker endpoint",
              "endpoint=%s expected=unix:///PATH|tcp://HOST:PORT", host);
fail:
    watch_engine_clear(e);
    return -1;
}

void
watch_engine_clear(struct watch_engine *e)
{
    free(e->endpoint);
    free(e->socket_path);
    free(e->base_url);
    free(e->ca_file);
    free(e->cert_file);
    free(e->key_file);
    memset(e, 0, sizeof(*e));
}

int
watch_engine_prepare(const struct watch_engine *e, CURL *h, const char *path,
                     bool versioned, long timeout_s)
{
    char *url;
    int rc;

    if (asprintf(&url, "%s%s%s%s", e->base_url, versioned ? "/" : "",
                 versioned ? e->api_version : "", path) < 0)
        return -1;
    curl_easy_reset(h);
    rc = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK ? 0 : -1;
    free(url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "portico/" PORTICO_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    if (e->socket_path != NULL)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, e->socket_path);
    if (e->cert_file != NULL) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, e->tls_verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, e->tls_verify ? 2L : 0L);
        if (e->tls_verify)
            curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
    }
    return rc;
}

const char *
watch_engine_error(const struct watch_engine *e, CURL *h, CURLcode result,
                   const char *errbuf, char *buf, size_t size)
{
    long os_errno = 0;

    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    if (e->socket_path != NULL && os_errno != 0) {
        snprintf(buf, size, "%s: %s", curl_easy_strerror(result),
                 strerror((int)os_errno));
        return buf;
    }
    return errbuf[0] != '\0' ? errbuf : curl_easy_strerror(result);
}

/* Parses "1.41" into 1041; returns -1 when text is not MAJOR.MINOR. */
static int
parse_api_version(const char *text)
{
    unsigned major, minor;
    int end = 0;

    if (text == NULL ||
        sscanf(text, "%3u.%3u%n", &major, &minor, &end) != 2 ||
        text[end] != '\0')
        return -1;
    return (int)(major * 1000 + minor);
}

/*
 * Uses the older of the engine's version and the newest version Portico
 * supports, but never less than the engine's minimum. Every request
 * Portico sends works the same from 1.41 on.
 */
int
watch_engine_negotiate(struct watch_engine *e, const cJSON *doc)
{
    const char *text = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(doc, "ApiVersion"));
    int server = parse_api_version(text);
    int min = parse_api_version(cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(doc, "MinAPIVersion")));
    int known = WATCH_API_MAX_MAJOR * 1000 + WATCH_API_MAX_MINOR;
    int chosen;

    if (server < 0) {
        log_warn("watch", "invalid API version from engine", "version=%s",
                 text ? text : "");
        return -1;
    }
    chosen = server < known ? server : known;
    if (min > chosen)
        chosen = min;
    if (chosen < 1041)
        log_warn("watch", "engine API older than supported",
                 "api_version=%s minimum=1.41", text);
    snprintf(e->api_version, sizeof(e->api_version), "v%d.%d", chosen / 1000,
             chosen % 1000);
    return 0;
}

int
watch_buf_append(struct watch_buf *b, const char *p, size_t n, size_t max)
{
    if (b->len + n + 1 > max)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *d;

        while (cap < b->len + n + 1)
            cap *= 2;
        d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void
watch_buf_clear(struct watch_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int
watch_self_path(char *buf, size_t size)
{
    char host[256];
    char *escaped;
    int n;

    if (gethostname(host, sizeof(host)) < 0)
        return -1;
    host[sizeof(host) - 1] = '\0';
    escaped = curl_easy_escape(NULL, host, 0);
    if (escaped == NULL)
        return -1;
    n = snprintf(buf, size, "/containers/%s/json", escaped);
    curl_free(escaped);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Docker sets a container's hostname to its short id unless --hostname
 * is given, and creates /.dockerenv in every container. */
bool
watch_is_self(const cJSON *doc)
{
    const char *id = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(doc, "Id"));
    char host[256];

    if (id == NULL || gethostname(host, sizeof(host)) < 0)
        return false;
    host[sizeof(host) - 1] = '\0';
    if (strlen(host) >= 12 && strncmp(id, host, strlen(host)) == 0)
        return true;
    return access("/.dockerenv", F_OK) == 0;
}

static size_t
on_once_body(char *p, size_t size, size_t n, void *arg)
{
    return watch_buf_append(arg, p, n, MAX_BODY) == 0 ? n : 0;
}

/* GETs path and parses the JSON body. Returns 0 with *doc set on 200, 1
 * on another status (in *status) and -1 when the engine is unreachable. */
static int
fetch_json(struct watch_engine *e, CURL *h, const char *path, bool versioned,
           cJSON **doc, long *status)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct watch_buf body = {0};
    CURLcode rc;
    int ret = -1;

    *doc = NULL;
    *status = 0;
    if (watch_engine_prepare(e, h, path, versioned, ONCE_TIMEOUT_S) < 0)
        return -1;
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_once_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        char buf[256];

        log_error("watch", "engine connection failed",
                  "endpoint=%s path=%s error=%s", e->endpoint, path,
                  watch_engine_error(e, h, rc, errbuf, buf, sizeof(buf)));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    ret = 1;
    if (*status != 200 || body.data == NULL)
        goto out;
    *doc = cJSON_Parse(body.data);
    if (*doc == NULL) {
        log_error("watch", "invalid JSON from engine", "endpoint=%s path=%s",
                  e->endpoint, path);
        ret = -1;
        goto out;
    }
    ret = 0;
out:
    watch_buf_clear(&body);
    return ret;
}

static int
detect_self(struct watch_engine *e, CURL *h, struct watch_parse_env *env)
{
    char path[512];
    cJSON *doc = NULL;
    long status;
    int rc = 0;

    if (watch_self_path(path, sizeof(path)) == 0 &&
        fetch_json(e, h, path, true, &doc, &status) < 0)
        return -1;
    if (doc != NULL && !watch_is_self(doc)) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    if (watch_env_set_self(env, doc) < 0)
        rc = -1;
    cJSON_Delete(doc);
    return rc;
}

static int
inspect_all(struct watch_engine *e, CURL *h, const cJSON *list,
            const struct watch_parse_env *env, struct watch_container ***out,
            size_t *n)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, list) {
        const char *id = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(item, "Id"));
        struct watch_container *c, **grown;
        char path[256];
        cJSON *doc;
        long status;
        int rc;

        if (id == NULL || strlen(id) > 128)
            continue;
        snprintf(path, sizeof(path), "/containers/%s/json", id);
        rc = fetch_json(e, h, path, true, &doc, &status);
        if (rc < 0)
            return -1;
        if (rc > 0)
            continue; /* removed since the listing */
        c = watch_container_from_inspect(doc, env);
        cJSON_Delete(doc);
        grown = c ? realloc(*out, (*n + 1) * sizeof(*grown)) : NULL;
        if (grown == NULL) {
            watch_container_free(c);
            return -1;
        }
        *out = grown;
        (*out)[(*n)++] = c;
    }
    return 0;
}

int
watch_list_once(struct watch_container ***out, size_t *n)
{
    struct watch_engine e;
    struct watch_parse_env env = {.host_network_address =
                                      cfg.host_network_address};
    CURL *h = NULL;
    cJSON *doc = NULL;
    long status;
    int rc = -1;

    *out = NULL;
    *n = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (watch_engine_init(&e) < 0)
        goto out;
    h = curl_easy_init();
    if (h == NULL || fetch_json(&e, h, "/version", false, &doc, &status) != 0)
        goto fail_status;
    if (watch_engine_negotiate(&e, doc) < 0 || detect_self(&e, h, &env) < 0)
        goto out;
    cJSON_Delete(doc);
    if (fetch_json(&e, h, "/containers/json", true, &doc, &status) != 0 ||
        !cJSON_IsArray(doc))
        goto fail_status;
    rc = inspect_all(&e, h, doc, &env, out, n);
    goto out;

fail_status:
    if (status != 0 && status != 200)
        log_error("watch", "engine request failed", "endpoint=%s status=%ld",
                  e.endpoint, status);
out:
    if (rc < 0) {
        for (size_t i = 0; i < *n; i++)
            watch_container_free((*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    cJSON_Delete(doc);
    watch_env_clear(&env);
    if (h != NULL)
        curl_easy_cleanup(h);
    watch_engine_clear(&e);
    curl_global_cleanup();
    return rc;
}

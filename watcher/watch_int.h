/*
 * Internals shared by the watcher's files: inspect parsing (pure, no curl or
 * libevent, so it can be unit-tested and fuzzed) and the engine endpoint.
 */
#ifndef PORTICO_WATCH_INT_H
#define PORTICO_WATCH_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "watcher.h"

/* The newest Engine API version Portico supports. Older engines are used
 * at their own version. */
#define WATCH_API_MAX_MAJOR 1
#define WATCH_API_MAX_MINOR 47

/* Context for container parsing beyond the inspect document. */
struct watch_parse_env {
    const char *host_network_address; /* for NetworkMode host, or NULL */
    /* Networks of Portico's own container, sorted; in_container is false
     * when Portico is not in a container or shares the host's network. */
    bool in_container;
    char **own_networks;
    size_t n_own_networks;
};

/* Builds a container from a GET /containers/{id}/json document. Returns
 * NULL when the document has no Id or memory runs out. */
struct watch_container *watch_container_from_inspect(
    const cJSON *doc, const struct watch_parse_env *env);

/* The same from JSON text, for tests and fuzzing. NULL on invalid JSON. */
struct watch_container *watch_container_from_json(
    const char *json, const struct watch_parse_env *env);

/* Compares every field of a and b; true when all are equal. */
bool watch_container_equal(const struct watch_container *a,
                           const struct watch_container *b);

/*
 * Fills env->in_container and env->own_networks from the inspect document
 * of Portico's own container; doc NULL means it runs outside any container.
 * Returns 0 or -1 when memory runs out.
 */
int watch_env_set_self(struct watch_parse_env *env, const cJSON *doc);
void watch_env_clear(struct watch_parse_env *env);

/* The Docker endpoint from cfg, in the Docker CLI's terms. */
struct watch_engine {
    char *endpoint;    /* as configured, for logs */
    char *socket_path; /* unix socket, or NULL for TCP */
    char *base_url;    /* "http://docker" or "http[s]://host:port" */
    char *ca_file, *cert_file, *key_file; /* NULL without TLS */
    bool tls_verify;
    char api_version[16]; /* "v1.41" once negotiated, else empty */
};

/* Returns 0, or -1 with a logged error for an unsupported DOCKER_HOST. */
int watch_engine_init(struct watch_engine *e);
void watch_engine_clear(struct watch_engine *e);

/*
 * Prepares a GET of `path` (starting with '/', query included) on h. The
 * negotiated version prefixes the path unless `versioned` is false, as for
 * GET /version. timeout_s 0 means no timeout (the events stream).
 */
int watch_engine_prepare(const struct watch_engine *e, CURL *h,
                         const char *path, bool versioned, long timeout_s);

/* Describes a failed transfer for logs. For a unix socket, libcurl's own
 * message names a TCP port, so the system error is given instead. */
const char *watch_engine_error(const struct watch_engine *e, CURL *h,
                               CURLcode result, const char *errbuf,
                               char *buf, size_t size);

/* Sets e->api_version from a GET /version document. Returns 0 or -1
 * (logged) when the document has no usable ApiVersion. */
int watch_engine_negotiate(struct watch_engine *e, const cJSON *doc);

/* A growing response body, NUL-terminated when not empty. */
struct watch_buf {
    char *data;
    size_t len, cap;
};

/* Returns 0, or -1 when memory runs out or the body would pass max. */
int watch_buf_append(struct watch_buf *b, const char *p, size_t n,
                     size_t max);
void watch_buf_clear(struct watch_buf *b);

/* Called with each complete line, NUL-terminated in place without its
 * '\n'. A negative return stops the split. */
typedef int (*watch_line_cb)(void *arg, char *line, size_t len);

/* Returned by watch_split_lines for a line of max bytes or more. */
#define WATCH_LINE_TOO_LONG (-2)

/*
 * Appends n bytes of a newline-delimited stream to line and calls on_line
 * for each line completed. A partial line stays in `line` for the next
 * call. Returns 0, WATCH_LINE_TOO_LONG, or -1 when memory runs out or
 * on_line fails.
 */
int watch_split_lines(struct watch_buf *line, const char *p, size_t n,
                      size_t max, watch_line_cb on_line, void *arg);

/* The fields of a GET /events record that the watcher acts on; the strings
 * belong to the cJSON document. */
struct watch_event {
    const char *type;   /* "container", "network", ... */
    const char *action; /* "start", "health_status: healthy", ... */
    const char *id;     /* the container: Actor.ID, or for a network event
                           Actor.Attributes.container; may be NULL */
    const char *signal; /* Actor.Attributes.signal of a kill, or NULL */
};

/* Fills out from an event document. Returns 0, or -1 when it has no Type
 * or Action string. */
int watch_event_decode(const cJSON *doc, struct watch_event *out);

/* Writes into buf the inspect path of the container this process may run
 * in, named after its hostname. Returns 0 or -1. */
int watch_self_path(char *buf, size_t size);

/* Is doc, from watch_self_path, really this process's container? A
 * container merely named like the host does not count. */
bool watch_is_self(const cJSON *doc);

#endif

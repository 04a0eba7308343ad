/*
 * The Docker Engine API client: version negotiation, container listing and
 * inspection, the events stream and periodic resync. It only ever sends GET
 * requests, so it works behind a read-only socket proxy.
 */
#ifndef PORTICO_WATCHER_H
#define PORTICO_WATCHER_H

#include <stdbool.h>
#include <stddef.h>

enum watch_health {
    WATCH_HEALTH_NONE, /* no HEALTHCHECK: routable while running */
    WATCH_HEALTH_STARTING,
    WATCH_HEALTH_HEALTHY,
    WATCH_HEALTH_UNHEALTHY,
};

/* nginx-proxy's HTTPS_METHOD. */
enum watch_https_method {
    WATCH_HTTPS_REDIRECT,   /* 301 to HTTPS once a certificate exists */
    WATCH_HTTPS_NOREDIRECT, /* serve both */
    WATCH_HTTPS_NOHTTPS,    /* HTTP only, no certificate */
    WATCH_HTTPS_NOHTTP,     /* HTTPS only: plain HTTP is not routed (503) */
};

/* nginx-proxy's default HSTS value. */
#define WATCH_HSTS_DEFAULT "max-age=31536000"

/* A label or env value that Portico reads, after label-over-env merging. */
struct watch_setting {
    char *name;
    char *value;
};

/* A container's state and its parsed routing intent. */
struct watch_container {
    char *id;   /* full 64-hex id */
    char *name; /* without the leading '/' */
    bool running;
    bool paused;
    bool stopping; /* a kill event was seen: out of rotation at once */
    enum watch_health health;

    /* Settings Portico reads: VIRTUAL_*, LETSENCRYPT_*, ACME_*, HTTPS_METHOD,
     * HSTS and portico.*; a label wins over an env var of the same name. */
    struct watch_setting *settings;
    size_t n_settings;

    /* Routing intent, valid when skip_reason is NULL. */
    bool wants_routing; /* has VIRTUAL_HOST or portico.host */
    char **hosts;       /* lower case, validated, at least one */
    size_t n_hosts;
    char *path;         /* "/" by default */
    bool upstream_tls;  /* VIRTUAL_PROTO / portico.proto is https */
    int port;           /* container port */
    char *upstream_ip;  /* numeric address to connect to */
    char *network;      /* network the address is on, or "host" */
    char *skip_reason;  /* why the container cannot be routed, or NULL */

    /* Label problems that did not stop routing, such as one invalid name
     * among valid ones in VIRTUAL_HOST: full sentences for the log. */
    char **warnings;
    size_t n_warnings;

    /* HTTPS intent, valid when wants_routing and skip_reason is NULL. */
    bool tls_off;        /* portico.tls=off or HTTPS_METHOD=nohttps */
    bool tls_san;        /* one certificate for all of cert_hosts */
    char **cert_hosts;   /* portico.tls.domains as given, else the
                            LETSENCRYPT_HOST / ACME_HOST names that are
                            routed, else every host */
    size_t n_cert_hosts;
    char *acme_email;    /* LETSENCRYPT_EMAIL / ACME_EMAIL, or NULL */
    int acme_challenge;  /* portico.tls.challenge as an enum acme_challenge,
                            -1: the global --acme-challenge */
    enum watch_https_method https_method;
    char *hsts;          /* Strict-Transport-Security value, NULL: off */
    long long max_body_size; /* portico.max-body-size, 0: --max-body-size */
};

/* Returns the merged setting value, or NULL when neither a label nor an env
 * var of that name exists. */
const char *watch_setting(const struct watch_container *c, const char *name);

/* Routable now: running, not paused or stopping, healthy or without a
 * health check, wants routing and was not skipped. */
bool watch_container_routable(const struct watch_container *c);

struct watch_ops {
    /*
     * Called on the watcher thread after the container set changed (one
     * call for a burst of events), with every container currently known.
     * The list and containers are valid only during the call.
     */
    void (*changed)(void *arg, struct watch_container *const *list, size_t n);
    /* Called after each full resync (start, reconnect, periodic). */
    void (*synced)(void *arg);
};

struct watcher;

/* Uses cfg.docker_host, cfg.docker_cert_path, cfg.docker_tls_verify,
 * cfg.host_network_address and cfg.resync_interval. */
struct watcher *watch_new(const struct watch_ops *ops, void *arg);

/* Starts the watcher thread. An unreachable engine is retried with capped
 * exponential backoff, so this fails only when the thread cannot start. */
int watch_start(struct watcher *w);

/* Stops the thread and frees the watcher. */
void watch_free(struct watcher *w);

/*
 * Connects once, negotiates the API version, lists and inspects every
 * container and returns them (for --print-routes). Returns 0, or -1 with a
 * logged error when the engine cannot be reached.
 */
int watch_list_once(struct watch_container ***out, size_t *n);

void watch_container_free(struct watch_container *c);

#endif

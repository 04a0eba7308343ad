#include "routes.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"
#include "config.h"
#include "log.h"

int
routes_make_upstream(struct route_upstream *up, const char *ip, int port,
                     bool tls)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&up->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&up->addr;

    memset(up, 0, sizeof(*up));
    up->tls = tls;
    if (port < 1 || port > 65535)
        return -1;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        up->addrlen = sizeof(*v4);
        snprintf(up->addr_text, sizeof(up->addr_text), "%s:%d", ip, port);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        up->addrlen = sizeof(*v6);
        snprintf(up->addr_text, sizeof(up->addr_text), "[%s]:%d", ip, port);
        return 0;
    }
    return -1;
}

/* Why a container that wants routing gets no traffic right now, or NULL. */
static const char *
inactive_reason(const struct watch_container *c)
{
    if (c->stopping)
        return "stopping";
    if (c->paused)
        return "paused";
    if (!c->running)
        return "not running";
    if (c->health == WATCH_HEALTH_STARTING)
        return "health check starting";
    if (c->health == WATCH_HEALTH_UNHEALTHY)
        return "unhealthy";
    return NULL;
}

static struct route_policy
container_policy(const struct watch_container *c)
{
    static const enum route_https methods[] = {
        [WATCH_HTTPS_REDIRECT] = ROUTE_HTTPS_REDIRECT,
        [WATCH_HTTPS_NOREDIRECT] = ROUTE_HTTPS_NOREDIRECT,
        [WATCH_HTTPS_NOHTTPS] = ROUTE_HTTPS_NOHTTPS,
        [WATCH_HTTPS_NOHTTP] = ROUTE_HTTPS_NOHTTP,
    };
    struct route_policy p = {methods[c->https_method], c->hsts,
                             c->max_body_size};

    if (c->tls_off)
        p.https = ROUTE_HTTPS_NOHTTPS;
    return p;
}

static void
add_container(struct route_builder *b, const struct watch_container *c)
{
    struct route_policy policy = container_policy(c);
    struct route_upstream up;
    const char *why;

    if (!c->wants_routing)
        return;
    if (c->skip_reason != NULL) {
        route_builder_skip(b, c->id, c->name, c->skip_reason);
        return;
    }
    why = inactive_reason(c);
    if (why != NULL) {
        route_builder_skip(b, c->id, c->name, why);
        return;
    }
    if (routes_make_upstream(&up, c->upstream_ip, c->port, c->upstream_tls)) {
        route_builder_skip(b, c->id, c->name, "invalid upstream address");
        return;
    }
    up.container_id = c->id;
    up.container_name = c->name;
    for (size_t i = 0; i < c->n_hosts; i++)
        route_builder_add(b, c->hosts[i], c->path, &up, &policy, false);
}

struct route_table *
routes_build(struct watch_container *const *list, size_t n)
{
    struct route_builder *b = route_builder_new();

    for (size_t i = 0; i < n; i++)
        add_container(b, list[i]);
    for (size_t i = 0; i < cfg.n_routes; i++) {
        const struct cfg_route *r = &cfg.routes[i];
        struct route_upstream up = {0};

        up.addr = r->upstream.sa;
        up.addrlen = r->upstream.len;
        up.tls = r->tls;
        snprintf(up.addr_text, sizeof(up.addr_text), "%s", r->upstream.text);
        route_builder_add(b, r->host, r->path, &up, NULL, true);
    }
    return route_builder_finish(b);
}

/* Certificate requests built from the containers, owning nothing: names
 * point into the containers and cfg. */
struct cert_requests {
    struct acme_request *reqs;
    const char **names; /* one array shared by all requests */
    size_t n, n_names, cap_names;
};

static bool
same_request(const struct acme_request *a, const char *const *names,
             size_t n_names)
{
    if (a->n_names != n_names)
        return false;
    for (size_t i = 0; i < n_names; i++)
        if (strcmp(a->names[i], names[i]) != 0)
            return false;
    return true;
}

static bool
ends_with_label(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);

    if (n == k)
        return strcmp(name, suffix) == 0;
    return n > k && name[n - k - 1] == '.' && strcmp(name + n - k, suffix) == 0;
}

/*
 * Let's Encrypt rejects names it cannot validate publicly: one-label names,
 * IP addresses and the special-use domains of RFC 6761 and RFC 2606. Such
 * names (a demo.localhost container) are never sent to it; a private CA
 * set with --acme-directory gets every name.
 */
static bool
wanted_by_ca(const char *name)
{
    static const char *const reserved[] = {
        "localhost", "test",        "example",     "invalid",
        "local",     "internal",    "home.arpa",   "lan",
        "example.com", "example.net", "example.org",
    };
    static const char *const public_cas[] = {
        "https://acme-v02.api.letsencrypt.org/",
        "https://acme-staging-v02.api.letsencrypt.org/",
    };
    bool public_ca = false;
    bool numeric = true;

    for (size_t i = 0; i < sizeof(public_cas) / sizeof(public_cas[0]); i++)
        if (strncmp(cfg.acme_directory, public_cas[i],
                    strlen(public_cas[i])) == 0)
            public_ca = true;
    if (!public_ca)
        return true;
    if (strchr(name, '.') == NULL || strchr(name, ':') != NULL)
        return false;
    for (const char *p = name; *p && numeric; p++)
        numeric = (*p >= '0' && *p <= '9') || *p == '.';
    if (numeric)
        return false; /* an IPv4 address */
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (ends_with_label(name, reserved[i]))
            return false;
    return true;
}

/* Adds one certificate request for `names` unless an identical one exists.
 * `names` is copied into the shared array, which has room reserved. */
static void
add_request(struct cert_requests *r, const char *const *names, size_t n_names,
            const char *email, int challenge)
{
    const char **slot = r->names + r->n_names;
    size_t kept = 0;

    for (size_t i = 0; i < n_names; i++)
        if (wanted_by_ca(names[i]))
            slot[kept++] = names[i];
    if (kept == 0)
        return;
    for (size_t i = 0; i < r->n; i++)
        if (same_request(&r->reqs[i], slot, kept))
            return;
    r->n_names += kept;
    r->reqs[r->n++] = (struct acme_request){slot, kept, email, challenge};
}

static void
add_container_requests(struct cert_requests *r,
                       const struct watch_container *c)
{
    const char *email = cfg.acme_email ? cfg.acme_email : c->acme_email;

    if (!c->wants_routing || c->skip_reason != NULL || c->tls_off ||
        !c->running || c->n_cert_hosts == 0)
        return;
    if (c->tls_san) {
        add_request(r, (const char *const *)c->cert_hosts, c->n_cert_hosts,
                    email, c->acme_challenge);
        return;
    }
    for (size_t i = 0; i < c->n_cert_hosts; i++)
        add_request(r, (const char *const *)&c->cert_hosts[i], 1, email,
                    c->acme_challenge);
}

/* True when a DNS-01 request r names host or a wildcard covering exactly
 * its first label. */
static bool
covers_host(const struct acme_request *r, const char *host)
{
    const char *rest = strchr(host, '.');
    int challenge = r->challenge >= 0 ? r->challenge : cfg.acme_challenge;

    if (challenge != ACME_CHALLENGE_DNS01)
        return false;
    for (size_t i = 0; i < r->n_names; i++) {
        const char *n = r->names[i];
        if (strcmp(n, host) == 0 ||
            (n[0] == '*' && rest != NULL && rest != host &&
             strcmp(n + 1, rest) == 0))
            return true;
    }
    return false;
}

/* Drops the one-name requests that a wildcard certificate of any container
 * already covers, so that certificate serves those hosts. */
static void
drop_covered_requests(struct cert_requests *r)
{
    size_t kept = 0;

    for (size_t i = 0; i < r->n; i++) {
        const struct acme_request *q = &r->reqs[i];
        bool covered = false;

        for (size_t j = 0; j < r->n && !covered; j++) {
            const struct acme_request *w = &r->reqs[j];
            bool wild = false;
            for (size_t k = 0; k < w->n_names; k++)
                wild = wild || w->names[k][0] == '*';
            covered = j != i && wild && q->n_names == 1 &&
                      q->names[0][0] != '*' && covers_host(w, q->names[0]);
        }
        if (!covered)
            r->reqs[kept++] = *q;
    }
    r->n = kept;
}

void
routes_request_certificates(struct watch_container *const *list, size_t n)
{
    struct cert_requests r = {0};
    size_t max = cfg.n_routes;

    for (size_t i = 0; i < n; i++)
        max += list[i]->n_cert_hosts;
    r.reqs = calloc(max ? max : 1, sizeof(*r.reqs));
    r.names = calloc(max ? max : 1, sizeof(*r.names));
    if (r.reqs == NULL || r.names == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        add_container_requests(&r, list[i]);
    for (size_t i = 0; i < cfg.n_routes; i++) {
        const char *host = cfg.routes[i].host;
        add_request(&r, &host, 1, cfg.acme_email, ACME_CHALLENGE_CONFIG);
    }
    drop_covered_requests(&r);
    acme_set_wanted(r.reqs, r.n);
    free(r.reqs);
    free(r.names);
}

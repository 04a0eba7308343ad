#include "routes.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

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

static void
add_container(struct route_builder *b, const struct watch_container *c)
{
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
        route_builder_add(b, c->hosts[i], c->path, &up, false);
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
        route_builder_add(b, r->host, r->path, &up, true);
    }
    return route_builder_finish(b);
}

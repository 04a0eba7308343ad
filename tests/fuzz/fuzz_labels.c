/*
 * libFuzzer target for watcher/labels.c: a GET /containers/{id}/json
 * document, as JSON text, goes through watch_container_from_json. The first
 * byte picks the parse environment (host network address, Portico in a
 * container and its networks). Besides crashes and leaks, it checks that
 * parsing is deterministic and that a routable result is well formed.
 */
#include "watch_int.h"

#include <stdlib.h>
#include <string.h>

static char net_a[] = "bridge";
static char net_b[] = "frontend";
static char *own_networks[] = {net_a, net_b};

static void
check_container(const struct watch_container *c)
{
    if (c->id == NULL || c->name == NULL)
        abort();
    if (!c->wants_routing || c->skip_reason != NULL)
        return;
    if (c->n_hosts == 0 || c->path == NULL || c->path[0] != '/')
        abort();
    for (size_t i = 0; i < c->n_hosts; i++) {
        for (const char *h = c->hosts[i]; *h; h++) {
            if (*h >= 'A' && *h <= 'Z')
                abort();
        }
    }
    if (c->port < 1 || c->port > 65535 || c->upstream_ip == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct watch_parse_env env = {0};
    struct watch_container *a, *b;
    char *json;

    if (size < 1)
        return 0;
    env.host_network_address = (data[0] & 1) ? "127.0.0.1" : NULL;
    env.in_container = data[0] & 2;
    if (env.in_container) {
        env.own_networks = own_networks;
        env.n_own_networks = (data[0] & 4) ? 2 : 1;
    }
    json = strndup((const char *)data + 1, size - 1);
    a = watch_container_from_json(json, &env);
    b = watch_container_from_json(json, &env);
    if ((a == NULL) != (b == NULL))
        abort();
    if (a != NULL) {
        check_container(a);
        if (!watch_container_equal(a, b) || !watch_container_equal(b, a))
            abort();
        for (size_t i = 0; i < a->n_settings; i++) {
            if (watch_setting(a, a->settings[i].name) == NULL)
                abort();
        }
    }
    watch_container_free(a);
    watch_container_free(b);
    free(json);
    return 0;
}

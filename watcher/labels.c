/*
 * Turns a container inspect document into a watch_container: merges labels
 * and env vars into settings, then parses the routing intent from them.
 * Every problem becomes a sentence in skip_reason or warnings; the caller
 * decides when to log it.
 */
#include "watch_int.h"

#include "acme.h"
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOSTNAME_MAX 253
#define HOSTNAME_LABEL_MAX 63

struct parse {
    struct watch_container *c;
    const cJSON *doc;
    const struct watch_parse_env *env;
    bool oom;
};

static char *
copy_string(struct parse *p, const char *s)
{
    char *d = strdup(s);

    if (d == NULL)
        p->oom = true;
    return d;
}

static char *
format_string(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *
format_string(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        s = NULL;
        p->oom = true;
    }
    va_end(ap);
    return s;
}

/* Sets the skip reason unless one is set already: the first problem found
 * is the one reported. */
static void
skip(struct parse *p, char *reason)
{
    if (p->c->skip_reason == NULL)
        p->c->skip_reason = reason;
    else
        free(reason);
}

static void
add_warning(struct parse *p, char *text)
{
    struct watch_container *c = p->c;
    char **w;

    if (text == NULL)
        return;
    w = realloc(c->warnings, (c->n_warnings + 1) * sizeof(*w));
    if (w == NULL) {
        free(text);
        p->oom = true;
        return;
    }
    c->warnings = w;
    c->warnings[c->n_warnings++] = text;
}

static bool
is_kept_setting(const char *name)
{
    return strncmp(name, "VIRTUAL_", 8) == 0 ||
           strncmp(name, "LETSENCRYPT_", 12) == 0 ||
           strncmp(name, "ACME_", 5) == 0 || strcmp(name, "HTTPS_METHOD") == 0 ||
           strcmp(name, "HSTS") == 0 || strncmp(name, "portico.", 8) == 0;
}

static struct watch_setting *
find_setting(struct watch_container *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_settings; i++) {
        if (strlen(c->settings[i].name) == len &&
            memcmp(c->settings[i].name, name, len) == 0)
            return &c->settings[i];
    }
    return NULL;
}

/* Adds or replaces the setting named name[0..len). */
static void
put_setting(struct parse *p, const char *name, size_t len, const char *value)
{
    struct watch_container *c = p->c;
    struct watch_setting *s = find_setting(c, name, len);
    char *v = copy_string(p, value);

    if (v == NULL)
        return;
    if (s != NULL) {
        free(s->value);
        s->value = v;
        return;
    }
    s = realloc(c->settings, (c->n_settings + 1) * sizeof(*s));
    if (s == NULL)
        goto oom;
    c->settings = s;
    s = &c->settings[c->n_settings];
    s->name = strndup(name, len);
    if (s->name == NULL)
        goto oom;
    s->value = v;
    c->n_settings++;
    return;

oom:
    p->oom = true;
    free(v);
}

static int
compare_settings(const void *a, const void *b)
{
    const struct watch_setting *x = a, *y = b;

    return strcmp(x->name, y->name);
}

/* Env first, then labels, so a label replaces an env var of its name. */
static void
merge_settings(struct parse *p)
{
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(p->doc, "Config");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(config, "Env");
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(config, "Labels");
    const cJSON *item;

    cJSON_ArrayForEach(item, (cJSON_IsArray(env) ? env : NULL)) {
        const char *kv = cJSON_GetStringValue(item);
        const char *eq = kv ? strchr(kv, '=') : NULL;
        char name[256];

        if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(name))
            continue;
        memcpy(name, kv, eq - kv);
        name[eq - kv] = '\0';
        if (is_kept_setting(name))
            put_setting(p, kv, eq - kv, eq + 1);
    }
    cJSON_ArrayForEach(item, (cJSON_IsObject(labels) ? labels : NULL)) {
        const char *value = cJSON_GetStringValue(item);

        if (value != NULL && item->string != NULL &&
            is_kept_setting(item->string))
            put_setting(p, item->string, strlen(item->string), value);
    }
    if (p->c->n_settings > 1)
        qsort(p->c->settings, p->c->n_settings, sizeof(*p->c->settings),
              compare_settings);
}

/* Looks up portico.<short_name> first, then VIRTUAL_<SHORT_NAME>; *used is
 * the name found, for messages. */
static const char *
get_routing_setting(const struct watch_container *c, const char *portico_name,
                    const char *virtual_name, const char **used)
{
    const char *v = watch_setting(c, portico_name);

    *used = portico_name;
    if (v == NULL) {
        v = watch_setting(c, virtual_name);
        *used = virtual_name;
    }
    return v;
}

static bool
is_valid_hostname(const char *h)
{
    size_t len = strlen(h);
    const char *p = h;

    if (len == 0 || len > HOSTNAME_MAX)
        return false;
    if (p[0] == '*') {
        if (p[1] != '.')
            return false;
        p += 2;
    }
    for (;;) {
        const char *start = p;

        while (*p != '\0' && *p != '.') {
            if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
                *p != '-')
                return false;
            p++;
        }
        if (p == start || p - start > HOSTNAME_LABEL_MAX || *start == '-' ||
            p[-1] == '-')
            return false;
        if (*p == '\0')
            return true;
        p++;
    }
}

static bool
has_host(const struct watch_container *c, const char *h)
{
    for (size_t i = 0; i < c->n_hosts; i++) {
        if (strcmp(c->hosts[i], h) == 0)
            return true;
    }
    return false;
}

static void
add_host(struct parse *p, const char *label, const char *name)
{
    struct watch_container *c = p->c;
    char **hosts;
    char *h;

    if (!is_valid_hostname(name)) {
        add_warning(p, format_string(p,
                                     "label %s on container %s: invalid "
                                     "hostname \"%s\"",
                                     label, c->name, name));
        return;
    }
    if (has_host(c, name))
        return;
    h = copy_string(p, name);
    hosts = h ? realloc(c->hosts, (c->n_hosts + 1) * sizeof(*hosts)) : NULL;
    if (hosts == NULL) {
        free(h);
        p->oom = true;
        return;
    }
    c->hosts = hosts;
    c->hosts[c->n_hosts++] = h;
}

/*
 * Copies the next name of a comma and/or whitespace separated list into
 * name, lower-cased, and returns the position after it. name is empty at
 * the end of the list. A name longer than the buffer is cut, which keeps
 * enough of it for the "invalid hostname" message.
 */
static const char *
next_name(const char *s, char *name, size_t cap)
{
    size_t n = 0;

    while (*s == ',' || isspace((unsigned char)*s))
        s++;
    while (*s != '\0' && *s != ',' && !isspace((unsigned char)*s)) {
        if (n < cap - 1)
            name[n++] = (char)tolower((unsigned char)*s);
        s++;
    }
    name[n] = '\0';
    return s;
}

/* VIRTUAL_HOST: names separated by commas and/or whitespace. */
static void
parse_hosts(struct parse *p, const char *label, const char *value)
{
    const char *s = value;

    while (*s != '\0') {
        char name[HOSTNAME_MAX + 2];

        s = next_name(s, name, sizeof(name));
        if (name[0] != '\0')
            add_host(p, label, name);
    }
    if (p->c->n_hosts == 0)
        skip(p, format_string(p,
                              "label %s on container %s: no valid hostname "
                              "in \"%s\"",
                              label, p->c->name, value));
}

/* Returns the port, or 0 when text is not 1-65535 in plain digits. */
static int
parse_port(const char *text)
{
    int port = 0;

    if (*text == '\0' || strlen(text) > 5)
        return 0;
    for (const char *s = text; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s))
            return 0;
        port = port * 10 + (*s - '0');
    }
    return port <= 65535 ? port : 0;
}

/* Collects the TCP ports in Config.ExposedPorts ("80/tcp", or "80"),
 * sorted. Returns the count, at most max. */
static size_t
collect_exposed_ports(const cJSON *doc, int *ports, size_t max)
{
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(doc, "Config");
    const cJSON *exposed = cJSON_GetObjectItemCaseSensitive(config,
                                                            "ExposedPorts");
    const cJSON *item;
    size_t n = 0;

    cJSON_ArrayForEach(item, (cJSON_IsObject(exposed) ? exposed : NULL)) {
        char text[16];
        const char *slash;
        int port;

        if (item->string == NULL || strlen(item->string) >= sizeof(text))
            continue;
        strcpy(text, item->string);
        slash = strchr(text, '/');
        if (slash != NULL) {
            if (strcmp(slash, "/tcp") != 0)
                continue;
            text[slash - text] = '\0';
        }
        port = parse_port(text);
        if (port == 0 || n == max)
            continue;
        size_t i = n++;
        while (i > 0 && ports[i - 1] > port) {
            ports[i] = ports[i - 1];
            i--;
        }
        ports[i] = port;
    }
    return n;
}

static void
parse_port_setting(struct parse *p)
{
    struct watch_container *c = p->c;
    int ports[32];
    size_t n;
    const char *label;
    const char *value = get_routing_setting(c, "portico.port", "VIRTUAL_PORT",
                                            &label);
    char list[32 * 6 + 1] = "";

    if (value != NULL) {
        c->port = parse_port(value);
        if (c->port == 0)
            skip(p, format_string(p,
                                  "label %s on container %s: invalid port "
                                  "\"%s\", expected 1-65535",
                                  label, c->name, value));
        return;
    }
    n = collect_exposed_ports(p->doc, ports, sizeof(ports) / sizeof(*ports));
    if (n == 1) {
        c->port = ports[0];
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (ports[i] == 80) {
            c->port = 80;
            return;
        }
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%d",
                 i ? "," : "", ports[i]);
    }
    if (n == 0)
        skip(p, format_string(p,
                              "container %s: no exposed port, set "
                              "VIRTUAL_PORT",
                              c->name));
    else
        skip(p, format_string(p,
                              "container %s: no VIRTUAL_PORT and several "
                              "exposed ports %s, set VIRTUAL_PORT",
                              c->name, list));
}

static bool
is_valid_path(const char *path)
{
    if (path[0] != '/')
        return false;
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
        if (*s <= 0x20 || *s == 0x7f)
            return false;
    }
    return true;
}

static void
parse_path_and_proto(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *label;
    const char *path = get_routing_setting(c, "portico.path", "VIRTUAL_PATH",
                                           &label);
    const char *proto;

    if (path == NULL || path[0] == '\0') {
        c->path = copy_string(p, "/");
    } else if (is_valid_path(path)) {
        c->path = copy_string(p, path);
    } else {
        skip(p, format_string(p,
                              "label %s on container %s: invalid path \"%s\", "
                              "expected a '/' and no spaces",
                              label, c->name, path));
    }

    proto = get_routing_setting(c, "portico.proto", "VIRTUAL_PROTO", &label);
    if (proto == NULL || proto[0] == '\0' || strcasecmp(proto, "http") == 0)
        c->upstream_tls = false;
    else if (strcasecmp(proto, "https") == 0)
        c->upstream_tls = true;
    else
        skip(p, format_string(p,
                              "label %s on container %s: unsupported protocol "
                              "\"%s\", expected http or https",
                              label, c->name, proto));
}

static const char *
get_network_address(const cJSON *network)
{
    const char *ip = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(network, "IPAddress"));

    return ip != NULL && ip[0] != '\0' ? ip : NULL;
}

static bool
is_own_network(const struct watch_parse_env *env, const char *name)
{
    for (size_t i = 0; i < env->n_own_networks; i++) {
        if (strcmp(env->own_networks[i], name) == 0)
            return true;
    }
    return false;
}

/*
 * The network whose name sorts first among those with an address, limited
 * to Portico's own networks when `shared_only`. Returns the network item.
 */
static const cJSON *
find_first_network(const cJSON *networks, const struct watch_parse_env *env,
                   bool shared_only)
{
    const cJSON *item, *best = NULL;

    cJSON_ArrayForEach(item, (cJSON_IsObject(networks) ? networks : NULL)) {
        if (item->string == NULL || get_network_address(item) == NULL)
            continue;
        if (shared_only && !is_own_network(env, item->string))
            continue;
        if (best == NULL || strcmp(item->string, best->string) < 0)
            best = item;
    }
    return best;
}

/*
 * Upstream address: NetworkMode host uses the configured host address. Else
 * the network named by portico.network, else one shared with Portico's own
 * container when Portico runs in one, else the first by name.
 */
static void
choose_network(struct parse *p)
{
    struct watch_container *c = p->c;
    const cJSON *host_config =
        cJSON_GetObjectItemCaseSensitive(p->doc, "HostConfig");
    const char *mode = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(host_config, "NetworkMode"));
    const cJSON *settings =
        cJSON_GetObjectItemCaseSensitive(p->doc, "NetworkSettings");
    const cJSON *networks = cJSON_GetObjectItemCaseSensitive(settings,
                                                             "Networks");
    const char *requested = watch_setting(c, "portico.network");
    const cJSON *chosen;

    if (mode != NULL && strcmp(mode, "host") == 0) {
        if (p->env->host_network_address == NULL) {
            skip(p, format_string(p,
                                  "container %s: network mode host and no "
                                  "host network address configured",
                                  c->name));
            return;
        }
        c->network = copy_string(p, "host");
        c->upstream_ip = copy_string(p, p->env->host_network_address);
        return;
    }

    if (requested != NULL) {
        chosen = cJSON_GetObjectItemCaseSensitive(networks, requested);
        if (chosen == NULL || get_network_address(chosen) == NULL) {
            skip(p, format_string(p,
                                  "label portico.network on container %s: "
                                  "network \"%s\" not found on the container",
                                  c->name, requested));
            return;
        }
    } else if (p->env->in_container) {
        chosen = find_first_network(networks, p->env, true);
        if (chosen == NULL) {
            skip(p, format_string(p,
                                  "container %s: no network shared with "
                                  "Portico's own container",
                                  c->name));
            return;
        }
    } else {
        chosen = find_first_network(networks, p->env, false);
        if (chosen == NULL) {
            skip(p, format_string(p,
                                  "container %s: no IP address on any "
                                  "network",
                                  c->name));
            return;
        }
    }
    c->network = copy_string(p, chosen->string);
    c->upstream_ip = copy_string(p, get_network_address(chosen));
}

static bool
is_false(const char *v)
{
    return strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 ||
           strcasecmp(v, "no") == 0 || strcasecmp(v, "off") == 0;
}

static bool
is_blank_host_list(const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v != ',' && !isspace((unsigned char)*v))
            return false;
    }
    return true;
}

static void
parse_state(struct parse *p)
{
    struct watch_container *c = p->c;
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(p->doc, "State");
    const cJSON *health = cJSON_GetObjectItemCaseSensitive(state, "Health");
    const char *status = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(health, "Status"));

    c->running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state,
                                                               "Running"));
    c->paused = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state,
                                                              "Paused"));
    c->health = WATCH_HEALTH_NONE;
    if (status == NULL)
        return;
    if (strcmp(status, "starting") == 0)
        c->health = WATCH_HEALTH_STARTING;
    else if (strcmp(status, "healthy") == 0)
        c->health = WATCH_HEALTH_HEALTHY;
    else if (strcmp(status, "unhealthy") == 0)
        c->health = WATCH_HEALTH_UNHEALTHY;
}

static void
add_cert_host(struct parse *p, const char *name)
{
    struct watch_container *c = p->c;
    char **list;
    char *h;

    for (size_t i = 0; i < c->n_cert_hosts; i++)
        if (strcmp(c->cert_hosts[i], name) == 0)
            return;
    h = copy_string(p, name);
    list = h ? realloc(c->cert_hosts, (c->n_cert_hosts + 1) * sizeof(*list))
             : NULL;
    if (list == NULL) {
        free(h);
        p->oom = true;
        return;
    }
    c->cert_hosts = list;
    c->cert_hosts[c->n_cert_hosts++] = h;
}

/*
 * LETSENCRYPT_HOST (or ACME_HOST) restricts certificates to the names it
 * lists, as acme-companion does, and asks for one certificate with all of
 * them. A listed name that this container does not route is ignored, so
 * Portico never asks a CA for a name it does not serve.
 */
static void
parse_cert_hosts(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *label = "LETSENCRYPT_HOST";
    const char *value = watch_setting(c, label);
    const char *s;

    if (value == NULL) {
        label = "ACME_HOST";
        value = watch_setting(c, label);
    }
    if (value == NULL) {
        for (size_t i = 0; i < c->n_hosts; i++)
            add_cert_host(p, c->hosts[i]);
        return;
    }
    c->tls_san = true;
    for (s = value; *s != '\0';) {
        char name[HOSTNAME_MAX + 2];

        s = next_name(s, name, sizeof(name));
        if (name[0] == '\0')
            continue;
        if (has_host(c, name))
            add_cert_host(p, name);
        else
            add_warning(p, format_string(p,
                                         "label %s on container %s: \"%s\" "
                                         "is not routed by this container, "
                                         "no certificate is requested for it",
                                         label, c->name, name));
    }
}

static void
parse_https_method(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *v = watch_setting(c, "HTTPS_METHOD");
    static const struct {
        const char *name;
        enum watch_https_method method;
    } methods[] = {
        {"redirect", WATCH_HTTPS_REDIRECT},
        {"noredirect", WATCH_HTTPS_NOREDIRECT},
        {"nohttps", WATCH_HTTPS_NOHTTPS},
        {"nohttp", WATCH_HTTPS_NOHTTP},
    };

    c->https_method = WATCH_HTTPS_REDIRECT;
    if (v == NULL)
        return;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcasecmp(v, methods[i].name) == 0) {
            c->https_method = methods[i].method;
            return;
        }
    }
    add_warning(p, format_string(p,
                                 "label HTTPS_METHOD on container %s: invalid "
                                 "value \"%s\", expected redirect, "
                                 "noredirect, nohttps or nohttp; using "
                                 "redirect",
                                 c->name, v));
}

/* HSTS: nginx-proxy's default unless "off"; any other value is sent as
 * the header value, so it must be printable and short. */
static void
parse_hsts(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *v = watch_setting(c, "HSTS");

    if (v != NULL && strcasecmp(v, "off") == 0)
        return;
    if (v != NULL) {
        bool ok = *v != '\0' && strlen(v) <= 256;
        for (const char *s = v; ok && *s; s++)
            ok = (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f;
        if (ok) {
            c->hsts = copy_string(p, v);
            return;
        }
        add_warning(p, format_string(p,
                                     "label HSTS on container %s: invalid "
                                     "value, expected \"off\" or a header "
                                     "value of printable ASCII up to 256 "
                                     "bytes; using %s",
                                     c->name, WATCH_HSTS_DEFAULT));
    }
    c->hsts = copy_string(p, WATCH_HSTS_DEFAULT);
}

static void
parse_challenge(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *v = watch_setting(c, "portico.tls.challenge");
    enum acme_challenge type;

    c->acme_challenge = -1;
    if (v == NULL)
        return;
    if (acme_challenge_parse(v, &type) == 0) {
        c->acme_challenge = (int)type;
        return;
    }
    add_warning(p, format_string(p,
                                 "label portico.tls.challenge on container "
                                 "%s: invalid value \"%s\", expected "
                                 "http-01, tls-alpn-01 or dns-01; using "
                                 "--acme-challenge",
                                 c->name, v));
}

static void
clear_cert_hosts(struct watch_container *c)
{
    for (size_t i = 0; i < c->n_cert_hosts; i++)
        free(c->cert_hosts[i]);
    c->n_cert_hosts = 0;
}

/*
 * portico.tls.domains requests one certificate with exactly the names it
 * lists, wildcards included. A wildcard needs DNS-01, so with another
 * challenge the container gets no certificate and one warning.
 */
static void
parse_cert_domains(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *value = watch_setting(c, "portico.tls.domains");
    int challenge = c->acme_challenge >= 0 ? c->acme_challenge
                                           : cfg.acme_challenge;
    const char *wildcard = NULL, *s;

    if (value == NULL)
        return;
    clear_cert_hosts(c);
    c->tls_san = true;
    for (s = value; *s != '\0';) {
        char name[HOSTNAME_MAX + 2];

        s = next_name(s, name, sizeof(name));
        if (name[0] == '\0')
            continue;
        if (!is_valid_hostname(name)) {
            add_warning(p, format_string(p,
                                         "label portico.tls.domains on "
                                         "container %s: invalid name "
                                         "\"%s\", no certificate is "
                                         "requested for it",
                                         c->name, name));
            continue;
        }
        add_cert_host(p, name);
        if (name[0] == '*' && wildcard == NULL)
            wildcard = c->cert_hosts[c->n_cert_hosts - 1];
    }
    if (wildcard != NULL && challenge != ACME_CHALLENGE_DNS01) {
        add_warning(p, format_string(p,
                                     "label portico.tls.domains on container "
                                     "%s: wildcard name \"%s\" needs the "
                                     "dns-01 challenge (portico.tls."
                                     "challenge=dns-01 or --acme-challenge "
                                     "dns-01); no certificate is requested",
                                     c->name, wildcard));
        clear_cert_hosts(c);
    }
}

static void
parse_tls(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *tls = watch_setting(c, "portico.tls");
    const char *san = watch_setting(c, "portico.tls.san");
    const char *email = watch_setting(c, "LETSENCRYPT_EMAIL");

    if (c->n_hosts == 0)
        return;
    parse_https_method(p);
    parse_hsts(p);
    c->tls_off = (tls != NULL && is_false(tls)) ||
                 c->https_method == WATCH_HTTPS_NOHTTPS;
    if (email == NULL)
        email = watch_setting(c, "ACME_EMAIL");
    if (email != NULL && *email != '\0')
        c->acme_email = copy_string(p, email);
    parse_cert_hosts(p);
    if (san != NULL && !is_false(san))
        c->tls_san = true;
    parse_challenge(p);
    parse_cert_domains(p);
}

static void
parse_max_body_size(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *v = watch_setting(c, "portico.max-body-size");

    if (v != NULL && cfg_size_parse(v, &c->max_body_size) != 0) {
        c->max_body_size = 0;
        add_warning(p, format_string(p,
                                     "label portico.max-body-size on "
                                     "container %s: invalid value \"%s\", "
                                     "expected bytes with an optional k, m "
                                     "or g suffix; using --max-body-size",
                                     c->name, v));
    }
}

static void
parse_routing(struct parse *p)
{
    struct watch_container *c = p->c;
    const char *enable = watch_setting(c, "portico.enable");
    const char *label;
    const char *hosts = get_routing_setting(c, "portico.host", "VIRTUAL_HOST",
                                            &label);

    if ((enable != NULL && is_false(enable)) || hosts == NULL ||
        is_blank_host_list(hosts))
        return;
    c->wants_routing = true;
    parse_hosts(p, label, hosts);
    parse_port_setting(p);
    parse_path_and_proto(p);
    choose_network(p);
    parse_tls(p);
    parse_max_body_size(p);
}

struct watch_container *
watch_container_from_inspect(const cJSON *doc,
                             const struct watch_parse_env *env)
{
    const char *id = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(doc, "Id"));
    const char *name = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(doc, "Name"));
    struct parse p = {.doc = doc, .env = env};

    if (id == NULL)
        return NULL;
    p.c = calloc(1, sizeof(*p.c));
    if (p.c == NULL)
        return NULL;
    p.c->acme_challenge = -1;
    if (name == NULL || name[0] == '\0')
        name = id;
    p.c->id = copy_string(&p, id);
    p.c->name = copy_string(&p, name[0] == '/' ? name + 1 : name);
    if (p.oom)
        goto fail;

    parse_state(&p);
    merge_settings(&p);
    parse_routing(&p);
    if (p.oom)
        goto fail;
    return p.c;

fail:
    watch_container_free(p.c);
    return NULL;
}

struct watch_container *
watch_container_from_json(const char *json, const struct watch_parse_env *env)
{
    cJSON *doc = cJSON_Parse(json);
    struct watch_container *c;

    if (doc == NULL)
        return NULL;
    c = watch_container_from_inspect(doc, env);
    cJSON_Delete(doc);
    return c;
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
watch_env_set_self(struct watch_parse_env *env, const cJSON *doc)
{
    const cJSON *host_config = cJSON_GetObjectItemCaseSensitive(doc,
                                                                "HostConfig");
    const char *mode = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(host_config, "NetworkMode"));
    const cJSON *settings = cJSON_GetObjectItemCaseSensitive(doc,
                                                             "NetworkSettings");
    const cJSON *networks = cJSON_GetObjectItemCaseSensitive(settings,
                                                             "Networks");
    const cJSON *item;
    int n = cJSON_IsObject(networks) ? cJSON_GetArraySize(networks) : 0;

    watch_env_clear(env);
    /* On the host's network Portico reaches every bridge network. */
    if (doc == NULL || (mode != NULL && strcmp(mode, "host") == 0))
        return 0;
    env->in_container = true;
    if (n == 0)
        return 0;
    env->own_networks = calloc(n, sizeof(char *));
    if (env->own_networks == NULL)
        return -1;
    cJSON_ArrayForEach(item, networks) {
        if (item->string == NULL)
            continue;
        env->own_networks[env->n_own_networks] = strdup(item->string);
        if (env->own_networks[env->n_own_networks] == NULL)
            return -1;
        env->n_own_networks++;
    }
    qsort(env->own_networks, env->n_own_networks, sizeof(char *),
          compare_strings);
    return 0;
}

void
watch_env_clear(struct watch_parse_env *env)
{
    for (size_t i = 0; i < env->n_own_networks; i++)
        free(env->own_networks[i]);
    free(env->own_networks);
    env->own_networks = NULL;
    env->n_own_networks = 0;
    env->in_container = false;
}

const char *
watch_setting(const struct watch_container *c, const char *name)
{
    for (size_t i = 0; i < c->n_settings; i++) {
        if (strcmp(c->settings[i].name, name) == 0)
            return c->settings[i].value;
    }
    return NULL;
}

bool
watch_container_routable(const struct watch_container *c)
{
    return c->running && !c->paused && !c->stopping &&
           (c->health == WATCH_HEALTH_NONE ||
            c->health == WATCH_HEALTH_HEALTHY) &&
           c->wants_routing && c->skip_reason == NULL;
}

static bool
strings_equal(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool
string_lists_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (!strings_equal(a[i], b[i]))
            return false;
    }
    return true;
}

bool
watch_container_equal(const struct watch_container *a,
                      const struct watch_container *b)
{
    if (!strings_equal(a->id, b->id) || !strings_equal(a->name, b->name) ||
        a->running != b->running || a->paused != b->paused ||
        a->stopping != b->stopping || a->health != b->health ||
        a->wants_routing != b->wants_routing ||
        a->upstream_tls != b->upstream_tls || a->port != b->port ||
        !strings_equal(a->path, b->path) ||
        !strings_equal(a->upstream_ip, b->upstream_ip) ||
        !strings_equal(a->network, b->network) ||
        !strings_equal(a->skip_reason, b->skip_reason) ||
        !string_lists_equal(a->hosts, a->n_hosts, b->hosts, b->n_hosts) ||
        !string_lists_equal(a->warnings, a->n_warnings, b->warnings,
                            b->n_warnings) ||
        a->n_settings != b->n_settings)
        return false;
    for (size_t i = 0; i < a->n_settings; i++) {
        if (!strings_equal(a->settings[i].name, b->settings[i].name) ||
            !strings_equal(a->settings[i].value, b->settings[i].value))
            return false;
    }
    return true;
}

void
watch_container_free(struct watch_container *c)
{
    if (c == NULL)
        return;
    free(c->id);
    free(c->name);
    for (size_t i = 0; i < c->n_settings; i++) {
        free(c->settings[i].name);
        free(c->settings[i].value);
    }
    free(c->settings);
    for (size_t i = 0; i < c->n_hosts; i++)
        free(c->hosts[i]);
    free(c->hosts);
    free(c->path);
    free(c->upstream_ip);
    free(c->network);
    free(c->skip_reason);
    for (size_t i = 0; i < c->n_warnings; i++)
        free(c->warnings[i]);
    free(c->warnings);
    for (size_t i = 0; i < c->n_cert_hosts; i++)
        free(c->cert_hosts[i]);
    free(c->cert_hosts);
    free(c->acme_email);
    free(c->hsts);
    free(c);
}

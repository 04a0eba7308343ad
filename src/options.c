#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct config cfg;

enum opt_kind {
    OPT_STRING,
    OPT_ADDR,
    OPT_INT,
    OPT_CHOICE, /* stores the index of the value in `choices` */
    OPT_LEVEL,
    OPT_FORMAT,
    OPT_ROUTE,
    OPT_FLAG,
    OPT_SIZE,  /* long long bytes, from 0 */
    OPT_CIDRS, /* --trusted-proxies */
};

struct option_def {
    const char *name; /* without the leading dashes */
    enum opt_kind kind;
    void *target;     /* char **, struct cfg_addr *, int * or NULL */
    const char *value_name;
    const char *default_text; /* for --help; NULL: none */
    const char *help;
    int min, max;                /* OPT_INT range */
    const char *const *choices;  /* OPT_CHOICE values, NULL-terminated */
};

static const char *const on_off[] = {"on", "off", NULL};
/* In the order of enum acme_challenge and enum acme_key_type. */
static const char *const challenges[] = {"http-01", "tls-alpn-01", "dns-01",
                                         NULL};
static const char *const key_types[] = {"ec256", "ec384", "rsa2048", "rsa4096",
                                        NULL};

static const struct option_def options[] = {
    {"docker-host", OPT_STRING, &cfg.docker_host, "URL",
     "unix:///var/run/docker.sock",
     "Docker Engine API endpoint: unix:///path or tcp://host:port (TLS "
     "client certificates from DOCKER_CERT_PATH when DOCKER_TLS_VERIFY is "
     "set). Also read from DOCKER_HOST.", 0, 0, NULL},
    {"http-listen", OPT_ADDR, &cfg.http_listen, "ADDR:PORT", "0.0.0.0:80",
     "Address and port of the HTTP listener.", 0, 0, NULL},
    {"https-listen", OPT_ADDR, &cfg.https_listen, "ADDR:PORT", "0.0.0.0:443",
     "Address and port of the HTTPS listener, or off.", 0, 0, NULL},
    {"host-network-address", OPT_STRING, &cfg.host_network_address, "ADDR",
     "127.0.0.1", "Upstream address for containers in host network mode.",
     0, 0, NULL},
    {"route", OPT_ROUTE, NULL, "HOST[/PATH]=http[s]://ADDR:PORT", NULL,
     "Static route to a service outside Docker; repeatable. A container "
     "route for the same host and path wins. In PORTICO_ROUTE, separate "
     "routes with commas or spaces.", 0, 0, NULL},
    {"workers", OPT_INT, &cfg.workers, "N", "number of CPUs",
     "Worker threads serving connections.", 1, 1024, NULL},
    {"resync-interval", OPT_INT, &cfg.resync_interval, "SECONDS", "30",
     "Seconds between full resyncs with the Docker engine.", 1, 86400, NULL},
    {"log-level", OPT_LEVEL, NULL, "LEVEL", "info",
     "Minimum level logged: debug, info, notice, warn or error.", 0, 0, NULL},
    {"log-format", OPT_FORMAT, NULL, "FORMAT", "text",
     "Log line format: text (key=value) or json.", 0, 0, NULL},
    {"access-log", OPT_STRING, &cfg.access_log, "PATH|-|off", "off",
     "Access log: a file path, - for standard output, or off.", 0, 0, NULL},
    {"admin-listen", OPT_ADDR, &cfg.admin_listen, "ADDR:PORT|off",
     "127.0.0.1:9180",
     "Address and port of the admin API, metrics and dashboard, or off. "
     "An address other than loopback requires --admin-token.", 0, 0, NULL},
    {"admin-token", OPT_STRING, &cfg.admin_token, "TOKEN", NULL,
     "Bearer token that every admin endpoint requires, except /healthz and "
     "the dashboard page at /, which contains no data.", 0, 0, NULL},
    {"state-dir", OPT_STRING, &cfg.state_dir, "DIR", "/var/lib/portico",
     "Folder for the ACME account, certificates and keys.", 0, 0, NULL},
    {"certs-dir", OPT_STRING, &cfg.certs_dir, "DIR", NULL,
     "User-provided certificates in nginx-proxy's layout (<host>.crt and "
     "<host>.key, optionally <host>.chain.pem); they take precedence over "
     "ACME and are reloaded when the files change.", 0, 0, NULL},
    {"default-cert", OPT_STRING, &cfg.default_cert, "FILE", NULL,
     "Certificate (PEM) for TLS handshakes naming no known host; without it "
     "they fail with an unrecognized_name alert.", 0, 0, NULL},
    {"default-key", OPT_STRING, &cfg.default_key, "FILE", NULL,
     "Private key (PEM) for --default-cert.", 0, 0, NULL},
    {"acme", OPT_CHOICE, &cfg.acme_off, "on|off", "on",
     "Obtain certificates over ACME for routed host names.", 0, 0, on_off},
    {"acme-directory", OPT_STRING, &cfg.acme_directory, "URL",
     "https://acme-v02.api.letsencrypt.org/directory",
     "ACME directory URL. Also read from ACME_CA_URI.", 0, 0, NULL},
    {"acme-ca-file", OPT_STRING, &cfg.acme_ca_file, "FILE", NULL,
     "CA bundle (PEM) for verifying the ACME server itself.", 0, 0, NULL},
    {"acme-email", OPT_STRING, &cfg.acme_email, "EMAIL", NULL,
     "Account contact; else a container's LETSENCRYPT_EMAIL or ACME_EMAIL.",
     0, 0, NULL},
    {"acme-challenge", OPT_CHOICE, &cfg.acme_challenge, "TYPE", "http-01",
     "Challenge type: http-01, tls-alpn-01 or dns-01 (needs "
     "--dns-rfc2136-server or --dns-hook). A container's "
     "portico.tls.challenge overrides it.", 0, 0, challenges},
    {"dns-rfc2136-server", OPT_ADDR, &cfg.dns_rfc2136_server, "ADDR:PORT",
     NULL, "DNS server that accepts RFC 2136 updates for dns-01 TXT "
     "records.", 0, 0, NULL},
    {"dns-rfc2136-zone", OPT_STRING, &cfg.dns_rfc2136_zone, "ZONE",
     "found with SOA queries", "Zone to update.", 0, 0, NULL},
    {"dns-rfc2136-key-name", OPT_STRING, &cfg.dns_rfc2136_key_name, "NAME",
     NULL, "TSIG key name; updates are unsigned without a key.", 0, 0,
     NULL},
    {"dns-rfc2136-key-secret", OPT_STRING, &cfg.dns_rfc2136_key_secret,
     "BASE64", NULL, "TSIG secret (base64). Prefer "
     "--dns-rfc2136-key-secret-file.", 0, 0, NULL},
    {"dns-rfc2136-key-secret-file", OPT_STRING,
     &cfg.dns_rfc2136_key_secret_file, "FILE", NULL,
     "File holding the TSIG secret (base64), e.g. a Docker secret.", 0, 0,
     NULL},
    {"dns-rfc2136-key-file", OPT_STRING, &cfg.dns_rfc2136_key_file, "FILE",
     NULL, "TSIG key in BIND's format (tsig-keygen output): name, algorithm "
     "and secret.", 0, 0, NULL},
    {"dns-rfc2136-algorithm", OPT_STRING, &cfg.dns_rfc2136_algorithm, "ALG",
     "hmac-sha256", "TSIG algorithm: hmac-sha256, hmac-sha512, hmac-sha384, "
     "hmac-sha224 or hmac-sha1.", 0, 0, NULL},
    {"dns-hook", OPT_STRING, &cfg.dns_hook, "PATH", NULL,
     "Program run as PATH add|remove FQDN VALUE to publish dns-01 TXT "
     "records, instead of RFC 2136.", 0, 0, NULL},
    {"dns-resolver", OPT_ADDR, &cfg.dns_resolver, "ADDR:PORT",
     "the zone's name servers",
     "DNS server asked whether a dns-01 record is visible.", 0, 0, NULL},
    {"dns-propagation-timeout", OPT_INT, &cfg.dns_propagation_timeout,
     "SECONDS", "120", "Seconds to wait for a dns-01 record to be visible "
     "before the order fails.", 1, 3600, NULL},
    {"key-type", OPT_CHOICE, &cfg.key_type, "TYPE", "ec256",
     "Certificate key type: ec256, ec384, rsa2048 or rsa4096.", 0, 0,
     key_types},
    {"acme-eab-kid", OPT_STRING, &cfg.acme_eab_kid, "KID", NULL,
     "External account binding key id, for CAs that require one.", 0, 0,
     NULL},
    {"acme-eab-hmac-key", OPT_STRING, &cfg.acme_eab_hmac_key, "KEY", NULL,
     "External account binding HMAC key (base64url).", 0, 0, NULL},
    {"renew-before", OPT_INT, &cfg.renew_before_days, "DAYS",
     "when a third of the lifetime remains",
     "Days before expiry at which certificates are renewed.", 1, 365, NULL},
    {"max-header-size", OPT_INT, &cfg.max_header_size, "BYTES", "32768",
     "Largest request line and header section accepted; a larger one gets "
     "431.", 1024, 65536, NULL},
    {"max-headers", OPT_INT, &cfg.max_headers, "N", "100",
     "Most header fields accepted in a request; more get 431.", 1, 128,
     NULL},
    {"max-body-size", OPT_SIZE, &cfg.max_body_size, "BYTES", "0 (no limit)",
     "Largest request body accepted, counted as it streams; a larger one "
     "gets 413, or the connection closes when the response has started.",
     0, 0, NULL},
    {"header-timeout", OPT_INT, &cfg.header_timeout, "SECONDS", "30",
     "Seconds a client has to send a whole request head, counted from its "
     "first byte on a kept-alive connection; then 408.", 1, 3600, NULL},
    {"keepalive-timeout", OPT_INT, &cfg.keepalive_timeout, "SECONDS", "60",
     "Seconds an idle client connection is kept open between requests.",
     1, 3600, NULL},
    {"upstream-connect-timeout", OPT_INT, &cfg.upstream_connect_timeout,
     "SECONDS", "5", "Seconds to connect to an upstream before the next one "
     "is tried; 504 when the last one timed out.", 1, 600, NULL},
    {"upstream-response-timeout", OPT_INT, &cfg.upstream_response_timeout,
     "SECONDS", "60", "Seconds to wait for a response head after the "
     "request was sent, and between reads of a response body; then 504, "
     "or the connection closes when the response has started.", 1, 86400,
     NULL},
    {"tunnel-timeout", OPT_INT, &cfg.tunnel_timeout, "SECONDS", "3600",
     "Seconds a WebSocket tunnel may stay idle in both directions.", 1,
     604800, NULL},
    {"max-connections", OPT_INT, &cfg.max_connections, "N",
     "10000, lowered to fit the open-file limit",
     "Client connections served at once across workers; further ones are "
     "accepted and closed at once.", 1, 1000000, NULL},
    {"shutdown-timeout", OPT_INT, &cfg.shutdown_timeout, "SECONDS", "10",
     "Seconds that requests in flight may take to finish after SIGTERM or "
     "SIGINT before their connections are closed.", 0, 3600, NULL},
    {"trusted-proxies", OPT_CIDRS, NULL, "CIDR,...", "none",
     "Networks of proxies in front of Portico. Their X-Forwarded-For is "
     "appended to and their X-Forwarded-Proto, -Host, -Port and X-Real-IP "
     "kept; from other clients these headers are replaced.", 0, 0, NULL},
    {"print-routes", OPT_FLAG, NULL, NULL, NULL,
     "Connect to the engine, print the routing table and skipped "
     "containers, and exit.", 0, 0, NULL},
    {"version", OPT_FLAG, NULL, NULL, NULL, "Print the version and exit.", 0,
     0, NULL},
    {"help", OPT_FLAG, NULL, NULL, NULL, "Print this help and exit.", 0, 0,
     NULL},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* The source of a value, for error messages: "--workers" or
 * "PORTICO_WORKERS". */
struct origin {
    char text[64];
};

static _Noreturn void
fail(const struct origin *o, const char *value, const char *expected)
{
    fprintf(stderr, "portico: invalid value \"%s\" for %s: expected %s\n",
            value, o->text, expected);
    exit(2);
}

static void
print_help(void)
{
    printf("Usage: portico [OPTION]...\n"
           "Reverse proxy that routes HTTP to Docker containers labelled "
           "VIRTUAL_HOST.\n\n"
           "Every option can also be set with the environment variable "
           "PORTICO_<NAME>\n(upper case, dashes as underscores); the "
           "command line wins.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *d = &options[i];
        char left[96];

        snprintf(left, sizeof(left), "--%s%s%s", d->name,
                 d->value_name ? " " : "", d->value_name ? d->value_name : "");
        printf("  %s\n      %s", left, d->help);
        if (d->default_text)
            printf(" Default: %s.", d->default_text);
        printf("\n");
    }
}

int
cfg_addr_parse(const char *text, struct cfg_addr *out)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->sa;
    char host[INET6_ADDRSTRLEN + 2];
    const char *original = text, *colon, *port_text;
    char *end;
    long port;
    size_t host_len;

    memset(out, 0, sizeof(*out));
    colon = strrchr(text, ':');
    if (colon == NULL)
        return -1;
    port_text = colon + 1;
    errno = 0;
    port = strtol(port_text, &end, 10);
    if (*port_text == '\0' || *end != '\0' || errno || port < 1 || port > 65535)
        return -1;
    for (const char *p = port_text; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    host_len = (size_t)(colon - text);
    if (host_len >= 2 && text[0] == '[' && text[host_len - 1] == ']') {
        text++;
        host_len -= 2;
    }
    if (host_len >= sizeof(host))
        return -1;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    if (host_len == 0)
        snprintf(host, sizeof(host), "0.0.0.0");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*v6);
    } else {
        return -1;
    }
    out->text = strdup(original);
    return out->text ? 0 : -1;
}

static bool
valid_route_host(const char *h, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '*')
            return false;
    }
    return true;
}

/* Resolves the upstream of a static route. Names are resolved once, at
 * start. */
static int
resolve_upstream(const char *hostport, struct cfg_addr *out)
{
    struct addrinfo hints = {0}, *res = NULL;
    char host[256];
    const char *colon = strrchr(hostport, ':');
    size_t len;

    if (cfg_addr_parse(hostport, out) == 0)
        return 0;
    if (colon == NULL || (len = (size_t)(colon - hostport)) == 0 ||
        len >= sizeof(host) || strchr(hostport, '[') != NULL)
        return -1;
    memcpy(host, hostport, len);
    host[len] = '\0';
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
        return -1;
    memset(out, 0, sizeof(*out));
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    out->text = strdup(hostport);
    freeaddrinfo(res);
    return out->text ? 0 : -1;
}

static void
add_route(const struct origin *o, const char *spec)
{
    const char *expected = "HOST[/PATH]=http[s]://ADDR:PORT";
    const char *eq = strchr(spec, '='), *slash, *url, *hostport;
    struct cfg_route r = {0};
    size_t host_len;

    if (eq == NULL)
        fail(o, spec, expected);
    slash = memchr(spec, '/', (size_t)(eq - spec));
    host_len = (size_t)((slash ? slash : eq) - spec);
    if (!valid_route_host(spec, host_len))
        fail(o, spec, "a valid host name before '=' (HOST[/PATH]=URL)");
    r.host = strndup(spec, host_len);
    for (char *p = r.host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    r.path = slash ? strndup(slash, (size_t)(eq - slash)) : strdup("/");
    url = eq + 1;
    if (strncmp(url, "http://", 7) == 0) {
        hostport = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        hostport = url + 8;
        r.tls = true;
    } else {
        fail(o, spec, "an http:// or https:// upstream URL");
    }
    if (strchr(hostport, '/') != NULL || resolve_upstream(hostport, &r.upstream))
        fail(o, spec, "an upstream ADDR:PORT that resolves, with no path");
    cfg.routes = realloc(cfg.routes, (cfg.n_routes + 1) * sizeof(*cfg.routes));
    if (cfg.routes == NULL)
        abort();
    cfg.routes[cfg.n_routes++] = r;
}

static void
set_int(const struct option_def *d, const struct origin *o, const char *value)
{
    char expected[80], *end;
    long n;

    errno = 0;
    n = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || errno || n < d->min || n > d->max) {
        snprintf(expected, sizeof(expected), "a whole number from %d to %d",
                 d->min, d->max);
        fail(o, value, expected);
    }
    *(int *)d->target = (int)n;
}

static void
set_size(const struct option_def *d, const struct origin *o, const char *value)
{
    if (cfg_size_parse(value, (long long *)d->target) != 0)
        fail(o, value, "a whole number of bytes with an optional k, m or g "
                       "suffix, 0 for no limit");
}

int
cfg_size_parse(const char *text, long long *out)
{
    char *end;
    long long n, unit = 1;

    if (*text < '0' || *text > '9')
        return -1;
    errno = 0;
    n = strtoll(text, &end, 10);
    if (errno || n < 0)
        return -1;
    switch (*end) {
    case 'k': case 'K': unit = 1LL << 10; end++; break;
    case 'm': case 'M': unit = 1LL << 20; end++; break;
    case 'g': case 'G': unit = 1LL << 30; end++; break;
    default: break;
    }
    if (*end != '\0' || n > LLONG_MAX / unit)
        return -1;
    *out = n * unit;
    return 0;
}

int
cfg_cidr_parse(const char *text, struct cfg_cidr *out)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    int max;
    char *end;
    long bits;

    memset(out, 0, sizeof(*out));
    if (len == 0 || len >= sizeof(addr))
        return -1;
    memcpy(addr, text, len);
    addr[len] = '\0';
    if (inet_pton(AF_INET, addr, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash == NULL)
        return 0;
    errno = 0;
    bits = strtol(slash + 1, &end, 10);
    if (!isdigit((unsigned char)slash[1]) || *end != '\0' || errno ||
        bits > max)
        return -1;
    out->prefix = (int)bits;
    return 0;
}

static bool
match_prefix(const unsigned char *a, const unsigned char *b, int bits)
{
    int bytes = bits / 8, rest = bits % 8;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));

    if (memcmp(a, b, (size_t)bytes) != 0)
        return false;
    return rest == 0 || ((a[bytes] ^ b[bytes]) & mask) == 0;
}

bool
cfg_cidr_match(const struct cfg_cidr *nets, size_t n, const char *ip)
{
    unsigned char v4[4], v6[16];
    bool is_v4 = inet_pton(AF_INET, ip, v4) == 1;
    bool is_v6 = !is_v4 && inet_pton(AF_INET6, ip, v6) == 1;

    for (size_t i = 0; i < n; i++) {
        if (is_v4 && nets[i].family == AF_INET &&
            match_prefix(v4, nets[i].addr, nets[i].prefix))
            return true;
        if (is_v6 && nets[i].family == AF_INET6 &&
            match_prefix(v6, nets[i].addr, nets[i].prefix))
            return true;
        /* An IPv4 client on a dual-stack listener appears as ::ffff:a.b.c.d. */
        if (is_v6 && nets[i].family == AF_INET &&
            IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)v6) &&
            match_prefix(v6 + 12, nets[i].addr, nets[i].prefix))
            return true;
    }
    return false;
}

static void
set_cidrs(const struct origin *o, const char *value)
{
    char *copy = strdup(value), *save = NULL;

    free(cfg.trusted_proxies);
    cfg.trusted_proxies = NULL;
    cfg.n_trusted_proxies = 0;
    for (char *t = strtok_r(copy, ", \t\n", &save); t;
         t = strtok_r(NULL, ", \t\n", &save)) {
        struct cfg_cidr net;

        if (cfg_cidr_parse(t, &net) < 0)
            fail(o, t, "ADDR/BITS or ADDR, IPv4 or IPv6, separated by "
                       "commas");
        cfg.trusted_proxies = realloc(cfg.trusted_proxies,
                                      (cfg.n_trusted_proxies + 1) *
                                          sizeof(*cfg.trusted_proxies));
        if (cfg.trusted_proxies == NULL)
            abort();
        cfg.trusted_proxies[cfg.n_trusted_proxies++] = net;
    }
    free(copy);
}

static void
set_choice(const struct option_def *d, const struct origin *o,
           const char *value)
{
    char expected[128] = "one of";

    for (int i = 0; d->choices[i]; i++) {
        if (strcmp(value, d->choices[i]) == 0) {
            *(int *)d->target = i;
            return;
        }
    }
    for (int i = 0; d->choices[i]; i++)
        snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected),
                 "%s %s", i ? "," : "", d->choices[i]);
    fail(o, value, expected);
}

static void
set_option(const struct option_def *d, const struct origin *o,
           const char *value)
{
    switch (d->kind) {
    case OPT_STRING:
        if (*value == '\0')
            fail(o, value, "a non-empty value");
        free(*(char **)d->target);
        *(char **)d->target = strdup(value);
        break;
    case OPT_ADDR: {
        struct cfg_addr *a = d->target;

        free(a->text);
        if ((d->target == &cfg.https_listen ||
             d->target == &cfg.admin_listen) &&
            strcmp(value, "off") == 0) {
            memset(a, 0, sizeof(*a));
            break;
        }
        if (cfg_addr_parse(value, a))
            fail(o, value, "ADDR:PORT with a numeric address, [ADDR]:PORT "
                           "for IPv6, or :PORT for all addresses");
        break;
    }
    case OPT_INT:
        set_int(d, o, value);
        break;
    case OPT_CHOICE:
        set_choice(d, o, value);
        break;
    case OPT_LEVEL:
        if (log_level_parse(value, &cfg.log_level))
            fail(o, value, "one of debug, info, notice, warn, error");
        break;
    case OPT_FORMAT:
        if (strcmp(value, "text") == 0)
            cfg.log_format = LOG_FORMAT_TEXT;
        else if (strcmp(value, "json") == 0)
            cfg.log_format = LOG_FORMAT_JSON;
        else
            fail(o, value, "text or json");
        break;
    case OPT_ROUTE:
        add_route(o, value);
        break;
    case OPT_SIZE:
        set_size(d, o, value);
        break;
    case OPT_CIDRS:
        set_cidrs(o, value);
        break;
    case OPT_FLAG:
        break;
    }
}

static const struct option_def *
find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strlen(options[i].name) == len &&
            strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static void
env_name(const struct option_def *d, char *out, size_t cap)
{
    size_t i = (size_t)snprintf(out, cap, "PORTICO_");

    for (const char *p = d->name; *p && i + 1 < cap; p++)
        out[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[i] = '\0';
}

/* PORTICO_ROUTE contains several routes separated by commas or whitespace. */
static void
set_routes_from_env(const struct option_def *d, const struct origin *o,
                    const char *value)
{
    char *copy = strdup(value), *save = NULL;

    for (char *t = strtok_r(copy, ", \t\n", &save); t;
         t = strtok_r(NULL, ", \t\n", &save))
        set_option(d, o, t);
    free(copy);
}

static void
apply_env(void)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *d = &options[i];
        struct origin o;
        const char *v;

        if (d->kind == OPT_FLAG)
            continue;
        env_name(d, o.text, sizeof(o.text));
        v = getenv(o.text);
        if (v == NULL && strcmp(d->name, "docker-host") == 0) {
            v = getenv("DOCKER_HOST");
            snprintf(o.text, sizeof(o.text), "DOCKER_HOST");
        }
        if (v == NULL && strcmp(d->name, "acme-directory") == 0) {
            v = getenv("ACME_CA_URI"); /* acme-companion's name */
            snprintf(o.text, sizeof(o.text), "ACME_CA_URI");
        }
        if (v == NULL)
            continue;
        if (d->kind == OPT_ROUTE)
            set_routes_from_env(d, &o, v);
        else
            set_option(d, &o, v);
    }
}

static void
set_defaults(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    const char *tls = getenv("DOCKER_TLS_VERIFY");

    cfg.docker_host = strdup("unix:///var/run/docker.sock");
    cfg_addr_parse("0.0.0.0:80", &cfg.http_listen);
    cfg_addr_parse("0.0.0.0:443", &cfg.https_listen);
    cfg.host_network_address = strdup("127.0.0.1");
    cfg.workers = ncpu > 0 ? (int)(ncpu > 1024 ? 1024 : ncpu) : 1;
    cfg.resync_interval = 30;
    cfg.log_level = LOG_INFO;
    cfg.log_format = LOG_FORMAT_TEXT;
    cfg.access_log = strdup("off");
    cfg_addr_parse("127.0.0.1:9180", &cfg.admin_listen);
    cfg.state_dir = strdup("/var/lib/portico");
    cfg.max_header_size = 32768;
    cfg.max_headers = 100;
    cfg.header_timeout = 30;
    cfg.keepalive_timeout = 60;
    cfg.upstream_connect_timeout = 5;
    cfg.upstream_response_timeout = 60;
    cfg.tunnel_timeout = 3600;
    cfg.shutdown_timeout = 10;
    cfg.acme_directory =
        strdup("https://acme-v02.api.letsencrypt.org/directory");
    if (getenv("DOCKER_CERT_PATH"))
        cfg.docker_cert_path = strdup(getenv("DOCKER_CERT_PATH"));
    cfg.docker_tls_verify = tls != NULL && *tls != '\0';
}

/* Command-line routes replace PORTICO_ROUTE's, as other options do. */
static void
clear_env_routes_once(bool *cleared)
{
    if (*cleared)
        return;
    *cleared = true;
    for (size_t i = 0; i < cfg.n_routes; i++) {
        free(cfg.routes[i].host);
        free(cfg.routes[i].path);
        free(cfg.routes[i].upstream.text);
    }
    cfg.n_routes = 0;
}

static bool
is_loopback(const struct cfg_addr *a)
{
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->sa;

    if (a->sa.ss_family == AF_INET)
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    return a->sa.ss_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

/* Options that only make sense together. */
static void
check_pairs(void)
{
    /* The admin API lists every container and certificate. */
    if (cfg.admin_listen.len > 0 && !is_loopback(&cfg.admin_listen) &&
        cfg.admin_token == NULL) {
        fprintf(stderr, "portico: --admin-listen %s is not a loopback "
                        "address, so --admin-token (or PORTICO_ADMIN_TOKEN) "
                        "is required\n", cfg.admin_listen.text);
        exit(2);
    }
    if ((cfg.default_cert == NULL) != (cfg.default_key == NULL)) {
        fprintf(stderr, "portico: --default-cert and --default-key must be "
                        "given together\n");
        exit(2);
    }
    if ((cfg.acme_eab_kid == NULL) != (cfg.acme_eab_hmac_key == NULL)) {
        fprintf(stderr, "portico: --acme-eab-kid and --acme-eab-hmac-key "
                        "must be given together\n");
        exit(2);
    }
}

void
cfg_parse(int argc, char **argv)
{
    bool routes_cleared = false;

    set_defaults();
    apply_env();
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL, *eq;
        const struct option_def *d;
        struct origin o;
        size_t len;

        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "portico: unexpected argument \"%s\"; see "
                            "portico --help\n", arg);
            exit(2);
        }
        eq = strchr(arg + 2, '=');
        len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        d = find_option(arg + 2, len);
        if (d == NULL) {
            fprintf(stderr, "portico: unknown option \"%s\"; see portico "
                            "--help\n", arg);
            exit(2);
        }
        snprintf(o.text, sizeof(o.text), "--%s", d->name);
        if (d->kind == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "portico: %s takes no value\n", o.text);
                exit(2);
            }
            if (strcmp(d->name, "help") == 0) {
                print_help();
                exit(0);
            }
            if (strcmp(d->name, "version") == 0) {
                printf("portico %s\n", PORTICO_VERSION);
                exit(0);
            }
            cfg.print_routes = true;
            continue;
        }
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "portico: %s requires a value (%s)\n", o.text,
                    d->value_name);
            exit(2);
        }
        if (d->kind == OPT_ROUTE)
            clear_env_routes_once(&routes_cleared);
        set_option(d, &o, value);
    }
    check_pairs();
}

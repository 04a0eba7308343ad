/* Container inspect documents to routing intent (watcher/labels.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "watch_int.h"

struct doc {
    const char *labels;   /* JSON object, NULL for {} */
    const char *env;      /* JSON array, NULL for [] */
    const char *exposed;  /* JSON object, NULL for {"80/tcp":{}} */
    const char *mode;     /* HostConfig.NetworkMode, NULL for "default" */
    const char *networks; /* JSON object, NULL for one bridge network */
};

static const struct watch_parse_env plain_env = {
    .host_network_address = "127.0.0.1",
};

static struct watch_container *
parse_doc(const struct doc *d, const struct watch_parse_env *env)
{
    char json[4096];

    snprintf(json, sizeof(json),
             "{\"Id\":\"0123abcd\",\"Name\":\"/web-1\","
             "\"State\":{\"Running\":true,\"Paused\":false},"
             "\"Config\":{\"Labels\":%s,\"Env\":%s,\"ExposedPorts\":%s},"
             "\"HostConfig\":{\"NetworkMode\":\"%s\"},"
             "\"NetworkSettings\":{\"Networks\":%s}}",
             d->labels ? d->labels : "{}", d->env ? d->env : "[]",
             d->exposed ? d->exposed : "{\"80/tcp\":{}}",
             d->mode ? d->mode : "default",
             d->networks ? d->networks
                         : "{\"bridge\":{\"IPAddress\":\"172.17.0.2\"}}");
    return watch_container_from_json(json, env ? env : &plain_env);
}

/* Joins c->hosts with commas into buf. */
static const char *
join_hosts(const struct watch_container *c, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < c->n_hosts; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "," : "",
                 c->hosts[i]);
    return buf;
}

/* Checks that skip_reason contains `part`, or is NULL when part is. */
#define CHECK_SKIP(line, part, c)                                             \
    do {                                                                      \
        if ((part) == NULL)                                                   \
            CHECK_STR(line, NULL, (c)->skip_reason);                          \
        else                                                                  \
            CHECK_INT(line, 1, (c)->skip_reason != NULL &&                    \
                                   strstr((c)->skip_reason, (part)) != NULL); \
    } while (0)

static void
test_labels_hostnames(void)
{
    static const struct {
        int line;
        const char *label; /* JSON-escaped VIRTUAL_HOST value */
        const char *hosts;
        size_t n_warnings;
        const char *skip;
    } cases[] = {
        {__LINE__, "a.example.com", "a.example.com", 0, NULL},
        {__LINE__, "a.example.com,b.example.com", "a.example.com,b.example.com",
         0, NULL},
        {__LINE__, "a.example.com b.example.com", "a.example.com,b.example.com",
         0, NULL},
        {__LINE__, " a.example.com , b.example.com\\t c.example.com ",
         "a.example.com,b.example.com,c.example.com", 0, NULL},
        {__LINE__, "a.example.com,,b.example.com,", "a.example.com,b.example.com",
         0, NULL},
        {__LINE__, "A.Example.COM", "a.example.com", 0, NULL},
        {__LINE__, "a.example.com,A.EXAMPLE.com", "a.example.com", 0, NULL},
        {__LINE__, "localhost", "localhost", 0, NULL},
        {__LINE__, "*.example.com", "*.example.com", 0, NULL},
        {__LINE__, "1.2.3.4", "1.2.3.4", 0, NULL},
        {__LINE__, "a_b", "", 1, "no valid hostname"},
        {__LINE__, "a_b,ok.example.com", "ok.example.com", 1, NULL},
        {__LINE__, "-a.example.com", "", 1, "no valid hostname"},
        {__LINE__, "a-.example.com", "", 1, "no valid hostname"},
        {__LINE__, "a..example.com", "", 1, "no valid hostname"},
        {__LINE__, "example.com.", "", 1, "no valid hostname"},
        {__LINE__, "a.*.example.com", "", 1, "no valid hostname"},
        {__LINE__, "*example.com", "", 1, "no valid hostname"},
        {__LINE__, "exa mple.com", "exa,mple.com", 0, NULL},
        {__LINE__,
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
         "", 1, "no valid hostname"},
        {__LINE__,
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
         0, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char labels[512], hosts[512];
        struct doc d = {.labels = labels};
        struct watch_container *c;

        snprintf(labels, sizeof(labels), "{\"VIRTUAL_HOST\":\"%s\"}",
                 cases[i].label);
        c = parse_doc(&d, NULL);
        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_INT(cases[i].line, 1, c->wants_routing);
        CHECK_STR(cases[i].line, cases[i].hosts,
                  join_hosts(c, hosts, sizeof(hosts)));
        CHECK_INT(cases[i].line, cases[i].n_warnings, c->n_warnings);
        CHECK_SKIP(cases[i].line, cases[i].skip, c);
        watch_container_free(c);
    }
}

static void
test_labels_invalid_hostname_message(void)
{
    struct doc d = {.labels = "{\"VIRTUAL_HOST\":\"a_b,ok.example.com\"}"};
    struct watch_container *c = parse_doc(&d, NULL);

    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_INT(__LINE__, 1, c->n_warnings);
    if (c->n_warnings == 1)
        CHECK_STR(__LINE__,
                  "label VIRTUAL_HOST on container web-1: invalid hostname "
                  "\"a_b\"",
                  c->warnings[0]);
    watch_container_free(c);
}

static void
test_labels_no_routing(void)
{
    static const struct {
        int line;
        const char *labels;
        const char *env;
    } cases[] = {
        {__LINE__, "{}", "[]"},
        {__LINE__, "{\"VIRTUAL_HOST\":\"\"}", "[]"},
        {__LINE__, "{\"VIRTUAL_HOST\":\" , \"}", "[]"},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.com\",\"portico.enable\":\"false\"}",
         "[]"},
        {__LINE__, "{\"portico.enable\":\"False\"}", "[\"VIRTUAL_HOST=a.com\"]"},
        {__LINE__, "{\"portico.host\":\"a.com\",\"portico.enable\":\"0\"}",
         "[]"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct doc d = {.labels = cases[i].labels, .env = cases[i].env};
        struct watch_container *c = parse_doc(&d, NULL);

        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_INT(cases[i].line, 0, c->wants_routing);
        CHECK_STR(cases[i].line, NULL, c->skip_reason);
        CHECK_INT(cases[i].line, 0, watch_container_routable(c));
        watch_container_free(c);
    }
}

static void
test_labels_port(void)
{
    static const struct {
        int line;
        const char *port; /* VIRTUAL_PORT, NULL for none */
        const char *exposed;
        int expected;
        const char *skip;
    } cases[] = {
        {__LINE__, "8080", NULL, 8080, NULL},
        {__LINE__, "1", NULL, 1, NULL},
        {__LINE__, "65535", NULL, 65535, NULL},
        {__LINE__, "0", NULL, 0, "invalid port \"0\""},
        {__LINE__, "65536", NULL, 0, "invalid port \"65536\""},
        {__LINE__, "abc", NULL, 0, "invalid port \"abc\""},
        {__LINE__, "80a", NULL, 0, "invalid port \"80a\""},
        {__LINE__, "", NULL, 0, "invalid port \"\""},
        {__LINE__, " 80", NULL, 0, "invalid port"},
        {__LINE__, "-80", NULL, 0, "invalid port"},
        {__LINE__, "000080", NULL, 0, "invalid port"},
        {__LINE__, NULL, "{\"3000/tcp\":{}}", 3000, NULL},
        {__LINE__, NULL, "{\"3000\":{}}", 3000, NULL},
        {__LINE__, NULL, "{\"53/udp\":{},\"3000/tcp\":{}}", 3000, NULL},
        {__LINE__, NULL, "{\"8080/tcp\":{},\"80/tcp\":{},\"443/tcp\":{}}", 80,
         NULL},
        {__LINE__, NULL, "{\"9090/tcp\":{},\"8080/tcp\":{}}", 0,
         "several exposed ports 8080,9090"},
        {__LINE__, NULL, "{}", 0, "no exposed port, set VIRTUAL_PORT"},
        {__LINE__, NULL, "{\"53/udp\":{}}", 0, "no exposed port"},
        {__LINE__, "9000", "{\"80/tcp\":{}}", 9000, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char labels[256];
        struct doc d = {.labels = labels, .exposed = cases[i].exposed};
        struct watch_container *c;

        if (cases[i].port != NULL)
            snprintf(labels, sizeof(labels),
                     "{\"VIRTUAL_HOST\":\"a.com\",\"VIRTUAL_PORT\":\"%s\"}",
                     cases[i].port);
        else
            snprintf(labels, sizeof(labels), "{\"VIRTUAL_HOST\":\"a.com\"}");
        c = parse_doc(&d, NULL);
        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_SKIP(cases[i].line, cases[i].skip, c);
        if (cases[i].skip == NULL)
            CHECK_INT(cases[i].line, cases[i].expected, c->port);
        CHECK_INT(cases[i].line, cases[i].skip == NULL,
                  watch_container_routable(c));
        watch_container_free(c);
    }
}

static void
test_labels_precedence(void)
{
    static const struct {
        int line;
        const char *labels;
        const char *env;
        const char *hosts;
        int port;
        const char *path;
    } cases[] = {
        {__LINE__, "{}", "[\"VIRTUAL_HOST=env.com\",\"VIRTUAL_PORT=81\"]",
         "env.com", 81, "/"},
        {__LINE__, "{\"VIRTUAL_HOST\":\"label.com\"}",
         "[\"VIRTUAL_HOST=env.com\",\"VIRTUAL_PORT=81\"]", "label.com", 81,
         "/"},
        {__LINE__, "{\"VIRTUAL_HOST\":\"v.com\",\"portico.host\":\"p.com\"}",
         "[]", "p.com", 80, "/"},
        {__LINE__, "{\"portico.host\":\"p.com\",\"portico.port\":\"82\"}",
         "[\"VIRTUAL_PORT=81\"]", "p.com", 82, "/"},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"v.com\",\"VIRTUAL_PATH\":\"/v\","
         "\"portico.path\":\"/p\"}",
         "[]", "v.com", 80, "/p"},
        {__LINE__, "{}", "[\"VIRTUAL_HOST=a=b.com\",\"NOEQUALS\",\"=x\"]", "",
         80, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct doc d = {.labels = cases[i].labels, .env = cases[i].env};
        struct watch_container *c = parse_doc(&d, NULL);
        char hosts[256];

        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_STR(cases[i].line, cases[i].hosts,
                  join_hosts(c, hosts, sizeof(hosts)));
        if (cases[i].path != NULL) {
            CHECK_INT(cases[i].line, cases[i].port, c->port);
            CHECK_STR(cases[i].line, cases[i].path, c->path);
        }
        watch_container_free(c);
    }
}

static void
test_labels_settings_kept(void)
{
    struct doc d = {
        .labels = "{\"HSTS\":\"off\",\"portico.x\":\"1\",\"other\":\"no\","
                  "\"LETSENCRYPT_HOST\":\"label\"}",
        .env = "[\"PATH=/bin\",\"LETSENCRYPT_HOST=env\",\"ACME_CA=x\","
               "\"HTTPS_METHOD=noredirect\",\"VIRTUAL_PROTO=https\"]",
    };
    struct watch_container *c = parse_doc(&d, NULL);

    CHECK(c != NULL);
    if (c == NULL)
        return;
    CHECK_STR(__LINE__, "off", watch_setting(c, "HSTS"));
    CHECK_STR(__LINE__, "1", watch_setting(c, "portico.x"));
    CHECK_STR(__LINE__, NULL, watch_setting(c, "other"));
    CHECK_STR(__LINE__, NULL, watch_setting(c, "PATH"));
    CHECK_STR(__LINE__, "label", watch_setting(c, "LETSENCRYPT_HOST"));
    CHECK_STR(__LINE__, "x", watch_setting(c, "ACME_CA"));
    CHECK_STR(__LINE__, "noredirect", watch_setting(c, "HTTPS_METHOD"));
    CHECK_STR(__LINE__, "https", watch_setting(c, "VIRTUAL_PROTO"));
    CHECK_INT(__LINE__, 6, c->n_settings);
    for (size_t i = 1; i < c->n_settings; i++)
        CHECK(strcmp(c->settings[i - 1].name, c->settings[i].name) < 0);
    watch_container_free(c);
}

static void
test_labels_proto_and_path(void)
{
    static const struct {
        int line;
        const char *name;
        const char *value;
        int tls;
        const char *path;
        const char *skip;
    } cases[] = {
        {__LINE__, "VIRTUAL_PROTO", "http", 0, "/", NULL},
        {__LINE__, "VIRTUAL_PROTO", "https", 1, "/", NULL},
        {__LINE__, "VIRTUAL_PROTO", "HTTPS", 1, "/", NULL},
        {__LINE__, "portico.proto", "Https", 1, "/", NULL},
        {__LINE__, "VIRTUAL_PROTO", "", 0, "/", NULL},
        {__LINE__, "VIRTUAL_PROTO", "grpc", 0, NULL,
         "unsupported protocol \"grpc\""},
        {__LINE__, "VIRTUAL_PROTO", "uwsgi", 0, NULL, "unsupported protocol"},
        {__LINE__, "VIRTUAL_PATH", "/api", 0, "/api", NULL},
        {__LINE__, "VIRTUAL_PATH", "/api/v1/", 0, "/api/v1/", NULL},
        {__LINE__, "VIRTUAL_PATH", "", 0, "/", NULL},
        {__LINE__, "VIRTUAL_PATH", "api", 0, NULL, "invalid path \"api\""},
        {__LINE__, "VIRTUAL_PATH", "/a b", 0, NULL, "invalid path"},
        {__LINE__, "VIRTUAL_PATH", "/a\\tb", 0, NULL, "invalid path"},
        {__LINE__, "VIRTUAL_PATH", "/a\\u0001", 0, NULL, "invalid path"},
        {__LINE__, "portico.path", "x", 0, NULL,
         "label portico.path on container web-1: invalid path"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char labels[256];
        struct doc d = {.labels = labels};
        struct watch_container *c;

        snprintf(labels, sizeof(labels),
                 "{\"VIRTUAL_HOST\":\"a.com\",\"%s\":\"%s\"}", cases[i].name,
                 cases[i].value);
        c = parse_doc(&d, NULL);
        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_SKIP(cases[i].line, cases[i].skip, c);
        if (cases[i].skip == NULL) {
            CHECK_INT(cases[i].line, cases[i].tls, c->upstream_tls);
            CHECK_STR(cases[i].line, cases[i].path, c->path);
        }
        watch_container_free(c);
    }
}

static void
test_labels_network(void)
{
    static char *own[] = {"app", "front"};
    static const struct watch_parse_env in_container = {
        .host_network_address = "127.0.0.1",
        .in_container = true,
        .own_networks = own,
        .n_own_networks = 2,
    };
    static const struct watch_parse_env no_host_address = {0};
    static const struct {
        int line;
        const struct watch_parse_env *env;
        const char *labels; /* added to VIRTUAL_HOST */
        const char *mode;
        const char *networks;
        const char *ip;
        const char *network;
        const char *skip;
    } cases[] = {
        {__LINE__, NULL, "", "host", "{}", "127.0.0.1", "host", NULL},
        {__LINE__, &no_host_address, "", "host", "{}", NULL, NULL,
         "network mode host"},
        {__LINE__, NULL, "", NULL,
         "{\"zeta\":{\"IPAddress\":\"10.0.0.9\"},"
         "\"alpha\":{\"IPAddress\":\"10.0.0.1\"}}",
         "10.0.0.1", "alpha", NULL},
        {__LINE__, NULL, "", NULL,
         "{\"alpha\":{\"IPAddress\":\"\"},"
         "\"beta\":{\"IPAddress\":\"10.0.0.2\"}}",
         "10.0.0.2", "beta", NULL},
        {__LINE__, NULL, "", NULL, "{}", NULL, NULL, "no IP address"},
        {__LINE__, NULL, "", "none", "{\"none\":{\"IPAddress\":\"\"}}", NULL,
         NULL, "no IP address"},
        {__LINE__, NULL, ",\"portico.network\":\"zeta\"", NULL,
         "{\"zeta\":{\"IPAddress\":\"10.0.0.9\"},"
         "\"alpha\":{\"IPAddress\":\"10.0.0.1\"}}",
         "10.0.0.9", "zeta", NULL},
        {__LINE__, NULL, ",\"portico.network\":\"gone\"", NULL,
         "{\"alpha\":{\"IPAddress\":\"10.0.0.1\"}}", NULL, NULL,
         "network \"gone\" not found"},
        {__LINE__, &in_container, "", NULL,
         "{\"alpha\":{\"IPAddress\":\"10.0.0.1\"},"
         "\"front\":{\"IPAddress\":\"10.1.0.5\"}}",
         "10.1.0.5", "front", NULL},
        {__LINE__, &in_container, "", NULL,
         "{\"app\":{\"IPAddress\":\"10.2.0.5\"},"
         "\"front\":{\"IPAddress\":\"10.1.0.5\"}}",
         "10.2.0.5", "app", NULL},
        {__LINE__, &in_container, "", NULL,
         "{\"alpha\":{\"IPAddress\":\"10.0.0.1\"}}", NULL, NULL,
         "no network shared"},
        {__LINE__, &in_container, ",\"portico.network\":\"alpha\"", NULL,
         "{\"alpha\":{\"IPAddress\":\"10.0.0.1\"},"
         "\"front\":{\"IPAddress\":\"10.1.0.5\"}}",
         "10.0.0.1", "alpha", NULL},
        {__LINE__, &in_container, "", "host", "{}", "127.0.0.1", "host", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char labels[256];
        struct doc d = {.labels = labels,
                        .mode = cases[i].mode,
                        .networks = cases[i].networks};
        struct watch_container *c;

        snprintf(labels, sizeof(labels), "{\"VIRTUAL_HOST\":\"a.com\"%s}",
                 cases[i].labels);
        c = parse_doc(&d, cases[i].env);
        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_SKIP(cases[i].line, cases[i].skip, c);
        CHECK_STR(cases[i].line, cases[i].ip, c->upstream_ip);
        CHECK_STR(cases[i].line, cases[i].network, c->network);
        watch_container_free(c);
    }
}

static void
test_labels_self_networks(void)
{
    static const struct {
        int line;
        const char *json; /* NULL: not in a container */
        int in_container;
        size_t n;
        const char *first;
    } cases[] = {
        {__LINE__, NULL, 0, 0, NULL},
        {__LINE__,
         "{\"HostConfig\":{\"NetworkMode\":\"host\"},"
         "\"NetworkSettings\":{\"Networks\":{\"host\":{}}}}",
         0, 0, NULL},
        {__LINE__,
         "{\"HostConfig\":{\"NetworkMode\":\"front\"},"
         "\"NetworkSettings\":{\"Networks\":{\"zz\":{},\"front\":{}}}}",
         1, 2, "front"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct watch_parse_env env = {0};
        cJSON *doc = cases[i].json ? cJSON_Parse(cases[i].json) : NULL;

        CHECK_INT(cases[i].line, 0, watch_env_set_self(&env, doc));
        CHECK_INT(cases[i].line, cases[i].in_container, env.in_container);
        CHECK_INT(cases[i].line, cases[i].n, env.n_own_networks);
        CHECK_STR(cases[i].line, cases[i].first,
                  env.n_own_networks ? env.own_networks[0] : NULL);
        watch_env_clear(&env);
        cJSON_Delete(doc);
    }
}

static void
test_labels_state(void)
{
    static const struct {
        int line;
        const char *state;
        int health;
        int routable;
    } cases[] = {
        {__LINE__, "{\"Running\":true}", WATCH_HEALTH_NONE, 1},
        {__LINE__, "{\"Running\":false}", WATCH_HEALTH_NONE, 0},
        {__LINE__, "{\"Running\":true,\"Paused\":true}", WATCH_HEALTH_NONE, 0},
        {__LINE__, "{\"Running\":true,\"Health\":{\"Status\":\"starting\"}}",
         WATCH_HEALTH_STARTING, 0},
        {__LINE__, "{\"Running\":true,\"Health\":{\"Status\":\"healthy\"}}",
         WATCH_HEALTH_HEALTHY, 1},
        {__LINE__, "{\"Running\":true,\"Health\":{\"Status\":\"unhealthy\"}}",
         WATCH_HEALTH_UNHEALTHY, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char json[512];
        struct watch_container *c;

        snprintf(json, sizeof(json),
                 "{\"Id\":\"ab\",\"Name\":\"/x\",\"State\":%s,"
                 "\"Config\":{\"Labels\":{\"VIRTUAL_HOST\":\"a.com\","
                 "\"VIRTUAL_PORT\":\"80\"}},"
                 "\"HostConfig\":{\"NetworkMode\":\"host\"}}",
                 cases[i].state);
        c = watch_container_from_json(json, &plain_env);
        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_INT(cases[i].line, cases[i].health, c->health);
        CHECK_INT(cases[i].line, cases[i].routable,
                  watch_container_routable(c));
        CHECK_STR(cases[i].line, "x", c->name);
        watch_container_free(c);
    }
}

static void
test_labels_malformed(void)
{
    static const struct {
        int line;
        const char *json;
        int parsed;
    } cases[] = {
        {__LINE__, "", 0},
        {__LINE__, "[]", 0},
        {__LINE__, "{}", 0},
        {__LINE__, "{\"Id\":1}", 0},
        {__LINE__, "{\"Id\":\"ab\"}", 1},
        {__LINE__, "{\"Id\":\"ab\",\"Config\":[],\"State\":1}", 1},
        {__LINE__,
         "{\"Id\":\"ab\",\"Config\":{\"Labels\":{\"VIRTUAL_HOST\":7},"
         "\"Env\":[1,null,\"VIRTUAL_HOST\"],\"ExposedPorts\":[]}}",
         1},
        {__LINE__,
         "{\"Id\":\"ab\",\"Config\":{\"Labels\":{\"VIRTUAL_HOST\":\"a.com\"},"
         "\"ExposedPorts\":{\"x/tcp\":1,\"99999/tcp\":{}}},"
         "\"NetworkSettings\":{\"Networks\":{\"n\":{\"IPAddress\":5}}}}",
         1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct watch_container *c =
            watch_container_from_json(cases[i].json, &plain_env);

        CHECK_INT(cases[i].line, cases[i].parsed, c != NULL);
        if (c != NULL)
            CHECK_INT(cases[i].line, 0, watch_container_routable(c));
        watch_container_free(c);
    }
}

static void
test_labels_equal(void)
{
    struct doc base = {.labels = "{\"VIRTUAL_HOST\":\"a.com\"}"};
    struct doc other = {.labels = "{\"VIRTUAL_HOST\":\"b.com\"}"};
    struct doc extra = {.labels = "{\"VIRTUAL_HOST\":\"a.com\",\"HSTS\":\"off\"}"};
    struct watch_container *a = parse_doc(&base, NULL);
    struct watch_container *b = parse_doc(&base, NULL);
    struct watch_container *c = parse_doc(&other, NULL);
    struct watch_container *d = parse_doc(&extra, NULL);

    CHECK(a != NULL);
    CHECK(b != NULL);
    CHECK(c != NULL);
    CHECK(d != NULL);
    if (a != NULL && b != NULL && c != NULL && d != NULL) {
        CHECK(watch_container_equal(a, b));
        CHECK(!watch_container_equal(a, c));
        CHECK(!watch_container_equal(a, d));
        b->stopping = true;
        CHECK(!watch_container_equal(a, b));
    }
    watch_container_free(a);
    watch_container_free(b);
    watch_container_free(c);
    watch_container_free(d);
}

/* Joins c->cert_hosts with commas into buf. */
static const char *
join_cert_hosts(const struct watch_container *c, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; i < c->n_cert_hosts; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "," : "",
                 c->cert_hosts[i]);
    return buf;
}

static void
test_labels_tls(void)
{
    static const struct {
        int line;
        const char *labels;
        const char *cert_hosts;
        bool san, off;
        enum watch_https_method method;
        const char *hsts;
        const char *email;
        size_t n_warnings;
    } cases[] = {
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test,b.test\"}", "a.test,b.test",
         false, false, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT, NULL, 0},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test,b.test\",\"LETSENCRYPT_HOST\":\"b.test\"}",
         "b.test", true, false, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT, NULL,
         0},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"ACME_HOST\":\"A.test,other.test\"}",
         "a.test", true, false, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT, NULL,
         1},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test,b.test\",\"portico.tls.san\":\"true\"}",
         "a.test,b.test", true, false, WATCH_HTTPS_REDIRECT,
         WATCH_HSTS_DEFAULT, NULL, 0},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"portico.tls\":\"off\"}",
         "a.test", false, true, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT, NULL,
         0},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"HTTPS_METHOD\":\"nohttps\"}",
         "a.test", false, true, WATCH_HTTPS_NOHTTPS, WATCH_HSTS_DEFAULT, NULL,
         0},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"HTTPS_METHOD\":\"NoRedirect\"}",
         "a.test", false, false, WATCH_HTTPS_NOREDIRECT, WATCH_HSTS_DEFAULT,
         NULL, 0},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"HTTPS_METHOD\":\"nohttp\"}",
         "a.test", false, false, WATCH_HTTPS_NOHTTP, WATCH_HSTS_DEFAULT, NULL,
         0},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"HTTPS_METHOD\":\"sometimes\"}",
         "a.test", false, false, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT,
         NULL, 1},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"HSTS\":\"off\"}", "a.test",
         false, false, WATCH_HTTPS_REDIRECT, NULL, NULL, 0},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"HSTS\":\"max-age=60\"}",
         "a.test", false, false, WATCH_HTTPS_REDIRECT, "max-age=60", NULL, 0},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"HSTS\":\"a\\nb\"}",
         "a.test", false, false, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT,
         NULL, 1},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"LETSENCRYPT_EMAIL\":\"me@a.test\"}",
         "a.test", false, false, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT,
         "me@a.test", 0},
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\",\"ACME_EMAIL\":\"x@a.test\"}",
         "a.test", false, false, WATCH_HTTPS_REDIRECT, WATCH_HSTS_DEFAULT,
         "x@a.test", 0},
    };
    char buf[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct doc d = {.labels = cases[i].labels};
        struct watch_container *c = parse_doc(&d, NULL);

        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_STR(cases[i].line, cases[i].cert_hosts,
                  join_cert_hosts(c, buf, sizeof(buf)));
        CHECK_INT(cases[i].line, cases[i].san, c->tls_san);
        CHECK_INT(cases[i].line, cases[i].off, c->tls_off);
        CHECK_INT(cases[i].line, cases[i].method, c->https_method);
        CHECK_STR(cases[i].line, cases[i].hsts, c->hsts);
        CHECK_STR(cases[i].line, cases[i].email, c->acme_email);
        CHECK_INT(cases[i].line, cases[i].n_warnings, c->n_warnings);
        watch_container_free(c);
    }
}

static void
test_labels_max_body_size(void)
{
    static const struct {
        int line;
        const char *labels;
        long long expected;
        size_t n_warnings;
    } cases[] = {
        {__LINE__, "{\"VIRTUAL_HOST\":\"a.test\"}", 0, 0},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.max-body-size\":\"100\"}",
         100, 0},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.max-body-size\":\"10m\"}",
         10LL << 20, 0},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.max-body-size\":\"2G\"}",
         2LL << 30, 0},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.max-body-size\":\"ten\"}",
         0, 1},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.max-body-size\":\"-5\"}",
         0, 1},
        {__LINE__,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.max-body-size\":\"5mb\"}",
         0, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct doc d = {.labels = cases[i].labels};
        struct watch_container *c = parse_doc(&d, NULL);

        CHECK_INT(cases[i].line, 1, c != NULL);
        if (c == NULL)
            continue;
        CHECK_INT(cases[i].line, cases[i].expected, c->max_body_size);
        CHECK_INT(cases[i].line, cases[i].n_warnings, c->n_warnings);
        watch_container_free(c);
    }
}

int
main(void)
{
    test_labels_hostnames();
    test_labels_invalid_hostname_message();
    test_labels_no_routing();
    test_labels_port();
    test_labels_precedence();
    test_labels_settings_kept();
    test_labels_proto_and_path();
    test_labels_network();
    test_labels_self_networks();
    test_labels_state();
    test_labels_malformed();
    test_labels_equal();
    test_labels_tls();
    test_labels_max_body_size();
    return check_done();
}

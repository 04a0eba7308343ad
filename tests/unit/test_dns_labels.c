/* Container labels for DNS-01: portico.tls.challenge and
 * portico.tls.domains (watcher/labels.c). */
#include <stdio.h>
#include <string.h>

#include "acme.h"
#include "check.h"
#include "config.h"
#include "watch_int.h"

static const struct watch_parse_env env = {
    .host_network_address = "127.0.0.1",
};

static struct watch_container *
parse_labels(const char *labels)
{
    char json[2048];

    snprintf(json, sizeof(json),
             "{\"Id\":\"0123abcd\",\"Name\":\"/web-1\","
             "\"State\":{\"Running\":true,\"Paused\":false},"
             "\"Config\":{\"Labels\":%s,\"Env\":[],"
             "\"ExposedPorts\":{\"80/tcp\":{}}},"
             "\"HostConfig\":{\"NetworkMode\":\"default\"},"
             "\"NetworkSettings\":{\"Networks\":{\"bridge\":"
             "{\"IPAddress\":\"172.17.0.2\"}}}}",
             labels);
    return watch_container_from_json(json, &env);
}

static void
join(char **list, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "",
                              list[i]);
}

static void
test_dns_labels_table(void)
{
    static const struct {
        int line;
        int global;          /* cfg.acme_challenge */
        const char *labels;
        const char *cert_hosts;
        int san, challenge, warnings;
    } cases[] = {
        {__LINE__, ACME_CHALLENGE_HTTP01,
         "{\"VIRTUAL_HOST\":\"a.test\"}", "a.test", 0, -1, 0},
        {__LINE__, ACME_CHALLENGE_HTTP01,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.tls.challenge\":"
         "\"DNS-01\"}", "a.test", 0, ACME_CHALLENGE_DNS01, 0},
        {__LINE__, ACME_CHALLENGE_HTTP01,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.tls.challenge\":"
         "\"dns-02\"}", "a.test", 0, -1, 1},
        {__LINE__, ACME_CHALLENGE_HTTP01,
         "{\"VIRTUAL_HOST\":\"*.ex.test\",\"portico.tls.challenge\":"
         "\"dns-01\",\"portico.tls.domains\":\"*.Ex.test, ex.test\"}",
         "*.ex.test,ex.test", 1, ACME_CHALLENGE_DNS01, 0},
        {__LINE__, ACME_CHALLENGE_DNS01,
         "{\"VIRTUAL_HOST\":\"*.ex.test\",\"portico.tls.domains\":"
         "\"*.ex.test\"}", "*.ex.test", 1, -1, 0},
        /* A wildcard without DNS-01: one warning, no certificate. */
        {__LINE__, ACME_CHALLENGE_HTTP01,
         "{\"VIRTUAL_HOST\":\"*.ex.test\",\"portico.tls.domains\":"
         "\"*.ex.test,ex.test\"}", "", 1, -1, 1},
        {__LINE__, ACME_CHALLENGE_DNS01,
         "{\"VIRTUAL_HOST\":\"a.ex.test\",\"portico.tls.challenge\":"
         "\"tls-alpn-01\",\"portico.tls.domains\":\"*.ex.test\"}", "", 1,
         ACME_CHALLENGE_TLS_ALPN01, 1},
        /* Names without a wildcard work with any challenge. */
        {__LINE__, ACME_CHALLENGE_HTTP01,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.tls.domains\":"
         "\"a.test,b.test,a.test\"}", "a.test,b.test", 1, -1, 0},
        {__LINE__, ACME_CHALLENGE_DNS01,
         "{\"VIRTUAL_HOST\":\"a.test\",\"portico.tls.domains\":"
         "\"a.*.test,*,ok.test\"}", "ok.test", 1, -1, 2},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct watch_container *c;
        char hosts[512];

        cfg.acme_challenge = cases[i].global;
        c = parse_labels(cases[i].labels);
        if (c == NULL) {
            CHECK(c != NULL);
            continue;
        }
        join(c->cert_hosts, c->n_cert_hosts, hosts, sizeof(hosts));
        CHECK_STR(cases[i].line, cases[i].cert_hosts, hosts);
        CHECK_INT(cases[i].line, cases[i].san, c->tls_san);
        CHECK_INT(cases[i].line, cases[i].challenge, c->acme_challenge);
        CHECK_INT(cases[i].line, cases[i].warnings, c->n_warnings);
        watch_container_free(c);
    }
    cfg.acme_challenge = 0;
}

int
main(void)
{
    test_dns_labels_table();
    return check_done();
}

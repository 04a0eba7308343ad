/* Docker endpoint settings and API version negotiation (watcher/engine.c). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "watch_int.h"

static void
test_engine_negotiate(void)
{
    static const struct {
        int line;
        const char *json;
        int rc;
        const char *version;
    } cases[] = {
        {__LINE__, "{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\"}", 0,
         "v1.41"},
        {__LINE__, "{\"ApiVersion\":\"1.47\",\"MinAPIVersion\":\"1.24\"}", 0,
         "v1.47"},
        {__LINE__, "{\"ApiVersion\":\"1.50\",\"MinAPIVersion\":\"1.24\"}", 0,
         "v1.47"},
        {__LINE__, "{\"ApiVersion\":\"1.53\",\"MinAPIVersion\":\"1.49\"}", 0,
         "v1.49"},
        {__LINE__, "{\"ApiVersion\":\"1.43\"}", 0, "v1.43"},
        {__LINE__, "{\"ApiVersion\":\"1.40\",\"MinAPIVersion\":\"1.12\"}", 0,
         "v1.40"},
        {__LINE__, "{}", -1, ""},
        {__LINE__, "{\"ApiVersion\":\"1.x\"}", -1, ""},
        {__LINE__, "{\"ApiVersion\":\"1.41 \"}", -1, ""},
        {__LINE__, "{\"ApiVersion\":141}", -1, ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct watch_engine e = {0};
        cJSON *doc = cJSON_Parse(cases[i].json);

        CHECK_INT(cases[i].line, cases[i].rc, watch_engine_negotiate(&e, doc));
        CHECK_STR(cases[i].line, cases[i].version, e.api_version);
        cJSON_Delete(doc);
    }
}

static void
test_engine_endpoint(void)
{
    static const struct {
        int line;
        const char *host;
        const char *cert_path;
        bool verify;
        int rc;
        const char *socket;
        const char *url;
        const char *cert;
    } cases[] = {
        {__LINE__, NULL, NULL, false, 0, "/var/run/docker.sock",
         "http://docker", NULL},
        {__LINE__, "unix:///run/d.sock", NULL, false, 0, "/run/d.sock",
         "http://docker", NULL},
        {__LINE__, "tcp://127.0.0.1:2375", NULL, false, 0, NULL,
         "http://127.0.0.1:2375", NULL},
        {__LINE__, "tcp://127.0.0.1", NULL, false, 0, NULL,
         "http://127.0.0.1:2375", NULL},
        {__LINE__, "tcp://127.0.0.1", "/c", false, 0, NULL,
         "https://127.0.0.1:2376", "/c/cert.pem"},
        {__LINE__, "tcp://[::1]:9999", "/c", true, 0, NULL,
         "https://[::1]:9999", "/c/cert.pem"},
        {__LINE__, "tcp://[::1]", NULL, false, 0, NULL, "http://[::1]:2375",
         NULL},
        {__LINE__, "unix://relative", NULL, false, -1, NULL, NULL, NULL},
        {__LINE__, "ssh://host", NULL, false, -1, NULL, NULL, NULL},
        {__LINE__, "tcp://", NULL, false, -1, NULL, NULL, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct watch_engine e;

        cfg.docker_host = (char *)cases[i].host;
        cfg.docker_cert_path = (char *)cases[i].cert_path;
        cfg.docker_tls_verify = cases[i].verify;
        CHECK_INT(cases[i].line, cases[i].rc, watch_engine_init(&e));
        CHECK_STR(cases[i].line, cases[i].socket, e.socket_path);
        CHECK_STR(cases[i].line, cases[i].url, e.base_url);
        CHECK_STR(cases[i].line, cases[i].cert, e.cert_file);
        CHECK_INT(cases[i].line, cases[i].verify, e.tls_verify);
        watch_engine_clear(&e);
    }
    memset(&cfg, 0, sizeof(cfg));
}

int
main(void)
{
    test_engine_negotiate();
    test_engine_endpoint();
    return check_done();
}

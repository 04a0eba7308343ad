/* Problem documents, retry timing and option values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme_int.h"

#define ACME_ERROR_PREFIX "urn:ietf:params:acme:error:"

int
acme_problem_parse(const char *body, struct acme_problem *p)
{
    cJSON *o = body ? cJSON_Parse(body) : NULL;
    const char *type, *detail;
    cJSON *status;
    int rc = -1;

    memset(p, 0, sizeof(*p));
    if (o == NULL)
        return -1;
    type = cJSON_GetStringValue(cJSON_GetObjectItem(o, "type"));
    detail = cJSON_GetStringValue(cJSON_GetObjectItem(o, "detail"));
    status = cJSON_GetObjectItem(o, "status");
    if (type != NULL) {
        snprintf(p->type, sizeof(p->type), "%s", type);
        snprintf(p->detail, sizeof(p->detail), "%s", detail ? detail : "");
        if (cJSON_IsNumber(status))
            p->status = status->valueint;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

bool
acme_problem_is(const struct acme_problem *p, const char *name)
{
    size_t n = strlen(ACME_ERROR_PREFIX);

    return strncmp(p->type, ACME_ERROR_PREFIX, n) == 0 &&
           strcmp(p->type + n, name) == 0;
}

long
acme_backoff_delay(int attempt)
{
    long d = ACME_BACKOFF_MIN;

    for (int i = 1; i < attempt && d < ACME_BACKOFF_MAX; i++)
        d *= 2;
    return d < ACME_BACKOFF_MAX ? d : ACME_BACKOFF_MAX;
}

long
acme_retry_after_parse(const char *value, time_t now)
{
    struct tm tm;
    char *end;
    long n;

    while (value && (*value == ' ' || *value == '\t'))
        value++;
    if (value == NULL || *value == '\0')
        return -1;
    n = strtol(value, &end, 10);
    if (end != value && (*end == '\0' || *end == '\r' || *end == ' '))
        return n >= 0 ? n : -1;
    /* HTTP-date, IMF-fixdate form (RFC 9110 section 5.6.7). */
    memset(&tm, 0, sizeof(tm));
    end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL)
        return -1;
    n = (long)(timegm(&tm) - now);
    return n > 0 ? n : 0;
}

int
acme_challenge_parse(const char *text, enum acme_challenge *out)
{
    if (strcasecmp(text, "http-01") == 0)
        *out = ACME_CHALLENGE_HTTP01;
    else if (strcasecmp(text, "tls-alpn-01") == 0)
        *out = ACME_CHALLENGE_TLS_ALPN01;
    else if (strcasecmp(text, "dns-01") == 0)
        *out = ACME_CHALLENGE_DNS01;
    else
        return -1;
    return 0;
}

int
acme_key_type_parse(const char *text, enum acme_key_type *out)
{
    static const struct {
        const char *name;
        enum acme_key_type type;
    } types[] = {
        {"ec256", ACME_KEY_EC256},     {"ec384", ACME_KEY_EC384},
        {"rsa2048", ACME_KEY_RSA2048}, {"rsa4096", ACME_KEY_RSA4096},
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(text, types[i].name) == 0) {
            *out = types[i].type;
            return 0;
        }
    }
    return -1;
}

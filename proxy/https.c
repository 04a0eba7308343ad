/*
 * Handling of a request before it is proxied, from the listener it came on
 * and its route's HTTPS policy: ACME HTTP-01 responses, redirects to HTTPS
 * and rejections. Pure functions, so the decisions are unit-tested.
 */
#include <stdio.h>
#include <string.h>

#include "proxy_int.h"

#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"

bool
proxy_https_challenge_token(struct http_span method, struct http_span target,
                            struct http_span *token)
{
    size_t n = sizeof CHALLENGE_PREFIX - 1;

    if (!http_span_eq(method, "GET") && !http_span_eq(method, "HEAD"))
        return false;
    if (target.len <= n || memcmp(target.p, CHALLENGE_PREFIX, n) != 0)
        return false;
    token->p = target.p + n;
    token->len = target.len - n;
    /* RFC 8555 section 8.3: the token is base64url, so anything else (a
     * query string, a further path segment) cannot name a challenge. */
    for (size_t i = 0; i < token->len; i++) {
        char ch = token->p[i];
        if (!(ch == '-' || ch == '_' || (ch >= '0' && ch <= '9') ||
              (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            return false;
    }
    return true;
}

enum proxy_https_action
proxy_https_decide(enum route_https policy, bool over_tls, bool https_on,
                   bool has_cert)
{
    if (over_tls)
        return policy == ROUTE_HTTPS_NOHTTPS ? PROXY_HTTPS_REJECT
                                             : PROXY_HTTPS_FORWARD;
    if (policy == ROUTE_HTTPS_NOHTTP)
        return PROXY_HTTPS_REJECT;
    if (policy == ROUTE_HTTPS_REDIRECT && https_on && has_cert)
        return PROXY_HTTPS_REDIRECT;
    return PROXY_HTTPS_FORWARD;
}

/*
 * Writes "https://host[:port]/path?query" for a request target in origin
 * or absolute form. host has no port; port 443 is left out. Returns the
 * length, or -1 when cap is too small or host has a byte that no host
 * name contains.
 */
ssize_t
proxy_https_location(char *out, size_t cap, const char *host,
                     struct http_span target, unsigned port)
{
    struct http_span path = target;
    char port_text[8] = "";
    int n;

    if (path.len == 0 || path.p[0] != '/') {
        const char *scheme = memmem(path.p, path.len, "://", 3);
        const char *slash = NULL;
        if (scheme != NULL)
            slash = memchr(scheme + 3, '/',
                           path.len - (size_t)(scheme + 3 - path.p));
        if (slash == NULL) {
            path.p = "/";
            path.len = 1;
        } else {
            path.len -= (size_t)(slash - path.p);
            path.p = slash;
        }
    }
    for (const char *h = host; *h != '\0'; h++)
        if (!(*h == '-' || *h == '.' || *h == ':' || *h == '[' || *h == ']' ||
              (*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'z') ||
              (*h >= 'A' && *h <= 'Z')))
            return -1;
    if (port != 443)
        snprintf(port_text, sizeof port_text, ":%u", port);
    n = snprintf(out, cap, "https://%s%s%.*s", host, port_text,
                 (int)path.len, path.p);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return n;
}

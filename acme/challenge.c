/* Pending HTTP-01 tokens and TLS-ALPN-01 validation certificates. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "acme_int.h"
#include "log.h"

#define ACME_MAX_CHALLENGES 256

struct http01_entry {
    char *token;
    char *key_authorization;
};

struct alpn_entry {
    char *name;
    SSL_CTX *ctx;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct http01_entry http01[ACME_MAX_CHALLENGES];
static struct alpn_entry alpn[ACME_MAX_CHALLENGES];

int
acme_http01_add(const char *token, const char *key_authorization)
{
    int rc = -1;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ACME_MAX_CHALLENGES; i++) {
        if (http01[i].token == NULL) {
            http01[i].token = strdup(token);
            http01[i].key_authorization = strdup(key_authorization);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    if (rc != 0)
        log_error("acme", "challenge table full", "token=%s", token);
    return rc;
}

void
acme_http01_remove(const char *token)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ACME_MAX_CHALLENGES; i++) {
        if (http01[i].token && strcmp(http01[i].token, token) == 0) {
            free(http01[i].token);
            free(http01[i].key_authorization);
            http01[i].token = NULL;
            http01[i].key_authorization = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
}

int
acme_http01_lookup(const char *token, size_t len, char *key_authorization,
                   size_t cap)
{
    int rc = -1;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ACME_MAX_CHALLENGES; i++) {
        const char *t = http01[i].token;
        if (t == NULL || strlen(t) != len || memcmp(t, token, len) != 0)
            continue;
        if (strlen(http01[i].key_authorization) < cap) {
            strcpy(key_authorization, http01[i].key_authorization);
            rc = 0;
        }
        break;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

static int
on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
               const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char proto[] = "\x0a" "acme-tls/1";

    if (SSL_select_next_proto((unsigned char **)out, outlen, proto,
                              sizeof(proto) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
create_alpn_ctx(const char *name, const char *key_authorization)
{
    EVP_PKEY *key = acme_key_new(ACME_KEY_EC256);
    X509 *cert = key ? acme_tls_alpn_cert(key, name, key_authorization) : NULL;
    SSL_CTX *ctx = cert ? SSL_CTX_new(TLS_server_method()) : NULL;

    if (ctx != NULL &&
        (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
         SSL_CTX_use_certificate(ctx, cert) != 1 ||
         SSL_CTX_use_PrivateKey(ctx, key) != 1)) {
        acme_log_ssl("TLS-ALPN-01 context creation failed", name);
        SSL_CTX_free(ctx);
        ctx = NULL;
    }
    if (ctx != NULL)
        SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, NULL);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ctx;
}

int
acme_tls_alpn_add(const char *name, const char *key_authorization)
{
    SSL_CTX *ctx = create_alpn_ctx(name, key_authorization);
    int rc = -1;

    if (ctx == NULL)
        return -1;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ACME_MAX_CHALLENGES; i++) {
        if (alpn[i].name == NULL) {
            alpn[i].name = strdup(name);
            alpn[i].ctx = ctx;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    if (rc != 0) {
        log_error("acme", "challenge table full", "name=%s", name);
        SSL_CTX_free(ctx);
    }
    return rc;
}

void
acme_tls_alpn_remove(const char *name)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ACME_MAX_CHALLENGES; i++) {
        if (alpn[i].name && strcasecmp(alpn[i].name, name) == 0) {
            free(alpn[i].name);
            SSL_CTX_free(alpn[i].ctx);
            alpn[i].name = NULL;
            alpn[i].ctx = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
}

SSL_CTX *
acme_tls_alpn_ctx(const char *servername)
{
    SSL_CTX *ctx = NULL;

    if (servername == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ACME_MAX_CHALLENGES; i++) {
        if (alpn[i].name && strcasecmp(alpn[i].name, servername) == 0) {
            ctx = alpn[i].ctx;
            SSL_CTX_up_ref(ctx);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    return ctx;
}

void
acme_challenges_clear(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ACME_MAX_CHALLENGES; i++) {
        free(http01[i].token);
        free(http01[i].key_authorization);
        free(alpn[i].name);
        SSL_CTX_free(alpn[i].ctx);
    }
    memset(http01, 0, sizeof(http01));
    memset(alpn, 0, sizeof(alpn));
    pthread_mutex_unlock(&lock);
}

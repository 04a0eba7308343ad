/*
 * The name -> SSL_CTX table read by the TLS listener. Readers take a read
 * lock and one reference; publishing a renewed certificate replaces the
 * entries under the write lock, and connections holding the old SSL_CTX keep
 * it until they end.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "acme_int.h"
#include "log.h"

struct serve_entry {
    char *name; /* lower case, may start with "*." */
    SSL_CTX *ctx;
    time_t not_after;
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct serve_entry *entries;
static size_t n_entries, cap_entries;
static acme_ctx_setup_cb setup_cb;
static void *setup_arg;

void
acme_set_ctx_setup(acme_ctx_setup_cb cb, void *arg)
{
    setup_cb = cb;
    setup_arg = arg;
}

static SSL_CTX *
create_ctx(const struct acme_bundle *b)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_use_certificate(ctx, b->leaf) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, b->key) != 1)
        goto fail;
    for (int i = 0; i < sk_X509_num(b->chain); i++) {
        if (!SSL_CTX_add1_chain_cert(ctx, sk_X509_value(b->chain, i)))
            goto fail;
    }
    if (setup_cb != NULL)
        setup_cb(ctx, setup_arg);
    return ctx;
fail:
    acme_log_ssl("SSL_CTX creation failed", b->n_names ? b->names[0] : NULL);
    SSL_CTX_free(ctx);
    return NULL;
}

/* Stores ctx for name; the caller holds the write lock. A newer certificate
 * replaces an older one, never the other way round. */
static int
put_entry(const char *name, SSL_CTX *ctx, time_t not_after)
{
    struct serve_entry *e;

    for (size_t i = 0; i < n_entries; i++) {
        e = &entries[i];
        if (strcasecmp(e->name, name) != 0)
            continue;
        if (e->not_after > not_after)
            return 0;
        SSL_CTX_free(e->ctx);
        SSL_CTX_up_ref(ctx);
        e->ctx = ctx;
        e->not_after = not_after;
        return 0;
    }
    if (n_entries == cap_entries) {
        size_t cap = cap_entries ? 2 * cap_entries : 16;
        e = realloc(entries, cap * sizeof(*e));
        if (e == NULL)
            return -1;
        entries = e;
        cap_entries = cap;
    }
    e = &entries[n_entries];
    e->name = strdup(name);
    if (e->name == NULL)
        return -1;
    SSL_CTX_up_ref(ctx);
    e->ctx = ctx;
    e->not_after = not_after;
    n_entries++;
    return 0;
}

int
acme_serve_publish(const struct acme_bundle *b)
{
    SSL_CTX *ctx = create_ctx(b);
    int rc = 0;

    if (ctx == NULL)
        return -1;
    pthread_rwlock_wrlock(&lock);
    for (size_t i = 0; i < b->n_names; i++)
        rc |= put_entry(b->names[i], ctx, b->not_after);
    pthread_rwlock_unlock(&lock);
    SSL_CTX_free(ctx);
    return rc;
}

void
acme_serve_clear(void)
{
    pthread_rwlock_wrlock(&lock);
    for (size_t i = 0; i < n_entries; i++) {
        free(entries[i].name);
        SSL_CTX_free(entries[i].ctx);
    }
    free(entries);
    entries = NULL;
    n_entries = cap_entries = 0;
    pthread_rwlock_unlock(&lock);
}

static SSL_CTX *
find_ctx(const char *name)
{
    for (size_t i = 0; i < n_entries; i++) {
        if (strcasecmp(entries[i].name, name) == 0) {
            SSL_CTX_up_ref(entries[i].ctx);
            return entries[i].ctx;
        }
    }
    return NULL;
}

SSL_CTX *
acme_cert_ctx_get(const char *servername)
{
    const char *dot;
    char wildcard[256];
    SSL_CTX *ctx;

    if (servername == NULL || *servername == '\0' || servername[0] == '*')
        return NULL;
    pthread_rwlock_rdlock(&lock);
    ctx = find_ctx(servername);
    dot = strchr(servername, '.');
    /* A wildcard covers exactly one label (RFC 6125 section 6.4.3). */
    if (ctx == NULL && dot != NULL && dot != servername &&
        strchr(dot + 1, '.') != NULL &&
        (size_t)snprintf(wildcard, sizeof(wildcard), "*%s", dot) <
            sizeof(wildcard))
        ctx = find_ctx(wildcard);
    pthread_rwlock_unlock(&lock);
    return ctx;
}

/*
 * The HTTPS listener's TLS setup: one base SSL_CTX for every worker, a
 * ClientHello callback that switches each handshake to the context holding
 * the certificate for its server name, and session ticket keys shared by all
 * contexts and rotated in memory.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/tls1.h>

#include "acme.h"
#include "config.h"
#include "log.h"
#include "proxy_int.h"

/*
 * TLS 1.2 suites of Mozilla's "intermediate" profile without the DHE ones:
 * ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only. TLS 1.3 keeps
 * OpenSSL's default suites (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305).
 */
#define TLS12_CIPHERS                                                         \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"              \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"              \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"

/* A ticket key encrypts new tickets for this long, then decrypts old ones
 * for as long again. Tickets live no longer than one period, so any ticket
 * still valid can be decrypted. */
#define TICKET_KEY_PERIOD (12 * 3600)

/* Shared by every context so that a session resumes under any SNI context,
 * because SSL_set_SSL_CTX keeps the id context only when both contexts
 * match. */
static const unsigned char session_id_context[] = "portico";

struct ticket_key {
    unsigned char name[16];
    unsigned char aes_key[32];
    unsigned char hmac_key[32];
    time_t created; /* CLOCK_MONOTONIC seconds */
    bool valid;
};

static pthread_rwlock_t ticket_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ticket_key ticket_keys[2]; /* current, previous */

static SSL_CTX *base_ctx;
static SSL_CTX *default_ctx;
static bool acme_on;

static void
log_ssl_error(const char *msg)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown";

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    log_error("tls", msg, "error=%s", buf);
}

static time_t
monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static int
make_ticket_key(struct ticket_key *k)
{
    if (RAND_bytes(k->name, sizeof k->name) != 1 ||
        RAND_bytes(k->aes_key, sizeof k->aes_key) != 1 ||
        RAND_bytes(k->hmac_key, sizeof k->hmac_key) != 1)
        return -1;
    k->created = monotonic_seconds();
    k->valid = true;
    return 0;
}

/* Moves the current key to the previous slot once its period is over. */
static void
rotate_ticket_keys(void)
{
    struct ticket_key k;

    pthread_rwlock_rdlock(&ticket_lock);
    bool due = monotonic_seconds() - ticket_keys[0].created >=
               TICKET_KEY_PERIOD;
    pthread_rwlock_unlock(&ticket_lock);
    if (!due || make_ticket_key(&k) < 0)
        return;
    pthread_rwlock_wrlock(&ticket_lock);
    if (monotonic_seconds() - ticket_keys[0].created >= TICKET_KEY_PERIOD) {
        ticket_keys[1] = ticket_keys[0];
        ticket_keys[0] = k;
        log_info("tls", "session ticket key rotated", "period_s=%d",
                 TICKET_KEY_PERIOD);
    }
    pthread_rwlock_unlock(&ticket_lock);
    OPENSSL_cleanse(&k, sizeof k);
}

/* Returns 0 when no key has that name, 1 for the current key and 2 for the
 * previous one (OpenSSL then issues a fresh ticket). */
static int
find_ticket_key(const unsigned char *name, struct ticket_key *out)
{
    int rc = 0;

    pthread_rwlock_rdlock(&ticket_lock);
    for (int i = 0; i < 2 && rc == 0; i++)
        if (ticket_keys[i].valid &&
            memcmp(ticket_keys[i].name, name, sizeof out->name) == 0) {
            *out = ticket_keys[i];
            rc = i + 1;
        }
    pthread_rwlock_unlock(&ticket_lock);
    return rc;
}

static int
set_ticket_mac_key(EVP_MAC_CTX *hctx, unsigned char *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

/* The SSL_CTX_set_tlsext_ticket_key_evp_cb contract: AES-256-CBC with
 * HMAC-SHA256, return -1 on error, 0 for an unknown key (full handshake),
 * 1 to accept, 2 to accept and renew the ticket. */
static int
on_ticket_key(SSL *ssl, unsigned char key_name[16],
              unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *cctx,
              EVP_MAC_CTX *hctx, int enc)
{
    struct ticket_key k;
    int rc;

    if (enc) {
        rotate_ticket_keys();
        pthread_rwlock_rdlock(&ticket_lock);
        k = ticket_keys[0];
        pthread_rwlock_unlock(&ticket_lock);
        rc = 1;
        if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1 ||
            EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes_key,
                               iv) != 1 ||
            set_ticket_mac_key(hctx, k.hmac_key) < 0)
            rc = -1;
        memcpy(key_name, k.name, sizeof k.name);
    } else {
        rc = find_ticket_key(key_name, &k);
        if (rc > 0 && (set_ticket_mac_key(hctx, k.hmac_key) < 0 ||
                       EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL,
                                          k.aes_key, iv) != 1))
            rc = -1;
    }
    OPENSSL_cleanse(&k, sizeof k);
    return rc;
}

static int
on_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
               const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";

    if (SSL_select_next_proto((unsigned char **)out, outlen, http11,
                              sizeof http11 - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no ALPN in the ServerHello */
    return SSL_TLSEXT_ERR_OK;
}

void
proxy_tls_setup_ctx(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1)
        log_ssl_error("TLS cipher setup failed");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn_select, NULL);
    SSL_CTX_set_session_id_context(ctx, session_id_context,
                                   sizeof session_id_context - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, TICKET_KEY_PERIOD);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
}

static void
on_acme_ctx(SSL_CTX *ctx, void *arg)
{
    proxy_tls_setup_ctx(ctx);
}

SSL_CTX *
proxy_tls_load_ctx(const char *cert_file, const char *key_file,
                   const char *chain_file, char *error, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    const char *failed = cert_file;
    unsigned long e;

    if (ctx == NULL)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        goto fail;
    failed = chain_file;
    if (chain_file != NULL && proxy_tls_add_chain(ctx, chain_file) < 0)
        goto fail;
    failed = key_file;
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    proxy_tls_setup_ctx(ctx);
    return ctx;

fail:
    e = ERR_peek_last_error();
    snprintf(error, cap, "%s: %s", failed,
             e ? ERR_reason_error_string(e) : "invalid PEM");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* Appends the certificates of a PEM file to the chain, skipping those the
 * certificate file already contains (a full chain is often in both). */
int
proxy_tls_add_chain(SSL_CTX *ctx, const char *path)
{
    STACK_OF(X509) *have = NULL;
    BIO *bio = BIO_new_file(path, "r");
    X509 *x;
    int n = 0;

    if (bio == NULL)
        return -1;
    SSL_CTX_get0_chain_certs(ctx, &have);
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        bool dup = false;
        for (int i = 0; have != NULL && i < sk_X509_num(have); i++)
            if (X509_cmp(sk_X509_value(have, i), x) == 0)
                dup = true;
        if (!dup && SSL_CTX_add0_chain_cert(ctx, x) != 1) {
            X509_free(x);
            BIO_free(bio);
            return -1;
        }
        if (dup)
            X509_free(x);
        n++;
        SSL_CTX_get0_chain_certs(ctx, &have);
    }
    BIO_free(bio);
    /* The loop ends on a PEM "no start line" error at the end of file. */
    ERR_clear_error();
    return n > 0 ? 0 : -1;
}

/*
 * Reads the first host_name of the server_name extension (RFC 6066 section
 * 3) into name, lower case and without a trailing dot. Returns 1, 0 when
 * the client sent none, or -1 when it is malformed.
 */
int
proxy_tls_parse_sni(const unsigned char *p, size_t len, char *name,
                    size_t cap)
{
    size_t list, n;

    if (len < 2)
        return -1;
    list = (size_t)p[0] << 8 | p[1];
    if (list + 2 != len || list < 3)
        return -1;
    p += 2;
    if (p[0] != TLSEXT_NAMETYPE_host_name)
        return 0;
    n = (size_t)p[1] << 8 | p[2];
    if (n + 3 > list || n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[3 + i];
        if (!(ch == '-' || ch == '.' || ch == '_' ||
              (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z')))
            return -1;
        name[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    if (name[n - 1] == '.')
        n--;
    name[n] = '\0';
    return n > 0 ? 1 : -1;
}

/* Does the ALPN extension (RFC 7301 section 3.1) offer proto? */
bool
proxy_tls_alpn_offers(const unsigned char *p, size_t len, const char *proto)
{
    size_t plen = strlen(proto);

    if (len < 2 || ((size_t)p[0] << 8 | p[1]) + 2 != len)
        return false;
    for (size_t i = 2; i < len;) {
        size_t n = p[i];
        if (i + 1 + n > len)
            return false;
        if (n == plen && memcmp(p + i + 1, proto, n) == 0)
            return true;
        i += 1 + n;
    }
    return false;
}

/* Is HTTPS turned off for the host's root route (HTTPS_METHOD=nohttps)? */
static bool
is_https_off(SSL *ssl, const char *name)
{
    struct proxy_conn *c = SSL_get_app_data(ssl);
    const struct route_table *t;
    const struct route *r;
    bool off;

    if (c == NULL)
        return false;
    t = route_read_begin(c->w->rd);
    r = route_lookup(t, name, strlen(name), "/", 1);
    off = r != NULL && r->policy.https == ROUTE_HTTPS_NOHTTPS;
    route_read_end(c->w->rd);
    return off;
}

/* Returns a referenced context for a server name (NULL: no SNI), or NULL
 * when none may be served for it. */
static SSL_CTX *
choose_ctx(SSL *ssl, const char *name)
{
    SSL_CTX *ctx = NULL;

    if (name != NULL) {
        if (is_https_off(ssl, name))
            return NULL;
        ctx = proxy_certs_get(name);
        if (ctx == NULL && acme_on)
            ctx = acme_cert_ctx_get(name);
    }
    if (ctx == NULL && default_ctx != NULL && SSL_CTX_up_ref(default_ctx))
        ctx = default_ctx;
    return ctx;
}

static int
on_client_hello(SSL *ssl, int *alert, void *arg)
{
    const unsigned char *ext;
    size_t len;
    char name[256];
    int has_name = 0;
    bool acme_alpn = false;
    SSL_CTX *ctx;

    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len))
        has_name = proxy_tls_parse_sni(ext, len, name, sizeof name);
    if (has_name < 0) {
        *alert = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_client_hello_get0_ext(
            ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext,
            &len))
        acme_alpn = proxy_tls_alpn_offers(ext, len, "acme-tls/1");
    if (acme_alpn) {
        ctx = acme_on && has_name ? acme_tls_alpn_ctx(name) : NULL;
        if (ctx != NULL)
            log_info("tls", "answering TLS-ALPN-01 validation", "name=%s",
                     name);
    } else
        ctx = choose_ctx(ssl, has_name ? name : NULL);
    if (ctx == NULL) {
        log_info("tls", "no certificate for server name", "name=%s alpn=%s",
                 has_name ? name : "-", acme_alpn ? "acme-tls/1" : "-");
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_SSL_CTX(ssl, ctx);
    SSL_CTX_free(ctx);
    return SSL_CLIENT_HELLO_SUCCESS;
}

bool
proxy_tls_has_cert(const char *name)
{
    SSL_CTX *ctx = proxy_certs_get(name);

    if (ctx == NULL && acme_on)
        ctx = acme_cert_ctx_get(name);
    SSL_CTX_free(ctx);
    return ctx != NULL;
}

bool
proxy_tls_acme_on(void)
{
    return acme_on;
}

SSL *
proxy_tls_new_ssl(void *conn)
{
    SSL *ssl = SSL_new(base_ctx);

    if (ssl != NULL)
        SSL_set_app_data(ssl, conn);
    return ssl;
}

int
proxy_tls_server_init(void)
{
    if (cfg.https_listen.len == 0)
        return 0;
    acme_on = !cfg.acme_off;
    if (make_ticket_key(&ticket_keys[0]) < 0) {
        log_ssl_error("session ticket key creation failed");
        return -1;
    }
    base_ctx = SSL_CTX_new(TLS_server_method());
    if (base_ctx == NULL) {
        log_ssl_error("TLS server context failed");
        return -1;
    }
    proxy_tls_setup_ctx(base_ctx);
    SSL_CTX_set_client_hello_cb(base_ctx, on_client_hello, NULL);
    if (cfg.default_cert != NULL) {
        const char *key = cfg.default_key ? cfg.default_key
                                          : cfg.default_cert;
        char error[512];
        default_ctx = proxy_tls_load_ctx(cfg.default_cert, key, NULL, error,
                                         sizeof error);
        if (default_ctx == NULL) {
            log_error("tls", "default certificate invalid", "error=%s",
                      error);
            goto fail;
        }
    }
    if (cfg.certs_dir != NULL && proxy_certs_start(cfg.certs_dir) < 0)
        goto fail;
    if (acme_on)
        acme_set_ctx_setup(on_acme_ctx, NULL);
    return 0;

fail:
    proxy_tls_server_free();
    return -1;
}

void
proxy_tls_server_free(void)
{
    proxy_certs_stop();
    SSL_CTX_free(default_ctx);
    SSL_CTX_free(base_ctx);
    default_ctx = base_ctx = NULL;
    OPENSSL_cleanse(ticket_keys, sizeof ticket_keys);
}

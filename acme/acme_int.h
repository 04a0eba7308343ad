/* Internals of the ACME client, shared by the acme/ sources and the unit
 * tests. */
#ifndef PORTICO_ACME_INT_H
#define PORTICO_ACME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "acme.h"

#define ACME_MAX_NAMES 100 /* SANs per certificate, Let's Encrypt's limit */
#define ACME_BACKOFF_MIN 60
#define ACME_BACKOFF_MAX 86400

/* base64url without padding (RFC 4648 section 5, RFC 7515 section 2). */
char *acme_b64url_encode(const unsigned char *data, size_t len);
/* Returns a malloc'ed buffer and its length, or NULL on invalid input.
 * Padding is accepted but not required. */
unsigned char *acme_b64url_decode(const char *text, size_t *len);

/* Keys: certificate keys of any type, account keys EC P-256. */
EVP_PKEY *acme_key_new(enum acme_key_type type);
/* "ES256", "ES384" or "RS256" for the key, NULL if unsupported. */
const char *acme_jws_alg(EVP_PKEY *key);
/* The public JWK with only the required members in lexicographic order
 * (RFC 7638 section 3.2), so its serialization is also the thumbprint
 * input. */
cJSON *acme_jwk(EVP_PKEY *key);
/* base64url(SHA-256(JWK)) (RFC 7638). */
char *acme_jwk_thumbprint(EVP_PKEY *key);
/* Builds a public key from a JWK (EC P-256/P-384 or RSA), for verification. */
EVP_PKEY *acme_jwk_to_pkey(const cJSON *jwk);

/* Signs data with alg's hash; EC signatures are returned as raw r||s of
 * twice the field size (RFC 7518 section 3.4). Returns a malloc'ed buffer. */
unsigned char *acme_sign(EVP_PKEY *key, const unsigned char *data,
                         size_t len, size_t *sig_len);
/* Verifies a signature in the JWS form produced by acme_sign. 0 or -1. */
int acme_verify(EVP_PKEY *key, const unsigned char *data, size_t len,
                const unsigned char *sig, size_t sig_len);

/*
 * Builds a flattened JWS (RFC 8555 section 6.2). With kid NULL the header
 * carries the jwk. payload NULL means POST-as-GET (empty payload). Returns
 * the serialized JSON, malloc'ed.
 */
char *acme_jws(EVP_PKEY *key, const char *kid, const char *nonce,
               const char *url, const char *payload);
/* The externalAccountBinding object (RFC 8555 section 7.3.4): an HS256 JWS
 * over the account JWK. hmac_key is base64url. */
cJSON *acme_eab(EVP_PKEY *account_key, const char *kid, const char *hmac_key,
                const char *url);

/* DER CSR with CN = names[0] (when it fits in 64 bytes) and every name as a
 * dNSName SAN, signed by key. Returns malloc'ed DER. */
unsigned char *acme_csr(EVP_PKEY *key, const char *const *names, size_t n,
                        size_t *der_len);

/* TLS-ALPN-01 validation certificate (RFC 8737 section 3). */
X509 *acme_tls_alpn_cert(EVP_PKEY *key, const char *name,
                         const char *key_authorization);

/* An ACME problem document (RFC 8555 section 6.7, RFC 7807). */
struct acme_problem {
    char type[128]; /* with the urn:ietf:params:acme:error: prefix */
    char detail[256];
    int status;
};
/* Fills p from a JSON body; returns 0 or -1 if the body is not a problem. */
int acme_problem_parse(const char *body, struct acme_problem *p);
/* True when p's type is urn:ietf:params:acme:error:<name>. */
bool acme_problem_is(const struct acme_problem *p, const char *name);

/* Seconds to wait after the attempt-th consecutive failure (1-based):
 * 60 s doubling, at most 24 h. */
long acme_backoff_delay(int attempt);
/* Parses a Retry-After value (seconds or HTTP-date). Returns seconds from
 * now, or -1. */
long acme_retry_after_parse(const char *value, time_t now);

/* Store (store.c). */

/* Writes data to dir/name atomically: temporary file in dir, fsync, rename,
 * fsync of dir. mode applies to the new file. Returns 0 or -1 (logged). */
int acme_store_write(const char *dir, const char *name, const char *data,
                     size_t len, unsigned mode);
/* Reads a whole file; NULL if it is missing or unreadable. */
char *acme_store_read(const char *path, size_t *len);
/* A file name for a certificate: names[0] lower-cased, '*' as "_wildcard". */
void acme_store_cert_id(const char *name, char *out, size_t cap);

/* A parsed certificate bundle: key + leaf + chain. */
struct acme_bundle {
    EVP_PKEY *key;
    X509 *leaf;
    STACK_OF(X509) *chain; /* intermediates, may be empty */
    time_t not_before, not_after;
    char **names; /* dNSName SANs of the leaf, lower case */
    size_t n_names;
};
/* Parses key PEM followed by the certificate chain PEM. Checks that the key
 * matches the leaf. Returns 0 or -1 with a reason in err. */
int acme_bundle_parse(const char *pem, size_t len, struct acme_bundle *b,
                      char *err, size_t errcap);
void acme_bundle_clear(struct acme_bundle *b);
/* True when every name is among the leaf's SANs. */
bool acme_bundle_covers(const struct acme_bundle *b, const char *const *names,
                        size_t n);
/* Writes key + chain as one file certs/<id>.pem. Returns 0 or -1. */
int acme_bundle_store(const char *certs_dir, const char *id, EVP_PKEY *key,
                      const char *chain_pem, size_t chain_len);

/* Serving (serve.c). */
int acme_serve_publish(const struct acme_bundle *b);
void acme_serve_clear(void);

/* Challenge tables (challenge.c). */
int acme_http01_add(const char *token, const char *key_authorization);
void acme_http01_remove(const char *token);
int acme_tls_alpn_add(const char *name, const char *key_authorization);
void acme_tls_alpn_remove(const char *name);
void acme_challenges_clear(void);

/* Logs and clears OpenSSL's error queue as one warn line. */
void acme_log_ssl(const char *msg, const char *context);

/* Client state shared by the workers (acme.c, order.c). */

#define ACME_MAX_NONCES 16

struct acme_account {
    char *id;    /* directory name under accounts/ */
    char *email; /* may be NULL */
    EVP_PKEY *key;
    char *url;        /* kid; NULL until created or looked up */
    bool key_existed; /* loaded from disk: look the account up first */
    pthread_mutex_t lock; /* held while creating or looking up */
};

struct acme_state {
    struct acme_config cfg; /* strings owned */
    char *certs_dir, *accounts_dir;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;
    bool stopping;
    char *new_nonce_url, *new_account_url, *new_order_url;
    char *nonces[ACME_MAX_NONCES];
    size_t n_nonces;
    struct acme_account **accounts;
    size_t n_accounts;
};

extern struct acme_state acme_g;

/* One order: the certificate's id in the store and its names. */
struct acme_job {
    const char *id;
    const char *const *names;
    size_t n_names;
    const char *email;
    enum acme_challenge challenge; /* resolved, never the config default */
};

/* The reason an order failed. */
struct acme_outcome {
    struct acme_problem problem;
    char order_url[1024];
    const char *step;
    long retry_after; /* seconds, -1 when the CA sent none */
    struct acme_bundle bundle; /* on success, the stored certificate */
};

/* Runs the whole order for job, stores and publishes the certificate.
 * Returns 0, or -1 with out->problem filled. */
int acme_order_run(const struct acme_job *job, struct acme_outcome *out);

/* Returns the account for email (NULL: the default), loading or creating
 * its key. NULL on failure (logged). */
struct acme_account *acme_account_get(const char *email);
/* Persists the account URL. */
int acme_account_save(struct acme_account *a);

/* Waits seconds unless acme_stop is called. Returns 0, or -1 when stopping. */
int acme_sleep(long seconds);
int acme_sleep_ms(long ms);
bool acme_stopping(void);

#endif

/*
 * ACME (RFC 8555) client and certificate store.
 *
 * acme_start loads the certificates stored in the state directory, serves
 * them at once through acme_cert_ctx_get, and starts a small pool of worker
 * threads that issue and renew certificates for the names passed to
 * acme_set_wanted. The proxy answers challenges with acme_http01_lookup
 * (HTTP-01) and acme_tls_alpn_ctx (TLS-ALPN-01); DNS-01 records are
 * published through RFC 2136 updates or a hook program. All functions below
 * are thread-safe unless noted.
 */
#ifndef PORTICO_ACME_H
#define PORTICO_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

#define ACME_DEFAULT_DIRECTORY                                                \
    "https://acme-v02.api.letsencrypt.org/directory"

enum acme_challenge {
    ACME_CHALLENGE_HTTP01,
    ACME_CHALLENGE_TLS_ALPN01,
    ACME_CHALLENGE_DNS01,
};

/* In struct acme_request: use the config's challenge. */
#define ACME_CHALLENGE_CONFIG (-1)

/* DNS-01 provider settings. The hook wins when set; else rfc2136_server
 * selects RFC 2136 updates signed with TSIG. */
struct acme_dns_config {
    const char *rfc2136_server; /* "ADDR:PORT", numeric */
    const char *rfc2136_zone;   /* NULL: found with SOA queries */
    const char *tsig_key_name;
    const char *tsig_secret;      /* base64; never logged */
    const char *tsig_secret_file; /* file holding the base64 secret */
    const char *tsig_key_file;    /* BIND key file (tsig-keygen output) */
    const char *tsig_algorithm;   /* NULL: hmac-sha256 */
    const char *hook;             /* run as HOOK add|remove FQDN VALUE */
    const char *resolver; /* "ADDR:PORT" asked for propagation checks and
                             lookups; NULL: the zone's name servers */
    int propagation_timeout; /* seconds, 0: 120 */
};

enum acme_key_type {
    ACME_KEY_EC256,
    ACME_KEY_EC384,
    ACME_KEY_RSA2048,
    ACME_KEY_RSA4096,
};

struct acme_config {
    const char *directory_url; /* NULL: ACME_DEFAULT_DIRECTORY */
    const char *ca_file;       /* CA bundle for the ACME server, NULL: system */
    const char *email;         /* default account contact, may be NULL */
    enum acme_challenge challenge;
    enum acme_key_type key_type; /* certificate keys; accounts use EC P-256 */
    const char *eab_kid;         /* external account binding, both or none */
    const char *eab_hmac_key;    /* base64url, as CAs print it */
    int renew_before_days;       /* 0: renew when a third of the lifetime is
                                    left */
    const char *state_dir;       /* required */
    int max_orders;              /* orders in flight, 0: 4 */
    struct acme_dns_config dns;
};

/* One certificate: names[0] names it in the store; the others are extra
 * SANs. email overrides the config's email (and selects another account).
 * challenge is an enum acme_challenge or ACME_CHALLENGE_CONFIG. A zeroed
 * request selects HTTP-01, so set it. */
struct acme_request {
    const char *const *names;
    size_t n_names;
    const char *email;
    int challenge;
};

/* Called on every SSL_CTX the store creates, before it is published, so the
 * TLS listener can add its ALPN callback, options and session settings. */
typedef void (*acme_ctx_setup_cb)(SSL_CTX *ctx, void *arg);

/* Parses "http-01" / "tls-alpn-01" / "dns-01" and "ec256" / "ec384" / "rsa2048" /
 * "rsa4096". Return 0 or -1. */
int acme_challenge_parse(const char *text, enum acme_challenge *out);
int acme_key_type_parse(const char *text, enum acme_key_type *out);

/* Sets the SSL_CTX setup hook. Call before acme_start. */
void acme_set_ctx_setup(acme_ctx_setup_cb cb, void *arg);

/*
 * Creates the state directory if needed, loads stored certificates and
 * publishes them, and starts the worker threads. The config's strings are
 * copied. Returns 0 or -1 (logged).
 */
int acme_start(const struct acme_config *config);

/* Stops the workers (an order in progress is abandoned between two requests)
 * and frees everything. Certificates handed out stay valid until their
 * holders free them. */
void acme_stop(void);

/*
 * Replaces the set of certificates to obtain and renew. Names are compared
 * case-insensitively. Certificates not in the new set stop being renewed but
 * stay on disk and keep being served until they expire. Wildcard names
 * ("*.example.com") are rejected (logged) unless the request's challenge is
 * DNS-01, because HTTP-01 and TLS-ALPN-01 cannot validate them.
 * May be called before acme_start.
 */
void acme_set_wanted(const struct acme_request *reqs, size_t n);

/*
 * Returns a referenced SSL_CTX holding the certificate for servername (exact
 * name first, then a wildcard covering exactly its first label), or NULL.
 * Never returns another name's certificate. The caller frees it with
 * SSL_CTX_free; renewal publishes a new SSL_CTX without touching the old.
 */
SSL_CTX *acme_cert_ctx_get(const char *servername);

/*
 * Copies the key authorization for an HTTP-01 token (the path after
 * /.well-known/acme-challenge/) into key_authorization, NUL-terminated.
 * Returns 0, or -1 if the token is unknown or cap is too small.
 */
int acme_http01_lookup(const char *token, size_t len, char *key_authorization,
                       size_t cap);

/*
 * Returns a referenced SSL_CTX that answers a TLS-ALPN-01 validation for
 * servername (RFC 8737): its certificate carries the acmeIdentifier
 * extension and it selects the "acme-tls/1" protocol. NULL when no
 * validation is pending for that name. The caller frees it with SSL_CTX_free.
 */
SSL_CTX *acme_tls_alpn_ctx(const char *servername);

/* One managed certificate, as status pages show it. */
struct acme_cert_info {
    const char *id;             /* file name in the store, names[0] */
    const char *const *names;   /* requested names */
    size_t n_names;
    bool has_cert;              /* a certificate is stored and served */
    const char *issuer;         /* issuer DN, "" without a certificate */
    time_t not_after;           /* 0 without a certificate */
    time_t next_order;          /* when the next order is due, 0: never */
    int attempts;               /* consecutive failed orders */
    const char *last_error;     /* "" after a success */
};

/* Calls fn once for each certificate record, under the client's lock: fn
 * must not call acme_* functions. The info is valid only during the call. */
void acme_cert_list(void (*fn)(const struct acme_cert_info *info, void *arg),
                    void *arg);

#endif

/*
 * DNS-01 internals: a strict DNS message encoder and decoder for exactly
 * what the client sends and reads (queries, RFC 2136 UPDATE of TXT records,
 * TSIG of RFC 8945), the transport, and the providers that publish the
 * _acme-challenge TXT record.
 */
#ifndef PORTICO_ACME_DNS_H
#define PORTICO_ACME_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "acme.h"

#define ACME_DNS_MAX_MSG 65535
#define ACME_DNS_MAX_RR 64 /* records accepted in one response */

enum {
    ACME_DNS_TYPE_A = 1,
    ACME_DNS_TYPE_NS = 2,
    ACME_DNS_TYPE_SOA = 6,
    ACME_DNS_TYPE_TXT = 16,
    ACME_DNS_TYPE_TSIG = 250,
    ACME_DNS_CLASS_IN = 1,
    ACME_DNS_CLASS_NONE = 254,
    ACME_DNS_CLASS_ANY = 255,
    ACME_DNS_OPCODE_UPDATE = 5,
};

/* A TSIG key (RFC 8945 section 6). */
struct acme_tsig_key {
    char name[256];      /* lower case, no trailing dot */
    char algorithm[32];  /* "hmac-sha256", ... */
    unsigned char secret[128];
    size_t secret_len;
};

/* Message under construction. */
struct acme_dns_msg {
    unsigned char buf[4096];
    size_t len;
};

/* One resource record of a parsed response; rdata is an offset into the
 * message so names inside it can be decompressed. */
struct acme_dns_rr {
    char name[256]; /* lower case, no trailing dot, "" for the root */
    uint16_t type, rr_class;
    uint32_t ttl;
    size_t start;   /* offset of the record's owner name */
    size_t rdata;
    uint16_t rdlen;
    int section;    /* 1 answer, 2 authority, 3 additional */
};

struct acme_dns_reply {
    uint16_t id, flags;
    int rcode;
    bool truncated;
    struct acme_dns_rr rr[ACME_DNS_MAX_RR];
    size_t n_rr;
    bool has_tsig; /* the last additional record is a TSIG */
};

/* Returns the EVP_MD for a TSIG algorithm name, or NULL. */
const EVP_MD *acme_tsig_md(const char *algorithm);

/* Queries: one question, RD set as requested. Return 0 or -1. */
int acme_dns_query_build(struct acme_dns_msg *m, uint16_t id,
                         const char *name, uint16_t type, bool recursion);
/* An UPDATE (RFC 2136 section 2) for zone that adds (ttl > 0) or deletes
 * (add false) one TXT record name/value. Returns 0 or -1. */
int acme_dns_update_build(struct acme_dns_msg *m, uint16_t id,
                          const char *zone, const char *name,
                          const char *value, bool add, uint32_t ttl);
/* Appends a TSIG record signing the message at time now (RFC 8945 section
 * 4.3). Copies the MAC into mac/mac_len for checking the response.
 * Returns 0 or -1. */
int acme_dns_tsig_sign(struct acme_dns_msg *m, const struct acme_tsig_key *k,
                       time_t now, unsigned char *mac, size_t *mac_len);

/* Parses a response. Returns 0, or -1 when it is malformed. */
int acme_dns_parse(const unsigned char *msg, size_t len,
                   struct acme_dns_reply *r);
/* Reads a possibly compressed name at off into out (lower case, no
 * trailing dot). Returns the offset after the name, or -1 with out left
 * empty. cap must be at least 256. */
long acme_dns_read_name(const unsigned char *msg, size_t len, size_t off,
                        char *out, size_t cap);
/* Copies the strings of a TXT record's rdata, concatenated. Returns 0 or
 * -1. */
int acme_dns_txt(const unsigned char *msg, const struct acme_dns_rr *rr,
                 char *out, size_t cap);
/*
 * Checks the response's TSIG against the request's MAC (RFC 8945 section
 * 5.3). Returns 0, or -1 with a reason in err: missing TSIG, another key or
 * algorithm, a TSIG error from the server (BADSIG, BADKEY, BADTIME), a
 * wrong MAC, or a time outside the fudge.
 */
int acme_dns_tsig_verify(const unsigned char *msg, size_t len,
                         const struct acme_dns_reply *r,
                         const struct acme_tsig_key *k,
                         const unsigned char *request_mac,
                         size_t request_mac_len, time_t now, char *err,
                         size_t errcap);

/* Provider and propagation (dns01.c). */

/* Copies and checks the DNS settings and reads key files. Returns 0 or -1
 * (logged). Called by acme_start. */
int acme_dns_configure(const struct acme_dns_config *c);
void acme_dns_clear(void);
/* True when a DNS provider is configured. */
bool acme_dns_available(void);
/*
 * Publishes the TXT record _acme-challenge.<name> = value and waits until
 * the zone's authoritative servers return it. Returns 0, or -1 with a
 * reason in err.
 */
int acme_dns01_add(const char *name, const char *value, char *err,
                   size_t errcap);
/* Removes the record; failures are logged. */
void acme_dns01_remove(const char *name, const char *value);
/* base64url(SHA-256(key_authorization)) (RFC 8555 section 8.4). */
char *acme_dns01_txt_value(const char *key_authorization);

/*
 * Runs the hook as `hook add|remove FQDN VALUE` without a shell, killing it
 * after timeout seconds. Logs its exit status and first output lines.
 * Returns 0 when it exited with status 0.
 */
int acme_dns_hook_run(const char *hook, const char *action, const char *fqdn,
                      const char *value, int timeout);

#endif

/*
 * DNS messages (RFC 1035 section 4), UPDATE (RFC 2136) and TSIG (RFC 8945),
 * limited to what DNS-01 needs. The decoder rejects anything malformed:
 * truncated records, forward or looping compression pointers, names over
 * 255 bytes, trailing bytes, and a TSIG record that is not the last one.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include "acme_dns.h"

#define TSIG_FUDGE 300
#define MAX_POINTERS 64

static const struct {
    const char *name;
    const EVP_MD *(*md)(void);
} tsig_algorithms[] = {
    {"hmac-sha256", EVP_sha256}, {"hmac-sha512", EVP_sha512},
    {"hmac-sha384", EVP_sha384}, {"hmac-sha224", EVP_sha224},
    {"hmac-sha1", EVP_sha1},
};

const EVP_MD *
acme_tsig_md(const char *algorithm)
{
    for (size_t i = 0; i < sizeof(tsig_algorithms) / sizeof(*tsig_algorithms);
         i++)
        if (strcasecmp(algorithm, tsig_algorithms[i].name) == 0)
            return tsig_algorithms[i].md();
    return NULL;
}

static int
put_bytes(unsigned char *buf, size_t cap, size_t *len, const void *p,
          size_t n)
{
    if (n > cap - *len)
        return -1;
    if (n == 0)
        return 0;
    memcpy(buf + *len, p, n);
    *len += n;
    return 0;
}

static int
put_u16(unsigned char *buf, size_t cap, size_t *len, unsigned v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};

    return put_bytes(buf, cap, len, b, 2);
}

static int
put_u32(unsigned char *buf, size_t cap, size_t *len, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};

    return put_bytes(buf, cap, len, b, 4);
}

/* Writes name uncompressed and lower-cased, which is also the canonical
 * form TSIG hashes (RFC 8945 section 4.3.3). */
static int
put_name(unsigned char *buf, size_t cap, size_t *len, const char *name)
{
    size_t start = *len;
    const char *p = name;

    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        unsigned char label[64];
        if (n == 0 || n > 63)
            return -1;
        for (size_t i = 0; i < n; i++)
            label[i] = (unsigned char)tolower((unsigned char)p[i]);
        if (put_bytes(buf, cap, len, (unsigned char[]){(unsigned char)n}, 1) ||
            put_bytes(buf, cap, len, label, n))
            return -1;
        p += n;
        if (*p == '.')
            p++;
    }
    if (put_bytes(buf, cap, len, "", 1) != 0)
        return -1;
    return *len - start <= 255 ? 0 : -1;
}

static int
put_header(struct acme_dns_msg *m, uint16_t id, unsigned flags,
           const unsigned counts[4])
{
    m->len = 0;
    if (put_u16(m->buf, sizeof(m->buf), &m->len, id) ||
        put_u16(m->buf, sizeof(m->buf), &m->len, flags))
        return -1;
    for (int i = 0; i < 4; i++)
        if (put_u16(m->buf, sizeof(m->buf), &m->len, counts[i]))
            return -1;
    return 0;
}

int
acme_dns_query_build(struct acme_dns_msg *m, uint16_t id, const char *name,
                     uint16_t type, bool recursion)
{
    const unsigned counts[4] = {1, 0, 0, 0};

    if (put_header(m, id, recursion ? 0x0100 : 0, counts) ||
        put_name(m->buf, sizeof(m->buf), &m->len, name) ||
        put_u16(m->buf, sizeof(m->buf), &m->len, type) ||
        put_u16(m->buf, sizeof(m->buf), &m->len, ACME_DNS_CLASS_IN))
        return -1;
    return 0;
}

int
acme_dns_update_build(struct acme_dns_msg *m, uint16_t id, const char *zone,
                      const char *name, const char *value, bool add,
                      uint32_t ttl)
{
    const unsigned counts[4] = {1, 0, 1, 0};
    size_t vlen = strlen(value), cap = sizeof(m->buf);
    unsigned char *b = m->buf;

    /* A character-string is at most 255 bytes; DNS-01 values are 43. */
    if (vlen > 255)
        return -1;
    if (put_header(m, id, ACME_DNS_OPCODE_UPDATE << 11, counts) ||
        put_name(b, cap, &m->len, zone) ||
        put_u16(b, cap, &m->len, ACME_DNS_TYPE_SOA) ||
        put_u16(b, cap, &m->len, ACME_DNS_CLASS_IN))
        return -1;
    /* RFC 2136 section 2.5.1 adds, section 2.5.4 deletes one RR: class
     * NONE, TTL 0, the same rdata. */
    if (put_name(b, cap, &m->len, name) ||
        put_u16(b, cap, &m->len, ACME_DNS_TYPE_TXT) ||
        put_u16(b, cap, &m->len,
                add ? ACME_DNS_CLASS_IN : ACME_DNS_CLASS_NONE) ||
        put_u32(b, cap, &m->len, add ? ttl : 0) ||
        put_u16(b, cap, &m->len, (unsigned)vlen + 1) ||
        put_bytes(b, cap, &m->len, (unsigned char[]){(unsigned char)vlen},
                  1) ||
        put_bytes(b, cap, &m->len, value, vlen))
        return -1;
    return 0;
}

/* The TSIG variables after the message (RFC 8945 section 4.3.3). */
static int
put_tsig_variables(unsigned char *buf, size_t cap, size_t *len,
                   const struct acme_tsig_key *k, const char *algorithm,
                   uint64_t signed_at, unsigned fudge, unsigned error,
                   const unsigned char *other, size_t other_len)
{
    if (put_name(buf, cap, len, k->name) ||
        put_u16(buf, cap, len, ACME_DNS_CLASS_ANY) ||
        put_u32(buf, cap, len, 0) || put_name(buf, cap, len, algorithm) ||
        put_u16(buf, cap, len, (unsigned)(signed_at >> 32)) ||
        put_u32(buf, cap, len, (uint32_t)signed_at) ||
        put_u16(buf, cap, len, fudge) || put_u16(buf, cap, len, error) ||
        put_u16(buf, cap, len, (unsigned)other_len) ||
        put_bytes(buf, cap, len, other, other_len))
        return -1;
    return 0;
}

static int
compute_mac(const struct acme_tsig_key *k, const unsigned char *data,
            size_t len, unsigned char *mac, size_t *mac_len)
{
    const EVP_MD *md = acme_tsig_md(k->algorithm);
    unsigned int n = 0;

    if (md == NULL || HMAC(md, k->secret, (int)k->secret_len, data, len, mac,
                           &n) == NULL)
        return -1;
    *mac_len = n;
    return 0;
}

int
acme_dns_tsig_sign(struct acme_dns_msg *m, const struct acme_tsig_key *k,
                   time_t now, unsigned char *mac, size_t *mac_len)
{
    unsigned char input[sizeof(m->buf) + 600];
    size_t ilen = m->len, rdlen_at, cap = sizeof(m->buf);
    unsigned arcount = (unsigned)(m->buf[10] << 8 | m->buf[11]) + 1;

    memcpy(input, m->buf, m->len);
    if (put_tsig_variables(input, sizeof(input), &ilen, k, k->algorithm,
                           (uint64_t)now, TSIG_FUDGE, 0, NULL, 0) ||
        compute_mac(k, input, ilen, mac, mac_len))
        return -1;
    if (put_name(m->buf, cap, &m->len, k->name) ||
        put_u16(m->buf, cap, &m->len, ACME_DNS_TYPE_TSIG) ||
        put_u16(m->buf, cap, &m->len, ACME_DNS_CLASS_ANY) ||
        put_u32(m->buf, cap, &m->len, 0))
        return -1;
    rdlen_at = m->len;
    if (put_u16(m->buf, cap, &m->len, 0) ||
        put_name(m->buf, cap, &m->len, k->algorithm) ||
        put_u16(m->buf, cap, &m->len, (unsigned)((uint64_t)now >> 32)) ||
        put_u32(m->buf, cap, &m->len, (uint32_t)now) ||
        put_u16(m->buf, cap, &m->len, TSIG_FUDGE) ||
        put_u16(m->buf, cap, &m->len, (unsigned)*mac_len) ||
        put_bytes(m->buf, cap, &m->len, mac, *mac_len) ||
        put_bytes(m->buf, cap, &m->len, m->buf, 2) || /* original ID */
        put_u16(m->buf, cap, &m->len, 0) || put_u16(m->buf, cap, &m->len, 0))
        return -1;
    m->buf[rdlen_at] = (unsigned char)((m->len - rdlen_at - 2) >> 8);
    m->buf[rdlen_at + 1] = (unsigned char)(m->len - rdlen_at - 2);
    m->buf[10] = (unsigned char)(arcount >> 8);
    m->buf[11] = (unsigned char)arcount;
    return 0;
}

static unsigned
get_u16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static long
read_name(const unsigned char *msg, size_t len, size_t off,
          char *out, size_t cap)
{
    size_t o = 0, wire = 0;
    long end = -1;
    int jumps = 0;

    if (cap < 256)
        return -1;
    for (;;) {
        unsigned n;
        if (off >= len)
            return -1;
        n = msg[off];
        if ((n & 0xc0) == 0xc0) {
            size_t target;
            if (off + 1 >= len || ++jumps > MAX_POINTERS)
                return -1;
            target = (n & 0x3f) << 8 | msg[off + 1];
            if (end < 0)
                end = (long)off + 2;
            if (target >= off) /* only backward pointers */
                return -1;
            off = target;
            continue;
        }
        if (n & 0xc0)
            return -1;
        wire += n + 1;
        if (wire > 255 || off + 1 + n > len)
            return -1;
        if (n == 0)
            break;
        if (o > 0)
            out[o++] = '.';
        for (unsigned i = 0; i < n; i++) {
            unsigned char c = msg[off + 1 + i];
            /* Names here are host names; anything else is rejected rather
             * than escaped. */
            if (!isalnum(c) && c != '-' && c != '_' && c != '*')
                return -1;
            out[o++] = (char)tolower(c);
        }
        off += 1 + n;
    }
    out[o] = '\0';
    return end >= 0 ? end : (long)off + 1;
}

long
acme_dns_read_name(const unsigned char *msg, size_t len, size_t off,
                   char *out, size_t cap)
{
    long end = read_name(msg, len, off, out, cap);

    /* A name that fails part way leaves no partial text behind. */
    if (end < 0 && cap > 0)
        out[0] = '\0';
    return end;
}

static int
parse_record(const unsigned char *msg, size_t len, size_t *off,
             struct acme_dns_rr *rr)
{
    long p = acme_dns_read_name(msg, len, *off, rr->name, sizeof(rr->name));

    rr->start = *off;
    if (p < 0 || (size_t)p + 10 > len)
        return -1;
    rr->type = (uint16_t)get_u16(msg + p);
    rr->rr_class = (uint16_t)get_u16(msg + p + 2);
    rr->ttl = (uint32_t)get_u16(msg + p + 4) << 16 | get_u16(msg + p + 6);
    rr->rdlen = (uint16_t)get_u16(msg + p + 8);
    rr->rdata = (size_t)p + 10;
    if (rr->rdata + rr->rdlen > len)
        return -1;
    *off = rr->rdata + rr->rdlen;
    return 0;
}

int
acme_dns_parse(const unsigned char *msg, size_t len, struct acme_dns_reply *r)
{
    unsigned counts[4];
    size_t off = 12;
    char name[256];

    memset(r, 0, sizeof(*r));
    if (len < 12)
        return -1;
    r->id = (uint16_t)get_u16(msg);
    r->flags = (uint16_t)get_u16(msg + 2);
    r->rcode = r->flags & 0x0f;
    r->truncated = (r->flags & 0x0200) != 0;
    if (!(r->flags & 0x8000)) /* QR: not a response */
        return -1;
    for (int i = 0; i < 4; i++)
        counts[i] = get_u16(msg + 2 + 2 * (i + 1));
    if (counts[0] > 1 || counts[1] + counts[2] + counts[3] > ACME_DNS_MAX_RR)
        return -1;
    if (counts[0] == 1) {
        long p = acme_dns_read_name(msg, len, off, name, sizeof(name));
        if (p < 0 || (size_t)p + 4 > len)
            return -1;
        off = (size_t)p + 4;
    }
    for (int s = 1; s < 4; s++) {
        for (unsigned i = 0; i < counts[s]; i++) {
            struct acme_dns_rr *rr = &r->rr[r->n_rr];
            if (parse_record(msg, len, &off, rr) != 0)
                return -1;
            rr->section = s;
            r->n_rr++;
            if (rr->type == ACME_DNS_TYPE_TSIG &&
                (s != 3 || i + 1 != counts[s]))
                return -1;
            r->has_tsig = rr->type == ACME_DNS_TYPE_TSIG;
        }
    }
    /* A truncated UDP answer may stop anywhere; the caller retries over
     * TCP and ignores it. */
    return off == len || r->truncated ? 0 : -1;
}

int
acme_dns_txt(const unsigned char *msg, const struct acme_dns_rr *rr,
             char *out, size_t cap)
{
    size_t o = 0, i = 0;

    while (i < rr->rdlen) {
        unsigned n = msg[rr->rdata + i];
        if (i + 1 + n > rr->rdlen || o + n >= cap)
            return -1;
        memcpy(out + o, msg + rr->rdata + i + 1, n);
        o += n;
        i += 1 + n;
    }
    out[o] = '\0';
    return 0;
}

/* The fields of a TSIG rdata (RFC 8945 section 4.2). */
struct tsig_fields {
    char algorithm[256];
    uint64_t signed_at;
    unsigned fudge, mac_len, original_id, error, other_len;
    const unsigned char *mac, *other;
};

static int
parse_tsig(const unsigned char *msg, const struct acme_dns_rr *rr,
           struct tsig_fields *t)
{
    size_t end = rr->rdata + rr->rdlen;
    long p = acme_dns_read_name(msg, end, rr->rdata, t->algorithm,
                                sizeof(t->algorithm));

    if (p < 0 || (size_t)p + 10 > end)
        return -1;
    t->signed_at = (uint64_t)get_u16(msg + p) << 32 |
                   (uint64_t)get_u16(msg + p + 2) << 16 | get_u16(msg + p + 4);
    t->fudge = get_u16(msg + p + 6);
    t->mac_len = get_u16(msg + p + 8);
    p += 10;
    if ((size_t)p + t->mac_len + 6 > end)
        return -1;
    t->mac = msg + p;
    p += t->mac_len;
    t->original_id = get_u16(msg + p);
    t->error = get_u16(msg + p + 2);
    t->other_len = get_u16(msg + p + 4);
    t->other = msg + p + 6;
    return (size_t)p + 6 + t->other_len == end ? 0 : -1;
}

static const char *
name_tsig_error(unsigned error)
{
    switch (error) {
    case 16:
        return "BADSIG: the server rejected the signature, check the secret";
    case 17:
        return "BADKEY: the server does not know the key name or algorithm";
    case 18:
        return "BADTIME: the clocks differ by more than the fudge";
    case 22:
        return "BADTRUNC";
    default:
        return "unknown TSIG error";
    }
}

/* The MAC the server should have computed over its response: request MAC,
 * the message without its TSIG (original ID, ARCOUNT one less), then the
 * TSIG variables (RFC 8945 section 5.3). */
static int
compute_response_mac(const unsigned char *msg, const struct acme_dns_rr *rr,
                     const struct tsig_fields *t,
                     const struct acme_tsig_key *k,
                     const unsigned char *request_mac, size_t request_mac_len,
                     unsigned char *mac, size_t *mac_len)
{
    size_t cap = rr->start + request_mac_len + 1024, ilen = 0, head;
    unsigned char *in = OPENSSL_malloc(cap);
    unsigned arcount = get_u16(msg + 10) - 1;
    int rc = -1;

    if (in == NULL)
        return -1;
    put_u16(in, cap, &ilen, (unsigned)request_mac_len);
    put_bytes(in, cap, &ilen, request_mac, request_mac_len);
    head = ilen;
    put_bytes(in, cap, &ilen, msg, rr->start);
    in[head] = (unsigned char)(t->original_id >> 8);
    in[head + 1] = (unsigned char)t->original_id;
    in[head + 10] = (unsigned char)(arcount >> 8);
    in[head + 11] = (unsigned char)arcount;
    if (put_tsig_variables(in, cap, &ilen, k, t->algorithm, t->signed_at,
                           t->fudge, t->error, t->other, t->other_len) == 0 &&
        compute_mac(k, in, ilen, mac, mac_len) == 0)
        rc = 0;
    OPENSSL_free(in);
    return rc;
}

int
acme_dns_tsig_verify(const unsigned char *msg, size_t len,
                     const struct acme_dns_reply *r,
                     const struct acme_tsig_key *k,
                     const unsigned char *request_mac,
                     size_t request_mac_len, time_t now, char *err,
                     size_t errcap)
{
    const struct acme_dns_rr *rr = r->n_rr ? &r->rr[r->n_rr - 1] : NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    struct tsig_fields t;
    size_t mac_len;
    int64_t skew;

    if (!r->has_tsig || rr == NULL || len < 12) {
        snprintf(err, errcap, "response is not signed (no TSIG record)");
        return -1;
    }
    if (parse_tsig(msg, rr, &t) != 0) {
        snprintf(err, errcap, "malformed TSIG record in response");
        return -1;
    }
    if (strcasecmp(rr->name, k->name) != 0 ||
        strcasecmp(t.algorithm, k->algorithm) != 0) {
        snprintf(err, errcap, "response signed with another key or "
                              "algorithm");
        return -1;
    }
    if (t.error != 0) {
        snprintf(err, errcap, "TSIG error %u %s", t.error,
                 name_tsig_error(t.error));
        return -1;
    }
    if (compute_response_mac(msg, rr, &t, k, request_mac, request_mac_len,
                             mac, &mac_len) != 0) {
        snprintf(err, errcap, "TSIG MAC not computed");
        return -1;
    }
    if (t.mac_len != mac_len || CRYPTO_memcmp(mac, t.mac, mac_len) != 0) {
        snprintf(err, errcap, "response TSIG MAC does not verify");
        return -1;
    }
    skew = (int64_t)now - (int64_t)t.signed_at;
    if (skew > (int64_t)t.fudge || -skew > (int64_t)t.fudge) {
        snprintf(err, errcap, "response TSIG time is %llds off",
                 (long long)skew);
        return -1;
    }
    return 0;
}

/*
 * DNS-01 (RFC 8555 section 8.4): publishes _acme-challenge TXT records with
 * RFC 2136 updates signed with TSIG, or through a hook program, and waits
 * until the zone's authoritative servers return the record before the CA
 * is asked to validate. Everything runs on the calling worker thread with
 * blocking sockets and bounded timeouts.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "acme_dns.h"
#include "acme_int.h"
#include "log.h"

#define DEFAULT_PROPAGATION_TIMEOUT 120
#define HOOK_TIMEOUT 60
#define RECORD_TTL 60
#define UDP_TIMEOUT_MS 3000
#define UDP_ATTEMPTS 2
#define TCP_TIMEOUT_MS 5000
#define PROPAGATION_POLL 2 /* seconds between checks */
#define MAX_SERVERS 8

struct dns_server {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[64];
};

static struct {
    char *hook;
    bool rfc2136;
    struct dns_server server;
    char *zone;
    bool has_key;
    struct acme_tsig_key key;
    bool has_resolver;
    struct dns_server resolver;
    int propagation_timeout;
} dns;

/* Parses "ADDR:PORT" or "[V6]:PORT", numeric only. */
static int
parse_server(const char *text, struct dns_server *s)
{
    char host[64];
    const char *original = text, *colon = strrchr(text, ':');
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai = NULL;
    size_t n;

    if (colon == NULL || colon == text)
        return -1;
    n = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') {
        text++;
        n -= 2;
    }
    if (n >= sizeof(host))
        return -1;
    memcpy(host, text, n);
    host[n] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    memcpy(&s->sa, ai->ai_addr, ai->ai_addrlen);
    s->len = ai->ai_addrlen;
    snprintf(s->text, sizeof(s->text), "%s", original);
    freeaddrinfo(ai);
    return 0;
}

static void
set_server_port53(struct dns_server *s, const struct sockaddr *sa,
                  socklen_t len)
{
    char host[INET6_ADDRSTRLEN] = "";

    memcpy(&s->sa, sa, len);
    s->len = len;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&s->sa;
        v4->sin_port = htons(53);
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
        snprintf(s->text, sizeof(s->text), "%s:53", host);
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&s->sa;
        v6->sin6_port = htons(53);
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
        snprintf(s->text, sizeof(s->text), "[%s]:53", host);
    }
}

/* Decodes standard base64 (the TSIG secret format of BIND's key files). */
static int
decode_secret(const char *b64, struct acme_tsig_key *k)
{
    unsigned char out[sizeof(k->secret) + 3];
    char clean[256];
    size_t n = 0, pad = 0;
    int len;

    for (const char *p = b64; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        if (n + 1 >= sizeof(clean))
            return -1;
        clean[n++] = *p;
    }
    clean[n] = '\0';
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(out))
        return -1;
    pad = (clean[n - 1] == '=') + (clean[n - 2] == '=');
    len = EVP_DecodeBlock(out, (unsigned char *)clean, (int)n);
    if (len < 0 || (size_t)len < pad)
        return -1;
    k->secret_len = (size_t)len - pad;
    memcpy(k->secret, out, k->secret_len);
    OPENSSL_cleanse(out, sizeof(out));
    OPENSSL_cleanse(clean, sizeof(clean));
    return 0;
}

/* Copies the next word or quoted string after *p. */
static int
read_token(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;

    while (isspace((unsigned char)*s))
        s++;
    if (*s == '"') {
        const char *end = strchr(++s, '"');
        if (end == NULL || (size_t)(end - s) >= cap)
            return -1;
        n = (size_t)(end - s);
        memcpy(out, s, n);
        *p = end + 1;
    } else {
        while (s[n] && !isspace((unsigned char)s[n]) && s[n] != ';' &&
               s[n] != '{')
            n++;
        if (n == 0 || n >= cap)
            return -1;
        memcpy(out, s, n);
        *p = s + n;
    }
    out[n] = '\0';
    return 0;
}

/* Reads `key "name" { algorithm A; secret "B"; };` as tsig-keygen writes
 * it. Comments are not supported. */
static int
parse_key_file(const char *text, struct acme_tsig_key *k, char *secret,
               size_t cap)
{
    const char *p = strstr(text, "key");
    const char *alg, *sec;

    if (p == NULL)
        return -1;
    p += 3;
    if (read_token(&p, k->name, sizeof(k->name)) != 0)
        return -1;
    alg = strstr(p, "algorithm");
    sec = strstr(p, "secret");
    if (alg == NULL || sec == NULL)
        return -1;
    alg += 9;
    sec += 6;
    if (read_token(&alg, k->algorithm, sizeof(k->algorithm)) != 0 ||
        read_token(&sec, secret, cap) != 0)
        return -1;
    return 0;
}

static char *
read_trimmed_file(const char *path)
{
    char *text = acme_store_read(path, NULL);
    size_t n = text ? strlen(text) : 0;

    while (n > 0 && isspace((unsigned char)text[n - 1]))
        text[--n] = '\0';
    return text;
}

static void
trim_name(char *name)
{
    size_t n = strlen(name);

    if (n > 0 && name[n - 1] == '.')
        name[n - 1] = '\0';
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

static int
configure_key(const struct acme_dns_config *c)
{
    char secret[256] = "", *text = NULL;
    const char *b64 = c->tsig_secret;
    int rc = -1;

    if (c->tsig_key_file != NULL) {
        text = acme_store_read(c->tsig_key_file, NULL);
        if (text == NULL ||
            parse_key_file(text, &dns.key, secret, sizeof(secret)) != 0) {
            log_error("acme", "TSIG key file invalid", "path=%s expected=%s",
                      c->tsig_key_file, "key \"NAME\" { algorithm ALG; "
                      "secret \"BASE64\"; };");
            goto out;
        }
        b64 = secret;
    } else {
        if (c->tsig_secret_file != NULL) {
            text = read_trimmed_file(c->tsig_secret_file);
            if (text == NULL) {
                log_error("acme", "TSIG secret file unreadable", "path=%s",
                          c->tsig_secret_file);
                goto out;
            }
            b64 = text;
        }
        if (c->tsig_key_name == NULL && b64 == NULL) {
            rc = 0; /* unsigned updates */
            goto out;
        }
        if (c->tsig_key_name == NULL || b64 == NULL) {
            log_error("acme", "TSIG key incomplete", "expected=%s",
                      "--dns-rfc2136-key-name with --dns-rfc2136-key-secret "
                      "or --dns-rfc2136-key-secret-file");
            goto out;
        }
        snprintf(dns.key.name, sizeof(dns.key.name), "%s", c->tsig_key_name);
        snprintf(dns.key.algorithm, sizeof(dns.key.algorithm), "%s",
                 c->tsig_algorithm ? c->tsig_algorithm : "hmac-sha256");
    }
    trim_name(dns.key.name);
    trim_name(dns.key.algorithm);
    if (acme_tsig_md(dns.key.algorithm) == NULL) {
        log_error("acme", "TSIG algorithm not supported", "algorithm=%s "
                  "expected=hmac-sha256|hmac-sha512|hmac-sha384|hmac-sha224|"
                  "hmac-sha1", dns.key.algorithm);
        goto out;
    }
    if (decode_secret(b64, &dns.key) != 0) {
        log_error("acme", "TSIG secret is not valid base64", "key=%s",
                  dns.key.name);
        goto out;
    }
    dns.has_key = true;
    rc = 0;
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    if (text != NULL)
        OPENSSL_cleanse(text, strlen(text));
    free(text);
    return rc;
}

int
acme_dns_configure(const struct acme_dns_config *c)
{
    acme_dns_clear();
    dns.propagation_timeout = c->propagation_timeout > 0
                                  ? c->propagation_timeout
                                  : DEFAULT_PROPAGATION_TIMEOUT;
    if (c->resolver != NULL) {
        if (parse_server(c->resolver, &dns.resolver) != 0) {
            log_error("acme", "invalid DNS resolver address", "value=%s "
                      "expected=ADDR:PORT", c->resolver);
            return -1;
        }
        dns.has_resolver = true;
    }
    if (c->hook != NULL) {
        dns.hook = strdup(c->hook);
        log_info("acme", "DNS-01 provider set", "provider=hook path=%s",
                 dns.hook);
        return 0;
    }
    if (c->rfc2136_server == NULL)
        return 0;
    if (parse_server(c->rfc2136_server, &dns.server) != 0) {
        log_error("acme", "invalid RFC 2136 server address", "value=%s "
                  "expected=ADDR:PORT", c->rfc2136_server);
        return -1;
    }
    if (configure_key(c) != 0)
        return -1;
    if (c->rfc2136_zone != NULL) {
        dns.zone = strdup(c->rfc2136_zone);
        trim_name(dns.zone);
    }
    dns.rfc2136 = true;
    log_info("acme", "DNS-01 provider set", "provider=rfc2136 server=%s "
             "key=%s algorithm=%s zone=%s", dns.server.text,
             dns.has_key ? dns.key.name : "(none)",
             dns.has_key ? dns.key.algorithm : "(none)",
             dns.zone ? dns.zone : "(from SOA)");
    return 0;
}

void
acme_dns_clear(void)
{
    free(dns.hook);
    free(dns.zone);
    OPENSSL_cleanse(&dns.key, sizeof(dns.key));
    memset(&dns, 0, sizeof(dns));
}

bool
acme_dns_available(void)
{
    return dns.hook != NULL || dns.rfc2136;
}

char *
acme_dns01_txt_value(const char *key_authorization)
{
    unsigned char digest[32];

    if (EVP_Digest(key_authorization, strlen(key_authorization), digest,
                   NULL, EVP_sha256(), NULL) != 1)
        return NULL;
    return acme_b64url_encode(digest, sizeof(digest));
}

/* Transport: UDP, then TCP when the answer is truncated. */

static int
wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;

    do
        rc = poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

static ssize_t
exchange_udp(const struct dns_server *s, const struct acme_dns_msg *m,
             unsigned char *resp, size_t cap)
{
    int fd = socket(s->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t n = -1;

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&s->sa, s->len) != 0)
        goto out;
    for (int attempt = 0; attempt < UDP_ATTEMPTS && n < 0; attempt++) {
        if (send(fd, m->buf, m->len, 0) != (ssize_t)m->len)
            break;
        while (wait_fd(fd, POLLIN, UDP_TIMEOUT_MS) == 0) {
            n = recv(fd, resp, cap, 0);
            /* Ignore datagrams for another query id. */
            if (n >= 12 && memcmp(resp, m->buf, 2) == 0)
                break;
            n = -1;
        }
    }
out:
    close(fd);
    return n;
}

static int
io_all(int fd, unsigned char *buf, size_t len, bool writing)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n;
        if (wait_fd(fd, writing ? POLLOUT : POLLIN, TCP_TIMEOUT_MS) != 0)
            return -1;
        n = writing ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
                    : recv(fd, buf + done, len - done, 0);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static ssize_t
exchange_tcp(const struct dns_server *s, const struct acme_dns_msg *m,
             unsigned char *resp, size_t cap)
{
    int fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unsigned char prefix[2] = {(unsigned char)(m->len >> 8),
                               (unsigned char)m->len};
    ssize_t n = -1;
    size_t len;

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&s->sa, s->len) != 0 ||
        io_all(fd, prefix, 2, true) != 0 ||
        io_all(fd, (unsigned char *)m->buf, m->len, true) != 0 ||
        io_all(fd, prefix, 2, false) != 0)
        goto out;
    len = (size_t)prefix[0] << 8 | prefix[1];
    if (len < 12 || len > cap || io_all(fd, resp, len, false) != 0)
        goto out;
    n = (ssize_t)len;
out:
    close(fd);
    return n;
}

/*
 * Sends m to s and parses the response into r; resp must hold
 * ACME_DNS_MAX_MSG bytes. Returns the response length, or -1 with a reason
 * in err.
 */
static ssize_t
exchange(const struct dns_server *s, const struct acme_dns_msg *m,
         unsigned char *resp, struct acme_dns_reply *r, char *err,
         size_t errcap)
{
    ssize_t n = exchange_udp(s, m, resp, ACME_DNS_MAX_MSG);

    if (n < 0) {
        snprintf(err, errcap, "no response from %s", s->text);
        return -1;
    }
    if (acme_dns_parse(resp, (size_t)n, r) == 0 && r->truncated) {
        n = exchange_tcp(s, m, resp, ACME_DNS_MAX_MSG);
        if (n < 0) {
            snprintf(err, errcap, "no TCP response from %s", s->text);
            return -1;
        }
    }
    if (acme_dns_parse(resp, (size_t)n, r) != 0 || r->truncated ||
        r->id != (m->buf[0] << 8 | m->buf[1])) {
        snprintf(err, errcap, "malformed response from %s", s->text);
        return -1;
    }
    return n;
}

static uint16_t
new_id(void)
{
    uint16_t id = 0;

    RAND_bytes((unsigned char *)&id, sizeof(id));
    return id;
}

static const char *
name_rcode(int rcode)
{
    static const char *const names[] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
    };

    return rcode >= 0 && rcode < 11 ? names[rcode] : "unknown rcode";
}

/* Lookups go to the resolver, else the RFC 2136 server, else the first
 * nameserver of /etc/resolv.conf. */
static int
get_lookup_server(struct dns_server *s)
{
    char line[256], addr[64];
    FILE *f;
    int rc = -1;

    if (dns.has_resolver) {
        *s = dns.resolver;
        return 0;
    }
    if (dns.rfc2136) {
        *s = dns.server;
        return 0;
    }
    f = fopen("/etc/resolv.conf", "re");
    while (f != NULL && rc != 0 && fgets(line, sizeof(line), f) != NULL) {
        char text[80];
        if (sscanf(line, "nameserver %63s", addr) != 1)
            continue;
        snprintf(text, sizeof(text), strchr(addr, ':') ? "[%s]:53" : "%s:53",
                 addr);
        rc = parse_server(text, s);
    }
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Sends one query and returns the parsed reply in *r (resp holds the
 * message). */
static ssize_t
query(const struct dns_server *s, const char *name, uint16_t type,
      bool recursion, unsigned char *resp, struct acme_dns_reply *r,
      char *err, size_t errcap)
{
    struct acme_dns_msg m;

    if (acme_dns_query_build(&m, new_id(), name, type, recursion) != 0) {
        snprintf(err, errcap, "invalid name %s", name);
        return -1;
    }
    return exchange(s, &m, resp, r, err, errcap);
}

/* Finds the zone of fqdn: the owner of the SOA in the answer or authority
 * section of a SOA query, walking up one label at a time. */
static int
find_zone(const char *fqdn, char *zone, size_t cap, unsigned char *resp,
          char *err, size_t errcap)
{
    struct acme_dns_reply *r = malloc(sizeof(*r));
    struct dns_server s;
    const char *name = fqdn;
    int rc = -1;

    if (dns.zone != NULL) {
        snprintf(zone, cap, "%s", dns.zone);
        free(r);
        return 0;
    }
    if (r == NULL || get_lookup_server(&s) != 0) {
        snprintf(err, errcap, "no DNS server to find the zone of %s", fqdn);
        goto out;
    }
    for (; name != NULL && rc != 0; name = strchr(name, '.')) {
        if (*name == '.')
            name++;
        if (query(&s, name, ACME_DNS_TYPE_SOA, true, resp, r, err,
                  errcap) < 0)
            goto out;
        for (size_t i = 0; i < r->n_rr && rc != 0; i++) {
            if (r->rr[i].type == ACME_DNS_TYPE_SOA && r->rr[i].section < 3 &&
                (r->rr[i].section == 2 ||
                 strcasecmp(r->rr[i].name, name) == 0)) {
                snprintf(zone, cap, "%s", r->rr[i].name);
                rc = 0;
            }
        }
    }
    if (rc != 0)
        snprintf(err, errcap, "no SOA found for %s at %s", fqdn, s.text);
out:
    free(r);
    return rc;
}

/* One signed UPDATE exchange with the RFC 2136 server. */
static int
send_update(const char *zone, const char *fqdn, const char *value, bool add,
            char *err, size_t errcap)
{
    unsigned char *resp = malloc(ACME_DNS_MAX_MSG);
    struct acme_dns_reply *r = malloc(sizeof(*r));
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    struct acme_dns_msg m;
    ssize_t n;
    int rc = -1;

    if (resp == NULL || r == NULL) {
        snprintf(err, errcap, "out of memory");
        goto out;
    }
    if (acme_dns_update_build(&m, new_id(), zone, fqdn, value, add,
                              RECORD_TTL) != 0 ||
        (dns.has_key &&
         acme_dns_tsig_sign(&m, &dns.key, time(NULL), mac, &mac_len) != 0)) {
        snprintf(err, errcap, "UPDATE message not built");
        goto out;
    }
    if ((n = exchange(&dns.server, &m, resp, r, err, errcap)) < 0)
        goto out;
    if (dns.has_key &&
        acme_dns_tsig_verify(resp, (size_t)n, r, &dns.key, mac, mac_len,
                             time(NULL), err, errcap) != 0)
        goto out;
    if (r->rcode != 0) {
        snprintf(err, errcap, "server %s answered %s to the UPDATE of zone "
                 "%s", dns.server.text, name_rcode(r->rcode), zone);
        goto out;
    }
    rc = 0;
out:
    free(resp);
    free(r);
    return rc;
}

/* Propagation. */

/* The zone's name servers at port 53, or the resolver when one is set or
 * the name servers cannot be found. */
static size_t
get_auth_servers(const char *zone, struct dns_server *out, unsigned char *resp,
                 struct acme_dns_reply *r)
{
    struct dns_server lookup;
    char err[256], names[MAX_SERVERS][256];
    size_t n_names = 0, n = 0;

    if (get_lookup_server(&lookup) != 0)
        return 0;
    if (dns.has_resolver ||
        query(&lookup, zone, ACME_DNS_TYPE_NS, true, resp, r, err,
              sizeof(err)) < 0)
        goto fallback;
    for (size_t i = 0; i < r->n_rr && n_names < MAX_SERVERS; i++)
        if (r->rr[i].type == ACME_DNS_TYPE_NS && r->rr[i].section == 1 &&
            acme_dns_read_name(resp, r->rr[i].rdata + r->rr[i].rdlen,
                               r->rr[i].rdata, names[n_names], 256) >= 0)
            n_names++;
    for (size_t i = 0; i < n_names && n < MAX_SERVERS; i++) {
        if (query(&lookup, names[i], ACME_DNS_TYPE_A, true, resp, r, err,
                  sizeof(err)) < 0)
            continue;
        for (size_t j = 0; j < r->n_rr && n < MAX_SERVERS; j++) {
            struct sockaddr_in sin = {.sin_family = AF_INET};
            if (r->rr[j].type != ACME_DNS_TYPE_A || r->rr[j].rdlen != 4)
                continue;
            memcpy(&sin.sin_addr, resp + r->rr[j].rdata, 4);
            set_server_port53(&out[n++], (struct sockaddr *)&sin,
                              sizeof(sin));
        }
    }
fallback:
    if (n == 0)
        out[n++] = lookup;
    return n;
}

static bool
is_visible(const struct dns_server *s, const char *fqdn, const char *value,
           unsigned char *resp, struct acme_dns_reply *r)
{
    char err[256], txt[512];

    if (query(s, fqdn, ACME_DNS_TYPE_TXT, dns.has_resolver, resp, r, err,
              sizeof(err)) < 0)
        return false;
    for (size_t i = 0; i < r->n_rr; i++)
        if (r->rr[i].type == ACME_DNS_TYPE_TXT && r->rr[i].section == 1 &&
            acme_dns_txt(resp, &r->rr[i], txt, sizeof(txt)) == 0 &&
            strcmp(txt, value) == 0)
            return true;
    return false;
}

static int
wait_propagation(const char *zone, const char *fqdn, const char *value,
                 char *err, size_t errcap)
{
    unsigned char *resp = malloc(ACME_DNS_MAX_MSG);
    struct acme_dns_reply *r = malloc(sizeof(*r));
    struct dns_server servers[MAX_SERVERS];
    time_t deadline = time(NULL) + dns.propagation_timeout;
    size_t n, visible = 0;
    int rc = -1;

    if (resp == NULL || r == NULL) {
        snprintf(err, errcap, "out of memory");
        goto out;
    }
    n = get_auth_servers(zone, servers, resp, r);
    for (;;) {
        visible = 0;
        for (size_t i = 0; i < n; i++)
            visible += is_visible(&servers[i], fqdn, value, resp, r);
        if (n > 0 && visible == n) {
            log_info("acme", "DNS-01 record visible", "name=%s servers=%zu",
                     fqdn, n);
            rc = 0;
            break;
        }
        if (time(NULL) >= deadline) {
            snprintf(err, errcap, "TXT record %s visible on %zu of %zu "
                     "servers after %ds", fqdn, visible, n,
                     dns.propagation_timeout);
            break;
        }
        if (acme_sleep(PROPAGATION_POLL) != 0) {
            snprintf(err, errcap, "shutting down");
            break;
        }
    }
out:
    free(resp);
    free(r);
    return rc;
}

int
acme_dns01_add(const char *name, const char *value, char *err, size_t errcap)
{
    unsigned char *resp = NULL;
    char fqdn[300], zone[256] = "";
    int rc = -1;

    snprintf(fqdn, sizeof(fqdn), "_acme-challenge.%s", name);
    if (!acme_dns_available()) {
        snprintf(err, errcap, "DNS-01 needs --dns-rfc2136-server or "
                              "--dns-hook");
        return -1;
    }
    if (dns.hook != NULL) {
        if (acme_dns_hook_run(dns.hook, "add", fqdn, value,
                              HOOK_TIMEOUT) != 0) {
            snprintf(err, errcap, "DNS hook failed to add %s", fqdn);
            return -1;
        }
    } else {
        resp = malloc(ACME_DNS_MAX_MSG);
        if (resp == NULL ||
            find_zone(fqdn, zone, sizeof(zone), resp, err, errcap) != 0 ||
            send_update(zone, fqdn, value, true, err, errcap) != 0)
            goto out;
        log_info("acme", "DNS-01 record added", "name=%s zone=%s server=%s",
                 fqdn, zone, dns.server.text);
    }
    if (zone[0] == '\0') {
        resp = resp ? resp : malloc(ACME_DNS_MAX_MSG);
        if (resp == NULL ||
            find_zone(fqdn, zone, sizeof(zone), resp, err, errcap) != 0)
            goto out;
    }
    rc = wait_propagation(zone, fqdn, value, err, errcap);
out:
    free(resp);
    return rc;
}

void
acme_dns01_remove(const char *name, const char *value)
{
    unsigned char *resp;
    char fqdn[300], zone[256], err[256];

    snprintf(fqdn, sizeof(fqdn), "_acme-challenge.%s", name);
    if (dns.hook != NULL) {
        acme_dns_hook_run(dns.hook, "remove", fqdn, value, HOOK_TIMEOUT);
        return;
    }
    if (!dns.rfc2136)
        return;
    resp = malloc(ACME_DNS_MAX_MSG);
    if (resp != NULL &&
        find_zone(fqdn, zone, sizeof(zone), resp, err, sizeof(err)) == 0 &&
        send_update(zone, fqdn, value, false, err, sizeof(err)) == 0)
        log_info("acme", "DNS-01 record removed", "name=%s zone=%s", fqdn,
                 zone);
    else
        log_warn("acme", "DNS-01 record not removed", "name=%s server=%s "
                 "error=%s", fqdn, dns.server.text, resp ? err : "no memory");
    free(resp);
}

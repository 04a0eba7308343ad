/* Settings read from the command line and PORTICO_* environment variables. */
#ifndef PORTICO_CONFIG_H
#define PORTICO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "log.h"

struct cfg_addr {
    char *text; /* as given, for logs */
    struct sockaddr_storage sa;
    socklen_t len;
};

/* An IPv4 or IPv6 network of --trusted-proxies. */
struct cfg_cidr {
    int family;              /* AF_INET or AF_INET6 */
    unsigned char addr[16];  /* network byte order; 4 bytes used for IPv4 */
    int prefix;              /* bits */
};

/* --route HOST[/PATH]=http[s]://ADDR:PORT */
struct cfg_route {
    char *host; /* lower case */
    char *path; /* "/" unless given */
    bool tls;
    struct cfg_addr upstream;
};

struct config {
    char *docker_host;        /* unix:///path or tcp://host:port */
    char *docker_cert_path;   /* DOCKER_CERT_PATH: ca.pem, cert.pem, key.pem */
    bool docker_tls_verify;   /* DOCKER_TLS_VERIFY set and not empty */
    struct cfg_addr http_listen;
    struct cfg_addr https_listen; /* len 0: --https-listen off */
    char *host_network_address;
    struct cfg_route *routes;
    size_t n_routes;
    int workers;
    int resync_interval; /* seconds */
    enum log_level log_level;
    enum log_format log_format;
    char *access_log; /* path, "-" or "off" */
    bool print_routes;
    struct cfg_addr admin_listen; /* len 0: --admin-listen off */
    char *admin_token;            /* NULL: no token; never logged */

    /* HTTPS and ACME */
    char *state_dir;
    char *certs_dir;    /* NULL: none */
    char *default_cert; /* NULL: unknown names get unrecognized_name */
    char *default_key;
    int acme_off;       /* --acme off */
    char *acme_directory;
    char *acme_ca_file;
    char *acme_email;
    int acme_challenge; /* enum acme_challenge */
    int key_type;       /* enum acme_key_type */
    char *acme_eab_kid;
    char *acme_eab_hmac_key;
    int renew_before_days; /* 0: when a third of the lifetime remains */

    /* DNS-01 */
    struct cfg_addr dns_rfc2136_server; /* len 0: not set */
    char *dns_rfc2136_zone;
    char *dns_rfc2136_key_name;
    char *dns_rfc2136_key_secret;
    char *dns_rfc2136_key_secret_file;
    char *dns_rfc2136_key_file;
    char *dns_rfc2136_algorithm;
    char *dns_hook;
    struct cfg_addr dns_resolver; /* len 0: the zone's name servers */
    int dns_propagation_timeout;  /* seconds, 0: 120 */

    /* HTTP limits and timeouts (timeouts in seconds) */
    int max_header_size;   /* bytes of request line and headers */
    int max_headers;
    long long max_body_size; /* bytes, 0: unlimited */
    int header_timeout;
    int keepalive_timeout;
    int upstream_connect_timeout;
    int upstream_response_timeout;
    int tunnel_timeout;
    int max_connections;
    int shutdown_timeout;
    struct cfg_cidr *trusted_proxies;
    size_t n_trusted_proxies;
};

/* Read-only once cfg_parse has returned. */
extern struct config cfg;

/*
 * Fills cfg from argv and the environment. Exits with status 2 and a message
 * naming the option on a bad option or value; exits 0 for --help and
 * --version.
 */
void cfg_parse(int argc, char **argv);

/* Parses "ADDR:PORT", "[V6]:PORT" or ":PORT" (all addresses). Returns 0 or
 * -1. Only numeric addresses are accepted. */
int cfg_addr_parse(const char *text, struct cfg_addr *out);

/* Parses a byte count with an optional k, m or g suffix (powers of 1024),
 * as nginx's client_max_body_size takes it. Returns 0 or -1. */
int cfg_size_parse(const char *text, long long *out);

/* Parses "ADDR/BITS" or a bare address (a /32 or /128 network). Returns 0
 * or -1. */
int cfg_cidr_parse(const char *text, struct cfg_cidr *out);

/* Is the numeric address text inside one of the n networks? */
bool cfg_cidr_match(const struct cfg_cidr *nets, size_t n, const char *ip);

#endif

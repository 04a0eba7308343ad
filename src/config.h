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

#endif

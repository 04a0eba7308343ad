/* Turns the watcher's container set and the static --route list into a
 * routing table snapshot. */
#ifndef PORTICO_ROUTES_H
#define PORTICO_ROUTES_H

#include <stddef.h>

#include "route.h"
#include "watcher.h"

/* Builds a snapshot from the containers (may be NULL/0) and cfg.routes. */
struct route_table *routes_build(struct watch_container *const *list,
                                 size_t n);

/*
 * Passes the certificates to obtain to the ACME client: every routed name
 * of a running container unless it opts out (one certificate per name, or
 * one for all of its names with portico.tls.san or LETSENCRYPT_HOST), and
 * every static route's host.
 */
void routes_request_certificates(struct watch_container *const *list,
                                 size_t n);

/* Fills an upstream from a numeric address and port. Returns 0, or -1 when
 * the address is not a numeric IPv4 or IPv6 address. */
int routes_make_upstream(struct route_upstream *up, const char *ip, int port,
                         bool tls);

#endif

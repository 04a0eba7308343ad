/* HTTP/1.1 reverse proxying on libevent, one event loop per worker thread. */
#ifndef PORTICO_PROXY_H
#define PORTICO_PROXY_H

/*
 * Binds the listeners in cfg (one SO_REUSEPORT socket per worker) and starts
 * cfg.workers threads. Returns 0, or -1 with a logged error when a listener
 * cannot be bound.
 */
int proxy_start(void);

struct acme_cert_info;

/* Calls fn once for each certificate loaded from --certs-dir, described
 * with the ACME client's record type (no renewal fields). fn must not
 * call proxy_* functions; the info is valid only during the call. */
void proxy_certs_list(void (*fn)(const struct acme_cert_info *info,
                                 void *arg),
                      void *arg);

/*
 * Stops accepting, closes idle connections, lets requests in flight finish
 * for up to cfg.shutdown_timeout seconds, then closes the rest and joins
 * the workers.
 */
void proxy_stop(void);

#endif

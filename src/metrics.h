/*
 * Prometheus metrics. Proxy workers count into their own slots with relaxed
 * atomic adds (no lock, no allocation); a scrape sums the slots. Calls from
 * other threads (watcher, ACME) go to shared atomic counters.
 */
#ifndef PORTICO_METRICS_H
#define PORTICO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* Distinct host label values; hosts beyond these are counted as "other". */
#define METRICS_MAX_HOSTS 256

/* Allocates the per-worker slots. Call once before the workers start.
 * Returns 0 or -1 (logged). */
int metrics_init(int n_workers);
void metrics_free(void);

/*
 * Adds a routed host to the host label table. A host keeps its slot for the
 * life of the process, so its counters never go backwards. Called from one
 * thread only (the one that publishes routes).
 */
void metrics_add_host(const char *host);

/* Proxy workers. host is the Host header as received (any case, optional
 * port); status 0 means no response was sent. */
void metrics_request_done(int worker, const char *host, int status,
                          double seconds);
void metrics_connection_open(int worker);
void metrics_connection_close(int worker);
void metrics_upstream_connect_failed(int worker);
void metrics_tls_handshake(int worker, bool ok);

/* Watcher thread. Container events that can change routing start the
 * event-to-route latency clock, which metrics_routes_published stops. */
void metrics_docker_event(const char *type, const char *action);
void metrics_docker_reconnect(void);
void metrics_routes_published(void);

/* ACME workers: one call per finished order. */
void metrics_acme_order(bool valid);

/* Values computed at scrape time by the caller. */
struct metrics_cert {
    const char *name;
    time_t not_after;
};

struct metrics_gauges {
    size_t routes;
    size_t upstreams;
    const struct metrics_cert *certs;
    size_t n_certs;
};

/* Writes every metric in the Prometheus text format, version 0.0.4. */
void metrics_render(FILE *out, const struct metrics_gauges *g);

#endif

/*
 * The admin HTTP server (libmicrohttpd, on its own thread): health and
 * readiness probes, JSON views of routes, certificates, containers and
 * recent errors, Prometheus metrics and the dashboard page.
 */
#ifndef PORTICO_ADMIN_H
#define PORTICO_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "watcher.h"

/* Starts the server on cfg.admin_listen unless it is off. Returns 0 or -1
 * (logged). */
int admin_start(void);
void admin_stop(void);

/* Marks the engine as synced at least once: /readyz returns 200 from now on. */
void admin_set_synced(void);

/* Stores a summary of every container the watcher has seen, for
 * /api/v1/containers. Called on the watcher thread. */
void admin_set_containers(struct watch_container *const *list, size_t n);

#endif

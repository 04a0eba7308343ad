/*
 * A libcurl multi handle driven by a libevent event_base, so transfers run
 * concurrently on that base's thread without blocking it.
 */
#ifndef PORTICO_CURLEV_H
#define PORTICO_CURLEV_H

#include <curl/curl.h>
#include <event2/event.h>

struct curlev;

/* Called when a transfer ends, after the easy handle was removed from the
 * multi handle; the callee owns the easy handle again. */
typedef void (*curlev_done_cb)(CURL *easy, CURLcode result, void *arg);

/* max_connections caps open connections; further transfers wait in a
 * queue. 0 means no cap. */
struct curlev *curlev_new(struct event_base *base, long max_connections,
                          curlev_done_cb done, void *arg);

/* Frees the multi handle. The caller removes its transfers first, with
 * curlev_remove, because libcurl 7.88 cannot list them. */
void curlev_free(struct curlev *m);

/* Starts a transfer. Returns 0 or -1 (logged). */
int curlev_add(struct curlev *m, CURL *easy);

/* Aborts a transfer without calling `done`; the caller owns easy again. */
void curlev_remove(struct curlev *m, CURL *easy);

#endif

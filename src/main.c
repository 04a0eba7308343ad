#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "acme.h"
#include "admin.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "route.h"
#include "routes.h"
#include "watcher.h"

static atomic_bool synced_once;

static bool acme_running;

/* Gives every routed host its own metrics label, then publishes. */
static void
publish_routes(struct route_table *t)
{
    for (size_t i = 0; t != NULL && i < route_table_count(t); i++)
        metrics_add_host(route_table_at(t, i)->host);
    route_publish(t);
    metrics_routes_published();
}

static void
on_containers_changed(void *arg, struct watch_container *const *list, size_t n)
{
    publish_routes(routes_build(list, n));
    admin_set_containers(list, n);
    if (acme_running)
        routes_request_certificates(list, n);
}

/* Starts the ACME client when HTTPS is served and ACME is on. The names
 * to certify arrive with the first container list. */
static int
start_acme(void)
{
    struct acme_config c = {
        .directory_url = cfg.acme_directory,
        .ca_file = cfg.acme_ca_file,
        .email = cfg.acme_email,
        .challenge = (enum acme_challenge)cfg.acme_challenge,
        .key_type = (enum acme_key_type)cfg.key_type,
        .eab_kid = cfg.acme_eab_kid,
        .eab_hmac_key = cfg.acme_eab_hmac_key,
        .renew_before_days = cfg.renew_before_days,
        .state_dir = cfg.state_dir,
        .dns = {
            .rfc2136_server = cfg.dns_rfc2136_server.text,
            .rfc2136_zone = cfg.dns_rfc2136_zone,
            .tsig_key_name = cfg.dns_rfc2136_key_name,
            .tsig_secret = cfg.dns_rfc2136_key_secret,
            .tsig_secret_file = cfg.dns_rfc2136_key_secret_file,
            .tsig_key_file = cfg.dns_rfc2136_key_file,
            .tsig_algorithm = cfg.dns_rfc2136_algorithm,
            .hook = cfg.dns_hook,
            .resolver = cfg.dns_resolver.text,
            .propagation_timeout = cfg.dns_propagation_timeout,
        },
    };

    if (cfg.acme_off || cfg.https_listen.len == 0)
        return 0;
    routes_request_certificates(NULL, 0);
    if (acme_start(&c) != 0)
        return -1;
    acme_running = true;
    return 0;
}

static void
on_synced(void *arg)
{
    if (!atomic_exchange(&synced_once, true)) {
        log_info("main", "first sync with the engine done", "");
        admin_set_synced();
    }
}

static int
print_routes(void)
{
    struct watch_container **list = NULL;
    struct route_table *t;
    size_t n = 0;

    if (watch_list_once(&list, &n) != 0) {
        fprintf(stderr, "portico: cannot list containers from %s (see the "
                        "log above)\n", cfg.docker_host);
        return 1;
    }
    t = routes_build(list, n);
    route_table_print(t, stdout);
    route_table_free(t);
    for (size_t i = 0; i < n; i++)
        watch_container_free(list[i]);
    free(list);
    return 0;
}

/* Lifts the soft descriptor limit to the hard one, because every proxied
 * request uses two sockets. */
static void
raise_nofile_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("main", "cannot raise the open file limit", "error=%s",
                 strerror(errno));
}

/* Waits for SIGTERM or SIGINT, reopening the access log on SIGHUP and
 * freeing old routing snapshots once a second. */
static void
wait_for_shutdown(const sigset_t *signals)
{
    struct timespec tick = {1, 0};

    for (;;) {
        int sig = sigtimedwait(signals, NULL, &tick);

        if (sig == SIGHUP) {
            log_notice("main", "reopening the access log", "");
            log_access_reopen();
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_notice("main", "shutting down", "signal=%s",
                       sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        route_reclaim();
    }
}

int
main(int argc, char **argv)
{
    static const struct watch_ops ops = {on_containers_changed, on_synced};
    struct watcher *w;
    sigset_t signals;

    cfg_parse(argc, argv);
    log_init(cfg.log_level, cfg.log_format);
    signal(SIGPIPE, SIG_IGN);
    if (cfg.print_routes)
        return print_routes();
    if (log_access_open(cfg.access_log) != 0)
        return 1;
    raise_nofile_limit();

    /* Worker threads inherit this mask, so only this thread takes them. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    /* Static routes are served before the engine is reached. */
    publish_routes(routes_build(NULL, 0));
    if (metrics_init(cfg.workers) != 0 || proxy_start() != 0)
        return 1;
    if (admin_start() != 0 || start_acme() != 0) {
        admin_stop();
        proxy_stop();
        return 1;
    }
    w = watch_new(&ops, NULL);
    if (w == NULL || watch_start(w) != 0) {
        admin_stop();
        proxy_stop(); /* the watcher logged why */
        return 1;
    }
    log_notice("main", "portico started",
               "version=%s http=%s docker=%s workers=%d resync_interval=%ds",
               PORTICO_VERSION, cfg.http_listen.text, cfg.docker_host,
               cfg.workers, cfg.resync_interval);
    wait_for_shutdown(&signals);
    watch_free(w);
    admin_stop();
    if (acme_running)
        acme_stop();
    proxy_stop();
    route_shutdown();
    log_notice("main", "stopped", "");
    return 0;
}

/*
 * Certificates from --certs-dir in nginx-proxy's layout: <host>.crt with
 * <host>.key, and an optional <host>.chain.pem appended to the chain. A
 * thread polls the files and replaces a host's SSL_CTX when they change.
 * A pair that fails to load is logged once, and the previous context stays.
 * Handshakes read the table under a read lock and take a reference.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "acme.h"
#include "log.h"
#include "proxy.h"
#include "proxy_int.h"

/* Seconds between two scans of the directory. */
#ifndef PROXY_CERTS_POLL_INTERVAL
#define PROXY_CERTS_POLL_INTERVAL 2
#endif

/* Identity, size and mtime of a file at the last load attempt. A change in
 * any of them reloads the host. */
struct file_stamp {
    bool exists;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct cert_entry {
    char host[256];
    SSL_CTX *ctx; /* NULL until the files load once */
    struct file_stamp crt, key, chain;
    bool seen; /* found by the scan in progress */
};

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cert_entry **entries;
static size_t n_entries, cap_entries;

static char *dir;
static pthread_t thread;
static bool thread_started;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static bool stopping;

int
proxy_certs_host_from_file(const char *file, char *host, size_t cap)
{
    size_t len = strlen(file);
    size_t n;

    if (len <= 4 || strcmp(file + len - 4, ".crt") != 0)
        return -1;
    n = len - 4;
    if (n >= cap || n > 253 || file[0] == '.' || file[n - 1] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = file[i];
        if (!(ch == '-' || ch == '.' || ch == '_' ||
              (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
              (ch >= 'A' && ch <= 'Z')))
            return -1;
        host[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    host[n] = '\0';
    /* nginx-proxy's fallback certificate; --default-cert serves that role. */
    if (strcmp(host, "default") == 0)
        return -1;
    return 0;
}

static void
stamp_file(const char *path, struct file_stamp *s)
{
    struct stat st;

    memset(s, 0, sizeof *s);
    if (stat(path, &st) != 0)
        return;
    s->exists = true;
    s->ino = st.st_ino;
    s->size = st.st_size;
    s->mtime = st.st_mtim;
}

static bool
stamp_eq(const struct file_stamp *a, const struct file_stamp *b)
{
    return a->exists == b->exists && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static time_t
asn1_time_to_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

void
proxy_certs_list(void (*fn)(const struct acme_cert_info *info, void *arg),
                 void *arg)
{
    pthread_rwlock_rdlock(&lock);
    for (size_t i = 0; i < n_entries; i++) {
        const struct cert_entry *e = entries[i];
        X509 *leaf = e->ctx ? SSL_CTX_get0_certificate(e->ctx) : NULL;
        const char *names[1] = {e->host};
        char issuer[256] = "";
        struct acme_cert_info info = {
            .id = e->host,
            .names = names,
            .n_names = 1,
            .issuer = issuer,
            .last_error = "",
        };

        if (leaf != NULL) {
            X509_NAME_oneline(X509_get_issuer_name(leaf), issuer,
                              sizeof(issuer));
            info.has_cert = true;
            info.not_after = asn1_time_to_unix(X509_get0_notAfter(leaf));
        }
        fn(&info, arg);
    }
    pthread_rwlock_unlock(&lock);
}

static struct cert_entry *
find_entry(const char *host)
{
    for (size_t i = 0; i < n_entries; i++)
        if (strcasecmp(entries[i]->host, host) == 0)
            return entries[i];
    return NULL;
}

SSL_CTX *
proxy_certs_get(const char *name)
{
    SSL_CTX *ctx = NULL;
    struct cert_entry *e;

    pthread_rwlock_rdlock(&lock);
    e = find_entry(name);
    if (e != NULL && e->ctx != NULL && SSL_CTX_up_ref(e->ctx))
        ctx = e->ctx;
    pthread_rwlock_unlock(&lock);
    return ctx;
}

static struct cert_entry *
add_entry(const char *host)
{
    struct cert_entry *e = calloc(1, sizeof *e);

    if (e == NULL)
        return NULL;
    snprintf(e->host, sizeof e->host, "%s", host);
    pthread_rwlock_wrlock(&lock);
    if (n_entries == cap_entries) {
        size_t cap = cap_entries ? 2 * cap_entries : 16;
        struct cert_entry **p = realloc(entries, cap * sizeof *p);
        if (p == NULL) {
            pthread_rwlock_unlock(&lock);
            free(e);
            return NULL;
        }
        entries = p;
        cap_entries = cap;
    }
    entries[n_entries++] = e;
    pthread_rwlock_unlock(&lock);
    return e;
}

/* Loads the files of one host when they changed since the last attempt.
 * Only the scanning thread writes entries, so reading them needs no lock. */
static void
scan_host(const char *host)
{
    char crt[PATH_MAX], key[PATH_MAX], chain[PATH_MAX];
    char error[PATH_MAX + 256];
    struct file_stamp s_crt, s_key, s_chain;
    struct cert_entry *e = find_entry(host);
    SSL_CTX *ctx, *old;

    snprintf(crt, sizeof crt, "%s/%s.crt", dir, host);
    snprintf(key, sizeof key, "%s/%s.key", dir, host);
    snprintf(chain, sizeof chain, "%s/%s.chain.pem", dir, host);
    stamp_file(crt, &s_crt);
    stamp_file(key, &s_key);
    stamp_file(chain, &s_chain);
    if (e == NULL && (e = add_entry(host)) == NULL)
        return;
    e->seen = true;
    if (stamp_eq(&e->crt, &s_crt) && stamp_eq(&e->key, &s_key) &&
        stamp_eq(&e->chain, &s_chain))
        return;
    e->crt = s_crt;
    e->key = s_key;
    e->chain = s_chain;
    ctx = proxy_tls_load_ctx(crt, key, s_chain.exists ? chain : NULL, error,
                             sizeof error);
    if (ctx == NULL) {
        log_warn("tls", "certificate pair invalid",
                 "host=%s error=%s action=%s", host, error,
                 e->ctx ? "keeping the previous one" : "not served");
        return;
    }
    pthread_rwlock_wrlock(&lock);
    old = e->ctx;
    e->ctx = ctx;
    pthread_rwlock_unlock(&lock);
    log_notice("tls", old ? "certificate reloaded" : "certificate loaded",
               "host=%s file=%s", host, crt);
    SSL_CTX_free(old);
}

/* Drops the hosts whose certificate file is gone. */
static void
sweep_entries(void)
{
    size_t i = 0;

    while (i < n_entries) {
        struct cert_entry *e = entries[i];
        if (e->seen) {
            e->seen = false;
            i++;
            continue;
        }
        pthread_rwlock_wrlock(&lock);
        entries[i] = entries[--n_entries];
        pthread_rwlock_unlock(&lock);
        if (e->ctx != NULL)
            log_notice("tls", "certificate removed", "host=%s", e->host);
        SSL_CTX_free(e->ctx);
        free(e);
    }
}

static int
scan_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char host[256];

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (proxy_certs_host_from_file(de->d_name, host, sizeof host) == 0)
            scan_host(host);
    closedir(d);
    sweep_entries();
    return 0;
}

static void *
run_poller(void *arg)
{
    struct timespec until;
    bool dir_missing = false;

    pthread_mutex_lock(&stop_lock);
    while (!stopping) {
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += PROXY_CERTS_POLL_INTERVAL;
        pthread_cond_timedwait(&stop_cond, &stop_lock, &until);
        if (stopping)
            break;
        pthread_mutex_unlock(&stop_lock);
        if (scan_dir() == 0) {
            dir_missing = false;
        } else if (!dir_missing) {
            log_warn("tls", "certificate directory unreadable",
                     "dir=%s error=%s", dir, strerror(errno));
            dir_missing = true;
        }
        pthread_mutex_lock(&stop_lock);
    }
    pthread_mutex_unlock(&stop_lock);
    return NULL;
}

int
proxy_certs_start(const char *path)
{
    dir = strdup(path);
    if (dir == NULL)
        return -1;
    if (scan_dir() < 0) {
        log_error("tls", "certificate directory unreadable", "dir=%s error=%s",
                  path, strerror(errno));
        goto fail;
    }
    log_info("tls", "certificate directory loaded", "dir=%s hosts=%zu", path,
             n_entries);
    stopping = false;
    if (pthread_create(&thread, NULL, run_poller, NULL) != 0) {
        log_error("tls", "certificate poller start failed", "dir=%s", path);
        goto fail;
    }
    thread_started = true;
    return 0;

fail:
    proxy_certs_stop();
    return -1;
}

void
proxy_certs_stop(void)
{
    if (thread_started) {
        pthread_mutex_lock(&stop_lock);
        stopping = true;
        pthread_cond_signal(&stop_cond);
        pthread_mutex_unlock(&stop_lock);
        pthread_join(thread, NULL);
        thread_started = false;
    }
    for (size_t i = 0; i < n_entries; i++) {
        SSL_CTX_free(entries[i]->ctx);
        free(entries[i]);
    }
    free(entries);
    entries = NULL;
    n_entries = cap_entries = 0;
    free(dir);
    dir = NULL;
}

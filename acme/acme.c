/*
 * Scheduling: a fixed pool of cfg.max_orders worker threads shares one list
 * of certificates. A worker takes the certificate that is due first, runs
 * its order with blocking libcurl transfers (order.c) and records the
 * outcome. The other workers keep going, so a failing name never delays
 * the rest.
 * A failure sets a per-certificate backoff (60 s doubling to 24 h, or the
 * CA's Retry-After when longer) that is saved in certs/<id>.json so a
 * restart keeps it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "acme_dns.h"
#include "acme_int.h"
#include "log.h"
#include "metrics.h"

#define DEFAULT_MAX_ORDERS 4
#define MAX_IDLE_WAIT 3600

struct cert_rec {
    char id[256];
    char **names; /* requested names, names[0] gives the id */
    size_t n_names;
    char *email;
    int challenge; /* enum acme_challenge or ACME_CHALLENGE_CONFIG */
    bool requested;
    bool in_flight;
    struct acme_bundle bundle; /* the certificate in the store, if any */
    bool have_bundle;
    time_t next_attempt; /* 0: no backoff */
    int attempts;        /* consecutive failures */
    char last_error[512];
};

struct acme_state acme_g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

static struct cert_rec **certs;
static size_t n_certs;
static pthread_t *workers;
static int n_workers;

bool
acme_stopping(void)
{
    bool s;

    pthread_mutex_lock(&acme_g.lock);
    s = acme_g.stopping;
    pthread_mutex_unlock(&acme_g.lock);
    return s;
}

int
acme_sleep(long seconds)
{
    return acme_sleep_ms(seconds * 1000);
}

int
acme_sleep_ms(long ms)
{
    struct timespec until;
    int rc;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&acme_g.lock);
    while (!acme_g.stopping &&
           pthread_cond_timedwait(&acme_g.cond, &acme_g.lock, &until) == 0)
        ;
    rc = acme_g.stopping ? -1 : 0;
    pthread_mutex_unlock(&acme_g.lock);
    return rc;
}

static int
make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        log_error("acme", "state directory not created", "path=%s error=%s",
                  path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Accounts: accounts/<id>/key.pem and account.json {directory, url}. */

static void
load_account_url(struct acme_account *a, const char *dir)
{
    char path[4096];
    char *text;
    cJSON *j;

    snprintf(path, sizeof(path), "%.4000s/account.json", dir);
    text = acme_store_read(path, NULL);
    j = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (j == NULL)
        return;
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(j, "directory"));
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(j, "url"));
    if (d != NULL && url != NULL && strcmp(d, acme_g.cfg.directory_url) == 0)
        a->url = strdup(url);
    cJSON_Delete(j);
}

static int
load_account_key(struct acme_account *a, const char *dir)
{
    char path[4096], *text;
    BIO *bio;

    snprintf(path, sizeof(path), "%.4000s/key.pem", dir);
    text = acme_store_read(path, NULL);
    if (text != NULL) {
        bio = BIO_new_mem_buf(text, -1);
        a->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        free(text);
        if (a->key == NULL) {
            acme_log_ssl("account key unreadable", path);
            return -1;
        }
        a->key_existed = true;
        return 0;
    }
    a->key = acme_key_new(ACME_KEY_EC256);
    if (a->key == NULL)
        return -1;
    bio = BIO_new(BIO_s_mem());
    if (bio != NULL &&
        PEM_write_bio_PrivateKey(bio, a->key, NULL, NULL, 0, NULL, NULL)) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        int rc = acme_store_write(dir, "key.pem", data, (size_t)n, 0600);
        BIO_free(bio);
        return rc;
    }
    BIO_free(bio);
    return -1;
}

static struct acme_account *
create_account(const char *email)
{
    struct acme_account *a = calloc(1, sizeof(*a));
    char id[256], dir[4096];

    if (a == NULL)
        return NULL;
    if (email != NULL)
        acme_store_cert_id(email, id, sizeof(id));
    else
        snprintf(id, sizeof(id), "default");
    a->id = strdup(id);
    a->email = email ? strdup(email) : NULL;
    pthread_mutex_init(&a->lock, NULL);
    snprintf(dir, sizeof(dir), "%s/%s", acme_g.accounts_dir, id);
    if (make_dir(dir) != 0 || load_account_key(a, dir) != 0) {
        EVP_PKEY_free(a->key);
        free(a->id);
        free(a->email);
        free(a);
        return NULL;
    }
    load_account_url(a, dir);
    return a;
}

struct acme_account *
acme_account_get(const char *email)
{
    struct acme_account *a = NULL, **grown;

    if (email == NULL)
        email = acme_g.cfg.email;
    pthread_mutex_lock(&acme_g.lock);
    for (size_t i = 0; i < acme_g.n_accounts && a == NULL; i++) {
        const char *e = acme_g.accounts[i]->email;
        if ((e == NULL && email == NULL) ||
            (e != NULL && email != NULL && strcasecmp(e, email) == 0))
            a = acme_g.accounts[i];
    }
    if (a == NULL && (a = create_account(email)) != NULL) {
        grown = realloc(acme_g.accounts,
                        (acme_g.n_accounts + 1) * sizeof(*grown));
        if (grown != NULL) {
            acme_g.accounts = grown;
            acme_g.accounts[acme_g.n_accounts++] = a;
        }
    }
    pthread_mutex_unlock(&acme_g.lock);
    return a;
}

int
acme_account_save(struct acme_account *a)
{
    cJSON *j = cJSON_CreateObject();
    char dir[4096], *text;
    int rc = -1;

    snprintf(dir, sizeof(dir), "%s/%s", acme_g.accounts_dir, a->id);
    cJSON_AddStringToObject(j, "directory", acme_g.cfg.directory_url);
    cJSON_AddStringToObject(j, "url", a->url);
    text = cJSON_Print(j);
    if (text != NULL)
        rc = acme_store_write(dir, "account.json", text, strlen(text), 0600);
    free(text);
    cJSON_Delete(j);
    return rc;
}

/* Certificate records. The caller holds acme_g.lock. */

static struct cert_rec *
find_cert(const char *id)
{
    for (size_t i = 0; i < n_certs; i++) {
        if (strcmp(certs[i]->id, id) == 0)
            return certs[i];
    }
    return NULL;
}

static struct cert_rec *
add_cert(const char *id)
{
    struct cert_rec *c = calloc(1, sizeof(*c)), **grown;

    grown = c ? realloc(certs, (n_certs + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        free(c);
        return NULL;
    }
    certs = grown;
    snprintf(c->id, sizeof(c->id), "%s", id);
    certs[n_certs++] = c;
    return c;
}

static void
free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* When the certificate must be renewed: renew_before_days ahead of expiry,
 * or once two thirds of its lifetime have passed. */
static time_t
get_renew_time(const struct acme_bundle *b)
{
    if (acme_g.cfg.renew_before_days > 0)
        return b->not_after - (time_t)acme_g.cfg.renew_before_days * 86400;
    return b->not_after - (b->not_after - b->not_before) / 3;
}

/* Returns when the certificate's next order is due, or 0 for never. */
static time_t
get_due_time(const struct cert_rec *c)
{
    time_t due = 0;

    if (!c->requested || c->in_flight)
        return 0;
    if (c->have_bundle &&
        acme_bundle_covers(&c->bundle, (const char *const *)c->names,
                           c->n_names))
        due = get_renew_time(&c->bundle);
    if (due < c->next_attempt)
        due = c->next_attempt;
    return due > 0 ? due : 1;
}

static void
save_meta(const struct cert_rec *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *names = cJSON_AddArrayToObject(j, "names");
    char name[300], *text;

    for (size_t i = 0; i < c->n_names; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(c->names[i]));
    if (c->have_bundle)
        cJSON_AddNumberToObject(j, "not_after", (double)c->bundle.not_after);
    cJSON_AddNumberToObject(j, "next_attempt", (double)c->next_attempt);
    cJSON_AddNumberToObject(j, "attempts", c->attempts);
    cJSON_AddStringToObject(j, "last_error", c->last_error);
    text = cJSON_Print(j);
    snprintf(name, sizeof(name), "%s.json", c->id);
    if (text != NULL)
        acme_store_write(acme_g.certs_dir, name, text, strlen(text), 0600);
    free(text);
    cJSON_Delete(j);
}

static void
load_meta(struct cert_rec *c)
{
    char path[4096], *text;
    cJSON *j, *n;

    snprintf(path, sizeof(path), "%s/%s.json", acme_g.certs_dir, c->id);
    text = acme_store_read(path, NULL);
    j = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (j == NULL)
        return;
    if (cJSON_IsNumber(n = cJSON_GetObjectItem(j, "next_attempt")))
        c->next_attempt = (time_t)n->valuedouble;
    if (cJSON_IsNumber(n = cJSON_GetObjectItem(j, "attempts")))
        c->attempts = n->valueint;
    if (cJSON_IsString(n = cJSON_GetObjectItem(j, "last_error")))
        snprintf(c->last_error, sizeof(c->last_error), "%s", n->valuestring);
    cJSON_Delete(j);
}

static void
load_cert_file(const char *file)
{
    char path[4096], id[256], err[128];
    struct acme_bundle b;
    struct cert_rec *c;
    size_t len;
    char *pem;

    snprintf(id, sizeof(id), "%.*s", (int)(strlen(file) - 4), file);
    snprintf(path, sizeof(path), "%s/%s", acme_g.certs_dir, file);
    pem = acme_store_read(path, &len);
    if (pem == NULL || acme_bundle_parse(pem, len, &b, err, sizeof(err)) != 0) {
        log_warn("acme", "stored certificate ignored", "path=%s error=%s",
                 path, pem ? err : "unreadable");
        free(pem);
        return;
    }
    free(pem);
    c = find_cert(id);
    if (c == NULL)
        c = add_cert(id);
    if (c == NULL || acme_serve_publish(&b) != 0) {
        acme_bundle_clear(&b);
        return;
    }
    if (c->have_bundle)
        acme_bundle_clear(&c->bundle);
    c->bundle = b;
    c->have_bundle = true;
    load_meta(c);
    log_info("acme", "stored certificate loaded", "id=%s names=%zu "
             "not_after=%ld", id, b.n_names, (long)b.not_after);
}

/* Loads certs/<id>.pem, serves them, and removes leftover temporary files
 * of an interrupted write. */
static void
load_store(void)
{
    DIR *d = opendir(acme_g.certs_dir);
    struct dirent *e;
    char path[4096];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.") != NULL) {
            snprintf(path, sizeof(path), "%s/%s", acme_g.certs_dir,
                     e->d_name);
            unlink(path);
        } else if (e->d_name[0] != '.' && n > 4 &&
                   strcmp(e->d_name + n - 4, ".pem") == 0) {
            load_cert_file(e->d_name);
        }
    }
    closedir(d);
}

/* Copies a record's request so the order runs without the lock. */
static struct acme_job *
copy_job(const struct cert_rec *c)
{
    struct acme_job *j = calloc(1, sizeof(*j));
    char **names = calloc(c->n_names, sizeof(char *));

    if (j == NULL || names == NULL) {
        free(j);
        free(names);
        return NULL;
    }
    for (size_t i = 0; i < c->n_names; i++)
        names[i] = strdup(c->names[i]);
    j->id = strdup(c->id);
    j->names = (const char *const *)names;
    j->n_names = c->n_names;
    j->email = c->email ? strdup(c->email) : NULL;
    j->challenge = c->challenge == ACME_CHALLENGE_CONFIG
                       ? acme_g.cfg.challenge
                       : (enum acme_challenge)c->challenge;
    return j;
}

static void
free_job(struct acme_job *j)
{
    free_names((char **)j->names, j->n_names);
    free((char *)j->id);
    free((char *)j->email);
    free(j);
}

/* Records the outcome of an order. The caller holds acme_g.lock. */
static void
record_outcome(struct cert_rec *c, int rc, struct acme_outcome *out)
{
    long delay;

    c->in_flight = false;
    if (rc == 0) {
        if (c->have_bundle)
            acme_bundle_clear(&c->bundle);
        c->bundle = out->bundle;
        c->have_bundle = true;
        memset(&out->bundle, 0, sizeof(out->bundle));
        c->attempts = 0;
        c->next_attempt = 0;
        c->last_error[0] = '\0';
        metrics_acme_order(true);
        log_info("acme", "certificate issued", "name=%s order=%s "
                 "not_after=%ld", c->names[0], out->order_url,
                 (long)c->bundle.not_after);
        save_meta(c);
        return;
    }
    if (strcmp(out->problem.type, "portico:stopped") == 0)
        return;
    c->attempts++;
    metrics_acme_order(false);
    delay = acme_backoff_delay(c->attempts);
    if (out->retry_after > delay)
        delay = out->retry_after;
    c->next_attempt = time(NULL) + delay;
    snprintf(c->last_error, sizeof(c->last_error), "%s: %s",
             out->problem.type, out->problem.detail);
    log_warn("acme", "order failed", "name=%s order=%s step=%s type=%s "
             "detail=%s retry_in=%lds attempt=%d", c->names[0],
             out->order_url, out->step, out->problem.type,
             out->problem.detail, delay, c->attempts);
    save_meta(c);
}

void
acme_cert_list(void (*fn)(const struct acme_cert_info *info, void *arg),
               void *arg)
{
    pthread_mutex_lock(&acme_g.lock);
    for (size_t i = 0; i < n_certs; i++) {
        const struct cert_rec *c = certs[i];
        struct acme_cert_info info = {
            .id = c->id,
            .names = (const char *const *)c->names,
            .n_names = c->n_names,
            .has_cert = c->have_bundle,
            .issuer = "",
            .next_order = get_due_time(c),
            .attempts = c->attempts,
            .last_error = c->last_error,
        };
        char issuer[256];

        if (c->have_bundle && c->bundle.leaf != NULL) {
            X509_NAME_oneline(X509_get_issuer_name(c->bundle.leaf), issuer,
                              sizeof(issuer));
            info.issuer = issuer;
            info.not_after = c->bundle.not_after;
            if (c->n_names == 0) { /* loaded from disk, not requested */
                info.names = (const char *const *)c->bundle.names;
                info.n_names = c->bundle.n_names;
            }
        }
        fn(&info, arg);
    }
    pthread_mutex_unlock(&acme_g.lock);
}

/* Returns the due certificate with the earliest due time, or NULL and the
 * time the next one is due in *next. The caller holds acme_g.lock. */
static struct cert_rec *
pick_due(time_t now, time_t *next)
{
    struct cert_rec *best = NULL;
    time_t best_due = 0;

    *next = now + MAX_IDLE_WAIT;
    for (size_t i = 0; i < n_certs; i++) {
        time_t due = get_due_time(certs[i]);
        if (due == 0)
            continue;
        if (due <= now && (best == NULL || due < best_due)) {
            best = certs[i];
            best_due = due;
        } else if (due > now && due < *next) {
            *next = due;
        }
    }
    return best;
}

static void *
run_worker(void *arg)
{
    pthread_mutex_lock(&acme_g.lock);
    while (!acme_g.stopping) {
        time_t next;
        struct cert_rec *c = pick_due(time(NULL), &next);
        struct acme_outcome out;
        struct acme_job *job;
        int rc;
        if (c == NULL) {
            struct timespec until = {.tv_sec = next};
            pthread_cond_timedwait(&acme_g.cond, &acme_g.lock, &until);
            continue;
        }
        job = copy_job(c);
        if (job == NULL)
            break;
        c->in_flight = true;
        log_info("acme", "order started", "name=%s names=%zu attempt=%d",
                 c->names[0], c->n_names, c->attempts + 1);
        pthread_mutex_unlock(&acme_g.lock);
        rc = acme_order_run(job, &out);
        free_job(job);
        pthread_mutex_lock(&acme_g.lock);
        record_outcome(c, rc, &out);
        acme_bundle_clear(&out.bundle);
    }
    pthread_mutex_unlock(&acme_g.lock);
    return NULL;
}

/* A DNS name of letter-digit-hyphen labels (RFC 1123 section 2.1). */
static bool
is_valid_name(const char *name)
{
    size_t n = strlen(name), label = 0;

    if (n == 0 || n > 253 || name[n - 1] == '.')
        return false;
    for (const char *p = name; *p; p++) {
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return false;
            label = 0;
        } else if (isalnum((unsigned char)*p) || (*p == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return name[n - 1] != '-';
}

static bool
has_same_names(const struct cert_rec *c, const struct acme_request *r)
{
    if (c->n_names != r->n_names)
        return false;
    for (size_t i = 0; i < r->n_names; i++) {
        if (strcasecmp(c->names[i], r->names[i]) != 0)
            return false;
    }
    return true;
}

/* Checks one request; logs a rejection only when the request is new, so a
 * routing table update does not repeat it. */
static bool
check_request(const struct acme_request *r, bool known)
{
    const char *reason = NULL, *bad = NULL;
    bool dns01 = r->challenge == ACME_CHALLENGE_DNS01 ||
                 (r->challenge == ACME_CHALLENGE_CONFIG &&
                  acme_g.cfg.challenge == ACME_CHALLENGE_DNS01);

    if (r->n_names == 0 || r->n_names > ACME_MAX_NAMES)
        reason = "invalid number of names";
    for (size_t i = 0; reason == NULL && i < r->n_names; i++) {
        const char *name = bad = r->names[i];
        if (strncmp(name, "*.", 2) == 0 && !dns01)
            reason = "wildcard names need the dns-01 challenge";
        else if (strncmp(name, "*.", 2) == 0)
            name += 2;
        if (reason == NULL && !is_valid_name(name))
            reason = "invalid DNS name";
    }
    if (reason != NULL && !known)
        log_warn("acme", "certificate request rejected", "name=%s reason=%s",
                 bad ? bad : "", reason);
    return reason == NULL;
}

static void
update_cert(const struct acme_request *r)
{
    char id[256];
    struct cert_rec *c;
    bool known;

    acme_store_cert_id(r->names[0], id, sizeof(id));
    c = find_cert(id);
    known = c != NULL && c->names != NULL && has_same_names(c, r);
    if (!check_request(r, known))
        return;
    if (c == NULL) {
        c = add_cert(id);
        if (c == NULL)
            return;
        if (acme_g.certs_dir != NULL)
            load_meta(c);
    }
    if (!known) {
        free_names(c->names, c->n_names);
        c->names = calloc(r->n_names, sizeof(char *));
        c->n_names = 0;
        for (size_t i = 0; c->names && i < r->n_names; i++) {
            char *n = strdup(r->names[i]);
            for (char *p = n; p && *p; p++)
                *p = (char)tolower((unsigned char)*p);
            c->names[c->n_names++] = n;
        }
    }
    free(c->email);
    c->email = r->email ? strdup(r->email) : NULL;
    c->challenge = r->challenge;
    c->requested = c->n_names > 0;
}

void
acme_set_wanted(const struct acme_request *reqs, size_t n)
{
    pthread_mutex_lock(&acme_g.lock);
    for (size_t i = 0; i < n_certs; i++)
        certs[i]->requested = false;
    for (size_t i = 0; i < n; i++) {
        if (reqs[i].n_names > 0)
            update_cert(&reqs[i]);
    }
    pthread_cond_broadcast(&acme_g.cond);
    pthread_mutex_unlock(&acme_g.lock);
}

static char *
copy_string(const char *s)
{
    return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

static int
copy_config(const struct acme_config *config)
{
    char path[4096];

    if (config->state_dir == NULL) {
        log_error("acme", "state directory not set", "%s", "");
        return -1;
    }
    acme_g.cfg = *config;
    acme_g.cfg.directory_url = copy_string(config->directory_url);
    if (acme_g.cfg.directory_url == NULL)
        acme_g.cfg.directory_url = strdup(ACME_DEFAULT_DIRECTORY);
    acme_g.cfg.ca_file = copy_string(config->ca_file);
    acme_g.cfg.email = copy_string(config->email);
    acme_g.cfg.eab_kid = copy_string(config->eab_kid);
    acme_g.cfg.eab_hmac_key = copy_string(config->eab_hmac_key);
    acme_g.cfg.state_dir = strdup(config->state_dir);
    if (acme_g.cfg.max_orders <= 0)
        acme_g.cfg.max_orders = DEFAULT_MAX_ORDERS;
    if (acme_dns_configure(&config->dns) != 0)
        return -1;
    if (config->challenge == ACME_CHALLENGE_DNS01 && !acme_dns_available()) {
        log_error("acme", "dns-01 challenge without a DNS provider",
                  "expected=%s", "--dns-rfc2136-server or --dns-hook");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/certs", config->state_dir);
    acme_g.certs_dir = strdup(path);
    snprintf(path, sizeof(path), "%s/accounts", config->state_dir);
    acme_g.accounts_dir = strdup(path);
    if (make_dir(config->state_dir) != 0 || make_dir(acme_g.certs_dir) != 0 ||
        make_dir(acme_g.accounts_dir) != 0)
        return -1;
    return 0;
}

int
acme_start(const struct acme_config *config)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (copy_config(config) != 0)
        return -1;
    acme_g.stopping = false;
    pthread_mutex_lock(&acme_g.lock);
    load_store();
    /* Requests made before acme_start get their saved schedule now. */
    for (size_t i = 0; i < n_certs; i++) {
        if (!certs[i]->have_bundle)
            load_meta(certs[i]);
    }
    pthread_mutex_unlock(&acme_g.lock);
    workers = calloc((size_t)acme_g.cfg.max_orders, sizeof(pthread_t));
    if (workers == NULL)
        return -1;
    for (n_workers = 0; n_workers < acme_g.cfg.max_orders; n_workers++) {
        if (pthread_create(&workers[n_workers], NULL, run_worker, NULL) != 0) {
            log_error("acme", "worker thread not started", "error=%s",
                      strerror(errno));
            break;
        }
    }
    log_info("acme", "started", "directory=%s state_dir=%s workers=%d "
             "certificates=%zu", acme_g.cfg.directory_url,
             acme_g.cfg.state_dir, n_workers, n_certs);
    return n_workers > 0 ? 0 : -1;
}

static void
free_state(void)
{
    for (size_t i = 0; i < n_certs; i++) {
        free_names(certs[i]->names, certs[i]->n_names);
        free(certs[i]->email);
        acme_bundle_clear(&certs[i]->bundle);
        free(certs[i]);
    }
    free(certs);
    certs = NULL;
    n_certs = 0;
    for (size_t i = 0; i < acme_g.n_accounts; i++) {
        struct acme_account *a = acme_g.accounts[i];
        EVP_PKEY_free(a->key);
        free(a->id);
        free(a->email);
        free(a->url);
        pthread_mutex_destroy(&a->lock);
        free(a);
    }
    free(acme_g.accounts);
    acme_g.accounts = NULL;
    acme_g.n_accounts = 0;
    for (size_t i = 0; i < acme_g.n_nonces; i++)
        free(acme_g.nonces[i]);
    acme_g.n_nonces = 0;
}

void
acme_stop(void)
{
    pthread_mutex_lock(&acme_g.lock);
    acme_g.stopping = true;
    pthread_cond_broadcast(&acme_g.cond);
    pthread_mutex_unlock(&acme_g.lock);
    for (int i = 0; i < n_workers; i++)
        pthread_join(workers[i], NULL);
    free(workers);
    workers = NULL;
    n_workers = 0;
    free_state();
    free(acme_g.new_nonce_url);
    free(acme_g.new_account_url);
    free(acme_g.new_order_url);
    acme_g.new_nonce_url = acme_g.new_account_url = NULL;
    acme_g.new_order_url = NULL;
    free((char *)acme_g.cfg.directory_url);
    free((char *)acme_g.cfg.ca_file);
    free((char *)acme_g.cfg.email);
    free((char *)acme_g.cfg.eab_kid);
    free((char *)acme_g.cfg.eab_hmac_key);
    free((char *)acme_g.cfg.state_dir);
    free(acme_g.certs_dir);
    free(acme_g.accounts_dir);
    memset(&acme_g.cfg, 0, sizeof(acme_g.cfg));
    acme_challenges_clear();
    acme_dns_clear();
    acme_serve_clear();
}

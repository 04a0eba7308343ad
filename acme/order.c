/*
 * One certificate order (RFC 8555 section 7.4) as an explicit state machine:
 * each state is one request/response pair on one protocol resource, and
 * run_order() advances the state, retrying with a logged reason, delay and
 * count. Requests are blocking libcurl easy transfers on the calling worker
 * thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "acme_dns.h"
#include "acme_int.h"
#include "log.h"

#define MAX_TRANSPORT_RETRIES 3
#define MAX_NONCE_RETRIES 10
#define MAX_POLLS 60
/* Without Retry-After, polls start 250 ms after the challenge or finalize
 * request and double up to 2 s: a CA such as Pebble answers within
 * milliseconds, and Let's Encrypt usually within a few seconds. */
#define FIRST_POLL_MS 250
#define DEFAULT_POLL_MS 2000
#define MAX_POLL_MS 60000

enum order_state {
    ST_DIRECTORY,
    ST_NONCE,
    ST_ACCOUNT,
    ST_NEW_ORDER,
    ST_AUTHZ,
    ST_CHALLENGE,
    ST_POLL_AUTHZ,
    ST_FINALIZE,
    ST_POLL_ORDER,
    ST_DOWNLOAD,
    ST_CHECK,
    ST_STORE,
    ST_DONE,
    ST_FAILED,
};

/* What a response handler asks of the driver. */
enum step_result {
    STEP_NEXT, /* o->state was advanced */
    STEP_POLL, /* same request again after o->delay seconds */
    STEP_FAIL, /* o->out->problem is filled */
};

enum http_method {
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST_JWS, /* signed, with kid unless use_jwk */
};

struct http_req {
    enum http_method method;
    char url[1024];
    char *payload; /* JSON, NULL for POST-as-GET; owned */
    bool use_jwk;
    bool accept_pem;
};

struct http_res {
    long status;
    char *body;
    size_t len;
    char location[1024];
    char retry_after[1024];
};

struct acme_order {
    const struct acme_job *job;
    struct acme_outcome *out;
    struct acme_account *account;
    enum order_state state;
    CURL *curl;
    char err[CURL_ERROR_SIZE];
    bool lookup_done; /* onlyReturnExisting was tried */
    cJSON *authzs;    /* authorization URLs of the order */
    int authz_index;
    char authz_name[256];
    char token[256];  /* set while a challenge response is installed */
    char *dns_value;  /* DNS-01 TXT value while the record exists */
    char challenge_url[1024];
    char finalize_url[1024];
    char cert_url[1024];
    EVP_PKEY *key;
    char *chain;
    size_t chain_len;
    long delay_ms; /* before the next poll */
};

static long next_poll_delay(const struct acme_order *o,
                            const struct http_res *r);

struct step {
    const char *name;
    /* Fills the request; returns 1 to skip the request (state advanced). */
    int (*request)(struct acme_order *o, struct http_req *rq);
    enum step_result (*response)(struct acme_order *o, struct http_res *r);
};

static void
set_problem(struct acme_order *o, const char *type, const char *detail)
{
    struct acme_problem *p = &o->out->problem;

    snprintf(p->type, sizeof(p->type), "%s", type);
    snprintf(p->detail, sizeof(p->detail), "%.255s", detail);
}

static enum step_result
fail_response(struct acme_order *o, struct http_res *r)
{
    char detail[64];

    if (r->status >= 400 && acme_problem_parse(r->body, &o->out->problem) == 0)
        return STEP_FAIL;
    snprintf(detail, sizeof(detail), "unexpected HTTP status %ld", r->status);
    set_problem(o, "portico:unexpectedResponse", detail);
    return STEP_FAIL;
}

static cJSON *
parse_body(struct acme_order *o, struct http_res *r)
{
    cJSON *j = r->body ? cJSON_Parse(r->body) : NULL;

    if (j == NULL)
        set_problem(o, "portico:unexpectedResponse", "invalid JSON body");
    return j;
}

static const char *
get_string(const cJSON *o, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
}

/* Copies an embedded problem document (order or challenge "error"). */
static int
read_error_object(struct acme_order *o, const cJSON *error)
{
    char *text = error ? cJSON_PrintUnformatted(error) : NULL;
    int rc = acme_problem_parse(text, &o->out->problem);

    free(text);
    return rc;
}

/* Nonces: every response's Replay-Nonce goes into a small shared pool. */

static void
put_nonce(const char *nonce)
{
    pthread_mutex_lock(&acme_g.lock);
    if (acme_g.n_nonces == ACME_MAX_NONCES) {
        free(acme_g.nonces[0]);
        memmove(acme_g.nonces, acme_g.nonces + 1,
                (ACME_MAX_NONCES - 1) * sizeof(char *));
        acme_g.n_nonces--;
    }
    acme_g.nonces[acme_g.n_nonces++] = strdup(nonce);
    pthread_mutex_unlock(&acme_g.lock);
}

static char *
take_nonce(void)
{
    char *n = NULL;

    pthread_mutex_lock(&acme_g.lock);
    if (acme_g.n_nonces > 0)
        n = acme_g.nonces[--acme_g.n_nonces];
    pthread_mutex_unlock(&acme_g.lock);
    return n;
}

static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct http_res *r = arg;
    size_t len = size * n, vlen;
    const char *colon = memchr(buf, ':', len), *v;
    char value[1024];

    if (colon == NULL)
        return len;
    v = colon + 1;
    while (v < buf + len && (*v == ' ' || *v == '\t'))
        v++;
    vlen = (size_t)(buf + len - v);
    while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
        vlen--;
    if (vlen >= sizeof(value))
        return len;
    memcpy(value, v, vlen);
    value[vlen] = '\0';
#define IS_HEADER(name)                                                       \
    ((size_t)(colon - buf) == strlen(name) &&                                 \
     strncasecmp(buf, name, strlen(name)) == 0)
    if (IS_HEADER("Replay-Nonce"))
        put_nonce(value);
    else if (IS_HEADER("Location"))
        snprintf(r->location, sizeof(r->location), "%s", value);
    else if (IS_HEADER("Retry-After"))
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", value);
#undef IS_HEADER
    return len;
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
    struct http_res *r = arg;
    size_t len = size * n;
    char *p;

    if (r->len + len > 4 * 1024 * 1024)
        return 0;
    p = realloc(r->body, r->len + len + 1);
    if (p == NULL)
        return 0;
    memcpy(p + r->len, buf, len);
    r->len += len;
    p[r->len] = '\0';
    r->body = p;
    return len;
}

static void
clear_response(struct http_res *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Performs one transfer. Returns 0 when an HTTP response arrived, -1 on a
 * transport error (o->err says why). */
static int
send_http(struct acme_order *o, enum http_method method, const char *url,
          const char *body, bool accept_pem, struct http_res *r)
{
    struct curl_slist *h = NULL;
    CURLcode rc;

    curl_easy_reset(o->curl);
    curl_easy_setopt(o->curl, CURLOPT_URL, url);
    curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, o->err);
    curl_easy_setopt(o->curl, CURLOPT_USERAGENT, "portico/" PORTICO_VERSION);
    curl_easy_setopt(o->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(o->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(o->curl, CURLOPT_PROTOCOLS_STR, "https,http");
    if (acme_g.cfg.ca_file != NULL)
        curl_easy_setopt(o->curl, CURLOPT_CAINFO, acme_g.cfg.ca_file);
    curl_easy_setopt(o->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(o->curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, r);
    if (method == HTTP_HEAD)
        curl_easy_setopt(o->curl, CURLOPT_NOBODY, 1L);
    if (method == HTTP_POST_JWS) {
        h = curl_slist_append(h, "Content-Type: application/jose+json");
        curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, body);
    }
    if (accept_pem)
        h = curl_slist_append(h, "Accept: application/pem-certificate-chain");
    curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, h);
    o->err[0] = '\0';
    rc = curl_easy_perform(o->curl);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        if (o->err[0] == '\0')
            snprintf(o->err, sizeof(o->err), "%s", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &r->status);
    return 0;
}

/* Sends a signed request with a fresh nonce (RFC 8555 section 6.5). */
static int
send_signed(struct acme_order *o, struct http_req *rq, struct http_res *r)
{
    char *nonce = take_nonce(), *jws;
    struct http_res head = {0};
    int rc;

    if (nonce == NULL) {
        rc = send_http(o, HTTP_HEAD, acme_g.new_nonce_url, NULL, false, &head);
        clear_response(&head);
        if (rc != 0)
            return -1;
        nonce = take_nonce();
        if (nonce == NULL) {
            snprintf(o->err, sizeof(o->err), "no Replay-Nonce in response");
            return -1;
        }
    }
    jws = acme_jws(o->account->key, rq->use_jwk ? NULL : o->account->url,
                   nonce, rq->url, rq->payload);
    free(nonce);
    if (jws == NULL) {
        snprintf(o->err, sizeof(o->err), "JWS signing failed");
        return -1;
    }
    rc = send_http(o, HTTP_POST_JWS, rq->url, jws, rq->accept_pem, r);
    free(jws);
    return rc;
}

/* ST_DIRECTORY */

static int
req_directory(struct acme_order *o, struct http_req *rq)
{
    int known;

    pthread_mutex_lock(&acme_g.lock);
    known = acme_g.new_order_url != NULL;
    pthread_mutex_unlock(&acme_g.lock);
    if (known) {
        o->state = ST_NONCE;
        return 1;
    }
    rq->method = HTTP_GET;
    snprintf(rq->url, sizeof(rq->url), "%s", acme_g.cfg.directory_url);
    return 0;
}

static enum step_result
res_directory(struct acme_order *o, struct http_res *r)
{
    cJSON *j = r->status == 200 ? parse_body(o, r) : NULL;
    const char *nonce, *account, *order;

    if (r->status != 200)
        return fail_response(o, r);
    if (j == NULL)
        return STEP_FAIL;
    nonce = get_string(j, "newNonce");
    account = get_string(j, "newAccount");
    order = get_string(j, "newOrder");
    if (nonce == NULL || account == NULL || order == NULL) {
        set_problem(o, "portico:unexpectedResponse",
                    "directory lacks newNonce, newAccount or newOrder");
        cJSON_Delete(j);
        return STEP_FAIL;
    }
    pthread_mutex_lock(&acme_g.lock);
    if (acme_g.new_order_url == NULL) {
        acme_g.new_nonce_url = strdup(nonce);
        acme_g.new_account_url = strdup(account);
        acme_g.new_order_url = strdup(order);
    }
    pthread_mutex_unlock(&acme_g.lock);
    cJSON_Delete(j);
    o->state = ST_NONCE;
    return STEP_NEXT;
}

/* ST_NONCE: primes the pool when it is empty. */

static int
req_nonce(struct acme_order *o, struct http_req *rq)
{
    int have;

    pthread_mutex_lock(&acme_g.lock);
    have = acme_g.n_nonces > 0;
    pthread_mutex_unlock(&acme_g.lock);
    if (have) {
        o->state = ST_ACCOUNT;
        return 1;
    }
    rq->method = HTTP_HEAD;
    snprintf(rq->url, sizeof(rq->url), "%s", acme_g.new_nonce_url);
    return 0;
}

static enum step_result
res_nonce(struct acme_order *o, struct http_res *r)
{
    if (r->status != 200 && r->status != 204)
        return fail_response(o, r);
    o->state = ST_ACCOUNT;
    return STEP_NEXT;
}

/* ST_ACCOUNT: run with o->account->lock held, so one worker creates it. */

static char *
build_account_payload(struct acme_order *o)
{
    struct acme_account *a = o->account;
    cJSON *p = cJSON_CreateObject();
    char *text;

    if (a->key_existed && !o->lookup_done) {
        cJSON_AddTrueToObject(p, "onlyReturnExisting");
    } else {
        cJSON_AddTrueToObject(p, "termsOfServiceAgreed");
        if (a->email != NULL) {
            char contact[512];
            cJSON *c = cJSON_AddArrayToObject(p, "contact");
            snprintf(contact, sizeof(contact), "mailto:%s", a->email);
            cJSON_AddItemToArray(c, cJSON_CreateString(contact));
        }
        if (acme_g.cfg.eab_kid != NULL && acme_g.cfg.eab_hmac_key != NULL) {
            cJSON *eab = acme_eab(a->key, acme_g.cfg.eab_kid,
                                  acme_g.cfg.eab_hmac_key,
                                  acme_g.new_account_url);
            if (eab == NULL) {
                cJSON_Delete(p);
                return NULL;
            }
            cJSON_AddItemToObject(p, "externalAccountBinding", eab);
        }
    }
    text = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return text;
}

static int
req_account(struct acme_order *o, struct http_req *rq)
{
    if (o->account->url != NULL) {
        o->state = ST_NEW_ORDER;
        return 1;
    }
    rq->method = HTTP_POST_JWS;
    rq->use_jwk = true;
    snprintf(rq->url, sizeof(rq->url), "%s", acme_g.new_account_url);
    rq->payload = build_account_payload(o);
    return rq->payload ? 0 : -1;
}

static enum step_result
res_account(struct acme_order *o, struct http_res *r)
{
    struct acme_problem p;

    if (r->status == 400 && !o->lookup_done &&
        acme_problem_parse(r->body, &p) == 0 &&
        acme_problem_is(&p, "accountDoesNotExist")) {
        log_info("acme", "account not found, creating it", "account=%s",
                 o->account->id);
        o->lookup_done = true;
        o->delay_ms = 0;
        return STEP_POLL;
    }
    if ((r->status != 200 && r->status != 201) || r->location[0] == '\0')
        return fail_response(o, r);
    o->account->url = strdup(r->location);
    log_info("acme", r->status == 201 ? "account created" : "account found",
             "account=%s url=%s", o->account->id, o->account->url);
    if (acme_account_save(o->account) != 0) {
        set_problem(o, "portico:store", "account URL not saved");
        return STEP_FAIL;
    }
    o->state = ST_NEW_ORDER;
    return STEP_NEXT;
}

/* ST_NEW_ORDER */

static int
req_new_order(struct acme_order *o, struct http_req *rq)
{
    cJSON *p = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(p, "identifiers");

    for (size_t i = 0; i < o->job->n_names; i++) {
        cJSON *id = cJSON_CreateObject();
        cJSON_AddStringToObject(id, "type", "dns");
        cJSON_AddStringToObject(id, "value", o->job->names[i]);
        cJSON_AddItemToArray(ids, id);
    }
    rq->method = HTTP_POST_JWS;
    snprintf(rq->url, sizeof(rq->url), "%s", acme_g.new_order_url);
    rq->payload = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return 0;
}

/* Moves to the state an order object's status calls for. */
static enum step_result
follow_order(struct acme_order *o, cJSON *j, struct http_res *r)
{
    const char *status = get_string(j, "status");
    const char *cert = get_string(j, "certificate");

    if (status == NULL)
        status = "";
    if (strcmp(status, "valid") == 0 && cert != NULL) {
        snprintf(o->cert_url, sizeof(o->cert_url), "%s", cert);
        o->state = ST_DOWNLOAD;
        return STEP_NEXT;
    }
    if (strcmp(status, "processing") == 0 || strcmp(status, "valid") == 0) {
        o->delay_ms = next_poll_delay(o, r);
        o->state = ST_POLL_ORDER;
        return STEP_POLL;
    }
    if (strcmp(status, "ready") == 0) {
        o->delay_ms = 0; /* order polls start at FIRST_POLL_MS */
        o->state = ST_FINALIZE;
        return STEP_NEXT;
    }
    if (strcmp(status, "pending") == 0) {
        o->authz_index = 0;
        o->state = ST_AUTHZ;
        return STEP_NEXT;
    }
    if (read_error_object(o, cJSON_GetObjectItem(j, "error")) != 0)
        set_problem(o, "portico:orderInvalid", status);
    return STEP_FAIL;
}

static enum step_result
res_new_order(struct acme_order *o, struct http_res *r)
{
    cJSON *j, *authzs;
    const char *finalize;
    enum step_result rc;

    if (r->status != 201 || r->location[0] == '\0')
        return fail_response(o, r);
    if ((j = parse_body(o, r)) == NULL)
        return STEP_FAIL;
    snprintf(o->out->order_url, sizeof(o->out->order_url), "%s",
             r->location);
    authzs = cJSON_GetObjectItem(j, "authorizations");
    finalize = get_string(j, "finalize");
    if (!cJSON_IsArray(authzs) || finalize == NULL) {
        set_problem(o, "portico:unexpectedResponse",
                    "order lacks authorizations or finalize");
        cJSON_Delete(j);
        return STEP_FAIL;
    }
    cJSON_Delete(o->authzs);
    o->authzs = cJSON_Duplicate(authzs, 1);
    snprintf(o->finalize_url, sizeof(o->finalize_url), "%s", finalize);
    log_info("acme", "order created", "name=%s order=%s authorizations=%d",
             o->job->names[0], o->out->order_url,
             cJSON_GetArraySize(o->authzs));
    rc = follow_order(o, j, r);
    cJSON_Delete(j);
    return rc;
}

/* ST_AUTHZ: fetches the next authorization; valid ones are reused. */

static const char *
get_authz_url(struct acme_order *o)
{
    return cJSON_GetStringValue(cJSON_GetArrayItem(o->authzs,
                                                   o->authz_index));
}

static int
req_post_as_get(struct http_req *rq, const char *url)
{
    rq->method = HTTP_POST_JWS;
    snprintf(rq->url, sizeof(rq->url), "%s", url);
    return 0;
}

static int
req_authz(struct acme_order *o, struct http_req *rq)
{
    if (o->authz_index >= cJSON_GetArraySize(o->authzs)) {
        o->delay_ms = 0; /* order polls start at FIRST_POLL_MS */
        o->state = ST_FINALIZE;
        return 1;
    }
    return req_post_as_get(rq, get_authz_url(o));
}

/* Installs the response to the challenge of the job's type. For DNS-01
 * this publishes the TXT record and waits for it to propagate. */
static int
install_challenge(struct acme_order *o, const cJSON *challenge, char *err,
                  size_t errcap)
{
    const char *token = get_string(challenge, "token");
    char *thumb = acme_jwk_thumbprint(o->account->key);
    char keyauth[512];
    int rc = -1;

    snprintf(err, errcap, "challenge response not set up");
    if (token == NULL || thumb == NULL || strlen(token) >= sizeof(o->token))
        goto out;
    snprintf(o->token, sizeof(o->token), "%s", token);
    /* RFC 8555 section 8.1 */
    snprintf(keyauth, sizeof(keyauth), "%s.%s", token, thumb);
    switch (o->job->challenge) {
    case ACME_CHALLENGE_HTTP01:
        rc = acme_http01_add(token, keyauth);
        break;
    case ACME_CHALLENGE_TLS_ALPN01:
        rc = acme_tls_alpn_add(o->authz_name, keyauth);
        break;
    case ACME_CHALLENGE_DNS01:
        o->dns_value = acme_dns01_txt_value(keyauth);
        if (o->dns_value != NULL)
            rc = acme_dns01_add(o->authz_name, o->dns_value, err, errcap);
        break;
    }
out:
    free(thumb);
    return rc;
}

/* Removes the challenge response; for DNS-01 the TXT record, whatever the
 * outcome of the validation. */
static void
remove_challenge(struct acme_order *o)
{
    if (o->token[0] == '\0')
        return;
    switch (o->job->challenge) {
    case ACME_CHALLENGE_HTTP01:
        acme_http01_remove(o->token);
        break;
    case ACME_CHALLENGE_TLS_ALPN01:
        acme_tls_alpn_remove(o->authz_name);
        break;
    case ACME_CHALLENGE_DNS01:
        if (o->dns_value != NULL)
            acme_dns01_remove(o->authz_name, o->dns_value);
        free(o->dns_value);
        o->dns_value = NULL;
        break;
    }
    o->token[0] = '\0';
}

static const cJSON *
find_challenge(const struct acme_order *o, const cJSON *authz)
{
    static const char *const types[] = {
        [ACME_CHALLENGE_HTTP01] = "http-01",
        [ACME_CHALLENGE_TLS_ALPN01] = "tls-alpn-01",
        [ACME_CHALLENGE_DNS01] = "dns-01",
    };
    const char *want = types[o->job->challenge];
    const cJSON *c;

    cJSON_ArrayForEach(c, cJSON_GetObjectItem(authz, "challenges"))
    {
        const char *type = get_string(c, "type");
        if (type != NULL && strcmp(type, want) == 0)
            return c;
    }
    return NULL;
}

static enum step_result
res_authz(struct acme_order *o, struct http_res *r)
{
    const cJSON *challenge;
    const char *status, *name, *url;
    char err[256];
    cJSON *j;

    if (r->status != 200)
        return fail_response(o, r);
    if ((j = parse_body(o, r)) == NULL)
        return STEP_FAIL;
    status = get_string(j, "status");
    name = get_string(cJSON_GetObjectItem(j, "identifier"), "value");
    snprintf(o->authz_name, sizeof(o->authz_name), "%s", name ? name : "");
    if (status != NULL && strcmp(status, "valid") == 0) {
        log_info("acme", "authorization reused", "name=%s", o->authz_name);
        o->authz_index++;
        cJSON_Delete(j);
        return STEP_NEXT;
    }
    challenge = find_challenge(o, j);
    url = get_string(challenge, "url");
    if (status == NULL || strcmp(status, "pending") != 0 || url == NULL) {
        set_problem(o, "portico:authorizationUnusable",
                    url ? "authorization is not pending"
                        : "CA offers no challenge of the configured type");
        cJSON_Delete(j);
        return STEP_FAIL;
    }
    snprintf(o->challenge_url, sizeof(o->challenge_url), "%s", url);
    if (install_challenge(o, challenge, err, sizeof(err)) != 0) {
        set_problem(o, "portico:challenge", err);
        cJSON_Delete(j);
        return STEP_FAIL;
    }
    cJSON_Delete(j);
    o->state = ST_CHALLENGE;
    return STEP_NEXT;
}

/* ST_CHALLENGE: tells the CA to validate (RFC 8555 section 7.5.1). */

static int
req_challenge(struct acme_order *o, struct http_req *rq)
{
    rq->method = HTTP_POST_JWS;
    snprintf(rq->url, sizeof(rq->url), "%s", o->challenge_url);
    rq->payload = strdup("{}");
    return 0;
}

static enum step_result
res_challenge(struct acme_order *o, struct http_res *r)
{
    if (r->status != 200)
        return fail_response(o, r);
    o->delay_ms = FIRST_POLL_MS;
    o->state = ST_POLL_AUTHZ;
    return STEP_POLL;
}

/* The CA's Retry-After when it sent one, else the last delay doubled. */
static long
next_poll_delay(const struct acme_order *o, const struct http_res *r)
{
    long ra = acme_retry_after_parse(r->retry_after, time(NULL));

    if (ra >= 0)
        return ra * 1000;
    if (o->delay_ms <= 0)
        return FIRST_POLL_MS;
    return o->delay_ms * 2 < DEFAULT_POLL_MS ? o->delay_ms * 2
                                             : DEFAULT_POLL_MS;
}

/* ST_POLL_AUTHZ */

static int
req_poll_authz(struct acme_order *o, struct http_req *rq)
{
    return req_post_as_get(rq, get_authz_url(o));
}

static void
read_challenge_error(struct acme_order *o, const cJSON *authz)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, cJSON_GetObjectItem(authz, "challenges"))
    {
        if (read_error_object(o, cJSON_GetObjectItem(c, "error")) == 0)
            return;
    }
    set_problem(o, "portico:authorizationInvalid", "authorization is invalid");
}

static enum step_result
res_poll_authz(struct acme_order *o, struct http_res *r)
{
    const char *status;
    cJSON *j;

    if (r->status != 200)
        return fail_response(o, r);
    if ((j = parse_body(o, r)) == NULL)
        return STEP_FAIL;
    status = get_string(j, "status");
    if (status == NULL)
        status = "";
    if (strcmp(status, "pending") == 0 || strcmp(status, "processing") == 0) {
        o->delay_ms = next_poll_delay(o, r);
        cJSON_Delete(j);
        return STEP_POLL;
    }
    remove_challenge(o);
    if (strcmp(status, "valid") != 0) {
        read_challenge_error(o, j);
        cJSON_Delete(j);
        return STEP_FAIL;
    }
    log_info("acme", "authorization valid", "name=%s", o->authz_name);
    cJSON_Delete(j);
    o->authz_index++;
    o->state = ST_AUTHZ;
    return STEP_NEXT;
}

/* ST_FINALIZE: a fresh key and a CSR carrying every name. */

static int
req_finalize(struct acme_order *o, struct http_req *rq)
{
    unsigned char *der;
    size_t len;
    char *csr;
    cJSON *p;

    if (o->key == NULL)
        o->key = acme_key_new(acme_g.cfg.key_type);
    if (o->key == NULL)
        return -1;
    der = acme_csr(o->key, o->job->names, o->job->n_names, &len);
    if (der == NULL)
        return -1;
    csr = acme_b64url_encode(der, len);
    OPENSSL_free(der);
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "csr", csr);
    free(csr);
    rq->method = HTTP_POST_JWS;
    snprintf(rq->url, sizeof(rq->url), "%s", o->finalize_url);
    rq->payload = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    return 0;
}

static enum step_result
res_order_object(struct acme_order *o, struct http_res *r)
{
    enum step_result rc;
    cJSON *j;

    if (r->status != 200)
        return fail_response(o, r);
    if ((j = parse_body(o, r)) == NULL)
        return STEP_FAIL;
    rc = follow_order(o, j, r);
    cJSON_Delete(j);
    if (rc == STEP_NEXT && o->state != ST_DOWNLOAD) {
        set_problem(o, "portico:orderInvalid", "order went back to pending");
        return STEP_FAIL;
    }
    return rc;
}

/* ST_POLL_ORDER */

static int
req_poll_order(struct acme_order *o, struct http_req *rq)
{
    return req_post_as_get(rq, o->out->order_url);
}

/* ST_DOWNLOAD */

static int
req_download(struct acme_order *o, struct http_req *rq)
{
    rq->accept_pem = true;
    return req_post_as_get(rq, o->cert_url);
}

static enum step_result
res_download(struct acme_order *o, struct http_res *r)
{
    if (r->status != 200 || r->body == NULL)
        return fail_response(o, r);
    free(o->chain);
    o->chain = r->body;
    o->chain_len = r->len;
    r->body = NULL;
    o->state = ST_CHECK;
    return STEP_NEXT;
}

/* ST_CHECK: the leaf must match our key and cover every name. */

static char *
build_bundle_pem(struct acme_order *o, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (bio != NULL &&
        PEM_write_bio_PrivateKey(bio, o->key, NULL, NULL, 0, NULL, NULL) &&
        BIO_write(bio, o->chain, (int)o->chain_len) == (int)o->chain_len) {
        n = BIO_get_mem_data(bio, &data);
        out = strndup(data, (size_t)n);
        *len = (size_t)n;
    }
    BIO_free(bio);
    return out;
}

static enum step_result
run_check(struct acme_order *o, struct http_res *unused)
{
    struct acme_bundle *b = &o->out->bundle;
    char err[128];
    size_t len = 0;
    char *pem = build_bundle_pem(o, &len);

    if (pem == NULL || acme_bundle_parse(pem, len, b, err, sizeof(err)) != 0) {
        set_problem(o, "portico:badCertificate",
                    pem ? err : "certificate not serializable");
        free(pem);
        return STEP_FAIL;
    }
    free(pem);
    if (!acme_bundle_covers(b, o->job->names, o->job->n_names)) {
        set_problem(o, "portico:badCertificate",
                    "certificate does not cover every requested name");
        return STEP_FAIL;
    }
    o->state = ST_STORE;
    return STEP_NEXT;
}

/* ST_STORE: persist first, then serve. */

static enum step_result
run_store(struct acme_order *o, struct http_res *unused)
{
    if (acme_bundle_store(acme_g.certs_dir, o->job->id, o->key, o->chain,
                          o->chain_len) != 0) {
        set_problem(o, "portico:store", "certificate not written");
        return STEP_FAIL;
    }
    if (acme_serve_publish(&o->out->bundle) != 0) {
        set_problem(o, "portico:store", "certificate not published");
        return STEP_FAIL;
    }
    o->state = ST_DONE;
    return STEP_NEXT;
}

static const struct step steps[] = {
    [ST_DIRECTORY] = {"directory", req_directory, res_directory},
    [ST_NONCE] = {"new-nonce", req_nonce, res_nonce},
    [ST_ACCOUNT] = {"account", req_account, res_account},
    [ST_NEW_ORDER] = {"new-order", req_new_order, res_new_order},
    [ST_AUTHZ] = {"authorization", req_authz, res_authz},
    [ST_CHALLENGE] = {"challenge", req_challenge, res_challenge},
    [ST_POLL_AUTHZ] = {"poll-authorization", req_poll_authz, res_poll_authz},
    [ST_FINALIZE] = {"finalize", req_finalize, res_order_object},
    [ST_POLL_ORDER] = {"poll-order", req_poll_order, res_order_object},
    [ST_DOWNLOAD] = {"download", req_download, res_download},
    [ST_CHECK] = {"check", NULL, run_check},
    [ST_STORE] = {"store", NULL, run_store},
};

/* Outcome of one attempt at a step, before any retry. */
enum attempt_result {
    ATTEMPT_DONE,      /* the handler ran */
    ATTEMPT_BAD_NONCE, /* retry at once with the nonce from the error */
    ATTEMPT_TRANSIENT, /* transport error or 5xx: retry after a delay */
};

static enum attempt_result
try_step(struct acme_order *o, const struct step *s, enum step_result *res,
         char *reason, size_t cap)
{
    struct http_req rq = {0};
    struct http_res r = {0};
    struct acme_problem p;
    enum attempt_result ar = ATTEMPT_DONE;
    int rc;

    if (s->request == NULL) {
        *res = s->response(o, NULL);
        return ATTEMPT_DONE;
    }
    rc = s->request(o, &rq);
    if (rc == 1) {
        *res = STEP_NEXT;
        goto out;
    }
    if (rc < 0) {
        set_problem(o, "portico:internal", "request not built");
        *res = STEP_FAIL;
        goto out;
    }
    rc = rq.method == HTTP_POST_JWS
             ? send_signed(o, &rq, &r)
             : send_http(o, rq.method, rq.url, NULL, false, &r);
    if (rc != 0) {
        snprintf(reason, cap, "%s", o->err);
        ar = ATTEMPT_TRANSIENT;
    } else if (r.status >= 400 && acme_problem_parse(r.body, &p) == 0 &&
               acme_problem_is(&p, "badNonce")) {
        snprintf(reason, cap, "badNonce");
        ar = ATTEMPT_BAD_NONCE;
    } else if (r.status >= 500) {
        snprintf(reason, cap, "HTTP status %ld", r.status);
        ar = ATTEMPT_TRANSIENT;
    } else {
        *res = s->response(o, &r);
    }
    if (*res == STEP_FAIL && r.retry_after[0] != '\0')
        o->out->retry_after = acme_retry_after_parse(r.retry_after,
                                                     time(NULL));
out:
    free(rq.payload);
    clear_response(&r);
    return ar;
}

/* Runs one state until it advances or fails, with retries. */
static enum step_result
drive_step(struct acme_order *o)
{
    const struct step *s = &steps[o->state];
    int nonce_retries = 0, transport_retries = 0;
    enum step_result res = STEP_FAIL;
    char reason[CURL_ERROR_SIZE + 32];

    for (;;) {
        enum attempt_result ar = try_step(o, s, &res, reason, sizeof(reason));
        long delay;
        if (ar == ATTEMPT_DONE)
            return res;
        if (ar == ATTEMPT_BAD_NONCE && ++nonce_retries <= MAX_NONCE_RETRIES) {
            log_info("acme", "request retried", "name=%s step=%s reason=%s "
                     "retry_in=0s attempt=%d/%d", o->job->names[0], s->name,
                     reason, nonce_retries, MAX_NONCE_RETRIES);
            continue;
        }
        if (ar == ATTEMPT_TRANSIENT &&
            ++transport_retries <= MAX_TRANSPORT_RETRIES) {
            delay = 2L << (transport_retries - 1);
            log_warn("acme", "request retried", "name=%s step=%s reason=%s "
                     "retry_in=%lds attempt=%d/%d", o->job->names[0], s->name,
                     reason, delay, transport_retries, MAX_TRANSPORT_RETRIES);
            if (acme_sleep(delay) != 0)
                break;
            continue;
        }
        set_problem(o, ar == ATTEMPT_BAD_NONCE ? "urn:ietf:params:acme:"
                                                 "error:badNonce"
                                               : "portico:connection",
                    reason);
        break;
    }
    return STEP_FAIL;
}

static int
run_order(struct acme_order *o)
{
    enum order_state last = ST_FAILED;
    bool account_locked = false;
    int polls = 0;

    while (o->state != ST_DONE && o->state != ST_FAILED) {
        enum step_result res;
        if (acme_stopping()) {
            set_problem(o, "portico:stopped", "shutting down");
            o->state = ST_FAILED;
            break;
        }
        if (o->state != last)
            polls = 0;
        last = o->state;
        if (o->state == ST_ACCOUNT && !account_locked) {
            pthread_mutex_lock(&o->account->lock);
            account_locked = true;
        }
        o->out->step = steps[o->state].name;
        res = drive_step(o);
        if (account_locked && o->state != ST_ACCOUNT) {
            pthread_mutex_unlock(&o->account->lock);
            account_locked = false;
        }
        if (res == STEP_FAIL) {
            o->state = ST_FAILED;
        } else if (res == STEP_POLL) {
            long delay = o->delay_ms < MAX_POLL_MS ? o->delay_ms : MAX_POLL_MS;
            if (++polls > MAX_POLLS) {
                set_problem(o, "portico:timeout", "still pending after polls");
                o->state = ST_FAILED;
                break;
            }
            log_debug("acme", "polling", "name=%s step=%s retry_in=%ldms "
                      "attempt=%d/%d", o->job->names[0],
                      steps[o->state].name, delay, polls, MAX_POLLS);
            if (delay > 0 && acme_sleep_ms(delay) != 0)
                continue;
        }
    }
    if (account_locked)
        pthread_mutex_unlock(&o->account->lock);
    remove_challenge(o);
    return o->state == ST_DONE ? 0 : -1;
}

int
acme_order_run(const struct acme_job *job, struct acme_outcome *out)
{
    struct acme_order o = {.job = job, .out = out, .state = ST_DIRECTORY};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->retry_after = -1;
    out->step = steps[ST_DIRECTORY].name;
    o.account = acme_account_get(job->email);
    o.curl = curl_easy_init();
    if (o.account == NULL || o.curl == NULL) {
        set_problem(&o, "portico:internal", "account or HTTP client missing");
        goto out;
    }
    rc = run_order(&o);
out:
    if (o.curl != NULL)
        curl_easy_cleanup(o.curl);
    cJSON_Delete(o.authzs);
    EVP_PKEY_free(o.key);
    free(o.chain);
    if (rc != 0)
        acme_bundle_clear(&out->bundle);
    return rc;
}

/* Unit tests for acme/: encoding, JWS, CSR, problems, backoff, TLS-ALPN-01
 * certificates, challenge table, store and certificate lookup. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme_int.h"
#include "check.h"
#include "log.h"

static void
test_b64url_rfc4648_vectors(void)
{
    static const struct {
        int line;
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {__LINE__, "", 0, ""},
        {__LINE__, "f", 1, "Zg"},
        {__LINE__, "fo", 2, "Zm8"},
        {__LINE__, "foo", 3, "Zm9v"},
        {__LINE__, "foob", 4, "Zm9vYg"},
        {__LINE__, "fooba", 5, "Zm9vYmE"},
        {__LINE__, "foobar", 6, "Zm9vYmFy"},
        {__LINE__, "\xfb\xff", 2, "-_8"},
        {__LINE__, "\xff\xfe\xfd", 3, "__79"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *enc = acme_b64url_encode((const unsigned char *)cases[i].in,
                                       cases[i].len);
        size_t len = 99;
        unsigned char *dec = acme_b64url_decode(cases[i].out, &len);
        CHECK_STR(cases[i].line, cases[i].out, enc);
        CHECK_INT(cases[i].line, cases[i].len, len);
        CHECK(dec != NULL && memcmp(dec, cases[i].in, cases[i].len) == 0);
        free(enc);
        free(dec);
    }
}

static void
test_b64url_decode_rejects(void)
{
    static const struct {
        int line;
        const char *in;
    } cases[] = {
        {__LINE__, "Zm9v+"}, /* standard alphabet, not URL-safe */
        {__LINE__, "Zm9v/"},
        {__LINE__, "Z"}, /* one character cannot encode a byte */
        {__LINE__, "Zm 9v"},
    };
    size_t len;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char *dec = acme_b64url_decode(cases[i].in, &len);
        CHECK_INT(cases[i].line, 1, dec == NULL);
        free(dec);
    }
    unsigned char *padded = acme_b64url_decode("Zm8=", &len);
    CHECK(padded != NULL && len == 2 && memcmp(padded, "fo", 2) == 0);
    free(padded);
}

static cJSON *
decode_json_member(const cJSON *o, const char *name)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));
    size_t len;
    unsigned char *raw = text ? acme_b64url_decode(text, &len) : NULL;
    cJSON *j = NULL;

    if (raw != NULL)
        j = cJSON_ParseWithLength((const char *)raw, len);
    free(raw);
    return j;
}

/* Verifies a flattened JWS with key; returns 0 if the signature holds. */
static int
verify_jws(const cJSON *jws, EVP_PKEY *key, size_t *sig_len)
{
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(jws, "protected"));
    const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(jws, "payload"));
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(jws, "signature"));
    unsigned char *sig;
    char *input;
    int rc;

    if (p == NULL || b == NULL || s == NULL ||
        (sig = acme_b64url_decode(s, sig_len)) == NULL)
        return -1;
    if (asprintf(&input, "%s.%s", p, b) < 0) {
        free(sig);
        return -1;
    }
    rc = acme_verify(key, (unsigned char *)input, strlen(input), sig,
                     *sig_len);
    free(input);
    free(sig);
    return rc;
}

static void
test_jws_sign_verify(void)
{
    static const struct {
        int line;
        enum acme_key_type type;
        const char *alg;
        size_t sig_len;
    } cases[] = {
        {__LINE__, ACME_KEY_EC256, "ES256", 64},
        {__LINE__, ACME_KEY_EC384, "ES384", 96},
        {__LINE__, ACME_KEY_RSA2048, "RS256", 256},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int line = cases[i].line;
        EVP_PKEY *key = acme_key_new(cases[i].type);
        char *text = acme_jws(key, NULL, "nonce-1", "https://ca/new-acct",
                              "{\"a\":1}");
        cJSON *jws = cJSON_Parse(text);
        cJSON *hdr = decode_json_member(jws, "protected");
        cJSON *payload = decode_json_member(jws, "payload");
        EVP_PKEY *pub = acme_jwk_to_pkey(cJSON_GetObjectItem(hdr, "jwk"));
        size_t sig_len = 0;

        CHECK_STR(line, cases[i].alg,
                  cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "alg")));
        CHECK_STR(line, "nonce-1",
                  cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "nonce")));
        CHECK_STR(line, "https://ca/new-acct",
                  cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "url")));
        CHECK_INT(line, 1, cJSON_GetObjectItem(hdr, "kid") == NULL);
        CHECK_INT(line, 1, cJSON_GetNumberValue(
                               cJSON_GetObjectItem(payload, "a")));
        CHECK_INT(line, 0, verify_jws(jws, key, &sig_len));
        CHECK_INT(line, cases[i].sig_len, sig_len);
        CHECK_INT(line, 1, pub != NULL);
        CHECK_INT(line, 0, pub ? verify_jws(jws, pub, &sig_len) : -1);

        /* A changed payload must not verify. */
        cJSON_ReplaceItemInObject(jws, "payload", cJSON_CreateString("e30"));
        CHECK_INT(line, -1, verify_jws(jws, key, &sig_len));

        cJSON_Delete(hdr);
        cJSON_Delete(payload);
        cJSON_Delete(jws);
        free(text);
        EVP_PKEY_free(pub);
        EVP_PKEY_free(key);
    }
}

static void
test_jws_kid_post_as_get(void)
{
    EVP_PKEY *key = acme_key_new(ACME_KEY_EC256);
    char *text = acme_jws(key, "https://ca/acct/1", "n2", "https://ca/o/1",
                          NULL);
    cJSON *jws = cJSON_Parse(text);
    cJSON *hdr = decode_json_member(jws, "protected");
    size_t sig_len;

    CHECK_STR(__LINE__, "https://ca/acct/1",
              cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "kid")));
    CHECK(cJSON_GetObjectItem(hdr, "jwk") == NULL);
    CHECK_STR(__LINE__, "",
              cJSON_GetStringValue(cJSON_GetObjectItem(jws, "payload")));
    CHECK_INT(__LINE__, 0, verify_jws(jws, key, &sig_len));
    cJSON_Delete(hdr);
    cJSON_Delete(jws);
    free(text);
    EVP_PKEY_free(key);
}

/* RFC 7515 appendix A.3: the ES256 example verifies with its public key. */
static void
test_jws_rfc7515_a3(void)
{
    const char *jwk_text =
        "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    const char *input =
        "eyJhbGciOiJFUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
        "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const char *sig64 =
        "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
        "pmWQxfKTUJqPP3-Kg6NU1Q";
    cJSON *jwk = cJSON_Parse(jwk_text);
    EVP_PKEY *key = acme_jwk_to_pkey(jwk);
    size_t sig_len = 0;
    unsigned char *sig = acme_b64url_decode(sig64, &sig_len);

    CHECK(key != NULL);
    CHECK_INT(__LINE__, 64, sig_len);
    CHECK_INT(__LINE__, 0,
              key ? acme_verify(key, (const unsigned char *)input,
                                strlen(input), sig, sig_len)
                  : -1);
    sig[10] ^= 1;
    CHECK_INT(__LINE__, -1,
              key ? acme_verify(key, (const unsigned char *)input,
                                strlen(input), sig, sig_len)
                  : -1);
    free(sig);
    EVP_PKEY_free(key);
    cJSON_Delete(jwk);
}

static int
has_prefix(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
test_jwk_member_order(void)
{
    EVP_PKEY *ec = acme_key_new(ACME_KEY_EC256);
    EVP_PKEY *rsa = acme_key_new(ACME_KEY_RSA2048);
    cJSON *j1 = acme_jwk(ec), *j2 = acme_jwk(rsa);
    char *t1 = cJSON_PrintUnformatted(j1), *t2 = cJSON_PrintUnformatted(j2);
    char *thumb = acme_jwk_thumbprint(ec);
    unsigned char md[32];
    char *expected;

    /* RFC 7638 section 3.2: required members only, lexicographic order. */
    CHECK(has_prefix(t1, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\""));
    CHECK(strstr(t1, "\",\"y\":\"") != NULL);
    CHECK(has_prefix(t2, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\""));
    EVP_Digest(t1, strlen(t1), md, NULL, EVP_sha256(), NULL);
    expected = acme_b64url_encode(md, sizeof(md));
    CHECK_STR(__LINE__, expected, thumb);
    CHECK_INT(__LINE__, 43, thumb ? strlen(thumb) : 0);
    free(expected);
    free(thumb);
    free(t1);
    free(t2);
    cJSON_Delete(j1);
    cJSON_Delete(j2);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

static void
test_eab_hs256(void)
{
    EVP_PKEY *key = acme_key_new(ACME_KEY_EC256);
    /* 32 bytes of 0x01, base64url */
    const char *mac = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
    cJSON *eab = acme_eab(key, "kid-1", mac, "https://ca/new-acct");
    cJSON *hdr = decode_json_member(eab, "protected");
    cJSON *payload = decode_json_member(eab, "payload");
    cJSON *jwk = acme_jwk(key);
    const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(eab, "protected"));
    const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(eab, "payload"));
    unsigned char raw_key[32], md[32];
    unsigned int md_len = 0;
    char *input = NULL, *sig;

    memset(raw_key, 1, sizeof(raw_key));
    CHECK_STR(__LINE__, "HS256",
              cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "alg")));
    CHECK_STR(__LINE__, "kid-1",
              cJSON_GetStringValue(cJSON_GetObjectItem(hdr, "kid")));
    CHECK(cJSON_GetObjectItem(hdr, "nonce") == NULL);
    CHECK(cJSON_Compare(payload, jwk, 1));
    if (asprintf(&input, "%s.%s", p, b) < 0)
        input = NULL;
    HMAC(EVP_sha256(), raw_key, 32, (unsigned char *)input, strlen(input), md,
         &md_len);
    sig = acme_b64url_encode(md, md_len);
    CHECK_STR(__LINE__, sig,
              cJSON_GetStringValue(cJSON_GetObjectItem(eab, "signature")));
    free(sig);
    free(input);
    cJSON_Delete(jwk);
    cJSON_Delete(hdr);
    cJSON_Delete(payload);
    cJSON_Delete(eab);
    EVP_PKEY_free(key);
}

static char **
read_dns_names(STACK_OF(X509_EXTENSION) *exts, int *n)
{
    GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL,
                                         NULL);
    char **out = calloc(16, sizeof(char *));

    *n = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && i < 16; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            out[(*n)++] = strdup(
                (const char *)ASN1_STRING_get0_data(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    return out;
}

static void
test_csr_contents(void)
{
    static const char *names[] = {"app.example.com", "www.example.com",
                                  "api.example.com"};
    EVP_PKEY *key = acme_key_new(ACME_KEY_EC384);
    size_t len = 0;
    unsigned char *der = acme_csr(key, names, 3, &len);
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
    STACK_OF(X509_EXTENSION) *exts = req ? X509_REQ_get_extensions(req) : NULL;
    char cn[256] = "";
    char **sans;
    int n;

    CHECK(req != NULL);
    CHECK_INT(__LINE__, 1, X509_REQ_verify(req, key));
    CHECK_INT(__LINE__, 1, EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key));
    X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName,
                              cn, sizeof(cn));
    CHECK_STR(__LINE__, "app.example.com", cn);
    sans = read_dns_names(exts, &n);
    CHECK_INT(__LINE__, 3, n);
    for (int i = 0; i < 3; i++) {
        CHECK_STR(__LINE__, names[i], i < n ? sans[i] : NULL);
        free(sans[i]);
    }
    free(sans);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
}

static void
test_problem_parse(void)
{
    static const struct {
        int line;
        const char *body;
        int rc;
        const char *type;
        const char *detail;
        int status;
        const char *is;
    } cases[] = {
        {__LINE__,
         "{\"type\":\"urn:ietf:params:acme:error:badNonce\","
         "\"detail\":\"JWS has an invalid anti-replay nonce\",\"status\":400}",
         0, "urn:ietf:params:acme:error:badNonce",
         "JWS has an invalid anti-replay nonce", 400, "badNonce"},
        {__LINE__,
         "{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
         "\"detail\":\"too many certificates\",\"status\":429}",
         0, "urn:ietf:params:acme:error:rateLimited", "too many certificates",
         429, "rateLimited"},
        {__LINE__, "{\"type\":\"about:blank\"}", 0, "about:blank", "", 0,
         NULL},
        {__LINE__, "{\"detail\":\"no type\"}", -1, "", "", 0, NULL},
        {__LINE__, "not json", -1, "", "", 0, NULL},
        {__LINE__, NULL, -1, "", "", 0, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct acme_problem p;
        int line = cases[i].line;
        CHECK_INT(line, cases[i].rc, acme_problem_parse(cases[i].body, &p));
        CHECK_STR(line, cases[i].type, p.type);
        CHECK_STR(line, cases[i].detail, p.detail);
        CHECK_INT(line, cases[i].status, p.status);
        CHECK_INT(line, cases[i].is != NULL,
                  acme_problem_is(&p, cases[i].is ? cases[i].is : "x"));
        CHECK_INT(line, 0, acme_problem_is(&p, "malformed"));
    }
}

static void
test_backoff_schedule(void)
{
    static const struct {
        int line;
        int attempt;
        long delay;
    } cases[] = {
        {__LINE__, 1, 60},       {__LINE__, 2, 120},
        {__LINE__, 3, 240},      {__LINE__, 8, 7680},
        {__LINE__, 11, 61440},   {__LINE__, 12, 86400},
        {__LINE__, 40, 86400},   {__LINE__, 100000, 86400},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(cases[i].line, cases[i].delay,
                  acme_backoff_delay(cases[i].attempt));
}

static void
test_retry_after_parse(void)
{
    /* 2015-10-21T07:28:00Z */
    const time_t now = 1445412480;
    static const struct {
        int line;
        const char *value;
        long seconds;
    } cases[] = {
        {__LINE__, "120", 120},
        {__LINE__, " 5", 5},
        {__LINE__, "Wed, 21 Oct 2015 07:30:00 GMT", 120},
        {__LINE__, "Wed, 21 Oct 2015 07:00:00 GMT", 0},
        {__LINE__, "soon", -1},
        {__LINE__, "", -1},
        {__LINE__, NULL, -1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(cases[i].line, cases[i].seconds,
                  acme_retry_after_parse(cases[i].value, now));
}

static void
test_tls_alpn_extension(void)
{
    const char *ka = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
                     "nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";
    EVP_PKEY *key = acme_key_new(ACME_KEY_EC256);
    X509 *cert = acme_tls_alpn_cert(key, "alpn.example.com", ka);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    int idx = cert ? X509_get_ext_by_OBJ(cert, oid, -1) : -1;
    X509_EXTENSION *ext = idx >= 0 ? X509_get_ext(cert, idx) : NULL;
    const ASN1_OCTET_STRING *data = ext ? X509_EXTENSION_get_data(ext) : NULL;
    unsigned char expected[34];

    expected[0] = 0x04;
    expected[1] = 0x20;
    EVP_Digest(ka, strlen(ka), expected + 2, NULL, EVP_sha256(), NULL);
    CHECK(ext != NULL);
    CHECK_INT(__LINE__, 1, ext ? X509_EXTENSION_get_critical(ext) : 0);
    CHECK_INT(__LINE__, 34, data ? ASN1_STRING_length(data) : 0);
    CHECK(data != NULL &&
          memcmp(ASN1_STRING_get0_data(data), expected, 34) == 0);
    CHECK_INT(__LINE__, 1,
              cert ? X509_check_host(cert, "alpn.example.com", 0, 0, NULL)
                   : 0);
    CHECK_INT(__LINE__, 1, cert ? X509_verify(cert, key) : 0);
    ASN1_OBJECT_free(oid);
    X509_free(cert);
    EVP_PKEY_free(key);
}

static void
test_http01_table(void)
{
    char ka[128];

    CHECK_INT(__LINE__, 0, acme_http01_add("tok1", "tok1.thumb"));
    CHECK_INT(__LINE__, 0, acme_http01_lookup("tok1xyz", 4, ka, sizeof(ka)));
    CHECK_STR(__LINE__, "tok1.thumb", ka);
    CHECK_INT(__LINE__, -1, acme_http01_lookup("tok", 3, ka, sizeof(ka)));
    CHECK_INT(__LINE__, -1, acme_http01_lookup("tok1", 4, ka, 5));
    acme_http01_remove("tok1");
    CHECK_INT(__LINE__, -1, acme_http01_lookup("tok1", 4, ka, sizeof(ka)));
    CHECK_INT(__LINE__, 0, acme_tls_alpn_add("x.example.com", "k.t"));
    SSL_CTX *ctx = acme_tls_alpn_ctx("X.example.com");
    CHECK(ctx != NULL);
    SSL_CTX_free(ctx);
    CHECK(acme_tls_alpn_ctx("y.example.com") == NULL);
    acme_tls_alpn_remove("x.example.com");
    CHECK(acme_tls_alpn_ctx("x.example.com") == NULL);
}

/* A self-signed certificate for names, as key PEM + certificate PEM. */
static char *
make_bundle_pem(EVP_PKEY *key, EVP_PKEY *cert_key, const char *const *names,
                size_t n, size_t *len)
{
    X509 *cert = acme_tls_alpn_cert(cert_key, names[0], "unused");
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out;

    if (n > 1) {
        /* Replace the single SAN with all names. */
        X509_free(cert);
        cert = X509_new();
        X509_set_version(cert, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
        X509_gmtime_adj(X509_getm_notBefore(cert), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
        X509_set_pubkey(cert, cert_key);
        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
        for (size_t i = 0; i < n; i++) {
            GENERAL_NAME *g = GENERAL_NAME_new();
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            ASN1_STRING_set(s, names[i], -1);
            GENERAL_NAME_set0_value(g, GEN_DNS, s);
            sk_GENERAL_NAME_push(gens, g);
        }
        X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, 0);
        GENERAL_NAMES_free(gens);
        X509_sign(cert, cert_key, EVP_sha256());
    }
    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
    PEM_write_bio_X509(bio, cert);
    *len = (size_t)BIO_get_mem_data(bio, &data);
    out = malloc(*len + 1);
    memcpy(out, data, *len);
    out[*len] = '\0';
    BIO_free(bio);
    X509_free(cert);
    return out;
}

static void
test_bundle_parse(void)
{
    static const char *names[] = {"a.example.com", "B.example.com"};
    static const char *two[] = {"b.example.com", "a.example.com"};
    static const char *other[] = {"c.example.com"};
    EVP_PKEY *key = acme_key_new(ACME_KEY_EC256);
    EVP_PKEY *key2 = acme_key_new(ACME_KEY_EC256);
    struct acme_bundle b;
    char err[128];
    size_t len;
    char *pem = make_bundle_pem(key, key, names, 2, &len);

    CHECK_INT(__LINE__, 0, acme_bundle_parse(pem, len, &b, err, sizeof(err)));
    CHECK_INT(__LINE__, 2, b.n_names);
    CHECK_STR(__LINE__, "b.example.com", b.n_names > 1 ? b.names[1] : NULL);
    CHECK_INT(__LINE__, 1, acme_bundle_covers(&b, two, 2));
    CHECK_INT(__LINE__, 0, acme_bundle_covers(&b, other, 1));
    CHECK_INT(__LINE__, 86400, b.not_after - b.not_before);
    acme_bundle_clear(&b);
    CHECK_INT(__LINE__, -1,
              acme_bundle_parse(pem, len / 2, &b, err, sizeof(err)));
    free(pem);

    pem = make_bundle_pem(key2, key, names, 2, &len);
    CHECK_INT(__LINE__, -1, acme_bundle_parse(pem, len, &b, err, sizeof(err)));
    CHECK_STR(__LINE__, "key does not match certificate", err);
    free(pem);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
}

static int
count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.' || strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void
write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");

    fwrite(data, 1, len, f);
    fclose(f);
}

/* Stores two certificates, a truncated one and a leftover temporary file,
 * then starts the client on that directory: the good ones are served, the
 * rest ignored. No order runs, because no name is requested. */
static void
test_store_reload(void)
{
    static const char *n1[] = {"one.example.com"};
    static const char *n2[] = {"*.wild.example.com"};
    char dir[] = "/tmp/portico-test-acme.XXXXXX", certs_dir[256], path[300];
    EVP_PKEY *key = acme_key_new(ACME_KEY_EC256);
    struct acme_config cfg = {0};
    struct stat st;
    size_t len;
    char *pem, *back;
    SSL_CTX *ctx;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(certs_dir, sizeof(certs_dir), "%s/certs", dir);
    mkdir(certs_dir, 0700);

    pem = make_bundle_pem(key, key, n1, 1, &len);
    CHECK_INT(__LINE__, 0,
              acme_store_write(certs_dir, "one.example.com.pem", pem, len,
                               0600));
    snprintf(path, sizeof(path), "%s/one.example.com.pem", certs_dir);
    back = acme_store_read(path, NULL);
    CHECK_STR(__LINE__, pem, back);
    CHECK_INT(__LINE__, 0, stat(path, &st));
    CHECK_INT(__LINE__, 0600, st.st_mode & 0777);
    free(back);
    snprintf(path, sizeof(path), "%s/.one.example.com.pem.tmp.AbCdEf",
             certs_dir);
    write_file(path, pem, len / 3);
    snprintf(path, sizeof(path), "%s/broken.example.com.pem", certs_dir);
    write_file(path, pem, len / 2);
    free(pem);

    pem = make_bundle_pem(key, key, n2, 1, &len);
    acme_store_write(certs_dir, "_wildcard.wild.example.com.pem", pem, len,
                     0600);
    free(pem);
    CHECK_INT(__LINE__, 4, count_files(certs_dir));

    cfg.state_dir = dir;
    cfg.directory_url = "https://127.0.0.1:9/directory";
    CHECK_INT(__LINE__, 0, acme_start(&cfg));
    CHECK_INT(__LINE__, 3, count_files(certs_dir));
    CHECK_INT(__LINE__, 0, stat(dir, &st));
    CHECK_INT(__LINE__, 0700, st.st_mode & 0777);

    static const struct {
        int line;
        const char *name;
        int found;
    } lookups[] = {
        {__LINE__, "one.example.com", 1},
        {__LINE__, "ONE.example.com", 1},
        {__LINE__, "two.example.com", 0},
        {__LINE__, "broken.example.com", 0},
        {__LINE__, "x.wild.example.com", 1},
        {__LINE__, "wild.example.com", 0},
        {__LINE__, "a.b.wild.example.com", 0},
        {__LINE__, "*.wild.example.com", 0},
        {__LINE__, "", 0},
        {__LINE__, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
        ctx = acme_cert_ctx_get(lookups[i].name);
        CHECK_INT(lookups[i].line, lookups[i].found, ctx != NULL);
        if (ctx != NULL && lookups[i].found) {
            X509 *leaf = SSL_CTX_get0_certificate(ctx);
            CHECK_INT(lookups[i].line, 1,
                      X509_check_host(leaf, lookups[i].name, 0, 0, NULL));
        }
        SSL_CTX_free(ctx);
    }
    acme_stop();
    CHECK(acme_cert_ctx_get("one.example.com") == NULL);
    EVP_PKEY_free(key);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_INT(__LINE__, 0, system(cmd));
}

static void
test_store_cert_id(void)
{
    static const struct {
        int line;
        const char *name;
        const char *id;
    } cases[] = {
        {__LINE__, "App.Example.com", "app.example.com"},
        {__LINE__, "*.example.com", "_wildcard.example.com"},
        {__LINE__, "a/../b", "a_.._b"},
    };
    char id[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        acme_store_cert_id(cases[i].name, id, sizeof(id));
        CHECK_STR(cases[i].line, cases[i].id, id);
    }
}

static void
test_option_parsing(void)
{
    enum acme_challenge c;
    enum acme_key_type k;

    CHECK_INT(__LINE__, 0, acme_challenge_parse("tls-alpn-01", &c));
    CHECK_INT(__LINE__, ACME_CHALLENGE_TLS_ALPN01, c);
    CHECK_INT(__LINE__, 0, acme_challenge_parse("DNS-01", &c));
    CHECK_INT(__LINE__, ACME_CHALLENGE_DNS01, c);
    CHECK_INT(__LINE__, -1, acme_challenge_parse("dns-02", &c));
    CHECK_INT(__LINE__, 0, acme_key_type_parse("rsa4096", &k));
    CHECK_INT(__LINE__, ACME_KEY_RSA4096, k);
    CHECK_INT(__LINE__, -1, acme_key_type_parse("ec521", &k));
}

int
main(void)
{
    log_init(LOG_ERROR, LOG_FORMAT_TEXT);
    test_b64url_rfc4648_vectors();
    test_b64url_decode_rejects();
    test_jws_sign_verify();
    test_jws_kid_post_as_get();
    test_jws_rfc7515_a3();
    test_jwk_member_order();
    test_eab_hs256();
    test_csr_contents();
    test_problem_parse();
    test_backoff_schedule();
    test_retry_after_parse();
    test_tls_alpn_extension();
    test_http01_table();
    test_bundle_parse();
    test_store_cert_id();
    test_store_reload();
    test_option_parsing();
    return check_done();
}

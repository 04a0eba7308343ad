/* base64url, keys, JWK, JWS signing (RFC 7515, RFC 8555 section 6.2), CSR. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/x509v3.h>

#include "acme_int.h"
#include "log.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
acme_log_ssl(const char *msg, const char *context)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    log_warn("acme", msg, "context=%s ssl_error=%s", context ? context : "",
             buf);
}

char *
acme_b64url_encode(const unsigned char *data, size_t len)
{
    char *out = malloc(len / 3 * 4 + 5);
    size_t i, o = 0;

    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned long v = (unsigned long)data[i] << 16 | data[i + 1] << 8 |
                          data[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        out[o++] = b64url_alphabet[data[i] >> 2];
        out[o++] = b64url_alphabet[(data[i] & 3) << 4];
    } else if (len - i == 2) {
        unsigned long v = (unsigned long)data[i] << 8 | data[i + 1];
        out[o++] = b64url_alphabet[v >> 10 & 63];
        out[o++] = b64url_alphabet[v >> 4 & 63];
        out[o++] = b64url_alphabet[(v & 15) << 2];
    }
    out[o] = '\0';
    return out;
}

static int
decode_b64url_char(char c)
{
    const char *p = strchr(b64url_alphabet, c);

    return c != '\0' && p != NULL ? (int)(p - b64url_alphabet) : -1;
}

unsigned char *
acme_b64url_decode(const char *text, size_t *len)
{
    size_t n = strlen(text), i, o = 0;
    unsigned long acc = 0;
    int bits = 0;
    unsigned char *out;

    while (n > 0 && text[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return NULL;
    out = malloc(n * 3 / 4 + 1);
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        int v = decode_b64url_char(text[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *len = o;
    return out;
}

EVP_PKEY *
acme_key_new(enum acme_key_type type)
{
    EVP_PKEY *key = NULL;

    switch (type) {
    case ACME_KEY_EC256:
        key = EVP_EC_gen("P-256");
        break;
    case ACME_KEY_EC384:
        key = EVP_EC_gen("P-384");
        break;
    case ACME_KEY_RSA2048:
        key = EVP_RSA_gen(2048);
        break;
    case ACME_KEY_RSA4096:
        key = EVP_RSA_gen(4096);
        break;
    }
    if (key == NULL)
        acme_log_ssl("key generation failed", NULL);
    return key;
}

/* The EC field size in bytes (32 or 48), 0 for other keys. */
static int
get_ec_size(EVP_PKEY *key)
{
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return 0;
    return (EVP_PKEY_get_bits(key) + 7) / 8;
}

const char *
acme_jws_alg(EVP_PKEY *key)
{
    switch (get_ec_size(key)) {
    case 32:
        return "ES256";
    case 48:
        return "ES384";
    case 0:
        return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? "RS256" : NULL;
    default:
        return NULL;
    }
}

static const EVP_MD *
get_md(EVP_PKEY *key)
{
    return get_ec_size(key) == 48 ? EVP_sha384() : EVP_sha256();
}

static char *
encode_bn_param(EVP_PKEY *key, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    char *out = NULL;
    int n;

    if (!EVP_PKEY_get_bn_param(key, param, &bn))
        return NULL;
    n = pad > 0 ? pad : BN_num_bytes(bn);
    if (n <= (int)sizeof(buf) && BN_bn2binpad(bn, buf, n) == n)
        out = acme_b64url_encode(buf, (size_t)n);
    BN_free(bn);
    return out;
}

static int
add_b64_member(cJSON *o, const char *name, char *value)
{
    if (value == NULL)
        return -1;
    cJSON_AddStringToObject(o, name, value);
    free(value);
    return 0;
}

cJSON *
acme_jwk(EVP_PKEY *key)
{
    cJSON *o = cJSON_CreateObject();
    int size = get_ec_size(key);
    int rc;

    if (size > 0) {
        cJSON_AddStringToObject(o, "crv", size == 32 ? "P-256" : "P-384");
        cJSON_AddStringToObject(o, "kty", "EC");
        rc = add_b64_member(
            o, "x", encode_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, size));
        rc |= add_b64_member(
            o, "y", encode_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, size));
    } else {
        rc = add_b64_member(o, "e",
                            encode_bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0));
        cJSON_AddStringToObject(o, "kty", "RSA");
        rc |= add_b64_member(o, "n",
                             encode_bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0));
    }
    if (rc != 0) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

char *
acme_jwk_thumbprint(EVP_PKEY *key)
{
    cJSON *jwk = acme_jwk(key);
    unsigned char md[32];
    char *text, *out = NULL;

    if (jwk == NULL)
        return NULL;
    text = cJSON_PrintUnformatted(jwk);
    if (text != NULL && EVP_Digest(text, strlen(text), md, NULL,
                                   EVP_sha256(), NULL))
        out = acme_b64url_encode(md, sizeof(md));
    free(text);
    cJSON_Delete(jwk);
    return out;
}

static int
push_b64_param(OSSL_PARAM_BLD *bld, const char *param, const cJSON *jwk,
               const char *member, BIGNUM **bn_out)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(jwk, member));
    unsigned char *raw;
    size_t len;
    BIGNUM *bn;
    int rc = -1;

    if (text == NULL || (raw = acme_b64url_decode(text, &len)) == NULL)
        return -1;
    bn = BN_bin2bn(raw, (int)len, NULL);
    if (bn != NULL && OSSL_PARAM_BLD_push_BN(bld, param, bn))
        rc = 0;
    /* OSSL_PARAM_BLD keeps a pointer to bn until the build. */
    *bn_out = bn;
    free(raw);
    return rc;
}

static int
push_ec_point(OSSL_PARAM_BLD *bld, const cJSON *jwk, unsigned char *point,
              size_t cap)
{
    const char *xs = cJSON_GetStringValue(cJSON_GetObjectItem(jwk, "x"));
    const char *ys = cJSON_GetStringValue(cJSON_GetObjectItem(jwk, "y"));
    unsigned char *x = NULL, *y = NULL;
    size_t xl = 0, yl = 0;
    int rc = -1;

    if (xs == NULL || ys == NULL)
        return -1;
    x = acme_b64url_decode(xs, &xl);
    y = acme_b64url_decode(ys, &yl);
    if (x != NULL && y != NULL && xl == yl && 1 + xl + yl <= cap) {
        point[0] = 0x04; /* uncompressed point, SEC 1 section 2.3.3 */
        memcpy(point + 1, x, xl);
        memcpy(point + 1 + xl, y, yl);
        if (OSSL_PARAM_BLD_push_octet_string(
                bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + xl + yl))
            rc = 0;
    }
    free(x);
    free(y);
    return rc;
}

EVP_PKEY *
acme_jwk_to_pkey(const cJSON *jwk)
{
    const char *kty = cJSON_GetStringValue(cJSON_GetObjectItem(jwk, "kty"));
    const char *crv = cJSON_GetStringValue(cJSON_GetObjectItem(jwk, "crv"));
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *key = NULL;
    BIGNUM *n = NULL, *e = NULL;
    unsigned char point[1 + 2 * 66];
    int rc = -1;

    if (bld == NULL || kty == NULL)
        goto out;
    if (strcmp(kty, "EC") == 0 && crv != NULL) {
        const char *group = strcmp(crv, "P-256") == 0   ? "prime256v1"
                            : strcmp(crv, "P-384") == 0 ? "secp384r1"
                                                        : NULL;
        if (group == NULL || !OSSL_PARAM_BLD_push_utf8_string(
                                 bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0))
            goto out;
        rc = push_ec_point(bld, jwk, point, sizeof(point));
        pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    } else if (strcmp(kty, "RSA") == 0) {
        rc = push_b64_param(bld, OSSL_PKEY_PARAM_RSA_N, jwk, "n", &n);
        rc |= push_b64_param(bld, OSSL_PKEY_PARAM_RSA_E, jwk, "e", &e);
        pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    }
    if (rc != 0 || pctx == NULL)
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
        EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        key = NULL;
out:
    OSSL_PARAM_free(params);
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(pctx);
    return key;
}

/* Converts a DER ECDSA-Sig-Value to raw r||s, each padded to size bytes. */
static unsigned char *
convert_der_to_raw(const unsigned char *der, size_t der_len, int size,
                   size_t *raw_len)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    unsigned char *raw = NULL;

    if (sig == NULL)
        return NULL;
    ECDSA_SIG_get0(sig, &r, &s);
    raw = malloc(2 * (size_t)size);
    if (raw != NULL && (BN_bn2binpad(r, raw, size) != size ||
                        BN_bn2binpad(s, raw + size, size) != size)) {
        free(raw);
        raw = NULL;
    }
    ECDSA_SIG_free(sig);
    *raw_len = 2 * (size_t)size;
    return raw;
}

unsigned char *
acme_sign(EVP_PKEY *key, const unsigned char *data, size_t len,
          size_t *sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *sig = NULL, *raw;
    size_t n = 0;
    int size = get_ec_size(key);

    if (md == NULL ||
        EVP_DigestSignInit(md, NULL, get_md(key), NULL, key) <= 0 ||
        EVP_DigestSign(md, NULL, &n, data, len) <= 0 ||
        (sig = malloc(n)) == NULL ||
        EVP_DigestSign(md, sig, &n, data, len) <= 0) {
        acme_log_ssl("JWS signing failed", acme_jws_alg(key));
        free(sig);
        sig = NULL;
        goto out;
    }
    *sig_len = n;
    if (size > 0) {
        raw = convert_der_to_raw(sig, n, size, sig_len);
        free(sig);
        sig = raw;
    }
out:
    EVP_MD_CTX_free(md);
    return sig;
}

int
acme_verify(EVP_PKEY *key, const unsigned char *data, size_t len,
            const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    int size = get_ec_size(key), der_len, rc = -1;

    if (size > 0) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r, *s;
        if (sig_len != 2 * (size_t)size || es == NULL)
            goto ec_out;
        r = BN_bin2bn(sig, size, NULL);
        s = BN_bin2bn(sig + size, size, NULL);
        if (r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
            BN_free(r);
            BN_free(s);
            goto ec_out;
        }
        der_len = i2d_ECDSA_SIG(es, &der);
        if (der_len > 0) {
            sig = der;
            sig_len = (size_t)der_len;
        }
    ec_out:
        ECDSA_SIG_free(es);
        if (der == NULL)
            goto out;
    }
    if (md != NULL &&
        EVP_DigestVerifyInit(md, NULL, get_md(key), NULL, key) > 0 &&
        EVP_DigestVerify(md, sig, sig_len, data, len) == 1)
        rc = 0;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    return rc;
}

/* Joins b64(protected) "." b64(payload), signs it, returns the JSON. */
static char *
sign_flattened(EVP_PKEY *key, const char *protected, const char *payload)
{
    char *p64 = acme_b64url_encode((const unsigned char *)protected,
                                   strlen(protected));
    char *b64 = acme_b64url_encode((const unsigned char *)payload,
                                   strlen(payload));
    char *input = NULL, *sig64 = NULL, *out = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    cJSON *o;

    if (p64 == NULL || b64 == NULL)
        goto done;
    if (asprintf(&input, "%s.%s", p64, b64) < 0) {
        input = NULL;
        goto done;
    }
    sig = acme_sign(key, (unsigned char *)input, strlen(input), &sig_len);
    if (sig == NULL || (sig64 = acme_b64url_encode(sig, sig_len)) == NULL)
        goto done;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "protected", p64);
    cJSON_AddStringToObject(o, "payload", b64);
    cJSON_AddStringToObject(o, "signature", sig64);
    out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
done:
    free(p64);
    free(b64);
    free(input);
    free(sig);
    free(sig64);
    return out;
}

char *
acme_jws(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
         const char *payload)
{
    cJSON *h = cJSON_CreateObject();
    char *protected, *out = NULL;

    cJSON_AddStringToObject(h, "alg", acme_jws_alg(key));
    if (kid != NULL) {
        cJSON_AddStringToObject(h, "kid", kid);
    } else {
        cJSON *jwk = acme_jwk(key);
        if (jwk == NULL)
            goto out;
        cJSON_AddItemToObject(h, "jwk", jwk);
    }
    cJSON_AddStringToObject(h, "nonce", nonce);
    cJSON_AddStringToObject(h, "url", url);
    protected = cJSON_PrintUnformatted(h);
    if (protected != NULL)
        out = sign_flattened(key, protected, payload ? payload : "");
    free(protected);
out:
    cJSON_Delete(h);
    return out;
}

cJSON *
acme_eab(EVP_PKEY *account_key, const char *kid, const char *hmac_key,
         const char *url)
{
    cJSON *h = cJSON_CreateObject(), *jwk = acme_jwk(account_key), *o = NULL;
    char *protected = NULL, *payload = NULL, *input = NULL;
    char *p64 = NULL, *b64 = NULL, *sig64 = NULL;
    unsigned char *mac_key = NULL, mac[32];
    unsigned int mac_len = 0;
    size_t key_len = 0;

    mac_key = acme_b64url_decode(hmac_key, &key_len);
    if (jwk == NULL || mac_key == NULL) {
        log_error("acme", "invalid EAB HMAC key", "kid=%s", kid);
        goto out;
    }
    cJSON_AddStringToObject(h, "alg", "HS256");
    cJSON_AddStringToObject(h, "kid", kid);
    cJSON_AddStringToObject(h, "url", url);
    protected = cJSON_PrintUnformatted(h);
    payload = cJSON_PrintUnformatted(jwk);
    p64 = acme_b64url_encode((unsigned char *)protected, strlen(protected));
    b64 = acme_b64url_encode((unsigned char *)payload, strlen(payload));
    if (asprintf(&input, "%s.%s", p64, b64) < 0) {
        input = NULL;
        goto out;
    }
    if (HMAC(EVP_sha256(), mac_key, (int)key_len, (unsigned char *)input,
             strlen(input), mac, &mac_len) == NULL)
        goto out;
    sig64 = acme_b64url_encode(mac, mac_len);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "protected", p64);
    cJSON_AddStringToObject(o, "payload", b64);
    cJSON_AddStringToObject(o, "signature", sig64);
out:
    cJSON_Delete(h);
    cJSON_Delete(jwk);
    free(mac_key);
    free(protected);
    free(payload);
    free(input);
    free(p64);
    free(b64);
    free(sig64);
    return o;
}

static int
add_san_extension(STACK_OF(X509_EXTENSION) *exts, X509 *cert,
                  const char *const *names, size_t n)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    X509_EXTENSION *ext;
    size_t i;
    int rc = -1;

    for (i = 0; i < n; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (g == NULL || s == NULL ||
            !ASN1_STRING_set(s, names[i], (int)strlen(names[i]))) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(s);
            goto out;
        }
        GENERAL_NAME_set0_value(g, GEN_DNS, s);
        sk_GENERAL_NAME_push(gens, g);
    }
    ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
    if (ext == NULL)
        goto out;
    if (exts != NULL)
        sk_X509_EXTENSION_push(exts, ext);
    else if (X509_add_ext(cert, ext, -1))
        X509_EXTENSION_free(ext);
    else {
        X509_EXTENSION_free(ext);
        goto out;
    }
    rc = 0;
out:
    GENERAL_NAMES_free(gens);
    return rc;
}

unsigned char *
acme_csr(EVP_PKEY *key, const char *const *names, size_t n, size_t *der_len)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *subject = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    unsigned char *der = NULL;
    int len;

    if (req == NULL || subject == NULL || exts == NULL || n == 0)
        goto fail;
    if (strlen(names[0]) <= 64 &&
        !X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                    (const unsigned char *)names[0], -1, -1,
                                    0))
        goto fail;
    if (!X509_REQ_set_version(req, 0) ||
        !X509_REQ_set_subject_name(req, subject) ||
        !X509_REQ_set_pubkey(req, key) ||
        add_san_extension(exts, NULL, names, n) != 0 ||
        !X509_REQ_add_extensions(req, exts) ||
        X509_REQ_sign(req, key, get_md(key)) <= 0)
        goto fail;
    len = i2d_X509_REQ(req, &der);
    if (len <= 0)
        goto fail;
    *der_len = (size_t)len;
    goto out;
fail:
    acme_log_ssl("CSR creation failed", n > 0 ? names[0] : NULL);
    der = NULL;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(subject);
    X509_REQ_free(req);
    return der;
}

/* Adds id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical, whose value is
 * the DER OCTET STRING of SHA-256(key authorization) (RFC 8737 section 3). */
static int
add_acme_identifier(X509 *cert, const char *key_authorization)
{
    unsigned char value[2 + 32];
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    ASN1_OCTET_STRING *data = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int rc = -1;

    value[0] = 0x04; /* OCTET STRING */
    value[1] = 32;
    if (oid == NULL || data == NULL ||
        !EVP_Digest(key_authorization, strlen(key_authorization), value + 2,
                    NULL, EVP_sha256(), NULL) ||
        !ASN1_OCTET_STRING_set(data, value, sizeof(value)))
        goto out;
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, data);
    if (ext != NULL && X509_add_ext(cert, ext, -1))
        rc = 0;
out:
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(data);
    ASN1_OBJECT_free(oid);
    return rc;
}

X509 *
acme_tls_alpn_cert(EVP_PKEY *key, const char *name,
                   const char *key_authorization)
{
    X509 *cert = X509_new();
    X509_NAME *subject;
    const char *names[1] = {name};

    if (cert == NULL || !X509_set_version(cert, 2) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(cert), (long)time(NULL)) ||
        X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 86400) == NULL)
        goto fail;
    subject = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                    (const unsigned char *)name, -1, -1, 0) ||
        !X509_set_issuer_name(cert, subject) || !X509_set_pubkey(cert, key) ||
        add_san_extension(NULL, cert, names, 1) != 0 ||
        add_acme_identifier(cert, key_authorization) != 0 ||
        X509_sign(cert, key, get_md(key)) <= 0)
        goto fail;
    return cert;
fail:
    acme_log_ssl("TLS-ALPN-01 certificate creation failed", name);
    X509_free(cert);
    return NULL;
}

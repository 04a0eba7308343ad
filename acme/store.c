/*
 * The state directory. Every file is replaced atomically: a temporary file
 * in the same directory, fsync, rename, fsync of the directory. A
 * certificate's key and chain live in ONE file, so a crash leaves either the
 * old pair or the new one. Temporary files start with '.' and are ignored
 * (and removed) on load.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme_int.h"
#include "log.h"

static int
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int
acme_store_write(const char *dir, const char *name, const char *data,
                 size_t len, unsigned mode)
{
    char tmp[4096], path[4096];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.XXXXXX", dir, name);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        goto fail;
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, len) != 0 ||
        fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        goto fail;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        goto fail;
    }
    if (sync_dir(dir) != 0)
        goto fail;
    return 0;
fail:
    log_error("acme", "state file write failed", "path=%s error=%s", path,
              strerror(errno));
    return -1;
}

char *
acme_store_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL)
        goto out;
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = (size_t)n;
out:
    fclose(f);
    return buf;
}

void
acme_store_cert_id(const char *name, char *out, size_t cap)
{
    size_t o = 0;

    if (strncmp(name, "*.", 2) == 0) {
        o = (size_t)snprintf(out, cap, "_wildcard");
        name++;
    }
    for (; *name && o + 1 < cap; name++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*name);
        out[o++] = isalnum(c) || c == '.' || c == '-' ? (char)c : '_';
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static time_t
convert_asn1_time(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

static int
collect_names(struct acme_bundle *b)
{
    GENERAL_NAMES *gens =
        X509_get_ext_d2i(b->leaf, NID_subject_alt_name, NULL, NULL);
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;

    b->names = calloc((size_t)n + 1, sizeof(char *));
    if (b->names == NULL)
        goto out;
    for (int i = 0; i < n; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const unsigned char *s;
        char *name;
        if (g->type != GEN_DNS)
            continue;
        s = ASN1_STRING_get0_data(g->d.dNSName);
        name = strndup((const char *)s,
                       (size_t)ASN1_STRING_length(g->d.dNSName));
        for (char *p = name; p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (name != NULL)
            b->names[b->n_names++] = name;
    }
out:
    GENERAL_NAMES_free(gens);
    return b->n_names > 0 ? 0 : -1;
}

int
acme_bundle_parse(const char *pem, size_t len, struct acme_bundle *b,
                  char *err, size_t errcap)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *x;

    memset(b, 0, sizeof(*b));
    b->chain = sk_X509_new_null();
    if (bio == NULL || b->chain == NULL)
        goto fail;
    b->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (b->key == NULL) {
        snprintf(err, errcap, "no private key");
        goto fail;
    }
    b->leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (b->leaf == NULL) {
        snprintf(err, errcap, "no certificate");
        goto fail;
    }
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
        sk_X509_push(b->chain, x);
    ERR_clear_error();
    if (X509_check_private_key(b->leaf, b->key) != 1) {
        snprintf(err, errcap, "key does not match certificate");
        goto fail;
    }
    b->not_before = convert_asn1_time(X509_get0_notBefore(b->leaf));
    b->not_after = convert_asn1_time(X509_get0_notAfter(b->leaf));
    if (collect_names(b) != 0) {
        snprintf(err, errcap, "certificate has no DNS names");
        goto fail;
    }
    BIO_free(bio);
    return 0;
fail:
    ERR_clear_error();
    BIO_free(bio);
    acme_bundle_clear(b);
    return -1;
}

void
acme_bundle_clear(struct acme_bundle *b)
{
    EVP_PKEY_free(b->key);
    X509_free(b->leaf);
    sk_X509_pop_free(b->chain, X509_free);
    for (size_t i = 0; i < b->n_names; i++)
        free(b->names[i]);
    free(b->names);
    memset(b, 0, sizeof(*b));
}

bool
acme_bundle_covers(const struct acme_bundle *b, const char *const *names,
                   size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n_names && !found; j++)
            found = strcasecmp(names[i], b->names[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

int
acme_bundle_store(const char *certs_dir, const char *id, EVP_PKEY *key,
                  const char *chain_pem, size_t chain_len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char name[300], *data;
    long n;
    int rc = -1;

    if (bio == NULL ||
        !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ||
        BIO_write(bio, chain_pem, (int)chain_len) != (int)chain_len) {
        acme_log_ssl("certificate serialization failed", id);
        goto out;
    }
    n = BIO_get_mem_data(bio, &data);
    snprintf(name, sizeof(name), "%s.pem", id);
    rc = acme_store_write(certs_dir, name, data, (size_t)n, 0600);
out:
    BIO_free(bio);
    return rc;
}

/* DNS-01: message encoding, the strict response parser, TSIG signing and
 * verification, the TXT value and the hook runner. */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/hmac.h>

#include "acme_dns.h"
#include "check.h"

static const struct acme_tsig_key test_key = {
    .name = "k.test",
    .algorithm = "hmac-sha256",
    .secret = "0123456789abcdef0123456789abcdef",
    .secret_len = 32,
};

static void
test_dns_query_bytes(void)
{
    static const unsigned char expected[] = {
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
        1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
        0, 16, 0, 1,
    };
    struct acme_dns_msg m;

    CHECK_INT(__LINE__, 0,
              acme_dns_query_build(&m, 0x1234, "A.Example.test.",
                                   ACME_DNS_TYPE_TXT, true));
    CHECK_INT(__LINE__, sizeof(expected), m.len);
    CHECK(memcmp(m.buf, expected, sizeof(expected)) == 0);
    CHECK_INT(__LINE__, -1, acme_dns_query_build(&m, 1, "a..test", 1, false));
    CHECK_INT(__LINE__, -1,
              acme_dns_query_build(&m, 1,
                                   "a234567890123456789012345678901234567890"
                                   "123456789012345678901234.test", 1, false));
}

static void
test_dns_update_sections(void)
{
    struct acme_dns_msg m;
    size_t rr;

    CHECK_INT(__LINE__, 0,
              acme_dns_update_build(&m, 7, "example.test",
                                    "_acme-challenge.example.test", "v1",
                                    false, 60));
    CHECK_INT(__LINE__, 5, m.buf[2] >> 3); /* opcode UPDATE */
    CHECK_INT(__LINE__, 1, m.buf[5]);      /* ZOCOUNT */
    CHECK_INT(__LINE__, 1, m.buf[9]);      /* UPCOUNT */
    /* header 12 + zone name 14 + type/class 4, then the update RR whose
     * owner name takes 30 bytes. */
    rr = 12 + 14 + 4 + 30;
    CHECK_INT(__LINE__, ACME_DNS_TYPE_TXT, m.buf[rr] << 8 | m.buf[rr + 1]);
    CHECK_INT(__LINE__, ACME_DNS_CLASS_NONE,
              m.buf[rr + 2] << 8 | m.buf[rr + 3]);
    CHECK_INT(__LINE__, 0, m.buf[rr + 7]); /* TTL 0 on delete */
    CHECK_INT(__LINE__, 3, m.buf[rr + 9]); /* rdlength */
    CHECK_INT(__LINE__, 2, m.buf[rr + 10]);
    CHECK_INT(__LINE__, rr + 13, m.len);
}

/* A response to a TXT query for a.test with one answer whose owner is a
 * compression pointer to the question. */
static size_t
make_response(unsigned char *out)
{
    static const unsigned char msg[] = {
        0x12, 0x34, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0,
        1, 'a', 4, 't', 'e', 's', 't', 0, 0, 16, 0, 1,
        0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 7,
        2, 'h', 'i', 3, 'y', 'o', 'u',
    };

    memcpy(out, msg, sizeof(msg));
    return sizeof(msg);
}

static void
test_dns_parse_valid(void)
{
    unsigned char msg[512];
    size_t len = make_response(msg);
    struct acme_dns_reply r;
    char txt[64];

    CHECK_INT(__LINE__, 0, acme_dns_parse(msg, len, &r));
    CHECK_INT(__LINE__, 0x1234, r.id);
    CHECK_INT(__LINE__, 1, r.n_rr);
    CHECK_STR(__LINE__, "a.test", r.rr[0].name);
    CHECK_INT(__LINE__, 1, r.rr[0].section);
    CHECK_INT(__LINE__, 0, acme_dns_txt(msg, &r.rr[0], txt, sizeof(txt)));
    CHECK_STR(__LINE__, "hiyou", txt);
    CHECK_INT(__LINE__, -1, acme_dns_txt(msg, &r.rr[0], txt, 5));
}

static void
test_dns_parse_rejects(void)
{
    static const struct {
        int line;
        size_t at;          /* byte to change */
        unsigned char value;
        int cut;            /* bytes removed from the end */
        int extra;          /* bytes appended */
    } cases[] = {
        {__LINE__, 2, 0x04, 0, 0},  /* QR clear: a query */
        {__LINE__, 25, 40, 0, 0},   /* pointer forward */
        {__LINE__, 25, 24, 0, 0},   /* pointer to itself */
        {__LINE__, 24, 0x80, 0, 0}, /* reserved label type */
        {__LINE__, 35, 60, 0, 0},   /* rdlength past the end */
        {__LINE__, 0, 0x12, 1, 0},  /* truncated rdata */
        {__LINE__, 0, 0x12, 0, 1},  /* trailing byte */
        {__LINE__, 5, 2, 0, 0},     /* two questions */
        {__LINE__, 7, 2, 0, 0},     /* answer missing */
        {__LINE__, 13, '.', 0, 0},  /* dot inside a label */
        {__LINE__, 27, 250, 0, 0},  /* TSIG in the answer section */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char msg[512];
        size_t len = make_response(msg);
        struct acme_dns_reply r;

        msg[cases[i].at] = cases[i].value;
        len = len - (size_t)cases[i].cut + (size_t)cases[i].extra;
        CHECK_INT(cases[i].line, -1, acme_dns_parse(msg, len, &r));
    }
    CHECK_INT(__LINE__, -1, acme_dns_parse((const unsigned char *)"", 0,
                                           &(struct acme_dns_reply){0}));
}

static void
test_dns_parse_long_name(void)
{
    /* A question name of four 63-byte labels and one of 10: 266 bytes. */
    unsigned char msg[400] = {0x12, 0x34, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t len = 12;
    struct acme_dns_reply r;

    for (int i = 0; i < 5; i++) {
        size_t n = i < 4 ? 63 : 10;
        msg[len++] = (unsigned char)n;
        memset(msg + len, 'a', n);
        len += n;
    }
    msg[len++] = 0;
    len += 4; /* type and class */
    CHECK_INT(__LINE__, -1, acme_dns_parse(msg, len, &r));
    msg[12 + 4 * 64] = 0; /* end the name after 4 labels: 257 bytes */
    CHECK_INT(__LINE__, -1, acme_dns_parse(msg, 12 + 4 * 64 + 5, &r));
    msg[12 + 3 * 64] = 0; /* 3 labels: 193 bytes, valid */
    CHECK_INT(__LINE__, 0, acme_dns_parse(msg, 12 + 3 * 64 + 5, &r));
}

/* Appends a TSIG record to resp signed as the server would (RFC 8945
 * section 5.3), with the bytes written out here independently of the
 * client's encoder. */
static size_t
sign_response(unsigned char *resp, size_t len, const unsigned char *req_mac,
              size_t req_mac_len, uint64_t now, unsigned error,
              const char *secret)
{
    static const unsigned char key_name[] = {1, 'k', 4, 't', 'e', 's', 't',
                                             0};
    static const unsigned char alg[] = {11, 'h', 'm', 'a', 'c', '-', 's', 'h',
                                        'a', '2', '5', '6', 0};
    unsigned char in[2048], mac[64], times[8] = {0};
    size_t n = 0;
    unsigned mac_len = 0;

    times[0] = (unsigned char)(now >> 40);
    times[1] = (unsigned char)(now >> 32);
    times[2] = (unsigned char)(now >> 24);
    times[3] = (unsigned char)(now >> 16);
    times[4] = (unsigned char)(now >> 8);
    times[5] = (unsigned char)now;
    times[6] = 1; /* fudge 300 */
    times[7] = 0x2c;
    in[n++] = (unsigned char)(req_mac_len >> 8);
    in[n++] = (unsigned char)req_mac_len;
    memcpy(in + n, req_mac, req_mac_len);
    n += req_mac_len;
    memcpy(in + n, resp, len);
    n += len;
    memcpy(in + n, key_name, sizeof(key_name));
    n += sizeof(key_name);
    memcpy(in + n, (unsigned char[]){0, 255, 0, 0, 0, 0}, 6);
    n += 6;
    memcpy(in + n, alg, sizeof(alg));
    n += sizeof(alg);
    memcpy(in + n, times, 8);
    n += 8;
    memcpy(in + n, (unsigned char[]){(unsigned char)(error >> 8),
                                     (unsigned char)error, 0, 0}, 4);
    n += 4;
    if (error == 0)
        HMAC(EVP_sha256(), secret, 32, in, n, mac, &mac_len);
    memcpy(resp + len, key_name, sizeof(key_name));
    len += sizeof(key_name);
    memcpy(resp + len, (unsigned char[]){0, 250, 0, 255, 0, 0, 0, 0}, 8);
    len += 8;
    resp[len++] = 0;
    resp[len++] = (unsigned char)(sizeof(alg) + 8 + 2 + mac_len + 6);
    memcpy(resp + len, alg, sizeof(alg));
    len += sizeof(alg);
    memcpy(resp + len, times, 8);
    len += 8;
    resp[len++] = 0;
    resp[len++] = (unsigned char)mac_len;
    memcpy(resp + len, mac, mac_len);
    len += mac_len;
    memcpy(resp + len, resp, 2); /* original ID */
    len += 2;
    resp[len++] = (unsigned char)(error >> 8);
    resp[len++] = (unsigned char)error;
    resp[len++] = 0;
    resp[len++] = 0;
    resp[11] = 1; /* ARCOUNT */
    return len;
}

static void
test_dns_tsig_round_trip(void)
{
    unsigned char mac[64], resp[1024];
    size_t mac_len = 0, len;
    struct acme_dns_msg m;
    struct acme_dns_reply r;
    time_t now = time(NULL);
    char err[160] = "";

    CHECK_INT(__LINE__, 0, acme_dns_update_build(&m, 0x1234, "test",
                                                 "_acme-challenge.a.test",
                                                 "v", true, 60));
    CHECK_INT(__LINE__, 0, acme_dns_tsig_sign(&m, &test_key, now, mac,
                                              &mac_len));
    CHECK_INT(__LINE__, 32, mac_len);
    CHECK_INT(__LINE__, 1, m.buf[11]); /* ARCOUNT */

    /* A NOERROR response: the header with QR set and no records. */
    memcpy(resp, (unsigned char[]){0x12, 0x34, 0xa8, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0}, 12);
    len = sign_response(resp, 12, mac, mac_len, (uint64_t)now, 0,
                        (const char *)test_key.secret);
    CHECK_INT(__LINE__, 0, acme_dns_parse(resp, len, &r));
    CHECK(r.has_tsig);
    CHECK_INT(__LINE__, 0, acme_dns_tsig_verify(resp, len, &r, &test_key, mac,
                                                mac_len, now, err,
                                                sizeof(err)));
    CHECK_STR(__LINE__, "", err);
    CHECK_INT(__LINE__, -1, acme_dns_tsig_verify(resp, len, &r, &test_key,
                                                 mac, mac_len, now + 400,
                                                 err, sizeof(err)));
    mac[0] ^= 1; /* another request */
    CHECK_INT(__LINE__, -1, acme_dns_tsig_verify(resp, len, &r, &test_key,
                                                 mac, mac_len, now, err,
                                                 sizeof(err)));
    CHECK_STR(__LINE__, "response TSIG MAC does not verify", err);
}

static void
test_dns_tsig_errors(void)
{
    unsigned char resp[1024], mac[32] = {0};
    struct acme_dns_reply r;
    struct acme_tsig_key other = test_key;
    char err[160];
    size_t len;

    memcpy(resp, (unsigned char[]){0x12, 0x34, 0xa8, 9, 0, 0, 0, 0, 0, 0,
                                   0, 0}, 12);
    len = sign_response(resp, 12, mac, 32, (uint64_t)time(NULL), 16, NULL);
    CHECK_INT(__LINE__, 0, acme_dns_parse(resp, len, &r));
    CHECK_INT(__LINE__, 9, r.rcode);
    CHECK_INT(__LINE__, -1, acme_dns_tsig_verify(resp, len, &r, &test_key,
                                                 mac, 32, time(NULL), err,
                                                 sizeof(err)));
    CHECK(strstr(err, "BADSIG") != NULL);
    snprintf(other.name, sizeof(other.name), "other.test");
    CHECK_INT(__LINE__, -1, acme_dns_tsig_verify(resp, len, &r, &other, mac,
                                                 32, time(NULL), err,
                                                 sizeof(err)));
    CHECK(strstr(err, "another key") != NULL);
    resp[11] = 0; /* no TSIG record */
    CHECK_INT(__LINE__, 0, acme_dns_parse(resp, 12, &r));
    CHECK_INT(__LINE__, -1, acme_dns_tsig_verify(resp, 12, &r, &test_key,
                                                 mac, 32, time(NULL), err,
                                                 sizeof(err)));
    CHECK(strstr(err, "not signed") != NULL);
}

static void
test_dns_tsig_algorithms(void)
{
    static const struct {
        int line;
        const char *name;
        int size;
    } cases[] = {
        {__LINE__, "hmac-sha256", 32}, {__LINE__, "HMAC-SHA512", 64},
        {__LINE__, "hmac-sha384", 48}, {__LINE__, "hmac-sha224", 28},
        {__LINE__, "hmac-sha1", 20},   {__LINE__, "hmac-md5", -1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const EVP_MD *md = acme_tsig_md(cases[i].name);
        CHECK_INT(cases[i].line, cases[i].size, md ? EVP_MD_size(md) : -1);
    }
}

static void
test_dns_txt_value(void)
{
    char *v = acme_dns01_txt_value("token-abc.thumb-xyz");

    CHECK_STR(__LINE__, "aG1KvdzDBR5lnyj-FOZakYdE-3pF0ZqWa8aBwaLYrFw", v);
    free(v);
}

static void
test_dns_hook_status(void)
{
    char path[] = "/tmp/portico-test-hook.XXXXXX";
    int fd = mkstemp(path);
    static const char script[] =
        "#!/bin/sh\n"
        "echo \"args: $1 $2 $3\"\n"
        "printf 'line2\\033\\nline3\\nline4\\n'\n"
        "[ \"$1\" = add ] && exit 0\n"
        "[ \"$1\" = slow ] && exec sleep 30\n"
        "exit 3\n";
    time_t start;

    CHECK(fd >= 0);
    CHECK(write(fd, script, sizeof(script) - 1) == sizeof(script) - 1);
    close(fd);
    chmod(path, 0700);
    CHECK_INT(__LINE__, 0, acme_dns_hook_run(path, "add", "_a.test", "v", 5));
    CHECK_INT(__LINE__, -1,
              acme_dns_hook_run(path, "remove", "_a.test", "v", 5));
    start = time(NULL);
    CHECK_INT(__LINE__, -1, acme_dns_hook_run(path, "slow", "_a.test", "v",
                                              1));
    CHECK(time(NULL) - start < 5);
    CHECK_INT(__LINE__, -1,
              acme_dns_hook_run("/nonexistent/hook", "add", "x", "v", 5));
    unlink(path);
}

/* A DNS server that sets TC on every UDP response and answers over TCP:
 * UPDATE with NOERROR, queries with one TXT record "tcp-value". */
struct fake_server {
    int udp, tcp;
    int port;
    int tcp_answers;
};

static void
answer_tcp(struct fake_server *f, int fd)
{
    unsigned char msg[600], out[700];
    size_t len, n;

    if (recv(fd, msg, 2, MSG_WAITALL) != 2)
        return;
    len = (size_t)msg[0] << 8 | msg[1];
    if (len < 12 || len > 512 ||
        recv(fd, msg, len, MSG_WAITALL) != (ssize_t)len)
        return;
    memcpy(out + 2, msg, len);
    n = len;
    out[2 + 2] |= 0x80; /* QR */
    if ((msg[2] >> 3 & 0x0f) == 0) {
        static const unsigned char rr[] = {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60,
                                           0, 10, 9, 't', 'c', 'p', '-', 'v',
                                           'a', 'l', 'u', 'e'};
        out[2 + 7] = 1; /* ANCOUNT */
        memcpy(out + 2 + n, rr, sizeof(rr));
        n += sizeof(rr);
    } else {
        n = 12; /* UPDATE: the header alone, every count zero */
        memset(out + 2 + 4, 0, 8);
    }
    out[0] = (unsigned char)(n >> 8);
    out[1] = (unsigned char)n;
    if (send(fd, out, n + 2, MSG_NOSIGNAL) == (ssize_t)n + 2)
        f->tcp_answers++;
}

static void *
run_fake_server(void *arg)
{
    struct fake_server *f = arg;
    struct pollfd p[2] = {{.fd = f->udp, .events = POLLIN},
                          {.fd = f->tcp, .events = POLLIN}};

    while (poll(p, 2, 1000) > 0) {
        if (p[0].revents & POLLIN) {
            unsigned char msg[600];
            struct sockaddr_in from;
            socklen_t flen = sizeof(from);
            ssize_t n = recvfrom(f->udp, msg, sizeof(msg), 0,
                                 (struct sockaddr *)&from, &flen);
            if (n >= 12) {
                msg[2] |= 0x82; /* QR and TC */
                memset(msg + 4, 0, 8);
                sendto(f->udp, msg, 12, 0, (struct sockaddr *)&from, flen);
            }
        }
        if (p[1].revents & POLLIN) {
            int fd = accept(f->tcp, NULL, NULL);
            if (fd >= 0) {
                answer_tcp(f, fd);
                close(fd);
            }
        }
    }
    return NULL;
}

/* Binds UDP and TCP on the same loopback port in 29400-29499. */
static int
open_fake_server(struct fake_server *f)
{
    for (int port = 29400; port < 29500; port++) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port)};
        int one = 1;

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        f->udp = socket(AF_INET, SOCK_DGRAM, 0);
        f->tcp = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(f->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(f->udp, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            bind(f->tcp, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            listen(f->tcp, 8) == 0) {
            f->port = port;
            return 0;
        }
        close(f->udp);
        close(f->tcp);
    }
    return -1;
}

static void
test_dns_tcp_fallback(void)
{
    struct fake_server f = {0};
    struct acme_dns_config c = {0};
    char server[32], err[256] = "";
    pthread_t t;

    if (open_fake_server(&f) != 0) {
        CHECK(!"no free port in 29400-29499");
        return;
    }
    snprintf(server, sizeof(server), "127.0.0.1:%d", f.port);
    c.rfc2136_server = server;
    c.rfc2136_zone = "example.test";
    c.resolver = server;
    c.propagation_timeout = 5;
    CHECK_INT(__LINE__, 0, acme_dns_configure(&c));
    pthread_create(&t, NULL, run_fake_server, &f);
    CHECK_INT(__LINE__, 0, acme_dns01_add("a.example.test", "tcp-value", err,
                                          sizeof(err)));
    CHECK_STR(__LINE__, "", err);
    pthread_join(t, NULL);
    CHECK_INT(__LINE__, 2, f.tcp_answers); /* the UPDATE and the TXT query */
    close(f.udp);
    close(f.tcp);
    acme_dns_clear();
}

/* A name that fails part way (here a label with an invalid byte after a
 * valid one) leaves an empty string, not a partial name. */
static void
test_dns_read_name_failure_empty(void)
{
    static const unsigned char msg[] = {1, 'a', 1, '!', 0};
    char out[256];
    long end;

    memset(out, 'x', sizeof(out));
    end = acme_dns_read_name(msg, sizeof(msg), 0, out, sizeof(out));
    CHECK_INT(__LINE__, -1, end);
    CHECK_STR(__LINE__, "", out);
}

int
main(void)
{
    test_dns_read_name_failure_empty();
    test_dns_query_bytes();
    test_dns_update_sections();
    test_dns_parse_valid();
    test_dns_parse_rejects();
    test_dns_parse_long_name();
    test_dns_tsig_round_trip();
    test_dns_tsig_errors();
    test_dns_tsig_algorithms();
    test_dns_txt_value();
    test_dns_hook_status();
    test_dns_tcp_fallback();
    return check_done();
}

/*
 * libFuzzer target for the DNS response parser in acme/dns_msg.c: parses
 * the input as a response, reads every record's rdata the way dns01.c does
 * (names in NS and SOA, strings in TXT) and checks the TSIG against a fixed
 * key. Besides crashes, it checks that every record lies inside the input
 * and that names stay within 255 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "acme_dns.h"

static const struct acme_tsig_key key = {
    .name = "k.test",
    .algorithm = "hmac-sha256",
    .secret = "0123456789abcdef0123456789abcdef",
    .secret_len = 32,
};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static struct acme_dns_reply r;
    unsigned char mac[32] = {0};
    char text[512], err[256];

    if (acme_dns_parse(data, size, &r) != 0)
        return 0;
    if (r.n_rr > ACME_DNS_MAX_RR)
        abort();
    for (size_t i = 0; i < r.n_rr; i++) {
        const struct acme_dns_rr *rr = &r.rr[i];
        if (rr->rdata + rr->rdlen > size || strlen(rr->name) > 253)
            abort();
        if (rr->type == ACME_DNS_TYPE_NS || rr->type == ACME_DNS_TYPE_SOA) {
            long end = acme_dns_read_name(data, rr->rdata + rr->rdlen,
                                          rr->rdata, text, sizeof(text));
            if (end > (long)(rr->rdata + rr->rdlen))
                abort();
            if (end < 0 && text[0] != '\0')
                abort(); /* a failed read must leave no partial name */
            if (end >= 0 && strlen(text) > 253)
                abort();
        }
        if (rr->type == ACME_DNS_TYPE_TXT &&
            acme_dns_txt(data, rr, text, sizeof(text)) == 0 &&
            strlen(text) >= sizeof(text))
            abort();
    }
    acme_dns_tsig_verify(data, size, &r, &key, mac, sizeof(mac), 0, err,
                         sizeof(err));
    return 0;
}

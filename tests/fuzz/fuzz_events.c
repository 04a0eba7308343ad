/*
 * libFuzzer target for the events stream handling in watcher/watcher.c:
 * watch_split_lines and watch_event_decode. The first byte seeds the sizes
 * of the pieces the rest is fed in, as reads from the socket would split
 * it. The result, lines and decoded events must be the same as when the
 * whole input arrives at once, and no line may pass the limit.
 */
#include "watch_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096

struct record {
    unsigned char *digest; /* every line and decoded field, concatenated */
    size_t len, cap;
    size_t lines;
};

static void
record_bytes(struct record *r, const void *p, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        r->cap = (r->len + n + 1) * 2;
        r->digest = realloc(r->digest, r->cap);
        if (r->digest == NULL)
            abort();
    }
    memcpy(r->digest + r->len, p, n);
    r->len += n;
    r->digest[r->len++] = 0xff;
}

static void
record_string(struct record *r, const char *s)
{
    record_bytes(r, s ? s : "(null)", s ? strlen(s) : 6);
}

static int
on_line(void *arg, char *line, size_t len)
{
    struct record *r = arg;
    struct watch_event ev;
    cJSON *doc;

    if (len > MAX_LINE || line[len] != '\0' || memchr(line, '\n', len))
        abort();
    r->lines++;
    record_bytes(r, line, len);
    doc = cJSON_Parse(line);
    if (doc != NULL && watch_event_decode(doc, &ev) == 0) {
        if (ev.type == NULL || ev.action == NULL)
            abort();
        record_string(r, ev.type);
        record_string(r, ev.action);
        record_string(r, ev.id);
        record_string(r, ev.signal);
    }
    cJSON_Delete(doc);
    return 0;
}

/* Returns the result of the last split and records every line in r. */
static int
feed(const char *p, size_t len, unsigned seed, struct record *r)
{
    struct watch_buf line = {0};
    size_t pos = 0;
    int rc = 0;

    while (pos < len && rc == 0) {
        size_t n = seed ? 1 + (seed = seed * 1103515245u + 12345u) % 97 : len;

        if (n > len - pos)
            n = len - pos;
        rc = watch_split_lines(&line, p + pos, n, MAX_LINE, on_line, r);
        if (rc == 0 && (line.len > MAX_LINE ||
                        memchr(line.data, '\n', line.len) != NULL))
            abort();
        pos += n;
    }
    watch_buf_clear(&line);
    return rc;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct record whole = {0}, pieces = {0};
    int rc_whole, rc_pieces;

    if (size < 1)
        return 0;
    rc_whole = feed((const char *)data + 1, size - 1, 0, &whole);
    rc_pieces = feed((const char *)data + 1, size - 1, 1u + data[0], &pieces);
    if (rc_whole != rc_pieces || whole.lines != pieces.lines ||
        whole.len != pieces.len ||
        (whole.len > 0 && memcmp(whole.digest, pieces.digest, whole.len)))
        abort();
    free(whole.digest);
    free(pieces.digest);
    return 0;
}

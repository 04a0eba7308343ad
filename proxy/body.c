/*
 * Message bodies moved between evbuffers: framing decoded on the way in and
 * re-encoded on the way out, data moved by chain where libevent can.
 */
#include <stdio.h>

#include "proxy_int.h"

void
proxy_body_init(struct proxy_body *b, enum http_body in, uint64_t length,
                bool chunked_out)
{
    b->in = in;
    b->chunked_out = chunked_out;
    b->remaining = length;
    b->bytes_in = 0;
    b->done = in == HTTP_BODY_NONE ||
              (in == HTTP_BODY_LENGTH && length == 0);
    if (in == HTTP_BODY_CHUNKED)
        http_chunked_init(&b->chunked, 0);
    if (b->done && chunked_out)
        b->chunked_out = false;
}

static void
move_data(struct proxy_body *b, struct evbuffer *src, struct evbuffer *dst,
          size_t n)
{
    if (b->chunked_out) {
        char line[24];
        int len = snprintf(line, sizeof line, "%zx\r\n", n);
        evbuffer_add(dst, line, (size_t)len);
        evbuffer_remove_buffer(src, dst, n);
        evbuffer_add(dst, "\r\n", 2);
    } else {
        evbuffer_remove_buffer(src, dst, n);
    }
    b->bytes_in += n;
}

/* Runs the chunked decoder, which consumes every byte it is given, over
 * the first contiguous piece of src. */
static ssize_t
step_chunked(struct proxy_body *b, struct evbuffer *src, size_t *off,
             size_t *len)
{
    struct evbuffer_iovec v;

    if (evbuffer_peek(src, -1, NULL, &v, 1) < 1)
        return 0;
    return http_chunked_step(&b->chunked, v.iov_base, v.iov_len, off, len);
}

static int
move_chunked(struct proxy_body *b, struct evbuffer *src, struct evbuffer *dst)
{
    while (!b->chunked.done && evbuffer_get_length(src) > 0) {
        size_t off = 0, len = 0;
        ssize_t n = step_chunked(b, src, &off, &len);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (len == 0) {
            evbuffer_drain(src, (size_t)n);
            continue;
        }
        evbuffer_drain(src, off);
        move_data(b, src, dst, len);
        evbuffer_drain(src, (size_t)n - off - len);
    }
    if (!b->chunked.done)
        return 0;
    if (b->chunked_out)
        evbuffer_add(dst, "0\r\n\r\n", 5);
    b->done = true;
    return 1;
}

/*
 * Moves the body bytes that src contains to dst. Returns 1 when the body is
 * complete, 0 when more input is needed, -1 on invalid chunked framing.
 * A body delimited by close never completes here: see proxy_body_end.
 */
int
proxy_body_move(struct proxy_body *b, struct evbuffer *src,
                struct evbuffer *dst)
{
    size_t avail;

    if (b->done)
        return 1;
    switch (b->in) {
    case HTTP_BODY_NONE:
        b->done = true;
        return 1;
    case HTTP_BODY_LENGTH:
        avail = evbuffer_get_length(src);
        if (avail > b->remaining)
            avail = (size_t)b->remaining;
        if (avail > 0)
            move_data(b, src, dst, avail);
        b->remaining -= avail;
        b->done = b->remaining == 0;
        return b->done;
    case HTTP_BODY_CHUNKED:
        return move_chunked(b, src, dst);
    case HTTP_BODY_UNTIL_CLOSE:
        avail = evbuffer_get_length(src);
        if (avail > 0)
            move_data(b, src, dst, avail);
        return 0;
    }
    return -1;
}

/* Completes a body delimited by the upstream closing its connection. */
void
proxy_body_end(struct proxy_body *b, struct evbuffer *dst)
{
    if (b->chunked_out)
        evbuffer_add(dst, "0\r\n\r\n", 5);
    b->done = true;
}

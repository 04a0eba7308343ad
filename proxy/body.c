/*
 * Bytes into and between evbuffers: plain sockets read into a
 * bufferevent's input, and message bodies moved with their framing decoded
 * on the way in and re-encoded on the way out, by chain where libevent can.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/uio.h>

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

static void
update_read_event(struct proxy_reader *r)
{
    struct timeval tv = {r->read_timeout, 0};
    bool want = r->enabled && !r->suspended;

    if (want && r->ev == NULL)
        return;
    if (!want) {
        if (r->ev != NULL)
            event_del(r->ev);
        return;
    }
    /* event_add without a timeout keeps the one a pending event has. */
    if (r->read_timeout > 0) {
        event_add(r->ev, &tv);
    } else {
        event_add(r->ev, NULL);
        event_remove_timer(r->ev);
    }
}

/* Resumes reading once the owner drained the input below high water. */
static void
on_input_drained(struct evbuffer *in, const struct evbuffer_cb_info *info,
                 void *arg)
{
    struct proxy_reader *r = arg;

    (void)info;
    if (evbuffer_get_length(in) >= r->high_water)
        return;
    evbuffer_remove_cb_entry(in, r->drain_cb);
    r->drain_cb = NULL;
    r->suspended = false;
    update_read_event(r);
}

static void
suspend_reading(struct proxy_reader *r, struct evbuffer *in)
{
    r->drain_cb = evbuffer_add_cb(in, on_input_drained, r);
    if (r->drain_cb == NULL)
        return;
    r->suspended = true;
    update_read_event(r);
}

/* Ends reading as libevent does after end of file, an error or a timeout. */
static void
stop_reading(struct proxy_reader *r, short what)
{
    struct bufferevent *bev = r->bev;
    bufferevent_event_cb eventcb;
    void *arg;
    int error = errno;

    r->enabled = false;
    update_read_event(r);
    bufferevent_getcb(bev, NULL, NULL, &eventcb, &arg);
    errno = error;
    if (eventcb != NULL)
        eventcb(bev, BEV_EVENT_READING | what, arg);
}

static ssize_t
read_socket(evutil_socket_t fd, struct evbuffer *in, size_t want)
{
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    ssize_t got;
    size_t left;
    int n;

    evbuffer_unfreeze(in, 0);
    n = evbuffer_reserve_space(in, (ssize_t)want, v, 2);
    for (int i = 0; i < n; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    got = n > 0 ? readv(fd, iov, n) : -1;
    left = got > 0 ? (size_t)got : 0;
    for (int i = 0; i < n; i++) {
        v[i].iov_len = left < v[i].iov_len ? left : v[i].iov_len;
        left -= v[i].iov_len;
    }
    evbuffer_commit_space(in, v, got > 0 ? n : 0);
    evbuffer_freeze(in, 0);
    return got;
}

static void
on_socket_read(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_reader *r = arg;
    struct evbuffer *in = bufferevent_get_input(r->bev);
    size_t len = evbuffer_get_length(in), want = PROXY_READ_CHUNK;
    bufferevent_data_cb readcb;
    void *cbarg;
    ssize_t got;

    if (what & EV_TIMEOUT) {
        stop_reading(r, BEV_EVENT_TIMEOUT);
        return;
    }
    if (r->high_water > 0 && len >= r->high_water) {
        suspend_reading(r, in);
        return;
    }
    if (r->high_water > 0 && r->high_water - len < want)
        want = r->high_water - len;
    got = read_socket(fd, in, want);
    if (got == 0) {
        stop_reading(r, BEV_EVENT_EOF);
    } else if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            stop_reading(r, BEV_EVENT_ERROR);
    } else {
        bufferevent_getcb(r->bev, &readcb, NULL, NULL, &cbarg);
        if (readcb != NULL)
            readcb(r->bev, cbarg);
    }
}

void
proxy_reader_init(struct proxy_reader *r, struct bufferevent *bev, bool raw)
{
    *r = (struct proxy_reader){.bev = bev, .raw = raw, .write_timeout = -1};
}

void
proxy_reader_free(struct proxy_reader *r)
{
    if (r->drain_cb != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_input(r->bev), r->drain_cb);
    r->drain_cb = NULL;
    if (r->ev != NULL)
        event_free(r->ev);
    r->ev = NULL;
}

void
proxy_reader_set_high_water(struct proxy_reader *r, size_t high)
{
    if (!r->raw)
        bufferevent_setwatermark(r->bev, EV_READ, 0, high);
    r->high_water = high;
}

void
proxy_reader_enable(struct proxy_reader *r, bool on)
{
    evutil_socket_t fd;

    if (!r->raw) {
        if (on == ((bufferevent_get_enabled(r->bev) & EV_READ) != 0))
            return;
        if (on)
            bufferevent_enable(r->bev, EV_READ);
        else
            bufferevent_disable(r->bev, EV_READ);
        return;
    }
    if (r->enabled == on)
        return;
    r->enabled = on;
    fd = bufferevent_getfd(r->bev);
    if (on && r->ev == NULL && fd >= 0)
        r->ev = event_new(bufferevent_get_base(r->bev), fd,
                          EV_READ | EV_PERSIST, on_socket_read, r);
    if (on && r->ev == NULL) {
        /* Out of memory: libevent's own read path still works. */
        r->raw = false;
        proxy_reader_set_high_water(r, r->high_water);
        proxy_reader_set_timeouts(r, r->read_timeout,
                                  r->write_timeout > 0 ? r->write_timeout : 0);
        bufferevent_enable(r->bev, EV_READ);
        return;
    }
    update_read_event(r);
}

void
proxy_reader_set_timeouts(struct proxy_reader *r, int read_s, int write_s)
{
    struct timeval rt = {read_s, 0}, wt = {write_s, 0};

    if (!r->raw) {
        bufferevent_set_timeouts(r->bev, read_s ? &rt : NULL,
                                 write_s ? &wt : NULL);
        return;
    }
    if (write_s != r->write_timeout) {
        bufferevent_set_timeouts(r->bev, NULL, write_s ? &wt : NULL);
        r->write_timeout = write_s;
    }
    if (read_s != r->read_timeout) {
        r->read_timeout = read_s;
        if (r->enabled && !r->suspended)
            update_read_event(r);
    }
}

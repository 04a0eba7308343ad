#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A longer line is cut, and a cut value ends in "...". */
#define LINE_MAX_BYTES 8192
#define VALUE_MAX_BYTES 2048

static enum log_level min_level = LOG_INFO;
static enum log_format line_format = LOG_FORMAT_TEXT;
static atomic_int access_fd = -1;
static char access_path[4096];

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_NOTICE] = "notice",
    [LOG_WARN] = "warn",   [LOG_ERROR] = "error",
};

struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
    bool cut;
};

void
log_init(enum log_level level, enum log_format format)
{
    min_level = level;
    line_format = format;
}

bool
log_enabled(enum log_level level)
{
    return level >= min_level;
}

bool
log_access_enabled(void)
{
    return atomic_load_explicit(&access_fd, memory_order_relaxed) >= 0;
}

int
log_level_parse(const char *text, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *
log_level_name(enum log_level level)
{
    return level_names[level];
}

static void
put(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 1 - l->len; /* one byte kept for '\n' */

    if (n > room) {
        n = room;
        l->cut = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void
puts_line(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static bool
needs_quotes(const char *v, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\')
            return true;
    }
    return false;
}

/* Text values: bare when safe, else quoted with \" \\ and \xNN escapes. */
static void
put_text_value(struct line *l, const char *v, size_t n)
{
    char esc[8];

    if (!needs_quotes(v, n)) {
        put(l, v, n);
        return;
    }
    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < ' ' || c >= 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            put(l, esc, 4);
        } else {
            put(l, (const char *)&v[i], 1);
        }
    }
    put(l, "\"", 1);
}

/* JSON strings: bytes outside printable ASCII become \u00NN, so the line
 * stays valid JSON whatever a client sent. */
static void
put_json_string(struct line *l, const char *v, size_t n)
{
    char esc[8];

    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < ' ' || c >= 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, 6);
        } else {
            put(l, (const char *)&v[i], 1);
        }
    }
    put(l, "\"", 1);
}

static void
put_timestamp(struct line *l)
{
    struct timespec ts;
    struct tm tm;
    char buf[40];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    put(l, buf, strlen(buf));
    snprintf(buf, sizeof(buf), ".%03ldZ", ts.tv_nsec / 1000000);
    put(l, buf, strlen(buf));
}

/*
 * Formats one conversion starting at fmt[0] == '%' into out. Returns the
 * number of format bytes read, and sets *numeric for number conversions.
 */
static size_t
format_conversion(const char *fmt, va_list *ap, char *out, size_t cap,
                  const char **str, bool *numeric)
{
    const char *p = fmt + 1;
    char spec[16];
    size_t n;

    *str = NULL;
    *numeric = true;
    if (*p == '%') {
        snprintf(out, cap, "%%");
        *numeric = false;
        return 2;
    }
    while (*p == '.' || (*p >= '0' && *p <= '9'))
        p++;
    while (*p == 'l' || *p == 'z' || *p == 'h')
        p++;
    n = (size_t)(p - fmt) + 1;
    if (n >= sizeof(spec) || *p == '\0') {
        snprintf(out, cap, "?");
        *numeric = false;
        return *p ? n : n - 1;
    }
    memcpy(spec, fmt, n);
    spec[n] = '\0';
    switch (*p) {
    case 's':
        *str = va_arg(*ap, const char *);
        if (*str == NULL)
            *str = "";
        *numeric = false;
        break;
    case 'f':
        snprintf(out, cap, spec, va_arg(*ap, double));
        break;
    case 'd':
    case 'i':
    case 'u':
    case 'x':
        if (strstr(spec, "ll"))
            snprintf(out, cap, spec, va_arg(*ap, long long));
        else if (strchr(spec, 'l'))
            snprintf(out, cap, spec, va_arg(*ap, long));
        else if (strchr(spec, 'z'))
            snprintf(out, cap, spec, va_arg(*ap, size_t));
        else
            snprintf(out, cap, spec, va_arg(*ap, int));
        *numeric = *p != 'x';
        break;
    default:
        snprintf(out, cap, "?");
        *numeric = false;
    }
    return n;
}

/* Appends the formatted value of one key=value token, then returns the
 * format position after it (at a space or the end). */
static const char *
put_value(struct line *l, const char *fmt, va_list *ap)
{
    char value[VALUE_MAX_BYTES];
    size_t vlen = 0;
    bool only_number = true;
    int parts = 0;

    while (*fmt && *fmt != ' ') {
        char num[64];
        const char *s = NULL;
        size_t n;
        bool numeric = false;

        if (*fmt == '%') {
            fmt += format_conversion(fmt, ap, num, sizeof(num), &s, &numeric);
            if (s == NULL)
                s = num;
        } else {
            num[0] = *fmt++;
            num[1] = '\0';
            s = num;
        }
        only_number = only_number && numeric;
        parts++;
        n = strlen(s);
        if (n > sizeof(value) - vlen) {
            n = sizeof(value) - vlen;
            if (n >= 3) {
                memcpy(value + vlen, s, n - 3);
                memcpy(value + vlen + n - 3, "...", 3);
            }
            vlen += n;
            continue;
        }
        memcpy(value + vlen, s, n);
        vlen += n;
    }
    if (line_format == LOG_FORMAT_JSON) {
        if (only_number && parts == 1 && vlen > 0)
            put(l, value, vlen);
        else
            put_json_string(l, value, vlen);
    } else {
        put_text_value(l, value, vlen);
    }
    return fmt;
}

/* Walks "key=%s key2=%d" and emits each pair in the current format. */
static void
put_pairs(struct line *l, const char *kv, va_list *ap)
{
    const char *p = kv;

    while (p && *p) {
        const char *key = p, *eq;

        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        key = p;
        eq = key;
        while (*eq && *eq != '=' && *eq != ' ')
            eq++;
        if (line_format == LOG_FORMAT_JSON) {
            put(l, ",", 1);
            put_json_string(l, key, (size_t)(eq - key));
            put(l, ":", 1);
        } else {
            put(l, " ", 1);
            put(l, key, (size_t)(eq - key));
            put(l, "=", 1);
        }
        p = *eq == '=' ? put_value(l, eq + 1, ap) : put_value(l, eq, ap);
    }
}

/* The last warn and error lines, for the admin API's /api/v1/errors. */
#define RECENT_MAX 50
#define RECENT_LINE_BYTES 1024

static char recent[RECENT_MAX][RECENT_LINE_BYTES];
static size_t recent_next, recent_count;
static pthread_mutex_t recent_lock = PTHREAD_MUTEX_INITIALIZER;

static void
keep_recent(const struct line *l)
{
    size_t n = l->len < RECENT_LINE_BYTES ? l->len : RECENT_LINE_BYTES - 1;

    pthread_mutex_lock(&recent_lock);
    memcpy(recent[recent_next], l->buf, n);
    recent[recent_next][n] = '\0';
    recent_next = (recent_next + 1) % RECENT_MAX;
    if (recent_count < RECENT_MAX)
        recent_count++;
    pthread_mutex_unlock(&recent_lock);
}

void
log_recent_each(void (*fn)(const char *line, void *arg), void *arg)
{
    pthread_mutex_lock(&recent_lock);
    for (size_t i = 0; i < recent_count; i++)
        fn(recent[(recent_next + RECENT_MAX - recent_count + i) % RECENT_MAX],
           arg);
    pthread_mutex_unlock(&recent_lock);
}

static void
write_line(int fd, struct line *l)
{
    size_t off = 0;

    if (l->cut && l->len >= 3)
        memcpy(l->buf + l->len - 3, "...", 3);
    l->buf[l->len++] = '\n';
    while (off < l->len) {
        ssize_t w = write(fd, l->buf + off, l->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

void
log_vmsg(enum log_level level, const char *subsys, const char *msg,
         const char *kv, va_list ap)
{
    struct line l;
    va_list copy;

    if (level < min_level)
        return;
    l.len = 0;
    l.cut = false;
    va_copy(copy, ap);
    if (line_format == LOG_FORMAT_JSON) {
        puts_line(&l, "{\"time\":\"");
        put_timestamp(&l);
        puts_line(&l, "\",\"level\":\"");
        puts_line(&l, level_names[level]);
        puts_line(&l, "\",\"subsystem\":");
        put_json_string(&l, subsys, strlen(subsys));
        puts_line(&l, ",\"msg\":");
        put_json_string(&l, msg, strlen(msg));
        put_pairs(&l, kv, &copy);
        if (l.cut)
            l.len = sizeof(l.buf) - 3; /* room for the closing brace */
        l.cut = false;
        puts_line(&l, "}");
    } else {
        put_timestamp(&l);
        put(&l, " ", 1);
        puts_line(&l, level_names[level]);
        put(&l, " ", 1);
        puts_line(&l, subsys);
        put(&l, ": ", 2);
        puts_line(&l, msg);
        put_pairs(&l, kv, &copy);
    }
    va_end(copy);
    if (level >= LOG_WARN)
        keep_recent(&l);
    write_line(STDERR_FILENO, &l);
}

void
log_msg(enum log_level level, const char *subsys, const char *msg,
        const char *kv, ...)
{
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, kv);
    log_vmsg(level, subsys, msg, kv, ap);
    va_end(ap);
}

void
log_access(const char *kv, ...)
{
    int fd = atomic_load_explicit(&access_fd, memory_order_relaxed);
    struct line l;
    va_list ap;

    if (fd < 0)
        return;
    l.len = 0;
    l.cut = false;
    va_start(ap, kv);
    if (line_format == LOG_FORMAT_JSON) {
        puts_line(&l, "{\"time\":\"");
        put_timestamp(&l);
        puts_line(&l, "\"");
        put_pairs(&l, kv, &ap);
        if (l.cut)
            l.len = sizeof(l.buf) - 3;
        l.cut = false;
        puts_line(&l, "}");
    } else {
        put_timestamp(&l);
        put_pairs(&l, kv, &ap);
    }
    va_end(ap);
    write_line(fd, &l);
}

static int
open_access_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0)
        log_error("log", "cannot open access log", "path=%s error=%s", path,
                  strerror(errno));
    return fd;
}

int
log_access_open(const char *path)
{
    int fd;

    if (path == NULL || strcmp(path, "off") == 0) {
        access_path[0] = '\0';
        atomic_store(&access_fd, -1);
        return 0;
    }
    if (strcmp(path, "-") == 0) {
        access_path[0] = '\0';
        atomic_store(&access_fd, STDOUT_FILENO);
        return 0;
    }
    if (strlen(path) >= sizeof(access_path)) {
        log_error("log", "access log path too long", "path=%s", path);
        return -1;
    }
    fd = open_access_file(path);
    if (fd < 0)
        return -1;
    snprintf(access_path, sizeof(access_path), "%s", path);
    atomic_store(&access_fd, fd);
    return 0;
}

int
log_access_reopen(void)
{
    int fd, old;

    if (access_path[0] == '\0')
        return 0;
    fd = open_access_file(access_path);
    if (fd < 0)
        return -1;
    /* Workers may be writing to the old descriptor, so it is replaced with
     * dup2 instead of being closed. */
    old = atomic_load(&access_fd);
    if (old >= 0 && old != STDOUT_FILENO) {
        dup2(fd, old);
        close(fd);
    } else {
        atomic_store(&access_fd, fd);
    }
    return 0;
}

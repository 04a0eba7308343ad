/* Portico's one logger: level, subsystem, fixed message, key=value context. */
#ifndef PORTICO_LOG_H
#define PORTICO_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
    LOG_DEBUG,
    LOG_INFO,
    LOG_NOTICE,
    LOG_WARN,
    LOG_ERROR,
};

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

/* Sets the minimum level and the line format. Lines go to standard error
 * until log_init is called, at LOG_INFO in text. */
void log_init(enum log_level level, enum log_format format);

/* Opens the access log: NULL or "off" disables it, "-" is standard output,
 * anything else a file opened for appending. Returns 0 or -1 (logged). */
int log_access_open(const char *path);

/* Reopens the access log file after rotation. Returns 0 or -1 (logged). */
int log_access_reopen(void);

bool log_enabled(enum log_level level);
bool log_access_enabled(void);

/*
 * Writes one line: `msg` is a fixed text, `kv` a printf-like format of
 * space-separated key=value pairs. Every %s value is escaped: control bytes
 * become \xNN and a value with spaces, quotes or '=' is quoted, so a line can
 * never be split by a value from the network. Supported conversions: %s, %d,
 * %u, %ld, %lu, %lld, %llu, %zu, %zd, %x, %.Nf (and %f), %%.
 * The line is written with one write(2), so threads never interleave.
 */
void log_msg(enum log_level level, const char *subsys, const char *msg,
             const char *kv, ...) __attribute__((format(printf, 4, 5)));

void log_vmsg(enum log_level level, const char *subsys, const char *msg,
              const char *kv, va_list ap);

/* Writes one access log line (same escaping and format rules, no level). */
void log_access(const char *kv, ...) __attribute__((format(printf, 1, 2)));

/* Calls fn for each of the last 50 warn and error log lines, oldest first,
 * under the logger's lock, so fn must not log. Lines have no trailing
 * newline. */
void log_recent_each(void (*fn)(const char *line, void *arg), void *arg);

/* Parses "debug", "info", ... Returns 0 or -1. */
int log_level_parse(const char *text, enum log_level *out);
const char *log_level_name(enum log_level level);

#define log_debug(subsys, msg, ...)                                           \
    do {                                                                      \
        if (log_enabled(LOG_DEBUG))                                           \
            log_msg(LOG_DEBUG, subsys, msg, __VA_ARGS__);                     \
    } while (0)
#define log_info(subsys, msg, ...) log_msg(LOG_INFO, subsys, msg, __VA_ARGS__)
#define log_notice(subsys, msg, ...)                                          \
    log_msg(LOG_NOTICE, subsys, msg, __VA_ARGS__)
#define log_warn(subsys, msg, ...) log_msg(LOG_WARN, subsys, msg, __VA_ARGS__)
#define log_error(subsys, msg, ...)                                           \
    log_msg(LOG_ERROR, subsys, msg, __VA_ARGS__)

#endif

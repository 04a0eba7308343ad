/* A minimal table-test helper: each failed check prints its line and the
 * expected and actual values; check_done() prints the totals and returns
 * the exit status. */
#ifndef PORTICO_CHECK_H
#define PORTICO_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (cond) {                                                           \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                   \
        }                                                                     \
    } while (0)

/* `line` is the table row's __LINE__, so a failure points at the case. */
#define CHECK_INT(line, expected, actual)                                     \
    do {                                                                      \
        long long e_ = (long long)(expected), a_ = (long long)(actual);      \
        if (e_ == a_) {                                                       \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", __FILE__, \
                    (int)(line), #actual, e_, a_);                            \
        }                                                                     \
    } while (0)

#define CHECK_STR(line, expected, actual)                                     \
    do {                                                                      \
        const char *e_ = (expected), *a_ = (actual);                          \
        if ((e_ == NULL && a_ == NULL) ||                                     \
            (e_ != NULL && a_ != NULL && strcmp(e_, a_) == 0)) {              \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: %s: expected \"%s\", got \"%s\"\n",       \
                    __FILE__, (int)(line), #actual, e_ ? e_ : "(null)",       \
                    a_ ? a_ : "(null)");                                      \
        }                                                                     \
    } while (0)

static inline int
check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif

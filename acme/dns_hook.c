/* The DNS-01 hook: an operator's program that publishes TXT records. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acme_dns.h"
#include "log.h"

#define OUTPUT_MAX 4096
#define OUTPUT_LINES 3

extern char **environ;

/* Reads the child's output until EOF or the deadline. Returns -1 on
 * timeout. */
static int
collect_output(int fd, char *buf, size_t cap, size_t *len, time_t deadline)
{
    char discard[512];

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long left = (long)(deadline - time(NULL));
        ssize_t n;
        if (left <= 0)
            return -1;
        if (poll(&p, 1, (int)(left * 1000)) <= 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (*len + 1 < cap)
            n = read(fd, buf + *len, cap - 1 - *len);
        else
            n = read(fd, discard, sizeof(discard));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        if (*len + 1 < cap)
            *len += (size_t)n;
    }
}

/* Copies the first lines of the output, without the last newline. The
 * logger escapes control characters, so one log line stays one line. */
static void
copy_first_lines(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    int lines = 0;

    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        if (in[i] == '\n' && (++lines == OUTPUT_LINES || i + 1 == len))
            break;
        out[o++] = in[i];
    }
    out[o] = '\0';
}

int
acme_dns_hook_run(const char *hook, const char *action, const char *fqdn,
                  const char *value, int timeout)
{
    char *argv[] = {(char *)hook, (char *)action, (char *)fqdn,
                    (char *)value, NULL};
    char output[OUTPUT_MAX], lines[1024];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    size_t len = 0;
    int fds[2], status = 0, rc;
    bool timed_out;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        log_error("acme", "DNS hook not started", "path=%s error=%s", hook,
                  strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    /* Its own process group, so a timeout also kills what it started. */
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    rc = posix_spawn(&pid, hook, &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        log_error("acme", "DNS hook not started", "path=%s error=%s", hook,
                  strerror(rc));
        return -1;
    }
    timed_out = collect_output(fds[0], output, sizeof(output), &len,
                               time(NULL) + timeout) != 0;
    close(fds[0]);
    if (timed_out)
        kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    copy_first_lines(output, len, lines, sizeof(lines));
    if (timed_out) {
        log_error("acme", "DNS hook timed out, killed", "path=%s action=%s "
                  "name=%s timeout=%ds output=%s", hook, action, fqdn,
                  timeout, lines);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        log_info("acme", "DNS hook succeeded", "path=%s action=%s name=%s "
                 "output=%s", hook, action, fqdn, lines);
        return 0;
    }
    log_error("acme", "DNS hook failed", "path=%s action=%s name=%s "
              "status=%d signal=%d output=%s", hook, action, fqdn,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0, lines);
    return -1;
}

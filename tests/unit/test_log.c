/* Log lines: value escaping and quoting, JSON output, numbers. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

/* Runs one log call with stderr redirected and returns the line written. */
static char *
capture(enum log_format format, const char *value, int number)
{
    static char buf[16384];
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    size_t n;
    char *start;

    log_init(LOG_DEBUG, format);
    dup2(fileno(tmp), STDERR_FILENO);
    log_warn("test", "upstream failed", "value=%s count=%d unit=%ds", value,
             number, number);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(buf, 1, sizeof(buf) - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    if (format == LOG_FORMAT_JSON)
        return buf;
    start = strchr(buf, ' '); /* skip the timestamp */
    return start ? start + 1 : buf;
}

static void
test_log_text_escaping(void)
{
    static const struct {
        int line;
        const char *value, *expected;
    } cases[] = {
        {__LINE__, "plain", "warn test: upstream failed value=plain count=3 unit=3s\n"},
        {__LINE__, "two words", "warn test: upstream failed value=\"two words\" count=3 unit=3s\n"},
        {__LINE__, "", "warn test: upstream failed value=\"\" count=3 unit=3s\n"},
        {__LINE__, "a\nb", "warn test: upstream failed value=\"a\\x0ab\" count=3 unit=3s\n"},
        {__LINE__, "q\"uote", "warn test: upstream failed value=\"q\\\"uote\" count=3 unit=3s\n"},
        {__LINE__, "k=v", "warn test: upstream failed value=\"k=v\" count=3 unit=3s\n"},
        {__LINE__, "\xff", "warn test: upstream failed value=\"\\xff\" count=3 unit=3s\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_STR(cases[i].line, cases[i].expected,
                  capture(LOG_FORMAT_TEXT, cases[i].value, 3));
}

static void
test_log_json_output(void)
{
    const char *line = capture(LOG_FORMAT_JSON, "a\"b\n", 42);

    CHECK(strstr(line, "\"level\":\"warn\"") != NULL);
    CHECK(strstr(line, "\"subsystem\":\"test\"") != NULL);
    CHECK(strstr(line, "\"msg\":\"upstream failed\"") != NULL);
    CHECK(strstr(line, "\"value\":\"a\\\"b\\u000a\"") != NULL);
    CHECK(strstr(line, "\"count\":42") != NULL);
    CHECK(strstr(line, "\"unit\":\"42s\"") != NULL);
    CHECK(line[strlen(line) - 2] == '}');
}

static void
test_log_long_value_cut(void)
{
    char *big = malloc(1 << 20);
    const char *line;

    memset(big, 'x', (1 << 20) - 1);
    big[(1 << 20) - 1] = '\0';
    line = capture(LOG_FORMAT_TEXT, big, 1);
    CHECK(strlen(line) < 8192);
    CHECK(strstr(line, "...") != NULL);
    CHECK(line[strlen(line) - 1] == '\n');
    free(big);
}

int
main(void)
{
    test_log_text_escaping();
    test_log_json_output();
    test_log_long_value_cut();
    return check_done();
}

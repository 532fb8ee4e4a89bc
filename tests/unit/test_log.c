/* Unit tests for src/log.c: line format and quoting. */
#include "log.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

static char *capture(enum log_format fmt, void (*emit)(void))
{
    int fds[2], saved = dup(2);
    static char out[4096];
    if (pipe(fds) != 0)
        return NULL;
    dup2(fds[1], 2);
    unsetenv("JOURNAL_STREAM");
    log_init(LOG_INFO, fmt);
    emit();
    dup2(saved, 2);
    close(fds[1]);
    ssize_t n = read(fds[0], out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    close(saved);
    return out;
}

static void emit_published(void)
{
    log_info("published", KV("decision", "D-1"), KV("target", "city"), KVI("attempt", 2),
             KV("msg", "a b"));
    log_debug("hidden");
}

TEST(text_line_is_message_then_pairs)
{
    CHECK_STR(capture(LOG_TEXT, emit_published),
              "published decision=D-1 target=city attempt=2 msg=\"a b\"\n");
}

TEST(json_line_is_one_object)
{
    char *s = capture(LOG_JSON, emit_published);
    CHECK(strstr(s, "\"level\":\"info\",\"msg\":\"published\",\"decision\":\"D-1\"") != NULL);
    CHECK(strstr(s, "\"attempt\":2") != NULL);
    CHECK(strchr(s, '\n') == s + strlen(s) - 1);
}

int main(void)
{
    RUN(text_line_is_message_then_pairs);
    RUN(json_line_is_one_object);
    return tap_done();
}

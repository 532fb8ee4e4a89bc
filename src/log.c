/* log.c - see log.h. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"

/* Set by the loop (reload), read by every thread. */
static _Atomic int cur_level = LOG_INFO;
static enum log_format cur_format = LOG_TEXT;
static int to_journal = -1;   /* -1: not yet probed */
static int to_tty;

static const char *const level_names[] = {
    [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static void probe(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;

    to_journal = 0;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0
        && (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        to_journal = 1;
    to_tty = isatty(STDERR_FILENO);
}

void log_init(enum log_level level, enum log_format format)
{
    cur_level = (int)level;
    cur_format = format;
    probe();
}

void log_set_level(enum log_level level) { cur_level = (int)level; }
enum log_level log_get_level(void) { return (enum log_level)cur_level; }

int log_level_parse(const char *s)
{
    for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
        if (level_names[i] && strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "err") == 0)
        return LOG_ERR;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return (level >= LOG_ERR && level <= LOG_DEBUG) ? level_names[level] : "info";
}

static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (; *s; s++)
        if (*s == ' ' || *s == '"' || *s == '=' || (unsigned char)*s < 0x20)
            return 1;
    return 0;
}

static void put_escaped(struct buf *b, const char *s)
{
    buf_json_chars(b, s, strlen(s));
}

static void timestamp(char *out, size_t n)
{
    size_t k = clock_utc_text(out, n, 'T', 3);
    snprintf(out + k, n - k, "Z");
}

static void format_text(struct buf *b, enum log_level level, const char *msg,
                        const struct log_kv *kv)
{
    if (to_journal)
        buf_printf(b, "<%d>", (int)level);
    else if (to_tty) {
        char ts[40];
        timestamp(ts, sizeof ts);
        buf_printf(b, "%s %-7s ", ts, log_level_name(level));
    }
    buf_puts(b, msg);
    for (; kv && kv->key; kv++) {
        buf_printf(b, " %s=", kv->key);
        if (!kv->str)
            buf_printf(b, "%lld", kv->num);
        else if (needs_quotes(kv->str)) {
            buf_putc(b, '"');
            put_escaped(b, kv->str);
            buf_putc(b, '"');
        } else
            buf_puts(b, kv->str);
    }
    buf_putc(b, '\n');
}

static void format_json(struct buf *b, enum log_level level, const char *msg,
                        const struct log_kv *kv)
{
    char ts[40];
    timestamp(ts, sizeof ts);
    if (to_journal)
        buf_printf(b, "<%d>", (int)level);
    buf_printf(b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, log_level_name(level));
    put_escaped(b, msg);
    buf_putc(b, '"');
    for (; kv && kv->key; kv++) {
        buf_puts(b, ",\"");
        put_escaped(b, kv->key);
        buf_puts(b, "\":");
        if (!kv->str)
            buf_printf(b, "%lld", kv->num);
        else {
            buf_putc(b, '"');
            put_escaped(b, kv->str);
            buf_putc(b, '"');
        }
    }
    buf_puts(b, "}\n");
}

void log_write(enum log_level level, const char *msg, const struct log_kv *kv)
{
    struct buf b = BUF_INIT;

    if ((int)level > cur_level)
        return;
    if (to_journal < 0)
        probe();
    if (cur_format == LOG_JSON)
        format_json(&b, level, msg, kv);
    else
        format_text(&b, level, msg, kv);
    /* One write(2) per line so concurrent processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    buf_free(&b);
}

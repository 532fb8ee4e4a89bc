/* log.h - one line per event on stderr.
 *
 *   published decision=SJZSJ-2026-000123 target=province receipt=HB1 attempt=2 ms=41
 *
 * A line is a short, stable message (operators grep it) followed by typed
 * key=value pairs.  Values are passed as an explicit list, never as a
 * decision's field set: the only things about a decision that may be
 * logged are its id, kind, target, revision and platform answers.  Party
 * names, ID numbers, phones, addresses, secrets and tokens must never be
 * passed here.
 *
 * With format json each line is one JSON object instead.  When stderr is
 * the journal ($JOURNAL_STREAM matches) lines carry the sd-daemon(3)
 * "<N>" priority prefix; on a terminal they start with an ISO timestamp.
 */
#ifndef EPSYNC_LOG_H
#define EPSYNC_LOG_H

enum log_level { LOG_ERR = 3, LOG_WARNING = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };
enum log_format { LOG_TEXT, LOG_JSON };

struct log_kv {
    const char *key;     /* NULL ends the list */
    const char *str;     /* string value, or NULL for an integer */
    long long num;
};

static inline const char *log_str_(const char *s) { return s ? s : ""; }

#define KV(k, v)   { (k), log_str_(v), 0 }
#define KVI(k, n)  { (k), NULL, (long long)(n) }

void log_init(enum log_level level, enum log_format format);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error|warning|notice|info|debug"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *msg, const struct log_kv *kv);

#define LOG_(lvl, msg, ...) \
    log_write((lvl), (msg), (const struct log_kv[]){ __VA_ARGS__ __VA_OPT__(,) { NULL, NULL, 0 } })
/* Marks a line that needs a person (an error nothing clears by itself
 * soon): operators find them with `grep action=needed` or `journalctl -p err`. */
#define LOG_ACTION_NEEDED KV("action", "needed")

#define log_error(msg, ...)   LOG_(LOG_ERR, msg, __VA_ARGS__)
#define log_warning(msg, ...) LOG_(LOG_WARNING, msg, __VA_ARGS__)
#define log_notice(msg, ...)  LOG_(LOG_NOTICE, msg, __VA_ARGS__)
#define log_info(msg, ...)    LOG_(LOG_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...)   LOG_(LOG_DEBUG, msg, __VA_ARGS__)

#endif

/* err.h - errors as values.
 *
 * A function that can fail returns 0 on success or a negative code and
 * fills a caller-owned struct err with one human sentence naming the
 * place ("config.yaml:12:3: unknown key ...", "claim deliveries: ...").
 * The caller decides whether to log, retry or exit. */
#ifndef EPSYNC_ERR_H
#define EPSYNC_ERR_H

#include <stdarg.h>

/* sysexits(3) values used as process exit codes. */
enum {
    EX_OK_ = 0,
    EX_FAIL = 1,
    EX_USAGE_ = 64,
    EX_UNAVAILABLE_ = 69,
    EX_CONFIG_ = 78,
};

struct err {
    int code;          /* negative errno-style code, or -1 */
    char msg[512];
};

/* Fill e (when not NULL) and return code, so callers can write
 * `return err_set(e, -EIO, "...: %s", why);` */
int err_set(struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int err_vset(struct err *e, int code, const char *fmt, va_list ap);
/* Prepend context: "ctx: previous message". */
int err_wrap(struct err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);

#endif

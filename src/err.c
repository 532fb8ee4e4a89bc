/* err.c - see err.h. */
#include "err.h"

#include <stdio.h>
#include <string.h>

int err_vset(struct err *e, int code, const char *fmt, va_list ap)
{
    if (e) {
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    }
    return code;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
    char prefix[256], old[sizeof e->msg];
    va_list ap;

    if (!e)
        return -1;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t k = strlen(prefix);
    if (k > sizeof e->msg - 3)
        k = sizeof e->msg - 3;
    memcpy(e->msg, prefix, k);
    memcpy(e->msg + k, ": ", 2);
    size_t rest = sizeof e->msg - k - 3;
    size_t ol = strnlen(old, rest);
    memcpy(e->msg + k + 2, old, ol);
    e->msg[k + 2 + ol] = '\0';
    return e->code;
}

void err_clear(struct err *e)
{
    if (e) {
        e->code = 0;
        e->msg[0] = '\0';
    }
}

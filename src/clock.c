/* clock.c - see clock.h. */
#include "clock.h"

#include <stdio.h>
#include <time.h>

static int64_t read_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    return read_ms(CLOCK_MONOTONIC);
}

int64_t clock_wall_ms(void)
{
    return read_ms(CLOCK_REALTIME);
}

size_t clock_utc_text(char *out, size_t n, char sep, int digits)
{
    struct timespec ts;
    struct tm tm;
    char fmt[24];
    long frac;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    frac = ts.tv_nsec;
    for (int i = digits; i < 9; i++)
        frac /= 10;
    snprintf(fmt, sizeof fmt, "%%Y-%%m-%%d%c%%H:%%M:%%S", sep);
    size_t k = strftime(out, n, fmt, &tm);
    int w = snprintf(out + k, n - k, ".%0*ld", digits, frac);
    return k + (w > 0 && (size_t)w < n - k ? (size_t)w : 0);
}

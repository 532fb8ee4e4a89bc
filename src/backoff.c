/* backoff.c - retry delays (see backoff.h).
 *
 * Computed in double and capped before converting: initial × multiplier^(n−1)
 * reaches infinity long before n does anything interesting, and a retry
 * that has gone on for days must still wait `max`, not wrap around. */
#include "backoff.h"

#include <math.h>

/* Largest double that converts to int64_t without overflow. */
#define INT64_SAFE 9.2e18

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int64_t backoff_delay_ms(const struct retry_cfg *r, int n, double u, int64_t retry_after_ms)
{
    double initial = r->initial_ms > 0 ? (double)r->initial_ms : 0;
    double max = r->max_ms > 0 ? (double)r->max_ms : 0;
    double mult = r->multiplier > 0 && isfinite(r->multiplier) ? r->multiplier : 1;
    double jitter = isfinite(r->jitter) ? clamp(r->jitter, 0, 1) : 0;

    if (n < 1)
        n = 1;
    double d = initial * pow(mult, (double)(n - 1));
    if (!isfinite(d) || d > max)
        d = max;
    /* u in [0,1) maps linearly onto [d(1−j), d(1+j)). */
    u = isfinite(u) ? clamp(u, 0, 1) : 0.5;
    d *= 1 - jitter + 2 * jitter * u;

    int64_t ms = d >= INT64_SAFE ? INT64_MAX : (int64_t)llround(d);
    if (ms < 0)
        ms = 0;
    return retry_after_ms >= 0 && ms < retry_after_ms ? retry_after_ms : ms;
}

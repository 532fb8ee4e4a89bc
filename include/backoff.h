/* backoff.h - retry delays (pure). */
#ifndef EPSYNC_BACKOFF_H
#define EPSYNC_BACKOFF_H

#include <stdint.h>

#include "config.h"

/* Delay before attempt n+1 after the n-th failure (n >= 1):
 * min(max, initial × multiplier^(n−1)), then ± jitter: u in [0,1) picks
 * the point in [d×(1−jitter), d×(1+jitter)].  A Retry-After
 * (retry_after_ms >= 0) is a lower bound.  Never overflows. */
int64_t backoff_delay_ms(const struct retry_cfg *r, int n, double u, int64_t retry_after_ms);

#endif

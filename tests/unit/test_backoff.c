/* Unit tests for src/backoff.c. */
#include "backoff.h"
#include "tap.h"

static const struct retry_cfg spec = {   /* the defaults: 10s, 1h, ×2, ±20 % */
    .initial_ms = 10000, .max_ms = 3600000, .multiplier = 2.0, .jitter = 0.2,
};

TEST(doubles_until_the_cap)
{
    struct retry_cfg r = spec;
    r.jitter = 0;
    CHECK_INT(backoff_delay_ms(&r, 1, 0.5, -1), 10000);
    CHECK_INT(backoff_delay_ms(&r, 2, 0.5, -1), 20000);
    CHECK_INT(backoff_delay_ms(&r, 3, 0.5, -1), 40000);
    CHECK_INT(backoff_delay_ms(&r, 9, 0.5, -1), 2560000);
    CHECK_INT(backoff_delay_ms(&r, 10, 0.5, -1), 3600000);   /* 5 120 000 capped */
    CHECK_INT(backoff_delay_ms(&r, 11, 0.5, -1), 3600000);
}

TEST(jitter_spans_the_interval)
{
    /* d = 10 s, ±20 %: u = 0 → 8 s, u = 0.5 → 10 s, u → 1 → 12 s. */
    CHECK_INT(backoff_delay_ms(&spec, 1, 0.0, -1), 8000);
    CHECK_INT(backoff_delay_ms(&spec, 1, 0.5, -1), 10000);
    CHECK_INT(backoff_delay_ms(&spec, 1, 0.25, -1), 9000);
    CHECK_INT(backoff_delay_ms(&spec, 1, 0.999999, -1), 12000);
    /* Jitter applies to the capped value too (and may exceed max). */
    CHECK_INT(backoff_delay_ms(&spec, 50, 0.0, -1), 2880000);
    CHECK_INT(backoff_delay_ms(&spec, 50, 0.75, -1), 3960000);
    for (int i = 0; i < 100; i++) {
        int64_t d = backoff_delay_ms(&spec, 4, i / 100.0, -1);
        if (d < 64000 || d > 96000)
            TAP_FAIL("n=4 u=%d%%: %lld outside [64000, 96000]", i, (long long)d);
    }
}

TEST(retry_after_is_a_lower_bound)
{
    CHECK_INT(backoff_delay_ms(&spec, 1, 0.5, 30000), 30000);   /* longer: wins */
    CHECK_INT(backoff_delay_ms(&spec, 1, 0.5, 2000), 10000);    /* shorter: ignored */
    CHECK_INT(backoff_delay_ms(&spec, 1, 0.5, 0), 10000);
    CHECK_INT(backoff_delay_ms(&spec, 30, 0.5, 7200000), 7200000);
}

TEST(never_overflows)
{
    struct retry_cfg r = { .initial_ms = 1000, .max_ms = INT64_MAX, .multiplier = 10, .jitter = 0.5 };
    int64_t d = backoff_delay_ms(&r, 1000000, 0.99, -1);
    CHECK(d > 0);
    CHECK_INT(d, INT64_MAX);
    r.max_ms = 86400000;
    CHECK_INT(backoff_delay_ms(&r, 2147483647, 0.5, -1), 86400000);
    r.multiplier = 1;
    CHECK_INT(backoff_delay_ms(&r, 2147483647, 0.5, -1), 1000);
}

TEST(odd_inputs_are_tamed)
{
    struct retry_cfg r = spec;
    r.jitter = 0;
    CHECK_INT(backoff_delay_ms(&r, 0, 0.5, -1), 10000);      /* n < 1 → first */
    CHECK_INT(backoff_delay_ms(&r, -5, 0.5, -1), 10000);
    r.jitter = 5;                                             /* clamped to 100 % */
    CHECK_INT(backoff_delay_ms(&r, 1, 0.0, -1), 0);
    CHECK_INT(backoff_delay_ms(&r, 1, 0.75, -1), 15000);
    r.jitter = 0.2;
    CHECK_INT(backoff_delay_ms(&r, 1, -3, -1), 8000);        /* u clamped */
}

int main(void)
{
    RUN(doubles_until_the_cap);
    RUN(jitter_spans_the_interval);
    RUN(retry_after_is_a_lower_bound);
    RUN(never_overflows);
    RUN(odd_inputs_are_tamed);
    return tap_done();
}

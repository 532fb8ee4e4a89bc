/* target_rt.h - one target's runtime in the daemon: its adapter, circuit
 * breaker, rate bucket, claim sizing and the deliveries waiting to go out.
 *
 * Used by the loop's thread only. */
#ifndef EPSYNC_TARGET_RT_H
#define EPSYNC_TARGET_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "config.h"
#include "err.h"
#include "queue.h"

#define BREAKER_THRESHOLD 5          /* consecutive failed requests that pause a target */

/* Per-target runtime: adapter, breaker, rate bucket, resend queue. */
struct trt {
    const struct target_cfg *t;
    adapter *a;
    int in_flight;                   /* requests */
    bool idle;                       /* last claim found nothing: wait for a wake-up */
    bool auth_in_flight;
    bool broken;                     /* credentials refused */
    int64_t wait_until;              /* a failed token request's pause: ask again then */
    /* circuit breaker */
    int failures;                    /* consecutive failed requests */
    bool open;
    int opens;                       /* consecutive openings: the probe interval grows */
    int64_t open_until;
    bool probing;
    /* rate */
    double tokens;
    int64_t refill_at;
    /* deliveries to send again at once (token renewed, batch split) */
    struct claim *ready;
    size_t nready, capready;
    size_t split_limit;              /* after HTTP 413: smaller batches */
    int renewals_unproven;           /* tokens obtained since a call last got through */
    bool clock_warned;               /* "clock is off" said since the last success */
    long published;                  /* since start, for the summary */
    /* answered deliveries per second, to claim ahead of the free slots */
    long answered;
    int64_t rate_since;
    double rate;
    int handed_turns;                /* claims served by the detector's handoff in a row */
};

/* The runtimes of cfg's enabled targets; a target of old[0..nold-1] with
 * the same name keeps its breaker and counters (reload). */
int trt_build(const struct trt *old, size_t nold, const struct config *cfg, struct trt **out,
              size_t *n, struct err *e);
void trt_clear(struct trt *tr);
/* Keep a claimed delivery (still leased) for the next turn. */
void trt_ready_push(struct trt *tr, struct claim *c);

/* A request failed (why: for the log) / got through.  rand: [0, 1). */
void trt_breaker_failure(struct trt *tr, const struct retry_cfg *retry, double rand,
                         const char *why);
void trt_breaker_success(struct trt *tr);

/* May the target send one more request now (credentials, its own
 * max_in_flight, breaker, rate)?  Refills the rate bucket. */
bool trt_may_send(struct trt *tr, int64_t now);
/* One request went out: it takes a token of the rate. */
void trt_sent(struct trt *tr);

/* How many rows one claim asks for (see target_rt.c). */
int trt_claim_size(struct trt *tr, size_t batch, int64_t lease_ms, int64_t now);

/* Is there lease enough left on c to send it (the target's timeout and
 * room to record the answer)? */
bool trt_lease_left(const struct trt *tr, int64_t lease_ms, const struct claim *c, int64_t now);

/* qsort order of the claims of one turn: deadline first (see target_rt.c). */
int trt_by_deadline(const void *a, const void *b);

#endif

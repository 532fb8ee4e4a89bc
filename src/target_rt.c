/* target_rt.c - see target_rt.h. */
#include "target_rt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#define CLAIM_MAX 500                /* rows per claim statement */
#define CLAIM_AHEAD_DIV 4            /* claim ahead at most what goes out in lease/4 */

void trt_clear(struct trt *tr)
{
    adapter_free(tr->a);
    queue_claims_free(tr->ready, tr->nready);
    memset(tr, 0, sizeof *tr);
}

int trt_build(const struct trt *old, size_t nold, const struct config *cfg, struct trt **out,
              size_t *n, struct err *e)
{
    struct trt *tr = xcalloc(cfg->ntargets + 1, sizeof *tr);
    size_t k = 0;

    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct target_cfg *t = &cfg->targets[i];
        if (!t->enabled)
            continue;
        tr[k].t = t;
        if (adapter_new(&tr[k].a, t, cfg, e) < 0) {
            err_wrap(e, "targets.%s", t->name);
            for (size_t j = 0; j <= k; j++)
                trt_clear(&tr[j]);
            free(tr);
            return -EINVAL;
        }
        tr[k].tokens = t->rate_per_s > 0 ? (t->rate_per_s < 1 ? 1 : t->rate_per_s) : 0;
        tr[k].refill_at = clock_mono_ms();
        /* Keep breaker and counters of a target that survives a reload. */
        for (size_t j = 0; j < nold; j++) {
            if (strcmp(old[j].t->name, t->name) == 0) {
                tr[k].failures = old[j].failures;
                tr[k].open = old[j].open;
                tr[k].opens = old[j].opens;
                tr[k].open_until = old[j].open_until;
                tr[k].published = old[j].published;
            }
        }
        k++;
    }
    *out = tr;
    *n = k;
    return 0;
}

void trt_ready_push(struct trt *tr, struct claim *c)
{
    if (tr->nready == tr->capready) {
        tr->capready = tr->capready ? tr->capready * 2 : 16;
        tr->ready = xrealloc(tr->ready, tr->capready * sizeof *tr->ready);
    }
    tr->ready[tr->nready++] = *c;
}

void trt_breaker_failure(struct trt *tr, const struct retry_cfg *retry, double rand,
                         const char *why)
{
    int64_t now = clock_mono_ms();
    tr->failures++;
    if (!tr->open && tr->failures < BREAKER_THRESHOLD)
        return;
    int64_t wait = backoff_delay_ms(retry, ++tr->opens, rand, -1);
    tr->open_until = now + wait;
    tr->probing = false;
    if (!tr->open) {
        tr->open = true;
        metrics_set_paused(tr->t->name, METRICS_PAUSE_BREAKER, why);
        log_error("target paused after repeated failures", KV("target", tr->t->name),
                  KVI("failures", tr->failures), KV("reason", why), KVI("probe_in_ms", wait),
                  LOG_ACTION_NEEDED);
    }
}

void trt_breaker_success(struct trt *tr)
{
    if (tr->open)
        log_notice("target resumed", KV("target", tr->t->name));
    metrics_set_resumed(tr->t->name, METRICS_PAUSE_BREAKER);
    tr->open = false;
    tr->probing = false;
    tr->failures = 0;
    tr->opens = 0;
}

bool trt_may_send(struct trt *tr, int64_t now)
{
    if (tr->broken || tr->auth_in_flight)
        return false;
    if (tr->in_flight >= tr->t->max_in_flight)
        return false;
    if (tr->open && (now < tr->open_until || tr->probing))
        return false;
    if (tr->t->rate_per_s > 0) {
        double cap = tr->t->rate_per_s < 1 ? 1 : tr->t->rate_per_s;
        tr->tokens += (double)(now - tr->refill_at) * tr->t->rate_per_s / 1000.0;
        if (tr->tokens > cap)
            tr->tokens = cap;
        tr->refill_at = now;
        if (tr->tokens < 1)
            return false;
    }
    return true;
}

void trt_sent(struct trt *tr)
{
    if (tr->t->rate_per_s > 0)
        tr->tokens -= 1;
    if (tr->open)
        tr->probing = true;
}

/* A request goes out only while the lease has room for the whole request
 * (the target's timeout) and for recording its answer: the row must not be
 * claimable by another process while the request may still be out — a
 * city withdrawal carries no idempotency key. */
bool trt_lease_left(const struct trt *tr, int64_t lease_ms, const struct claim *c, int64_t now)
{
    int64_t room = config_lease_room_ms(lease_ms);
    return c->d->lease_until - now >= tr->t->timeout_ms + room;
}

/* Deadline order within a claim (claims and the hand-over come in it
 * already): the earliest due_on first, a withdrawal before a publication
 * or update due the same day; equal operations next to each other form
 * one batch. */
static int op_rank(enum op op)
{
    return op == OP_WITHDRAW ? 0 : op == OP_PUBLISH ? 1 : 2;
}

int trt_by_deadline(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    const char *dx = x->d->due_on, *dy = y->d->due_on;
    int c = !*dx || !*dy ? (!*dx) - (!*dy) : strcmp(dx, dy);
    return c ? c : op_rank(x->d->op) - op_rank(y->d->op);
}

/* How many rows one claim asks for: what the free request slots take,
 * or — when the target answers fast — what it answers in a quarter of
 * the lease, so that a busy target is not claimed for a few rows at a
 * time (each claim walks the queue index).  Rows claimed ahead wait in
 * tr->ready, leased. */
int trt_claim_size(struct trt *tr, size_t batch, int64_t lease_ms, int64_t now)
{
    if (tr->open)
        return 1;
    if (now - tr->rate_since >= 1000) {
        double r = (double)tr->answered * 1000.0 / (double)(now - tr->rate_since);
        tr->rate = tr->rate_since ? (tr->rate + r) / 2 : r;
        tr->answered = 0;
        tr->rate_since = now;
    }
    double want = (double)batch * (tr->t->max_in_flight - tr->in_flight);
    double ahead = tr->rate * (double)lease_ms / 1000.0 / CLAIM_AHEAD_DIV;
    if (tr->t->rate_per_s <= 0 && ahead > want)
        want = ahead;
    return want > CLAIM_MAX ? CLAIM_MAX : want < 1 ? 1 : (int)want;
}

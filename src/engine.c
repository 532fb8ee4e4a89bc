/* engine.c - see engine.h.
 *
 * All the loop's state lives in struct engine, passed to every step; the
 * only process-wide state is the blocked signal set (read through a
 * signalfd in the loop).  Nothing here blocks except short, batched
 * claim statements: HTTP runs on the curl multi handle, detection and
 * recording run in threads of their own (detector.c, recorder.c), and the
 * loop sleeps in curl_multi_poll() on curl's sockets, the signalfd, the
 * state connection (LISTEN epsync_wake) and the two threads' eventfds
 * until one of them or a timer is due. */
#include "engine.h"
#include "deadline.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "adapter.h"
#include "backoff.h"
#include "clock.h"
#include "date.h"
#include "db.h"
#include "detector.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "publicity.h"
#include "recorder.h"
#include "sign.h"
#include "state.h"

#define BREAKER_THRESHOLD 5          /* consecutive failed requests that pause a target */
#define CLAIM_MAX 500                /* rows per claim statement */
#define CLAIM_AHEAD_DIV 4            /* claim ahead at most what goes out in lease/4 */
#define HANDED_TURNS 4               /* handed-over batches before the queue gets a turn */
#define REAUTH_MAX 5                 /* renewed tokens refused in a row before 401 is a failure */
#define STOP_GRACE_MS 9000           /* SIGTERM: finish in-flight requests within this, */
#define STOP_RECORD_MS 1000          /* then record their outcomes: exit within 10 s */
#define STATUS_EVERY_MS 10000
#define SUMMARY_EVERY_MS (10 * 60 * 1000)

/* Per-target runtime: adapter, breaker, rate bucket, resend queue. */
struct trt {
    const struct target_cfg *t;
    adapter *a;
    int in_flight;                   /* requests */
    bool idle;                       /* last claim found nothing: wait for a wake-up */
    bool auth_in_flight;
    bool broken;                     /* credentials refused */
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

struct reqctx {
    struct trt *tr;
    bool auth;
    struct claim *claims;            /* owned */
    size_t n;
    char request_id[37];
    char body_sha256[65];
};

struct engine {
    struct config *cfg;
    const char *config_path;
    bool once;
    char owner[96];
    db *state;
    detector *det;                   /* change detection, in a thread of its own */
    recorder *rec;                   /* records outcomes, in a thread of its own */
    http *http;
    struct trt *tr;
    size_t ntr;
    int sigfd;
    bool stopping;
    int64_t stop_deadline;
    bool reload;
    /* results waiting to be recorded */
    struct result *res;
    size_t nres, capres;
    int64_t res_since;               /* when the oldest of them arrived (monotonic ms) */
    /* timers (monotonic ms) */
    int64_t next_status, next_summary, next_expire, next_watchdog;
    struct db_pace db_pace;          /* reconnects of the loop's state connection */
    int64_t next_due;                /* earliest retry when every target went idle, 0: none */
    int64_t watchdog_ms;
    long detected, attempts;
    date_t today;                    /* CST day of published_today */
    long published_today;            /* by this process */
    deadline_watch *deadlines;       /* deadline warnings (deadline.c) */
};

static double rand01(void)
{
    char hex[9];
    if (sign_random_hex(hex, 8) < 0)
        return 0.5;
    return (double)strtoul(hex, NULL, 16) / 4294967296.0;
}

/* ------------------------------------------------------------------ */
/* targets */

static void trt_clear(struct trt *tr)
{
    adapter_free(tr->a);
    state_claims_free(tr->ready, tr->nready);
    memset(tr, 0, sizeof *tr);
}

static int targets_build(struct engine *en, struct config *cfg, struct trt **out, size_t *n,
                         struct err *e)
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
        for (size_t j = 0; en && j < en->ntr; j++) {
            if (strcmp(en->tr[j].t->name, t->name) == 0) {
                tr[k].failures = en->tr[j].failures;
                tr[k].open = en->tr[j].open;
                tr[k].opens = en->tr[j].opens;
                tr[k].open_until = en->tr[j].open_until;
                tr[k].published = en->tr[j].published;
            }
        }
        k++;
    }
    *out = tr;
    *n = k;
    return 0;
}

static void ready_push(struct trt *tr, struct claim *c)
{
    if (tr->nready == tr->capready) {
        tr->capready = tr->capready ? tr->capready * 2 : 16;
        tr->ready = xrealloc(tr->ready, tr->capready * sizeof *tr->ready);
    }
    tr->ready[tr->nready++] = *c;
}

/* ------------------------------------------------------------------ */
/* results */

static struct result *result_new(struct engine *en, const struct claim *c)
{
    if (en->nres == 0)
        en->res_since = clock_mono_ms();
    if (en->nres == en->capres) {
        en->capres = en->capres ? en->capres * 2 : 64;
        en->res = xrealloc(en->res, en->capres * sizeof *en->res);
    }
    struct result *r = &en->res[en->nres++];
    memset(r, 0, sizeof *r);
    r->decision_id = xstrdup(c->d->decision_id);
    r->target = xstrdup(c->d->target);
    r->op = c->d->op;
    r->revision = xstrdup(c->d->revision);
    r->attempt = c->d->attempt;
    r->latency_ms = -1;
    snprintf(r->old_state, sizeof r->old_state, "%s", c->old_state);
    return r;
}

static enum result_kind result_of(enum outcome_kind k)
{
    switch (k) {
    case OUTCOME_OK: return RES_OK;
    case OUTCOME_PERMANENT: return RES_PERMANENT;
    case OUTCOME_ADOPT: return RES_ADOPT;
    case OUTCOME_GONE: return RES_GONE;
    case OUTCOME_NOT_FOUND: return RES_NOT_FOUND;
    default: return RES_TRANSIENT;
    }
}

/* Outcomes go to the recorder in batches; it commits them on its own
 * connection while the loop goes on sending.  The rows stay leased
 * meanwhile, so nothing acts on an outcome before it is recorded.  When
 * the recorder falls far behind (the database is slow or away), sending
 * pauses. */
#define FLUSH_MAX 512
#define FLUSH_EVERY_MS 20
#define RECORD_BACKLOG_MAX 3072

static bool flush_due(const struct engine *en, int64_t now)
{
    return en->nres && (en->nres >= FLUSH_MAX || now - en->res_since >= FLUSH_EVERY_MS
                        || en->stopping);
}

/* Hand what is waiting to the recorder. */
static void flush_results(struct engine *en)
{
    if (en->nres == 0)
        return;
    recorder_put(en->rec, en->res, en->nres);
    en->res = NULL;
    en->nres = en->capres = 0;
}

/* Outcomes recorded: the next operation of a pair may be due now. */
static void take_recorded(struct engine *en)
{
    if (recorder_news(en->rec) == 0)
        return;
    for (size_t i = 0; i < en->ntr; i++)
        en->tr[i].idle = false;
}

/* ------------------------------------------------------------------ */
/* breaker */

static void breaker_failure(struct engine *en, struct trt *tr, const char *why)
{
    int64_t now = clock_mono_ms();
    tr->failures++;
    if (!tr->open && tr->failures < BREAKER_THRESHOLD)
        return;
    int64_t wait = backoff_delay_ms(&en->cfg->delivery.retry, ++tr->opens, rand01(), -1);
    tr->open_until = now + wait;
    tr->probing = false;
    if (!tr->open) {
        tr->open = true;
        log_error("target paused after repeated failures", KV("target", tr->t->name),
                  KVI("failures", tr->failures), KV("reason", why), KVI("probe_in_ms", wait));
    }
}

static void breaker_success(struct trt *tr)
{
    if (tr->open)
        log_notice("target resumed", KV("target", tr->t->name));
    tr->open = false;
    tr->probing = false;
    tr->failures = 0;
    tr->opens = 0;
}

/* ------------------------------------------------------------------ */
/* sending */

static void prepare_delivery(struct engine *en, struct claim *c)
{
    struct delivery *d = c->d;
    date_t first, end;
    char buf[11];

    if (d->op == OP_WITHDRAW || d->publicity_end)
        return;
    if (!c->first_published[0] || date_parse(c->first_published, &first) < 0)
        first = date_cst(clock_wall_ms());
    end = publicity_end(delivery_fields(d), d->kind, first, en->cfg);
    if (end != DATE_NONE) {
        date_format(end, buf);
        d->publicity_end = xstrdup(buf);
    }
}

/* Hand n claims (same op) to the adapter; returns how many were sent. */
static size_t submit(struct engine *en, struct trt *tr, struct claim *c, size_t n)
{
    struct delivery *ds[128];
    struct http_req req;
    struct err e;
    size_t used = n;

    if (n > 128)
        n = used = 128;
    for (size_t i = 0; i < n; i++) {
        delivery_fields(c[i].d);   /* parsed for the adapter, dropped again below */
        prepare_delivery(en, &c[i]);
        ds[i] = c[i].d;
    }
    memset(&req, 0, sizeof req);
    int built = adapter_build(tr->a, ds, n, &used, clock_wall_ms(), &req, &e);
    for (size_t i = 0; i < n; i++)
        delivery_fields_release(ds[i]);   /* the request holds what it needs */
    if (built < 0) {
        http_req_clear(&req);
        if (n > 1)
            return submit(en, tr, c, 1);   /* find the one that cannot be built */
        /* A delivery that cannot become a request is the platform-independent
         * equivalent of a rejection: it needs a human. */
        struct result *r = result_new(en, &c[0]);
        r->kind = RES_PERMANENT;
        r->message = xstrdup(e.msg);
        delivery_free(c[0].d);
        c[0].d = NULL;
        return 1;
    }
    struct reqctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->tr = tr;
    ctx->n = used;
    ctx->claims = xmalloc(used * sizeof *ctx->claims);
    memcpy(ctx->claims, c, used * sizeof *c);
    memcpy(ctx->request_id, req.request_id, sizeof ctx->request_id);
    memcpy(ctx->body_sha256, req.body_sha256, sizeof ctx->body_sha256);
    if (http_submit(en->http, tr->t, &req, ctx, &e) < 0) {
        log_error("cannot start request", KV("target", tr->t->name), KV("error", e.msg));
        for (size_t i = 0; i < used; i++) {
            struct result *r = result_new(en, &c[i]);
            r->kind = RES_TRANSIENT;
            r->message = xstrdup(e.msg);
            r->delay_ms = backoff_delay_ms(&en->cfg->delivery.retry, c[i].d->attempt, rand01(), -1);
            delivery_free(c[i].d);
        }
        http_req_clear(&req);
        free(ctx->claims);
        free(ctx);
        return used;
    }
    tr->in_flight++;
    en->attempts += (long)used;
    return used;
}

static bool may_send(struct engine *en, struct trt *tr, int64_t now)
{
    if (en->stopping || tr->broken || tr->auth_in_flight)
        return false;
    if ((int)http_in_flight(en->http) >= en->cfg->delivery.max_in_flight)
        return false;
    if (recorder_pending(en->rec) >= RECORD_BACKLOG_MAX)
        return false;   /* resumes when the recorder catches up (recorder_fd) */
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

static bool adapter_ready(struct engine *en, struct trt *tr)
{
    struct http_req auth;
    char msg[256] = "";
    struct err e;

    memset(&auth, 0, sizeof auth);
    switch (adapter_prepare(tr->a, clock_wall_ms(), &auth, msg, sizeof msg)) {
    case ADAPTER_READY:
        if (tr->broken)
            log_notice("target credentials accepted again", KV("target", tr->t->name));
        tr->broken = false;
        return true;
    case ADAPTER_AUTH: {
        struct reqctx *ctx = xcalloc(1, sizeof *ctx);
        ctx->tr = tr;
        ctx->auth = true;
        if (http_submit(en->http, tr->t, &auth, ctx, &e) < 0) {
            log_error("cannot start token request", KV("target", tr->t->name), KV("error", e.msg));
            http_req_clear(&auth);
            free(ctx);
            return false;
        }
        tr->auth_in_flight = true;
        tr->in_flight++;
        return false;
    }
    case ADAPTER_WAIT:
        return false;
    case ADAPTER_BROKEN:
        if (!tr->broken)
            log_error("target paused: credentials refused", KV("target", tr->t->name),
                      KV("reason", msg));
        tr->broken = true;
        return false;
    }
    return false;
}

/* Sort claims so that equal operations are adjacent (stable enough: a
 * claim's order only matters within one pair, and a pair is claimed once). */
static int by_op(const void *a, const void *b)
{
    const struct claim *x = a, *y = b;
    return (int)x->d->op - (int)y->d->op;
}

/* How many rows one claim asks for: what the free request slots take,
 * or — when the target answers fast — what it answers in a quarter of
 * the lease, so that a busy target is not claimed for a few rows at a
 * time (each claim walks the queue index).  Rows claimed ahead wait in
 * tr->ready, leased. */
static int claim_size(struct engine *en, struct trt *tr, size_t batch, int64_t now)
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
    double ahead = tr->rate * (double)en->cfg->delivery.lease_ms / 1000.0 / CLAIM_AHEAD_DIV;
    if (tr->t->rate_per_s <= 0 && ahead > want)
        want = ahead;
    return want > CLAIM_MAX ? CLAIM_MAX : want < 1 ? 1 : (int)want;
}

/* Deliveries the detector handed over (already leased to us), as claims. */
static size_t take_handed(struct engine *en, struct trt *tr, int want, struct claim **out)
{
    struct delivery **ds = xmalloc((size_t)want * sizeof *ds);
    size_t n = en->det ? detector_take(en->det, tr->t->name, (size_t)want, ds) : 0;

    *out = NULL;
    if (n) {
        *out = xcalloc(n, sizeof **out);
        for (size_t i = 0; i < n; i++) {
            (*out)[i].d = ds[i];
            snprintf((*out)[i].old_state, sizeof (*out)[i].old_state, "pending");
        }
    }
    free(ds);
    return n;
}

static void dispatch_target(struct engine *en, struct trt *tr)
{
    int64_t now = clock_mono_ms();

    while (may_send(en, tr, now) && adapter_ready(en, tr)) {
        struct claim *c = NULL;
        size_t n = 0, batch = adapter_batch_max(tr->a, OP_PUBLISH);
        bool from_ready = tr->nready > 0;

        if (tr->split_limit && tr->split_limit < batch)
            batch = tr->split_limit;
        if (from_ready) {
            c = tr->ready;
            n = tr->nready;
            tr->ready = NULL;
            tr->nready = tr->capready = 0;
        } else {
            struct err e;
            int want = claim_size(en, tr, batch, now);
            if (tr->idle || en->stopping)
                return;
            /* Handed-over work first, but every few turns the queue in
             * the database, so retries and changes are not held up by a
             * long bulk load. */
            bool queue_first = tr->handed_turns >= HANDED_TURNS;
            if (!queue_first && (n = take_handed(en, tr, want, &c)) > 0)
                tr->handed_turns++;
            else {
                tr->handed_turns = 0;
                if (state_claim(en->state, en->owner, tr->t->name, want,
                                en->cfg->delivery.lease_ms, &c, &n, &e) < 0) {
                    log_error("cannot claim deliveries", KV("target", tr->t->name),
                              KV("error", e.msg));
                    return;
                }
                if (n == 0 && queue_first) {
                    free(c);
                    n = take_handed(en, tr, want, &c);
                }
            }
            if (n == 0) {
                free(c);
                tr->idle = true;
                return;
            }
        }
        qsort(c, n, sizeof *c, by_op);
        size_t i = 0;
        while (i < n) {
            struct claim *cl = &c[i];
            if (cl->no_request) {
                struct result *r = result_new(en, cl);
                r->kind = strcmp(cl->settle, "cancel") == 0 ? RES_CANCEL : RES_NOOP;
                delivery_free(cl->d);
                i++;
                continue;
            }
            if (!may_send(en, tr, clock_mono_ms())) {
                ready_push(tr, cl);     /* still leased by us: next turn */
                i++;
                continue;
            }
            size_t j = i, max = adapter_batch_max(tr->a, cl->d->op);
            if (tr->split_limit && tr->split_limit < max)
                max = tr->split_limit;
            if (tr->open)
                max = 1;
            while (j < n && j - i < max && !c[j].no_request && c[j].d->op == cl->d->op)
                j++;
            size_t sent = submit(en, tr, cl, j - i);
            if (tr->t->rate_per_s > 0)
                tr->tokens -= 1;
            if (tr->open)
                tr->probing = true;
            i += sent;
        }
        free(c);
        now = clock_mono_ms();
    }
}

/* ------------------------------------------------------------------ */
/* answers */

static void handle_done(struct engine *en, struct reqctx *ctx, struct http_resp *resp)
{
    struct trt *tr = ctx->tr;
    struct outcome *out;
    bool any_ok = false, all_transient = true, abandoned = strcmp(resp->error, "abandoned") == 0;
    const char *why = NULL;

    tr->in_flight--;
    if (ctx->auth) {
        tr->auth_in_flight = false;
        if (!abandoned) {
            adapter_auth_done(tr->a, resp, clock_wall_ms());
            if (resp->status == 200)
                tr->renewals_unproven++;
        }
        return;
    }
    tr->answered += (long)ctx->n;
    out = xcalloc(ctx->n, sizeof *out);
    struct delivery *ds[128];
    for (size_t i = 0; i < ctx->n; i++)
        ds[i] = ctx->claims[i].d;
    if (!abandoned)
        adapter_parse(tr->a, ds, ctx->n, resp, out);

    for (size_t i = 0; i < ctx->n; i++) {
        struct claim *c = &ctx->claims[i];
        if (abandoned) {
            struct result *r = result_new(en, c);
            r->kind = RES_RELEASE;
            delivery_free(c->d);
            continue;
        }
        /* A revoked token is renewed and the call repeated at once, a batch
         * too large is split: neither is an attempt.  But when renewed
         * tokens keep being refused before any call gets through, or a
         * single record is too large, that is an ordinary failure. */
        if (out[i].kind == OUTCOME_REAUTH && tr->renewals_unproven >= REAUTH_MAX) {
            out[i].kind = OUTCOME_TRANSIENT;
            snprintf(out[i].message, sizeof out[i].message,
                     "access token refused again right after renewal");
        } else if (out[i].kind == OUTCOME_SPLIT && ctx->n == 1) {
            out[i].kind = OUTCOME_PERMANENT;
            snprintf(out[i].message, sizeof out[i].message,
                     "HTTP 413: this record alone exceeds the platform's size limit");
        } else if (out[i].kind == OUTCOME_REAUTH || out[i].kind == OUTCOME_SPLIT) {
            if (out[i].kind == OUTCOME_SPLIT)
                tr->split_limit = ctx->n / 2 ? ctx->n / 2 : 1;
            ready_push(tr, c);
            all_transient = false;
            continue;
        }
        if (out[i].http_status && out[i].http_status != 401)
            tr->renewals_unproven = 0;   /* the token was accepted */
        struct result *r = result_new(en, c);
        r->kind = result_of(out[i].kind);
        r->http_status = out[i].http_status;
        r->code = out[i].code[0] ? xstrdup(out[i].code) : NULL;
        r->message = out[i].message[0] ? xstrdup(out[i].message) : NULL;
        r->receipt = out[i].receipt[0] ? xstrdup(out[i].receipt) : NULL;
        r->latency_ms = (int)resp->latency_ms;
        r->body_sha256 = xstrdup(ctx->body_sha256);
        r->request_id = xstrdup(ctx->request_id);
        if (c->d->publicity_end && en->cfg->publicity.expire)
            r->expires_on = xstrdup(c->d->publicity_end);
        if (r->kind == RES_TRANSIENT) {
            r->delay_ms = backoff_delay_ms(&en->cfg->delivery.retry, c->d->attempt, rand01(),
                                           out[i].retry_after_ms);
            why = r->message;
            if (r->code && strcmp(r->code, "A0402") == 0 && !tr->clock_warned) {
                /* The gateway refuses our timestamps: the host clock is off.
                 * Said once per streak; each retry is an ordinary warning. */
                log_error("platform says our clock is off, check NTP", KV("target", tr->t->name),
                          KV("code", r->code), KV("reason", r->message));
                tr->clock_warned = true;
            }
        } else {
            all_transient = false;
            any_ok = true;
            if (r->kind == RES_OK && r->op != OP_WITHDRAW) {
                date_t today = date_cst(clock_wall_ms());
                if (today != en->today) {
                    en->today = today;
                    en->published_today = 0;
                }
                en->published_today++;
                tr->published++;
            }
        }
        if (out[i].pause_target)
            tr->broken = true;
        delivery_free(c->d);
    }
    if (!abandoned) {
        if (any_ok) {
            breaker_success(tr);
            tr->clock_warned = false;
        }
        else if (all_transient && ctx->n > 0)
            breaker_failure(en, tr, why ? why : "no answer");
        else
            tr->probing = false;
    }
    free(out);
}

static void collect(struct engine *en)
{
    void *p;
    struct http_resp resp;

    memset(&resp, 0, sizeof resp);
    while (http_done(en->http, &p, &resp) == 1) {
        struct reqctx *ctx = p;
        handle_done(en, ctx, &resp);
        http_resp_clear(&resp);
        free(ctx->claims);
        free(ctx);
    }
}

/* ------------------------------------------------------------------ */
/* database health, detection, housekeeping */

static const char *SQL_LISTEN_WAKE = "LISTEN epsync_wake";

static int state_listen(struct engine *en, struct err *e)
{
    PGresult *r = PQexec(db_conn(en->state), SQL_LISTEN_WAKE);   /* fixed text, no parameters */
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : err_set(e, -EIO, "LISTEN epsync_wake failed");
}

/* true when the state database is usable now. */
static bool db_healthy(struct engine *en, int64_t now)
{
    struct err e;
    if (!db_broken(en->state))
        return true;
    if (now < en->db_pace.retry_at)
        return false;
    if (db_ensure(en->state, &e) < 0 || state_listen(en, &e) < 0) {
        bool first;
        db_pace_failed(&en->db_pace, now, &first);
        if (first)
            log_error("state database unavailable, retrying", KV("error", e.msg));
        return false;
    }
    log_notice("state database reconnected");
    db_pace_ok(&en->db_pace);
    for (size_t i = 0; i < en->ntr; i++)
        en->tr[i].idle = false;
    return true;
}

/* New decisions stored by the detector: every target has work again. */
static void take_news(struct engine *en)
{
    long n = en->det ? detector_news(en->det) : 0;
    if (!n)
        return;
    en->detected += n;
    for (size_t i = 0; i < en->ntr; i++)
        en->tr[i].idle = false;
}

static bool wake_notified(struct engine *en)
{
    PGconn *c = db_conn(en->state);
    PGnotify *n;
    bool any = false;
    if (db_broken(en->state) || !PQconsumeInput(c))
        return false;
    while ((n = PQnotifies(c))) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

static void expire(struct engine *en, int64_t now)
{
    char today[11];
    struct err e;
    int n;
    if (!en->cfg->publicity.expire || now < en->next_expire || en->stopping)
        return;
    en->next_expire = now + en->cfg->poll.interval_ms;   /* an indexed, usually empty UPDATE */
    date_format(date_cst(clock_wall_ms()), today);
    if (state_expire(en->state, today, &n, &e) < 0)
        log_error("cannot queue expired withdrawals", KV("error", e.msg));
    else if (n)
        for (size_t i = 0; i < en->ntr; i++)
            en->tr[i].idle = false;
}

static void status(struct engine *en, int64_t now)
{
    char line[256], paused[128] = "";
    PGresult *r = NULL;
    struct err e;
    long backlog = -1;

    if (now >= en->next_watchdog && en->watchdog_ms > 0) {
        notify_watchdog();
        en->next_watchdog = now + en->watchdog_ms / 2;
    }
    if (now < en->next_status)
        return;
    en->next_status = now + STATUS_EVERY_MS;
    if (!db_broken(en->state)
        && db_exec(en->state, "count the backlog",
                   "SELECT count(*) FROM epsync.deliveries "
                   "WHERE state IN ('pending', 'retry', 'withdraw_pending')",
                   0, NULL, &r, &e) == 0) {
        backlog = atol(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    long published = 0;
    for (size_t i = 0; i < en->ntr; i++) {
        published += en->tr[i].published;
        if (en->tr[i].open || en->tr[i].broken)
            snprintf(paused + strlen(paused), sizeof paused - strlen(paused), "%s%s",
                     paused[0] ? "," : "", en->tr[i].t->name);
    }
    if (date_cst(clock_wall_ms()) != en->today)
        en->published_today = 0;
    long at_risk, missed;
    deadline_watch_tick(&en->deadlines, en->state, en->cfg, clock_wall_ms(), &at_risk, &missed);
    snprintf(line, sizeof line, "backlog=%ld published_today=%ld in_flight=%zu paused=%s "
             "at_risk=%ld missed=%ld", backlog, en->published_today, http_in_flight(en->http),
             paused[0] ? paused : "none", at_risk, missed);
    notify_status(line);
    if (now >= en->next_summary) {
        en->next_summary = now + SUMMARY_EVERY_MS;
        log_info("summary", KVI("backlog", backlog), KVI("published", published),
                 KVI("attempts", en->attempts), KVI("detected", en->detected),
                 KV("paused", paused[0] ? paused : "none"), KVI("at_risk", at_risk),
                 KVI("missed", missed));
    }
}

/* ------------------------------------------------------------------ */
/* signals and reload */

static int signals_open(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void signals_read(struct engine *en)
{
    struct signalfd_siginfo si;
    while (read(en->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP)
            en->reload = true;
        else if (!en->stopping) {
            en->stopping = true;
            en->stop_deadline = clock_mono_ms() + STOP_GRACE_MS;
            if (en->det)
                detector_stop_soon(en->det);   /* its page ends while requests finish */
            notify_stopping();
            log_notice("stopping", KVI("in_flight", http_in_flight(en->http)));
        }
    }
}

static void do_reload(struct engine *en)
{
    struct config *cfg = NULL;
    struct trt *tr = NULL;
    size_t n = 0;
    struct err e;
    struct timespec ts;

    en->reload = false;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    notify_reloading((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    if (config_load(&cfg, en->config_path, &e) < 0) {
        log_error("reload refused, keeping the running configuration", KV("error", e.msg));
        notify_ready();
        return;
    }
    /* In-flight requests point at the old targets: finish them first.
     * Reloads are rare; a short wait keeps ownership simple. */
    int64_t until = clock_mono_ms() + STOP_GRACE_MS;
    while (http_in_flight(en->http) > 0 && clock_mono_ms() < until) {
        struct err we;
        http_wait(en->http, 100, NULL, 0, &we);
        collect(en);
    }
    if (http_in_flight(en->http) > 0) {
        http_abandon_all(en->http);
        collect(en);
    }
    flush_results(en);
    if (targets_build(en, cfg, &tr, &n, &e) < 0) {
        log_error("reload refused, keeping the running configuration", KV("error", e.msg));
        config_free(cfg);
        notify_ready();
        return;
    }
    for (size_t i = 0; i < en->ntr; i++) {
        /* Deliveries waiting to be resent go back to the database. */
        for (size_t k = 0; k < en->tr[i].nready; k++) {
            struct result *r = result_new(en, &en->tr[i].ready[k]);
            r->kind = RES_RELEASE;
        }
        trt_clear(&en->tr[i]);
    }
    free(en->tr);
    en->tr = tr;
    en->ntr = n;
    if (en->det)
        detector_set_config(en->det, cfg);   /* before the old configuration goes */
    config_free(en->cfg);
    en->cfg = cfg;
    log_set_level((enum log_level)cfg->log.level);
    flush_results(en);
    log_notice("configuration reloaded", KVI("targets", n));
    notify_ready();
}

/* ------------------------------------------------------------------ */

static int next_timeout(struct engine *en, int64_t now)
{
    int64_t t = 60000;
    struct err e;
    bool busy = false;

    if (en->stopping)
        return 100;
    for (size_t i = 0; i < en->ntr; i++) {
        struct trt *tr = &en->tr[i];
        bool held = tr->broken || tr->auth_in_flight || (tr->open && now < tr->open_until)
                    || tr->in_flight >= tr->t->max_in_flight
                    || (tr->t->rate_per_s > 0 && tr->tokens < 1);
        if (!held && (tr->nready || !tr->idle))
            busy = true;
        if (tr->open && now < tr->open_until && tr->open_until - now < t)
            t = tr->open_until - now;
        if (tr->t->rate_per_s > 0 && tr->tokens < 1)
            t = t < 50 ? t : 50;
    }
    if (en->nres) {   /* outcomes waiting for the database */
        int64_t f = en->res_since + FLUSH_EVERY_MS - now;
        t = t < f ? t : f;
    }
    if (db_broken(en->state))
        t = en->db_pace.retry_at - now;
    else if (!busy && http_in_flight(en->http) == 0 && !recorder_pending(en->rec)) {
        /* Answers in flight, and outcomes being recorded, end the
         * idleness themselves: the look for the next retry (over the
         * whole queue) is for when nothing else will. */
        int64_t due;
        if (state_next_due_ms(en->state, &due, &e) == 0 && due >= 0 && due < t) {
            t = due + 5;
            en->next_due = now + t;   /* idle targets must claim again then */
        }
    } else if (http_in_flight(en->http) == 0)
        t = 0;
    if (en->watchdog_ms > 0 && en->next_watchdog - now < t)
        t = en->next_watchdog - now;
    if (en->next_status - now < t)
        t = en->next_status - now;
    if (t < 0)
        t = 0;
    if (t > 60000)
        t = 60000;
    return (int)t;
}

static bool once_finished(struct engine *en)
{
    if (en->det && !detector_done(en->det))
        return false;
    take_news(en);   /* what the pass stored last */
    if (http_in_flight(en->http) || en->nres || recorder_pending(en->rec))
        return false;
    for (size_t i = 0; i < en->ntr; i++)
        if (en->det && detector_waiting(en->det, en->tr[i].t->name))
            en->tr[i].idle = false;   /* handed-over work: the check below waits for it */
    for (size_t i = 0; i < en->ntr; i++)
        if (en->tr[i].nready || (!en->tr[i].idle && !en->tr[i].broken
                                 && !(en->tr[i].open && clock_mono_ms() < en->tr[i].open_until)))
            return false;
    return true;
}

static void loop(struct engine *en)
{
    for (;;) {
        int64_t now = clock_mono_ms();
        struct curl_waitfd fds[4];
        unsigned nfds = 0;
        struct err e;
        bool notified = false;

        signals_read(en);
        if (en->reload && !en->stopping)
            do_reload(en);
        if (en->stopping && (http_in_flight(en->http) == 0 || now >= en->stop_deadline)) {
            if (http_in_flight(en->http)) {
                log_warning("abandoning in-flight requests", KVI("count", http_in_flight(en->http)));
                http_abandon_all(en->http);
                collect(en);
            }
            break;
        }
        take_news(en);        /* read whatever the state of the loop's connection */
        take_recorded(en);
        if (flush_due(en, now))
            flush_results(en);
        if (db_healthy(en, now)) {
            notified = wake_notified(en);
            /* A retry that fell due while every target was idle: nothing
             * else would end the idleness (no outcome, no change). */
            bool due = en->next_due && now >= en->next_due;
            if (due)
                en->next_due = 0;
            if (notified || due)
                for (size_t i = 0; i < en->ntr; i++)
                    en->tr[i].idle = false;
            expire(en, now);
            for (size_t i = 0; i < en->ntr; i++)
                dispatch_target(en, &en->tr[i]);
            if (flush_due(en, clock_mono_ms()))
                flush_results(en);   /* e.g. settled without a request */
        }
        status(en, now);
        if (en->once && !en->stopping && once_finished(en))
            break;

        fds[nfds++] = (struct curl_waitfd){ .fd = en->sigfd, .events = CURL_WAIT_POLLIN };
        if (!db_broken(en->state))
            fds[nfds++] = (struct curl_waitfd){ .fd = PQsocket(db_conn(en->state)),
                                                .events = CURL_WAIT_POLLIN };
        if (en->det)
            fds[nfds++] = (struct curl_waitfd){ .fd = detector_fd(en->det), .events = CURL_WAIT_POLLIN };
        fds[nfds++] = (struct curl_waitfd){ .fd = recorder_fd(en->rec), .events = CURL_WAIT_POLLIN };
        if (http_wait(en->http, next_timeout(en, clock_mono_ms()), fds, nfds, &e) < 0)
            log_error("waiting failed", KV("error", e.msg));
        collect(en);
    }
}

static void make_owner(char *out, size_t n)
{
    char host[64] = "host", rnd[9] = "0";
    gethostname(host, sizeof host - 1);
    sign_random_hex(rnd, 8);
    snprintf(out, n, "%s:%d:%s", host, (int)getpid(), rnd);
}

static const char *state_conninfo(const struct config *cfg)
{
    return cfg->database.state && *cfg->database.state ? cfg->database.state
                                                       : cfg->database.source;
}

static int startup(struct engine *en, struct err *e)
{
    int rc;
    struct db_pace pace = { 0, 0 };

    /* The daemon waits for its database; `once` reports it unavailable. */
    for (;;) {
        rc = db_open(&en->state, state_conninfo(en->cfg), "state database", e);
        if (rc == 0)
            break;
        if (en->once)
            return EX_UNAVAILABLE_;
        log_error("state database unavailable, retrying", KV("error", e->msg));
        db_close(en->state);
        en->state = NULL;
        signals_read(en);
        if (en->stopping)
            return 0;
        usleep((useconds_t)db_pace_failed(&pace, clock_mono_ms(), NULL) * 1000);
    }
    if ((rc = db_check_schema(en->state, e)) < 0)
        return EX_UNAVAILABLE_;
    if ((rc = state_listen(en, e)) < 0)
        return EX_UNAVAILABLE_;
    if (detector_open(&en->det, en->cfg, state_conninfo(en->cfg), en->owner, en->once, e) < 0) {
        log_error("source database unavailable, retrying", KV("error", e->msg));
        if (en->once)
            return EX_UNAVAILABLE_;
    }
    if (recorder_open(&en->rec, state_conninfo(en->cfg), en->owner, e) < 0)
        log_error("state database unavailable, retrying", KV("error", e->msg));
    if ((rc = http_new(&en->http, e)) < 0)
        return EX_FAIL;
    if (targets_build(en, en->cfg, &en->tr, &en->ntr, e) < 0)
        return EX_CONFIG_;
    return 0;
}

int engine_main(struct config *cfg, const char *config_path, bool once)
{
    struct engine en;
    struct err e;
    int rc;

    memset(&en, 0, sizeof en);
    en.cfg = cfg;
    en.config_path = config_path;
    en.once = once;
    make_owner(en.owner, sizeof en.owner);
    en.sigfd = signals_open();
    notify_open();
    en.watchdog_ms = notify_watchdog_usec() / 1000;

    if ((rc = startup(&en, &e)) != 0) {
        if (!en.stopping)
            log_error(rc == EX_UNAVAILABLE_ ? "database or schema unavailable" : "cannot start",
                      KV("error", e.msg));
        goto out;
    }
    if (en.stopping)
        goto out;
    log_info(once ? "cycle started" : "started", KV("version", EPSYNC_VERSION),
             KVI("targets", en.ntr), KV("owner", en.owner));
    if (en.det && detector_start(en.det, &e) < 0) {
        log_error("cannot start", KV("error", e.msg));
        rc = EX_FAIL;
        goto out;
    }
    notify_ready();
    loop(&en);
    detector_close(en.det);   /* stop detecting before the leases go */
    en.det = NULL;
    flush_results(&en);
    /* What is left to record gets what is left of the grace period and
     * STOP_RECORD_MS more (at least half a second); `once` waits longer. */
    int64_t wait = once ? 30000 : en.stop_deadline + STOP_RECORD_MS - clock_mono_ms();
    size_t unrecorded = recorder_close(en.rec, wait < 500 ? 500 : wait);
    en.rec = NULL;
    if (unrecorded)
        log_error("outcomes not recorded; the platform's idempotency keys make the resend safe",
                  KVI("count", unrecorded));
    if (!db_broken(en.state) && state_release(en.state, en.owner, &e) < 0)
        log_warning("cannot release leases; they expire on their own", KV("error", e.msg));
    rc = 0;
    if (once) {
        int64_t due = -1;
        if (state_next_due_ms(en.state, &due, &e) < 0 || due == 0)
            rc = 1;
        log_info("cycle finished", KVI("attempts", en.attempts), KVI("detected", en.detected),
                 KV("left_due_now", rc ? "yes" : "no"));
    } else
        log_notice("stopped");
out:
    for (size_t i = 0; i < en.nres; i++)
        result_clear(&en.res[i]);
    free(en.res);
    for (size_t i = 0; i < en.ntr; i++)
        trt_clear(&en.tr[i]);
    free(en.tr);
    http_free(en.http);
    deadline_watch_free(en.deadlines);
    detector_close(en.det);
    recorder_close(en.rec, 0);
    db_close(en.state);
    if (en.sigfd >= 0)
        close(en.sigfd);
    config_free(en.cfg);
    return rc;
}

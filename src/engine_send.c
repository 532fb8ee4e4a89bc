/* engine_send.c - claims become requests, answers become outcomes.
 *
 * engine_dispatch(): a target's next turn (deliveries waiting, handed over
 * by the detector, or claimed from the queue), in deadline order, settled
 * without a request, released when too little lease is left, or handed to
 * the adapter (adapter_build) in batches and sent (http_submit).
 * engine_collect(): each answer parsed by the adapter (adapter_parse) into
 * one outcome per delivery, which becomes a struct result for the
 * recorder, and feeds the target's breaker. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "adapter.h"
#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "publicity.h"
#include "sign.h"

double engine_rand01(void)
{
    char hex[9];
    if (sign_random_hex(hex, 8) < 0)
        return 0.5;
    return (double)strtoul(hex, NULL, 16) / 4294967296.0;
}

struct result *engine_result_new(struct engine *en, const struct claim *c)
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
    r->lease_token = c->d->lease_token;
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


/* May the loop send one more request for tr now? */
static bool may_send(struct engine *en, struct trt *tr, int64_t now)
{
    if (en->stopping || (int)http_in_flight(en->http) >= en->cfg->delivery.max_in_flight)
        return false;
    if (recorder_pending(en->rec) >= RECORD_BACKLOG_MAX)
        return false;   /* resumes when the recorder catches up (recorder_fd) */
    return trt_may_send(tr, now);
}

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
        struct result *r = engine_result_new(en, &c[0]);
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
            struct result *r = engine_result_new(en, &c[i]);
            r->kind = RES_TRANSIENT;
            r->message = xstrdup(e.msg);
            r->delay_ms = backoff_delay_ms(&en->cfg->delivery.retry, c[i].d->attempt,
                                           engine_rand01(), -1);
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
        metrics_set_resumed(tr->t->name, METRICS_PAUSE_CREDENTIALS);
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
        /* Nothing to do until the pause after a failed token request is
         * over (or the request in flight answers): the loop sleeps
         * meanwhile instead of asking again at once. */
        if (!tr->auth_in_flight)
            tr->wait_until = clock_mono_ms() + ADAPTER_WAIT_LOOK_MS;
        return false;
    case ADAPTER_BROKEN:
        if (!tr->broken)
            log_error("target paused: credentials refused", KV("target", tr->t->name),
                      KV("reason", msg), LOG_ACTION_NEEDED);
        tr->broken = true;
        metrics_set_paused(tr->t->name, METRICS_PAUSE_CREDENTIALS, msg);
        return false;
    }
    return false;
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

/* The deliveries of tr's next turn: those waiting, handed over, or claimed.
 * false: nothing to do now (tr->idle says why). */
static bool next_claims(struct engine *en, struct trt *tr, size_t batch, int64_t now,
                        struct claim **c, size_t *n)
{
    struct err e;
    *c = NULL;
    *n = 0;
    if (tr->nready > 0) {
        *c = tr->ready;
        *n = tr->nready;
        tr->ready = NULL;
        tr->nready = tr->capready = 0;
        return true;
    }
    if (tr->idle || en->stopping)
        return false;
    int want = trt_claim_size(tr, batch, en->cfg->delivery.lease_ms, now);
    /* Handed-over work first (it is never less urgent than the queue's
     * head when handed over), but every few turns the queue in the
     * database, so retries and changes are not held up by a long bulk
     * load. */
    bool queue_first = tr->handed_turns >= HANDED_TURNS;
    if (!queue_first && (*n = take_handed(en, tr, want, c)) > 0) {
        tr->handed_turns++;
        return true;
    }
    tr->handed_turns = 0;
    if (queue_claim(en->state, en->owner, tr->t->name, want, en->cfg->delivery.lease_ms, c, n,
                    &e) < 0) {
        log_error("cannot claim deliveries", KV("target", tr->t->name), KV("error", e.msg));
        return false;
    }
    if (*n == 0 && queue_first) {
        free(*c);
        *n = take_handed(en, tr, want, c);
    }
    if (*n == 0) {
        free(*c);
        *c = NULL;
        tr->idle = true;
        return false;
    }
    return true;
}

/* Settle, release, keep or send the claims of one turn (deadline order),
 * in batches of one operation. */
static void send_claims(struct engine *en, struct trt *tr, struct claim *c, size_t n)
{
    int64_t lease = en->cfg->delivery.lease_ms;
    qsort(c, n, sizeof *c, trt_by_deadline);
    for (size_t i = 0; i < n;) {
        struct claim *cl = &c[i];
        if (cl->no_request || !trt_lease_left(tr, lease, cl, clock_mono_ms())) {
            struct result *r = engine_result_new(en, cl);
            /* too little lease left: another turn, or another process */
            r->kind = !cl->no_request ? RES_RELEASE
                      : strcmp(cl->settle, "cancel") == 0 ? RES_CANCEL : RES_NOOP;
            delivery_free(cl->d);
            i++;
            continue;
        }
        if (!may_send(en, tr, clock_mono_ms())) {
            trt_ready_push(tr, cl);     /* still leased by us: next turn */
            i++;
            continue;
        }
        size_t j = i, max = adapter_batch_max(tr->a, cl->d->op);
        if (tr->split_limit && tr->split_limit < max)
            max = tr->split_limit;
        if (tr->open)
            max = 1;
        while (j < n && j - i < max && !c[j].no_request && c[j].d->op == cl->d->op
               && trt_lease_left(tr, lease, &c[j], clock_mono_ms()))
            j++;
        i += submit(en, tr, cl, j - i);
        trt_sent(tr);
    }
    free(c);
}

void engine_dispatch(struct engine *en, struct trt *tr)
{
    int64_t now = clock_mono_ms();

    while (may_send(en, tr, now) && adapter_ready(en, tr)) {
        struct claim *c;
        size_t n, batch = adapter_batch_max(tr->a, OP_PUBLISH);
        if (tr->split_limit && tr->split_limit < batch)
            batch = tr->split_limit;
        if (!next_claims(en, tr, batch, now, &c, &n))
            return;
        send_claims(en, tr, c, n);
        now = clock_mono_ms();
    }
}

/* ------------------------------------------------------------------ */
/* answers */

/* A token request came back. */
static void auth_done(struct trt *tr, struct http_resp *resp, bool abandoned)
{
    tr->auth_in_flight = false;
    if (!abandoned) {
        adapter_auth_done(tr->a, resp, clock_wall_ms());
        if (resp->status == 200) {
            tr->renewals_unproven++;
            metrics_count_token_renewal(tr->t->name);
        }
    }
}

/* A revoked token is renewed and the call repeated at once, a batch too
 * large is split: neither is an attempt.  But when renewed tokens keep
 * being refused before any call gets through, or a single record is too
 * large, that is an ordinary failure.  true: c goes out again (waiting). */
static bool resend(struct trt *tr, size_t n, struct claim *c, struct outcome *o)
{
    if (o->kind == OUTCOME_REAUTH && tr->renewals_unproven >= REAUTH_MAX) {
        o->kind = OUTCOME_TRANSIENT;
        snprintf(o->message, sizeof o->message, "access token refused again right after renewal");
    } else if (o->kind == OUTCOME_SPLIT && n == 1) {
        o->kind = OUTCOME_PERMANENT;
        snprintf(o->message, sizeof o->message,
                 "HTTP 413: this record alone exceeds the platform's size limit");
    } else if (o->kind == OUTCOME_REAUTH || o->kind == OUTCOME_SPLIT) {
        if (o->kind == OUTCOME_SPLIT)
            tr->split_limit = n / 2 ? n / 2 : 1;
        trt_ready_push(tr, c);
        return true;
    }
    return false;
}

/* The outcome of one delivery of an answered request. */
static struct result *answer_one(struct engine *en, struct reqctx *ctx, struct claim *c,
                                 const struct outcome *o, const struct http_resp *resp)
{
    struct trt *tr = ctx->tr;
    struct result *r = engine_result_new(en, c);
    r->kind = result_of(o->kind);
    metrics_count_attempt(tr->t->name, (int)r->op, (int)r->kind);
    r->http_status = o->http_status;
    r->code = o->code[0] ? xstrdup(o->code) : NULL;
    r->message = o->message[0] ? xstrdup(o->message) : NULL;
    r->receipt = o->receipt[0] ? xstrdup(o->receipt) : NULL;
    r->latency_ms = (int)resp->latency_ms;
    r->body_sha256 = xstrdup(ctx->body_sha256);
    r->request_id = xstrdup(ctx->request_id);
    if (c->d->publicity_end && en->cfg->publicity.expire)
        r->expires_on = xstrdup(c->d->publicity_end);
    if (r->kind == RES_TRANSIENT) {
        r->delay_ms = backoff_delay_ms(&en->cfg->delivery.retry, c->d->attempt, engine_rand01(),
                                       o->retry_after_ms);
        if (r->code && strcmp(r->code, "A0402") == 0 && !tr->clock_warned) {
            /* The gateway refuses our timestamps: the host clock is off.
             * Said once per streak; each retry is an ordinary warning. */
            log_error("platform says our clock is off, check NTP", KV("target", tr->t->name),
                      KV("code", r->code), KV("reason", r->message), LOG_ACTION_NEEDED);
            tr->clock_warned = true;
        }
    } else if (r->kind == RES_OK && r->op != OP_WITHDRAW) {
        date_t today = date_cst(clock_wall_ms());
        if (today != en->today) {
            en->today = today;
            en->published_today = 0;
        }
        en->published_today++;
        tr->published++;
    }
    if (o->pause_target) {
        tr->broken = true;
        metrics_set_paused(tr->t->name, METRICS_PAUSE_CREDENTIALS, o->message);
    }
    return r;
}

static void handle_done(struct engine *en, struct reqctx *ctx, struct http_resp *resp)
{
    struct trt *tr = ctx->tr;
    bool any_ok = false, all_transient = true, abandoned = strcmp(resp->error, "abandoned") == 0;
    const char *why = NULL;

    tr->in_flight--;
    if (ctx->auth) {
        auth_done(tr, resp, abandoned);
        return;
    }
    tr->answered += (long)ctx->n;
    if (!abandoned)
        metrics_observe_request(tr->t->name, (double)resp->latency_ms / 1000.0);
    struct outcome *out = xcalloc(ctx->n, sizeof *out);
    struct delivery *ds[128];
    for (size_t i = 0; i < ctx->n; i++)
        ds[i] = ctx->claims[i].d;
    if (!abandoned)
        adapter_parse(tr->a, ds, ctx->n, resp, out);

    for (size_t i = 0; i < ctx->n; i++) {
        struct claim *c = &ctx->claims[i];
        if (abandoned) {
            engine_result_new(en, c)->kind = RES_RELEASE;
        } else if (resend(tr, ctx->n, c, &out[i])) {
            all_transient = false;
            continue;   /* the claim (and its delivery) waits in tr->ready */
        } else {
            if (out[i].http_status && out[i].http_status != 401)
                tr->renewals_unproven = 0;   /* the token was accepted */
            struct result *r = answer_one(en, ctx, c, &out[i], resp);
            if (r->kind == RES_TRANSIENT)
                why = r->message;
            else
                all_transient = false, any_ok = true;
        }
        delivery_free(c->d);
    }
    if (!abandoned) {
        if (any_ok) {
            trt_breaker_success(tr);
            tr->clock_warned = false;
        } else if (all_transient && ctx->n > 0)
            trt_breaker_failure(tr, &en->cfg->delivery.retry, engine_rand01(),
                                why ? why : "no answer");
        else
            tr->probing = false;
    }
    free(out);
}

void engine_collect(struct engine *en)
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

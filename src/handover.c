/* handover.c - see handover.h. */
#include "handover.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "buf.h"
#include "canon.h"
#include "clock.h"
#include "fields.h"
#include "lifecycle.h"
#include "log.h"
#include "mask.h"
#include "metrics.h"
#include "queue.h"

static const char *SQL_UPSERT_DECISIONS =
    "INSERT INTO epsync.decisions AS d (decision_id, kind, decided_on, src_state, confidential, "
    "  revision, fields, src_updated_at, exclude_reason, invalid_reasons) "
    "SELECT u.id, u.kind, u.decided_on, u.st, u.conf, u.rev, u.fields::jsonb, u.upd, u.excl, "
    "  CASE WHEN u.reasons IS NULL THEN NULL "
    "       ELSE ARRAY(SELECT jsonb_array_elements_text(u.reasons::jsonb)) END "
    "FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::boolean[], $6::text[], "
    "  $7::text[], $8::timestamptz[], $9::text[], $10::text[]) "
    "  AS u(id, kind, decided_on, st, conf, rev, fields, upd, excl, reasons) "
    "ON CONFLICT (decision_id) DO UPDATE SET kind = EXCLUDED.kind, "
    "  decided_on = EXCLUDED.decided_on, src_state = EXCLUDED.src_state, "
    "  confidential = EXCLUDED.confidential, revision = EXCLUDED.revision, "
    "  fields = EXCLUDED.fields, src_updated_at = EXCLUDED.src_updated_at, "
    "  exclude_reason = EXCLUDED.exclude_reason, invalid_reasons = EXCLUDED.invalid_reasons, "
    "  changed_at = now(), seen_at = now(), missing_since = NULL, recheck = false";

/* The same, giving back the stored field set of what may be handed over
 * (as a claim would read it: jsonb's text). */
static const char *SQL_UPSERT_DECISIONS_RETURNING_SUFFIX =
    " RETURNING decision_id, fields::text";

static const char *SQL_LEGACY =
    "SELECT decision_id, kind, to_char(decided_on, 'YYYY-MM-DD'), revision, fields::text "
    "FROM epsync.decisions WHERE legacy ORDER BY decision_id LIMIT 500 FOR UPDATE";

static const char *SQL_LEGACY_DONE =
    "UPDATE epsync.decisions d SET revision = u.rev, legacy = false "
    "FROM unnest($1::text[], $2::text[]) AS u(id, rev) WHERE d.decision_id = u.id";

/* Arrays for the decisions of one page. */
enum { D_ID, D_KIND, D_DECIDED, D_STATE, D_CONF, D_REV, D_FIELDS, D_UPD, D_EXCL, D_REASONS, D_N };

static struct lc_have find_have(PGresult *r, json_object *idx, const char *id, const char *target)
{
    int i = db_index_find(idx, id, target);
    if (i < 0)
        return (struct lc_have){ .exists = false, .state = LC_NEW };
    return (struct lc_have){
        .exists = true, .state = lc_state_parse(PQgetvalue(r, i, 2)),
        .published_revision = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3),
        .want_withdraw = PQgetvalue(r, i, 4)[0] == 't',
    };
}

/* One page being stored: what it writes, audits and hands over. */
struct store {
    const struct handover_ctx *s;
    struct row **chg;
    int n;
    struct buf d[D_N], known;
    struct queue_wanted wanted;
    PGresult *locked, *stored, *heads, *leased;
    json_object *locked_idx, *stored_idx;
    struct audit_event *ev;
    char **details;
    size_t nev;
    /* hand-over: room per target, the first work in its queue (in the
     * database or going there from this page), and what was handed */
    bool hand;
    size_t *room_n, *room_b;
    struct head { char due_on[11]; bool withdraw; bool any; } *head;
    struct plan { bool changed; struct lc_have h; struct lc_want w; struct buf reasons; } *plan;
    struct { int row; size_t t; } *handed;
    size_t nhanded;
    int64_t lease_start;          /* monotonic ms before the page's transaction */
};

static void store_init(struct store *st, const struct handover_ctx *s, struct row **chg, int n)
{
    size_t nt = s->cfg->ntargets;
    memset(st, 0, sizeof *st);
    st->s = s;
    st->chg = chg;
    st->n = n;
    st->room_n = xcalloc(nt + 1, sizeof *st->room_n);
    st->room_b = xcalloc(nt + 1, sizeof *st->room_b);
    st->head = xcalloc(nt + 1, sizeof *st->head);
    st->plan = xcalloc((size_t)n * nt + 1, sizeof *st->plan);
    st->handed = xcalloc((size_t)n * nt + 1, sizeof *st->handed);
    st->ev = xcalloc((size_t)n * (nt + 1), sizeof *st->ev);
    st->details = xcalloc((size_t)n * (nt + 1), sizeof *st->details);
}

static void store_free(struct store *st)
{
    db_index_free(st->locked_idx);
    db_index_free(st->stored_idx);
    PQclear(st->locked);
    PQclear(st->stored);
    PQclear(st->heads);
    PQclear(st->leased);
    free(st->room_n);
    free(st->room_b);
    free(st->head);
    for (size_t k = 0; k < (size_t)st->n * st->s->cfg->ntargets; k++)
        buf_free(&st->plan[k].reasons);
    free(st->plan);
    free(st->handed);
    for (size_t k = 0; k < st->nev; k++) {
        free(st->details[k]);
        free((char *)st->ev[k].message);
    }
    free(st->details);
    free(st->ev);
    for (int k = 0; k < D_N; k++)
        buf_free(&st->d[k]);
    buf_free(&st->known);
    queue_wanted_free(&st->wanted);
}

/* Will fresh deliveries be handed over?  Only when a decision is new and
 * some target has room. */
static void store_room(struct store *st)
{
    const struct handover_ctx *s = st->s;
    bool fresh = false, room = false;
    if (!s->handoff->take)
        return;
    for (int i = 0; i < st->n; i++)
        fresh |= !st->chg[i]->known;
    for (size_t t = 0; fresh && t < s->cfg->ntargets; t++) {
        s->handoff->room(s->handoff->ctx, s->cfg->targets[t].name, &st->room_n[t], &st->room_b[t]);
        room |= st->room_n[t] > 0;
    }
    st->hand = fresh && room;
}

static void store_decision_arrays(struct store *st)
{
    for (int i = 0; i < st->n; i++) {
        struct row *r = st->chg[i];
        const char *kind = r->kind >= 0 ? kind_name((enum kind)r->kind)
                                        : fields_text(r->fields, "kind");
        char dbuf[11];
        if (r->known)
            db_array_add(&st->known, r->id);
        db_array_add(&st->d[D_ID], r->id);
        db_array_add(&st->d[D_KIND], kind ? kind : "");
        if (r->decided_on != DATE_NONE)
            date_format(r->decided_on, dbuf);
        db_array_add(&st->d[D_DECIDED], r->decided_on != DATE_NONE ? dbuf : NULL);
        db_array_add(&st->d[D_STATE], r->state);
        db_array_add(&st->d[D_CONF], r->confidential ? "t" : "f");
        db_array_add(&st->d[D_REV], r->revision);
        db_array_add(&st->d[D_FIELDS], buf_str(&r->canon));
        db_array_add(&st->d[D_UPD], r->updated_at);
        db_array_add(&st->d[D_EXCL], r->exclude);
        db_array_add(&st->d[D_REASONS], json_object_array_length(r->reasons)
                         ? json_object_to_json_string_ext(r->reasons, JSON_C_TO_STRING_PLAIN)
                         : NULL);
    }
    for (int k = 0; k < D_N; k++)
        db_array_end(&st->d[k]);
    db_array_end(&st->known);
}

/* Claim order (queue.c SQL_CLAIM): the earliest deadline first, undated
 * last, a withdrawal before a publication of the same deadline.  true
 * when work (due_on, withdraw) comes before the head. */
static bool before_head(const struct head *hd, const char *due_on, bool withdraw)
{
    if (!hd->any)
        return true;
    if (!hd->due_on[0] || !due_on[0])
        return !hd->due_on[0] && (due_on[0] || withdraw || !hd->withdraw);
    int c = strcmp(due_on, hd->due_on);
    return c < 0 || (c == 0 && (withdraw || !hd->withdraw));
}

static void head_note(struct head *hd, const char *due_on, bool withdraw)
{
    if (hd->any && !before_head(hd, due_on, withdraw))
        return;
    snprintf(hd->due_on, sizeof hd->due_on, "%s", due_on ? due_on : "");
    hd->withdraw = withdraw;
    hd->any = true;
}

/* Inside the transaction: the decisions, the rows already there (locked),
 * and the heads of the queues when handing over. */
static int store_read(struct store *st, struct err *e)
{
    const struct handover_ctx *s = st->s;
    struct buf sql = BUF_INIT, targets = BUF_INIT;
    const char *dp[D_N];
    int rc;

    for (int k = 0; k < D_N; k++)
        dp[k] = st->d[k].data;
    buf_puts(&sql, SQL_UPSERT_DECISIONS);
    if (st->hand)
        buf_puts(&sql, SQL_UPSERT_DECISIONS_RETURNING_SUFFIX);
    rc = db_exec(s->state, "store decisions", sql.data, D_N, dp, st->hand ? &st->stored : NULL, e);
    buf_free(&sql);
    if (rc < 0)
        return rc;
    st->stored_idx = st->hand ? db_index_rows(st->stored, 0, -1) : NULL;
    if (st->known.len > 2   /* "{}" is nothing known */
        && (rc = queue_lock_known(s->state, st->known.data, &st->locked, e)) < 0)
        return rc;
    st->locked_idx = db_index_rows(st->locked, 0, 1);
    if (!st->hand)
        return 0;
    for (size_t t = 0; t < s->cfg->ntargets; t++)
        db_array_add(&targets, s->cfg->targets[t].name);
    db_array_end(&targets);
    rc = queue_heads(s->state, targets.data, &st->heads, e);
    buf_free(&targets);
    for (int i = 0; rc == 0 && i < PQntuples(st->heads) && (size_t)i < s->cfg->ntargets; i++)
        if (!PQgetisnull(st->heads, i, 2))
            head_note(&st->head[i], PQgetvalue(st->heads, i, 1),
                      PQgetvalue(st->heads, i, 2)[0] == 't');
    return rc;
}

/* Could this new decision's pending delivery be handed over (room and
 * order aside)? */
static bool store_handable(const struct store *st, int i, const struct plan *pl)
{
    const struct row *r = st->chg[i];
    return st->hand && !r->known && !pl->h.exists && pl->w.state == LC_PENDING;
}

/* It is handed over when the target has room and nothing in its queue, or
 * going there from this page, is due sooner (claim order). */
static bool store_give(struct store *st, int i, size_t t, const struct plan *pl)
{
    const struct row *r = st->chg[i];
    if (!store_handable(st, i, pl) || !before_head(&st->head[t], r->due_on, false))
        return false;
    int k = db_index_find(st->stored_idx, r->id, NULL);
    size_t flen = k >= 0 ? (size_t)PQgetlength(st->stored, k, 1) : 0;
    if (k < 0 || st->room_n[t] == 0 || flen > st->room_b[t])
        return false;
    st->room_n[t]--;
    st->room_b[t] -= flen;
    st->handed[st->nhanded].row = i;
    st->handed[st->nhanded++].t = t;
    return true;
}

/* What each (decision, target) of the page wants; the work this page puts
 * in the queue itself moves the head the hand-over must not overtake. */
static void store_want(struct store *st)
{
    const struct handover_ctx *s = st->s;
    size_t nt = s->cfg->ntargets;
    for (int i = 0; i < st->n; i++) {
        struct row *r = st->chg[i];
        for (size_t t = 0; t < nt; t++) {
            const struct target_cfg *tc = &s->cfg->targets[t];
            struct plan *pl = &st->plan[(size_t)i * nt + t];
            struct lc_source src;
            if (!tc->enabled)
                continue;
            pl->h = find_have(st->locked, st->locked_idx, r->id, tc->name);
            row_view(r, tc, &pl->reasons, &src);
            pl->changed = lifecycle_want(&src, &pl->h, &pl->w);
            if (pl->changed && !store_handable(st, i, pl)
                && (pl->w.state == LC_PENDING || pl->w.state == LC_WITHDRAW_PENDING))
                head_note(&st->head[t], r->due_on, pl->w.want_withdraw);
        }
    }
}

static void store_state_event(struct store *st, const struct row *r, const char *target,
                              const struct lc_have *h, const struct lc_want *w)
{
    struct buf sd = BUF_INIT;
    buf_printf(&sd, "%s->%s", lc_state_name(h->exists ? h->state : LC_NEW),
               lc_state_name(w->state));
    st->details[st->nev] = buf_steal(&sd);
    st->ev[st->nev] = (struct audit_event){
        .actor = "daemon", .decision_id = r->id, .target = target, .operation = "state",
        .latency_ms = -1, .detail = st->details[st->nev], .message = xstrdup(w->reason),
    };
    st->nev++;
}

/* One "detect" event per decision names every target's transition; a
 * transition with a reason (invalid, excluded, withdrawal, cancelled)
 * also gets a "state" event of its own that carries the reason. */
/* The first validation reason: the rule and the field, never a value. */
static const char *first_reason(const struct row *r)
{
    return json_object_get_string(json_object_array_get_idx(r->reasons, 0));
}

static void store_plan(struct store *st)
{
    const struct handover_ctx *s = st->s;
    size_t nt = s->cfg->ntargets;
    store_want(st);
    for (int i = 0; i < st->n; i++) {
        struct row *r = st->chg[i];
        struct buf det = BUF_INIT;
        size_t detect_ev = st->nev++;
        buf_printf(&det, "state=%s revision=%.12s", r->state, r->revision);
        for (size_t t = 0; t < nt; t++) {
            const char *target = s->cfg->targets[t].name;
            const struct plan *pl = &st->plan[(size_t)i * nt + t];
            if (!pl->changed)
                continue;
            bool give = store_give(st, i, t, pl);
            queue_wanted_add(&st->wanted, r->id, target, &pl->w, r->revision, r->due_on,
                             give ? s->handoff->owner : NULL);
            buf_printf(&det, " %s:%s->%s", target,
                       lc_state_name(pl->h.exists ? pl->h.state : LC_NEW),
                       lc_state_name(pl->w.state));
            if (pl->w.reason)
                store_state_event(st, r, target, &pl->h, &pl->w);
            if (pl->w.state == LC_INVALID)
                log_error("decision invalid", KV("decision", r->id), KV("target", target),
                          KV("reason", first_reason(r)),
                          KVI("reasons", json_object_array_length(r->reasons)), LOG_ACTION_NEEDED);
            else if (pl->w.state == LC_WITHDRAW_PENDING)
                log_info("withdrawal queued", KV("decision", r->id), KV("target", target),
                         KV("reason", pl->w.reason));
        }
        st->details[detect_ev] = buf_steal(&det);
        st->ev[detect_ev] = (struct audit_event){
            .actor = "daemon", .decision_id = r->id, .operation = "detect",
            .latency_ms = -1, .detail = st->details[detect_ev],
        };
    }
}

/* After the commit: give the sender what was stored leased to it. */
static void store_hand_over(struct store *st)
{
    const struct handover_ctx *s = st->s;
    json_object *idx = st->leased ? db_index_rows(st->leased, 0, 1) : NULL;
    struct handed_work *w = xcalloc(st->nhanded + 1, sizeof *w);
    size_t n = 0;
    for (size_t k = 0; k < st->nhanded; k++) {
        const struct row *r = st->chg[st->handed[k].row];
        const char *target = s->cfg->targets[st->handed[k].t].name;
        int row = db_index_find(st->stored_idx, r->id, NULL);
        int lr = db_index_find(idx, r->id, target);
        if (row < 0 || lr < 0 || PQgetisnull(st->leased, lr, 2))
            continue;
        w[n++] = (struct handed_work){
            .target = target, .decision_id = r->id, .kind = r->kind, .revision = r->revision,
            .fields = PQgetvalue(st->stored, row, 1), .due_on = r->due_on,
            .lease_token = atoll(PQgetvalue(st->leased, lr, 2)),
            .lease_until = st->lease_start + s->handoff->lease_ms,
        };
    }
    /* All at once: the sender never sees part of a page, so it never takes
     * a later deadline before an earlier one of the same page. */
    if (n)
        s->handoff->take(s->handoff->ctx, w, n);
    free(w);
    db_index_free(idx);
}

int handover_store(const struct handover_ctx *s, struct row **chg, int n, struct err *e)
{
    struct store st;
    int rc;

    store_init(&st, s, chg, n);
    store_room(&st);
    store_decision_arrays(&st);
    st.lease_start = clock_mono_ms();
    /* Lazy commit: a detection lost in a server crash is simply detected
     * again from the source; nothing has been sent on its account yet.
     * Unless deliveries are handed over: they are sent at once, so the
     * page is committed durably first. */
    if ((rc = st.hand ? db_begin(s->state, e) : db_begin_lazy(s->state, e)) < 0)
        goto out;
    if ((rc = store_read(&st, e)) < 0)
        goto fail;
    store_plan(&st);
    bool any = st.wanted.n > 0;
    if ((rc = queue_store_wanted(s->state, &st.wanted, s->handoff->lease_ms,
                                 st.nhanded ? &st.leased : NULL, e)) < 0
        || (rc = audit_append(s->state, st.ev, st.nev, e)) < 0)
        goto fail;
    if (any && (rc = db_exec(s->state, "wake deliverers", "SELECT pg_notify('epsync_wake', '')",
                             0, NULL, NULL, e)) < 0)
        goto fail;
    if ((rc = db_commit(s->state, e)) == 0) {
        metrics_detect_stored(n > 0 ? chg[n - 1]->updated_at : NULL);
        store_hand_over(&st);
    }
    goto out;
fail:
    db_rollback(s->state);
out:
    store_free(&st);
    return rc;
}

/* Decisions stored before schema version 3 carry a revision of the
 * unmasked field set.  Their revision is recomputed from the stored
 * (masked) fields — the same set the revision of a row read now covers —
 * and rows that wanted or held the old one say the new one: nothing is
 * sent for it, the audit says "revision rebased".  Their deadline is set
 * too.  Returns how many were rebased (0: none left). */
int handover_rebase(const struct handover_ctx *s, struct err *e)
{
    PGresult *r = NULL;
    struct buf ids = BUF_INIT, olds = BUF_INIT, news = BUF_INIT, dues = BUF_INIT;
    struct audit_event *ev = NULL;
    char (*det)[96] = NULL;
    int n = 0, rc;

    if ((rc = db_begin(s->state, e)) < 0)
        return rc;
    if ((rc = db_exec(s->state, "read decisions to rebase", SQL_LEGACY, 0, NULL, &r, e)) < 0)
        goto fail;
    n = PQntuples(r);
    ev = xcalloc((size_t)n + 1, sizeof *ev);
    det = xcalloc((size_t)n + 1, sizeof *det);
    for (int i = 0; i < n; i++) {
        json_object *f = json_tokener_parse(PQgetvalue(r, i, 4));
        const char *kind = PQgetvalue(r, i, 1);
        char rev[65], due[11];
        date_t decided;
        /* Masked again as a row read now is (the allow-list, ID numbers of
         * unknown party types), so that the revision matches the next read.
         * Where that hides an ID number that went out unmasked, the old
         * revision stays: the next read then sends the masked version as
         * an update, taking the number down from the platforms. */
        bool id_hidden = mask_fields_hides_id(f, s->cfg->publish_allow);
        canon_revision(f, rev);
        json_object_put(f);
        if (id_hidden)
            snprintf(rev, sizeof rev, "%s", PQgetvalue(r, i, 3));
        if (PQgetisnull(r, i, 2) || date_parse(PQgetvalue(r, i, 2), &decided) < 0)
            decided = DATE_NONE;
        row_due_on(s->cal, s->cfg, kind_parse(kind), decided, due);
        db_array_add(&ids, PQgetvalue(r, i, 0));
        db_array_add(&olds, PQgetvalue(r, i, 3));
        db_array_add(&news, rev);
        db_array_add(&dues, due[0] ? due : NULL);
        snprintf(det[i], sizeof det[i], id_hidden
                 ? "revision kept %.12s (masking now hides its ID number: an update follows)%.0s"
                 : "revision rebased %.12s->%.12s (masked field set)", PQgetvalue(r, i, 3), rev);
        ev[i] = (struct audit_event){ .actor = "daemon", .decision_id = PQgetvalue(r, i, 0),
                                      .operation = "rebase", .latency_ms = -1, .detail = det[i] };
    }
    db_array_end(&ids);
    db_array_end(&olds);
    db_array_end(&news);
    db_array_end(&dues);
    const char *p[2] = { ids.data, news.data };
    if (n > 0 && ((rc = queue_rebase(s->state, ids.data, olds.data, news.data, dues.data, e)) < 0
                  || (rc = db_exec(s->state, "store rebased revisions", SQL_LEGACY_DONE, 2, p,
                                   NULL, e)) < 0
                  || (rc = audit_append(s->state, ev, (size_t)n, e)) < 0))
        goto fail;
    if ((rc = db_commit(s->state, e)) < 0)
        goto out;
    if (n > 0)
        log_notice("revisions rebased on the masked field set", KVI("decisions", n));
    rc = n;
    goto out;
fail:
    db_rollback(s->state);
out:
    PQclear(r);
    free(ev);
    free(det);
    buf_free(&ids);
    buf_free(&olds);
    buf_free(&news);
    buf_free(&dues);
    return rc;
}

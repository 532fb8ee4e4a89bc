/* state.c - see state.h. */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "buf.h"
#include "log.h"

static const char *SQL_CLAIM =
    "WITH c AS ("
    "  SELECT decision_id, target FROM epsync.deliveries "
    "  WHERE target = $1 AND state IN ('pending', 'retry', 'withdraw_pending') "
    "    AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now()) "
    "  ORDER BY next_attempt_at LIMIT $2::integer FOR UPDATE SKIP LOCKED) "
    "UPDATE epsync.deliveries x SET lease_owner = $3, "
    "  lease_until = now() + $4::bigint * interval '1 millisecond' "
    "FROM c, epsync.decisions d "
    "WHERE x.decision_id = c.decision_id AND x.target = c.target "
    "  AND d.decision_id = x.decision_id "
    "RETURNING x.decision_id, d.kind, x.state, x.want_revision, x.want_withdraw, "
    "  x.published_revision, x.receipt, x.withdraw_type, x.withdraw_reason, x.attempts, "
    "  d.fields::text, "
    "  coalesce(to_char(x.first_published_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'), '')";

/* Looked up key by key (a nested loop over the primary key) whatever the
 * table's statistics say: during a bulk load they lag far behind, and a
 * sequential scan per flush then costs more than the flush.  Locks are
 * taken in byte order of the key, the same order detection uses. */
static const char *SQL_LOCK =
    "SELECT x.decision_id, x.target, x.state, x.want_revision, x.want_withdraw, "
    "  x.published_revision, x.receipt, x.attempts "
    "FROM (SELECT id, target FROM unnest($1::text[], $2::text[]) AS u(id, target) "
    "      ORDER BY id COLLATE \"C\", target COLLATE \"C\") AS u "
    "CROSS JOIN LATERAL (SELECT * FROM epsync.deliveries y "
    "  WHERE y.decision_id = u.id AND y.target = u.target FOR UPDATE) AS x";

enum {
    C_ID, C_TARGET, C_STATE, C_PUB, C_RECEIPT, C_ATTEMPTS, C_COUNTS, C_SETPUB, C_SETWD,
    C_CLEARERR, C_DELAY, C_CODE, C_MSG, C_HTTP, C_EXPIRES, C_KEEPEXP, C_REASON, C_N
};

static const char *SQL_RECORD =
    "UPDATE epsync.deliveries x SET "
    "  state = u.state, published_revision = u.pub, receipt = u.receipt, "
    "  attempts = u.attempts, "
    "  total_attempts = x.total_attempts + CASE WHEN u.counts THEN 1 ELSE 0 END, "
    "  first_attempt_at = CASE WHEN u.counts THEN coalesce(x.first_attempt_at, now()) "
    "                     ELSE x.first_attempt_at END, "
    "  first_published_at = CASE WHEN u.setpub THEN coalesce(x.first_published_at, now()) "
    "                       ELSE x.first_published_at END, "
    "  published_at = CASE WHEN u.setpub THEN now() ELSE x.published_at END, "
    "  withdrawn_at = CASE WHEN u.setwd THEN now() ELSE x.withdrawn_at END, "
    "  last_code = CASE WHEN u.clearerr THEN NULL WHEN u.code IS NULL THEN x.last_code ELSE u.code END, "
    "  last_error = CASE WHEN u.clearerr THEN NULL WHEN u.msg IS NULL THEN x.last_error ELSE u.msg END, "
    "  last_http = CASE WHEN u.clearerr THEN NULL WHEN u.http IS NULL THEN x.last_http ELSE u.http END, "
    "  reason = CASE WHEN u.reason IS NOT NULL THEN u.reason WHEN u.clearerr THEN NULL ELSE x.reason END, "
    "  expires_on = CASE WHEN u.keepexp THEN x.expires_on ELSE u.expires END, "
    "  next_attempt_at = now() + u.delay * interval '1 millisecond', "
    "  lease_owner = NULL, lease_until = NULL, updated_at = now() "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], "
    "  $7::boolean[], $8::boolean[], $9::boolean[], $10::boolean[], $11::bigint[], $12::text[], "
    "  $13::text[], $14::integer[], $15::date[], $16::boolean[], $17::text[]) "
    "  AS u(id, target, state, pub, receipt, attempts, counts, setpub, setwd, clearerr, delay, "
    "       code, msg, http, expires, keepexp, reason) "
    "WHERE x.decision_id = u.id AND x.target = u.target";

static const char *SQL_RELEASE =
    "UPDATE epsync.deliveries SET lease_owner = NULL, lease_until = NULL "
    "WHERE lease_owner = $1";

static const char *SQL_EXPIRE =
    "UPDATE epsync.deliveries SET want_withdraw = true, withdraw_type = 'EXPIRED', "
    "  withdraw_reason = 'publicity period ended', state = 'withdraw_pending', attempts = 0, "
    "  next_attempt_at = now(), updated_at = now() "
    "WHERE state = 'published' AND expires_on < $1::date "
    "RETURNING decision_id, target, to_char(expires_on, 'YYYY-MM-DD')";

static const char *SQL_NEXT_DUE =
    "SELECT (extract(epoch FROM (min(GREATEST(next_attempt_at, "
    "    coalesce(lease_until, next_attempt_at))) - now())) * 1000)::bigint "
    "FROM epsync.deliveries WHERE state IN ('pending', 'retry', 'withdraw_pending')";

/* ------------------------------------------------------------------ */

static char *dup_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

int state_claim(db *d, const char *owner, const char *target, int max, int64_t lease_ms,
                struct claim **out, size_t *n, struct err *e)
{
    char maxs[16], lease[24];
    const char *p[4] = { target, maxs, owner, lease };
    PGresult *r = NULL;
    int rc;

    *out = NULL;
    *n = 0;
    snprintf(maxs, sizeof maxs, "%d", max);
    snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
    /* A claim need not wait for its WAL flush: if the server loses it,
     * the rows are simply claimable again, and a second request carries
     * the same idempotency key.  Outcomes (state_record) stay durable. */
    if ((rc = db_exec_lazy(d, "claim deliveries", SQL_CLAIM, 4, p, &r, e)) < 0)
        return rc;
    int rows = PQntuples(r);
    struct claim *c = xcalloc((size_t)rows + 1, sizeof *c);
    for (int i = 0; i < rows; i++) {
        struct delivery *dv = xcalloc(1, sizeof *dv);
        const char *kind = PQgetvalue(r, i, 1);
        bool want_withdraw = PQgetvalue(r, i, 4)[0] == 't';
        bool published = !PQgetisnull(r, i, 5);

        dv->decision_id = xstrdup(PQgetvalue(r, i, 0));
        dv->target = xstrdup(target);
        dv->kind = kind_parse(kind) >= 0 ? (enum kind)kind_parse(kind) : KIND_OTHER;
        dv->revision = xstrdup(PQgetvalue(r, i, 3));
        dv->receipt = dup_or_null(r, i, 6);
        dv->withdraw_type = dup_or_null(r, i, 7);
        dv->withdraw_reason = dup_or_null(r, i, 8);
        dv->attempt = atoi(PQgetvalue(r, i, 9)) + 1;
        dv->fields_text = xstrdup(PQgetvalue(r, i, 10));   /* parsed when sent */
        snprintf(c[i].old_state, sizeof c[i].old_state, "%s", PQgetvalue(r, i, 2));
        snprintf(c[i].first_published, sizeof c[i].first_published, "%s", PQgetvalue(r, i, 11));

        /* What to do follows from wanted vs held: the operations on one
         * pair come out in order (publish, update, withdraw). */
        if (want_withdraw) {
            dv->op = OP_WITHDRAW;
            if (!published || !dv->receipt) {
                c[i].no_request = true;
                c[i].settle = "cancel";
            }
        } else if (!published) {
            dv->op = OP_PUBLISH;
        } else if (strcmp(PQgetvalue(r, i, 5), dv->revision) != 0) {
            dv->op = dv->receipt ? OP_UPDATE : OP_PUBLISH;
        } else {
            dv->op = OP_UPDATE;
            c[i].no_request = true;
            c[i].settle = "noop";
        }
        c[i].d = dv;
    }
    PQclear(r);
    *out = c;
    *n = (size_t)rows;
    return 0;
}

void state_claims_free(struct claim *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++)
        delivery_free(c[i].d);
    free(c);
}

void result_clear(struct result *r)
{
    free(r->decision_id);
    free(r->target);
    free(r->revision);
    free(r->receipt);
    free(r->code);
    free(r->message);
    free(r->body_sha256);
    free(r->request_id);
    free(r->expires_on);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ */

void state_next(const struct row_now *cur, const struct result *res, struct row_next *out)
{
    bool still_wanted = !cur->want_withdraw && res->revision
                        && strcmp(cur->want_revision, res->revision) == 0;

    memset(out, 0, sizeof *out);
    out->published_revision = cur->published_revision;
    out->receipt = res->receipt && *res->receipt ? res->receipt : cur->receipt;
    out->attempts = 0;
    out->keep_expiry = true;
    out->counts_attempt = true;

    switch (res->kind) {
    case RES_OK:
        out->clear_error = true;
        if (res->op == OP_WITHDRAW) {
            out->published_revision = NULL;
            out->set_withdrawn = true;
            out->keep_expiry = false;
            out->state = cur->want_withdraw ? "withdrawn" : "pending";
        } else {
            out->published_revision = res->revision;
            out->set_published = true;
            out->keep_expiry = false;
            out->state = cur->want_withdraw ? "withdraw_pending"
                         : still_wanted     ? "published" : "pending";
        }
        break;
    case RES_ADOPT:
        /* The platform holds this decision under another key: take its
         * receipt, then send our revision as an update. */
        out->clear_error = true;
        out->published_revision = "";
        out->set_published = true;
        out->state = cur->want_withdraw ? "withdraw_pending" : "pending";
        break;
    case RES_GONE:
        out->clear_error = true;
        out->published_revision = NULL;
        out->set_withdrawn = true;
        out->keep_expiry = false;
        out->state = cur->want_withdraw ? "withdrawn" : "pending";
        break;
    case RES_NOT_FOUND:
        out->published_revision = NULL;
        out->state = cur->want_withdraw ? "cancelled" : "pending";
        break;
    case RES_TRANSIENT:
        out->attempts = cur->attempts + 1;
        if (cur->want_withdraw && !cur->published_revision)
            out->state = "cancelled";
        else if (!strcmp(cur->state, "pending") || !strcmp(cur->state, "retry"))
            out->state = cur->want_withdraw ? "withdraw_pending" : "retry";
        else
            out->state = cur->state;
        break;
    case RES_PERMANENT:
        out->attempts = cur->attempts + 1;
        if (cur->want_withdraw && !cur->published_revision)
            out->state = "cancelled";
        else if (res->op != OP_WITHDRAW && !still_wanted)
            out->state = cur->want_withdraw ? "withdraw_pending" : "pending";
        else
            out->state = "rejected";
        break;
    case RES_CANCEL:
        out->counts_attempt = false;
        out->clear_error = true;
        out->published_revision = NULL;
        out->state = cur->want_withdraw ? "cancelled" : "pending";
        break;
    case RES_NOOP:
        out->counts_attempt = false;
        out->clear_error = true;
        out->state = cur->want_withdraw ? "withdraw_pending"
                     : (cur->published_revision
                        && !strcmp(cur->published_revision, cur->want_revision)) ? "published"
                                                                                  : "pending";
        break;
    case RES_RELEASE:
        out->counts_attempt = false;
        out->attempts = cur->attempts;
        out->state = cur->state;
        break;
    }
}

static const char *result_word(enum result_kind k)
{
    static const char *const words[] = {
        [RES_OK] = "ok", [RES_TRANSIENT] = "transient", [RES_PERMANENT] = "permanent",
        [RES_ADOPT] = "adopt", [RES_GONE] = "gone", [RES_NOT_FOUND] = "not_found",
        [RES_CANCEL] = "cancel", [RES_NOOP] = "noop", [RES_RELEASE] = "release",
    };
    return words[k];
}

int state_record(db *d, const char *owner, struct result *res, size_t n, struct err *e)
{
    struct buf ids = BUF_INIT, tgts = BUF_INIT, col[C_N];
    struct audit_event *ev = xcalloc(n + 1, sizeof *ev);
    char **det = xcalloc(n + 1, sizeof *det);
    PGresult *locked = NULL;
    json_object *locked_idx = NULL;
    size_t nev = 0;
    int rc;

    (void)owner;
    memset(col, 0, sizeof col);
    for (size_t i = 0; i < n; i++) {
        db_array_add(&ids, res[i].decision_id);
        db_array_add(&tgts, res[i].target);
    }
    db_array_end(&ids);
    db_array_end(&tgts);
    if ((rc = db_begin(d, e)) < 0)
        goto out;
    const char *lp[2] = { ids.data, tgts.data };
    if ((rc = db_exec(d, "lock deliveries to record", SQL_LOCK, 2, lp, &locked, e)) < 0)
        goto fail;
    locked_idx = db_index_rows(locked, 0, 1);

    for (size_t i = 0; i < n; i++) {
        struct result *x = &res[i];
        int k = db_index_find(locked_idx, x->decision_id, x->target);
        if (k < 0)
            continue;   /* the row is gone (cannot happen: deliveries are never deleted) */
        struct row_now cur = {
            .state = PQgetvalue(locked, k, 2), .want_revision = PQgetvalue(locked, k, 3),
            .want_withdraw = PQgetvalue(locked, k, 4)[0] == 't',
            .published_revision = PQgetisnull(locked, k, 5) ? NULL : PQgetvalue(locked, k, 5),
            .receipt = PQgetisnull(locked, k, 6) ? NULL : PQgetvalue(locked, k, 6),
            .attempts = atoi(PQgetvalue(locked, k, 7)),
        };
        struct row_next nx;
        char attempts[16], delay[24], http[16];
        state_next(&cur, x, &nx);
        snprintf(x->new_state, sizeof x->new_state, "%s", nx.state);
        snprintf(attempts, sizeof attempts, "%d", nx.attempts);
        snprintf(delay, sizeof delay, "%lld",
                 (long long)(x->kind == RES_TRANSIENT ? x->delay_ms : 0));
        snprintf(http, sizeof http, "%d", x->http_status);
        db_array_add(&col[C_ID], x->decision_id);
        db_array_add(&col[C_TARGET], x->target);
        db_array_add(&col[C_STATE], nx.state);
        db_array_add(&col[C_PUB], nx.published_revision);
        db_array_add(&col[C_RECEIPT], nx.receipt);
        db_array_add(&col[C_ATTEMPTS], attempts);
        db_array_add(&col[C_COUNTS], nx.counts_attempt ? "t" : "f");
        db_array_add(&col[C_SETPUB], nx.set_published ? "t" : "f");
        db_array_add(&col[C_SETWD], nx.set_withdrawn ? "t" : "f");
        db_array_add(&col[C_CLEARERR], nx.clear_error ? "t" : "f");
        db_array_add(&col[C_DELAY], delay);
        db_array_add(&col[C_CODE], x->code && *x->code ? x->code : NULL);
        db_array_add(&col[C_MSG], x->message && *x->message ? x->message : NULL);
        db_array_add(&col[C_HTTP], x->http_status ? http : NULL);
        db_array_add(&col[C_EXPIRES], nx.keep_expiry ? NULL : x->expires_on);
        db_array_add(&col[C_KEEPEXP], nx.keep_expiry ? "t" : "f");
        db_array_add(&col[C_REASON], !strcmp(nx.state, "rejected") ? x->message : NULL);

        if (x->kind == RES_RELEASE)
            continue;
        struct buf b = BUF_INIT;
        buf_printf(&b, "op=%s result=%s %s->%s", op_name(x->op), result_word(x->kind),
                   cur.state, nx.state);
        if (x->request_id)
            buf_printf(&b, " request_id=%s", x->request_id);
        det[nev] = buf_steal(&b);
        ev[nev] = (struct audit_event){
            .actor = "daemon", .decision_id = x->decision_id, .target = x->target,
            .operation = nx.counts_attempt ? "attempt" : "settle",
            .attempt = nx.counts_attempt ? x->attempt : 0, .http_status = x->http_status,
            .code = x->code, .message = x->message,
            .latency_ms = nx.counts_attempt ? x->latency_ms : -1,
            .receipt = nx.receipt, .body_sha256 = x->body_sha256, .detail = det[nev],
        };
        nev++;
    }
    if (col[C_ID].len) {
        const char *p[C_N];
        for (int c = 0; c < C_N; c++) {
            db_array_end(&col[c]);
            p[c] = col[c].data;
        }
        if ((rc = db_exec(d, "record outcomes", SQL_RECORD, C_N, p, NULL, e)) < 0)
            goto fail;
    }
    if ((rc = audit_append(d, ev, nev, e)) < 0)
        goto fail;
    rc = db_commit(d, e);
    goto out;
fail:
    db_rollback(d);
out:
    db_index_free(locked_idx);
    PQclear(locked);
    for (size_t i = 0; i < nev; i++)
        free(det[i]);
    free(det);
    free(ev);
    buf_free(&ids);
    buf_free(&tgts);
    for (int c = 0; c < C_N; c++)
        buf_free(&col[c]);
    return rc;
}

int state_release(db *d, const char *owner, struct err *e)
{
    const char *p[1] = { owner };
    return db_exec(d, "release leases", SQL_RELEASE, 1, p, NULL, e);
}

int state_expire(db *d, const char *today, int *count, struct err *e)
{
    const char *p[1] = { today };
    PGresult *r = NULL;
    int rc;

    *count = 0;
    if ((rc = db_begin(d, e)) < 0)
        return rc;
    if ((rc = db_exec(d, "queue expired withdrawals", SQL_EXPIRE, 1, p, &r, e)) < 0)
        goto fail;
    int rows = PQntuples(r);
    struct audit_event *ev = xcalloc((size_t)rows + 1, sizeof *ev);
    for (int i = 0; i < rows; i++) {
        ev[i] = (struct audit_event){ .actor = "daemon", .decision_id = PQgetvalue(r, i, 0),
                                      .target = PQgetvalue(r, i, 1), .operation = "state",
                                      .latency_ms = -1, .detail = "published->withdraw_pending",
                                      .message = "publicity period ended" };
        log_info("publicity period ended, withdrawal queued", KV("decision", PQgetvalue(r, i, 0)),
                 KV("target", PQgetvalue(r, i, 1)), KV("expired_on", PQgetvalue(r, i, 2)));
    }
    rc = audit_append(d, ev, (size_t)rows, e);
    free(ev);
    PQclear(r);
    r = NULL;
    if (rc < 0)
        goto fail;
    *count = rows;
    return db_commit(d, e);
fail:
    PQclear(r);
    db_rollback(d);
    return rc;
}

int state_next_due_ms(db *d, int64_t *ms, struct err *e)
{
    PGresult *r = NULL;
    int rc = db_exec(d, "find the next due delivery", SQL_NEXT_DUE, 0, NULL, &r, e);
    if (rc < 0)
        return rc;
    if (PQgetisnull(r, 0, 0))
        *ms = -1;
    else {
        long long v = atoll(PQgetvalue(r, 0, 0));
        *ms = v < 0 ? 0 : v;
    }
    PQclear(r);
    return 0;
}

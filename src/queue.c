/* queue.c - see state.h. */
#include "queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "buf.h"
#include "clock.h"
#include "log.h"

/* Deadline first: the earliest due_on, withdrawals before publications of
 * the same deadline, then the longest waiting.  Rows not yet due are
 * walked past (the index is in deadline order); a retry gets its turn as
 * soon as it is due, in deadline order with the rest.  Every claim gives
 * the row a new lease token: only its holder records an outcome. */
static const char *SQL_CLAIM =
    "WITH c AS ("
    "  SELECT decision_id, target FROM epsync.deliveries "
    "  WHERE target = $1 AND state IN " LC_ACTIVE_SQL " "
    "    AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now()) "
    "  ORDER BY due_on NULLS LAST, want_withdraw DESC, next_attempt_at "
    "  LIMIT $2::integer FOR UPDATE SKIP LOCKED) "
    "UPDATE epsync.deliveries x SET lease_owner = $3, "
    "  lease_until = now() + $4::bigint * interval '1 millisecond', "
    "  lease_token = nextval('epsync.lease_tokens') "
    "FROM c, epsync.decisions d "
    "WHERE x.decision_id = c.decision_id AND x.target = c.target "
    "  AND d.decision_id = x.decision_id "
    "RETURNING x.decision_id, d.kind, x.state, x.want_revision, x.want_withdraw, "
    "  x.published_revision, x.receipt, x.withdraw_type, x.withdraw_reason, x.attempts, "
    "  d.fields::text, "
    "  coalesce(to_char(x.first_published_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'), ''), "
    "  x.lease_token, coalesce(to_char(x.due_on, 'YYYY-MM-DD'), '')";

/* Looked up key by key (a nested loop over the primary key) whatever the
 * table's statistics say: during a bulk load they lag far behind, and a
 * sequential scan per flush then costs more than the flush.  Locks are
 * taken in byte order of the key, the same order detection uses. */
static const char *SQL_LOCK =
    "SELECT x.decision_id, x.target, x.state, x.want_revision, x.want_withdraw, "
    "  x.published_revision, x.receipt, x.attempts, x.lease_owner, x.lease_token "
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
    "  lease_owner = NULL, lease_until = NULL, lease_token = NULL, updated_at = now() "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], "
    "  $7::boolean[], $8::boolean[], $9::boolean[], $10::boolean[], $11::bigint[], $12::text[], "
    "  $13::text[], $14::integer[], $15::date[], $16::boolean[], $17::text[]) "
    "  AS u(id, target, state, pub, receipt, attempts, counts, setpub, setwd, clearerr, delay, "
    "       code, msg, http, expires, keepexp, reason) "
    "WHERE x.decision_id = u.id AND x.target = u.target";

static const char *SQL_RELEASE =
    "UPDATE epsync.deliveries SET lease_owner = NULL, lease_until = NULL, lease_token = NULL "
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
    "FROM epsync.deliveries WHERE state IN " LC_ACTIVE_SQL;

/* An operator's requeue or withdrawal (m: the rows as they were) keeps the
 * lease of a row whose attempt may be in flight (its holder still records
 * the outcome; nobody else sends it meanwhile) and clears a stale one on a
 * settled row. */
#define SQL_KEEP_LIVE_LEASE \
    "    lease_owner = CASE WHEN m.state IN " LC_ACTIVE_SQL \
    "                       THEN dl.lease_owner END," \
    "    lease_until = CASE WHEN m.state IN " LC_ACTIVE_SQL \
    "                       THEN dl.lease_until END"

/* `epsync retry` (lifecycle_requeue in SQL): matching deliveries go back
 * to be tried now (leases: SQL_KEEP_LIVE_LEASE).  An invalid decision is
 * also flagged so the detector reads its row from the source again: the
 * stored fields are what failed validation. */
static const char *SQL_RETRY =
    "WITH m AS ("
    "  SELECT decision_id, target, state FROM epsync.deliveries"
    "  WHERE ($1::text IS NULL OR decision_id = $1::text)"
    "    AND ($2::text IS NULL OR target = $2::text) AND state = ANY($3::text[])"
    "  FOR UPDATE),"
    " u AS ("
    "  UPDATE epsync.deliveries dl SET"
    "    state = CASE WHEN dl.want_withdraw THEN 'withdraw_pending' ELSE 'pending' END,"
    "    attempts = 0, next_attempt_at = now(), updated_at = now(),"
    SQL_KEEP_LIVE_LEASE
    "  FROM m WHERE dl.decision_id = m.decision_id AND dl.target = m.target"
    "  RETURNING dl.decision_id, dl.target, m.state AS old_state, dl.state AS new_state),"
    " r AS ("
    "  UPDATE epsync.decisions d SET recheck = true"
    "  WHERE d.decision_id IN (SELECT decision_id FROM u WHERE old_state = 'invalid')"
    "  RETURNING 1)"
    "SELECT decision_id, target, old_state, new_state FROM u ORDER BY decision_id, target";

/* `epsync withdraw` (lifecycle_withdraw in SQL).  Published somewhere
 * (published_revision set): take it down there.  Not
 * published yet: cancel, so it never goes out.  Rows already withdrawn,
 * being withdrawn, cancelled or excluded have nothing to do. */
static const char *SQL_WITHDRAW =
    "WITH m AS ("
    "  SELECT decision_id, target, state, published_revision FROM epsync.deliveries"
    "  WHERE decision_id = $1"
    "    AND state NOT IN ('withdrawn', 'withdraw_pending', 'cancelled', 'excluded')"
    "  FOR UPDATE),"
    " u AS ("
    "  UPDATE epsync.deliveries dl SET"
    "    want_withdraw = true, withdraw_type = 'OPERATOR', withdraw_reason = $2,"
    "    state = CASE WHEN m.published_revision IS NOT NULL"
    "                 THEN 'withdraw_pending' ELSE 'cancelled' END,"
    "    attempts = 0, next_attempt_at = now(), updated_at = now(),"
    SQL_KEEP_LIVE_LEASE
    "  FROM m WHERE dl.decision_id = m.decision_id AND dl.target = m.target"
    "  RETURNING dl.decision_id, dl.target, m.state AS old_state, dl.state AS new_state)"
    "SELECT decision_id, target, old_state, new_state FROM u ORDER BY target";

static const char *SQL_BACKLOG =
    "SELECT count(*) FROM epsync.deliveries "
    "WHERE state IN " LC_ACTIVE_SQL;

/* Only decisions already known have deliveries to lock; looked up key by
 * key (see SQL_LOCK) in byte order of the key. */
static const char *SQL_LOCK_KNOWN =
    "SELECT x.decision_id, x.target, x.state, x.published_revision, x.want_withdraw "
    "FROM (SELECT id FROM unnest($1::text[]) AS u(id) ORDER BY id COLLATE \"C\") AS u "
    "CROSS JOIN LATERAL (SELECT * FROM epsync.deliveries y WHERE y.decision_id = u.id "
    "  ORDER BY y.target COLLATE \"C\" FOR UPDATE) AS x";

/* The head of each target's queue in claim order (SQL_CLAIM). */
static const char *SQL_HEADS =
    "SELECT t.name, to_char(h.due_on, 'YYYY-MM-DD'), h.want_withdraw "
    "FROM unnest($1::text[]) WITH ORDINALITY AS t(name, n) "
    "LEFT JOIN LATERAL (SELECT x.due_on, x.want_withdraw FROM epsync.deliveries x "
    "  WHERE x.target = t.name AND x.state IN " LC_ACTIVE_SQL " "
    "    AND x.next_attempt_at <= now() AND (x.lease_until IS NULL OR x.lease_until < now()) "
    "  ORDER BY x.due_on NULLS LAST, x.want_withdraw DESC, x.next_attempt_at LIMIT 1) AS h "
    "  ON true ORDER BY t.n";

static const char *SQL_STORE_WANTED =
    "INSERT INTO epsync.deliveries AS d (decision_id, target, state, want_revision, "
    "  want_withdraw, withdraw_type, withdraw_reason, reason, next_attempt_at, "
    "  lease_owner, lease_until, lease_token, due_on) "
    "SELECT u.id, u.target, u.state, u.rev, u.ww, u.wt, u.wr, u.reason, now(), u.owner, "
    "  CASE WHEN u.owner IS NOT NULL THEN now() + $11::bigint * interval '1 millisecond' END, "
    "  CASE WHEN u.owner IS NOT NULL THEN nextval('epsync.lease_tokens') END, u.due "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], "
    "  $7::text[], $8::text[], $9::text[], $10::date[]) "
    "  AS u(id, target, state, rev, ww, wt, wr, reason, owner, due) "
    "ON CONFLICT (decision_id, target) DO UPDATE SET state = EXCLUDED.state, "
    "  want_revision = EXCLUDED.want_revision, want_withdraw = EXCLUDED.want_withdraw, "
    "  withdraw_type = EXCLUDED.withdraw_type, withdraw_reason = EXCLUDED.withdraw_reason, "
    "  reason = EXCLUDED.reason, due_on = EXCLUDED.due_on, attempts = 0, "
    "  next_attempt_at = now(), updated_at = now()";
static const char *SQL_STORE_WANTED_LEASED =
    " RETURNING d.decision_id, d.target, d.lease_token";

/* After queue_lock_known() on the same ids. */
static const char *SQL_REBASE =
    "UPDATE epsync.deliveries x SET due_on = u.due, "
    "  want_revision = CASE WHEN x.want_revision = u.old THEN u.new ELSE x.want_revision END, "
    "  published_revision = CASE WHEN x.published_revision = u.old THEN u.new "
    "                       ELSE x.published_revision END "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::date[]) AS u(id, old, new, due) "
    "WHERE x.decision_id = u.id";

/* ------------------------------------------------------------------ */

static char *dup_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

int queue_claim(db *d, const char *owner, const char *target, int max, int64_t lease_ms,
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
     * the same idempotency key.  Outcomes (queue_record) stay durable. */
    /* The lease ends at most lease_ms after the statement started. */
    int64_t until = clock_mono_ms() + lease_ms;
    if ((rc = db_exec_lazy(d, "claim deliveries", SQL_CLAIM, 4, p, &r, e)) < 0)
        return rc;
    int rows = PQntuples(r);
    struct claim *c = xcalloc((size_t)rows + 1, sizeof *c);
    for (int i = 0; i < rows; i++) {
        bool want_withdraw = PQgetvalue(r, i, 4)[0] == 't';
        bool published = !PQgetisnull(r, i, 5);
        struct delivery *dv = delivery_new(PQgetvalue(r, i, 0), target,
                                           kind_parse(PQgetvalue(r, i, 1)), OP_PUBLISH,
                                           PQgetvalue(r, i, 3), atoi(PQgetvalue(r, i, 9)) + 1);
        dv->receipt = dup_or_null(r, i, 6);
        dv->withdraw_type = dup_or_null(r, i, 7);
        dv->withdraw_reason = dup_or_null(r, i, 8);
        dv->fields_text = xstrdup(PQgetvalue(r, i, 10));   /* parsed when sent */
        snprintf(c[i].old_state, sizeof c[i].old_state, "%s", PQgetvalue(r, i, 2));
        snprintf(c[i].first_published, sizeof c[i].first_published, "%s", PQgetvalue(r, i, 11));
        dv->lease_token = atoll(PQgetvalue(r, i, 12));
        dv->lease_until = until;
        snprintf(dv->due_on, sizeof dv->due_on, "%s", PQgetvalue(r, i, 13));

        struct lc_claimed lc = {
            .want_withdraw = want_withdraw, .want_revision = dv->revision,
            .published_revision = published ? PQgetvalue(r, i, 5) : NULL,
            .has_receipt = dv->receipt != NULL,
        };
        enum lc_settle settle;
        dv->op = lifecycle_op(&lc, &settle);
        c[i].no_request = settle != LC_SEND;
        c[i].settle = settle == LC_SETTLE_CANCEL ? "cancel"
                      : settle == LC_SETTLE_NOOP ? "noop" : NULL;
        c[i].d = dv;
    }
    PQclear(r);
    *out = c;
    *n = (size_t)rows;
    return 0;
}

void queue_claims_free(struct claim *c, size_t n)
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

/* The row's new values, one element of each column of SQL_RECORD. */
static void record_columns(struct buf col[C_N], const struct result *x, const struct row_next *nx)
{
    char attempts[16], delay[24], http[16];
    snprintf(attempts, sizeof attempts, "%d", nx->attempts);
    snprintf(delay, sizeof delay, "%lld", (long long)(x->kind == RES_TRANSIENT ? x->delay_ms : 0));
    snprintf(http, sizeof http, "%d", x->http_status);
    db_array_add(&col[C_ID], x->decision_id);
    db_array_add(&col[C_TARGET], x->target);
    db_array_add(&col[C_STATE], nx->state);
    db_array_add(&col[C_PUB], nx->published_revision);
    db_array_add(&col[C_RECEIPT], nx->receipt);
    db_array_add(&col[C_ATTEMPTS], attempts);
    db_array_add(&col[C_COUNTS], nx->counts_attempt ? "t" : "f");
    db_array_add(&col[C_SETPUB], nx->set_published ? "t" : "f");
    db_array_add(&col[C_SETWD], nx->set_withdrawn ? "t" : "f");
    db_array_add(&col[C_CLEARERR], nx->clear_error ? "t" : "f");
    db_array_add(&col[C_DELAY], delay);
    db_array_add(&col[C_CODE], x->code && *x->code ? x->code : NULL);
    db_array_add(&col[C_MSG], x->message && *x->message ? x->message : NULL);
    db_array_add(&col[C_HTTP], x->http_status ? http : NULL);
    db_array_add(&col[C_EXPIRES], nx->keep_expiry ? NULL : x->expires_on);
    db_array_add(&col[C_KEEPEXP], nx->keep_expiry ? "t" : "f");
    db_array_add(&col[C_REASON], !strcmp(nx->state, "rejected") ? x->message : NULL);
}

/* The audit event of a recorded outcome: an attempt, or a settlement
 * without a request. */
static struct audit_event attempt_event(const struct result *x, const char *old_state,
                                        const struct row_next *nx, char **detail)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "op=%s result=%s %s->%s", op_name(x->op), result_word(x->kind), old_state,
               nx->state);
    if (x->request_id)
        buf_printf(&b, " request_id=%s", x->request_id);
    *detail = buf_steal(&b);
    return (struct audit_event){
        .actor = "daemon", .decision_id = x->decision_id, .target = x->target,
        .operation = nx->counts_attempt ? "attempt" : "settle",
        .attempt = nx->counts_attempt ? x->attempt : 0, .http_status = x->http_status,
        .code = x->code, .message = x->message,
        .latency_ms = nx->counts_attempt ? x->latency_ms : -1,
        .receipt = nx->receipt, .body_sha256 = x->body_sha256, .detail = *detail,
    };
}

/* Does owner hold row k's lease under token?  A token alone decides: a
 * lease that ran out but was not claimed again is still ours (no one else
 * can have sent meanwhile; the row is locked now). */
static bool lease_held(PGresult *locked, int k, const char *owner, int64_t token)
{
    return token > 0 && !PQgetisnull(locked, k, 8) && !PQgetisnull(locked, k, 9)
           && strcmp(PQgetvalue(locked, k, 8), owner) == 0
           && atoll(PQgetvalue(locked, k, 9)) == token;
}

/* The audit event of an outcome that came too late: the request went
 * out (the history must show it), its outcome is not recorded. */
static struct audit_event lease_lost_event(const struct result *x, char **detail)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "lease lost: op=%s result=%s not recorded, another process holds the row",
               op_name(x->op), result_word(x->kind));
    if (x->request_id)
        buf_printf(&b, " request_id=%s", x->request_id);
    *detail = buf_steal(&b);
    return (struct audit_event){
        .actor = "daemon", .decision_id = x->decision_id, .target = x->target,
        .operation = "lease_lost", .attempt = x->attempt, .http_status = x->http_status,
        .code = x->code, .message = x->message, .latency_ms = x->latency_ms,
        .receipt = x->receipt, .body_sha256 = x->body_sha256, .detail = *detail,
    };
}

int queue_record(db *d, const char *owner, struct result *res, size_t n, struct err *e)
{
    struct buf ids = BUF_INIT, tgts = BUF_INIT, col[C_N];
    struct audit_event *ev = xcalloc(n + 1, sizeof *ev);
    char **det = xcalloc(n + 1, sizeof *det);
    PGresult *locked = NULL;
    json_object *locked_idx = NULL;
    size_t nev = 0;
    int rc;

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
        x->lease_lost = !lease_held(locked, k, owner, x->lease_token);
        if (x->lease_lost) {
            if (x->kind != RES_RELEASE)
                ev[nev] = lease_lost_event(x, &det[nev]), nev++;
            continue;
        }
        struct row_now cur = {
            .state = PQgetvalue(locked, k, 2), .want_revision = PQgetvalue(locked, k, 3),
            .want_withdraw = PQgetvalue(locked, k, 4)[0] == 't',
            .published_revision = PQgetisnull(locked, k, 5) ? NULL : PQgetvalue(locked, k, 5),
            .receipt = PQgetisnull(locked, k, 6) ? NULL : PQgetvalue(locked, k, 6),
            .attempts = atoi(PQgetvalue(locked, k, 7)),
        };
        struct row_next nx;
        struct lc_outcome oc = { .kind = x->kind, .op = x->op, .revision = x->revision,
                                 .receipt = x->receipt };
        lifecycle_next(&cur, &oc, &nx);
        snprintf(x->new_state, sizeof x->new_state, "%s", nx.state);
        record_columns(col, x, &nx);
        if (x->kind == RES_RELEASE)
            continue;
        ev[nev] = attempt_event(x, cur.state, &nx, &det[nev]);
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

int queue_release(db *d, const char *owner, struct err *e)
{
    const char *p[1] = { owner };
    return db_exec(d, "release leases", SQL_RELEASE, 1, p, NULL, e);
}

int queue_expire(db *d, const char *today, int *count, struct err *e)
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

int queue_next_due_ms(db *d, int64_t *ms, struct err *e)
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

/* ---- detection ---------------------------------------------------- */

int queue_lock_known(db *d, const char *ids, PGresult **out, struct err *e)
{
    const char *p[1] = { ids };
    return db_exec(d, "lock deliveries", SQL_LOCK_KNOWN, 1, p, out, e);
}

int queue_heads(db *d, const char *targets, PGresult **out, struct err *e)
{
    const char *p[1] = { targets };
    return db_exec(d, "find the queues' heads", SQL_HEADS, 1, p, out, e);
}

void queue_wanted_add(struct queue_wanted *w, const char *id, const char *target,
                      const struct lc_want *want, const char *revision, const char *due_on,
                      const char *owner)
{
    db_array_add(&w->col[QW_ID], id);
    db_array_add(&w->col[QW_TARGET], target);
    db_array_add(&w->col[QW_STATE], lc_state_name(want->state));
    db_array_add(&w->col[QW_REV], revision);
    db_array_add(&w->col[QW_WW], want->want_withdraw ? "t" : "f");
    db_array_add(&w->col[QW_WT], want->withdraw_type);
    db_array_add(&w->col[QW_WR], want->withdraw_reason);
    db_array_add(&w->col[QW_REASON], want->reason);
    db_array_add(&w->col[QW_OWNER], owner);
    db_array_add(&w->col[QW_DUE], due_on && *due_on ? due_on : NULL);
    w->n++;
}

int queue_store_wanted(db *d, struct queue_wanted *w, int64_t lease_ms, PGresult **leased,
                       struct err *e)
{
    const char *p[QW_N + 1];
    char lease[24];
    struct buf sql = BUF_INIT;
    int rc;

    if (w->n == 0)
        return 0;
    for (int c = 0; c < QW_N; c++) {
        db_array_end(&w->col[c]);
        p[c] = w->col[c].data;
    }
    snprintf(lease, sizeof lease, "%lld", (long long)lease_ms);
    p[QW_N] = lease;
    buf_puts(&sql, SQL_STORE_WANTED);
    if (leased)
        buf_puts(&sql, SQL_STORE_WANTED_LEASED);
    rc = db_exec(d, "store deliveries", sql.data, QW_N + 1, p, leased, e);
    buf_free(&sql);
    return rc;
}

void queue_wanted_free(struct queue_wanted *w)
{
    for (int c = 0; c < QW_N; c++)
        buf_free(&w->col[c]);
    w->n = 0;
}

int queue_rebase(db *d, const char *ids, const char *olds, const char *news, const char *dues,
                 struct err *e)
{
    const char *p[4] = { ids, olds, news, dues };
    PGresult *locked = NULL;
    int rc = queue_lock_known(d, ids, &locked, e);
    PQclear(locked);
    return rc < 0 ? rc : db_exec(d, "rebase revisions", SQL_REBASE, 4, p, NULL, e);
}

/* ---- operators ------------------------------------------------------ */

int queue_requeue(db *d, const char *id, const char *target, const char *states,
                  PGresult **out, struct err *e)
{
    const char *p[3] = { id, target, states };
    return db_exec(d, "retry", SQL_RETRY, 3, p, out, e);
}

int queue_withdraw(db *d, const char *id, const char *reason, PGresult **out, struct err *e)
{
    const char *p[2] = { id, reason };
    return db_exec(d, "withdraw", SQL_WITHDRAW, 2, p, out, e);
}

int queue_backlog(db *d, long *n, struct err *e)
{
    PGresult *r = NULL;
    int rc = db_exec(d, "count the backlog", SQL_BACKLOG, 0, NULL, &r, e);
    if (rc == 0) {
        *n = atol(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    return rc;
}

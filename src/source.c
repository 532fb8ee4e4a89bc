/* source.c - see source.h: the reader (keyset pages, window digests).
 *
 * The row is read as one jsonb value (to_jsonb of the relation's row) so
 * that any column the DBA adds travels as a field, with the database's
 * own text for numbers and dates.  row.c interprets a row (validation,
 * exclusion, masking, the revision of the masked fields), lifecycle.c says
 * what each target wants of it, and handover.c stores that through the
 * queue, with the rows locked, so the engine, which finishes requests
 * against the same rows, always sees a consistent "what is wanted". */
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "buf.h"
#include "date.h"
#include "handover.h"
#include "window.h"
#include "log.h"
#include "sign.h"
#include "srcplan.h"
#include "srcread.h"

/* Rows read whole per page, keys per page of a poll (the SQL below has
 * them as text: LIMIT ROWS_TEXT(...)). */
#define PAGE_ROWS 250
#define KEY_ROWS 5000
#define ROWS_TEXT_(n) #n
#define ROWS_TEXT(n) ROWS_TEXT_(n)
#define SCAN_PAGES_PER_CALL 2   /* then the loop sends what is due */
#define DETECTOR_LOCK_KEY "7245310002"

/* A scan in progress: source_poll() reads a bounded number of pages per
 * call so the event loop keeps delivering while a large backlog is read. */
struct scan {
    bool active;
    bool reconcile;
    char after_upd[40];        /* keyset position */
    char *after_id;
    char high[40];             /* newest updated_at seen */
    char start[40];            /* database clock at the start (reconcile) */
    bool streaming;            /* keys come from the long read (rd) */
    bool past_prev;            /* beyond the last page the last poll read */
    srcread *rd;               /* the long read's cursor, NULL when none is open */
};

struct source {
    const struct config *cfg;
    struct scan scan;
    struct window prev;           /* what the last finished poll read */
    struct window cur;            /* what this poll has read so far */
    db *src;
    db *state;
    char *relation;      /* quoted identifier(s) */
    bool listening;
    bool locked;
    bool legacy_done;             /* no decision left with a version-2 revision */
    calendar *cal;                /* deadlines (NULL: could not be loaded) */
    struct source_handoff handoff;   /* take == NULL: nothing is handed over */
};


/* Polls read keys first and fetch whole rows only for what changed: the
 * overlap window is re-read on every poll, and after a bulk load it can
 * hold the whole backlog.  The second %s is "" or SQL_KEYS_UPTO (up to
 * and including a known key: $3, $4). */
static const char *SQL_KEYS_FMT =
    "SELECT to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "       r.decision_id::text "
    "FROM %s r "
    "WHERE (r.updated_at, r.decision_id::text) > ($1::timestamptz, $2::text) %s"
    "ORDER BY r.updated_at, r.decision_id::text";
static const char *SQL_KEYS_LIMIT = " LIMIT " ROWS_TEXT(KEY_ROWS);
static const char *SQL_KEYS_UPTO =
    "AND (r.updated_at, r.decision_id::text) <= ($3::timestamptz, $4::text) ";

static const char *SQL_STALE =
    "SELECT u.id FROM unnest($1::text[], $2::timestamptz[]) AS u(id, upd) "
    "LEFT JOIN epsync.decisions d ON d.decision_id = u.id "
    "WHERE d.decision_id IS NULL OR d.recheck OR d.src_updated_at IS DISTINCT FROM u.upd";

static const char *SQL_TOUCHED =
    "UPDATE epsync.decisions d SET src_updated_at = u.upd "
    "FROM unnest($1::text[], $2::timestamptz[]) AS u(id, upd) "
    "WHERE d.decision_id = u.id AND d.src_updated_at IS DISTINCT FROM u.upd";

static const char *SQL_BY_ID_FMT =
    "SELECT to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "       r.decision_id::text, (to_jsonb(r) - 'updated_at')::text "
    "FROM %s r WHERE r.decision_id::text = ANY($1::text[])";

static const char *SQL_KNOWN =
    "SELECT decision_id, revision, src_state, recheck FROM epsync.decisions "
    "WHERE decision_id = ANY($1::text[])";

static const char *SQL_SEEN =
    "UPDATE epsync.decisions SET seen_at = $2::timestamptz, missing_since = NULL "
    "WHERE decision_id = ANY($1::text[]) AND seen_at < $2::timestamptz";   /* not just stored */

static const char *SQL_MISSING =
    "UPDATE epsync.decisions d SET missing_since = now() "
    "WHERE seen_at < $1::timestamptz AND missing_since IS NULL "
    "  AND EXISTS (SELECT 1 FROM epsync.deliveries x WHERE x.decision_id = d.decision_id "
    "              AND x.published_revision IS NOT NULL) "
    "RETURNING decision_id";

static const char *SQL_WATERMARK =
    "SELECT to_char(high_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "  to_char((high_updated_at - $2::interval) AT TIME ZONE 'UTC', "
    "          'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
    "FROM epsync.watermarks WHERE relation = $1";

static const char *SQL_SET_WATERMARK =
    "INSERT INTO epsync.watermarks (relation, high_updated_at, last_poll_at, last_reconcile_at) "
    "VALUES ($1, $2::timestamptz, now(), CASE WHEN $3::boolean THEN now() END) "
    "ON CONFLICT (relation) DO UPDATE SET "
    "  high_updated_at = GREATEST(epsync.watermarks.high_updated_at, EXCLUDED.high_updated_at), "
    "  last_poll_at = now(), last_reconcile_at = CASE WHEN $3::boolean THEN now() "
    "    ELSE epsync.watermarks.last_reconcile_at END";

static const char *SQL_RECHECK =
    "SELECT decision_id FROM epsync.decisions WHERE recheck LIMIT 500";

/* ------------------------------------------------------------------ */

static char *quote_relation(PGconn *c, const char *rel)
{
    struct buf b = BUF_INIT;
    const char *dot = strchr(rel, '.');
    char *part;

    if (dot) {
        char *schema = xstrndup(rel, (size_t)(dot - rel));
        part = PQescapeIdentifier(c, schema, strlen(schema));
        free(schema);
        if (!part)
            return NULL;
        buf_printf(&b, "%s.", part);
        PQfreemem(part);
        rel = dot + 1;
    }
    part = PQescapeIdentifier(c, rel, strlen(rel));
    if (!part) {
        buf_free(&b);
        return NULL;
    }
    buf_puts(&b, part);
    PQfreemem(part);
    return buf_steal(&b);
}

static int listen_channel(source *s, struct err *e)
{
    const char *ch = s->cfg->poll.notify_channel;
    PGconn *c = db_conn(s->src);
    char *q;

    s->listening = false;
    if (!ch || !*ch)
        return 0;
    if (!(q = PQescapeIdentifier(c, ch, strlen(ch))))
        return err_set(e, -EINVAL, "notify_channel: %s", PQerrorMessage(c));
    struct buf sql = BUF_INIT;
    buf_printf(&sql, "LISTEN %s", q);      /* an identifier cannot be a $ parameter */
    PQfreemem(q);
    int rc = db_exec_text(s->src, "LISTEN on notify_channel", sql.data, e);
    buf_free(&sql);
    if (rc < 0)
        return rc;
    s->listening = true;
    return 0;
}

/* The holiday calendar for deadlines; without it deliveries have no
 * deadline and are claimed after those that have one. */
static void load_calendar(source *s)
{
    calendar *cal = NULL;
    struct err e;
    if (calendar_load(&cal, s->cfg->calendar, &e) < 0) {
        log_error("cannot read the holiday calendar, deadlines unknown", KV("error", e.msg));
        return;
    }
    calendar_free(s->cal);
    s->cal = cal;
}

int source_open(source **out, const struct config *cfg, db *state, struct err *e)
{
    source *s = xcalloc(1, sizeof *s);
    int rc;

    s->cfg = cfg;
    s->state = state;
    *out = s;
    load_calendar(s);
    if ((rc = db_open(&s->src, cfg->database.source, "source database", e)) < 0)
        return rc;
    if (!(s->relation = quote_relation(db_conn(s->src), cfg->database.source_relation)))
        return err_set(e, -EINVAL, "database.source_relation: cannot quote '%s'",
                       cfg->database.source_relation);
    if ((rc = listen_channel(s, e)) < 0)
        return rc;
    struct buf keys = BUF_INIT;
    buf_printf(&keys, SQL_KEYS_FMT, s->relation, "");
    buf_puts(&keys, SQL_KEYS_LIMIT);
    srcplan_check(s->src, keys.data, s->relation);
    buf_free(&keys);
    return 0;
}

static void scan_reset(source *s)
{
    srcread_close(s->scan.rd);
    free(s->scan.after_id);
    memset(&s->scan, 0, sizeof s->scan);
}

/* Forget what earlier polls read: after an error, a reconcile, or a time
 * when another process may have been the detector. */
static void window_forget(source *s)
{
    window_clear(&s->prev);
    window_clear(&s->cur);
}

void source_free(source *s)
{
    if (!s)
        return;
    scan_reset(s);
    window_forget(s);
    db_close(s->src);
    calendar_free(s->cal);
    free(s->relation);
    free(s);
}

void source_set_config(source *s, const struct config *cfg)
{
    s->cfg = cfg;
    load_calendar(s);
}

void source_set_handoff(source *s, const struct source_handoff *h)
{
    memset(&s->handoff, 0, sizeof s->handoff);
    if (h)
        s->handoff = *h;
}

int source_ensure(source *s, struct err *e)
{
    int rc;
    if (!db_broken(s->src))
        return 0;
    if ((rc = db_ensure(s->src, e)) < 0)
        return rc;
    if (!s->relation   /* unreachable when the source was opened */
        && !(s->relation = quote_relation(db_conn(s->src), s->cfg->database.source_relation)))
        return err_set(e, -EINVAL, "database.source_relation: cannot quote '%s'",
                       s->cfg->database.source_relation);
    log_notice("source database reconnected");
    return listen_channel(s, e);
}

bool source_try_lock(source *s, struct err *e)
{
    PGresult *r = NULL;
    const char *p[1] = { DETECTOR_LOCK_KEY };

    if (s->locked && !db_broken(s->state))
        return true;
    s->locked = false;
    if (db_exec(s->state, "take the detector lock", "SELECT pg_try_advisory_lock($1::bigint)",
                1, p, &r, e) < 0)
        return false;
    s->locked = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (s->locked) {
        log_info("this process is the change detector");
        window_forget(s);   /* another process may have detected meanwhile */
    }
    return s->locked;
}

int source_fd(source *s)
{
    return s->listening && !db_broken(s->src) ? PQsocket(db_conn(s->src)) : -1;
}

bool source_notified(source *s)
{
    PGconn *c = db_conn(s->src);
    PGnotify *n;
    bool any = false;

    if (!s->listening || db_broken(s->src))
        return false;
    if (!PQconsumeInput(c)) {
        db_rollback(s->src);    /* marks nothing; the next statement detects the break */
        return false;
    }
    while ((n = PQnotifies(c))) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

/* ------------------------------------------------------------------ */

struct page {
    struct row rows[PAGE_ROWS];
    int n;
    struct buf ids;               /* every id of the page (for seen_at) */
};

static void page_clear(struct page *pg)
{
    for (int i = 0; i < pg->n; i++)
        row_clear(&pg->rows[i]);
    pg->n = 0;
    buf_free(&pg->ids);
}

static struct handover_ctx handover_of(source *s)
{
    return (struct handover_ctx){ .cfg = s->cfg, .state = s->state, .handoff = &s->handoff,
                                  .cal = s->cal };
}

/* Decide which rows of a page changed, and store those. */
static int process_page(source *s, struct page *pg, bool force, struct source_stats *st,
                        struct err *e)
{
    PGresult *known = NULL;
    struct row *chg[PAGE_ROWS];
    struct buf touched_ids = BUF_INIT, touched_upd = BUF_INIT;
    int nchg = 0, rc;

    db_array_end(&pg->ids);
    const char *p[1] = { pg->ids.data };
    if ((rc = db_exec(s->state, "read known decisions", SQL_KNOWN, 1, p, &known, e)) < 0) {
        buf_free(&touched_ids);
        buf_free(&touched_upd);
        return rc;
    }
    json_object *known_idx = db_index_rows(known, 0, -1);
    for (int i = 0; i < pg->n; i++) {
        struct row *r = &pg->rows[i];
        bool final = !strcmp(r->state, "final"), revoked = !strcmp(r->state, "revoked");
        st->scanned++;
        int k = db_index_find(known_idx, r->id, NULL);
        bool is_known = k >= 0;
        r->known = is_known;
        if (!final && !revoked)
            continue;   /* drafts and the like are not ours */
        if (is_known && !force && PQgetvalue(known, k, 3)[0] != 't'
            && !strcmp(PQgetvalue(known, k, 1), r->revision)
            && !strcmp(PQgetvalue(known, k, 2), r->state)) {
            db_array_add(&touched_ids, r->id);   /* updated_at moved, content did not */
            db_array_add(&touched_upd, r->updated_at);
            continue;
        }
        chg[nchg++] = r;
        if (json_object_array_length(r->reasons))
            st->invalid++;
    }
    db_index_free(known_idx);
    PQclear(known);
    st->changed += nchg;
    struct handover_ctx hc = handover_of(s);
    rc = nchg ? handover_store(&hc, chg, nchg, e) : 0;
    if (rc == 0 && touched_ids.len) {
        db_array_end(&touched_ids);
        db_array_end(&touched_upd);
        const char *tp[2] = { touched_ids.data, touched_upd.data };
        rc = db_exec_lazy(s->state, "note touched decisions", SQL_TOUCHED, 2, tp, NULL, e);
    }
    buf_free(&touched_ids);
    buf_free(&touched_upd);
    return rc;
}

static int read_page(source *s, PGresult *res, struct page *pg, int64_t now_ms)
{
    date_t today = date_cst(now_ms);
    for (int i = 0; i < PQntuples(res); i++) {
        struct row *r = &pg->rows[pg->n];
        const char *id = PQgetvalue(res, i, 1);
        db_array_add(&pg->ids, id);
        if (PQgetisnull(res, i, 0)) {
            log_warning("source row without updated_at skipped", KV("decision", id));
            continue;
        }
        if (row_parse(r, PQgetvalue(res, i, 0), id, PQgetvalue(res, i, 2), today, s->cfg,
                      s->cal) < 0) {
            log_error("source row unreadable, skipped", KV("decision", id));
            row_clear(r);
            continue;
        }
        pg->n++;
    }
    return PQntuples(res);
}

static int mark_seen(source *s, struct page *pg, const char *scan_start, struct err *e)
{
    const char *p[2] = { pg->ids.data, scan_start };
    return db_exec_lazy(s->state, "mark decisions seen", SQL_SEEN, 2, p, NULL, e);
}

static int flag_missing(source *s, const char *scan_start, struct source_stats *st, struct err *e)
{
    PGresult *r = NULL;
    const char *p[1] = { scan_start };
    int rc;

    if ((rc = db_begin(s->state, e)) < 0)
        return rc;
    if ((rc = db_exec(s->state, "flag missing decisions", SQL_MISSING, 1, p, &r, e)) < 0)
        goto fail;
    int n = PQntuples(r);
    struct audit_event *ev = xcalloc((size_t)n + 1, sizeof *ev);
    for (int i = 0; i < n; i++) {
        ev[i] = (struct audit_event){ .actor = "daemon", .decision_id = PQgetvalue(r, i, 0),
                                      .operation = "missing", .latency_ms = -1,
                                      .detail = "published decision no longer in the source" };
        log_error("published decision missing from source", KV("decision", PQgetvalue(r, i, 0)),
                  LOG_ACTION_NEEDED);
    }
    rc = audit_append(s->state, ev, (size_t)n, e);
    free(ev);
    PQclear(r);
    if (rc < 0)
        goto fail;
    st->missing += n;
    return db_commit(s->state, e);
fail:
    PQclear(r);
    db_rollback(s->state);
    return rc;
}

/* Read the rows whose ids are in the array literal `ids` (at most
 * PAGE_ROWS) and process them; with seen_start, mark them seen. */
static int fetch_and_process(source *s, const char *ids, bool force, const char *seen_start,
                             int64_t now_ms, struct source_stats *st, struct err *e)
{
    struct buf sql = BUF_INIT;
    struct page *pg = xcalloc(1, sizeof *pg);
    PGresult *res = NULL;
    const char *p[1] = { ids };
    int rc;

    buf_printf(&sql, SQL_BY_ID_FMT, s->relation);
    if ((rc = db_exec(s->src, "read changed rows", sql.data, 1, p, &res, e)) == 0) {
        read_page(s, res, pg, now_ms);
        rc = process_page(s, pg, force, st, e);
        if (rc == 0 && seen_start && PQntuples(res) > 0)
            rc = mark_seen(s, pg, seen_start, e);
    }
    PQclear(res);
    page_clear(pg);
    free(pg);
    buf_free(&sql);
    return rc;
}

static int recheck_flagged(source *s, int64_t now_ms, struct source_stats *st, struct err *e)
{
    PGresult *ids = NULL;
    struct buf arr = BUF_INIT;
    int rc;

    if ((rc = db_exec(s->state, "read decisions to recheck", SQL_RECHECK, 0, NULL, &ids, e)) < 0)
        return rc;
    if (PQntuples(ids) > 0) {
        for (int i = 0; i < PQntuples(ids); i++)
            db_array_add(&arr, PQgetvalue(ids, i, 0));
        db_array_end(&arr);
        const char *p[1] = { arr.data };
        rc = fetch_and_process(s, arr.data, true, NULL, now_ms, st, e);
        /* Rows no longer in the source: clear the flag so they are not re-read forever. */
        if (rc == 0)
            rc = db_exec(s->state, "clear recheck",
                         "UPDATE epsync.decisions SET recheck = false "
                         "WHERE decision_id = ANY($1::text[])", 1, p, NULL, e);
    }
    PQclear(ids);
    buf_free(&arr);
    return rc;
}

/* Compare keys[0..n-1] with the state database; fetch and process the
 * rows not yet seen at their updated_at. */
static int check_keys(source *s, PGresult *keys, int n, int64_t now_ms, struct source_stats *st,
                      struct err *e)
{
    PGresult *stale = NULL;
    struct buf ids = BUF_INIT, upds = BUF_INIT, chunk = BUF_INIT;
    int rc;

    for (int i = 0; i < n; i++) {
        db_array_add(&ids, PQgetvalue(keys, i, 1));
        db_array_add(&upds, PQgetvalue(keys, i, 0));
    }
    db_array_end(&ids);
    db_array_end(&upds);
    const char *sp[2] = { ids.data, upds.data };
    if ((rc = db_exec(s->state, "find changed rows", SQL_STALE, 2, sp, &stale, e)) < 0)
        goto out;
    for (int i = 0, inchunk = 0; i < PQntuples(stale); i++) {
        db_array_add(&chunk, PQgetvalue(stale, i, 0));
        if (++inchunk == PAGE_ROWS || i == PQntuples(stale) - 1) {
            db_array_end(&chunk);
            st->scanned -= inchunk;   /* counted again by process_page */
            if ((rc = fetch_and_process(s, chunk.data, false, NULL, now_ms, st, e)) < 0)
                goto out;
            buf_reset(&chunk);
            inchunk = 0;
        }
    }
out:
    PQclear(stale);
    buf_free(&ids);
    buf_free(&upds);
    buf_free(&chunk);
    return rc;
}

/* Move the scan's position to the key (upd, id). */
static void scan_move(source *s, const char *upd, const char *id)
{
    snprintf(s->scan.after_upd, sizeof s->scan.after_upd, "%s", upd);
    free(s->scan.after_id);
    s->scan.after_id = id ? xstrdup(id) : NULL;
    if (strcmp(s->scan.after_upd, s->scan.high) > 0)
        snprintf(s->scan.high, sizeof s->scan.high, "%s", s->scan.after_upd);
}

/* The next n keys of the long read: one cursor from the scan's position,
 * reopened from the last key read when its transaction has been open
 * long enough (it holds back vacuum on the case database). */
static int long_read_fetch(source *s, int n, PGresult **keys, struct err *e)
{
    int rc;

    if (s->scan.rd && srcread_due(s->scan.rd)) {
        srcread_close(s->scan.rd);
        s->scan.rd = NULL;
    }
    if (!s->scan.rd) {
        struct buf sql = BUF_INIT;
        const char *p[2] = { s->scan.after_upd, s->scan.after_id };
        buf_printf(&sql, SQL_KEYS_FMT, s->relation, "");
        rc = srcread_open(&s->scan.rd, s->src, sql.data, 2, p, e);
        buf_free(&sql);
        if (rc < 0)
            return rc;
    }
    return srcread_fetch(s->scan.rd, n, keys, e);
}

/* One page of keys of a poll.  Where the last poll read a page from the
 * same position, this one reads up to the same end and skips the state
 * database when the keys are the same; elsewhere it reads KEY_ROWS keys,
 * stopping short at the start of a page of the last poll so that the
 * next page lines up.  Returns 1 when more keys may follow, 0 when the
 * window is read, negative on error. */
static int poll_keys_page(source *s, const char *keys_sql, const char *upto_sql, int64_t now_ms,
                          struct source_stats *st, struct err *e)
{
    const struct window_page *same = window_from(&s->prev, s->scan.after_upd, s->scan.after_id);
    char lower_upd[40], digest[65];
    char *lower_id = s->scan.after_id ? xstrdup(s->scan.after_id) : NULL;
    PGresult *keys = NULL;
    int rc, n, more;
    bool whole = false, stream = false;

    snprintf(lower_upd, sizeof lower_upd, "%s", s->scan.after_upd);
    if (same) {
        const char *p[4] = { s->scan.after_upd, s->scan.after_id, same->upper_upd, same->upper_id };
        rc = db_exec(s->src, "read the source", upto_sql, 4, p, &keys, e);
    } else if (s->scan.streaming) {
        rc = long_read_fetch(s, KEY_ROWS, &keys, e);
    } else {
        const char *p[2] = { s->scan.after_upd, s->scan.after_id };
        rc = db_exec(s->src, "read the source", keys_sql, 2, p, &keys, e);
    }
    if (rc < 0)
        goto out;
    n = PQntuples(keys);
    if (same) {
        whole = n < KEY_ROWS || window_same_key(PQgetvalue(keys, n - 1, 0),
                                                PQgetvalue(keys, n - 1, 1),
                                                same->upper_upd, same->upper_id);
        more = 1;
    } else {
        int k = window_boundary(&s->prev, keys);
        more = k >= 0 || n == KEY_ROWS;
        /* A full page beyond what the last poll read: a backlog, read
         * the rest in one pass. */
        stream = k < 0 && n == KEY_ROWS && (s->prev.n == 0 || s->scan.past_prev);
        if (k >= 0)
            n = k + 1;
        if (n == 0)
            goto out;
    }
    window_digest(keys, n, digest);
    st->scanned += n;
    if (!(whole && strcmp(digest, same->digest) == 0)
        && n > 0 && (rc = check_keys(s, keys, n, now_ms, st, e)) < 0)
        goto out;

    /* Move on: to the end of the range when it was read whole (its last
     * key may have moved away since), else to the last key read. */
    if (whole)
        scan_move(s, same->upper_upd, same->upper_id);
    else
        scan_move(s, PQgetvalue(keys, n - 1, 0), PQgetvalue(keys, n - 1, 1));
    const struct window_page *last = s->prev.n ? &s->prev.p[s->prev.n - 1] : NULL;
    if (last && window_same_key(s->scan.after_upd, s->scan.after_id, last->upper_upd,
                                last->upper_id))
        s->scan.past_prev = true;
    s->scan.streaming |= stream;
    window_add(&s->cur, lower_upd, lower_id, s->scan.after_upd, s->scan.after_id, digest);
    rc = more;
out:
    free(lower_id);
    PQclear(keys);
    return rc;
}

/* Start a scan: read the watermark and the database clock. */
static int scan_begin(source *s, bool reconcile, struct err *e)
{
    char overlap[32];
    PGresult *r = NULL;
    const char *p[2] = { s->cfg->database.source_relation, overlap };
    int rc;

    memset(&s->scan, 0, sizeof s->scan);
    window_clear(&s->cur);
    if (reconcile)
        window_forget(s);   /* the reconcile reads rows, not keys */
    snprintf(s->scan.after_upd, sizeof s->scan.after_upd, "-infinity");
    snprintf(overlap, sizeof overlap, "%lld milliseconds", (long long)s->cfg->poll.overlap_ms);
    if ((rc = db_exec(s->state, "read the watermark", SQL_WATERMARK, 2, p, &r, e)) < 0)
        return rc;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        snprintf(s->scan.high, sizeof s->scan.high, "%s", PQgetvalue(r, 0, 0));
        if (!reconcile)
            snprintf(s->scan.after_upd, sizeof s->scan.after_upd, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    if ((rc = db_exec(s->state, "read the clock",
                      "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                      0, NULL, &r, e)) < 0)
        return rc;
    snprintf(s->scan.start, sizeof s->scan.start, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    s->scan.active = true;
    s->scan.reconcile = reconcile;
    return 0;
}

/* Record progress: the watermark only moves forward. */
static int scan_progress(source *s, bool finished, struct err *e)
{
    const char *p[3] = { s->cfg->database.source_relation, s->scan.high[0] ? s->scan.high : NULL,
                         finished && s->scan.reconcile ? "t" : "f" };
    return db_exec_lazy(s->state, "advance the watermark", SQL_SET_WATERMARK, 3, p, NULL, e);
}

static int poll_pass(source *s, bool reconcile, int64_t now_ms, struct source_stats *st,
                     struct err *e)
{
    struct buf sql = BUF_INIT;
    PGresult *r = NULL;
    bool finished = false;
    int rc = 0;

    memset(st, 0, sizeof *st);
    if (!s->scan.active && (rc = scan_begin(s, reconcile, e)) < 0)
        goto out;
    if (!s->scan.reconcile) {
        struct buf upto = BUF_INIT;
        buf_printf(&sql, SQL_KEYS_FMT, s->relation, "");
        buf_puts(&sql, SQL_KEYS_LIMIT);
        buf_printf(&upto, SQL_KEYS_FMT, s->relation, SQL_KEYS_UPTO);
        buf_puts(&upto, SQL_KEYS_LIMIT);
        for (int pages = 0; pages < SCAN_PAGES_PER_CALL; pages++) {
            rc = poll_keys_page(s, sql.data, upto.data, now_ms, st, e);
            if (rc <= 0) {
                finished = rc == 0;
                break;
            }
        }
        buf_free(&upto);
        if (rc < 0)
            goto out;
        goto done;
    }
    /* The reconcile reads every row whole and compares revisions: the
     * keys through the long read, the rows by id in its snapshot. */
    for (int pages = 0; pages < SCAN_PAGES_PER_CALL; pages++) {
        if ((rc = long_read_fetch(s, PAGE_ROWS, &r, e)) < 0)
            goto out;
        int rows = PQntuples(r);
        if (rows > 0) {
            struct buf ids = BUF_INIT;
            for (int i = 0; i < rows; i++)
                db_array_add(&ids, PQgetvalue(r, i, 1));
            db_array_end(&ids);
            scan_move(s, PQgetvalue(r, rows - 1, 0), PQgetvalue(r, rows - 1, 1));
            rc = fetch_and_process(s, ids.data, false, s->scan.start, now_ms, st, e);
            buf_free(&ids);
            if (rc < 0)
                goto out;
        }
        PQclear(r);
        r = NULL;
        if (rows < PAGE_ROWS) {
            finished = true;
            break;
        }
    }
done:
    if (finished) {            /* the source's transaction ends with the read */
        srcread_close(s->scan.rd);
        s->scan.rd = NULL;
    }
    if (finished && s->scan.reconcile && (rc = flag_missing(s, s->scan.start, st, e)) < 0)
        goto out;
    if (finished && (rc = recheck_flagged(s, now_ms, st, e)) < 0)
        goto out;
    if ((rc = scan_progress(s, finished, e)) < 0)
        goto out;
    st->reconciled = finished && s->scan.reconcile;
    if (finished && !s->scan.reconcile) {
        window_clear(&s->prev);   /* the next poll compares with this one */
        s->prev = s->cur;
        memset(&s->cur, 0, sizeof s->cur);
    }
    if (finished)
        scan_reset(s);
    rc = finished ? 0 : 1;
out:
    if (rc < 0) {
        scan_reset(s);   /* start over from the watermark next time */
        window_forget(s);
    }
    PQclear(r);
    buf_free(&sql);
    return rc;
}

int source_poll(source *s, bool reconcile, int64_t now_ms, struct source_stats *st,
                struct err *e)
{
    if (!s->legacy_done) {
        memset(st, 0, sizeof *st);
        struct handover_ctx hc = handover_of(s);
        int n = handover_rebase(&hc, e);
        if (n != 0)
            return n < 0 ? n : 1;   /* more to rebase before the pass */
        s->legacy_done = true;
    }
    return poll_pass(s, reconcile, now_ms, st, e);
}

/* source.c - see source.h.
 *
 * The row is read as one jsonb value (to_jsonb of the relation's row) so
 * that any column the DBA adds travels as a field, with the database's
 * own text for numbers and dates.  The revision is computed over that
 * object minus updated_at and state: touching updated_at or revoking does
 * not make a new revision, changing any field does.
 *
 * Per changed row and target the wanted outcome is decided here
 * (plan_target) and written with the row locked, so the engine, which
 * finishes requests against the same rows, always sees a consistent
 * "what is wanted" and converges to it. */
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "buf.h"
#include "calendar.h"
#include "canon.h"
#include "clock.h"
#include "date.h"
#include "fields.h"
#include "lifecycle.h"
#include "log.h"
#include "mask.h"
#include "publicity.h"
#include "queue.h"
#include "sign.h"
#include "validate.h"

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
};

/* One page of keys a poll read from the overlap window: the keys in
 * (lower, upper], and a digest of them.  When the next poll reads the
 * same range and finds the same keys, nothing in it changed since, and
 * the comparison with the state database is skipped: after a bulk load
 * the window holds the whole backlog, and each poll would otherwise
 * compare all of it again.  Bounds are compared as the text the source
 * gave, never ordered here (the source's collation orders ids). */
struct window_page {
    char lower_upd[40], upper_upd[40];
    char *lower_id, *upper_id;    /* NULL: the window start */
    char digest[65];
};

struct window {
    struct window_page *p;
    size_t n, cap;
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

/* One source row, as far as detection needs it. */
struct row {
    char *id;
    char *updated_at;          /* UTC text, the keyset position */
    char *state;               /* final | revoked | other */
    int kind;                  /* enum kind, -1 unknown */
    date_t decided_on;
    bool confidential;
    char revision[65];
    char due_on[11];           /* deadline "YYYY-MM-DD", "" when none */
    json_object *fields;       /* raw, then masked in place */
    const char *exclude;       /* why never published, NULL */
    json_object *reasons;      /* validation failures (array) */
    bool known;                /* the state database has it already */
};


static const char *SQL_PAGE_FMT =
    "SELECT to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "       r.decision_id::text, (to_jsonb(r) - 'updated_at')::text "
    "FROM %s r "
    "WHERE (r.updated_at, r.decision_id::text) > ($1::timestamptz, $2::text) "
    "ORDER BY r.updated_at, r.decision_id::text LIMIT " ROWS_TEXT(PAGE_ROWS);

/* Polls read keys first and fetch whole rows only for what changed: the
 * overlap window is re-read on every poll, and after a bulk load it can
 * hold the whole backlog.  The second %s is "" or SQL_KEYS_UPTO (up to
 * and including a known key: $3, $4). */
static const char *SQL_KEYS_FMT =
    "SELECT to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "       r.decision_id::text "
    "FROM %s r "
    "WHERE (r.updated_at, r.decision_id::text) > ($1::timestamptz, $2::text) %s"
    "ORDER BY r.updated_at, r.decision_id::text LIMIT " ROWS_TEXT(KEY_ROWS);
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

static const char *SQL_LEGACY =
    "SELECT decision_id, kind, to_char(decided_on, 'YYYY-MM-DD'), revision, fields::text "
    "FROM epsync.decisions WHERE legacy ORDER BY decision_id LIMIT 500 FOR UPDATE";

static const char *SQL_LEGACY_DONE =
    "UPDATE epsync.decisions d SET revision = u.rev, legacy = false "
    "FROM unnest($1::text[], $2::text[]) AS u(id, rev) WHERE d.decision_id = u.id";

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
    PGresult *r;

    s->listening = false;
    if (!ch || !*ch)
        return 0;
    if (!(q = PQescapeIdentifier(c, ch, strlen(ch))))
        return err_set(e, -EINVAL, "notify_channel: %s", PQerrorMessage(c));
    struct buf sql = BUF_INIT;
    buf_printf(&sql, "LISTEN %s", q);      /* an identifier cannot be a $ parameter */
    PQfreemem(q);
    r = PQexec(c, sql.data);
    buf_free(&sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        err_set(e, -EIO, "LISTEN %s: %s", ch, PQresultErrorMessage(r));
        PQclear(r);
        return -EIO;
    }
    PQclear(r);
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
    return listen_channel(s, e);
}

static void window_clear(struct window *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->p[i].lower_id);
        free(w->p[i].upper_id);
    }
    free(w->p);
    memset(w, 0, sizeof *w);
}

static void scan_reset(source *s)
{
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

static bool same_key(const char *upd_a, const char *id_a, const char *upd_b, const char *id_b)
{
    if (strcmp(upd_a, upd_b) != 0)
        return false;
    if (!id_a || !id_b)
        return id_a == id_b;
    return strcmp(id_a, id_b) == 0;
}

/* The page of the last poll that started where this poll is now, NULL
 * when none did. */
static const struct window_page *window_from(const source *s, const char *upd, const char *id)
{
    for (size_t i = 0; i < s->prev.n; i++)
        if (same_key(s->prev.p[i].lower_upd, s->prev.p[i].lower_id, upd, id))
            return &s->prev.p[i];
    return NULL;
}

/* Row index of the first key in r that a page of the last poll started
 * from (a page boundary), -1 when none. */
static int window_boundary(const source *s, PGresult *r)
{
    if (!s->prev.n)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        if (window_from(s, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)))
            return i;
    return -1;
}

static void window_add(struct window *w, const char *lower_upd, const char *lower_id,
                       const char *upper_upd, const char *upper_id, const char *digest)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->p = xrealloc(w->p, w->cap * sizeof *w->p);
    }
    struct window_page *p = &w->p[w->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->lower_upd, sizeof p->lower_upd, "%s", lower_upd);
    snprintf(p->upper_upd, sizeof p->upper_upd, "%s", upper_upd);
    p->lower_id = lower_id ? xstrdup(lower_id) : NULL;
    p->upper_id = upper_id ? xstrdup(upper_id) : NULL;
    memcpy(p->digest, digest, sizeof p->digest);
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

static void row_clear(struct row *r)
{
    free(r->id);
    free(r->updated_at);
    free(r->state);
    json_object_put(r->fields);
    json_object_put(r->reasons);
    memset(r, 0, sizeof *r);
}

/* The legal deadline of a decision as text ("" when it has none). */
static void due_on_text(const calendar *cal, const struct config *cfg, int kind, date_t decided,
                        char out[11])
{
    out[0] = '\0';
    if (!cal || decided == DATE_NONE)
        return;
    date_format(calendar_add_workdays(cal, decided,
                                      cfg->deadline_days[kind < 0 ? KIND_OTHER : kind]), out);
}

/* Parse one source row; a row that cannot be used is reported and skipped. */
static int row_parse(struct row *r, const char *upd, const char *id, const char *json,
                     date_t today, const struct config *cfg, const calendar *cal)
{
    json_object *v;
    const char *s;

    memset(r, 0, sizeof *r);
    r->id = xstrdup(id);
    r->updated_at = xstrdup(upd);
    if (!(r->fields = json_tokener_parse(json)) || !json_object_is_type(r->fields, json_type_object))
        return -1;
    s = fields_text(r->fields, "state");
    r->state = xstrdup(s ? s : "");
    json_object_object_del(r->fields, "state");

    s = fields_text(r->fields, "kind");
    r->kind = s ? kind_parse(s) : -1;
    s = fields_text(r->fields, "decided_on");
    if (!s || date_parse(s, &r->decided_on) < 0)
        r->decided_on = DATE_NONE;
    r->confidential = json_object_object_get_ex(r->fields, "confidential", &v)
                      && json_object_get_boolean(v);
    r->reasons = json_object_new_array();
    /* The id travels in HTTP headers and URLs: control characters (a line
     * break in a header) must never reach the wire. */
    for (const char *p = r->id; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            json_object_array_add(r->reasons, json_object_new_string(
                "decision_id: contains a control character (line break, tab ...)"));
            break;
        }
    }
    if (r->kind < 0)
        json_object_array_add(r->reasons, json_object_new_string(
            "kind: not one of penalty, license, inspection, coercion, levy, other"));
    else
        validate_decision(r->fields, (enum kind)r->kind, r->decided_on, today, r->reasons);

    if (r->confidential)
        r->exclude = "confidential";
    else if (r->decided_on != DATE_NONE && mask_is_minor(r->fields, r->decided_on))
        r->exclude = "minor";
    else if (r->kind >= 0 && cfg->publicity.skip_warning_only
             && publicity_warning_only(r->fields, (enum kind)r->kind))
        r->exclude = "warning_only";
    mask_fields(r->fields);
    /* The revision is the hash of what may be published: a change to a
     * field that never leaves (a phone, an address, the hidden digits of
     * an ID number) makes no new revision, and the revision sent as the
     * idempotency key tells nothing that masking hides. */
    canon_revision(r->fields, r->revision);
    due_on_text(cal, cfg, r->kind, r->decided_on, r->due_on);
    return 0;
}

/* What the source says of row r as target t sees it; reasons is filled
 * with the validation failures joined (the caller frees it). */
static void source_view(const struct row *r, const struct target_cfg *t, struct buf *reasons,
                        struct lc_source *out)
{
    size_t n = json_object_array_length(r->reasons);
    for (size_t i = 0; i < n; i++)
        buf_printf(reasons, "%s%s", i ? "; " : "",
                   json_object_get_string(json_object_array_get_idx(r->reasons, i)));
    *out = (struct lc_source){
        .revoked = strcmp(r->state, "revoked") == 0,
        .routed = r->kind < 0 || (t->kinds & (1u << r->kind)),
        .exclude = r->exclude, .invalid = n ? buf_str(reasons) : NULL, .revision = r->revision,
    };
}

/* Arrays for the decisions of one page. */
enum { D_ID, D_KIND, D_DECIDED, D_STATE, D_CONF, D_REV, D_FIELDS, D_UPD, D_EXCL, D_REASONS, D_N };

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
    source *s;
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

static void store_init(struct store *st, source *s, struct row **chg, int n)
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
    source *s = st->s;
    bool fresh = false, room = false;
    if (!s->handoff.take)
        return;
    for (int i = 0; i < st->n; i++)
        fresh |= !st->chg[i]->known;
    for (size_t t = 0; fresh && t < s->cfg->ntargets; t++) {
        s->handoff.room(s->handoff.ctx, s->cfg->targets[t].name, &st->room_n[t], &st->room_b[t]);
        room |= st->room_n[t] > 0;
    }
    st->hand = fresh && room;
}

static void store_decision_arrays(struct store *st)
{
    for (int i = 0; i < st->n; i++) {
        struct row *r = st->chg[i];
        const char *kind = r->kind >= 0 ? kind_name((enum kind)r->kind) : fields_text(r->fields, "kind");
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
        db_array_add(&st->d[D_FIELDS], json_object_to_json_string_ext(
            r->fields, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
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
    source *s = st->s;
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
    source *s = st->s;
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
            source_view(r, tc, &pl->reasons, &src);
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
static void store_plan(struct store *st)
{
    source *s = st->s;
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
                             give ? s->handoff.owner : NULL);
            buf_printf(&det, " %s:%s->%s", target, lc_state_name(pl->h.exists ? pl->h.state : LC_NEW),
                       lc_state_name(pl->w.state));
            if (pl->w.reason)
                store_state_event(st, r, target, &pl->h, &pl->w);
            if (pl->w.state == LC_INVALID)
                log_warning("decision invalid", KV("decision", r->id), KV("target", target),
                            KVI("reasons", json_object_array_length(r->reasons)));
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
    source *s = st->s;
    json_object *idx = st->leased ? db_index_rows(st->leased, 0, 1) : NULL;
    for (size_t k = 0; k < st->nhanded; k++) {
        const struct row *r = st->chg[st->handed[k].row];
        const char *target = s->cfg->targets[st->handed[k].t].name;
        int row = db_index_find(st->stored_idx, r->id, NULL);
        int lr = db_index_find(idx, r->id, target);
        if (row < 0 || lr < 0 || PQgetisnull(st->leased, lr, 2))
            continue;
        struct handed_work w = {
            .target = target, .decision_id = r->id, .kind = r->kind, .revision = r->revision,
            .fields = PQgetvalue(st->stored, row, 1), .due_on = r->due_on,
            .lease_token = atoll(PQgetvalue(st->leased, lr, 2)),
            .lease_until = st->lease_start + s->handoff.lease_ms,
        };
        s->handoff.take(s->handoff.ctx, &w);
    }
    db_index_free(idx);
}

/* Write the changed rows of a page: decisions, deliveries, audit. */
static int store_changes(source *s, struct row **chg, int n, struct err *e)
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
    if ((rc = queue_store_wanted(s->state, &st.wanted, s->handoff.lease_ms,
                                 st.nhanded ? &st.leased : NULL, e)) < 0
        || (rc = audit_append(s->state, st.ev, st.nev, e)) < 0)
        goto fail;
    if (any && (rc = db_exec(s->state, "wake deliverers", "SELECT pg_notify('epsync_wake', '')",
                             0, NULL, NULL, e)) < 0)
        goto fail;
    if ((rc = db_commit(s->state, e)) == 0)
        store_hand_over(&st);
    goto out;
fail:
    db_rollback(s->state);
out:
    store_free(&st);
    return rc;
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
    rc = nchg ? store_changes(s, chg, nchg, e) : 0;
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
        log_error("published decision missing from source", KV("decision", PQgetvalue(r, i, 0)));
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
 * PAGE_ROWS) and process them. */
static int fetch_and_process(source *s, const char *ids, bool force, int64_t now_ms,
                             struct source_stats *st, struct err *e)
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
        rc = fetch_and_process(s, arr.data, true, now_ms, st, e);
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

/* The digest of keys[0..n-1] (see struct window_page). */
static void keys_digest(PGresult *keys, int n, char out[65])
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s\x1f%s\x1e", PQgetvalue(keys, i, 0), PQgetvalue(keys, i, 1));
    sign_sha256_hex(b.data ? b.data : "", b.len, out);
    buf_free(&b);
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
            if ((rc = fetch_and_process(s, chunk.data, false, now_ms, st, e)) < 0)
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

/* One page of keys of a poll.  Where the last poll read a page from the
 * same position, this one reads up to the same end and skips the state
 * database when the keys are the same; elsewhere it reads KEY_ROWS keys,
 * stopping short at the start of a page of the last poll so that the
 * next page lines up.  Returns 1 when more keys may follow, 0 when the
 * window is read, negative on error. */
static int poll_keys_page(source *s, const char *keys_sql, const char *upto_sql, int64_t now_ms,
                          struct source_stats *st, struct err *e)
{
    const struct window_page *same = window_from(s, s->scan.after_upd, s->scan.after_id);
    char lower_upd[40], digest[65];
    char *lower_id = s->scan.after_id ? xstrdup(s->scan.after_id) : NULL;
    PGresult *keys = NULL;
    int rc, n, more;
    bool whole = false;

    snprintf(lower_upd, sizeof lower_upd, "%s", s->scan.after_upd);
    if (same) {
        const char *p[4] = { s->scan.after_upd, s->scan.after_id, same->upper_upd, same->upper_id };
        rc = db_exec(s->src, "read the source", upto_sql, 4, p, &keys, e);
    } else {
        const char *p[2] = { s->scan.after_upd, s->scan.after_id };
        rc = db_exec(s->src, "read the source", keys_sql, 2, p, &keys, e);
    }
    if (rc < 0)
        goto out;
    n = PQntuples(keys);
    if (same) {
        whole = n < KEY_ROWS || same_key(PQgetvalue(keys, n - 1, 0), PQgetvalue(keys, n - 1, 1),
                                         same->upper_upd, same->upper_id);
        more = 1;
    } else {
        int k = window_boundary(s, keys);
        more = k >= 0 || n == KEY_ROWS;
        if (k >= 0)
            n = k + 1;
        if (n == 0)
            goto out;
    }
    keys_digest(keys, n, digest);
    st->scanned += n;
    if (!(whole && strcmp(digest, same->digest) == 0)
        && n > 0 && (rc = check_keys(s, keys, n, now_ms, st, e)) < 0)
        goto out;

    /* Move on: to the end of the range when it was read whole (its last
     * key may have moved away since), else to the last key read. */
    free(s->scan.after_id);
    if (whole) {
        snprintf(s->scan.after_upd, sizeof s->scan.after_upd, "%s", same->upper_upd);
        s->scan.after_id = same->upper_id ? xstrdup(same->upper_id) : NULL;
    } else {
        snprintf(s->scan.after_upd, sizeof s->scan.after_upd, "%s", PQgetvalue(keys, n - 1, 0));
        s->scan.after_id = xstrdup(PQgetvalue(keys, n - 1, 1));
    }
    if (strcmp(s->scan.after_upd, s->scan.high) > 0)
        snprintf(s->scan.high, sizeof s->scan.high, "%s", s->scan.after_upd);
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
    struct page *pg = xcalloc(1, sizeof *pg);
    PGresult *r = NULL;
    bool finished = false;
    int rc = 0;

    memset(st, 0, sizeof *st);
    if (!s->scan.active && (rc = scan_begin(s, reconcile, e)) < 0)
        goto out;
    if (!s->scan.reconcile) {
        struct buf upto = BUF_INIT;
        buf_printf(&sql, SQL_KEYS_FMT, s->relation, "");
        buf_printf(&upto, SQL_KEYS_FMT, s->relation, SQL_KEYS_UPTO);
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
    /* The reconcile reads every row whole and compares revisions. */
    buf_printf(&sql, SQL_PAGE_FMT, s->relation);
    for (int pages = 0; pages < SCAN_PAGES_PER_CALL; pages++) {
        const char *p[2] = { s->scan.after_upd, s->scan.after_id };
        if ((rc = db_exec(s->src, "read the source", sql.data, 2, p, &r, e)) < 0)
            goto out;
        int rows = read_page(s, r, pg, now_ms);
        if (rows > 0) {
            snprintf(s->scan.after_upd, sizeof s->scan.after_upd, "%s", PQgetvalue(r, rows - 1, 0));
            free(s->scan.after_id);
            s->scan.after_id = xstrdup(PQgetvalue(r, rows - 1, 1));
            if (strcmp(s->scan.after_upd, s->scan.high) > 0)
                snprintf(s->scan.high, sizeof s->scan.high, "%s", s->scan.after_upd);
        }
        PQclear(r);
        r = NULL;
        if (rows > 0 && (rc = process_page(s, pg, false, st, e)) < 0)
            goto out;
        if (rows > 0 && s->scan.reconcile && (rc = mark_seen(s, pg, s->scan.start, e)) < 0)
            goto out;
        page_clear(pg);
        if (rows < PAGE_ROWS) {
            finished = true;
            break;
        }
    }
done:
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
    page_clear(pg);
    free(pg);
    buf_free(&sql);
    return rc;
}

/* Decisions stored before schema version 3 carry a revision of the
 * unmasked field set.  Their revision is recomputed from the stored
 * (masked) fields — the same set the revision of a row read now covers —
 * and rows that wanted or held the old one say the new one: nothing is
 * sent for it, the audit says "revision rebased".  Their deadline is set
 * too.  Returns how many were rebased (0: none left). */
static int rebase_legacy(source *s, struct err *e)
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
        canon_revision(f, rev);
        json_object_put(f);
        if (PQgetisnull(r, i, 2) || date_parse(PQgetvalue(r, i, 2), &decided) < 0)
            decided = DATE_NONE;
        due_on_text(s->cal, s->cfg, kind_parse(kind), decided, due);
        db_array_add(&ids, PQgetvalue(r, i, 0));
        db_array_add(&olds, PQgetvalue(r, i, 3));
        db_array_add(&news, rev);
        db_array_add(&dues, due[0] ? due : NULL);
        snprintf(det[i], sizeof det[i], "revision rebased %.12s->%.12s (masked field set)",
                 PQgetvalue(r, i, 3), rev);
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

int source_poll(source *s, bool reconcile, int64_t now_ms, struct source_stats *st,
                struct err *e)
{
    if (!s->legacy_done) {
        memset(st, 0, sizeof *st);
        int n = rebase_legacy(s, e);
        if (n != 0)
            return n < 0 ? n : 1;   /* more to rebase before the pass */
        s->legacy_done = true;
    }
    return poll_pass(s, reconcile, now_ms, st, e);
}

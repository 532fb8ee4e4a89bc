/* report.c - the sync-status report: read, categorise, aggregate.
 *
 * One query joins the decisions of the period with their deliveries and
 * is read through a cursor in chunks, ordered by decision, so one
 * decision's rows arrive together.  Each decision becomes a struct
 * report_row: one cell per reported target, each cell in exactly one
 * category (report_categorise, the only place the rule lives).  The row
 * goes to the format's writer (CSV and JSON write it out at once) and
 * into the model (sums, weekly series, needs-a-human list), from which
 * every format prints its numbers.
 *
 * All of it runs in one REPEATABLE READ, READ ONLY transaction, so the
 * numbers are those of one snapshot even while daemons keep working.
 */
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "clock.h"
#include "db.h"

/* ---- categorisation (pure) ------------------------------------------ */

/* How a delivery state maps to a category.  DATED states depend on
 * whether the pair was ever published and on the deadline. */
enum { FIXED, DATED };

static const struct state_rule {
    const char *state;
    int how;
    enum report_cat cat;       /* FIXED: the category; DATED: when not yet due */
} state_rules[] = {
    { "published",        DATED, RCAT_PENDING },
    { "pending",          DATED, RCAT_PENDING },
    { "retry",            DATED, RCAT_RETRY },
    { "rejected",         FIXED, RCAT_REJECTED },
    { "invalid",          FIXED, RCAT_INVALID },
    { "excluded",         FIXED, RCAT_EXCLUDED },
    { "cancelled",        FIXED, RCAT_CANCELLED },
    { "withdrawn",        FIXED, RCAT_WITHDRAWN },
    { "withdraw_pending", FIXED, RCAT_WITHDRAW_PENDING },
};

static const char *const cat_keys[RCAT_COUNT] = {
    [RCAT_ON_TIME] = "published_on_time", [RCAT_LATE] = "published_late",
    [RCAT_PENDING] = "pending", [RCAT_RETRY] = "retry", [RCAT_OVERDUE] = "overdue",
    [RCAT_REJECTED] = "rejected", [RCAT_INVALID] = "invalid", [RCAT_EXCLUDED] = "excluded",
    [RCAT_CANCELLED] = "cancelled", [RCAT_WITHDRAWN] = "withdrawn",
    [RCAT_WITHDRAW_PENDING] = "withdraw_pending",
};

static const char *const issue_keys[RISSUE_COUNT] = {
    [RISSUE_OVERDUE] = "overdue", [RISSUE_REJECTED] = "rejected",
    [RISSUE_INVALID] = "invalid", [RISSUE_MISSING] = "missing_from_source",
};

const char *report_cat_key(enum report_cat c) { return c < RCAT_COUNT ? cat_keys[c] : "?"; }
const char *report_issue_key(enum report_issue i) { return i < RISSUE_COUNT ? issue_keys[i] : "?"; }

static enum report_cat dated(date_t first_published, bool was_published_state,
                             enum report_cat waiting, date_t due_on, date_t today)
{
    if (first_published != DATE_NONE)
        return first_published <= due_on ? RCAT_ON_TIME : RCAT_LATE;
    /* A "published" row without a first publication time cannot prove it
     * was on time; the legal department must not read it as such. */
    if (was_published_state)
        return RCAT_LATE;
    return today > due_on ? RCAT_OVERDUE : waiting;
}

enum report_cat report_categorise(const struct report_facts *f)
{
    if (!f->state) {
        /* No delivery row yet: what the decision row says decides. */
        if (!f->routed || f->excluded_decision)
            return RCAT_EXCLUDED;
        if (f->invalid_decision)
            return RCAT_INVALID;
        return dated(DATE_NONE, false, RCAT_PENDING, f->due_on, f->today);
    }
    for (size_t i = 0; i < sizeof state_rules / sizeof state_rules[0]; i++) {
        const struct state_rule *r = &state_rules[i];
        if (strcmp(r->state, f->state) != 0)
            continue;
        if (r->how == FIXED)
            return r->cat;
        return dated(f->first_published, strcmp(f->state, "published") == 0, r->cat,
                     f->due_on, f->today);
    }
    /* The schema's CHECK constraint admits no other state; should one
     * appear, it is still work not done. */
    return dated(f->first_published, false, RCAT_PENDING, f->due_on, f->today);
}

/* ---- dates and times (pure) ------------------------------------------ */

void report_iso_week(date_t day, char out[9])
{
    date_t thursday = day - date_weekday(day) + 3;   /* the ISO year is the Thursday's */
    int y, m, d;
    date_to_ymd(thursday, &y, &m, &d);
    int week = (thursday - date_from_ymd(y, 1, 1)) / 7 + 1;
    snprintf(out, 9, "%04u-W%02u", (unsigned)y % 10000u, (unsigned)week % 100u);
}

void report_ts_cst(int64_t unix_ms, char out[32])
{
    int64_t s = unix_ms / 1000 - (unix_ms % 1000 < 0) + 8 * 3600;
    int64_t days = s / 86400 - (s % 86400 < 0);
    int64_t sec = s - days * 86400;
    int y, m, d;
    date_to_ymd((date_t)days, &y, &m, &d);
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u+08:00", (unsigned)y % 10000u,
             (unsigned)m % 100u, (unsigned)d % 100u, (unsigned)(sec / 3600),
             (unsigned)(sec / 60 % 60), (unsigned)(sec % 60));
}

/* ---- the model -------------------------------------------------------- */

struct report_model *report_model_new(date_t from, date_t to, date_t today, int64_t now_ms,
                                      enum report_lang lang, const char *const *targets,
                                      size_t ntargets)
{
    struct report_model *m = xcalloc(1, sizeof *m);
    m->generated_ms = now_ms;
    m->from = from;
    m->to = to;
    m->today = today;
    m->lang = lang;
    m->ntargets = ntargets;
    m->targets = xcalloc(ntargets ? ntargets : 1, sizeof *m->targets);
    for (size_t i = 0; i < ntargets; i++)
        m->targets[i].name = xstrdup(targets[i]);
    m->week0 = from - date_weekday(from);
    m->nweeks = to >= from ? (size_t)((to - m->week0) / 7 + 1) : 0;
    m->weeks = xcalloc(m->nweeks ? m->nweeks : 1, sizeof *m->weeks);
    return m;
}

void report_model_free(struct report_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ntargets; i++)
        free(m->targets[i].name);
    free(m->targets);
    for (size_t i = 0; i < m->nattn; i++) {
        struct report_attention *a = &m->attn[i];
        free(a->decision_id);
        free(a->kind);
        free(a->target);
        free(a->reason);
        free(a->missing_since);
    }
    free(m->attn);
    for (size_t i = 0; i < m->nwarnings; i++)
        free(m->warnings[i]);
    free(m->warnings);
    free(m->weeks);
    free(m);
}

void report_model_warn(struct report_model *m, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    m->warnings = xrealloc(m->warnings, (m->nwarnings + 1) * sizeof *m->warnings);
    m->warnings[m->nwarnings++] = buf_steal(&b);
}

/* The week of day, growing the series past `to` on demand: decisions of
 * the period's last weeks are published, or fall due, after it.  Capped
 * at a year past `to`. */
static struct report_week *week_of(struct report_model *m, date_t day)
{
    if (day == DATE_NONE || day < m->week0 || day > m->to + 366)
        return NULL;
    size_t i = (size_t)((day - m->week0) / 7);
    if (i >= m->nweeks) {
        m->weeks = xrealloc(m->weeks, (i + 1) * sizeof *m->weeks);
        memset(m->weeks + m->nweeks, 0, (i + 1 - m->nweeks) * sizeof *m->weeks);
        m->nweeks = i + 1;
    }
    return &m->weeks[i];
}

static void attention_add(struct report_model *m, const struct report_row *r,
                          const struct report_cell *c, enum report_issue issue)
{
    if (m->nattn == m->capattn) {
        m->capattn = m->capattn ? m->capattn * 2 : 64;
        m->attn = xrealloc(m->attn, m->capattn * sizeof *m->attn);
    }
    struct report_attention *a = &m->attn[m->nattn++];
    memset(a, 0, sizeof *a);
    a->decision_id = xstrdup(r->decision_id);
    a->kind = xstrdup(r->kind);
    a->issue = issue;
    a->decided_on = r->decided_on;
    a->due_on = r->due_on;
    if (c) {
        a->target = xstrdup(c->target);
        a->reason = xstrdup(c->reason);
        a->attempts = c->attempts;
    } else {
        a->missing_since = xstrdup(r->missing_since);
    }
}

static const int cat_issue[RCAT_COUNT] = {
    [RCAT_ON_TIME] = -1, [RCAT_LATE] = -1, [RCAT_PENDING] = -1, [RCAT_RETRY] = -1,
    [RCAT_OVERDUE] = RISSUE_OVERDUE, [RCAT_REJECTED] = RISSUE_REJECTED,
    [RCAT_INVALID] = RISSUE_INVALID, [RCAT_EXCLUDED] = -1, [RCAT_CANCELLED] = -1,
    [RCAT_WITHDRAWN] = -1, [RCAT_WITHDRAW_PENDING] = -1,
};

void report_model_add(struct report_model *m, const struct report_row *r)
{
    struct report_week *w;

    m->ndecisions++;
    for (size_t i = 0; i < r->ncells; i++) {
        const struct report_cell *c = &r->cells[i];
        struct report_target_sum *t = NULL;
        for (size_t k = 0; k < m->ntargets && !t; k++)
            if (strcmp(m->targets[k].name, c->target) == 0)
                t = &m->targets[k];
        if (!t || c->cat >= RCAT_COUNT)
            continue;
        t->n[c->cat]++;
        t->in_scope++;
        if ((c->cat == RCAT_ON_TIME || c->cat == RCAT_LATE) && (w = week_of(m, c->published_on)))
            w->published++;
        if ((c->cat == RCAT_LATE || c->cat == RCAT_OVERDUE) && (w = week_of(m, r->due_on)))
            w->overdue++;
        if (cat_issue[c->cat] >= 0)
            attention_add(m, r, c, (enum report_issue)cat_issue[c->cat]);
    }
    if (r->missing_since)
        attention_add(m, r, NULL, RISSUE_MISSING);
}

/* The needs-a-human list by issue, then the oldest deadline first. */
static int attention_cmp(const void *pa, const void *pb)
{
    const struct report_attention *a = pa, *b = pb;
    int c;
    if (a->issue != b->issue)
        return a->issue < b->issue ? -1 : 1;
    if (a->due_on != b->due_on)
        return a->due_on < b->due_on ? -1 : 1;
    if ((c = strcmp(a->decision_id, b->decision_id)) != 0)
        return c;
    return strcmp(a->target ? a->target : "", b->target ? b->target : "");
}

void report_model_done(struct report_model *m)
{
    if (m->nattn > 1)
        qsort(m->attn, m->nattn, sizeof *m->attn, attention_cmp);
}

/* ---- reading the state database ----------------------------------------- */

/* Instants come as Unix milliseconds so the CST date is computed here,
 * independent of the server's time zone. */
static const char *SQL_DECLARE =
    "DECLARE report_rows NO SCROLL CURSOR FOR "
    "SELECT d.decision_id, d.kind, d.decided_on::text, d.exclude_reason, "
    "       array_to_string(d.invalid_reasons, '; '), "
    "       (extract(epoch FROM d.missing_since) * 1000)::bigint, "
    "       dl.target, dl.state, (extract(epoch FROM dl.first_published_at) * 1000)::bigint, "
    "       dl.receipt, dl.total_attempts, dl.last_error, dl.reason "
    "FROM epsync.decisions d "
    "LEFT JOIN epsync.deliveries dl ON dl.decision_id = d.decision_id "
    "     AND ($3::text IS NULL OR dl.target = $3::text) "
    "WHERE d.decided_on BETWEEN $1::date AND $2::date "
    "ORDER BY d.decision_id, dl.target";

/* Ordered by decision_id, the join can walk both primary keys (a merge
 * join that streams from the first row, no sort); should the planner
 * sort anyway, 200,000 rows sort in memory rather than on disk. */
static const char *SQL_TUNING = "SELECT set_config('work_mem', '64MB', true)";

static const char *SQL_FETCH = "FETCH FORWARD 5000 FROM report_rows";

static const char *SQL_UNDATED =
    "SELECT count(*) FROM epsync.decisions WHERE decided_on IS NULL";

enum { C_ID, C_KIND, C_DECIDED, C_EXCLUDE, C_INVALID, C_MISSING, C_TARGET, C_STATE,
       C_FIRST_PUB, C_RECEIPT, C_ATTEMPTS, C_LAST_ERROR, C_REASON };

/* The delivery row of one target, copied out of the chunk (a decision's
 * rows may straddle two FETCHes). */
struct cell_src {
    bool present;
    char *state, *receipt, *last_error, *reason;
    int64_t first_pub_ms;
    bool has_first_pub;
    long attempts;
};

struct stream {
    const struct config *cfg;
    const calendar *cal;
    struct report_model *m;
    report_writer *w;
    date_t today;

    bool have;                 /* a decision is being collected */
    char *id, *kind, *exclude, *invalid;
    date_t decided_on;
    int64_t missing_ms;
    bool missing;
    struct cell_src *cells;    /* one per model target */

    bool uncovered[400];       /* years 1900..2299 the calendar does not cover */
};

static char *dup_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

static void stream_clear(struct stream *s)
{
    free(s->id);
    free(s->kind);
    free(s->exclude);
    free(s->invalid);
    s->id = s->kind = s->exclude = s->invalid = NULL;
    for (size_t i = 0; i < s->m->ntargets; i++) {
        struct cell_src *c = &s->cells[i];
        free(c->state);
        free(c->receipt);
        free(c->last_error);
        free(c->reason);
        memset(c, 0, sizeof *c);
    }
    s->have = false;
}

static void note_year(struct stream *s, date_t day)
{
    int y, m, d;
    date_to_ymd(day, &y, &m, &d);
    if (y >= 1900 && y < 2300 && !calendar_covers(s->cal, y))
        s->uncovered[y - 1900] = true;
}

/* What a human reads as the reason: the platform's words when it said
 * something, else our own record of why. */
static const char *cell_reason(const struct stream *s, const struct cell_src *c, enum report_cat cat)
{
    if (!c->present)
        return cat == RCAT_INVALID ? s->invalid : cat == RCAT_EXCLUDED ? s->exclude : NULL;
    if (cat == RCAT_INVALID)
        return c->reason ? c->reason : s->invalid;
    if (c->last_error && (cat == RCAT_REJECTED || cat == RCAT_OVERDUE || cat == RCAT_RETRY))
        return c->last_error;
    return c->reason;
}

static int stream_flush(struct stream *s, struct err *e)
{
    const struct report_model *m = s->m;
    struct report_cell cells[m->ntargets ? m->ntargets : 1];
    char published_at[m->ntargets ? m->ntargets : 1][32];
    char missing[32];
    int k = kind_parse(s->kind);
    size_t n = 0;
    int rc;

    if (!s->have)
        return 0;
    if (k < 0)
        k = KIND_OTHER;
    date_t due = calendar_add_workdays(s->cal, s->decided_on, s->cfg->deadline_days[k]);
    note_year(s, s->decided_on);
    note_year(s, due);

    for (size_t i = 0; i < m->ntargets; i++) {
        const struct cell_src *src = &s->cells[i];
        const struct target_cfg *t = config_target(s->cfg, m->targets[i].name);
        /* A target that is switched off is not owed anything new; its
         * existing rows are still reported. */
        if (!src->present && (!t || !t->enabled))
            continue;
        struct report_facts f = {
            .state = src->present ? src->state : NULL,
            .first_published = src->has_first_pub ? date_cst(src->first_pub_ms) : DATE_NONE,
            .due_on = due, .today = s->today,
            .routed = t && (t->kinds & (1u << k)),
            .excluded_decision = s->exclude != NULL,
            .invalid_decision = s->invalid != NULL && *s->invalid,
        };
        struct report_cell *c = &cells[n];
        c->target = m->targets[i].name;
        c->state = f.state;
        c->cat = report_categorise(&f);
        c->published_on = f.first_published;
        c->published_at = NULL;
        if (src->has_first_pub) {
            report_ts_cst(src->first_pub_ms, published_at[n]);
            c->published_at = published_at[n];
        }
        c->receipt = src->receipt;
        c->attempts = src->attempts;
        c->last_error = src->last_error;
        c->reason = cell_reason(s, src, c->cat);
        n++;
    }
    if (s->missing)
        report_ts_cst(s->missing_ms, missing);
    struct report_row row = {
        .decision_id = s->id, .kind = s->kind, .decided_on = s->decided_on, .due_on = due,
        .missing_since = s->missing ? missing : NULL, .cells = cells, .ncells = n,
    };
    rc = report_writer_row(s->w, &row, e);
    report_model_add(s->m, &row);
    stream_clear(s);
    return rc;
}

static int stream_take(struct stream *s, const PGresult *r, int row, struct err *e)
{
    const char *id = PQgetvalue(r, row, C_ID);
    int rc;

    if (!s->have || strcmp(s->id, id) != 0) {
        if ((rc = stream_flush(s, e)) < 0)
            return rc;
        s->have = true;
        s->id = xstrdup(id);
        s->kind = xstrdup(PQgetvalue(r, row, C_KIND));
        s->exclude = dup_or_null(r, row, C_EXCLUDE);
        s->invalid = dup_or_null(r, row, C_INVALID);
        if (date_parse(PQgetvalue(r, row, C_DECIDED), &s->decided_on) < 0)
            return err_set(e, -EPROTO, "report: decision %s: unreadable decided_on \"%s\"",
                           id, PQgetvalue(r, row, C_DECIDED));
        s->missing = !PQgetisnull(r, row, C_MISSING);
        s->missing_ms = s->missing ? strtoll(PQgetvalue(r, row, C_MISSING), NULL, 10) : 0;
    }
    if (PQgetisnull(r, row, C_TARGET))
        return 0;
    const char *target = PQgetvalue(r, row, C_TARGET);
    for (size_t i = 0; i < s->m->ntargets; i++) {
        struct cell_src *c = &s->cells[i];
        if (strcmp(s->m->targets[i].name, target) != 0)
            continue;
        c->present = true;
        c->state = dup_or_null(r, row, C_STATE);
        c->receipt = dup_or_null(r, row, C_RECEIPT);
        c->last_error = dup_or_null(r, row, C_LAST_ERROR);
        c->reason = dup_or_null(r, row, C_REASON);
        c->has_first_pub = !PQgetisnull(r, row, C_FIRST_PUB);
        c->first_pub_ms = c->has_first_pub ? strtoll(PQgetvalue(r, row, C_FIRST_PUB), NULL, 10) : 0;
        c->attempts = strtol(PQgetvalue(r, row, C_ATTEMPTS), NULL, 10);
        break;
    }
    return 0;
}

/* Send the next FETCH without waiting for it. */
static int fetch_send(db *d, struct err *e)
{
    if (!PQsendQueryParams(db_conn(d), SQL_FETCH, 0, NULL, NULL, NULL, NULL, 0))
        return err_set(e, -EIO, "report: read decisions: %s", PQerrorMessage(db_conn(d)));
    return 0;
}

/* The answer to the FETCH in flight (NULL and e set on error). */
static PGresult *fetch_take(db *d, struct err *e)
{
    PGresult *r, *res = NULL;
    while ((r = PQgetResult(db_conn(d)))) {
        if (!res && PQresultStatus(r) == PGRES_TUPLES_OK) {
            res = r;
            continue;
        }
        if (!res || PQresultStatus(r) != PGRES_TUPLES_OK)
            err_set(e, -EIO, "report: read decisions: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    if (!res && !(e && e->msg[0]))
        err_set(e, -EIO, "report: read decisions: %s", PQerrorMessage(db_conn(d)));
    return res;
}

/* The cursor is read one chunk ahead: the server produces the next chunk
 * while this process turns the current one into rows, so the two work
 * side by side instead of taking turns. */
static int stream_all(db *d, struct stream *s, const char *from, const char *to,
                      const char *target, struct err *e)
{
    const char *params[3] = { from, to, target };
    PGresult *r = NULL;
    int rc;

    if ((rc = db_exec(d, "report: open cursor", SQL_DECLARE, 3, params, NULL, e)) < 0)
        return rc;
    if ((rc = fetch_send(d, e)) < 0)
        return rc;
    for (;;) {
        if (!(r = fetch_take(d, e)))
            return -EIO;
        int n = PQntuples(r);
        if (n > 0 && (rc = fetch_send(d, e)) < 0) {
            PQclear(r);
            return rc;
        }
        for (int i = 0; i < n && rc == 0; i++)
            rc = stream_take(s, r, i, e);
        PQclear(r);
        if (rc < 0) {
            if (n > 0)             /* drain the FETCH in flight */
                PQclear(fetch_take(d, NULL));
            return rc;
        }
        if (n == 0)
            break;
    }
    if ((rc = stream_flush(s, e)) < 0)
        return rc;
    if ((rc = db_exec(d, "report: count undated decisions", SQL_UNDATED, 0, NULL, &r, e)) < 0)
        return rc;
    long undated = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (undated > 0)
        report_model_warn(s->m, s->m->lang == RLANG_ZH
                          ? "%ld 件决定没有决定日期，不在任何报告期内（检查案件系统中的记录）"
                          : "%ld decision(s) have no decision date and fall in no report period "
                            "(check the records in the case system)", undated);
    return 0;
}

/* ---- the command ---------------------------------------------------- */

struct report_opts {
    date_t from, to;
    const char *target;
    enum report_format format;
    enum report_lang lang;
    const char *out;
};

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "epsync report: %s\n", why);
    fprintf(stderr, "usage: epsync report [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--target T]\n"
                    "                     [--format text|csv|json|html] [--lang zh|en] [-o FILE]\n");
    return EX_USAGE_;
}

static int parse_args(const struct config *cfg, int argc, char **argv, date_t today,
                      struct report_opts *o)
{
    static const struct option longopts[] = {
        { "from", required_argument, NULL, 'f' }, { "to", required_argument, NULL, 't' },
        { "target", required_argument, NULL, 'T' }, { "format", required_argument, NULL, 'F' },
        { "lang", required_argument, NULL, 'l' }, { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int y, m, d, c, v;
    char msg[300];

    date_to_ymd(today, &y, &m, &d);
    *o = (struct report_opts){ .from = date_from_ymd(y, 1, 1), .to = today,
                               .format = RFMT_TEXT, .lang = RLANG_ZH };
    optind = 0;            /* glibc: 0 also resets the permutation mode main() chose */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': case 't':
            if (date_parse(optarg, c == 'f' ? &o->from : &o->to) < 0) {
                snprintf(msg, sizeof msg, "--%s: \"%s\" is not a date (YYYY-MM-DD)",
                         c == 'f' ? "from" : "to", optarg);
                return usage(msg);
            }
            break;
        case 'T':
            if (!config_target(cfg, optarg)) {
                snprintf(msg, sizeof msg, "--target: no target \"%s\" in %s", optarg,
                         cfg->path ? cfg->path : "the configuration");
                return usage(msg);
            }
            o->target = optarg;
            break;
        case 'F':
            if ((v = report_format_parse(optarg)) < 0) {
                snprintf(msg, sizeof msg, "--format: \"%s\" is not one of text, csv, json, html",
                         optarg);
                return usage(msg);
            }
            o->format = (enum report_format)v;
            break;
        case 'l':
            if ((v = report_lang_parse(optarg)) < 0) {
                snprintf(msg, sizeof msg, "--lang: \"%s\" is not zh or en", optarg);
                return usage(msg);
            }
            o->lang = (enum report_lang)v;
            break;
        case 'o': o->out = optarg; break;
        case 'h': usage(NULL); return -1;
        default:
            snprintf(msg, sizeof msg, "unknown or incomplete option \"%s\"", argv[optind - 1]);
            return usage(msg);
        }
    }
    if (optind < argc) {
        snprintf(msg, sizeof msg, "unexpected argument \"%s\"", argv[optind]);
        return usage(msg);
    }
    if (o->from > o->to)
        return usage("--from is after --to");
    return 0;
}

static void warn_calendar(struct stream *s, const struct report_opts *o)
{
    int y0, y1, m, d;
    date_to_ymd(o->from, &y0, &m, &d);
    date_to_ymd(o->to, &y1, &m, &d);
    for (int y = y0; y <= y1; y++)
        note_year(s, date_from_ymd(y, 6, 1));
    for (int y = 0; y < 400; y++)
        if (s->uncovered[y])
            report_model_warn(s->m, s->m->lang == RLANG_ZH
                ? "节假日日历未包含 %d 年：该年的期限只按周末计算，可能不准确（在日历文件中补充该年安排）"
                : "the holiday calendar does not cover %d: deadlines in that year count weekends "
                  "only and may be wrong (add the year to the calendar file)", 1900 + y);
}

int report_main(const struct config *cfg, int argc, char **argv)
{
    int64_t now = clock_wall_ms();
    date_t today = date_cst(now);
    struct report_opts o;
    struct err e = { 0 };
    calendar *cal = NULL;
    db *d = NULL;
    FILE *f = NULL;
    char *tmp = NULL;
    const char **names = NULL;
    struct stream s = { 0 };
    char from[11], to[11];
    int rc, ex = EX_FAIL;

    if ((rc = parse_args(cfg, argc, argv, today, &o)) != 0)
        return rc < 0 ? EX_OK_ : rc;
    if (calendar_load(&cal, cfg->calendar, &e) < 0) {
        fprintf(stderr, "epsync report: %s\n", e.msg);
        return EX_FAIL;
    }
    if (db_open(&d, cfg->database.state, "state database", &e) < 0 ||
        db_check_schema(d, &e) < 0) {
        fprintf(stderr, "epsync report: %s\n", e.msg);
        ex = EX_UNAVAILABLE_;
        goto out;
    }

    size_t nt = o.target ? 1 : cfg->ntargets;
    names = xcalloc(nt ? nt : 1, sizeof *names);
    for (size_t i = 0; i < nt; i++)
        names[i] = o.target ? o.target : cfg->targets[i].name;
    s = (struct stream){ .cfg = cfg, .cal = cal, .today = today };
    s.m = report_model_new(o.from, o.to, today, now, o.lang, names, nt);
    s.m->small_fine_person_yuan = cfg->publicity.small_fine_person_yuan;
    s.m->small_fine_org_yuan = cfg->publicity.small_fine_org_yuan;
    s.cells = xcalloc(nt ? nt : 1, sizeof *s.cells);

    if (o.out) {
        struct buf b = BUF_INIT;
        buf_printf(&b, "%s.tmp.%ld", o.out, (long)getpid());
        tmp = buf_steal(&b);
        if (!(f = fopen(tmp, "w"))) {
            fprintf(stderr, "epsync report: cannot write %s: %s\n", tmp, strerror(errno));
            goto out;
        }
    }
    if (report_writer_open(&s.w, o.format, o.lang, f ? f : stdout, &e) < 0)
        goto fail;

    date_format(o.from, from);
    date_format(o.to, to);
    if (db_exec(d, "report: begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                0, NULL, NULL, &e) < 0 ||
        db_exec(d, "report: session settings", SQL_TUNING, 0, NULL, NULL, &e) < 0 ||
        stream_all(d, &s, from, to, o.target, &e) < 0) {
        if (db_broken(d))
            ex = EX_UNAVAILABLE_;
        goto fail;
    }
    db_rollback(d);            /* read only: nothing to commit */
    warn_calendar(&s, &o);
    report_model_done(s.m);
    if (report_writer_finish(s.w, s.m, &e) < 0)
        goto fail;
    if (f) {
        int bad = ferror(f);
        if (fclose(f) != 0 || bad) {
            f = NULL;
            err_set(&e, -EIO, "cannot write %s: %s", tmp, strerror(errno));
            goto fail;
        }
        f = NULL;
        if (rename(tmp, o.out) < 0) {
            err_set(&e, -errno, "cannot rename %s to %s: %s", tmp, o.out, strerror(errno));
            goto fail;
        }
    } else if (fflush(stdout) != 0) {
        err_set(&e, -EIO, "cannot write the report: %s", strerror(errno));
        goto fail;
    }
    ex = EX_OK_;
    goto out;
fail:
    fprintf(stderr, "epsync report: %s\n", e.msg);
out:
    if (f)
        fclose(f);
    if (tmp && ex != EX_OK_)
        unlink(tmp);
    free(tmp);
    report_writer_free(s.w);
    if (s.m) {
        stream_clear(&s);
        report_model_free(s.m);
    }
    free(s.cells);
    free(names);
    db_close(d);
    calendar_free(cal);
    return ex;
}

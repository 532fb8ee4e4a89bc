/* report_db.c - the report's reading of the state database and the
 * command itself.
 *
 * One query joins the decisions of the period with their deliveries and
 * is read through a cursor in chunks, ordered by decision, so one
 * decision's rows arrive together.  Pairs that may be late or missed
 * (never published, or first published later than the shortest deadline
 * allows) bring their recorded history along (delivery_history, as a JSON
 * array), from which the cause of the lateness is read; with --as-of every
 * pair brings it, and the state at the end of that day is taken from it.
 *
 * All of it runs in one REPEATABLE READ, READ ONLY transaction, so the
 * numbers are those of one snapshot even while daemons keep working.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "clock.h"
#include "db.h"

/* ---- reading the state database ----------------------------------------- */

/* Instants come as Unix milliseconds so the CST date is computed here,
 * independent of the server's time zone. */
/* $1 $2 the period, $3 the target or NULL, $4 the end of the --as-of day
 * or NULL, $5 the kind or NULL, $6 the shortest deadline in days.  The
 * history subquery's first condition names only the outer row, so for a
 * pair published in good time it is a one-time filter and costs nothing. */
static const char *SQL_DECLARE =
    "DECLARE report_rows NO SCROLL CURSOR FOR "
    "SELECT d.decision_id, d.kind, d.decided_on::text, d.exclude_reason, "
    "       array_to_string(d.invalid_reasons, '; '), "
    "       (extract(epoch FROM d.missing_since) * 1000)::bigint, "
    "       dl.target, dl.state, (extract(epoch FROM dl.first_published_at) * 1000)::bigint, "
    "       dl.receipt, dl.total_attempts, dl.last_error, dl.reason, "
    "       (extract(epoch FROM d.first_seen_at) * 1000)::bigint, h.hist "
    "FROM epsync.decisions d "
    "LEFT JOIN epsync.deliveries dl ON dl.decision_id = d.decision_id "
    "     AND ($3::text IS NULL OR dl.target = $3::text) "
    "LEFT JOIN LATERAL ("
    "  SELECT json_agg(json_build_array((extract(epoch FROM x.at) * 1000)::bigint, x.state, "
    "                                   x.reason, x.last_error) ORDER BY x.at, x.id) AS hist "
    "  FROM epsync.delivery_history x "
    "  WHERE ($4::timestamptz IS NOT NULL OR dl.first_published_at IS NULL "
    "         OR (dl.first_published_at AT TIME ZONE 'Asia/Shanghai')::date "
    "            > d.decided_on + $6::integer) "
    "    AND x.decision_id = dl.decision_id AND x.target = dl.target "
    "    AND ($4::timestamptz IS NULL OR x.at < $4::timestamptz)) h ON true "
    "WHERE d.decided_on BETWEEN $1::date AND $2::date "
    "  AND ($4::timestamptz IS NULL OR d.first_seen_at < $4::timestamptz) "
    "  AND ($5::text IS NULL OR d.kind = $5::text) "
    "ORDER BY d.decision_id, dl.target";

/* Ordered by decision_id, the join can walk both primary keys (a merge
 * join that streams from the first row, no sort); should the planner
 * sort anyway, 200,000 rows sort in memory rather than on disk.  The
 * history subquery makes the plan look expensive; compiling it (JIT)
 * would cost seconds and save nothing. */
static const char *SQL_TUNING = "SELECT set_config('work_mem', '64MB', true), "
                                "set_config('jit', 'off', true)";

static const char *SQL_FETCH = "FETCH FORWARD 5000 FROM report_rows";

static const char *SQL_UNDATED =
    "SELECT count(*) FROM epsync.decisions WHERE decided_on IS NULL";

enum { C_ID, C_KIND, C_DECIDED, C_EXCLUDE, C_INVALID, C_MISSING, C_TARGET, C_STATE,
       C_FIRST_PUB, C_RECEIPT, C_ATTEMPTS, C_LAST_ERROR, C_REASON, C_FIRST_SEEN, C_HIST };

/* The delivery row of one target, copied out of the chunk (a decision's
 * rows may straddle two FETCHes). */
struct cell_src {
    bool present;
    char *state, *receipt, *last_error, *reason;
    int64_t first_pub_ms;
    bool has_first_pub;
    long attempts;
    json_object *hist;         /* [[at_ms, state, reason, last_error], ...] or NULL */
};

struct stream {
    const struct config *cfg;
    const calendar *cal;
    struct report_model *m;
    report_writer *w;
    date_t today;
    int64_t as_of_end_ms;      /* 0: now */
    int64_t now_ms;

    bool have;                 /* a decision is being collected */
    char *id, *kind, *exclude, *invalid;
    date_t decided_on;
    int64_t missing_ms, first_seen_ms;
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
        json_object_put(c->hist);
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

/* The pair as it stood at the end of the --as-of day: the last recorded
 * state before then; before the history began, published if it was. */
static void cell_as_of(const struct stream *s, struct cell_src *c, const char **state,
                       const char **reason, const char **last_error)
{
    size_t n = c->hist ? json_object_array_length(c->hist) : 0;
    if (c->has_first_pub && c->first_pub_ms >= s->as_of_end_ms)
        c->has_first_pub = false;
    if (n > 0) {
        json_object *e = json_object_array_get_idx(c->hist, n - 1);
        *state = json_object_get_string(json_object_array_get_idx(e, 1));
        *reason = json_object_get_string(json_object_array_get_idx(e, 2));
        *last_error = json_object_get_string(json_object_array_get_idx(e, 3));
    } else if (c->has_first_pub) {
        *state = "published";
        *reason = *last_error = NULL;
    } else {
        c->present = false;
    }
}

/* The stretches of the pair's history that explain a late publication
 * or a missed deadline, after "reached epsync after its deadline". */
static void cell_history(const struct stream *s, const struct cell_src *src,
                         struct report_cell *c, date_t due)
{
    size_t n = src->hist ? json_object_array_length(src->hist) : 0;
    struct report_hist *h = xcalloc(n ? n : 1, sizeof *h);
    bool late = c->tl == RTL_LATE;
    int64_t until = late ? src->first_pub_ms : s->as_of_end_ms ? s->as_of_end_ms : s->now_ms;

    c->nseg = 0;
    if (s->first_seen_ms && date_cst(s->first_seen_ms) > due)
        c->seg[c->nseg++] = (struct report_segment){
            .what = RSEG_LATE_SOURCE, .from = date_cst(s->first_seen_ms),
            .to = date_cst(s->first_seen_ms) };
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(src->hist, i);
        h[i] = (struct report_hist){
            .at_ms = json_object_get_int64(json_object_array_get_idx(e, 0)),
            .state = json_object_get_string(json_object_array_get_idx(e, 1)),
            .reason = json_object_get_string(json_object_array_get_idx(e, 2)),
            .last_error = json_object_get_string(json_object_array_get_idx(e, 3)),
        };
    }
    if (!late || src->has_first_pub)
        c->nseg += report_segments(h, n, until, !late, c->seg + c->nseg,
                                   REPORT_MAX_SEGMENTS - c->nseg);
    free(h);
}

/* One target's cell of the decision being flushed. */
static void cell_build(struct stream *s, size_t i, int k, date_t due, struct report_cell *c,
                       char published_at[32])
{
    struct cell_src *src = &s->cells[i];
    const struct target_cfg *t = config_target(s->cfg, s->m->targets[i].name);
    const char *state = src->state, *reason = src->reason, *last_error = src->last_error;
    if (s->as_of_end_ms && src->present)
        cell_as_of(s, src, &state, &reason, &last_error);
    struct report_facts f = {
        .state = src->present ? state : NULL,
        .first_published = src->has_first_pub ? date_cst(src->first_pub_ms) : DATE_NONE,
        .due_on = due, .today = s->today,
        .routed = t && (t->kinds & (1u << k)),
        .excluded_decision = s->exclude != NULL,
        .invalid_decision = s->invalid != NULL && *s->invalid,
        .missing = s->missing,
        .exclude_reason = src->present && reason ? reason : s->exclude,
    };
    struct report_timely_facts tf;
    struct cell_src view = *src;
    view.reason = (char *)reason;
    view.last_error = (char *)last_error;

    c->target = s->m->targets[i].name;
    c->state = f.state;
    c->cat = report_categorise(&f);
    report_timeliness(&f, c->cat, &tf);
    c->tl = tf.tl;
    c->cause = tf.cause;
    c->excl = tf.excl;
    c->published_on = f.first_published;
    c->wdl = c->tl == RTL_ON_TIME ? 0
           : c->tl == RTL_LATE ? report_working_days_late(s->cal, due, f.first_published) : -1;
    c->published_at = NULL;
    if (src->has_first_pub) {
        report_ts_cst(src->first_pub_ms, published_at);
        c->published_at = published_at;
    }
    c->receipt = src->has_first_pub || !s->as_of_end_ms ? src->receipt : NULL;
    c->attempts = src->attempts;
    c->last_error = last_error;
    c->reason = cell_reason(s, &view, c->cat);
    c->nseg = 0;
    if (c->tl == RTL_LATE || c->tl == RTL_MISSED)
        cell_history(s, src, c, due);
}

static int stream_flush(struct stream *s, struct err *e)
{
    const struct report_model *m = s->m;
    size_t nt = m->ntargets ? m->ntargets : 1;
    struct report_cell *cells = xcalloc(nt, sizeof *cells);
    char (*published_at)[32] = xcalloc(nt, sizeof *published_at);
    char missing[32];
    int k = kind_parse(s->kind);
    size_t n = 0;
    int rc;

    if (!s->have) {
        free(cells);
        free(published_at);
        return 0;
    }
    if (k < 0)
        k = KIND_OTHER;
    date_t due = calendar_add_workdays(s->cal, s->decided_on, s->cfg->deadline_days[k]);
    note_year(s, s->decided_on);
    note_year(s, due);
    if (s->as_of_end_ms && s->missing && s->missing_ms >= s->as_of_end_ms)
        s->missing = false;

    for (size_t i = 0; i < m->ntargets; i++) {
        const struct target_cfg *t = config_target(s->cfg, m->targets[i].name);
        /* A target that is switched off is not owed anything new; its
         * existing rows are still reported. */
        if (!s->cells[i].present && (!t || !t->enabled))
            continue;
        cell_build(s, i, k, due, &cells[n], published_at[n]);
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
    free(cells);
    free(published_at);
    return rc;
}

static int64_t ms_or_zero(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
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
        s->missing_ms = ms_or_zero(r, row, C_MISSING);
        s->first_seen_ms = ms_or_zero(r, row, C_FIRST_SEEN);
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
        c->first_pub_ms = ms_or_zero(r, row, C_FIRST_PUB);
        c->attempts = strtol(PQgetvalue(r, row, C_ATTEMPTS), NULL, 10);
        c->hist = PQgetisnull(r, row, C_HIST) ? NULL
                : json_tokener_parse(PQgetvalue(r, row, C_HIST));
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
static int stream_all(db *d, struct stream *s, const char *const params[6], struct err *e)
{
    PGresult *r = NULL;
    int rc;

    if ((rc = db_exec(d, "report: open cursor", SQL_DECLARE, 6, params, NULL, e)) < 0)
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
    date_t from, to, as_of;
    bool from_set, to_set;
    const char *target, *kind;
    enum report_format format;
    enum report_lang lang;
    const char *out;
};

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "epsync report: %s\n", why);
    fprintf(stderr, "usage: epsync report [--from YYYY-MM-DD] [--to YYYY-MM-DD] "
                    "[--as-of YYYY-MM-DD]\n"
                    "                     [--target T] [--kind K] [--format text|csv|json|html]\n"
                    "                     [--lang zh|en] [-o FILE]\n");
    return EX_USAGE_;
}

static int bad(char *msg, size_t n, const char *fmt, const char *a, const char *b)
{
    snprintf(msg, n, fmt, a, b);
    return usage(msg);
}

static int parse_one(const struct config *cfg, int c, struct report_opts *o)
{
    char msg[300];
    int v;
    switch (c) {
    case 'f': case 't': case 'a':
        if (date_parse(optarg, c == 'f' ? &o->from : c == 't' ? &o->to : &o->as_of) < 0)
            return bad(msg, sizeof msg, "--%s: \"%s\" is not a date (YYYY-MM-DD)",
                       c == 'f' ? "from" : c == 't' ? "to" : "as-of", optarg);
        o->from_set |= c == 'f';
        o->to_set |= c == 't';
        return 0;
    case 'T':
        if (!config_target(cfg, optarg))
            return bad(msg, sizeof msg, "--target: no target \"%s\" in %s", optarg,
                       cfg->path ? cfg->path : "the configuration");
        o->target = optarg;
        return 0;
    case 'k':
        if (kind_parse(optarg) < 0)
            return bad(msg, sizeof msg, "--kind: \"%s\" is not one of penalty, license, "
                       "inspection, coercion, levy, other%s", optarg, "");
        o->kind = optarg;
        return 0;
    case 'F':
        if ((v = report_format_parse(optarg)) < 0)
            return bad(msg, sizeof msg, "--format: \"%s\" is not one of text, csv, json, html%s",
                       optarg, "");
        o->format = (enum report_format)v;
        return 0;
    case 'l':
        if ((v = report_lang_parse(optarg)) < 0)
            return bad(msg, sizeof msg, "--lang: \"%s\" is not zh or en%s", optarg, "");
        o->lang = (enum report_lang)v;
        return 0;
    case 'o': o->out = optarg; return 0;
    case 'h': usage(NULL); return -1;
    default:
        return bad(msg, sizeof msg, "unknown or incomplete option \"%s\"%s", optarg ? optarg : "", "");
    }
}

static int parse_args(const struct config *cfg, int argc, char **argv, date_t today,
                      struct report_opts *o)
{
    static const struct option longopts[] = {
        { "from", required_argument, NULL, 'f' }, { "to", required_argument, NULL, 't' },
        { "as-of", required_argument, NULL, 'a' }, { "kind", required_argument, NULL, 'k' },
        { "target", required_argument, NULL, 'T' }, { "format", required_argument, NULL, 'F' },
        { "lang", required_argument, NULL, 'l' }, { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    int y, m, d, c, rc;
    char msg[300];

    *o = (struct report_opts){ .format = RFMT_TEXT, .lang = RLANG_ZH, .as_of = DATE_NONE };
    optind = 0;            /* glibc: 0 also resets the permutation mode main() chose */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        if (c == '?' || c == ':') {
            snprintf(msg, sizeof msg, "unknown or incomplete option \"%s\"", argv[optind - 1]);
            return usage(msg);
        }
        if ((rc = parse_one(cfg, c, o)) != 0)
            return rc;
    }
    if (optind < argc) {
        snprintf(msg, sizeof msg, "unexpected argument \"%s\"", argv[optind]);
        return usage(msg);
    }
    if (o->as_of != DATE_NONE && o->as_of > today)
        return usage("--as-of is in the future");
    date_t end = o->as_of != DATE_NONE ? o->as_of : today;
    date_to_ymd(end, &y, &m, &d);
    if (!o->from_set)
        o->from = date_from_ymd(y, 1, 1);
    if (!o->to_set)
        o->to = end;
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

/* -o FILE: a fresh file beside it, created exclusively (never through a
 * link someone planted), renamed over it once complete. */
static FILE *out_open(const char *path, char **tmp, struct err *e)
{
    char *copy = xstrdup(path);
    struct buf b = BUF_INIT;
    FILE *f = NULL;
    int fd = -1;

    buf_printf(&b, "%s/.%s.XXXXXX", dirname(copy), strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    free(copy);
    *tmp = buf_steal(&b);
    if ((fd = mkostemp(*tmp, O_CLOEXEC)) < 0) {   /* O_CREAT | O_EXCL, mode 0600 */
        err_set(e, -errno, "cannot write %s (a new file beside it): %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    /* readable as the umask allows, like any file the user writes */
    mode_t um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) < 0 || !(f = fdopen(fd, "w"))) {
        err_set(e, -errno, "cannot write %s: %s", *tmp, strerror(errno));
        close(fd);
        unlink(*tmp);
        free(*tmp);
        *tmp = NULL;
    }
    return f;
}

/* The model's setting from the configuration and the options. */
static struct report_model *model_for(const struct config *cfg, const struct report_opts *o,
                                      date_t today, int64_t now)
{
    size_t nt = o->target ? 1 : cfg->ntargets;
    const char **names = xcalloc(nt ? nt : 1, sizeof *names);
    for (size_t i = 0; i < nt; i++)
        names[i] = o->target ? o->target : cfg->targets[i].name;
    struct report_model *m = report_model_new(o->from, o->to, today, now, o->lang, names, nt);
    free(names);
    for (size_t i = 0; i < nt; i++) {
        const struct target_cfg *t = config_target(cfg, m->targets[i].name);
        if (t && t->display_name && *t->display_name) {
            free(m->targets[i].display);
            m->targets[i].display = xstrdup(t->display_name);
        }
    }
    m->small_fine_person_yuan = cfg->publicity.small_fine_person_yuan;
    m->small_fine_org_yuan = cfg->publicity.small_fine_org_yuan;
    m->organisation = cfg->report.organisation ? cfg->report.organisation : "";
    m->as_of = o->as_of;
    m->kind = o->kind;
    memcpy(m->deadline_days, cfg->deadline_days, sizeof m->deadline_days);
    return m;
}

static int shortest_deadline(const struct config *cfg)
{
    int min = 365;
    for (int k = 0; k < KIND_COUNT; k++)
        if (cfg->deadline_days[k] > 0 && cfg->deadline_days[k] < min)
            min = cfg->deadline_days[k];
    return min;
}

/* Read everything into the model through the writer; in one snapshot. */
static int read_all(db *d, struct stream *s, const struct report_opts *o, struct err *e)
{
    char from[11], to[11], asof[40], mind[16];
    const char *params[6] = { from, to, o->target, NULL, o->kind, mind };
    date_format(o->from, from);
    date_format(o->to, to);
    snprintf(mind, sizeof mind, "%d", shortest_deadline(s->cfg));
    if (o->as_of != DATE_NONE) {
        char day[11];
        date_format(o->as_of + 1, day);
        snprintf(asof, sizeof asof, "%s 00:00:00+08", day);
        params[3] = asof;
    }
    if (db_exec(d, "report: begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                0, NULL, NULL, e) < 0 ||
        db_exec(d, "report: session settings", SQL_TUNING, 0, NULL, NULL, e) < 0 ||
        stream_all(d, s, params, e) < 0)
        return -1;
    db_rollback(d);            /* read only: nothing to commit */
    return 0;
}

/* Finish the file: flushed, closed, renamed into place. */
static int out_close(FILE **f, const char *tmp, const char *out, struct err *e)
{
    int bad = ferror(*f);
    int rc = fclose(*f);
    *f = NULL;
    if (rc != 0 || bad)
        return err_set(e, -EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (rename(tmp, out) < 0)
        return err_set(e, -errno, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
    return 0;
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
    struct stream s = { 0 };
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
    s = (struct stream){ .cfg = cfg, .cal = cal, .now_ms = now,
                         .today = o.as_of != DATE_NONE ? o.as_of : today };
    if (o.as_of != DATE_NONE)
        s.as_of_end_ms = ((int64_t)(o.as_of + 1) * 86400 - 8 * 3600) * 1000;
    s.m = model_for(cfg, &o, s.today, now);
    s.cells = xcalloc(s.m->ntargets ? s.m->ntargets : 1, sizeof *s.cells);

    if (o.out && !(f = out_open(o.out, &tmp, &e)))
        goto fail;
    if (report_writer_open(&s.w, o.format, o.lang, f ? f : stdout, &e) < 0)
        goto fail;
    if (read_all(d, &s, &o, &e) < 0) {
        if (db_broken(d))
            ex = EX_UNAVAILABLE_;
        goto fail;
    }
    warn_calendar(&s, &o);
    report_model_done(s.m);
    if (report_writer_finish(s.w, s.m, &e) < 0)
        goto fail;
    if (f && out_close(&f, tmp, o.out, &e) < 0)
        goto fail;
    if (!o.out && fflush(stdout) != 0) {
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
    db_close(d);
    calendar_free(cal);
    return ex;
}

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

/* ---- timeliness (pure) ------------------------------------------------ */

static const char *const tl_keys[RTL_COUNT] = {
    [RTL_ON_TIME] = "on_time", [RTL_LATE] = "late", [RTL_MISSED] = "missed",
    [RTL_NOT_DUE] = "not_due", [RTL_OUTSIDE] = "outside",
};
static const char *const cause_keys[RCAUSE_COUNT] = {
    [RCAUSE_INVALID] = "invalid", [RCAUSE_REJECTED] = "rejected",
    [RCAUSE_RETRYING] = "retrying", [RCAUSE_PENDING] = "pending",
    [RCAUSE_MISSING] = "missing_from_source",
};
static const char *const excl_keys[REXCL_COUNT] = {
    [REXCL_CONFIDENTIAL] = "confidential", [REXCL_MINOR] = "minor",
    [REXCL_WARNING_ONLY] = "warning_only", [REXCL_NOT_ROUTED] = "not_routed",
    [REXCL_CANCELLED] = "cancelled", [REXCL_OTHER] = "other",
};
static const char *const seg_keys[RSEG_COUNT] = {
    [RSEG_INVALID] = "invalid", [RSEG_REJECTED] = "rejected", [RSEG_FAILING] = "platform_failing",
    [RSEG_QUEUED] = "queued", [RSEG_LATE_SOURCE] = "late_from_source",
};

const char *report_tl_key(enum report_tl t) { return t < RTL_COUNT ? tl_keys[t] : "?"; }
const char *report_cause_key(enum report_cause c) { return c < RCAUSE_COUNT ? cause_keys[c] : "?"; }
const char *report_excl_key(enum report_excl x) { return x < REXCL_COUNT ? excl_keys[x] : "?"; }
const char *report_seg_key(enum report_seg g) { return g < RSEG_COUNT ? seg_keys[g] : "?"; }

/* The exclusion texts the detector writes (decisions.exclude_reason and
 * the reason of an excluded or cancelled delivery). */
enum report_excl report_excl_parse(const char *reason)
{
    static const struct { const char *text; enum report_excl x; } words[] = {
        { "confidential", REXCL_CONFIDENTIAL }, { "minor", REXCL_MINOR },
        { "warning_only", REXCL_WARNING_ONLY }, { "kind not routed", REXCL_NOT_ROUTED },
    };
    for (size_t i = 0; reason && i < sizeof words / sizeof words[0]; i++)
        if (strncmp(reason, words[i].text, strlen(words[i].text)) == 0)
            return words[i].x;
    return REXCL_OTHER;
}

static bool is_state(const char *state, const char *s) { return state && strcmp(state, s) == 0; }

void report_timeliness(const struct report_facts *f, enum report_cat cat,
                       struct report_timely_facts *out)
{
    out->cause = out->excl = -1;
    if (f->first_published != DATE_NONE) {
        out->tl = f->first_published <= f->due_on ? RTL_ON_TIME : RTL_LATE;
        return;
    }
    /* Published (or taken down since) without a recorded time: cannot be
     * shown on time. */
    if (is_state(f->state, "published") || is_state(f->state, "withdrawn") ||
        is_state(f->state, "withdraw_pending")) {
        out->tl = RTL_LATE;
        return;
    }
    if (cat == RCAT_CANCELLED || cat == RCAT_EXCLUDED) {
        out->tl = RTL_OUTSIDE;
        out->excl = cat == RCAT_CANCELLED ? REXCL_CANCELLED
                  : !f->state && !f->routed ? REXCL_NOT_ROUTED
                  : report_excl_parse(f->exclude_reason);
        return;
    }
    if (f->today <= f->due_on) {
        out->tl = RTL_NOT_DUE;
        return;
    }
    out->tl = RTL_MISSED;
    out->cause = f->missing ? RCAUSE_MISSING
               : cat == RCAT_INVALID ? RCAUSE_INVALID
               : cat == RCAT_REJECTED ? RCAUSE_REJECTED
               : is_state(f->state, "retry") ? RCAUSE_RETRYING : RCAUSE_PENDING;
}

long report_working_days_late(const calendar *cal, date_t due_on, date_t published_on)
{
    long n = 0;
    if (due_on == DATE_NONE || published_on == DATE_NONE)
        return -1;
    /* Day by day: lateness is a few days, and a year at most in practice. */
    for (date_t d = due_on; d < published_on && n < 4000; n++)
        d = calendar_add_workdays(cal, d, 1);
    return n;
}

enum { QUEUED_MIN_MS = 3600 * 1000 };   /* shorter waits are the queue working */

static int seg_of(const char *state)
{
    if (is_state(state, "invalid")) return RSEG_INVALID;
    if (is_state(state, "rejected")) return RSEG_REJECTED;
    if (is_state(state, "retry")) return RSEG_FAILING;
    if (is_state(state, "pending")) return RSEG_QUEUED;
    return -1;
}

/* What the stretch says: the platform's words for failures (and for a
 * refusal without a recorded reason), else the recorded reason. */
static const char *seg_detail(int what, const struct report_hist *h)
{
    return what == RSEG_FAILING || (what == RSEG_REJECTED && !h->reason) ? h->last_error
                                                                          : h->reason;
}

size_t report_segments(const struct report_hist *h, size_t n, int64_t until_ms, bool still,
                       struct report_segment *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n && h[i].at_ms < until_ms; i++) {
        int what = seg_of(h[i].state);
        const struct report_hist *first = &h[i];
        if (what < 0)
            continue;
        /* a run of one state (an invalid record corrected into another
         * invalid one, a retry after a retry) is one stretch */
        const char *detail = seg_detail(what, first);
        while (i + 1 < n && h[i + 1].at_ms < until_ms && seg_of(h[i + 1].state) == what) {
            i++;
            if (!detail)       /* the first word said in the stretch */
                detail = seg_detail(what, &h[i]);
        }
        int64_t end = i + 1 < n && h[i + 1].at_ms < until_ms ? h[i + 1].at_ms : until_ms;
        bool open = still && !(i + 1 < n && h[i + 1].at_ms < until_ms);
        if (what == RSEG_QUEUED && end - first->at_ms < QUEUED_MIN_MS && !open)
            continue;
        if (k == max)
            break;
        out[k++] = (struct report_segment){
            .what = (enum report_seg)what, .from = date_cst(first->at_ms),
            .to = open ? DATE_NONE : date_cst(end), .detail = detail,
        };
    }
    return k;
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
    for (size_t i = 0; i < ntargets; i++) {
        m->targets[i].name = xstrdup(targets[i]);
        m->targets[i].display = xstrdup(targets[i]);
    }
    m->organisation = "";
    m->as_of = DATE_NONE;
    m->week0 = from - date_weekday(from);
    m->nweeks = to >= from ? (size_t)((to - m->week0) / 7 + 1) : 0;
    m->weeks = xcalloc(m->nweeks ? m->nweeks : 1, sizeof *m->weeks);
    return m;
}

void report_model_free(struct report_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ntargets; i++) {
        free(m->targets[i].name);
        free(m->targets[i].display);
    }
    free(m->targets);
    for (size_t i = 0; i < m->ntimely; i++) {
        struct report_timely *t = &m->timely[i];
        free(t->decision_id);
        free(t->kind);
        free(t->target);
        free(t->reason);
        for (size_t k = 0; k < t->nseg; k++)
            free((char *)t->seg[k].detail);
    }
    free(m->timely);
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

static void timely_add(struct report_model *m, const struct report_row *r,
                       const struct report_cell *c)
{
    if (m->ntimely == m->captimely) {
        m->captimely = m->captimely ? m->captimely * 2 : 64;
        m->timely = xrealloc(m->timely, m->captimely * sizeof *m->timely);
    }
    struct report_timely *t = &m->timely[m->ntimely++];
    m->nlist[c->tl]++;
    memset(t, 0, sizeof *t);
    t->decision_id = xstrdup(r->decision_id);
    t->kind = xstrdup(r->kind);
    t->target = xstrdup(c->target);
    t->tl = c->tl;
    t->cause = c->cause;
    t->decided_on = r->decided_on;
    t->due_on = r->due_on;
    t->published_on = c->published_on;
    t->wdl = c->wdl;
    t->reason = c->tl == RTL_MISSED && c->cause != RCAUSE_MISSING ? xstrdup(c->reason) : NULL;
    if (c->cause == RCAUSE_MISSING && r->missing_since)
        t->reason = xstrdup(r->missing_since);
    t->nseg = c->nseg;
    for (size_t k = 0; k < c->nseg; k++) {
        t->seg[k] = c->seg[k];
        t->seg[k].detail = xstrdup(c->seg[k].detail);
    }
}

/* A decision once: missed anywhere > late anywhere > not yet due anywhere
 * > on time at every target it must go to. */
static void decision_timeliness(struct report_model *m, const struct report_row *r)
{
    static const enum report_tl order[] = { RTL_MISSED, RTL_LATE, RTL_NOT_DUE, RTL_ON_TIME };
    bool seen[RTL_COUNT] = { false };
    for (size_t i = 0; i < r->ncells; i++)
        seen[r->cells[i].tl] = true;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
        if (seen[order[k]]) {
            m->dec_tl[order[k]]++;
            m->dec_must++;
            return;
        }
    m->dec_tl[RTL_OUTSIDE]++;
}

void report_model_add(struct report_model *m, const struct report_row *r)
{
    struct report_week *w;

    m->ndecisions++;
    decision_timeliness(m, r);
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
        t->tl[c->tl]++;
        if (c->tl != RTL_OUTSIDE)
            t->must_publish++;
        if (c->tl == RTL_MISSED && c->cause >= 0)
            t->missed_by[c->cause]++;
        if (c->tl == RTL_OUTSIDE && c->excl >= 0)
            t->excl_by[c->excl]++;
        if (c->tl == RTL_LATE || c->tl == RTL_MISSED)
            timely_add(m, r, c);
        if (c->published_on != DATE_NONE && (w = week_of(m, c->published_on)))
            w->published++;
        if ((c->tl == RTL_LATE || c->tl == RTL_MISSED) && (w = week_of(m, r->due_on)))
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

/* Late publications first, then missed deadlines; each by deadline. */
static int timely_cmp(const void *pa, const void *pb)
{
    const struct report_timely *a = pa, *b = pb;
    int c;
    if (a->tl != b->tl)
        return a->tl < b->tl ? -1 : 1;
    if (a->due_on != b->due_on)
        return a->due_on < b->due_on ? -1 : 1;
    if ((c = strcmp(a->decision_id, b->decision_id)) != 0)
        return c;
    return strcmp(a->target, b->target);
}

void report_model_done(struct report_model *m)
{
    if (m->nattn > 1)
        qsort(m->attn, m->nattn, sizeof *m->attn, attention_cmp);
    if (m->ntimely > 1)
        qsort(m->timely, m->ntimely, sizeof *m->timely, timely_cmp);
}

const struct report_target_sum *report_model_target(const struct report_model *m,
                                                    const char *name)
{
    for (size_t i = 0; name && i < m->ntargets; i++)
        if (strcmp(m->targets[i].name, name) == 0)
            return &m->targets[i];
    return NULL;
}


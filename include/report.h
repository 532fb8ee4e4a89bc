/* report.h - the sync-status report (docs/report.md).
 *
 * report_db.c reads the state database once (decisions joined with their
 * deliveries, streamed through a cursor); report.c puts every (decision,
 * target) pair into exactly one category and aggregates the pairs into a
 * struct report_model.  report_writer.c renders that one model as text,
 * CSV, JSON or HTML, so the numbers of every format agree by construction.
 *
 * The per-decision lines of CSV and JSON are written while the rows
 * stream past (a report_writer receives each struct report_row), so
 * memory does not grow with the number of decisions; the model keeps only
 * the sums, the weekly series and the needs-a-human list.
 */
#ifndef EPSYNC_REPORT_H
#define EPSYNC_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "calendar.h"
#include "config.h"
#include "date.h"
#include "err.h"

/* The summary keys, in the order every format prints them. */
enum report_cat {
    RCAT_ON_TIME,           /* published_on_time */
    RCAT_LATE,              /* published_late */
    RCAT_PENDING,           /* not yet published, not yet due */
    RCAT_RETRY,             /* waiting after a transient failure, not yet due */
    RCAT_OVERDUE,           /* pending or retry, past due_on */
    RCAT_REJECTED,
    RCAT_INVALID,
    RCAT_EXCLUDED,
    RCAT_CANCELLED,
    RCAT_WITHDRAWN,
    RCAT_WITHDRAW_PENDING,
    RCAT_COUNT
};

/* Why a decision is on the needs-a-human list. */
enum report_issue { RISSUE_OVERDUE, RISSUE_REJECTED, RISSUE_INVALID, RISSUE_MISSING, RISSUE_COUNT };

/* Timeliness, the second dimension: per (decision, target) that must be
 * published, on time / late / missed / not yet due; the rest is outside
 * must_publish (excluded for a reason, or cancelled). */
enum report_tl { RTL_ON_TIME, RTL_LATE, RTL_MISSED, RTL_NOT_DUE, RTL_OUTSIDE, RTL_COUNT };
/* Why a deadline was missed: the pair's state now. */
enum report_cause { RCAUSE_INVALID, RCAUSE_REJECTED, RCAUSE_RETRYING, RCAUSE_PENDING,
                    RCAUSE_MISSING, RCAUSE_COUNT };
/* Why a pair is outside must_publish. */
enum report_excl { REXCL_CONFIDENTIAL, REXCL_MINOR, REXCL_WARNING_ONLY, REXCL_NOT_ROUTED,
                   REXCL_CANCELLED, REXCL_OTHER, REXCL_COUNT };
/* A stretch of a pair's history before its first publication. */
enum report_seg { RSEG_INVALID, RSEG_REJECTED, RSEG_FAILING, RSEG_QUEUED, RSEG_LATE_SOURCE,
                  RSEG_COUNT };

enum report_format { RFMT_TEXT, RFMT_CSV, RFMT_JSON, RFMT_HTML };
enum report_lang { RLANG_ZH, RLANG_EN, RLANG_COUNT };

/* Parsers for the command-line values; -1 when unknown. */
int report_format_parse(const char *s);
int report_lang_parse(const char *s);

const char *report_cat_key(enum report_cat c);          /* "published_on_time" ... */
const char *report_issue_key(enum report_issue i);      /* "overdue" ... */
const char *report_tl_key(enum report_tl t);            /* "on_time" ... */
const char *report_cause_key(enum report_cause c);      /* "invalid" ... */
const char *report_excl_key(enum report_excl x);        /* "confidential" ... */
const char *report_seg_key(enum report_seg s);          /* "invalid" ... */

/* The one categorisation rule (pure).  state: the delivery state, NULL
 * when the pair has no delivery row yet; first_published: the CST date of
 * first_published_at, DATE_NONE when never published; excluded_decision /
 * invalid_decision / routed: what the decision row says, used only when
 * there is no delivery row.  See docs/report.md for the table. */
struct report_facts {
    const char *state;
    date_t first_published;
    date_t due_on;
    date_t today;
    bool routed;               /* the target takes this kind */
    bool excluded_decision;    /* decisions.exclude_reason is set */
    bool invalid_decision;     /* decisions.invalid_reasons is set */
    bool missing;              /* gone from the source */
    const char *exclude_reason; /* decisions.exclude_reason, or the delivery's reason */
};
enum report_cat report_categorise(const struct report_facts *f);

/* The timeliness of a pair (pure): tl, and the cause (RTL_MISSED) or the
 * reason (RTL_OUTSIDE), -1 otherwise.  cat: report_categorise(f). */
struct report_timely_facts {
    enum report_tl tl;
    int cause;                 /* enum report_cause, or -1 */
    int excl;                  /* enum report_excl, or -1 */
};
void report_timeliness(const struct report_facts *f, enum report_cat cat,
                       struct report_timely_facts *out);
/* What a delivery's or decision's exclusion text means. */
enum report_excl report_excl_parse(const char *reason);
/* Working days late: the least n such that the deadline moved n working
 * days later would have been met (0 when on time).  A publication on a
 * rest day after the deadline is 1 day late. */
long report_working_days_late(const calendar *cal, date_t due_on, date_t published_on);

/* One entry of a pair's recorded history (delivery_history), oldest
 * first; the strings belong to the caller. */
struct report_hist {
    int64_t at_ms;
    const char *state, *reason, *last_error;
};
struct report_segment {
    enum report_seg what;
    date_t from, to;           /* CST dates; to == DATE_NONE: still so */
    const char *detail;        /* the reason or the platform's words, may be NULL */
};
enum { REPORT_MAX_SEGMENTS = 6 };
/* The stretches before until_ms (the first publication, or the end of the
 * report's day) in which the pair was invalid, rejected, failing at the
 * platform or queued for more than an hour; adjacent stretches of one
 * kind are merged; at most max (the earliest).  Returns the count. */
size_t report_segments(const struct report_hist *h, size_t n, int64_t until_ms, bool still,
                       struct report_segment *out, size_t max);

/* One (decision, target) pair as every format sees it. */
struct report_cell {
    const char *target;
    const char *state;         /* NULL: no delivery row yet */
    enum report_cat cat;
    date_t published_on;       /* CST date of the first publication, DATE_NONE */
    const char *published_at;  /* RFC 3339 in +08:00, NULL when never published */
    const char *receipt;
    long attempts;             /* total_attempts */
    const char *last_error;    /* platform message verbatim */
    const char *reason;        /* what to show a human: platform words or validation reasons */
    enum report_tl tl;
    int cause;                 /* enum report_cause when RTL_MISSED, else -1 */
    int excl;                  /* enum report_excl when RTL_OUTSIDE, else -1 */
    long wdl;                  /* working days late: 0 on time, -1 unknown / not published */
    struct report_segment seg[REPORT_MAX_SEGMENTS];
    size_t nseg;               /* history, for RTL_LATE and RTL_MISSED */
};

struct report_row {
    const char *decision_id;
    const char *kind;
    date_t decided_on;
    date_t due_on;
    const char *missing_since; /* RFC 3339, NULL when still in the source */
    struct report_cell *cells;
    size_t ncells;
};

struct report_target_sum {
    char *name;
    char *display;             /* targets.X.display_name, else the name */
    long n[RCAT_COUNT];
    long in_scope;             /* sum of n[] */
    long tl[RTL_COUNT];
    long must_publish;         /* on time + late + missed + not yet due */
    long missed_by[RCAUSE_COUNT];
    long excl_by[REXCL_COUNT];
};

/* An entry of the list of late publications or of missed deadlines. */
struct report_timely {
    char *decision_id, *kind, *target;
    enum report_tl tl;         /* RTL_LATE or RTL_MISSED */
    int cause;                 /* RTL_MISSED: enum report_cause */
    date_t decided_on, due_on, published_on;
    long wdl;
    char *reason;              /* RTL_MISSED: what is wrong now, may be NULL */
    struct report_segment seg[REPORT_MAX_SEGMENTS];   /* details owned */
    size_t nseg;
};

struct report_attention {
    char *decision_id;
    char *kind;
    char *target;              /* NULL for "missing from source" (all targets) */
    enum report_issue issue;
    date_t decided_on;
    date_t due_on;
    char *reason;              /* verbatim, may be NULL */
    char *missing_since;       /* RFC 3339, RISSUE_MISSING only */
    long attempts;
};

struct report_week {
    long published;            /* first publications whose CST date falls in the week */
    long overdue;              /* pairs due in the week that missed it (late or still overdue) */
};

struct report_model {
    int64_t generated_ms;
    date_t from, to, today;
    enum report_lang lang;
    int64_t small_fine_person_yuan;
    int64_t small_fine_org_yuan;

    struct report_target_sum *targets;
    size_t ntargets;
    long ndecisions;

    struct report_attention *attn;
    size_t nattn, capattn;

    struct report_timely *timely;      /* late publications, then missed deadlines */
    size_t ntimely, captimely;
    size_t nlist[RTL_COUNT];           /* entries of each list (late, missed) */
    long dec_tl[RTL_COUNT];            /* per decision: missed > late > not due > on time */
    long dec_must;                     /* decisions that must go to at least one target */

    const char *organisation;          /* report.organisation, "" when not set */
    date_t as_of;                      /* DATE_NONE: the report of now */
    const char *kind;                  /* --kind, NULL: all */
    int deadline_days[KIND_COUNT];              /* the rules used, per enum kind */

    char **warnings;
    size_t nwarnings;

    date_t week0;              /* Monday of the ISO week holding `from`; the series
                                  runs to `to` and on to the last week with events */
    struct report_week *weeks;
    size_t nweeks;
};

struct report_model *report_model_new(date_t from, date_t to, date_t today, int64_t now_ms,
                                      enum report_lang lang, const char *const *targets,
                                      size_t ntargets);
void report_model_free(struct report_model *m);
/* Count one decision's pairs (cells whose target the model does not know
 * are ignored) and add its needs-a-human entries. */
void report_model_add(struct report_model *m, const struct report_row *r);
/* After the last row: order the needs-a-human list (by issue, then
 * deadline). */
void report_model_done(struct report_model *m);
/* The sums of a target, NULL when the model does not know it. */
const struct report_target_sum *report_model_target(const struct report_model *m,
                                                    const char *name);
void report_model_warn(struct report_model *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Rendering (report_writer.c).  A writer is opened before the rows stream,
 * sees every row, and writes everything else from the finished model. */
typedef struct report_writer report_writer;
int report_writer_open(report_writer **out, enum report_format fmt, enum report_lang lang,
                       FILE *f, struct err *e);
int report_writer_row(report_writer *w, const struct report_row *r, struct err *e);
int report_writer_finish(report_writer *w, const struct report_model *m, struct err *e);
void report_writer_free(report_writer *w);

/* Text helpers (pure, exposed for the unit test). */
int report_char_width(uint32_t cp);                  /* 0, 1 or 2 terminal cells */
size_t report_display_width(const char *utf8);
void report_csv_field(struct buf *out, const char *s);    /* RFC 4180 */
void report_json_string(struct buf *out, const char *s);  /* "..." or null */
void report_html_escape(struct buf *out, const char *s);
/* "2026-W05" for the ISO week holding day. */
void report_iso_week(date_t day, char out[9]);
/* "2026-10-15T23:00:00+08:00": an instant in China Standard Time. */
void report_ts_cst(int64_t unix_ms, char out[32]);

/* epsync report [--from DATE] [--to DATE] [--target T] [--format F]
 *               [--lang zh|en] [-o FILE]; argv[0] = "report".
 * Returns an exit code: 0, 1, 64 (usage) or 69 (database unavailable). */
int report_main(const struct config *cfg, int argc, char **argv);

#endif

/* report_int.h - what report_fmt.c and report_html.c share: the label
 * table and the text helpers.  Private to the report module. */
#ifndef EPSYNC_REPORT_INT_H
#define EPSYNC_REPORT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "report.h"

enum report_label {
    L_TITLE, L_PERIOD, L_TO, L_GENERATED, L_THRESHOLDS, L_WARNINGS, L_ATTENTION,
    L_ATTENTION_N, L_NOTHING, L_SUMMARY, L_IN_SCOPE, L_TOTAL, L_DUE, L_DECIDED, L_ATTEMPTS,
    L_REASON, L_ADVICE, L_NO_ANSWER, L_MISSING_SINCE, L_ALL_TARGETS, L_DECISION, L_TARGET,
    L_ISSUE, L_CHART, L_CHART_PUB, L_CHART_OVER, L_KIND, L_STATE, L_CATEGORY, L_CATEGORY_KEY,
    L_PUBLISHED_AT, L_RECEIPT, L_ATTEMPTS_COL, L_LAST_ERROR,
    L_ORGANISATION, L_AS_OF, L_RULES, L_RULE_ITEM, L_TIMELINESS, L_LATE_LIST, L_MISSED_LIST,
    L_PUBLISHED_ON, L_WDL, L_WDL_N, L_CAUSE, L_MUST, L_MISSED_BY, L_EXCL_BY, L_DEC_TOTAL,
    L_DEC_NOTE, L_STATE_SUMMARY, L_TL_KEY, L_TL, L_CAUSE_KEY, L_EXCL_KEY,
    L_CAUSE_TEXT, L_KIND_ONLY, L_NOW_MISSED, L_PAGE,
    L_COUNT
};

const char *report_label(enum report_label l, enum report_lang lang);
const char *report_cat_label(enum report_cat c, enum report_lang lang);
const char *report_issue_label(enum report_issue i, enum report_lang lang);
/* The fixed advice for an entry of the needs-a-human list. */
void report_advice(struct buf *out, const struct report_attention *a, enum report_lang lang);
/* The reason as a human reads it: verbatim platform words, or ours. */
void report_reason(struct buf *out, const struct report_attention *a, enum report_lang lang);

const char *report_tl_label(enum report_tl t, enum report_lang lang);
const char *report_cause_label(enum report_cause c, enum report_lang lang);
const char *report_excl_label(enum report_excl x, enum report_lang lang);
const char *report_kind_label(const char *kind, enum report_lang lang);
/* The title block's lines (organisation, period, as-of, generated, rules,
 * thresholds), one per element, for every format that prints one. */
size_t report_title_lines(const struct report_model *m, char **out, size_t max);

/* report_zh.c: validation reasons ("a; b") in the report's language; a
 * date as "2026年12月1日" / "1 December 2026"; the cause of a late
 * publication or a missed deadline from its history. */
void report_reason_text(struct buf *out, const char *reasons, enum report_lang lang);
void report_date_long(struct buf *out, date_t day, enum report_lang lang);
void report_cause_text(struct buf *out, const struct report_segment *seg, size_t n,
                       enum report_lang lang);
/* The whole "why" of an entry of the late or missed list. */
void report_timely_text(struct buf *out, const struct report_timely *t, enum report_lang lang);

/* The JSON writer (report_json.c). */
void report_json_row(struct buf *b, const struct report_row *r, long nrows,
                     enum report_lang lang);
void report_json_head(struct buf *b, const struct report_model *m);
void report_json_tail(struct buf *b, const struct report_model *m,
                      void (*spill)(void *ctx, struct buf *b), void *ctx);

uint32_t report_utf8_next(const char **p);
void report_pad(struct buf *out, const char *s, size_t width, bool right);
void report_wrap(struct buf *out, const char *indent, const char *text, size_t width);

/* Hand a large buffer to the output (ctx: the report_writer). */
void report_spill(void *ctx, struct buf *b);

/* The whole HTML page for the model (report_html.c); spill(ctx, out) is
 * called now and then to write out what has accumulated. */
void report_html(struct buf *out, const struct report_model *m,
                 void (*spill)(void *ctx, struct buf *b), void *ctx);

#endif

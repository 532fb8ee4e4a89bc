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
    L_COUNT
};

const char *report_label(enum report_label l, enum report_lang lang);
const char *report_cat_label(enum report_cat c, enum report_lang lang);
const char *report_issue_label(enum report_issue i, enum report_lang lang);
/* The fixed advice for an entry of the needs-a-human list. */
void report_advice(struct buf *out, const struct report_attention *a, enum report_lang lang);
/* The reason as a human reads it: verbatim platform words, or ours. */
void report_reason(struct buf *out, const struct report_attention *a, enum report_lang lang);

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

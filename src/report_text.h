/* report_text.h - the report's label tables and text helpers
 * (report_text.c).  Private to the report module; they depend on the
 * model's vocabulary (report.h) only.
 *
 * The report's files depend one way: report.c (the model) <- report_text.c
 * <- report_zh.c (the language texts) <- report_html.c, report_json.c,
 * report_writer.c (the formats) <- report_db.c (the command).
 */
#ifndef EPSYNC_REPORT_TEXT_H
#define EPSYNC_REPORT_TEXT_H

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

uint32_t report_utf8_next(const char **p);
void report_pad(struct buf *out, const char *s, size_t width, bool right);
void report_wrap(struct buf *out, const char *indent, const char *text, size_t width);

#endif

/* report_zh.h - what the report says in words (report_zh.c): the names
 * of timeliness, causes, reasons and kinds, the title block, validation
 * reasons in Chinese, long dates, the causes read from a pair's history.
 * Private to the report module; built on report_text.h.
 */
#ifndef EPSYNC_REPORT_ZH_H
#define EPSYNC_REPORT_ZH_H

#include <stddef.h>

#include "buf.h"
#include "report.h"

/* The reason as a human reads it: verbatim platform words, or ours. */
void report_reason(struct buf *out, const struct report_attention *a, enum report_lang lang);

const char *report_tl_label(enum report_tl t, enum report_lang lang);
const char *report_cause_label(enum report_cause c, enum report_lang lang);
const char *report_excl_label(enum report_excl x, enum report_lang lang);
const char *report_kind_label(const char *kind, enum report_lang lang);
/* The title block's lines (organisation, period, as-of, generated, rules,
 * thresholds), one per element, for every format that prints one. */
size_t report_title_lines(const struct report_model *m, char **out, size_t max);

/* Validation reasons ("a; b") in the report's language; a date as
 * "2026年12月1日" / "1 December 2026"; the cause of a late publication or
 * a missed deadline from its history. */
void report_reason_text(struct buf *out, const char *reasons, enum report_lang lang);
void report_date_long(struct buf *out, date_t day, enum report_lang lang);
void report_cause_text(struct buf *out, const struct report_segment *seg, size_t n,
                       enum report_lang lang);
/* The whole "why" of an entry of the late or missed list. */
void report_timely_text(struct buf *out, const struct report_timely *t, enum report_lang lang);

#endif

/* report_formats.h - the JSON and HTML writers that report_writer.c
 * dispatches to.  Private to the report module; built on report_text.h
 * and report_zh.h.
 */
#ifndef EPSYNC_REPORT_FORMATS_H
#define EPSYNC_REPORT_FORMATS_H

#include "buf.h"
#include "report.h"

/* The JSON writer (report_json.c). */
void report_json_row(struct buf *b, const struct report_row *r, long nrows,
                     enum report_lang lang);
void report_json_head(struct buf *b, const struct report_model *m);
void report_json_tail(struct buf *b, const struct report_model *m,
                      void (*spill)(void *ctx, struct buf *b), void *ctx);

/* The whole HTML page for the model (report_html.c); spill(ctx, out) is
 * called now and then to write out what has accumulated. */
void report_html(struct buf *out, const struct report_model *m,
                 void (*spill)(void *ctx, struct buf *b), void *ctx);

#endif

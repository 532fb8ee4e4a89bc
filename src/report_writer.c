/* report_writer.c - the streaming writer: text and CSV from the model and
 * the rows, and the dispatch to JSON (report_json.c) and HTML
 * (report_html.c).
 *
 * The numbers come only from struct report_model (sums, needs-a-human
 * list, weekly series) and from the rows report_db.c hands over while
 * streaming, which are the very rows the model was built from.
 *
 * Text is for a terminal: columns are padded by display width, not by
 * bytes, and lines stay within 100 cells.  CSV is for Excel: UTF-8 with a
 * BOM (without it Excel guesses a legacy code page and garbles Chinese),
 * CRLF line ends, RFC 4180 quoting.
 */
#include "report.h"
#include "report_formats.h"
#include "report_text.h"
#include "report_zh.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- writers --------------------------------------------------------- */

struct report_writer {
    enum report_format fmt;
    enum report_lang lang;
    FILE *out;
    FILE *spool;               /* JSON: the decisions array, written while streaming */
    long nrows;
    struct buf line;
    int write_errno;           /* first failed write of spill() */
};

/* Write out what has accumulated once it is large, so a long
 * needs-a-human list is not held twice in memory; the error, if any, is
 * reported by report_writer_finish(). */
static void report_spill(void *ctx, struct buf *b)
{
    report_writer *w = ctx;
    if (b->len < 65536)
        return;
    if (!w->write_errno && fwrite(b->data, 1, b->len, w->out) != b->len)
        w->write_errno = errno ? errno : EIO;
    buf_reset(b);
}

static int put(report_writer *w, FILE *f, struct err *e)
{
    if (w->line.len && fwrite(w->line.data, 1, w->line.len, f) != w->line.len)
        return err_set(e, -EIO, "report: write: %s", strerror(errno));
    buf_reset(&w->line);
    return 0;
}

static const enum report_label csv_columns[] = {
    L_DECISION, L_KIND, L_DECIDED, L_DUE, L_TARGET, L_STATE, L_CATEGORY_KEY, L_CATEGORY,
    L_PUBLISHED_AT, L_RECEIPT, L_ATTEMPTS_COL, L_LAST_ERROR, L_TL_KEY, L_TL, L_WDL,
    L_CAUSE_KEY, L_EXCL_KEY, L_CAUSE_TEXT,
};

int report_writer_open(report_writer **out, enum report_format fmt, enum report_lang lang,
                       FILE *f, struct err *e)
{
    report_writer *w = xcalloc(1, sizeof *w);
    w->fmt = fmt;
    w->lang = lang;
    w->out = f;
    *out = w;
    if (fmt == RFMT_JSON && !(w->spool = tmpfile()))
        return err_set(e, -errno, "report: temporary file: %s", strerror(errno));
    if (fmt == RFMT_CSV) {
        buf_puts(&w->line, "\xEF\xBB\xBF");
        for (size_t i = 0; i < sizeof csv_columns / sizeof csv_columns[0]; i++) {
            if (i)
                buf_putc(&w->line, ',');
            report_csv_field(&w->line, report_label(csv_columns[i], lang));
        }
        buf_puts(&w->line, "\r\n");
        return put(w, f, e);
    }
    return 0;
}

static void csv_row(report_writer *w, const struct report_row *r)
{
    char decided[11], due[11], num[24], wdl[24];
    struct buf why = BUF_INIT;
    date_format(r->decided_on, decided);
    date_format(r->due_on, due);
    for (size_t i = 0; i < r->ncells; i++) {
        const struct report_cell *c = &r->cells[i];
        buf_reset(&why);
        if (c->tl == RTL_LATE || c->tl == RTL_MISSED)
            report_cause_text(&why, c->seg, c->nseg, w->lang);
        snprintf(num, sizeof num, "%ld", c->attempts);
        snprintf(wdl, sizeof wdl, "%ld", c->wdl);
        const char *cols[] = {
            r->decision_id, r->kind, decided, due, c->target, c->state,
            report_cat_key(c->cat), report_cat_label(c->cat, w->lang), c->published_at,
            c->receipt, num, c->last_error, report_tl_key(c->tl), report_tl_label(c->tl, w->lang),
            (c->tl == RTL_LATE || c->tl == RTL_ON_TIME) && c->wdl >= 0 ? wdl : NULL,
            c->cause >= 0 ? report_cause_key((enum report_cause)c->cause) : NULL,
            c->excl >= 0 ? report_excl_key((enum report_excl)c->excl) : NULL,
            why.len ? buf_str(&why) : NULL,
        };
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            if (k)
                buf_putc(&w->line, ',');
            report_csv_field(&w->line, cols[k]);
        }
        buf_puts(&w->line, "\r\n");
    }
    buf_free(&why);
}

int report_writer_row(report_writer *w, const struct report_row *r, struct err *e)
{
    switch (w->fmt) {
    case RFMT_CSV:
        csv_row(w, r);
        w->nrows++;
        return put(w, w->out, e);
    case RFMT_JSON:
        report_json_row(&w->line, r, w->nrows, w->lang);
        w->nrows++;
        return put(w, w->spool, e);
    default:
        return 0;              /* text and HTML print the model only */
    }
}

static int json_finish(report_writer *w, const struct report_model *m, struct err *e)
{
    char chunk[65536];
    size_t n;
    int rc;

    report_json_head(&w->line, m);
    if ((rc = put(w, w->out, e)) < 0)
        return rc;
    if (fflush(w->spool) != 0 || fseek(w->spool, 0, SEEK_SET) != 0)
        return err_set(e, -EIO, "report: temporary file: %s", strerror(errno));
    while ((n = fread(chunk, 1, sizeof chunk, w->spool)) > 0)
        if (fwrite(chunk, 1, n, w->out) != n)
            return err_set(e, -EIO, "report: write: %s", strerror(errno));
    if (ferror(w->spool))
        return err_set(e, -EIO, "report: temporary file: %s", strerror(errno));
    if (w->nrows)
        buf_putc(&w->line, '\n');
    report_json_tail(&w->line, m, report_spill, w);
    return put(w, w->out, e);
}

/* ---- text ------------------------------------------------------------ */

enum { TEXT_WIDTH = 100, LABEL_W = 24, NUM_W = 12 };

static void text_attention(report_writer *w, struct buf *b, const struct report_model *m)
{
    enum report_lang lang = m->lang;
    char due[11], att[64];
    struct buf tmp = BUF_INIT;

    buf_printf(b, report_label(L_ATTENTION_N, lang), m->nattn);
    buf_putc(b, '\n');
    if (!m->nattn)
        buf_printf(b, "  %s\n", report_label(L_NOTHING, lang));
    for (size_t i = 0; i < m->nattn; i++) {
        const struct report_attention *a = &m->attn[i];
        date_format(a->due_on, due);
        buf_puts(b, "\n  ");
        buf_puts(b, a->decision_id);
        buf_puts(b, "  ");
        const struct report_target_sum *ts = report_model_target(m, a->target);
        buf_puts(b, ts ? ts->display : a->target ? a->target : report_label(L_ALL_TARGETS, lang));
        buf_puts(b, "  ");
        buf_puts(b, report_issue_label(a->issue, lang));
        buf_printf(b, "  %s %s", report_label(L_DUE, lang), due);
        if (a->target) {
            snprintf(att, sizeof att, report_label(L_ATTEMPTS, lang), a->attempts);
            buf_printf(b, "  %s", att);
        }
        buf_putc(b, '\n');
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s", report_label(L_REASON, lang), lang == RLANG_ZH ? "：" : ": ");
        report_reason(&tmp, a, lang);
        report_wrap(b, "    ", buf_str(&tmp), TEXT_WIDTH - 4);
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s", report_label(L_ADVICE, lang), lang == RLANG_ZH ? "：" : ": ");
        report_advice(&tmp, a, lang);
        report_wrap(b, "    ", buf_str(&tmp), TEXT_WIDTH - 4);
        report_spill(w, b);
    }
    buf_free(&tmp);
}

/* The late and the missed lists: one line of facts, then the cause. */
static void text_timely(report_writer *w, struct buf *b, const struct report_model *m,
                        enum report_tl which)
{
    enum report_lang lang = m->lang;
    struct buf tmp = BUF_INIT;
    char dec[11], due[11], pub[11];
    size_t n = m->nlist[which];

    buf_printf(b, report_label(which == RTL_LATE ? L_LATE_LIST : L_MISSED_LIST, lang), n);
    buf_putc(b, '\n');
    if (!n)
        buf_printf(b, "  %s\n", report_label(L_NOTHING, lang));
    for (size_t i = 0; i < m->ntimely; i++) {
        const struct report_timely *t = &m->timely[i];
        const struct report_target_sum *ts = report_model_target(m, t->target);
        if (t->tl != which)
            continue;
        date_format(t->decided_on, dec);
        date_format(t->due_on, due);
        buf_reset(&tmp);
        buf_printf(&tmp, "%s  %s  %s  %s %s  %s %s", t->decision_id,
                   ts ? ts->display : t->target, report_kind_label(t->kind, lang),
                   report_label(L_DECIDED, lang), dec, report_label(L_DUE, lang), due);
        if (which == RTL_LATE) {
            date_format(t->published_on, pub);
            buf_printf(&tmp, "  %s %s  ", report_label(L_PUBLISHED_ON, lang),
                       t->published_on != DATE_NONE ? pub : "?");
            if (t->wdl >= 0)
                buf_printf(&tmp, report_label(L_WDL_N, lang), t->wdl);
        }
        buf_putc(b, '\n');
        report_wrap(b, "  ", buf_str(&tmp), TEXT_WIDTH - 2);
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s", report_label(L_CAUSE, lang), lang == RLANG_ZH ? "：" : ": ");
        report_timely_text(&tmp, t, lang);
        report_wrap(b, "    ", buf_str(&tmp), TEXT_WIDTH - 4);
        report_spill(w, b);
    }
    buf_putc(b, '\n');
    buf_free(&tmp);
}

/* Column widths: a display name may be wider than a number. */
static size_t col_width(const struct report_model *m, size_t i, const char *name)
{
    size_t w = report_display_width(i < m->ntargets ? m->targets[i].display : name) + 2;
    return w < NUM_W ? NUM_W : w;
}

static void text_row(struct buf *b, const struct report_model *m, const char *label,
                     const long *per_target, size_t stride, long total, bool with_total)
{
    char num[24];
    report_pad(b, label, LABEL_W + 8, false);
    for (size_t i = 0; i < m->ntargets; i++) {
        snprintf(num, sizeof num, "%ld", *(const long *)((const char *)per_target + i * stride));
        report_pad(b, num, col_width(m, i, NULL), true);
    }
    if (with_total) {
        if (total >= 0)
            snprintf(num, sizeof num, "%ld", total);
        report_pad(b, total >= 0 ? num : "", col_width(m, m->ntargets,
                                                       report_label(L_DEC_TOTAL, m->lang)), true);
    }
    buf_putc(b, '\n');
}

#define TS_FIELD(m, f) (&(m)->targets[0].f), sizeof (m)->targets[0]

static void text_header(struct buf *b, const struct report_model *m, const char *title,
                        bool with_total)
{
    buf_printf(b, "%s\n", title);
    report_pad(b, "", LABEL_W + 8, false);
    for (size_t i = 0; i < m->ntargets; i++)
        report_pad(b, m->targets[i].display, col_width(m, i, NULL), true);
    if (with_total)
        report_pad(b, report_label(L_DEC_TOTAL, m->lang),
                   col_width(m, m->ntargets, report_label(L_DEC_TOTAL, m->lang)), true);
    buf_putc(b, '\n');
}

static void text_summary(struct buf *b, const struct report_model *m)
{
    enum report_lang lang = m->lang;
    static const enum report_tl rows[] = { RTL_ON_TIME, RTL_LATE, RTL_MISSED, RTL_NOT_DUE };
    struct buf lbl = BUF_INIT;

    if (!m->ntargets)
        return;
    text_header(b, m, report_label(L_TIMELINESS, lang), true);
    text_row(b, m, report_label(L_IN_SCOPE, lang), TS_FIELD(m, in_scope), m->ndecisions, true);
    text_row(b, m, report_label(L_MUST, lang), TS_FIELD(m, must_publish), m->dec_must, true);
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        text_row(b, m, report_tl_label(rows[k], lang), TS_FIELD(m, tl[rows[k]]), m->dec_tl[rows[k]],
                 true);
    for (int c = 0; c < RCAUSE_COUNT; c++) {
        buf_reset(&lbl);
        buf_printf(&lbl, "  %s：%s", report_label(L_NOW_MISSED, lang),
                   report_cause_label((enum report_cause)c, lang));
        text_row(b, m, lang == RLANG_ZH ? buf_str(&lbl) : report_cause_label((enum report_cause)c, lang),
                 TS_FIELD(m, missed_by[c]), -1, true);
    }
    text_row(b, m, report_tl_label(RTL_OUTSIDE, lang), TS_FIELD(m, tl[RTL_OUTSIDE]),
             m->dec_tl[RTL_OUTSIDE], true);
    for (int x = 0; x < REXCL_COUNT; x++) {
        buf_reset(&lbl);
        buf_printf(&lbl, "  %s", report_excl_label((enum report_excl)x, lang));
        text_row(b, m, buf_str(&lbl), TS_FIELD(m, excl_by[x]), -1, true);
    }
    buf_free(&lbl);
    report_wrap(b, "", report_label(L_DEC_NOTE, lang), TEXT_WIDTH);
    buf_putc(b, '\n');
    text_header(b, m, report_label(L_STATE_SUMMARY, lang), false);
    text_row(b, m, report_label(L_IN_SCOPE, lang), TS_FIELD(m, in_scope), -1, false);
    for (int c = 0; c < RCAT_COUNT; c++)
        text_row(b, m, report_cat_label((enum report_cat)c, lang), TS_FIELD(m, n[c]), -1, false);
}

static int text_finish(report_writer *w, const struct report_model *m, struct err *e)
{
    enum report_lang lang = m->lang;
    struct buf *b = &w->line, tmp = BUF_INIT;
    char *lines[8];
    size_t n = report_title_lines(m, lines, 8);

    buf_printf(b, "%s\n", report_label(L_TITLE, lang));
    for (size_t i = 0; i < n; i++) {
        report_wrap(b, "", lines[i], TEXT_WIDTH);
        free(lines[i]);
    }
    for (size_t i = 0; i < m->nwarnings; i++) {
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s%s", report_label(L_WARNINGS, lang), lang == RLANG_ZH ? "：" : ": ",
                   m->warnings[i]);
        report_wrap(b, "", buf_str(&tmp), TEXT_WIDTH);
    }
    buf_free(&tmp);
    buf_putc(b, '\n');
    text_timely(w, b, m, RTL_LATE);
    text_timely(w, b, m, RTL_MISSED);
    text_attention(w, b, m);
    buf_putc(b, '\n');
    text_summary(b, m);
    return put(w, w->out, e);
}

int report_writer_finish(report_writer *w, const struct report_model *m, struct err *e)
{
    int rc = 0;
    switch (w->fmt) {
    case RFMT_TEXT: rc = text_finish(w, m, e); break;
    case RFMT_JSON: rc = json_finish(w, m, e); break;
    case RFMT_HTML:
        report_html(&w->line, m, report_spill, w);
        rc = put(w, w->out, e);
        break;
    case RFMT_CSV: break;      /* the rows are the whole file */
    }
    if (rc == 0 && w->write_errno)
        rc = err_set(e, -EIO, "report: write: %s", strerror(w->write_errno));
    if (rc == 0 && (fflush(w->out) != 0 || ferror(w->out)))
        rc = err_set(e, -EIO, "report: write: %s", strerror(errno));
    return rc;
}

void report_writer_free(report_writer *w)
{
    if (!w)
        return;
    if (w->spool)
        fclose(w->spool);
    buf_free(&w->line);
    free(w);
}

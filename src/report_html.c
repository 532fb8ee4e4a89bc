/* report_html.c - the report as one self-contained, printable HTML page.
 *
 * No external assets: CSS is inline, the weekly chart is inline SVG, so
 * the page can be mailed, archived and printed (A4) as it is.  Every text
 * from the database (ids, platform messages) goes through
 * report_html_escape(); the platform's words are shown verbatim.
 */
#include "report.h"
#include "report_formats.h"
#include "report_text.h"
#include "report_zh.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Printed on A4: page numbers in the bottom margin box, table headers
 * repeated on every page (thead), cells that break between words only
 * (keep-all keeps Chinese words whole; ids and dates never wrap), rows
 * not split across pages. */
static const char *const PAGE_CSS =
    "@page{size:A4;margin:16mm 12mm 18mm 12mm;"
    "@bottom-center{content:\"%s\";font-size:10px;color:#444}}";
static const char *CSS =
    "body{font-family:\"Noto Sans CJK SC\",\"Noto Serif CJK SC\",\"Microsoft YaHei\","
    "\"PingFang SC\",\"WenQuanYi Micro Hei\",sans-serif;margin:24px;color:#222;font-size:14px}"
    "h1{font-size:22px;margin:0 0 8px;text-align:center}"
    "h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #999}"
    ".titleblock{margin:0 0 12px}.titleblock p{margin:2px 0}"
    ".org{font-size:16px;text-align:center;font-weight:bold}"
    ".meta{color:#333;margin:2px 0}.warn{background:#fff4e5;border-left:4px solid #e69500;"
    "padding:6px 10px;margin:8px 0}"
    "table{border-collapse:collapse;margin:4px 0;width:100%}"
    "th,td{border:1px solid #999;padding:3px 6px;vertical-align:top;word-break:keep-all;"
    "overflow-wrap:break-word}"
    "th{background:#eee;text-align:left;white-space:nowrap}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums;white-space:nowrap}"
    "thead{display:table-header-group}tr{break-inside:avoid;page-break-inside:avoid}"
    "tr.bad td{background:#fdecea}tr.in td{font-weight:bold}tr.sub td:first-child{padding-left:2em}"
    "td.reason{min-width:14em}td.advice{min-width:17em}"
    "code{font-family:monospace;font-size:12px;white-space:nowrap}"
    "td.d,td.nw{white-space:nowrap}"
    ".chart svg{max-width:100%;height:auto}"
    ".note{font-size:12px;color:#444}"
    ".signoff{margin-top:36px;display:flex;justify-content:space-between;font-size:14px}"
    ".signoff span{display:inline-block;min-width:12em}"
    "@media print{body{margin:0;font-size:10.5px}h2{break-after:avoid;page-break-after:avoid}"
    "code{font-size:10px}.chart{break-inside:avoid}}";

static const char *const issue_rowclass = " class=\"bad\"";

static void esc(struct buf *b, const char *s) { report_html_escape(b, s); }

static void thead(struct buf *b, const struct report_model *m, bool total)
{
    buf_puts(b, "<thead><tr><th></th>");
    for (size_t i = 0; i < m->ntargets; i++) {
        buf_puts(b, "<th data-target=\"");
        esc(b, m->targets[i].name);
        buf_puts(b, "\">");
        esc(b, m->targets[i].display);
        buf_puts(b, "</th>");
    }
    if (total)
        buf_printf(b, "<th>%s</th>", report_label(L_DEC_TOTAL, m->lang));
    buf_puts(b, "</tr></thead>\n<tbody>\n");
}

/* One row of numbers: per target at `off` bytes into its sums, and the
 * decision total when total >= 0 (an empty cell when -1 and with_total). */
static void num_row(struct buf *b, const struct report_model *m, const char *key,
                    const char *cls, const char *label, size_t off, long total, bool with_total)
{
    buf_printf(b, "<tr data-key=\"%s\"%s><td>%s</td>", key, cls, label);
    for (size_t i = 0; i < m->ntargets; i++)
        buf_printf(b, "<td class=\"n\">%ld</td>", *(const long *)((const char *)&m->targets[i] + off));
    if (with_total) {
        if (total >= 0)
            buf_printf(b, "<td class=\"n\">%ld</td>", total);
        else
            buf_puts(b, "<td></td>");
    }
    buf_puts(b, "</tr>\n");
}

#define OFF(f) offsetof(struct report_target_sum, f)

static void summary(struct buf *b, const struct report_model *m)
{
    enum report_lang lang = m->lang;
    static const enum report_tl rows[] = { RTL_ON_TIME, RTL_LATE, RTL_MISSED, RTL_NOT_DUE };
    char key[64];

    buf_printf(b, "<h2>%s</h2>\n<table class=\"summary\" id=\"timeliness\">",
               report_label(L_TIMELINESS, lang));
    thead(b, m, true);
    num_row(b, m, "in_scope", " class=\"in\"", report_label(L_IN_SCOPE, lang), OFF(in_scope),
            m->ndecisions, true);
    num_row(b, m, "must_publish", " class=\"in\"", report_label(L_MUST, lang),
            OFF(must_publish), m->dec_must, true);
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        num_row(b, m, report_tl_key(rows[k]),
                rows[k] == RTL_LATE || rows[k] == RTL_MISSED ? issue_rowclass : "",
                report_tl_label(rows[k], lang), OFF(tl[rows[k]]), m->dec_tl[rows[k]], true);
    for (int c = 0; c < RCAUSE_COUNT; c++) {
        snprintf(key, sizeof key, "missed_by_cause.%s", report_cause_key((enum report_cause)c));
        num_row(b, m, key, " class=\"sub\"", report_cause_label((enum report_cause)c, lang),
                OFF(missed_by[c]), -1, true);
    }
    num_row(b, m, "outside", "", report_tl_label(RTL_OUTSIDE, lang), OFF(tl[RTL_OUTSIDE]),
            m->dec_tl[RTL_OUTSIDE], true);
    for (int x = 0; x < REXCL_COUNT; x++) {
        snprintf(key, sizeof key, "excluded_by_reason.%s", report_excl_key((enum report_excl)x));
        num_row(b, m, key, " class=\"sub\"", report_excl_label((enum report_excl)x, lang),
                OFF(excl_by[x]), -1, true);
    }
    buf_printf(b, "</tbody></table>\n<p class=\"note\">%s</p>\n", report_label(L_DEC_NOTE, lang));

    buf_printf(b, "<h2>%s</h2>\n<table class=\"summary\" id=\"summary\">",
               report_label(L_STATE_SUMMARY, lang));
    thead(b, m, false);
    num_row(b, m, "in_scope", " class=\"in\"", report_label(L_IN_SCOPE, lang), OFF(in_scope),
            -1, false);
    for (int c = 0; c < RCAT_COUNT; c++) {
        bool bad = c == RCAT_OVERDUE || c == RCAT_REJECTED || c == RCAT_INVALID ||
                   c == RCAT_LATE;
        num_row(b, m, report_cat_key((enum report_cat)c), bad ? issue_rowclass : "",
                report_cat_label((enum report_cat)c, lang), OFF(n[c]), -1, false);
    }
    buf_puts(b, "</tbody></table>\n");
}

enum { CHART_MAX_WEEKS = 110, CHART_W = 954, LEFT = 44, TOP = 16, PLOT_H = 180 };

/* Bars per ISO week: first publications (blue) against pairs due that
 * week that missed their deadline (red).  Up to a year the bars are 7 px
 * wide; longer series get narrower bars, and beyond two years only the
 * last two are drawn: a bar a pixel wide says nothing. */
static void chart(struct buf *b, const struct report_model *m)
{
    enum report_lang lang = m->lang;
    size_t first = m->nweeks > CHART_MAX_WEEKS ? m->nweeks - CHART_MAX_WEEKS : 0;
    size_t n = m->nweeks - first;
    long max = 1;
    char week[9];

    for (size_t i = first; i < m->nweeks; i++) {
        if (m->weeks[i].published > max) max = m->weeks[i].published;
        if (m->weeks[i].overdue > max) max = m->weeks[i].overdue;
    }
    int SLOT = n <= 53 ? 18 : CHART_W / (int)n, BAR = (SLOT - 4) / 2;
    int width = LEFT + (int)n * SLOT + 10, height = TOP + PLOT_H + 90;
    if (width < 640)           /* room for the legend, legible on paper */
        width = 640;
    size_t every = n > 80 ? 8 : n > 40 ? 4 : n > 20 ? 2 : 1;

    buf_printf(b, "<h2>%s</h2>\n<div class=\"chart\">", report_label(L_CHART, lang));
    buf_printf(b, "<svg id=\"weekly-chart\" xmlns=\"http://www.w3.org/2000/svg\" "
                  "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
                  "font-size=\"10\" font-family=\"sans-serif\">\n<title>",
               width, height, width, height);
    esc(b, report_label(L_CHART, lang));
    buf_puts(b, "</title>\n");
    /* axis and three gridlines: 0, max/2, max */
    for (int g = 0; g <= 2; g++) {
        long v = max * g / 2;
        int y = TOP + PLOT_H - (int)(PLOT_H * v / max);
        buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>"
                      "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%ld</text>\n",
                   LEFT, y, width - 10, y, LEFT - 4, y + 3, v);
    }
    for (size_t i = 0; i < n; i++) {
        const struct report_week *w = &m->weeks[first + i];
        int x = LEFT + (int)i * SLOT + 2;
        long vals[2] = { w->published, w->overdue };
        static const char *const fill[2] = { "#3b6fb6", "#c8372d" };
        report_iso_week(m->week0 + (date_t)(7 * (first + i)), week);
        for (int k = 0; k < 2; k++) {
            int h = (int)(PLOT_H * vals[k] / max);
            int bx = x + k * (BAR + 1);
            buf_printf(b, "<rect class=\"%s\" data-week=\"%s\" data-value=\"%ld\" x=\"%d\" "
                          "y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%s: %ld</title>"
                          "</rect>",
                       k ? "overdue" : "published", week, vals[k], bx, TOP + PLOT_H - h, BAR, h,
                       fill[k], week, vals[k]);
            if (vals[k])
                buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"7\">"
                              "%ld</text>", bx + BAR / 2, TOP + PLOT_H - h - 2, vals[k]);
        }
        if (i % every == 0)    /* the whole year-week, slanted so labels never overlap */
            buf_printf(b, "<text class=\"week\" x=\"%d\" y=\"%d\" text-anchor=\"end\" "
                          "transform=\"rotate(-45 %d %d)\">%s</text>",
                       x + BAR, TOP + PLOT_H + 12, x + BAR, TOP + PLOT_H + 12, week);
        buf_putc(b, '\n');
    }
    buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
               LEFT, TOP + PLOT_H, width - 10, TOP + PLOT_H);
    buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#3b6fb6\"/>"
                  "<text x=\"%d\" y=\"%d\">%s</text>",
               LEFT, TOP + PLOT_H + 66, LEFT + 14, TOP + PLOT_H + 75,
               report_label(L_CHART_PUB, lang));
    buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#c8372d\"/>"
                  "<text x=\"%d\" y=\"%d\">%s</text>\n</svg>\n",
               LEFT + 150, TOP + PLOT_H + 66, LEFT + 164, TOP + PLOT_H + 75,
               report_label(L_CHART_OVER, lang));
    buf_puts(b, "</div>\n");
}

/* Advice with its command kept on one line ("epsync retry H-1" must not
 * break at the hyphen of an id). */
static void command(struct buf *b, const char *advice, const char *id)
{
    const char *cmd = strstr(advice, "epsync ");
    const char *at = cmd ? strstr(cmd, id) : NULL;
    if (!at) {
        esc(b, advice);
        return;
    }
    size_t n = (size_t)(at - cmd) + strlen(id);
    char *head = xstrdup(advice), *body = xstrdup(cmd);
    head[cmd - advice] = '\0';
    body[n] = '\0';
    esc(b, head);
    buf_puts(b, "<code>");
    esc(b, body);
    buf_puts(b, "</code>");
    esc(b, cmd + n);
    free(head);
    free(body);
}

static void attention(struct buf *b, const struct report_model *m,
                      void (*spill)(void *ctx, struct buf *b), void *ctx)
{
    enum report_lang lang = m->lang;
    struct buf tmp = BUF_INIT;
    char decided[11], due[11];

    buf_puts(b, "<h2>");
    buf_printf(b, report_label(L_ATTENTION_N, lang), m->nattn);
    buf_puts(b, "</h2>\n");
    if (!m->nattn) {
        buf_printf(b, "<p>%s</p>\n", report_label(L_NOTHING, lang));
        return;
    }
    buf_printf(b, "<table class=\"attn\" id=\"attention\"><thead><tr><th>%s</th><th>%s</th>"
                  "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>"
                  "</thead>\n<tbody>\n",
               report_label(L_DECISION, lang), report_label(L_TARGET, lang),
               report_label(L_ISSUE, lang), report_label(L_DECIDED, lang),
               report_label(L_DUE, lang), report_label(L_ATTEMPTS_COL, lang),
               report_label(L_REASON, lang), report_label(L_ADVICE, lang));
    for (size_t i = 0; i < m->nattn; i++) {
        const struct report_attention *a = &m->attn[i];
        date_format(a->decided_on, decided);
        date_format(a->due_on, due);
        buf_printf(b, "<tr data-issue=\"%s\"><td><code>", report_issue_key(a->issue));
        esc(b, a->decision_id);
        buf_puts(b, "</code></td><td>");
        const struct report_target_sum *ts = report_model_target(m, a->target);
        esc(b, ts ? ts->display : a->target ? a->target : report_label(L_ALL_TARGETS, lang));
        buf_printf(b, "</td><td class=\"nw\">%s</td><td class=\"d\">%s</td><td class=\"d\">%s</td>"
                      "<td class=\"n\">",
                   report_issue_label(a->issue, lang), decided, due);
        if (a->target)
            buf_printf(b, "%ld", a->attempts);
        buf_puts(b, "</td><td class=\"reason\">");
        buf_reset(&tmp);
        report_reason(&tmp, a, lang);
        esc(b, buf_str(&tmp));
        buf_puts(b, "</td><td class=\"advice\">");
        buf_reset(&tmp);
        report_advice(&tmp, a, lang);
        command(b, buf_str(&tmp), a->decision_id);
        buf_puts(b, "</td></tr>\n");
        spill(ctx, b);
    }
    buf_puts(b, "</tbody></table>\n");
    buf_free(&tmp);
}

/* The list of late publications or of missed deadlines. */
static void timely(struct buf *b, const struct report_model *m, enum report_tl which,
                   void (*spill)(void *ctx, struct buf *b), void *ctx)
{
    enum report_lang lang = m->lang;
    struct buf tmp = BUF_INIT;
    char dec[11], due[11], pub[11];
    size_t n = m->nlist[which];

    buf_puts(b, "<h2>");
    buf_printf(b, report_label(which == RTL_LATE ? L_LATE_LIST : L_MISSED_LIST, lang), n);
    buf_puts(b, "</h2>\n");
    if (!n) {
        buf_printf(b, "<p>%s</p>\n", report_label(L_NOTHING, lang));
        return;
    }
    buf_printf(b, "<table class=\"timely\" id=\"%s\"><thead><tr><th>%s</th><th>%s</th><th>%s</th>"
                  "<th>%s</th><th>%s</th>", which == RTL_LATE ? "late" : "missed",
               report_label(L_DECISION, lang), report_label(L_KIND, lang),
               report_label(L_TARGET, lang), report_label(L_DECIDED, lang),
               report_label(L_DUE, lang));
    if (which == RTL_LATE)
        buf_printf(b, "<th>%s</th><th>%s</th>", report_label(L_PUBLISHED_ON, lang),
                   report_label(L_WDL, lang));
    buf_printf(b, "<th>%s</th></tr></thead>\n<tbody>\n", report_label(L_CAUSE, lang));
    for (size_t i = 0; i < m->ntimely; i++) {
        const struct report_timely *t = &m->timely[i];
        const struct report_target_sum *ts = report_model_target(m, t->target);
        if (t->tl != which)
            continue;
        date_format(t->decided_on, dec);
        date_format(t->due_on, due);
        buf_printf(b, "<tr data-decision=\"");
        esc(b, t->decision_id);
        buf_puts(b, "\" data-target=\"");
        esc(b, t->target);
        buf_puts(b, "\"><td><code>");
        esc(b, t->decision_id);
        buf_printf(b, "</code></td><td class=\"nw\">%s</td><td>",
                   report_kind_label(t->kind, lang));
        esc(b, ts ? ts->display : t->target);
        buf_printf(b, "</td><td class=\"d\">%s</td><td class=\"d\">%s</td>", dec, due);
        if (which == RTL_LATE) {
            date_format(t->published_on, pub);
            buf_printf(b, "<td class=\"d\">%s</td><td class=\"n wdl\">", 
                       t->published_on != DATE_NONE ? pub : "");
            if (t->wdl >= 0)
                buf_printf(b, "%ld", t->wdl);
            buf_puts(b, "</td>");
        }
        buf_reset(&tmp);
        report_timely_text(&tmp, t, lang);
        buf_puts(b, "<td class=\"reason\">");
        esc(b, buf_str(&tmp));
        buf_puts(b, "</td></tr>\n");
        spill(ctx, b);
    }
    buf_puts(b, "</tbody></table>\n");
    buf_free(&tmp);
}

static void title_block(struct buf *b, const struct report_model *m)
{
    char *lines[8];
    size_t n = report_title_lines(m, lines, 8);
    buf_printf(b, "<h1>%s</h1>\n<div class=\"titleblock\">\n", report_label(L_TITLE, m->lang));
    for (size_t i = 0; i < n; i++) {
        bool org = i == 0 && m->organisation && *m->organisation;
        buf_printf(b, "<p class=\"%s\">", org ? "org" : "meta");
        esc(b, lines[i]);
        buf_puts(b, "</p>\n");
        free(lines[i]);
    }
    buf_puts(b, "</div>\n");
    for (size_t i = 0; i < m->nwarnings; i++) {
        buf_printf(b, "<p class=\"warn\">%s: ", report_label(L_WARNINGS, m->lang));
        esc(b, m->warnings[i]);
        buf_puts(b, "</p>\n");
    }
}

static void signoff(struct buf *b, enum report_lang lang)
{
    bool zh = lang == RLANG_ZH;
    buf_printf(b, "<div class=\"signoff\" id=\"signoff\"><span>%s</span><span>%s</span>"
                  "<span>%s</span></div>\n",
               zh ? "制表：" : "Prepared by:", zh ? "审核：" : "Checked by:",
               zh ? "日期：" : "Date:");
}

void report_html(struct buf *b, const struct report_model *m,
                 void (*spill)(void *ctx, struct buf *b), void *ctx)
{
    enum report_lang lang = m->lang;
    char from[11], to[11];

    date_format(m->from, from);
    date_format(m->to, to);
    buf_printf(b, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>", lang == RLANG_ZH ? "zh-CN" : "en");
    if (m->organisation && *m->organisation) {
        esc(b, m->organisation);
        buf_putc(b, ' ');
    }
    buf_printf(b, "%s %s – %s</title>\n<style>", report_label(L_TITLE, lang), from, to);
    buf_printf(b, PAGE_CSS, report_label(L_PAGE, lang));
    buf_puts(b, CSS);
    buf_puts(b, "</style>\n</head>\n<body>\n");
    title_block(b, m);
    timely(b, m, RTL_LATE, spill, ctx);
    timely(b, m, RTL_MISSED, spill, ctx);
    attention(b, m, spill, ctx);
    summary(b, m);
    chart(b, m);
    signoff(b, lang);
    buf_puts(b, "</body>\n</html>\n");
}

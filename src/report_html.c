/* report_html.c - the report as one self-contained, printable HTML page.
 *
 * No external assets: CSS is inline, the weekly chart is inline SVG, so
 * the page can be mailed, archived and printed (A4) as it is.  Every text
 * from the database (ids, platform messages) goes through
 * report_html_escape(); the platform's words are shown verbatim.
 */
#include "report.h"
#include "report_int.h"

#include <string.h>

static const char *CSS =
    "body{font-family:\"Noto Sans CJK SC\",\"Microsoft YaHei\",\"PingFang SC\",sans-serif;"
    "margin:24px;color:#222;font-size:14px}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;"
    "border-bottom:1px solid #999}"
    ".meta{color:#555;margin:2px 0}.warn{background:#fff4e5;border-left:4px solid #e69500;"
    "padding:6px 10px;margin:8px 0}"
    "table{border-collapse:collapse;margin:4px 0}th,td{border:1px solid #bbb;padding:3px 8px;"
    "vertical-align:top}th{background:#eee;text-align:left}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    "tr.bad td{background:#fdecea}tr.in td{font-weight:bold}"
    "table.attn td.reason{max-width:28em;white-space:pre-wrap;word-break:break-all}"
    "code{font-family:monospace;font-size:12px;white-space:nowrap}td.d{white-space:nowrap}"
    "svg{max-width:100%;height:auto}"
    ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;"
    "vertical-align:middle}"
    "@media print{@page{size:A4;margin:15mm}body{margin:0;font-size:11px}"
    "h2{page-break-after:avoid}tr{page-break-inside:avoid}}";

static const char *const issue_rowclass = " class=\"bad\"";

static void esc(struct buf *b, const char *s) { report_html_escape(b, s); }

static void summary(struct buf *b, const struct report_model *m)
{
    enum report_lang lang = m->lang;
    bool total = m->ntargets > 1;

    buf_printf(b, "<h2>%s</h2>\n<table class=\"summary\" id=\"summary\"><tr><th></th>",
               report_label(L_SUMMARY, lang));
    for (size_t i = 0; i < m->ntargets; i++) {
        buf_puts(b, "<th>");
        esc(b, m->targets[i].name);
        buf_puts(b, "</th>");
    }
    if (total)
        buf_printf(b, "<th>%s</th>", report_label(L_TOTAL, lang));
    buf_puts(b, "</tr>\n");
    for (int c = -1; c < RCAT_COUNT; c++) {
        long sum = 0;
        bool bad = c == RCAT_OVERDUE || c == RCAT_REJECTED || c == RCAT_INVALID ||
                   c == RCAT_LATE;
        buf_printf(b, "<tr data-key=\"%s\"%s><td>%s</td>",
                   c < 0 ? "in_scope" : report_cat_key((enum report_cat)c),
                   c < 0 ? " class=\"in\"" : bad ? issue_rowclass : "",
                   c < 0 ? report_label(L_IN_SCOPE, lang)
                         : report_cat_label((enum report_cat)c, lang));
        for (size_t i = 0; i < m->ntargets; i++) {
            long v = c < 0 ? m->targets[i].in_scope : m->targets[i].n[c];
            sum += v;
            buf_printf(b, "<td class=\"n\">%ld</td>", v);
        }
        if (total)
            buf_printf(b, "<td class=\"n\">%ld</td>", sum);
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</table>\n");
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
    int width = LEFT + (int)n * SLOT + 10, height = TOP + PLOT_H + 50;
    if (width < 420)           /* room for the legend */
        width = 420;
    size_t every = n > 80 ? 8 : n > 26 ? 4 : n > 13 ? 2 : 1;

    buf_printf(b, "<h2>%s</h2>\n", report_label(L_CHART, lang));
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
        if (i % every == 0)
            buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                       x + BAR, TOP + PLOT_H + 14, week + 5);
        buf_putc(b, '\n');
    }
    buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
               LEFT, TOP + PLOT_H, width - 10, TOP + PLOT_H);
    buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#3b6fb6\"/>"
                  "<text x=\"%d\" y=\"%d\">%s</text>",
               LEFT, TOP + PLOT_H + 26, LEFT + 14, TOP + PLOT_H + 35,
               report_label(L_CHART_PUB, lang));
    buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#c8372d\"/>"
                  "<text x=\"%d\" y=\"%d\">%s</text>\n</svg>\n",
               LEFT + 150, TOP + PLOT_H + 26, LEFT + 164, TOP + PLOT_H + 35,
               report_label(L_CHART_OVER, lang));
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
    buf_printf(b, "<table class=\"attn\" id=\"attention\"><tr><th>%s</th><th>%s</th><th>%s</th>"
                  "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
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
        esc(b, a->target ? a->target : report_label(L_ALL_TARGETS, lang));
        buf_printf(b, "</td><td>%s</td><td class=\"d\">%s</td><td class=\"d\">%s</td>"
                      "<td class=\"n\">",
                   report_issue_label(a->issue, lang), decided, due);
        if (a->target)
            buf_printf(b, "%ld", a->attempts);
        buf_puts(b, "</td><td class=\"reason\">");
        buf_reset(&tmp);
        report_reason(&tmp, a, lang);
        esc(b, buf_str(&tmp));
        buf_puts(b, "</td><td>");
        buf_reset(&tmp);
        report_advice(&tmp, a, lang);
        esc(b, buf_str(&tmp));
        buf_puts(b, "</td></tr>\n");
        spill(ctx, b);
    }
    buf_puts(b, "</table>\n");
    buf_free(&tmp);
}

void report_html(struct buf *b, const struct report_model *m,
                 void (*spill)(void *ctx, struct buf *b), void *ctx)
{
    enum report_lang lang = m->lang;
    char from[11], to[11], ts[32];
    struct buf tmp = BUF_INIT;

    date_format(m->from, from);
    date_format(m->to, to);
    report_ts_cst(m->generated_ms, ts);
    buf_printf(b, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>%s %s – %s</title>\n<style>%s</style>\n</head>\n<body>\n",
               lang == RLANG_ZH ? "zh-CN" : "en", report_label(L_TITLE, lang), from, to, CSS);
    buf_printf(b, "<h1>%s</h1>\n", report_label(L_TITLE, lang));
    buf_printf(b, "<p class=\"meta\">%s %s %s %s · %s %s</p>\n", report_label(L_PERIOD, lang),
               from, report_label(L_TO, lang), to, report_label(L_GENERATED, lang), ts);
    buf_printf(&tmp, report_label(L_THRESHOLDS, lang), (long long)m->small_fine_person_yuan,
               (long long)m->small_fine_org_yuan);
    buf_puts(b, "<p class=\"meta\" id=\"thresholds\">");
    esc(b, buf_str(&tmp));
    buf_puts(b, "</p>\n");
    buf_free(&tmp);
    for (size_t i = 0; i < m->nwarnings; i++) {
        buf_printf(b, "<p class=\"warn\">%s: ", report_label(L_WARNINGS, lang));
        esc(b, m->warnings[i]);
        buf_puts(b, "</p>\n");
    }
    summary(b, m);
    chart(b, m);
    attention(b, m, spill, ctx);
    buf_puts(b, "</body>\n</html>\n");
}

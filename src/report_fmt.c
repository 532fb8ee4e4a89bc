/* report_fmt.c - rendering the report model: text, CSV, JSON (HTML in
 * report_html.c).
 *
 * Every label lives once in a table indexed by language.  The numbers
 * come only from struct report_model (sums, needs-a-human list, weekly
 * series) and from the rows report.c hands over while streaming, which
 * are the very rows the model was built from.
 *
 * Text is for a terminal: Chinese characters take two cells, so columns
 * are padded by display width, not by bytes, and lines stay within 100
 * cells.  CSV is for Excel: UTF-8 with a BOM (without it Excel guesses a
 * legacy code page and garbles Chinese), CRLF line ends, RFC 4180 quoting.
 */
#include "report.h"
#include "report_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- labels ---------------------------------------------------------- */

static const char *const cat_labels[RCAT_COUNT][RLANG_COUNT] = {
    [RCAT_ON_TIME]          = { "按时公示", "published on time" },
    [RCAT_LATE]             = { "超期公示", "published late" },
    [RCAT_PENDING]          = { "待公示（未到期）", "pending, not yet due" },
    [RCAT_RETRY]            = { "重试中（未到期）", "retrying, not yet due" },
    [RCAT_OVERDUE]          = { "逾期未公示", "overdue, not published" },
    [RCAT_REJECTED]         = { "平台拒收", "rejected by the platform" },
    [RCAT_INVALID]          = { "校验未通过", "failed validation" },
    [RCAT_EXCLUDED]         = { "不予公示", "excluded" },
    [RCAT_CANCELLED]        = { "已取消", "cancelled" },
    [RCAT_WITHDRAWN]        = { "已撤回", "withdrawn" },
    [RCAT_WITHDRAW_PENDING] = { "撤回中", "withdrawal pending" },
};

static const char *const issue_labels[RISSUE_COUNT][RLANG_COUNT] = {
    [RISSUE_OVERDUE]  = { "逾期未公示", "overdue" },
    [RISSUE_REJECTED] = { "平台拒收", "rejected" },
    [RISSUE_INVALID]  = { "校验未通过", "failed validation" },
    [RISSUE_MISSING]  = { "案件系统中已不存在", "missing from the case system" },
};

/* What to do, per issue; %s is the decision id. */
static const char *const issue_advice[RISSUE_COUNT][RLANG_COUNT] = {
    [RISSUE_OVERDUE] = {
        "查看平台答复和网络连接；原因排除后执行 epsync retry %s",
        "check the platform's message and the connection; once fixed, run: epsync retry %s" },
    [RISSUE_REJECTED] = {
        "按平台答复在案件系统中更正案件记录，然后执行 epsync retry %s",
        "correct the case record in the case system as the platform's message says, "
        "then run: epsync retry %s" },
    [RISSUE_INVALID] = {
        "在案件系统中更正案件记录（记录变更后自动重新校验），或执行 epsync retry %s 重新读取",
        "fix the case record in the case system (it is re-checked when it changes), "
        "or re-read it now: epsync retry %s" },
    [RISSUE_MISSING] = {
        "核实该决定为何从案件系统中消失；如已不再有效，执行 epsync withdraw %s --reason 原因",
        "find out why the decision left the case system; if it no longer stands, run: "
        "epsync withdraw %s --reason TEXT" },
};

static const char *const labels[L_COUNT][RLANG_COUNT] = {
    [L_TITLE]        = { "行政执法决定公示同步状态报告",
                         "Enforcement decision publicity: sync-status report" },
    [L_PERIOD]       = { "决定日期", "Decided" },
    [L_TO]           = { "至", "to" },
    [L_GENERATED]    = { "生成时间", "Generated" },
    [L_THRESHOLDS]   = { "现行“较低数额罚款”门槛：自然人 %lld 元，法人及其他组织 %lld 元",
                         "Small-fine thresholds in force: natural persons %lld yuan, "
                         "organisations %lld yuan" },
    [L_WARNINGS]     = { "注意", "Warnings" },
    [L_ATTENTION]    = { "需要人工处理", "Needs a human" },
    [L_ATTENTION_N]  = { "需要人工处理（%zu）", "Needs a human (%zu)" },
    [L_NOTHING]      = { "无。", "Nothing." },
    [L_SUMMARY]      = { "汇总", "Summary" },
    [L_IN_SCOPE]     = { "期间内决定", "decisions in scope" },
    [L_TOTAL]        = { "合计", "total" },
    [L_DUE]          = { "期限", "due" },
    [L_DECIDED]      = { "决定日期", "decided" },
    [L_ATTEMPTS]     = { "已尝试 %ld 次", "%ld attempt(s)" },
    [L_REASON]       = { "原因", "Reason" },
    [L_ADVICE]       = { "处理", "To do" },
    [L_NO_ANSWER]    = { "平台尚无答复", "no answer from the platform yet" },
    [L_MISSING_SINCE]= { "自 %s 起在案件系统中查不到该决定",
                         "not found in the case system since %s" },
    [L_ALL_TARGETS]  = { "全部平台", "all targets" },
    [L_DECISION]     = { "决定编号", "Decision" },
    [L_TARGET]       = { "平台", "Target" },
    [L_ISSUE]        = { "情况", "Issue" },
    [L_CHART]        = { "每周公示数量与逾期数量（按 ISO 周）",
                         "Publications per week against missed deadlines (ISO weeks)" },
    [L_CHART_PUB]    = { "首次公示", "first published" },
    [L_CHART_OVER]   = { "逾期（期限在该周）", "missed deadline (due that week)" },
    [L_KIND]         = { "种类", "Kind" },
    [L_STATE]        = { "状态", "State" },
    [L_CATEGORY]     = { "分类", "Category" },
    [L_CATEGORY_KEY] = { "分类代码", "Category key" },
    [L_PUBLISHED_AT] = { "首次公示时间", "First published" },
    [L_RECEIPT]      = { "回执号", "Receipt" },
    [L_ATTEMPTS_COL] = { "尝试次数", "Attempts" },
    [L_LAST_ERROR]   = { "最近一次错误", "Last error" },
    [L_ORGANISATION] = { "填报单位", "Organisation" },
    [L_AS_OF]        = { "截至", "As of the end of" },
    [L_RULES]        = { "公示期限（自决定之日起，不含当日，按国务院节假日安排计算工作日）",
                         "Deadlines (working days after the day of the decision, by the "
                         "State Council's holiday schedule)" },
    [L_RULE_ITEM]    = { "%s %d 个工作日", "%s %d working days" },
    [L_TIMELINESS]   = { "公示时效", "Timeliness" },
    [L_LATE_LIST]    = { "超期公示明细（%zu）", "Late publications (%zu)" },
    [L_MISSED_LIST]  = { "逾期未公示明细（%zu）", "Missed deadlines (%zu)" },
    [L_PUBLISHED_ON] = { "公示日期", "Published on" },
    [L_WDL]          = { "超期工作日", "Working days late" },
    [L_WDL_N]        = { "超期 %ld 个工作日", "%ld working day(s) late" },
    [L_CAUSE]        = { "原因", "Cause" },
    [L_MUST]         = { "应公示", "must publish" },
    [L_MISSED_BY]    = { "逾期未公示，按原因", "missed, by cause" },
    [L_EXCL_BY]      = { "不计入应公示，按原因", "outside must-publish, by reason" },
    [L_DEC_TOTAL]    = { "合计（按决定）", "total (decisions)" },
    [L_DEC_NOTE]     = { "“合计（按决定）”每件决定只计一次：在应公示的每个平台都按时公示才计为按时公示；"
                         "任一平台逾期未公示计为逾期未公示，否则任一平台超期公示计为超期公示。",
                         "\"total (decisions)\" counts each decision once: on time only when on time "
                         "at every platform it must go to; missed when missed at any; else late "
                         "when late at any." },
    [L_STATE_SUMMARY]= { "当前状态（按平台，每件决定在每个平台计一次）",
                         "Current state (each decision once per platform)" },
    [L_TL_KEY]       = { "时效代码", "Timeliness key" },
    [L_TL]           = { "时效", "Timeliness" },
    [L_CAUSE_KEY]    = { "未公示原因代码", "Missed cause key" },
    [L_EXCL_KEY]     = { "不计入原因代码", "Excluded reason key" },
    [L_CAUSE_TEXT]   = { "原因说明", "Cause" },
    [L_KIND_ONLY]    = { "仅含决定种类：%s", "Kind of decision: %s only" },
    [L_NOW_MISSED]   = { "逾期未公示", "missed" },
    [L_PAGE]         = { "第 \" counter(page) \" 页，共 \" counter(pages) \" 页",
                         "page \" counter(page) \" of \" counter(pages) \"" },
};



const char *report_label(enum report_label l, enum report_lang lang) { return labels[l][lang]; }
const char *report_cat_label(enum report_cat c, enum report_lang lang) { return cat_labels[c][lang]; }
const char *report_issue_label(enum report_issue i, enum report_lang lang)
{
    return issue_labels[i][lang];
}

void report_advice(struct buf *out, const struct report_attention *a, enum report_lang lang)
{
    buf_printf(out, issue_advice[a->issue][lang], a->decision_id);
}

void report_reason(struct buf *out, const struct report_attention *a, enum report_lang lang)
{
    if (a->issue == RISSUE_MISSING)
        buf_printf(out, labels[L_MISSING_SINCE][lang], a->missing_since ? a->missing_since : "?");
    else if (!a->reason || !*a->reason)
        buf_puts(out, labels[L_NO_ANSWER][lang]);
    else if (a->issue == RISSUE_INVALID)
        report_reason_text(out, a->reason, lang);
    else
        buf_puts(out, a->reason);      /* the platform's own words */
}

static const char *const format_names[] = { [RFMT_TEXT] = "text", [RFMT_CSV] = "csv",
                                            [RFMT_JSON] = "json", [RFMT_HTML] = "html" };
static const char *const lang_names[] = { [RLANG_ZH] = "zh", [RLANG_EN] = "en" };

static int lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

int report_format_parse(const char *s) { return lookup(format_names, 4, s); }
int report_lang_parse(const char *s) { return lookup(lang_names, RLANG_COUNT, s); }

/* ---- UTF-8 and display width ---------------------------------------- */

/* Decode one code point; an invalid byte is U+FFFD and consumes 1 byte. */
uint32_t report_utf8_next(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    uint32_t cp;
    int n;

    if (s[0] < 0x80) { *p += 1; return s[0]; }
    if ((s[0] & 0xE0) == 0xC0) { cp = s[0] & 0x1F; n = 1; }
    else if ((s[0] & 0xF0) == 0xE0) { cp = s[0] & 0x0F; n = 2; }
    else if ((s[0] & 0xF8) == 0xF0) { cp = s[0] & 0x07; n = 3; }
    else { *p += 1; return 0xFFFD; }
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) { *p += 1; return 0xFFFD; }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *p += n + 1;
    return cp;
}

struct range { uint32_t lo, hi; };

/* East Asian Wide and Fullwidth blocks (Unicode EastAsianWidth W/F). */
static const struct range wide[] = {
    { 0x1100, 0x115F }, { 0x231A, 0x231B }, { 0x2329, 0x232A }, { 0x23E9, 0x23EC },
    { 0x2E80, 0x303E }, { 0x3041, 0x33FF }, { 0x3400, 0x4DBF }, { 0x4E00, 0x9FFF },
    { 0xA000, 0xA4CF }, { 0xA960, 0xA97F }, { 0xAC00, 0xD7A3 }, { 0xF900, 0xFAFF },
    { 0xFE10, 0xFE19 }, { 0xFE30, 0xFE6F }, { 0xFF00, 0xFF60 }, { 0xFFE0, 0xFFE6 },
    { 0x1F300, 0x1F64F }, { 0x1F900, 0x1F9FF }, { 0x20000, 0x2FFFD }, { 0x30000, 0x3FFFD },
};

/* Combining marks and zero-width characters: no cell of their own. */
static const struct range zero[] = {
    { 0x0300, 0x036F }, { 0x200B, 0x200F }, { 0x2028, 0x202E }, { 0x2060, 0x2064 },
    { 0x20D0, 0x20FF }, { 0xFE00, 0xFE0F }, { 0xFE20, 0xFE2F }, { 0xFEFF, 0xFEFF },
};

static bool in(const struct range *r, size_t n, uint32_t cp)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi)
            return true;
    return false;
}

int report_char_width(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
        return 0;
    if (cp < 0x0300)           /* Latin: the common case, no table walk */
        return 1;
    if (cp >= 0x4E00 && cp <= 0x9FFF)   /* CJK Unified Ideographs: the other one */
        return 2;
    if (in(zero, sizeof zero / sizeof zero[0], cp))
        return 0;
    if (in(wide, sizeof wide / sizeof wide[0], cp))
        return 2;
    return 1;
}

size_t report_display_width(const char *s)
{
    size_t w = 0;
    while (s && *s)
        w += (size_t)report_char_width(report_utf8_next(&s));
    return w;
}

/* s padded with spaces to `width` cells (left-aligned, or right when right). */
void report_pad(struct buf *out, const char *s, size_t width, bool right)
{
    size_t w = report_display_width(s);
    if (right)
        for (; w < width; w++)
            buf_putc(out, ' ');
    buf_puts(out, s);
    if (!right)
        for (; w < width; w++)
            buf_putc(out, ' ');
}

/* Wrap text into lines of at most `width` cells, each after `indent`
 * (which the caller counts in indent_w); breaks at a space when one is
 * near, else between any two characters (Chinese has no spaces).  Line
 * breaks and tabs in the text become spaces: a platform message is one
 * statement. */
void report_wrap(struct buf *out, const char *indent, const char *text, size_t width)
{
    const char *p = text;
    while (*p) {
        const char *line = p, *q = p, *brk = NULL;
        size_t w = 0;
        while (*q) {
            const char *c = q;
            uint32_t cp = report_utf8_next(&q);
            int cw = cp < 0x20 ? 1 : report_char_width(cp);
            if (w + (size_t)cw > width) { q = c; break; }
            if (cp == ' ' || cp < 0x20)
                brk = c;
            w += (size_t)cw;
        }
        if (*q && brk && brk > line + (q - line) / 2)
            q = brk + 1;       /* break after the space */
        if (q == line)         /* a character wider than the line */
            report_utf8_next(&q);
        buf_puts(out, indent);
        for (const char *c = line; c < q;) {
            const char *start = c;
            uint32_t cp = report_utf8_next(&c);
            if (cp < 0x20)
                buf_putc(out, ' ');
            else
                buf_append(out, start, (size_t)(c - start));
        }
        while (out->len && out->data[out->len - 1] == ' ')
            out->data[--out->len] = '\0';
        buf_puts(out, "\n");
        p = q;
        while (*p == ' ')
            p++;
    }
}

/* ---- escaping -------------------------------------------------------- */

/* A cell that begins with = + - @ (or a tab or carriage return) would be
 * read by a spreadsheet as a formula: it gets a leading apostrophe, which
 * Excel and LibreOffice show as text and do not display. */
void report_csv_field(struct buf *out, const char *s)
{
    if (!s)
        return;
    bool formula = strchr("=+-@\t\r", s[0]) && s[0];
    if (!formula && !s[strcspn(s, "\",\r\n")] && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' ')) {
        buf_puts(out, s);
        return;
    }
    buf_putc(out, '"');
    if (formula)
        buf_putc(out, '\'');
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        buf_append(out, s, (size_t)(q - s) + 1);
        buf_putc(out, '"');            /* a quote is doubled */
    }
    buf_puts(out, s);
    buf_putc(out, '"');
}

void report_json_string(struct buf *out, const char *s)
{
    if (!s) {
        buf_puts(out, "null");
        return;
    }
    buf_putc(out, '"');
    /* Runs of bytes that need no escape are copied in one go: this is the
     * inner loop of a 100,000-decision report. */
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            buf_append(out, run, (size_t)(p - run));
        if (!*p)
            break;
        switch (*p) {
        case '"':  buf_puts(out, "\\\""); break;
        case '\\': buf_puts(out, "\\\\"); break;
        case '\n': buf_puts(out, "\\n"); break;
        case '\r': buf_puts(out, "\\r"); break;
        case '\t': buf_puts(out, "\\t"); break;
        default:   buf_printf(out, "\\u%04x", *p); break;
        }
        p++;
    }
    buf_putc(out, '"');
}

void report_html_escape(struct buf *out, const char *s)
{
    static const struct { char c; const char *ent; } ents[] = {
        { '&', "&amp;" }, { '<', "&lt;" }, { '>', "&gt;" }, { '"', "&quot;" }, { '\'', "&#39;" },
    };
    for (; s && *s; s++) {
        const char *ent = NULL;
        for (size_t i = 0; i < sizeof ents / sizeof ents[0] && !ent; i++)
            if (ents[i].c == *s)
                ent = ents[i].ent;
        if (ent)
            buf_puts(out, ent);
        else
            buf_putc(out, *s);
    }
}

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
void report_spill(void *ctx, struct buf *b)
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
            report_csv_field(&w->line, labels[csv_columns[i]][lang]);
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
            report_cat_key(c->cat), cat_labels[c->cat][w->lang], c->published_at,
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

    buf_printf(b, labels[L_ATTENTION_N][lang], m->nattn);
    buf_putc(b, '\n');
    if (!m->nattn)
        buf_printf(b, "  %s\n", labels[L_NOTHING][lang]);
    for (size_t i = 0; i < m->nattn; i++) {
        const struct report_attention *a = &m->attn[i];
        date_format(a->due_on, due);
        buf_puts(b, "\n  ");
        buf_puts(b, a->decision_id);
        buf_puts(b, "  ");
        const struct report_target_sum *ts = report_model_target(m, a->target);
        buf_puts(b, ts ? ts->display : a->target ? a->target : labels[L_ALL_TARGETS][lang]);
        buf_puts(b, "  ");
        buf_puts(b, issue_labels[a->issue][lang]);
        buf_printf(b, "  %s %s", labels[L_DUE][lang], due);
        if (a->target) {
            snprintf(att, sizeof att, labels[L_ATTEMPTS][lang], a->attempts);
            buf_printf(b, "  %s", att);
        }
        buf_putc(b, '\n');
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s", labels[L_REASON][lang], lang == RLANG_ZH ? "：" : ": ");
        report_reason(&tmp, a, lang);
        report_wrap(b, "    ", buf_str(&tmp), TEXT_WIDTH - 4);
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s", labels[L_ADVICE][lang], lang == RLANG_ZH ? "：" : ": ");
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

    buf_printf(b, labels[which == RTL_LATE ? L_LATE_LIST : L_MISSED_LIST][lang], n);
    buf_putc(b, '\n');
    if (!n)
        buf_printf(b, "  %s\n", labels[L_NOTHING][lang]);
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
                   labels[L_DECIDED][lang], dec, labels[L_DUE][lang], due);
        if (which == RTL_LATE) {
            date_format(t->published_on, pub);
            buf_printf(&tmp, "  %s %s  ", labels[L_PUBLISHED_ON][lang],
                       t->published_on != DATE_NONE ? pub : "?");
            if (t->wdl >= 0)
                buf_printf(&tmp, labels[L_WDL_N][lang], t->wdl);
        }
        buf_putc(b, '\n');
        report_wrap(b, "  ", buf_str(&tmp), TEXT_WIDTH - 2);
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s", labels[L_CAUSE][lang], lang == RLANG_ZH ? "：" : ": ");
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
                                                       labels[L_DEC_TOTAL][m->lang]), true);
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
        report_pad(b, labels[L_DEC_TOTAL][m->lang],
                   col_width(m, m->ntargets, labels[L_DEC_TOTAL][m->lang]), true);
    buf_putc(b, '\n');
}

static void text_summary(struct buf *b, const struct report_model *m)
{
    enum report_lang lang = m->lang;
    static const enum report_tl rows[] = { RTL_ON_TIME, RTL_LATE, RTL_MISSED, RTL_NOT_DUE };
    struct buf lbl = BUF_INIT;

    if (!m->ntargets)
        return;
    text_header(b, m, labels[L_TIMELINESS][lang], true);
    text_row(b, m, labels[L_IN_SCOPE][lang], TS_FIELD(m, in_scope), m->ndecisions, true);
    text_row(b, m, labels[L_MUST][lang], TS_FIELD(m, must_publish), m->dec_must, true);
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        text_row(b, m, report_tl_label(rows[k], lang), TS_FIELD(m, tl[rows[k]]), m->dec_tl[rows[k]],
                 true);
    for (int c = 0; c < RCAUSE_COUNT; c++) {
        buf_reset(&lbl);
        buf_printf(&lbl, "  %s：%s", labels[L_NOW_MISSED][lang], report_cause_label((enum report_cause)c, lang));
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
    report_wrap(b, "", labels[L_DEC_NOTE][lang], TEXT_WIDTH);
    buf_putc(b, '\n');
    text_header(b, m, labels[L_STATE_SUMMARY][lang], false);
    text_row(b, m, labels[L_IN_SCOPE][lang], TS_FIELD(m, in_scope), -1, false);
    for (int c = 0; c < RCAT_COUNT; c++)
        text_row(b, m, cat_labels[c][lang], TS_FIELD(m, n[c]), -1, false);
}

static int text_finish(report_writer *w, const struct report_model *m, struct err *e)
{
    enum report_lang lang = m->lang;
    struct buf *b = &w->line, tmp = BUF_INIT;
    char *lines[8];
    size_t n = report_title_lines(m, lines, 8);

    buf_printf(b, "%s\n", labels[L_TITLE][lang]);
    for (size_t i = 0; i < n; i++) {
        report_wrap(b, "", lines[i], TEXT_WIDTH);
        free(lines[i]);
    }
    for (size_t i = 0; i < m->nwarnings; i++) {
        buf_reset(&tmp);
        buf_printf(&tmp, "%s%s%s", labels[L_WARNINGS][lang], lang == RLANG_ZH ? "：" : ": ",
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

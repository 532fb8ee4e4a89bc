/* report_text.c - the report's words and text helpers: every label in a
 * table indexed by language, the advice per issue, the parsers of the
 * command-line values, UTF-8 display widths, padding and wrapping, and the
 * CSV, JSON and HTML escapes.
 *
 * Text is for a terminal: Chinese characters take two cells, so columns
 * are padded by display width, not by bytes.  CSV is for Excel (RFC 4180
 * quoting, formulas defused).  Nothing here knows a writer or a language
 * text of report_zh.c: it depends on the model's vocabulary only.
 */
#include "report.h"
#include "report_text.h"

#include <string.h>

/* ---- labels ---------------------------------------------------------- */

static const char *const cat_labels[RCAT_COUNT][RLANG_COUNT] = {
    [RCAT_ON_TIME]          = { "按时公示", "published on time" },
    [RCAT_LATE]             = { "超期公示", "published late" },
    [RCAT_PENDING]          = { "待公示（未到期）", "pending, not yet due" },
    [RCAT_RETRY]            = { "重试中（未到期）", "retrying, not yet due" },
    [RCAT_OVERDUE]          = { "逾期待发送", "overdue, not published" },
    [RCAT_REJECTED]         = { "平台拒收", "rejected by the platform" },
    [RCAT_INVALID]          = { "校验未通过", "failed validation" },
    [RCAT_EXCLUDED]         = { "不予公示", "excluded" },
    [RCAT_CANCELLED]        = { "已取消", "cancelled" },
    [RCAT_WITHDRAWN]        = { "已撤回", "withdrawn" },
    [RCAT_WITHDRAW_PENDING] = { "撤回中", "withdrawal pending" },
};

static const char *const issue_labels[RISSUE_COUNT][RLANG_COUNT] = {
    [RISSUE_OVERDUE]  = { "逾期待发送", "overdue" },
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

/* report_zh.c - what the report says in words: validation reasons in
 * Chinese, the causes read from a pair's history, long dates.
 *
 * The validation module writes its reasons in English ("party_credit_code:
 * check digit is wrong (expected M)"); the log and `--lang en` keep them.
 * For the legal department they are put into Chinese here: the field name
 * and the known message patterns are translated, numbers and quoted
 * values carried over.  A reason no pattern knows is shown as written.
 */
#include "report.h"
#include "report_text.h"
#include "report_zh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the names of categories, causes, reasons, kinds ------------------- */

static const char *const tl_labels[RTL_COUNT][RLANG_COUNT] = {
    [RTL_ON_TIME] = { "按时公示", "on time" }, [RTL_LATE] = { "超期公示", "late" },
    [RTL_MISSED] = { "逾期未公示", "missed" }, [RTL_NOT_DUE] = { "未到期", "not yet due" },
    [RTL_OUTSIDE] = { "不计入应公示", "outside must-publish" },
};
static const char *const cause_labels[RCAUSE_COUNT][RLANG_COUNT] = {
    [RCAUSE_INVALID] = { "校验未通过", "failed validation" },
    [RCAUSE_REJECTED] = { "平台拒收", "rejected by the platform" },
    [RCAUSE_RETRYING] = { "平台故障，重试中", "platform failing, retrying" },
    [RCAUSE_PENDING] = { "待发送", "waiting to be sent" },
    [RCAUSE_MISSING] = { "案件系统中已不存在", "missing from the case system" },
};
static const char *const excl_labels[REXCL_COUNT][RLANG_COUNT] = {
    [REXCL_CONFIDENTIAL] = { "涉密或依法不予公开", "confidential" },
    [REXCL_MINOR] = { "当事人为未成年人", "the party is a minor" },
    [REXCL_WARNING_ONLY] = { "仅予警告（按配置不公示）", "warning only (not published by configuration)" },
    [REXCL_NOT_ROUTED] = { "该平台不接收此类决定", "kind not taken by this platform" },
    [REXCL_CANCELLED] = { "公示前已撤销（已取消）", "revoked before publication (cancelled)" },
    [REXCL_OTHER] = { "其他", "other" },
};
static const char *const kind_labels[KIND_COUNT][RLANG_COUNT] = {
    [KIND_PENALTY] = { "行政处罚", "penalty" }, [KIND_LICENSE] = { "行政许可", "licence" },
    [KIND_INSPECTION] = { "行政检查", "inspection" }, [KIND_COERCION] = { "行政强制", "coercion" },
    [KIND_LEVY] = { "行政征收", "levy" }, [KIND_OTHER] = { "其他", "other" },
};

const char *report_tl_label(enum report_tl t, enum report_lang lang) { return tl_labels[t][lang]; }
const char *report_cause_label(enum report_cause c, enum report_lang lang)
{
    return cause_labels[c][lang];
}
const char *report_excl_label(enum report_excl x, enum report_lang lang)
{
    return excl_labels[x][lang];
}
const char *report_kind_label(const char *kind, enum report_lang lang)
{
    int k = kind_parse(kind);
    return k < 0 ? kind : kind_labels[k][lang];
}

size_t report_title_lines(const struct report_model *m, char **out, size_t max)
{
    enum report_lang lang = m->lang;
    struct buf b = BUF_INIT;
    size_t n = 0;
    char ts[32];

#define LINE() do { if (n < max) out[n++] = buf_steal(&b); else buf_free(&b); } while (0)
    if (m->organisation && *m->organisation) {
        buf_printf(&b, "%s%s%s", report_label(L_ORGANISATION, lang), lang == RLANG_ZH ? "：" : ": ",
                   m->organisation);
        LINE();
    }
    buf_printf(&b, "%s ", report_label(L_PERIOD, lang));
    report_date_long(&b, m->from, lang);
    buf_printf(&b, " %s ", report_label(L_TO, lang));
    report_date_long(&b, m->to, lang);
    if (m->kind) {
        buf_puts(&b, lang == RLANG_ZH ? "；" : "; ");
        buf_printf(&b, report_label(L_KIND_ONLY, lang), report_kind_label(m->kind, lang));
    }
    LINE();
    if (m->as_of != DATE_NONE) {
        buf_printf(&b, "%s ", report_label(L_AS_OF, lang));
        report_date_long(&b, m->as_of, lang);
        buf_puts(&b, lang == RLANG_ZH ? " 24时（按当时记录的历史重建）" : " (rebuilt from the recorded history)");
        LINE();
    }
    report_ts_cst(m->generated_ms, ts);
    buf_printf(&b, "%s ", report_label(L_GENERATED, lang));
    report_date_long(&b, date_cst(m->generated_ms), lang);
    buf_printf(&b, " %.8s", ts + 11);
    LINE();
    buf_printf(&b, "%s%s", report_label(L_RULES, lang), lang == RLANG_ZH ? "：" : ": ");
    for (int k = 0; k < KIND_COUNT; k++) {
        if (k)
            buf_puts(&b, lang == RLANG_ZH ? "，" : ", ");
        buf_printf(&b, report_label(L_RULE_ITEM, lang), kind_labels[k][lang], m->deadline_days[k]);
    }
    LINE();
    buf_printf(&b, report_label(L_THRESHOLDS, lang), (long long)m->small_fine_person_yuan,
               (long long)m->small_fine_org_yuan);
    LINE();
#undef LINE
    return n;
}

/* ---- validation reasons ----------------------------------------------- */

static const struct { const char *field, *zh; } field_names[] = {
    { "decision_id", "决定编号" }, { "kind", "决定种类" }, { "decided_on", "决定日期" },
    { "party_name", "当事人名称" }, { "party_type", "当事人类型" },
    { "party_credit_code", "当事人统一社会信用代码" }, { "party_id_no", "当事人证件号码" },
    { "party_id_type", "当事人证件类型" }, { "legal_rep", "法定代表人" },
    { "authority_name", "决定机关名称" }, { "authority_credit_code", "决定机关统一社会信用代码" },
    { "source_unit_credit_code", "数据来源单位统一社会信用代码" }, { "doc_no", "决定文书号" },
    { "violation_type", "违法行为类型" }, { "violation_facts", "违法事实" },
    { "legal_basis", "处罚依据" }, { "penalty_types", "处罚类别" },
    { "penalty_content", "处罚内容" }, { "fine_amount", "罚款金额" },
    { "confiscated_amount", "没收违法所得、没收非法财物的金额" },
};

/* Patterns after "field: ".  %s in `en` matches the rest of a number or
 * word (up to the next space or bracket) and is carried into `zh`. */
static const struct { const char *en, *zh; } patterns[] = {
    { "missing (required when penalty_types includes 罚款)", "缺失（处罚类别含罚款时必填）" },
    { "missing (required for every decision)", "缺失（所有决定必填）" },
    { "missing (required for a penalty or licence)", "缺失（行政处罚、行政许可必填）" },
    { "missing (required for a penalty)", "缺失（行政处罚必填）" },
    { "missing (required for a legal person or other organisation)",
      "缺失（当事人为法人或其他组织时必填）" },
    { "missing (required for a legal person)", "缺失（当事人为法人时必填）" },
    { "missing (required for a natural person)", "缺失（当事人为自然人时必填）" },
    { "missing", "缺失" },
    { "check digit is wrong (expected %s)", "校验位错误（应为 %s）" },
    { "a unified social credit code has 18 characters, this one %s",
      "统一社会信用代码应为 18 位，此处为 %s 位" },
    { "only digits and the capital letters ABCDEFGHJKLMNPQRTUWXY are allowed in a unified "
      "social credit code", "统一社会信用代码只能由数字和大写字母（不含 I、O、S、V、Z）组成" },
    { "a resident ID number has 18 characters, this one %s", "居民身份证号码应为 18 位，此处为 %s 位" },
    { "a resident ID number is 17 digits and a digit or X",
      "居民身份证号码应为 17 位数字加 1 位数字或 X" },
    { "digits 7-14 are not a real birth date", "第 7 至 14 位不是有效的出生日期" },
    { "check character is wrong", "校验码错误" },
    { "not a number", "不是数字" },
    { "must not be negative", "不能为负数" },
    { "longer than %s characters (%s)", "超过 %s 个字符（%s 个）" },
    { "%s is in the future (today is %s)", "%s 晚于当天（当天为 %s）" },
    { "contains a control character (line break, tab ...)", "含有控制字符（换行、制表符等）" },
    { "not one of penalty, license, inspection, coercion, levy, other",
      "不是规定的决定种类（行政处罚、行政许可、行政检查、行政强制、行政征收、其他）" },
    { "is not one of legal_person, other_org, individual_business, natural_person",
      "不是规定的当事人类型（法人、其他组织、个体工商户、自然人）" },
    { "is not a penalty category of the list", "不是规定的处罚类别" },
};

/* Does text match pat ("%s" = a run without space or ')'); the captured
 * runs go to caps.  A pattern may match a prefix of a longer text only
 * where it ends in a quoted list ("... of the list (…)"). */
static bool match(const char *pat, const char *text, char caps[2][64], bool prefix)
{
    int nc = 0;
    while (*pat) {
        if (pat[0] == '%' && pat[1] == 's') {
            size_t n = strcspn(text, " )；;");
            if (n == 0 || n >= 64 || nc == 2)
                return false;
            memcpy(caps[nc], text, n);
            caps[nc++][n] = '\0';
            text += n;
            pat += 2;
            continue;
        }
        if (*pat++ != *text++)
            return false;
    }
    return prefix || *text == '\0';
}

/* A quoted value before the pattern ("\"abc\" is not one of ...") is the
 * value the record holds: carried over as it is. */
static void one_reason(struct buf *out, const char *r)
{
    const char *colon = strstr(r, ": ");
    const char *rest = colon ? colon + 2 : r;
    const char *field = NULL;
    char caps[2][64], name[64];

    if (colon && (size_t)(colon - r) < sizeof name) {
        memcpy(name, r, (size_t)(colon - r));
        name[colon - r] = '\0';
        for (size_t i = 0; i < sizeof field_names / sizeof field_names[0] && !field; i++)
            if (strcmp(field_names[i].field, name) == 0)
                field = field_names[i].zh;
    }
    const char *value_end = NULL;
    if (rest[0] == '"' && (value_end = strstr(rest + 1, "\" ")))
        rest = value_end + 2;
    for (size_t i = 0; field && i < sizeof patterns / sizeof patterns[0]; i++) {
        memset(caps, 0, sizeof caps);
        bool list = strstr(patterns[i].en, "of the list") != NULL;
        if (!match(patterns[i].en, rest, caps, list))
            continue;
        buf_puts(out, field);
        if (value_end) {
            buf_puts(out, "“");
            buf_append(out, colon + 3, (size_t)(value_end - (colon + 3)));
            buf_puts(out, "”");
        }
        buf_puts(out, value_end ? "" : "：");
        buf_printf(out, patterns[i].zh, caps[0], caps[1]);
        return;
    }
    buf_puts(out, r);          /* unknown: as written */
}

void report_reason(struct buf *out, const struct report_attention *a, enum report_lang lang)
{
    if (a->issue == RISSUE_MISSING)
        buf_printf(out, report_label(L_MISSING_SINCE, lang),
                   a->missing_since ? a->missing_since : "?");
    else if (!a->reason || !*a->reason)
        buf_puts(out, report_label(L_NO_ANSWER, lang));
    else if (a->issue == RISSUE_INVALID)
        report_reason_text(out, a->reason, lang);
    else
        buf_puts(out, a->reason);      /* the platform's own words */
}

void report_reason_text(struct buf *out, const char *reasons, enum report_lang lang)
{
    if (!reasons)
        return;
    if (lang != RLANG_ZH) {
        buf_puts(out, reasons);
        return;
    }
    char *copy = xstrdup(reasons), *save = NULL;
    bool first = true;
    for (char *r = strtok_r(copy, ";", &save); r; r = strtok_r(NULL, ";", &save)) {
        while (*r == ' ')
            r++;
        if (!*r)
            continue;
        if (!first)
            buf_puts(out, "；");
        one_reason(out, r);
        first = false;
    }
    free(copy);
}

void report_date_long(struct buf *out, date_t day, enum report_lang lang)
{
    static const char *const months[] = { "January", "February", "March", "April", "May",
        "June", "July", "August", "September", "October", "November", "December" };
    int y, m, d;
    if (day == DATE_NONE)
        return;
    date_to_ymd(day, &y, &m, &d);
    if (lang == RLANG_ZH)
        buf_printf(out, "%d年%d月%d日", y, m, d);
    else
        buf_printf(out, "%d %s %d", d, months[(m - 1) % 12], y);
}

static const char *const seg_words[RSEG_COUNT][RLANG_COUNT] = {
    [RSEG_INVALID]     = { "校验未通过", "failed validation" },
    [RSEG_REJECTED]    = { "平台拒收", "rejected by the platform" },
    [RSEG_FAILING]     = { "平台故障或无法连接", "platform failing or unreachable" },
    [RSEG_QUEUED]      = { "排队等待发送", "waiting in the queue" },
    [RSEG_LATE_SOURCE] = { "案件系统提供该决定时已过期限", "reached epsync after its deadline" },
};

void report_cause_text(struct buf *out, const struct report_segment *seg, size_t n,
                       enum report_lang lang)
{
    bool zh = lang == RLANG_ZH;
    char a[11], b[11];
    if (n == 0) {
        buf_puts(out, zh ? "历史记录中无原因可查" : "no cause in the recorded history");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct report_segment *s = &seg[i];
        if (i)
            buf_puts(out, zh ? "；" : "; ");
        buf_puts(out, seg_words[s->what][lang]);
        date_format(s->from, a);
        if (s->what == RSEG_LATE_SOURCE)
            buf_printf(out, zh ? "（%s 录入）" : " (on %s)", a);
        else if (s->to == DATE_NONE)
            buf_printf(out, zh ? "（%s 起至今）" : " (since %s)", a);
        else {
            date_format(s->to, b);
            buf_printf(out, zh ? "（%s 至 %s）" : " (%s to %s)", a, b);
        }
        if (s->detail && *s->detail) {
            buf_puts(out, zh ? "：" : ": ");
            if (s->what == RSEG_INVALID)
                report_reason_text(out, s->detail, lang);
            else
                buf_puts(out, s->detail);
        }
    }
}

void report_timely_text(struct buf *out, const struct report_timely *t, enum report_lang lang)
{
    bool zh = lang == RLANG_ZH;
    if (t->tl == RTL_MISSED && (t->nseg == 0 || t->cause == RCAUSE_MISSING)) {
        buf_puts(out, report_cause_label((enum report_cause)t->cause, lang));
        if (t->cause == RCAUSE_MISSING && t->reason)
            buf_printf(out, zh ? "（自 %.10s 起）" : " (since %.10s)", t->reason);
        else if (t->reason && *t->reason) {
            buf_puts(out, zh ? "：" : ": ");
            if (t->cause == RCAUSE_INVALID)
                report_reason_text(out, t->reason, lang);
            else
                buf_puts(out, t->reason);
        }
        if (t->nseg == 0)
            return;
        buf_puts(out, zh ? "；" : "; ");
    }
    report_cause_text(out, t->seg, t->nseg, lang);
}

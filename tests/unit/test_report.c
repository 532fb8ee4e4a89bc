/* Unit tests for the pure parts of src/report.c, src/report_text.c,
 * src/report_zh.c, src/report_writer.c and src/report_html.c:
 * categorisation, display width, escaping, and the four formats printing
 * the same numbers from one model. */
#include "report.h"
#include "tap.h"
#include "cal2026.h"
#include "../../src/report_text.h"
#include "../../src/report_zh.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

static date_t D(const char *s)
{
    date_t d = DATE_NONE;
    if (date_parse(s, &d) < 0)
        abort();
    return d;
}

static enum report_cat cat(const char *state, const char *first_pub, const char *due,
                           const char *today)
{
    struct report_facts f = {
        .state = state, .first_published = first_pub ? D(first_pub) : DATE_NONE,
        .due_on = D(due), .today = D(today), .routed = true,
    };
    return report_categorise(&f);
}

TEST(published_on_or_before_due_day_is_on_time)
{
    CHECK_INT(cat("published", "2026-10-15", "2026-10-15", "2026-11-01"), RCAT_ON_TIME);
    CHECK_INT(cat("published", "2026-10-01", "2026-10-15", "2026-11-01"), RCAT_ON_TIME);
    CHECK_INT(cat("published", "2026-10-16", "2026-10-15", "2026-11-01"), RCAT_LATE);
}

TEST(published_row_without_publication_time_is_not_claimed_on_time)
{
    CHECK_INT(cat("published", NULL, "2026-10-15", "2026-10-01"), RCAT_LATE);
}

TEST(pending_update_of_a_published_decision_counts_as_published)
{
    CHECK_INT(cat("pending", "2026-10-14", "2026-10-15", "2026-12-01"), RCAT_ON_TIME);
    CHECK_INT(cat("retry", "2026-10-20", "2026-10-15", "2026-12-01"), RCAT_LATE);
}

TEST(unpublished_work_is_pending_until_due_then_overdue)
{
    CHECK_INT(cat("pending", NULL, "2026-10-15", "2026-10-15"), RCAT_PENDING);
    CHECK_INT(cat("retry", NULL, "2026-10-15", "2026-10-15"), RCAT_RETRY);
    CHECK_INT(cat("pending", NULL, "2026-10-15", "2026-10-16"), RCAT_OVERDUE);
    CHECK_INT(cat("retry", NULL, "2026-10-15", "2026-10-16"), RCAT_OVERDUE);
}

TEST(terminal_states_count_as_such_whatever_the_date)
{
    static const struct { const char *state; enum report_cat cat; } t[] = {
        { "rejected", RCAT_REJECTED }, { "invalid", RCAT_INVALID },
        { "excluded", RCAT_EXCLUDED }, { "cancelled", RCAT_CANCELLED },
        { "withdrawn", RCAT_WITHDRAWN }, { "withdraw_pending", RCAT_WITHDRAW_PENDING },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        CHECK_INT(cat(t[i].state, NULL, "2026-10-15", "2026-12-01"), t[i].cat);
        CHECK_INT(cat(t[i].state, "2026-10-01", "2026-10-15", "2026-10-02"), t[i].cat);
    }
}

TEST(decision_without_delivery_row_follows_the_decision)
{
    struct report_facts f = { .state = NULL, .first_published = DATE_NONE,
                              .due_on = D("2026-10-15"), .today = D("2026-10-20"),
                              .routed = false };
    CHECK_INT(report_categorise(&f), RCAT_EXCLUDED);
    f.routed = true;
    f.excluded_decision = true;
    CHECK_INT(report_categorise(&f), RCAT_EXCLUDED);
    f.excluded_decision = false;
    f.invalid_decision = true;
    CHECK_INT(report_categorise(&f), RCAT_INVALID);
    f.invalid_decision = false;
    CHECK_INT(report_categorise(&f), RCAT_OVERDUE);
    f.today = D("2026-10-01");
    CHECK_INT(report_categorise(&f), RCAT_PENDING);
}

TEST(category_keys_are_the_spec_keys)
{
    CHECK_STR(report_cat_key(RCAT_ON_TIME), "published_on_time");
    CHECK_STR(report_cat_key(RCAT_WITHDRAW_PENDING), "withdraw_pending");
    CHECK_STR(report_issue_key(RISSUE_MISSING), "missing_from_source");
}

TEST(display_width_counts_cjk_as_two_cells)
{
    CHECK_INT(report_display_width("abc"), 3);
    CHECK_INT(report_display_width("中文"), 4);
    CHECK_INT(report_display_width("逾期未公示"), 10);
    CHECK_INT(report_display_width("ＡＢ"), 4);          /* fullwidth forms */
    CHECK_INT(report_display_width("（，）"), 6);        /* fullwidth punctuation */
    CHECK_INT(report_display_width("〔2026〕"), 8);      /* CJK brackets */
    CHECK_INT(report_display_width("한국"), 4);
    CHECK_INT(report_display_width("é"), 1);
    CHECK_INT(report_display_width("e\xcc\x81"), 1);     /* combining acute */
    CHECK_INT(report_display_width("ｱ"), 1);            /* halfwidth katakana */
    CHECK_INT(report_display_width("\xff" "a"), 2);      /* invalid byte: one cell */
    CHECK_INT(report_display_width("𠀀"), 2);            /* plane 2 ideograph */
    CHECK_INT(report_display_width(""), 0);
    CHECK_INT(report_char_width(0x4E00), 2);
    CHECK_INT(report_char_width(0x9FFF), 2);
    CHECK_INT(report_char_width(0x3000), 2);
    CHECK_INT(report_char_width('\t'), 0);
}

TEST(csv_fields_are_quoted_per_rfc4180)
{
    struct buf b = BUF_INIT;
    static const struct { const char *in, *out; } t[] = {
        { "plain", "plain" }, { "中文", "中文" }, { "a,b", "\"a,b\"" },
        { "say \"hi\"", "\"say \"\"hi\"\"\"" }, { "two\nlines", "\"two\nlines\"" },
        { "cr\r", "\"cr\r\"" }, { " lead", "\" lead\"" }, { "", "" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        buf_reset(&b);
        report_csv_field(&b, t[i].in);
        CHECK_STR(buf_str(&b), t[i].out);
    }
    buf_reset(&b);
    report_csv_field(&b, NULL);
    CHECK_STR(buf_str(&b), "");
    buf_free(&b);
}

TEST(json_and_html_escaping)
{
    struct buf b = BUF_INIT;
    report_json_string(&b, "a\"b\\c\n\x01中");
    CHECK_STR(buf_str(&b), "\"a\\\"b\\\\c\\n\\u0001中\"");
    buf_reset(&b);
    report_json_string(&b, NULL);
    CHECK_STR(buf_str(&b), "null");
    buf_reset(&b);
    report_html_escape(&b, "<script>alert('x') & \"y\"</script>");
    CHECK_STR(buf_str(&b), "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;");
    buf_free(&b);
}

TEST(iso_weeks_and_cst_timestamps)
{
    char w[9], ts[32];
    report_iso_week(D("2026-01-01"), w);
    CHECK_STR(w, "2026-W01");
    report_iso_week(D("2027-01-01"), w);
    CHECK_STR(w, "2026-W53");
    report_iso_week(D("2024-12-30"), w);
    CHECK_STR(w, "2025-W01");
    report_iso_week(D("2026-09-30"), w);
    CHECK_STR(w, "2026-W40");
    report_ts_cst(0, ts);
    CHECK_STR(ts, "1970-01-01T08:00:00+08:00");
    report_ts_cst(1792079999000LL, ts);     /* 2026-10-15 15:59:59 UTC */
    CHECK_STR(ts, "2026-10-15T23:59:59+08:00");
    report_ts_cst(-1, ts);
    CHECK_STR(ts, "1970-01-01T07:59:59+08:00");
}

TEST(format_and_language_names)
{
    CHECK_INT(report_format_parse("text"), RFMT_TEXT);
    CHECK_INT(report_format_parse("html"), RFMT_HTML);
    CHECK_INT(report_format_parse("xml"), -1);
    CHECK_INT(report_lang_parse("en"), RLANG_EN);
    CHECK_INT(report_lang_parse("fr"), -1);
}

/* ---- one model, four formats ------------------------------------------- */

static const char *const targets[] = { "city", "province" };

/* Decisions covering every category; reasons with commas, quotes, line
 * breaks, markup and Chinese to exercise every escaper. */
struct fixture_cell { const char *target, *state; enum report_cat cat; const char *pub, *err; };
static const struct fixture {
    const char *id, *decided, *due, *missing;
    struct fixture_cell cells[2];
} fixture[] = {
    { "D-1", "2026-03-02", "2026-03-11", NULL,
      { { "city", "published", RCAT_ON_TIME, "2026-03-05", NULL },
        { "province", "published", RCAT_LATE, "2026-03-20", NULL } } },
    { "D-2", "2026-03-03", "2026-03-12", NULL,
      { { "city", "retry", RCAT_OVERDUE, NULL, "连接超时, \"busy\"\n请稍后" },
        { "province", "rejected", RCAT_REJECTED, NULL, "F0102 <b>证件号码</b>校验失败" } } },
    { "D-3", "2026-03-04", "2026-03-13", "2026-04-01T10:00:00+08:00",
      { { "city", "invalid", RCAT_INVALID, NULL, "party_credit_code: check digit" },
        { "province", "excluded", RCAT_EXCLUDED, NULL, NULL } } },
    { "D-4", "2026-03-05", "2026-03-16", NULL,
      { { "city", "cancelled", RCAT_CANCELLED, NULL, NULL },
        { "province", "withdrawn", RCAT_WITHDRAWN, "2026-03-06", NULL } } },
    { "D-5", "2026-03-06", "2026-03-17", NULL,
      { { "city", "withdraw_pending", RCAT_WITHDRAW_PENDING, "2026-03-09", NULL },
        { "province", "pending", RCAT_PENDING, NULL, NULL } } },
    { "D-6", "2026-03-09", "2026-03-18", NULL,
      { { "city", "retry", RCAT_RETRY, NULL, "HTTP 503" },
        { "province", "published", RCAT_ON_TIME, "2026-03-10", NULL } } },
};
#define NFIX (sizeof fixture / sizeof fixture[0])

static long expected(const char *target, enum report_cat c)
{
    long n = 0;
    for (size_t i = 0; i < NFIX; i++)
        for (int k = 0; k < 2; k++)
            n += strcmp(fixture[i].cells[k].target, target) == 0 && fixture[i].cells[k].cat == c;
    return n;
}

/* Render the fixture in fmt/lang; the whole output (caller frees). */
static char *render(enum report_format fmt, enum report_lang lang, struct report_model **mout)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    struct err e = { 0 };
    report_writer *w = NULL;
    struct report_model *m = report_model_new(D("2026-03-01"), D("2026-04-30"),
                                              D("2026-04-30"), 1777500000000LL, lang, targets, 2);
    m->small_fine_person_yuan = 1000;
    m->small_fine_org_yuan = 10000;
    report_model_warn(m, "calendar does not cover 2099");
    CHECK_INT(report_writer_open(&w, fmt, lang, f, &e), 0);
    for (size_t i = 0; i < NFIX; i++) {
        const struct fixture *x = &fixture[i];
        char pub[2][32];
        struct report_cell cells[2];
        for (int k = 0; k < 2; k++) {
            const struct fixture_cell *fc = &x->cells[k];
            date_t p = fc->pub ? D(fc->pub) : DATE_NONE;
            if (fc->pub)
                snprintf(pub[k], sizeof pub[k], "%sT10:00:00+08:00", fc->pub);
            struct report_facts facts = {
                .state = fc->state, .first_published = p, .due_on = D(x->due),
                .today = m->today, .routed = true, .missing = x->missing != NULL,
            };
            struct report_timely_facts tf;
            report_timeliness(&facts, fc->cat, &tf);
            cells[k] = (struct report_cell){
                .target = fc->target, .state = fc->state, .cat = fc->cat, .published_on = p,
                .published_at = fc->pub ? pub[k] : NULL, .receipt = fc->pub ? "R-1" : NULL,
                .attempts = 2, .last_error = fc->err, .reason = fc->err,
                .tl = tf.tl, .cause = tf.cause, .excl = tf.excl,
                .wdl = tf.tl == RTL_ON_TIME ? 0 : -1,
            };
        }
        struct report_row r = { .decision_id = x->id, .kind = "penalty",
                                .decided_on = D(x->decided), .due_on = D(x->due),
                                .missing_since = x->missing, .cells = cells, .ncells = 2 };
        CHECK_INT(report_writer_row(w, &r, &e), 0);
        report_model_add(m, &r);
    }
    report_model_done(m);
    CHECK_INT(report_writer_finish(w, m, &e), 0);
    report_writer_free(w);
    fclose(f);
    if (mout)
        *mout = m;
    else
        report_model_free(m);
    return text;
}

TEST(model_counts_every_pair_once)
{
    struct report_model *m = NULL;
    free(render(RFMT_TEXT, RLANG_ZH, &m));
    for (size_t t = 0; t < 2; t++) {
        long sum = 0;
        for (int c = 0; c < RCAT_COUNT; c++) {
            CHECK_INT(m->targets[t].n[c], expected(targets[t], (enum report_cat)c));
            sum += m->targets[t].n[c];
        }
        CHECK_INT(m->targets[t].in_scope, (long)NFIX);
        CHECK_INT(sum, (long)NFIX);
    }
    /* overdue D-2 city, rejected D-2 province, invalid D-3 city, missing D-3 */
    CHECK_INT(m->nattn, 4);
    CHECK_INT(m->attn[0].issue, RISSUE_OVERDUE);
    CHECK_STR(m->attn[0].reason, "连接超时, \"busy\"\n请稍后");
    CHECK_INT(m->attn[3].issue, RISSUE_MISSING);
    CHECK(m->attn[3].target == NULL);
    /* weekly: every first publication (also of what was withdrawn since);
     * missed deadlines: D-1 province late, D-2 city and province, D-3
     * city (invalid, missing), D-5 province pending, D-6 city retrying. */
    long pub = 0, over = 0;
    for (size_t i = 0; i < m->nweeks; i++) {
        pub += m->weeks[i].published;
        over += m->weeks[i].overdue;
    }
    CHECK_INT(pub, 5);
    CHECK_INT(over, 6);
    /* timeliness: city on time D-1, missed D-2 D-3 D-6, outside D-4
     * (cancelled); D-5 city published on time before its withdrawal */
    CHECK_INT(m->targets[0].tl[RTL_ON_TIME], 2);
    CHECK_INT(m->targets[0].tl[RTL_MISSED], 3);
    CHECK_INT(m->targets[0].missed_by[RCAUSE_RETRYING], 2);
    CHECK_INT(m->targets[0].missed_by[RCAUSE_MISSING], 1);
    CHECK_INT(m->targets[0].excl_by[REXCL_CANCELLED], 1);
    CHECK_INT(m->targets[0].must_publish, 5);
    /* decisions once: D-1 late, D-2 D-3 D-5 D-6 missed, D-4 on time
     * (province published, city cancelled) */
    CHECK_INT(m->dec_tl[RTL_MISSED], 4);
    CHECK_INT(m->dec_tl[RTL_LATE], 1);
    CHECK_INT(m->dec_tl[RTL_ON_TIME], 1);
    CHECK_INT(m->dec_must, 6);
    CHECK_INT(m->ntimely, 6);
    report_model_free(m);
}

TEST(json_numbers_match_the_model)
{
    char *text = render(RFMT_JSON, RLANG_ZH, NULL);
    json_object *root = json_tokener_parse(text), *ts, *t, *v, *decs;
    CHECK(root != NULL);
    if (!root) {
        free(text);
        return;
    }
    CHECK(json_object_object_get_ex(root, "targets", &ts));
    for (size_t k = 0; k < 2; k++) {
        CHECK(json_object_object_get_ex(ts, targets[k], &t));
        for (int c = 0; c < RCAT_COUNT; c++) {
            CHECK(json_object_object_get_ex(t, report_cat_key((enum report_cat)c), &v));
            CHECK_INT(json_object_get_int(v), expected(targets[k], (enum report_cat)c));
        }
        CHECK(json_object_object_get_ex(t, "in_scope", &v));
        CHECK_INT(json_object_get_int(v), (long)NFIX);
    }
    CHECK(json_object_object_get_ex(root, "decisions", &decs));
    CHECK_INT(json_object_array_length(decs), (long)NFIX);
    json_object *d2 = json_object_array_get_idx(decs, 1), *dt, *city, *err;
    CHECK(json_object_object_get_ex(d2, "targets", &dt));
    CHECK(json_object_object_get_ex(dt, "city", &city));
    CHECK(json_object_object_get_ex(city, "last_error", &err));
    CHECK_STR(json_object_get_string(err), "连接超时, \"busy\"\n请稍后");
    CHECK(json_object_object_get_ex(city, "attempts", &v));
    CHECK_INT(json_object_get_int(v), 2);
    CHECK(json_object_object_get_ex(root, "needs_attention", &v));
    CHECK_INT(json_object_array_length(v), 4);
    CHECK(json_object_object_get_ex(root, "warnings", &v));
    CHECK_INT(json_object_array_length(v), 1);
    CHECK(json_object_object_get_ex(root, "thresholds", &v));
    json_object_put(root);
    free(text);
}

TEST(csv_rows_match_the_model)
{
    char *text = render(RFMT_CSV, RLANG_ZH, NULL);
    long n[2][RCAT_COUNT] = { { 0 } };
    CHECK(strncmp(text, "\xEF\xBB\xBF", 3) == 0);
    CHECK(strstr(text, "\r\n") != NULL);
    /* Every line ends in CRLF, except inside a quoted field. */
    CHECK(strstr(text, "\"连接超时, \"\"busy\"\"\n请稍后\"") != NULL);
    /* Count category keys per target column (5th field). */
    for (size_t i = 0; i < NFIX; i++)
        for (int k = 0; k < 2; k++) {
            char needle[128];
            const struct fixture_cell *fc = &fixture[i].cells[k];
            snprintf(needle, sizeof needle, "%s,penalty,%s,%s,%s,%s,%s,", fixture[i].id,
                     fixture[i].decided, fixture[i].due, fc->target, fc->state,
                     report_cat_key(fc->cat));
            if (strstr(text, needle))
                n[k][fc->cat]++;
            else
                TAP_FAIL("no CSV row starting %s", needle);
        }
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < RCAT_COUNT; c++)
            CHECK_INT(n[k][c], expected(targets[k], (enum report_cat)c));
    long lines = 0;
    for (const char *p = text; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    /* a cell that would be a formula is text */
    CHECK(strstr(text, ",=") == NULL);
    CHECK_INT(lines, 1 + 2 * (long)NFIX);
    free(text);
}

/* The numbers after a summary label in the text report, as "a b total". */
static void text_numbers(const char *text, const char *label, long out[3])
{
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", label);
    const char *p = strstr(text, "\n当前状态") ? strstr(text, "\n当前状态")
                  : strstr(text, "\nCurrent state");
    p = p ? strstr(p, needle) : NULL;
    out[0] = out[1] = out[2] = -1;
    if (!p)
        return;
    p += strlen(needle);
    for (int i = 0; i < 3; i++)
        out[i] = strtol(p, (char **)&p, 10);
}

TEST(text_numbers_match_the_model_and_fit_100_columns)
{
    static const char *const zh[RCAT_COUNT] = {
        "按时公示", "超期公示", "待公示（未到期）", "重试中（未到期）", "逾期待发送", "平台拒收",
        "校验未通过", "不予公示", "已取消", "已撤回", "撤回中",
    };
    char *text = render(RFMT_TEXT, RLANG_ZH, NULL);
    long v[3];
    for (int c = 0; c < RCAT_COUNT; c++) {
        text_numbers(text, zh[c], v);
        CHECK_INT(v[0], expected("city", (enum report_cat)c));
        CHECK_INT(v[1], expected("province", (enum report_cat)c));
    }
    text_numbers(text, "期间内决定", v);
    CHECK_INT(v[0], (long)NFIX);
    /* Needs-a-human first, then the summary. */
    CHECK(strstr(text, "需要人工处理（4）") != NULL);
    CHECK(strstr(text, "需要人工处理") < strstr(text, "\n公示时效"));
    CHECK(strstr(text, "超期公示明细（1）") < strstr(text, "需要人工处理"));
    CHECK(strstr(text, "逾期未公示明细（5）") < strstr(text, "需要人工处理"));
    CHECK(strstr(text, "epsync retry D-2") != NULL);
    /* The summary columns line up in display cells, not bytes. */
    char *copy = strdup(text), *save = NULL;
    size_t summary_w = 0;
    bool in_summary = false;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t w = report_display_width(line);
        if (w > 100)
            TAP_FAIL("line of %zu cells: %s", w, line);
        if (strncmp(line, "当前状态", strlen("当前状态")) == 0) {
            in_summary = true;
            continue;
        }
        if (in_summary) {
            if (!summary_w)
                summary_w = w;
            if (w != summary_w)
                TAP_FAIL("summary line of %zu cells, not %zu: %s", w, summary_w, line);
        }
    }
    CHECK(summary_w > 0);
    free(copy);
    free(text);
}

TEST(english_labels_with_lang_en)
{
    char *text = render(RFMT_TEXT, RLANG_EN, NULL);
    long v[3];
    CHECK(strstr(text, "Needs a human (4)") != NULL);
    text_numbers(text, "overdue, not published", v);
    CHECK_INT(v[0], 1);
    CHECK(strstr(text, "需要") == NULL);
    free(text);
}

/* The value of the n-th <td class="n"> after data-key="key". */
static long html_number(const char *html, const char *key, int n)
{
    char needle[64];
    snprintf(needle, sizeof needle, "data-key=\"%s\"", key);
    const char *p = strstr(html, needle);
    for (int i = 0; p && i <= n; i++)
        if ((p = strstr(p, "<td class=\"n\">")))
            p += strlen("<td class=\"n\">");
    return p ? strtol(p, NULL, 10) : -1;
}

TEST(html_numbers_match_the_model_and_page_is_self_contained)
{
    char *html = render(RFMT_HTML, RLANG_ZH, NULL);
    for (int c = 0; c < RCAT_COUNT; c++) {
        const char *key = report_cat_key((enum report_cat)c);
        CHECK_INT(html_number(html, key, 0), expected("city", (enum report_cat)c));
        CHECK_INT(html_number(html, key, 1), expected("province", (enum report_cat)c));
    }
    CHECK_INT(html_number(html, "in_scope", 0), (long)NFIX);
    CHECK(strstr(html, "<svg id=\"weekly-chart\"") != NULL);
    CHECK(strstr(html, "@media print") != NULL);
    CHECK(strstr(html, "src=") == NULL);
    CHECK(strstr(html, "<link") == NULL);
    CHECK(strstr(html, "<script") == NULL);
    /* the platform's words verbatim, escaped */
    CHECK(strstr(html, "F0102 &lt;b&gt;证件号码&lt;/b&gt;校验失败") != NULL);
    CHECK(strstr(html, "<b>证件号码") == NULL);
    free(html);
}

TEST(wrap_keeps_every_character_within_the_width)
{
    struct buf b = BUF_INIT;
    const char *msg = "处罚决定书文号格式不正确，应为“石市监处罚〔2026〕N号”；"
                      "party_credit_code check digit mismatch for the given organisation code";
    report_wrap(&b, "    ", msg, 40);
    char *copy = strdup(buf_str(&b)), *save = NULL;
    struct buf joined = BUF_INIT;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        CHECK(report_display_width(l) <= 44);
        CHECK(strncmp(l, "    ", 4) == 0);
        buf_puts(&joined, l + 4);
    }
    /* Nothing lost but the spaces at which lines broke. */
    struct buf want = BUF_INIT;
    for (const char *p = msg; *p; p++)
        if (*p != ' ')
            buf_putc(&want, *p);
    struct buf got = BUF_INIT;
    for (const char *p = buf_str(&joined); *p; p++)
        if (*p != ' ')
            buf_putc(&got, *p);
    CHECK_STR(buf_str(&got), buf_str(&want));
    free(copy);
    buf_free(&b);
    buf_free(&joined);
    buf_free(&want);
    buf_free(&got);
}


TEST(working_days_late_counts_the_working_days_after_the_deadline)
{
    calendar *c = cal2026();
    /* due Friday 9 October: Saturday 10 is a working day */
    CHECK_INT(report_working_days_late(c, D("2026-10-09"), D("2026-10-09")), 0);
    CHECK_INT(report_working_days_late(c, D("2026-10-09"), D("2026-10-01")), 0);
    CHECK_INT(report_working_days_late(c, D("2026-10-09"), D("2026-10-10")), 1);
    CHECK_INT(report_working_days_late(c, D("2026-10-09"), D("2026-10-12")), 2);
    /* due Friday 16 October, published on the Sunday: one day late */
    CHECK_INT(report_working_days_late(c, D("2026-10-16"), D("2026-10-18")), 1);
    CHECK_INT(report_working_days_late(c, D("2026-10-16"), D("2026-10-19")), 1);
    /* due 30 September, published 8 October: the holidays do not count */
    CHECK_INT(report_working_days_late(c, D("2026-09-30"), D("2026-10-08")), 1);
    CHECK_INT(report_working_days_late(c, D("2026-09-30"), DATE_NONE), -1);
    calendar_free(c);
}

static struct report_timely_facts tl(const char *state, const char *pub, const char *today,
                                     bool missing, const char *excl)
{
    struct report_facts f = {
        .state = state, .first_published = pub ? D(pub) : DATE_NONE, .due_on = D("2026-10-15"),
        .today = D(today), .routed = true, .missing = missing, .exclude_reason = excl,
    };
    struct report_timely_facts out;
    report_timeliness(&f, report_categorise(&f), &out);
    return out;
}

TEST(timeliness_is_history_and_missed_whatever_the_state)
{
    CHECK_INT(tl("withdrawn", "2026-10-20", "2026-12-01", false, NULL).tl, RTL_LATE);
    CHECK_INT(tl("withdraw_pending", "2026-10-14", "2026-12-01", false, NULL).tl, RTL_ON_TIME);
    CHECK_INT(tl("invalid", NULL, "2026-10-16", false, NULL).tl, RTL_MISSED);
    CHECK_INT(tl("invalid", NULL, "2026-10-16", false, NULL).cause, RCAUSE_INVALID);
    CHECK_INT(tl("rejected", NULL, "2026-10-16", false, NULL).cause, RCAUSE_REJECTED);
    CHECK_INT(tl("retry", NULL, "2026-10-16", false, NULL).cause, RCAUSE_RETRYING);
    CHECK_INT(tl("pending", NULL, "2026-10-16", false, NULL).cause, RCAUSE_PENDING);
    CHECK_INT(tl(NULL, NULL, "2026-10-16", false, NULL).cause, RCAUSE_PENDING);
    CHECK_INT(tl("pending", NULL, "2026-10-16", true, NULL).cause, RCAUSE_MISSING);
    CHECK_INT(tl("rejected", NULL, "2026-10-15", false, NULL).tl, RTL_NOT_DUE);
    CHECK_INT(tl("excluded", NULL, "2026-12-01", false, "minor").excl, REXCL_MINOR);
    CHECK_INT(tl("excluded", NULL, "2026-12-01", false, "kind not routed to this target").excl,
              REXCL_NOT_ROUTED);
    CHECK_INT(tl("cancelled", NULL, "2026-12-01", false, "revoked before publication").excl,
              REXCL_CANCELLED);
    CHECK_INT(tl("excluded", NULL, "2026-12-01", false, "warning_only").tl, RTL_OUTSIDE);
}

static int64_t at(const char *day, int hour)
{
    return ((int64_t)D(day) * 86400 + (hour - 8) * 3600) * 1000;
}

TEST(history_segments_explain_lateness)
{
    struct report_hist h[] = {
        { at("2026-10-01", 9), "invalid", "party_credit_code: check digit is wrong (expected M)", NULL },
        { at("2026-10-11", 9), "invalid", "party_id_no: check character is wrong", NULL },
        { at("2026-10-12", 9), "pending", NULL, NULL },
        { at("2026-10-12", 9) + 1000, "retry", NULL, "HTTP 503" },
        { at("2026-10-14", 18), "pending", NULL, NULL },
        { at("2026-10-16", 10), "published", NULL, NULL },
    };
    struct report_segment seg[REPORT_MAX_SEGMENTS];
    size_t n = report_segments(h, 6, at("2026-10-16", 10), false, seg, REPORT_MAX_SEGMENTS);
    CHECK_INT(n, 3);
    CHECK_INT(seg[0].what, RSEG_INVALID);
    CHECK_INT(seg[0].from, D("2026-10-01"));
    CHECK_INT(seg[0].to, D("2026-10-12"));
    CHECK_INT(seg[1].what, RSEG_FAILING);
    CHECK_STR(seg[1].detail, "HTTP 503");
    CHECK_INT(seg[2].what, RSEG_QUEUED);      /* 14 Oct 18:00 to 16 Oct 10:00 */
    /* still so: the last stretch has no end */
    n = report_segments(h, 4, at("2026-10-20", 9), true, seg, REPORT_MAX_SEGMENTS);
    CHECK_INT(seg[n - 1].what, RSEG_FAILING);
    CHECK_INT(seg[n - 1].to, DATE_NONE);
    struct buf b = BUF_INIT;
    report_cause_text(&b, seg, n, RLANG_ZH);
    CHECK(strstr(buf_str(&b), "校验未通过（2026-10-01 至 2026-10-12）：当事人统一社会信用代码：校验位错误（应为 M）") != NULL);
    CHECK(strstr(buf_str(&b), "平台故障或无法连接（2026-10-12 起至今）：HTTP 503") != NULL);
    buf_free(&b);
}

TEST(validation_reasons_in_chinese)
{
    static const struct { const char *en, *zh; } t[] = {
        { "party_credit_code: check digit is wrong (expected M)",
          "当事人统一社会信用代码：校验位错误（应为 M）" },
        { "party_id_no: missing (required for a natural person)",
          "当事人证件号码：缺失（当事人为自然人时必填）" },
        { "fine_amount: must not be negative", "罚款金额：不能为负数" },
        { "party_type: \"foo\" is not one of legal_person, other_org, individual_business, "
          "natural_person", "当事人类型“foo”不是规定的当事人类型（法人、其他组织、个体工商户、自然人）" },
        { "decided_on: 2027-01-01 is in the future (today is 2026-12-01)",
          "决定日期：2027-01-01 晚于当天（当天为 2026-12-01）" },
        { "party_credit_code: check digit is wrong (expected M); doc_no: missing (required "
          "for a penalty or licence)",
          "当事人统一社会信用代码：校验位错误（应为 M）；决定文书号：缺失（行政处罚、行政许可必填）" },
        { "something new: never seen", "something new: never seen" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct buf b = BUF_INIT;
        report_reason_text(&b, t[i].en, RLANG_ZH);
        CHECK_STR(buf_str(&b), t[i].zh);
        buf_reset(&b);
        report_reason_text(&b, t[i].en, RLANG_EN);
        CHECK_STR(buf_str(&b), t[i].en);
        buf_free(&b);
    }
    struct buf b = BUF_INIT;
    report_date_long(&b, D("2026-12-01"), RLANG_ZH);
    CHECK_STR(buf_str(&b), "2026年12月1日");
    buf_free(&b);
}

TEST(csv_cells_never_become_formulas)
{
    static const struct { const char *in, *out; } t[] = {
        { "=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"" }, { "+1", "\"'+1\"" },
        { "-2", "\"'-2\"" }, { "@SUM(A1)", "\"'@SUM(A1)\"" }, { "a=b", "a=b" },
        { "2026-10-01", "2026-10-01" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct buf b = BUF_INIT;
        report_csv_field(&b, t[i].in);
        CHECK_STR(buf_str(&b), t[i].out);
        buf_free(&b);
    }
}

int main(void)
{
    RUN(published_on_or_before_due_day_is_on_time);
    RUN(published_row_without_publication_time_is_not_claimed_on_time);
    RUN(pending_update_of_a_published_decision_counts_as_published);
    RUN(unpublished_work_is_pending_until_due_then_overdue);
    RUN(terminal_states_count_as_such_whatever_the_date);
    RUN(decision_without_delivery_row_follows_the_decision);
    RUN(category_keys_are_the_spec_keys);
    RUN(display_width_counts_cjk_as_two_cells);
    RUN(csv_fields_are_quoted_per_rfc4180);
    RUN(json_and_html_escaping);
    RUN(iso_weeks_and_cst_timestamps);
    RUN(format_and_language_names);
    RUN(model_counts_every_pair_once);
    RUN(json_numbers_match_the_model);
    RUN(csv_rows_match_the_model);
    RUN(text_numbers_match_the_model_and_fit_100_columns);
    RUN(english_labels_with_lang_en);
    RUN(html_numbers_match_the_model_and_page_is_self_contained);
    RUN(wrap_keeps_every_character_within_the_width);
    RUN(working_days_late_counts_the_working_days_after_the_deadline);
    RUN(timeliness_is_history_and_missed_whatever_the_state);
    RUN(history_segments_explain_lateness);
    RUN(validation_reasons_in_chinese);
    RUN(csv_cells_never_become_formulas);
    return tap_done();
}

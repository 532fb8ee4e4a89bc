/* report_json.c - the report as JSON: the shape of the contract (summary
 * per target, one entry per decision) plus timeliness, the late and
 * missed lists, the needs-a-human list, warnings, thresholds, the weekly
 * series.  Numbers come from the model and the streamed rows only. */
#include "report.h"
#include "report_formats.h"
#include "report_text.h"
#include "report_zh.h"

#include <string.h>

static void key(struct buf *b, const char *k)
{
    buf_printf(b, ",\"%s\":", k);
}

static void date_or_null(struct buf *b, date_t d)
{
    char s[11];
    if (d == DATE_NONE) {
        buf_puts(b, "null");
        return;
    }
    date_format(d, s);
    buf_printf(b, "\"%s\"", s);
}

static void long_or_null(struct buf *b, long v)
{
    if (v < 0)
        buf_puts(b, "null");
    else
        buf_printf(b, "%ld", v);
}

static void segments(struct buf *b, const struct report_segment *seg, size_t n)
{
    buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "%s{\"what\":\"%s\",\"from\":", i ? "," : "", report_seg_key(seg[i].what));
        date_or_null(b, seg[i].from);
        buf_puts(b, ",\"to\":");
        date_or_null(b, seg[i].to);
        buf_puts(b, ",\"detail\":");
        report_json_string(b, seg[i].detail);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

static void cell(struct buf *b, const struct report_cell *c, enum report_lang lang)
{
    report_json_string(b, c->target);
    buf_puts(b, ":{\"state\":");
    report_json_string(b, c->state);
    buf_printf(b, ",\"category\":\"%s\"", report_cat_key(c->cat));
    key(b, "published_at");
    report_json_string(b, c->published_at);
    key(b, "first_published_at");
    report_json_string(b, c->published_at);
    key(b, "receipt");
    report_json_string(b, c->receipt);
    buf_printf(b, ",\"attempts\":%ld", c->attempts);
    key(b, "last_error");
    report_json_string(b, c->last_error);
    key(b, "reason");
    report_json_string(b, c->reason);
    buf_printf(b, ",\"timeliness\":\"%s\"", report_tl_key(c->tl));
    key(b, "working_days_late");
    long_or_null(b, c->tl == RTL_LATE || c->tl == RTL_ON_TIME ? c->wdl : -1);
    key(b, "missed_cause");
    report_json_string(b, c->cause >= 0 ? report_cause_key((enum report_cause)c->cause) : NULL);
    key(b, "excluded_reason");
    report_json_string(b, c->excl >= 0 ? report_excl_key((enum report_excl)c->excl) : NULL);
    if (c->tl == RTL_LATE || c->tl == RTL_MISSED) {
        struct buf t = BUF_INIT;
        report_cause_text(&t, c->seg, c->nseg, lang);
        key(b, "history");
        segments(b, c->seg, c->nseg);
        key(b, "cause");
        report_json_string(b, buf_str(&t));
        buf_free(&t);
    }
    buf_putc(b, '}');
}

void report_json_row(struct buf *b, const struct report_row *r, long nrows, enum report_lang lang)
{
    buf_puts(b, nrows ? ",\n  {" : "\n  {");
    buf_puts(b, "\"decision_id\":");
    report_json_string(b, r->decision_id);
    key(b, "kind");
    report_json_string(b, r->kind);
    key(b, "decided_on");
    date_or_null(b, r->decided_on);
    key(b, "due_on");
    date_or_null(b, r->due_on);
    key(b, "missing_since");
    report_json_string(b, r->missing_since);
    buf_puts(b, ",\"targets\":{");
    for (size_t i = 0; i < r->ncells; i++) {
        if (i)
            buf_putc(b, ',');
        cell(b, &r->cells[i], lang);
    }
    buf_puts(b, "}}");
}

static void target_sum(struct buf *b, const struct report_target_sum *t)
{
    report_json_string(b, t->name);
    buf_printf(b, ":{\"in_scope\":%ld", t->in_scope);
    for (int c = 0; c < RCAT_COUNT; c++)
        buf_printf(b, ",\"%s\":%ld", report_cat_key((enum report_cat)c), t->n[c]);
    key(b, "display_name");
    report_json_string(b, t->display);
    buf_printf(b, ",\"must_publish\":%ld,\"missed\":%ld,\"timeliness\":{", t->must_publish,
               t->tl[RTL_MISSED]);
    for (int k = 0; k < RTL_COUNT; k++)
        buf_printf(b, "%s\"%s\":%ld", k ? "," : "", report_tl_key((enum report_tl)k), t->tl[k]);
    buf_puts(b, "},\"missed_by_cause\":{");
    for (int k = 0; k < RCAUSE_COUNT; k++)
        buf_printf(b, "%s\"%s\":%ld", k ? "," : "", report_cause_key((enum report_cause)k),
                   t->missed_by[k]);
    buf_puts(b, "},\"excluded_by_reason\":{");
    for (int k = 0; k < REXCL_COUNT; k++)
        buf_printf(b, "%s\"%s\":%ld", k ? "," : "", report_excl_key((enum report_excl)k),
                   t->excl_by[k]);
    buf_puts(b, "}}");
}

void report_json_head(struct buf *b, const struct report_model *m)
{
    char ts[32];

    report_ts_cst(m->generated_ms, ts);
    buf_printf(b, "{\"generated_at\":\"%s\"", ts);
    key(b, "from");
    date_or_null(b, m->from);
    key(b, "to");
    date_or_null(b, m->to);
    key(b, "today");
    date_or_null(b, m->today);
    key(b, "as_of");
    date_or_null(b, m->as_of);
    key(b, "kind");
    report_json_string(b, m->kind);
    key(b, "organisation");
    report_json_string(b, m->organisation);
    buf_puts(b, ",\"deadline_rules\":{");
    for (int k = 0; k < KIND_COUNT; k++)
        buf_printf(b, "%s\"%s\":%d", k ? "," : "", kind_name((enum kind)k), m->deadline_days[k]);
    buf_puts(b, "},\"targets\":{");
    for (size_t i = 0; i < m->ntargets; i++) {
        buf_puts(b, i ? ",\n  " : "\n  ");
        target_sum(b, &m->targets[i]);
    }
    buf_printf(b, "},\n\"decisions_total\":{\"in_scope\":%ld,\"must_publish\":%ld",
               m->ndecisions, m->dec_must);
    for (int k = 0; k < RTL_COUNT; k++)
        buf_printf(b, ",\"%s\":%ld", report_tl_key((enum report_tl)k), m->dec_tl[k]);
    buf_puts(b, "},\n\"decisions\":[");
}

static void timely(struct buf *b, const struct report_model *m, enum report_tl which,
                   void (*spill)(void *ctx, struct buf *b), void *ctx)
{
    struct buf t = BUF_INIT;
    long n = 0;
    for (size_t i = 0; i < m->ntimely; i++) {
        const struct report_timely *x = &m->timely[i];
        if (x->tl != which)
            continue;
        buf_puts(b, n++ ? ",\n  {\"decision_id\":" : "\n  {\"decision_id\":");
        report_json_string(b, x->decision_id);
        key(b, "kind");
        report_json_string(b, x->kind);
        key(b, "target");
        report_json_string(b, x->target);
        key(b, "decided_on");
        date_or_null(b, x->decided_on);
        key(b, "due_on");
        date_or_null(b, x->due_on);
        key(b, "published_on");
        date_or_null(b, x->published_on);
        key(b, "working_days_late");
        long_or_null(b, which == RTL_LATE ? x->wdl : -1);
        key(b, "missed_cause");
        report_json_string(b, which == RTL_MISSED
                              ? report_cause_key((enum report_cause)x->cause) : NULL);
        key(b, "history");
        segments(b, x->seg, x->nseg);
        buf_reset(&t);
        report_timely_text(&t, x, m->lang);
        key(b, "cause");
        report_json_string(b, buf_str(&t));
        buf_putc(b, '}');
        spill(ctx, b);
    }
    buf_free(&t);
}

void report_json_tail(struct buf *b, const struct report_model *m,
                      void (*spill)(void *ctx, struct buf *b), void *ctx)
{
    char d[11], due[11], week[9];

    buf_puts(b, "],\n\"late\":[");
    timely(b, m, RTL_LATE, spill, ctx);
    buf_puts(b, "],\n\"missed\":[");
    timely(b, m, RTL_MISSED, spill, ctx);
    buf_puts(b, "],\n\"needs_attention\":[");
    for (size_t i = 0; i < m->nattn; i++) {
        const struct report_attention *a = &m->attn[i];
        buf_puts(b, i ? ",\n  {\"decision_id\":" : "\n  {\"decision_id\":");
        report_json_string(b, a->decision_id);
        buf_puts(b, ",\"target\":");
        report_json_string(b, a->target);
        buf_printf(b, ",\"issue\":\"%s\",\"kind\":", report_issue_key(a->issue));
        report_json_string(b, a->kind);
        date_format(a->decided_on, d);
        date_format(a->due_on, due);
        buf_printf(b, ",\"decided_on\":\"%s\",\"due_on\":\"%s\",\"attempts\":%ld,\"reason\":",
                   d, due, a->attempts);
        report_json_string(b, a->reason);
        struct buf txt = BUF_INIT;
        report_reason(&txt, a, m->lang);
        buf_puts(b, ",\"reason_text\":");
        report_json_string(b, buf_str(&txt));
        buf_free(&txt);
        buf_puts(b, ",\"missing_since\":");
        report_json_string(b, a->missing_since);
        struct buf adv = BUF_INIT;
        report_advice(&adv, a, m->lang);
        buf_puts(b, ",\"advice\":");
        report_json_string(b, buf_str(&adv));
        buf_free(&adv);
        buf_putc(b, '}');
        spill(ctx, b);
    }
    buf_puts(b, "],\n\"warnings\":[");
    for (size_t i = 0; i < m->nwarnings; i++) {
        if (i)
            buf_putc(b, ',');
        report_json_string(b, m->warnings[i]);
    }
    buf_printf(b, "],\n\"thresholds\":{\"small_fine_person_yuan\":%lld,"
                  "\"small_fine_org_yuan\":%lld},\n\"weekly\":[",
               (long long)m->small_fine_person_yuan, (long long)m->small_fine_org_yuan);
    for (size_t i = 0; i < m->nweeks; i++) {
        report_iso_week(m->week0 + (date_t)(7 * i), week);
        buf_printf(b, "%s{\"week\":\"%s\",\"published\":%ld,\"overdue\":%ld}", i ? "," : "",
                   week, m->weeks[i].published, m->weeks[i].overdue);
    }
    buf_puts(b, "]}\n");
}

/* test_lifecycle.c - every state x every event, against lifecycle_table.
 *
 * Each event is tried from every state (also the ones where it cannot
 * happen in practice) with every shape of row (published or not, a
 * withdrawal wanted or not, the revision sent still wanted or not): the
 * functions must never crash, must give a known state, and every change
 * of state they make must be a line of the table.  Every line of the
 * table must be made by some input.  With LIFECYCLE_PRINT=1 set, the
 * transitions found are printed instead (to write the table). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "tap.h"

static bool seen[LC_STATE_COUNT + 1][EV_COUNT][LC_STATE_COUNT];
static bool printing;

/* Can a row be in state s with this shape?  Transitions from shapes no
 * row can have are checked for safety (a known state, no crash) but are
 * not lines of the table. */
static bool consistent(int s, bool published, bool want_withdraw)
{
    switch (s) {
    case LC_PUBLISHED: return published && !want_withdraw;
    case LC_WITHDRAW_PENDING: return published && want_withdraw;
    case LC_WITHDRAWN:
    case LC_CANCELLED: return !published && want_withdraw;
    case LC_PENDING:
    case LC_RETRY:
    case LC_INVALID:
    case LC_EXCLUDED: return !want_withdraw;
    default: return true;
    }
}

static void note(enum lc_state from, enum lc_event ev, enum lc_state to, const char *how)
{
    if (to < 0 || to >= LC_STATE_COUNT) {
        printf("# %s: %s --%s--> unknown state\n", how, lc_state_name(from), lc_event_name(ev));
        tap_cur_failed = 1;
        return;
    }
    if (from == to)
        return;   /* no change: always allowed */
    seen[from == LC_NEW ? LC_STATE_COUNT : from][ev][to] = true;
    if (!printing && !lifecycle_allowed(from, ev, to)) {
        printf("# %s: %s --%s--> %s is not in the table\n", how, lc_state_name(from),
               lc_event_name(ev), lc_state_name(to));
        tap_cur_failed = 1;
    }
}

/* ---- detection ---- */

static const enum lc_event detect_events[] = {
    EV_NEW_REVISION, EV_SAME_REVISION, EV_REVOKE, EV_CONFIDENTIAL, EV_INVALID, EV_NOT_ROUTED,
};

static void source_for(enum lc_event ev, struct lc_source *s)
{
    memset(s, 0, sizeof *s);
    s->routed = true;
    s->revision = ev == EV_SAME_REVISION ? "A" : "B";
    switch (ev) {
    case EV_REVOKE: s->revoked = true; break;
    case EV_CONFIDENTIAL: s->exclude = "confidential"; break;
    case EV_INVALID: s->invalid = "party_id_no: check digit"; break;
    case EV_NOT_ROUTED: s->routed = false; break;
    default: break;
    }
}

TEST(detection_from_every_state)
{
    for (int st = -1; st < LC_STATE_COUNT; st++)
        for (size_t e = 0; e < sizeof detect_events / sizeof *detect_events; e++)
            for (int shape = 0; shape < 4; shape++) {
                struct lc_source src;
                struct lc_have have = {
                    .exists = st >= 0, .state = (enum lc_state)st,
                    .published_revision = st >= 0 && (shape & 1) ? "A" : NULL,
                    .want_withdraw = st >= 0 && (shape & 2),
                };
                struct lc_want w;
                source_for(detect_events[e], &src);
                bool changed = lifecycle_want(&src, &have, &w);
                enum lc_state to = changed ? w.state : (enum lc_state)st;
                if (consistent(st, have.published_revision, have.want_withdraw))
                    note((enum lc_state)st, detect_events[e], to, "want");
                else
                    note((enum lc_state)st, detect_events[e], (enum lc_state)st, "want");
                CHECK(to >= 0 && to < LC_STATE_COUNT);
            }
}

TEST(a_new_decision_is_pending_or_says_why_not)
{
    struct lc_have none = { .exists = false, .state = LC_NEW };
    struct lc_source src;
    struct lc_want w;
    source_for(EV_NEW_REVISION, &src);
    CHECK(lifecycle_want(&src, &none, &w));
    CHECK_INT(w.state, LC_PENDING);
    CHECK(w.reason == NULL);
    source_for(EV_INVALID, &src);
    CHECK(lifecycle_want(&src, &none, &w));
    CHECK_INT(w.state, LC_INVALID);
    CHECK_STR(w.reason, "party_id_no: check digit");
    source_for(EV_REVOKE, &src);
    CHECK(lifecycle_want(&src, &none, &w));
    CHECK_INT(w.state, LC_CANCELLED);
    CHECK_STR(w.reason, "revoked before publication");
}

TEST(a_published_decision_revoked_is_withdrawn_once)
{
    struct lc_have have = { .exists = true, .state = LC_PUBLISHED, .published_revision = "A" };
    struct lc_source src;
    struct lc_want w;
    source_for(EV_REVOKE, &src);
    CHECK(lifecycle_want(&src, &have, &w));
    CHECK_INT(w.state, LC_WITHDRAW_PENDING);
    CHECK(w.want_withdraw);
    CHECK_STR(w.withdraw_type, "REVOKED");
    have.state = LC_WITHDRAW_PENDING;
    have.want_withdraw = true;
    CHECK(!lifecycle_want(&src, &have, &w));   /* already being taken down */
    /* the same revision again changes nothing */
    struct lc_have pub = { .exists = true, .state = LC_PUBLISHED, .published_revision = "A" };
    source_for(EV_SAME_REVISION, &src);
    CHECK(!lifecycle_want(&src, &pub, &w));
}

/* ---- claiming ---- */

TEST(operation_for_every_claimed_shape)
{
    for (int shape = 0; shape < 16; shape++) {
        struct lc_claimed c = {
            .want_withdraw = shape & 1, .want_revision = "B",
            .published_revision = (shape & 2) ? ((shape & 4) ? "B" : "A") : NULL,
            .has_receipt = shape & 8,
        };
        enum lc_settle settle;
        enum op op = lifecycle_op(&c, &settle);
        CHECK(op == OP_PUBLISH || op == OP_UPDATE || op == OP_WITHDRAW);
        if (c.want_withdraw) {
            CHECK_INT(op, OP_WITHDRAW);
            CHECK_INT(settle, c.published_revision && c.has_receipt ? LC_SEND : LC_SETTLE_CANCEL);
        } else if (!c.published_revision) {
            CHECK_INT(op, OP_PUBLISH);
            CHECK_INT(settle, LC_SEND);
        } else if (strcmp(c.published_revision, "B") != 0) {
            CHECK_INT(op, c.has_receipt ? OP_UPDATE : OP_PUBLISH);
            CHECK_INT(settle, LC_SEND);
        } else {
            CHECK_INT(settle, LC_SETTLE_NOOP);
        }
    }
}

/* ---- recording ---- */

static enum lc_event event_of(enum result_kind k)
{
    static const enum lc_event ev[RES_KIND_COUNT] = {
        [RES_OK] = EV_OK, [RES_TRANSIENT] = EV_TRANSIENT, [RES_PERMANENT] = EV_PERMANENT,
        [RES_ADOPT] = EV_ADOPT, [RES_GONE] = EV_GONE, [RES_NOT_FOUND] = EV_NOT_FOUND,
        [RES_CANCEL] = EV_CANCEL, [RES_NOOP] = EV_NOOP, [RES_RELEASE] = EV_RELEASE,
    };
    return ev[k];
}

TEST(outcome_in_every_state)
{
    for (int st = 0; st < LC_STATE_COUNT; st++)
        for (int k = 0; k < RES_KIND_COUNT; k++)
            for (int op = OP_PUBLISH; op <= OP_WITHDRAW; op++)
                for (int shape = 0; shape < 8; shape++) {
                    struct row_now cur = {
                        .state = lc_state_name((enum lc_state)st), .want_revision = "B",
                        .want_withdraw = shape & 1,
                        .published_revision = (shape & 2) ? "A" : NULL,
                        .receipt = (shape & 2) ? "R1" : NULL, .attempts = 3,
                    };
                    struct lc_outcome res = {
                        .kind = (enum result_kind)k, .op = (enum op)op,
                        .revision = (shape & 4) ? "B" : "A", .receipt = "R2",
                    };
                    struct row_next nx;
                    lifecycle_next(&cur, &res, &nx);
                    enum lc_state to = lc_state_parse(nx.state);
                    CHECK(to < LC_STATE_COUNT);
                    if (consistent(st, cur.published_revision, cur.want_withdraw))
                        note((enum lc_state)st, event_of((enum result_kind)k), to, "next");
                    if (k == RES_RELEASE) {
                        CHECK(!nx.counts_attempt);
                        CHECK_INT(nx.attempts, 3);
                    }
                    if (k == RES_TRANSIENT || k == RES_PERMANENT)
                        CHECK_INT(nx.attempts, 4);
                }
}

TEST(an_unknown_outcome_changes_nothing)
{
    struct row_now cur = { .state = "pending", .want_revision = "B", .attempts = 2 };
    struct lc_outcome res = { .kind = (enum result_kind)99, .op = OP_PUBLISH, .revision = "B" };
    struct row_next nx;
    lifecycle_next(&cur, &res, &nx);
    CHECK_STR(nx.state, "pending");
    CHECK(!nx.counts_attempt);
    CHECK_INT(nx.attempts, 2);
}

TEST(publish_ok_while_still_wanted_is_published)
{
    struct row_now cur = { .state = "pending", .want_revision = "B" };
    struct lc_outcome res = { .kind = RES_OK, .op = OP_PUBLISH, .revision = "B", .receipt = "R" };
    struct row_next nx;
    lifecycle_next(&cur, &res, &nx);
    CHECK_STR(nx.state, "published");
    CHECK_STR(nx.published_revision, "B");
    CHECK_STR(nx.receipt, "R");
    CHECK(nx.set_published);
    /* a newer revision arrived meanwhile: the update is still to be sent */
    cur.want_revision = "C";
    lifecycle_next(&cur, &res, &nx);
    CHECK_STR(nx.state, "pending");
    /* revoked meanwhile: take it down again */
    cur.want_withdraw = true;
    lifecycle_next(&cur, &res, &nx);
    CHECK_STR(nx.state, "withdraw_pending");
}

/* ---- operators and the calendar ---- */

TEST(operator_and_calendar_in_every_state)
{
    for (int st = 0; st < LC_STATE_COUNT; st++)
        for (int shape = 0; shape < 2; shape++) {
            enum lc_state s = (enum lc_state)st, to;
            to = lifecycle_requeue(s, shape);
            CHECK(to >= 0 && to <= LC_STATE_COUNT);
            if (consistent(st, st == LC_WITHDRAW_PENDING || st == LC_PUBLISHED, shape))
                note(s, EV_OPERATOR_RETRY, to == LC_STATE_COUNT ? s : to, "requeue");
            to = lifecycle_withdraw(s, shape);
            CHECK(to >= 0 && to <= LC_STATE_COUNT);
            if (consistent(st, shape, st == LC_WITHDRAW_PENDING || st == LC_WITHDRAWN
                                          || st == LC_CANCELLED))
                note(s, EV_OPERATOR_WITHDRAW, to == LC_STATE_COUNT ? s : to, "withdraw");
            to = lifecycle_expire(s);
            note(s, EV_EXPIRE, to == LC_STATE_COUNT ? s : to, "expire");
        }
    CHECK_INT(lifecycle_requeue(LC_PUBLISHED, false), LC_STATE_COUNT);
    CHECK_INT(lifecycle_withdraw(LC_EXCLUDED, true), LC_STATE_COUNT);
    CHECK_INT(lifecycle_withdraw((enum lc_state)42, true), LC_STATE_COUNT);
    CHECK_INT(lifecycle_expire(LC_WITHDRAWN), LC_STATE_COUNT);
}

TEST(every_line_of_the_table_happens)
{
    for (size_t i = 0; i < lifecycle_table_len; i++) {
        const struct lc_transition *t = &lifecycle_table[i];
        if (!seen[t->from == LC_NEW ? LC_STATE_COUNT : t->from][t->event][t->to]) {
            printf("# table line %zu (%s --%s--> %s) is never made\n", i, lc_state_name(t->from),
                   lc_event_name(t->event), lc_state_name(t->to));
            tap_cur_failed = 1;
        }
    }
}

TEST(names)
{
    CHECK_STR(lc_state_name(LC_NEW), "new");
    CHECK_STR(lc_state_name((enum lc_state)77), "?");
    CHECK_INT(lc_state_parse("withdraw_pending"), LC_WITHDRAW_PENDING);
    CHECK_INT(lc_state_parse("nonsense"), LC_STATE_COUNT);
    CHECK_INT(lc_state_parse(NULL), LC_STATE_COUNT);
    CHECK_STR(lc_event_name((enum lc_event)-3), "?");
    CHECK_STR(result_word((enum result_kind)99), "?");
}

/* The states a claim looks for (queue.c's SQL_CLAIM, "state IN "
 * LC_ACTIVE_SQL): an outcome leaving a row in one of them tells the engine
 * to claim again. */
TEST(active_states_are_what_a_claim_looks_for)
{
    CHECK_STR(LC_ACTIVE_SQL, "('pending', 'retry', 'withdraw_pending')");
    for (int st = 0; st < LC_STATE_COUNT; st++) {
        char quoted[40];
        snprintf(quoted, sizeof quoted, "'%s'", lc_state_name((enum lc_state)st));
        CHECK_INT(lc_state_active((enum lc_state)st), strstr(LC_ACTIVE_SQL, quoted) != NULL);
    }
    CHECK_INT(lc_state_active(LC_NEW), false);
    CHECK_INT(lc_state_active(LC_STATE_COUNT), false);
}

static void print_table(void)
{
    for (int f = 0; f <= LC_STATE_COUNT; f++)
        for (int e = 0; e < EV_COUNT; e++)
            for (int t = 0; t < LC_STATE_COUNT; t++)
                if (seen[f][e][t])
                    printf("%d %d %d\n", f == LC_STATE_COUNT ? -1 : f, e, t);
}

int main(void)
{
    printing = getenv("LIFECYCLE_PRINT") != NULL;
    RUN(detection_from_every_state);
    RUN(a_new_decision_is_pending_or_says_why_not);
    RUN(a_published_decision_revoked_is_withdrawn_once);
    RUN(operation_for_every_claimed_shape);
    RUN(outcome_in_every_state);
    RUN(an_unknown_outcome_changes_nothing);
    RUN(publish_ok_while_still_wanted_is_published);
    RUN(operator_and_calendar_in_every_state);
    if (printing) {
        print_table();
        return 0;
    }
    RUN(every_line_of_the_table_happens);
    RUN(names);
    RUN(active_states_are_what_a_claim_looks_for);
    return tap_done();
}

/* lifecycle.c - see lifecycle.h. */
#include "lifecycle.h"

#include <string.h>

static const char *const state_names[LC_STATE_COUNT] = {
    [LC_PENDING] = "pending", [LC_PUBLISHED] = "published", [LC_RETRY] = "retry",
    [LC_REJECTED] = "rejected", [LC_INVALID] = "invalid",
    [LC_WITHDRAW_PENDING] = "withdraw_pending", [LC_WITHDRAWN] = "withdrawn",
    [LC_EXCLUDED] = "excluded", [LC_CANCELLED] = "cancelled",
};

const char *lc_state_name(enum lc_state s)
{
    if (s == LC_NEW)
        return "new";
    return s >= 0 && s < LC_STATE_COUNT ? state_names[s] : "?";
}

enum lc_state lc_state_parse(const char *s)
{
    for (int i = 0; s && i < LC_STATE_COUNT; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (enum lc_state)i;
    return LC_STATE_COUNT;
}

bool lc_state_active(enum lc_state s)
{
    return s == LC_PENDING || s == LC_RETRY || s == LC_WITHDRAW_PENDING;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- detection ------------------------------------------------------ */

bool lifecycle_want(const struct lc_source *src, const struct lc_have *have, struct lc_want *out)
{
    const char *exclude = src->exclude ? src->exclude
                          : src->routed ? NULL : "kind not routed to this target";
    bool published = have->exists && have->published_revision;

    memset(out, 0, sizeof *out);
    /* Revoked, or may no longer be published although it is: take it down
     * where it is online, cancel it where it is not yet. */
    if (src->revoked || (published && src->exclude)) {
        if (published) {
            if (have->want_withdraw)
                return false;   /* already being taken down */
            out->state = LC_WITHDRAW_PENDING;
            out->want_withdraw = true;
            out->withdraw_type = "REVOKED";
            out->withdraw_reason = src->revoked ? "decision revoked"
                                                : "decision may no longer be published";
            out->reason = src->revoked ? "revoked" : exclude;
            return true;
        }
        if (have->exists && (have->state == LC_CANCELLED || have->state == LC_WITHDRAWN))
            return false;
        out->state = LC_CANCELLED;
        out->want_withdraw = true;
        out->reason = src->revoked ? "revoked before publication" : exclude;
        return true;
    }
    if (exclude) {
        out->state = LC_EXCLUDED;
        out->reason = exclude;
        return !have->exists || have->state != LC_EXCLUDED;
    }
    if (src->invalid && *src->invalid) {
        out->state = LC_INVALID;
        out->reason = src->invalid;
        return true;
    }
    if (published && !have->want_withdraw && have->state == LC_PUBLISHED
        && same(have->published_revision, src->revision))
        return false;
    out->state = LC_PENDING;
    return true;
}

/* ---- claiming ------------------------------------------------------- */

enum op lifecycle_op(const struct lc_claimed *c, enum lc_settle *settle)
{
    /* Wanted vs held: the operations on one pair come out in order
     * (publish, update, withdraw). */
    *settle = LC_SEND;
    if (c->want_withdraw) {
        if (!c->published_revision || !c->has_receipt)
            *settle = LC_SETTLE_CANCEL;
        return OP_WITHDRAW;
    }
    if (!c->published_revision)
        return OP_PUBLISH;
    if (!same(c->published_revision, c->want_revision))
        return c->has_receipt ? OP_UPDATE : OP_PUBLISH;
    *settle = LC_SETTLE_NOOP;
    return OP_UPDATE;
}

/* ---- recording ------------------------------------------------------ */

const char *result_word(enum result_kind k)
{
    static const char *const words[RES_KIND_COUNT] = {
        [RES_OK] = "ok", [RES_TRANSIENT] = "transient", [RES_PERMANENT] = "permanent",
        [RES_ADOPT] = "adopt", [RES_GONE] = "gone", [RES_NOT_FOUND] = "not_found",
        [RES_CANCEL] = "cancel", [RES_NOOP] = "noop", [RES_RELEASE] = "release",
    };
    return k >= 0 && k < RES_KIND_COUNT ? words[k] : "?";
}

static void next_ok(const struct row_now *cur, const struct lc_outcome *res, bool still_wanted,
                    struct row_next *out)
{
    out->clear_error = true;
    out->keep_expiry = false;
    if (res->op == OP_WITHDRAW) {
        out->published_revision = NULL;
        out->set_withdrawn = true;
        out->state = cur->want_withdraw ? "withdrawn" : "pending";
    } else {
        out->published_revision = res->revision;
        out->set_published = true;
        out->state = cur->want_withdraw ? "withdraw_pending"
                     : still_wanted     ? "published" : "pending";
    }
}

static void next_failed(const struct row_now *cur, const struct lc_outcome *res,
                        bool still_wanted, struct row_next *out)
{
    bool pending = !strcmp(cur->state, "pending") || !strcmp(cur->state, "retry");
    out->attempts = cur->attempts + 1;
    if (cur->want_withdraw && !cur->published_revision)
        out->state = "cancelled";
    else if (res->kind == RES_TRANSIENT)
        out->state = !pending ? cur->state : cur->want_withdraw ? "withdraw_pending" : "retry";
    else if (res->op != OP_WITHDRAW && !still_wanted)
        /* Refused, but what was refused is no longer wanted: try the new one. */
        out->state = cur->want_withdraw ? "withdraw_pending" : "pending";
    else
        out->state = "rejected";
}

void lifecycle_next(const struct row_now *cur, const struct lc_outcome *res, struct row_next *out)
{
    bool still_wanted = !cur->want_withdraw && same(cur->want_revision, res->revision);

    memset(out, 0, sizeof *out);
    out->published_revision = cur->published_revision;
    out->receipt = res->receipt && *res->receipt ? res->receipt : cur->receipt;
    out->keep_expiry = true;
    out->counts_attempt = true;

    switch (res->kind) {
    case RES_OK:
        next_ok(cur, res, still_wanted, out);
        break;
    case RES_ADOPT:
        /* The platform holds this decision under another key: take its
         * receipt, then send our revision as an update. */
        out->clear_error = true;
        out->published_revision = "";
        out->set_published = true;
        out->state = cur->want_withdraw ? "withdraw_pending" : "pending";
        break;
    case RES_GONE:
        out->clear_error = true;
        out->published_revision = NULL;
        out->set_withdrawn = true;
        out->keep_expiry = false;
        out->state = cur->want_withdraw ? "withdrawn" : "pending";
        break;
    case RES_NOT_FOUND:
        out->published_revision = NULL;
        out->state = cur->want_withdraw ? "cancelled" : "pending";
        break;
    case RES_TRANSIENT:
    case RES_PERMANENT:
        next_failed(cur, res, still_wanted, out);
        break;
    case RES_CANCEL:
        out->counts_attempt = false;
        out->clear_error = true;
        out->published_revision = NULL;
        out->state = cur->want_withdraw ? "cancelled" : "pending";
        break;
    case RES_NOOP:
        out->counts_attempt = false;
        out->clear_error = true;
        out->state = cur->want_withdraw ? "withdraw_pending"
                     : same(cur->published_revision, cur->want_revision) ? "published" : "pending";
        break;
    case RES_RELEASE:
    default:   /* not an outcome: the row stays as it is */
        out->counts_attempt = false;
        out->attempts = cur->attempts;
        out->state = cur->state;
        break;
    }
}

/* ---- operators and the calendar ------------------------------------- */

enum lc_state lifecycle_requeue(enum lc_state s, bool want_withdraw)
{
    if (s != LC_REJECTED && s != LC_INVALID && s != LC_RETRY)
        return LC_STATE_COUNT;
    return want_withdraw ? LC_WITHDRAW_PENDING : LC_PENDING;
}

enum lc_state lifecycle_withdraw(enum lc_state s, bool published)
{
    if (s < 0 || s >= LC_STATE_COUNT || s == LC_WITHDRAWN || s == LC_WITHDRAW_PENDING
        || s == LC_CANCELLED || s == LC_EXCLUDED)
        return LC_STATE_COUNT;
    return published ? LC_WITHDRAW_PENDING : LC_CANCELLED;
}

enum lc_state lifecycle_expire(enum lc_state s)
{
    return s == LC_PUBLISHED ? LC_WITHDRAW_PENDING : LC_STATE_COUNT;
}

/* ---- the table ------------------------------------------------------ */

static const char *const event_names[EV_COUNT] = {
    [EV_NEW_REVISION] = "new revision", [EV_SAME_REVISION] = "same revision",
    [EV_REVOKE] = "revoke", [EV_CONFIDENTIAL] = "confidential", [EV_INVALID] = "invalid",
    [EV_NOT_ROUTED] = "kind not routed", [EV_OK] = "ok", [EV_TRANSIENT] = "transient",
    [EV_PERMANENT] = "permanent", [EV_ADOPT] = "adopt", [EV_GONE] = "gone",
    [EV_NOT_FOUND] = "not found", [EV_CANCEL] = "cancel", [EV_NOOP] = "noop",
    [EV_RELEASE] = "release", [EV_OPERATOR_RETRY] = "epsync retry",
    [EV_OPERATOR_WITHDRAW] = "epsync withdraw", [EV_EXPIRE] = "publicity ended",
};

const char *lc_event_name(enum lc_event ev)
{
    return ev >= 0 && ev < EV_COUNT ? event_names[ev] : "?";
}

#define T(f, e, t) { LC_##f, EV_##e, LC_##t }
/* Every change of state, by event (a row that does not change is not a
 * line).  What decides is what the row wants and what the platform holds,
 * so an outcome can meet a row the detector changed meanwhile (a publish
 * acknowledged after a revocation: withdraw_pending).  tests/unit/
 * test_lifecycle.c checks the functions above against it, both ways. */
const struct lc_transition lifecycle_table[] = {
    /* new revision */
    T(PUBLISHED, NEW_REVISION, PENDING), T(RETRY, NEW_REVISION, PENDING),
    T(REJECTED, NEW_REVISION, PENDING), T(INVALID, NEW_REVISION, PENDING),
    T(WITHDRAW_PENDING, NEW_REVISION, PENDING), T(WITHDRAWN, NEW_REVISION, PENDING),
    T(EXCLUDED, NEW_REVISION, PENDING), T(CANCELLED, NEW_REVISION, PENDING),
    T(NEW, NEW_REVISION, PENDING),
    /* same revision */
    T(RETRY, SAME_REVISION, PENDING), T(REJECTED, SAME_REVISION, PENDING),
    T(INVALID, SAME_REVISION, PENDING), T(WITHDRAW_PENDING, SAME_REVISION, PENDING),
    T(WITHDRAWN, SAME_REVISION, PENDING), T(EXCLUDED, SAME_REVISION, PENDING),
    T(CANCELLED, SAME_REVISION, PENDING), T(NEW, SAME_REVISION, PENDING),
    /* revoke */
    T(PENDING, REVOKE, WITHDRAW_PENDING), T(PENDING, REVOKE, CANCELLED),
    T(PUBLISHED, REVOKE, WITHDRAW_PENDING), T(RETRY, REVOKE, WITHDRAW_PENDING),
    T(RETRY, REVOKE, CANCELLED), T(REJECTED, REVOKE, WITHDRAW_PENDING),
    T(REJECTED, REVOKE, CANCELLED), T(INVALID, REVOKE, WITHDRAW_PENDING),
    T(INVALID, REVOKE, CANCELLED), T(EXCLUDED, REVOKE, WITHDRAW_PENDING),
    T(EXCLUDED, REVOKE, CANCELLED), T(NEW, REVOKE, CANCELLED),
    /* confidential */
    T(PENDING, CONFIDENTIAL, WITHDRAW_PENDING), T(PENDING, CONFIDENTIAL, EXCLUDED),
    T(PUBLISHED, CONFIDENTIAL, WITHDRAW_PENDING), T(RETRY, CONFIDENTIAL, WITHDRAW_PENDING),
    T(RETRY, CONFIDENTIAL, EXCLUDED), T(REJECTED, CONFIDENTIAL, WITHDRAW_PENDING),
    T(REJECTED, CONFIDENTIAL, EXCLUDED), T(INVALID, CONFIDENTIAL, WITHDRAW_PENDING),
    T(INVALID, CONFIDENTIAL, EXCLUDED), T(WITHDRAWN, CONFIDENTIAL, EXCLUDED),
    T(EXCLUDED, CONFIDENTIAL, WITHDRAW_PENDING), T(CANCELLED, CONFIDENTIAL, EXCLUDED),
    T(NEW, CONFIDENTIAL, EXCLUDED),
    /* invalid */
    T(PENDING, INVALID, INVALID), T(PUBLISHED, INVALID, INVALID), T(RETRY, INVALID, INVALID),
    T(REJECTED, INVALID, INVALID), T(WITHDRAW_PENDING, INVALID, INVALID),
    T(WITHDRAWN, INVALID, INVALID), T(EXCLUDED, INVALID, INVALID), T(CANCELLED, INVALID, INVALID),
    T(NEW, INVALID, INVALID),
    /* not routed */
    T(PENDING, NOT_ROUTED, EXCLUDED), T(PUBLISHED, NOT_ROUTED, EXCLUDED),
    T(RETRY, NOT_ROUTED, EXCLUDED), T(REJECTED, NOT_ROUTED, EXCLUDED),
    T(INVALID, NOT_ROUTED, EXCLUDED), T(WITHDRAW_PENDING, NOT_ROUTED, EXCLUDED),
    T(WITHDRAWN, NOT_ROUTED, EXCLUDED), T(CANCELLED, NOT_ROUTED, EXCLUDED),
    T(NEW, NOT_ROUTED, EXCLUDED),
    /* ok */
    T(PENDING, OK, PUBLISHED), T(PUBLISHED, OK, PENDING), T(RETRY, OK, PENDING),
    T(RETRY, OK, PUBLISHED), T(REJECTED, OK, PENDING), T(REJECTED, OK, PUBLISHED),
    T(REJECTED, OK, WITHDRAW_PENDING), T(REJECTED, OK, WITHDRAWN), T(INVALID, OK, PENDING),
    T(INVALID, OK, PUBLISHED), T(WITHDRAW_PENDING, OK, WITHDRAWN),
    T(WITHDRAWN, OK, WITHDRAW_PENDING), T(EXCLUDED, OK, PENDING), T(EXCLUDED, OK, PUBLISHED),
    T(CANCELLED, OK, WITHDRAW_PENDING), T(CANCELLED, OK, WITHDRAWN),
    /* transient */
    T(PENDING, TRANSIENT, RETRY), T(REJECTED, TRANSIENT, CANCELLED),
    T(WITHDRAWN, TRANSIENT, CANCELLED),
    /* permanent */
    T(PENDING, PERMANENT, REJECTED), T(PUBLISHED, PERMANENT, PENDING),
    T(PUBLISHED, PERMANENT, REJECTED), T(RETRY, PERMANENT, PENDING), T(RETRY, PERMANENT, REJECTED),
    T(REJECTED, PERMANENT, PENDING), T(REJECTED, PERMANENT, WITHDRAW_PENDING),
    T(REJECTED, PERMANENT, CANCELLED), T(INVALID, PERMANENT, PENDING),
    T(INVALID, PERMANENT, REJECTED), T(WITHDRAW_PENDING, PERMANENT, REJECTED),
    T(WITHDRAWN, PERMANENT, CANCELLED), T(EXCLUDED, PERMANENT, PENDING),
    T(EXCLUDED, PERMANENT, REJECTED),
    /* adopt */
    T(PUBLISHED, ADOPT, PENDING), T(RETRY, ADOPT, PENDING), T(REJECTED, ADOPT, PENDING),
    T(REJECTED, ADOPT, WITHDRAW_PENDING), T(INVALID, ADOPT, PENDING),
    T(WITHDRAWN, ADOPT, WITHDRAW_PENDING), T(EXCLUDED, ADOPT, PENDING),
    T(CANCELLED, ADOPT, WITHDRAW_PENDING),
    /* gone */
    T(PUBLISHED, GONE, PENDING), T(RETRY, GONE, PENDING), T(REJECTED, GONE, PENDING),
    T(REJECTED, GONE, WITHDRAWN), T(INVALID, GONE, PENDING), T(WITHDRAW_PENDING, GONE, WITHDRAWN),
    T(EXCLUDED, GONE, PENDING), T(CANCELLED, GONE, WITHDRAWN),
    /* not found */
    T(PUBLISHED, NOT_FOUND, PENDING), T(RETRY, NOT_FOUND, PENDING),
    T(REJECTED, NOT_FOUND, PENDING), T(REJECTED, NOT_FOUND, CANCELLED),
    T(INVALID, NOT_FOUND, PENDING), T(WITHDRAW_PENDING, NOT_FOUND, CANCELLED),
    T(WITHDRAWN, NOT_FOUND, CANCELLED), T(EXCLUDED, NOT_FOUND, PENDING),
    /* cancel */
    T(PUBLISHED, CANCEL, PENDING), T(RETRY, CANCEL, PENDING), T(REJECTED, CANCEL, PENDING),
    T(REJECTED, CANCEL, CANCELLED), T(INVALID, CANCEL, PENDING),
    T(WITHDRAW_PENDING, CANCEL, CANCELLED), T(WITHDRAWN, CANCEL, CANCELLED),
    T(EXCLUDED, CANCEL, PENDING),
    /* noop */
    T(PUBLISHED, NOOP, PENDING), T(RETRY, NOOP, PENDING), T(REJECTED, NOOP, PENDING),
    T(REJECTED, NOOP, WITHDRAW_PENDING), T(INVALID, NOOP, PENDING),
    T(WITHDRAWN, NOOP, WITHDRAW_PENDING), T(EXCLUDED, NOOP, PENDING),
    T(CANCELLED, NOOP, WITHDRAW_PENDING),
    /* operator retry */
    T(RETRY, OPERATOR_RETRY, PENDING), T(REJECTED, OPERATOR_RETRY, PENDING),
    T(REJECTED, OPERATOR_RETRY, WITHDRAW_PENDING), T(INVALID, OPERATOR_RETRY, PENDING),
    /* operator withdraw */
    T(PENDING, OPERATOR_WITHDRAW, WITHDRAW_PENDING), T(PENDING, OPERATOR_WITHDRAW, CANCELLED),
    T(PUBLISHED, OPERATOR_WITHDRAW, WITHDRAW_PENDING),
    T(RETRY, OPERATOR_WITHDRAW, WITHDRAW_PENDING), T(RETRY, OPERATOR_WITHDRAW, CANCELLED),
    T(REJECTED, OPERATOR_WITHDRAW, WITHDRAW_PENDING), T(REJECTED, OPERATOR_WITHDRAW, CANCELLED),
    T(INVALID, OPERATOR_WITHDRAW, WITHDRAW_PENDING), T(INVALID, OPERATOR_WITHDRAW, CANCELLED),
    /* expire */
    T(PUBLISHED, EXPIRE, WITHDRAW_PENDING),
};
#undef T

const size_t lifecycle_table_len = sizeof lifecycle_table / sizeof lifecycle_table[0];

bool lifecycle_allowed(enum lc_state from, enum lc_event ev, enum lc_state to)
{
    for (size_t i = 0; i < lifecycle_table_len; i++)
        if (lifecycle_table[i].from == from && lifecycle_table[i].event == ev
            && lifecycle_table[i].to == to)
            return true;
    return false;
}

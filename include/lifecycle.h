/* lifecycle.h - what becomes of a delivery, and why (pure: no I/O, no clock).
 *
 * A delivery is one (decision, target) row of epsync.deliveries.  It holds
 * what is wanted (a revision, or a withdrawal) and what the platform holds
 * (the published revision, the receipt); the engine converges one to the
 * other.  Every decision about a row is taken here:
 *
 *   lifecycle_want()   what the source says  -> the wanted row (detection)
 *   lifecycle_op()     a claimed row         -> the operation to send
 *   lifecycle_next()   a row and an outcome  -> the next row (recording)
 *   lifecycle_requeue(), lifecycle_withdraw(), lifecycle_expire()
 *                      an operator's or the calendar's word -> the next state
 *
 * lifecycle_table[] lists every transition these functions can make, one
 * line each, the README's state diagram in data; the unit test checks the
 * functions against it for every state and every event. */
#ifndef EPSYNC_LIFECYCLE_H
#define EPSYNC_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

#include "delivery.h"

/* The states of a delivery (the values of epsync.deliveries.state). */
enum lc_state {
    LC_PENDING, LC_PUBLISHED, LC_RETRY, LC_REJECTED, LC_INVALID, LC_WITHDRAW_PENDING,
    LC_WITHDRAWN, LC_EXCLUDED, LC_CANCELLED, LC_STATE_COUNT,
    LC_NEW = -1,              /* no row yet */
};
const char *lc_state_name(enum lc_state s);      /* "pending" ... ("new" for LC_NEW) */
enum lc_state lc_state_parse(const char *s);     /* LC_STATE_COUNT when unknown */
/* Is a row in state s still work for the queue (pending, retry,
 * withdraw_pending: the states a claim looks for)? */
bool lc_state_active(enum lc_state s);
/* The same states as an SQL list, for "state IN " LC_ACTIVE_SQL (the
 * queue's partial indexes name the same list in their predicates). */
#define LC_ACTIVE_SQL "('pending', 'retry', 'withdraw_pending')"

/* ---- detection ------------------------------------------------------ */

/* What the source says of a decision, as seen by one target. */
struct lc_source {
    bool revoked;             /* state revoked (else final) */
    bool routed;              /* the target takes this kind (an unknown kind counts as routed:
                                 it is invalid, not declined) */
    const char *exclude;      /* confidential | minor | warning_only, NULL: publishable */
    const char *invalid;      /* validation failures joined, NULL or "": valid */
    const char *revision;     /* of the masked field set */
};

/* The row as it stands (exists false: none yet). */
struct lc_have {
    bool exists;
    enum lc_state state;
    const char *published_revision;   /* NULL: the platform holds nothing */
    bool want_withdraw;
};

/* The wanted row. */
struct lc_want {
    enum lc_state state;
    bool want_withdraw;
    const char *withdraw_type;        /* REVOKED, NULL */
    const char *withdraw_reason;
    const char *reason;               /* why (excluded, invalid, withdrawal), NULL */
};

/* false: the row stays as it is. */
bool lifecycle_want(const struct lc_source *src, const struct lc_have *have, struct lc_want *out);

/* ---- claiming ------------------------------------------------------- */

/* A claimed row: what to do with it. */
struct lc_claimed {
    bool want_withdraw;
    const char *want_revision;
    const char *published_revision;   /* NULL: nothing published */
    bool has_receipt;
};

enum lc_settle { LC_SEND, LC_SETTLE_CANCEL, LC_SETTLE_NOOP };

/* The operation for a claimed row; *settle says whether it needs a request
 * at all (a withdrawal of what was never published is a cancel, a row
 * already converged a no-op). */
enum op lifecycle_op(const struct lc_claimed *c, enum lc_settle *settle);

/* ---- recording ------------------------------------------------------ */

/* What came of working on a claimed row. */
enum result_kind {
    RES_OK, RES_TRANSIENT, RES_PERMANENT, RES_ADOPT, RES_GONE, RES_NOT_FOUND,
    RES_CANCEL, RES_NOOP, RES_RELEASE,   /* release: abandoned, not an attempt */
    RES_KIND_COUNT,
};
const char *result_word(enum result_kind k);

/* The row as it is now (under lock). */
struct row_now {
    const char *state;
    const char *want_revision;
    bool want_withdraw;
    const char *published_revision;   /* NULL: none */
    const char *receipt;
    int attempts;
};

/* The outcome of one request (or settlement). */
struct lc_outcome {
    enum result_kind kind;
    enum op op;
    const char *revision;             /* revision sent */
    const char *receipt;              /* NULL or "": none given */
};

struct row_next {
    const char *state;
    const char *published_revision;   /* NULL: none */
    const char *receipt;
    int attempts;
    bool counts_attempt;
    bool set_published;       /* published_at = now, first_published_at if unset */
    bool set_withdrawn;
    bool clear_error;
    bool keep_expiry;         /* expires_on unchanged */
};

void lifecycle_next(const struct row_now *cur, const struct lc_outcome *res, struct row_next *out);

/* ---- operators and the calendar ------------------------------------- */

/* `epsync retry`: the state a requeued row takes (from rejected, invalid,
 * retry); LC_STATE_COUNT when the state is not requeued. */
enum lc_state lifecycle_requeue(enum lc_state s, bool want_withdraw);
/* `epsync withdraw`: the state a row takes; LC_STATE_COUNT when it has
 * nothing to do (withdrawn, being withdrawn, cancelled, excluded). */
enum lc_state lifecycle_withdraw(enum lc_state s, bool published);
/* The publicity period ended: published -> withdraw_pending, else nothing
 * (LC_STATE_COUNT). */
enum lc_state lifecycle_expire(enum lc_state s);

/* ---- the table ------------------------------------------------------ */

enum lc_event {
    EV_NEW_REVISION, EV_SAME_REVISION, EV_REVOKE, EV_CONFIDENTIAL, EV_INVALID, EV_NOT_ROUTED,
    EV_OK, EV_TRANSIENT, EV_PERMANENT, EV_ADOPT, EV_GONE, EV_NOT_FOUND, EV_CANCEL, EV_NOOP,
    EV_RELEASE, EV_OPERATOR_RETRY, EV_OPERATOR_WITHDRAW, EV_EXPIRE, EV_COUNT,
};
const char *lc_event_name(enum lc_event ev);

struct lc_transition {
    enum lc_state from;
    enum lc_event event;
    enum lc_state to;
};
extern const struct lc_transition lifecycle_table[];
extern const size_t lifecycle_table_len;
/* true when (from, event, to) is a line of the table. */
bool lifecycle_allowed(enum lc_state from, enum lc_event ev, enum lc_state to);

#endif

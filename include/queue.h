/* queue.h - the delivery queue: claims, leases, outcomes (epsync.deliveries).
 *
 * The engine claims rows of epsync.deliveries with FOR UPDATE SKIP LOCKED
 * and a lease (a new lease token per claim), deadline first, so several
 * processes share the work and a crashed one's rows come back when its
 * leases expire.  Outcomes are recorded in one
 * transaction per batch, with their audit events, after re-reading the
 * rows under lock: what the detector wanted in the meantime (a newer
 * revision, a withdrawal) decides the next state (lifecycle_next()).
 *
 * This is the only module that writes epsync.deliveries: claims, outcomes,
 * the detector's wanted rows and hand-over, expiry, operators' requeues
 * and withdrawals.  What each write decides comes from lifecycle.c. */
#ifndef EPSYNC_QUEUE_H
#define EPSYNC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "delivery.h"
#include "err.h"
#include "lifecycle.h"

/* A claimed row: the delivery to make, plus what the engine must know. */
struct claim {
    struct delivery *d;
    char old_state[24];
    bool no_request;          /* settle without a request (see kind below) */
    const char *settle;       /* "cancel" | "noop" when no_request */
    char first_published[11]; /* CST date of the first publication, "" when none */
};

int queue_claim(db *d, const char *owner, const char *target, int max, int64_t lease_ms,
                struct claim **out, size_t *n, struct err *e);
void queue_claims_free(struct claim *c, size_t n);   /* frees the deliveries too */

/* The result of working on one claimed delivery. */
struct result {
    char *decision_id;
    char *target;
    enum op op;
    char *revision;           /* revision sent */
    enum result_kind kind;
    char *receipt;            /* may be NULL */
    int64_t delay_ms;         /* transient: wait before the next attempt */
    int http_status;
    char *code;
    char *message;
    int latency_ms;
    char *body_sha256;
    char *request_id;
    int attempt;
    int64_t lease_token;      /* the lease the work was done under */
    char *expires_on;         /* publish/update ok: end of publicity, NULL none */
    char old_state[24];
    char new_state[24];       /* filled by queue_record() */
    bool lease_lost;          /* filled by queue_record(): not recorded, another
                                 process holds the row now */
};

void result_clear(struct result *r);

/* Record results (one transaction, with audit events).  A result is
 * recorded only while `owner` still holds the row's lease under the
 * result's lease_token; otherwise the row stays as the current holder
 * left it, the result is marked lease_lost and audited as "lease lost".
 * On failure nothing is recorded and the caller keeps the results to try
 * again. */
int queue_record(db *d, const char *owner, struct result *res, size_t n, struct err *e);

/* Release every lease this owner holds (shutdown). */
int queue_release(db *d, const char *owner, struct err *e);

/* Queue EXPIRED withdrawals whose publicity period ended before today. */
int queue_expire(db *d, const char *today, int *count, struct err *e);

/* Seconds until the earliest due delivery (0 when something is due,
 * -1 when nothing is waiting). */
int queue_next_due_ms(db *d, int64_t *ms, struct err *e);

/* ---- detection: what the source wants of each (decision, target) ---- */

/* Lock the deliveries of the decisions in the array literal ids (key byte
 * order, the order every writer locks in); rows (decision_id, target,
 * state, published_revision, want_withdraw). */
int queue_lock_known(db *d, const char *ids, PGresult **out, struct err *e);

/* For each target of the array literal targets, in its order: the first
 * row a claim would take now (due now, not leased); rows (target, due_on,
 * want_withdraw), NULLs when nothing waits. */
int queue_heads(db *d, const char *targets, PGresult **out, struct err *e);

/* Wanted rows of one page, written by one statement. */
enum { QW_ID, QW_TARGET, QW_STATE, QW_REV, QW_WW, QW_WT, QW_WR, QW_REASON, QW_OWNER, QW_DUE,
       QW_N };
struct queue_wanted {
    struct buf col[QW_N];
    size_t n;
};
/* owner: store the row leased to owner (handed straight to the sender). */
void queue_wanted_add(struct queue_wanted *w, const char *id, const char *target,
                      const struct lc_want *want, const char *revision, const char *due_on,
                      const char *owner);
/* Write them (the caller's transaction).  *leased (when not NULL): rows
 * (decision_id, target, lease_token) of what was stored leased. */
int queue_store_wanted(db *d, struct queue_wanted *w, int64_t lease_ms, PGresult **leased,
                       struct err *e);
void queue_wanted_free(struct queue_wanted *w);

/* A decision's revision recomputed (schema version 3: over the masked
 * field set): rows that wanted or held `old` now say `new`, and the
 * deadline is set.  Array literals, one element per decision. */
int queue_rebase(db *d, const char *ids, const char *olds, const char *news, const char *dues,
                 struct err *e);

/* ---- operators ------------------------------------------------------ */

/* `epsync retry`: requeue the deliveries of decision id (NULL: any) at
 * target (NULL: any) in one of the states (array literal); flags invalid
 * decisions for a re-read.  Rows (decision_id, target, old_state, new_state). */
int queue_requeue(db *d, const char *id, const char *target, const char *states,
                  PGresult **out, struct err *e);
/* `epsync withdraw`: rows (decision_id, target, old_state, new_state). */
int queue_withdraw(db *d, const char *id, const char *reason, PGresult **out, struct err *e);

/* Deliveries with something to do (the status line). */
int queue_backlog(db *d, long *n, struct err *e);

#endif

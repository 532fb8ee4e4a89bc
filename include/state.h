/* state.h - claiming due deliveries and recording their outcomes.
 *
 * The engine claims rows of epsync.deliveries with FOR UPDATE SKIP LOCKED
 * and a lease, so several processes share the work and a crashed one's
 * rows come back when its leases expire.  Outcomes are recorded in one
 * transaction per batch, with their audit events, after re-reading the
 * rows under lock: what the detector wanted in the meantime (a newer
 * revision, a withdrawal) decides the next state.  That decision is the
 * pure function state_next(). */
#ifndef EPSYNC_STATE_H
#define EPSYNC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "delivery.h"
#include "err.h"

/* A claimed row: the delivery to make, plus what the engine must know. */
struct claim {
    struct delivery *d;
    char old_state[24];
    bool no_request;          /* settle without a request (see kind below) */
    const char *settle;       /* "cancel" | "noop" when no_request */
    char first_published[11]; /* CST date of the first publication, "" when none */
};

int state_claim(db *d, const char *owner, const char *target, int max, int64_t lease_ms,
                struct claim **out, size_t *n, struct err *e);
void state_claims_free(struct claim *c, size_t n);   /* frees the deliveries too */

/* The result of working on one claimed delivery. */
enum result_kind {
    RES_OK, RES_TRANSIENT, RES_PERMANENT, RES_ADOPT, RES_GONE, RES_NOT_FOUND,
    RES_CANCEL, RES_NOOP, RES_RELEASE,   /* release: abandoned, not an attempt */
};

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
    char *expires_on;         /* publish/update ok: end of publicity, NULL none */
    char old_state[24];
    char new_state[24];       /* filled by state_record() */
};

void result_clear(struct result *r);

/* The row as it is now (under lock), and what becomes of it. */
struct row_now {
    const char *state;
    const char *want_revision;
    bool want_withdraw;
    const char *published_revision;   /* NULL: none */
    const char *receipt;
    int attempts;
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

void state_next(const struct row_now *cur, const struct result *res, struct row_next *out);

/* Record results (one transaction, with audit events).  On failure
 * nothing is recorded and the caller keeps the results to try again. */
int state_record(db *d, const char *owner, struct result *res, size_t n, struct err *e);

/* Release every lease this owner holds (shutdown). */
int state_release(db *d, const char *owner, struct err *e);

/* Queue EXPIRED withdrawals whose publicity period ended before today. */
int state_expire(db *d, const char *today, int *count, struct err *e);

/* Seconds until the earliest due delivery (0 when something is due,
 * -1 when nothing is waiting). */
int state_next_due_ms(db *d, int64_t *ms, struct err *e);

#endif

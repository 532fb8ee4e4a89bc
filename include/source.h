/* source.h - change detection over the source relation.
 *
 * Reads the relation in pages keyed by (updated_at, decision_id), from
 * the watermark minus the overlap window (or from the start on a
 * reconcile), interprets each row (row.h: validation, masking, the
 * revision of the masked fields), and hands the rows whose revision or
 * state changed to handover.h, which stores the decision and what is due
 * at each target — one state-database transaction per page, with its
 * audit events.  Only one process detects at a time: the caller holds the
 * detector lock (source_try_lock). */
#ifndef EPSYNC_SOURCE_H
#define EPSYNC_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "err.h"

typedef struct source source;

struct source_stats {
    long scanned;       /* rows read */
    long changed;       /* rows with a new revision or state */
    long invalid;       /* of which failed validation */
    long missing;       /* decisions found missing (reconcile) */
    bool reconciled;    /* a reconcile finished in this call */
};

/* A delivery handed straight to the sender (see struct source_handoff). */
struct handed_work {
    const char *target;
    const char *decision_id;
    int kind;                   /* enum kind, -1 unknown */
    const char *revision;
    const char *fields;         /* the stored field set as JSON text */
    const char *due_on;         /* deadline "YYYY-MM-DD" or "" */
    int64_t lease_token;        /* the lease the row was stored under */
    int64_t lease_until;        /* monotonic ms by which that lease has surely ended */
};

/* Fresh work handed straight to the sender: the pending deliveries of a
 * decision seen for the first time are stored already leased to `owner`
 * and, once committed, given to `take` — they need no claim.  Only work
 * at least as urgent as the earliest deadline waiting in the target's
 * queue in the database is handed over: the rest waits there, claimed in
 * deadline order.  `room` says at the start of a page how many more, and
 * how many bytes of fields, a target takes; only the receiving side makes
 * room, so it never shrinks before `take`.  take() copies what it keeps. */
struct source_handoff {
    const char *owner;
    int64_t lease_ms;
    void (*room)(void *ctx, const char *target, size_t *count, size_t *bytes);
    void (*take)(void *ctx, const struct handed_work *w, size_t n);   /* a page's, at once */
    void *ctx;
};

/* Connect to the source database (and LISTEN when configured). */
int source_open(source **out, const struct config *cfg, db *state, struct err *e);
void source_free(source *s);
/* Take a new configuration (same source database). */
void source_set_config(source *s, const struct config *cfg);
/* Hand fresh work over (NULL: never); h is copied. */
void source_set_handoff(source *s, const struct source_handoff *h);

/* Session advisory lock on the state database: true when this process is
 * the detector.  Released when the connection goes. */
bool source_try_lock(source *s, struct err *e);

/* Continue (or start) a pass: reconcile reads every row and flags the
 * decisions that vanished.  Reads a bounded number of pages per call:
 * returns 1 when the pass is not finished (call again soon), 0 when it
 * is, negative on error (the next call starts over from the watermark). */
int source_poll(source *s, bool reconcile, int64_t now_ms, struct source_stats *st,
                struct err *e);

/* LISTEN socket of the source connection, -1 when none. */
int source_fd(source *s);
/* Consume notifications; true when any arrived. */
bool source_notified(source *s);
/* Reconnect the source connection when it broke. */
int source_ensure(source *s, struct err *e);

#endif

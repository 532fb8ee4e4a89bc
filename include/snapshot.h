/* snapshot.h - the state database's health, per target, in a few queries.
 *
 * What monitoring and `epsync status` need to know about the deliveries:
 * how many are in each state, how long the oldest due one has waited,
 * and how many decisions not yet published are past their deadline or
 * within one working day of it; and how many daemons' heartbeats are
 * fresh or stale (older than three of their intervals).  Read with a handful of aggregate
 * statements (no row travels but per-group counts), so that the metrics
 * thread can take it every interval whatever the size of the queue.
 *
 * Deadlines: decided_on + the kind's working days (calendar.h); a
 * delivery owes its first publication while it is pending, retry,
 * rejected or invalid.  Missed: its deadline day is over (today, China
 * Standard Time, is later).  At risk: not missed, and the deadline is
 * today or the next working day. */
#ifndef EPSYNC_SNAPSHOT_H
#define EPSYNC_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "deadline.h"
#include "config.h"
#include "date.h"
#include "err.h"

#define SNAPSHOT_NSTATES 9
/* The delivery states, in the order of snap_target.count[]. */
extern const char *const snapshot_states[SNAPSHOT_NSTATES];

struct snap_target {
    char name[64];
    long count[SNAPSHOT_NSTATES];
    double oldest_due_s;         /* the oldest due delivery's wait, 0: none due */
    long missed, at_risk;
};

struct snapshot {
    struct snap_target *t;
    size_t n;
    long daemons_alive, daemons_dead;   /* heartbeat rows, fresh and stale */
};

/* Pure: where a decision decided on `decided` with `days` working days
 * stands today, warned warn_before working days ahead (deadline.h's rule). */
enum deadline_alert snapshot_deadline(const calendar *cal, date_t decided, int days,
                                      date_t today, int warn_before);

struct db;
/* Read the snapshot; names (may be NULL) are targets that appear even
 * without a row.  deadline_days per enum kind (config.deadline_days). */
int snapshot_read(struct db *d, const calendar *cal, const int deadline_days[KIND_COUNT],
                  int warn_before, date_t today, const char *const *names, size_t nnames,
                  struct snapshot *out, struct err *e);
/* The target's entry, added when absent. */
struct snap_target *snapshot_target(struct snapshot *s, const char *name);
void snapshot_free(struct snapshot *s);

#endif

/* detector.h - change detection in a thread of its own.
 *
 * The detector polls the source relation (source.c) on its own two
 * connections: the source database, and a state connection that holds
 * the detector lock and stores what changed.  Reading and storing a large
 * backlog therefore never stops the delivery loop, and the two keep two
 * database backends busy at once.  The thread shares nothing with the
 * loop but the read-only configuration and the counters behind this
 * interface; the loop learns that there is new work from the database
 * (NOTIFY epsync_wake, sent with every stored page) and from
 * detector_fd().
 *
 * A decision seen for the first time needs no claim: its pending
 * deliveries are stored leased to this process (`owner`) and handed to
 * the loop through a small queue per target (detector_take), in deadline
 * order, bounded in count and bytes; what does not fit, or is less urgent
 * than work already queued, is claimed later as usual.
 *
 * Used from the loop's thread only: every function here. */
#ifndef EPSYNC_DETECTOR_H
#define EPSYNC_DETECTOR_H

#include <stdbool.h>

#include "config.h"
#include "delivery.h"
#include "err.h"

typedef struct detector detector;

/* Connect (the state database named by state_conninfo and the source);
 * once: stop after one whole pass.  A connection that fails is retried by
 * the thread later; the error is returned so that `once` can give up. */
int detector_open(detector **out, const struct config *cfg, const char *state_conninfo,
                  const char *owner, bool once, struct err *e);
/* Start polling (after the daemon has said it started). */
int detector_start(detector *d, struct err *e);
/* Take a new configuration: waits for the current page, swaps, goes on. */
void detector_set_config(detector *d, const struct config *cfg);
/* Ask the thread to stop after its current page, without waiting. */
void detector_stop_soon(detector *d);
/* Stop (within the current page) and free. */
void detector_close(detector *d);

/* Readable when detector_news() has something to say. */
int detector_fd(const detector *d);
/* Decisions stored since the last call (0: none). */
long detector_news(detector *d);
/* once: true when the pass is over (finished, or impossible). */
bool detector_done(const detector *d);

/* Up to max deliveries handed over for target (op publish, attempt 1),
 * the earliest deadline first, into out[]; the caller owns them.  Those
 * whose lease has surely ended are dropped here (claimed again from the
 * queue); the sender releases those with too little lease left. */
size_t detector_take(detector *d, const char *target, size_t max, struct delivery **out);
/* How many handed-over deliveries wait for target. */
size_t detector_waiting(detector *d, const char *target);

#endif

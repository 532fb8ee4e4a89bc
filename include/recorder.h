/* recorder.h - outcomes recorded by a thread of its own.
 *
 * The loop hands each batch of results over and goes on sending; the
 * recorder writes them (queue_record(): the rows' next state and the
 * audit events, one durable commit) on its own state connection, then
 * logs them.  The rows stay leased to this process until their outcome
 * is committed, so nothing acts on an outcome before it is recorded.
 * While the database is away the recorder keeps the results and retries
 * with backoff; the loop stops sending when too many wait
 * (recorder_pending).
 *
 * Used from the loop's thread only: every function here. */
#ifndef EPSYNC_RECORDER_H
#define EPSYNC_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "queue.h"

typedef struct recorder recorder;

/* Connect and start the thread (a failed connection is retried by it). */
int recorder_open(recorder **out, const char *state_conninfo, const char *owner,
                  struct err *e);
/* Hand n results over (res is taken, with everything it points to). */
void recorder_put(recorder *r, struct result *res, size_t n);
/* Results handed over and not yet recorded. */
size_t recorder_pending(recorder *r);
/* Readable when results were recorded since the last recorder_news(). */
int recorder_fd(const recorder *r);
/* How many of the results recorded since the last call left their row
 * still to be worked on (pending, retry, withdraw_pending: a release, a
 * retry, the next operation of a pair).  0: the queue gained nothing
 * claimable from them. */
size_t recorder_news(recorder *r);
/* Wait up to wait_ms for what is pending, stop, free; returns how many
 * results could not be recorded. */
size_t recorder_close(recorder *r, int64_t wait_ms);

/* The log line of one recorded outcome. */
void recorder_log_result(const struct result *res);

#endif

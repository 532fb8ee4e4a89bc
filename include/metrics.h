/* metrics.h - the process's counters and gauges, as Prometheus text.
 *
 * One registry per process, like the logger: the delivery loop, the
 * detector, the recorder and the audit writer count into it with one call
 * each, from whatever thread they run on, and the metrics endpoint's
 * thread renders it.  Every update takes one mutex for a few instructions;
 * nothing here does I/O, so neither side can hold the other up.
 *
 * Two kinds of values:
 *   - counters of this process (attempts, request durations, token
 *     renewals, detections, audit events): several daemons on one state
 *     database each count their own, and Prometheus sums them;
 *   - the snapshot of the state database (deliveries per state, the
 *     backlog's age, deadlines missed and at risk), read every
 *     `metrics.interval` by monitor.c: the same in every process.
 *
 * A target's pause (breaker open, credentials refused) is kept here too:
 * the metric shows it and the heartbeat row carries it to `epsync status`.
 */
#ifndef EPSYNC_METRICS_H
#define EPSYNC_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "snapshot.h"

/* Why a target is paused; both may hold at once. */
enum metrics_pause { METRICS_PAUSE_BREAKER = 1, METRICS_PAUSE_CREDENTIALS = 2 };

/* Process start (process_start_time_seconds) and epsync_build_info. */
void metrics_init(const char *version, int64_t start_wall_ms);
/* Forget every value (tests). */
void metrics_reset(void);

/* Per-process counters.  op and result are enum op and enum result_kind
 * (delivery.h, state.h); kinds that are not attempts are ignored. */
void metrics_count_attempt(const char *target, int op, int result);
void metrics_observe_request(const char *target, double seconds);
void metrics_count_token_renewal(const char *target);
void metrics_count_detected(long n);
void metrics_count_audit_events(long n);
/* A change stored whose source row says updated_at (UTC text as the
 * detector reads it: "2026-12-01T08:00:00.123456Z"): the detection lag. */
void metrics_detect_stored(const char *updated_at);
void metrics_set_detect_lag(double seconds);
/* The newest audit anchor (unix seconds); exposed once set. */
void metrics_set_last_anchor(int64_t unix_s);

/* Pauses: why is the breaker's last failure or the platform's refusal. */
void metrics_set_paused(const char *target, enum metrics_pause what, const char *why);
void metrics_set_resumed(const char *target, enum metrics_pause what);
/* Every target's pause as a JSON object for the heartbeat row:
 * {"city": {"paused": true, "reason": "...", "since": 1764633600}, ...}. */
void metrics_pauses_json(struct buf *out);

/* The state database's snapshot, taken at wall time taken_ms. */
void metrics_set_snapshot(const struct snapshot *s, int64_t taken_ms);

/* The whole registry in the text exposition format 0.0.4. */
void metrics_render(struct buf *out);

#endif

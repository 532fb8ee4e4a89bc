/* ops.h - the operator commands show, retry, withdraw.
 *
 * Each is one short transaction against the state database.  retry and
 * withdraw write one audit event per delivery they change, in the same
 * transaction, with the OS user as actor, and then NOTIFY epsync_wake so
 * running daemons pick the work up at once instead of at their next poll.
 *
 * All return a process exit code: 0 ok, 1 failure, 64 usage (including an
 * unknown decision id), 69 state database or schema unavailable.
 */
#ifndef EPSYNC_OPS_H
#define EPSYNC_OPS_H

#include "config.h"

/* The channel daemons LISTEN on for operator actions. */
#define OPS_WAKE_CHANNEL "epsync_wake"

/* epsync show ID: masked source fields, state at each target, every
 * attempt and every audit event.  argv[0] = "show". */
int ops_show(const struct config *cfg, int argc, char **argv);

/* epsync retry [ID] [--target T] [--state rejected|invalid|failed]: at
 * least one selector; "failed" is the state `retry`.  Without --state the
 * rejected, invalid and failed deliveries are requeued.  argv[0] = "retry". */
int ops_retry(const struct config *cfg, int argc, char **argv);

/* epsync withdraw ID --reason TEXT: withdraw (type OPERATOR) wherever the
 * decision is published, cancel it where it is not yet.  argv[0] = "withdraw". */
int ops_withdraw(const struct config *cfg, int argc, char **argv);

#endif

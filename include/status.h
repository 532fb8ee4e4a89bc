/* status.h - `epsync status`: the state database at a glance.
 *
 * Per target: deliveries by state, paused or not and why (as the running
 * daemons report it in their heartbeat rows), the oldest due delivery,
 * the last success, the last outstanding failure with the platform's
 * words, deadlines missed and at risk; then the daemons on this state
 * database (owner, version, start, last heartbeat, alive or dead).  The
 * things that need a person come last.
 *
 * Returns the exit code: 0 all is well, 1 something needs a person (a
 * target paused, a deadline missed, rejected or invalid deliveries, a
 * backlog older than an hour, a dead daemon or none running),
 * 69 state database or schema unavailable.  argv[0] = "status"; it takes
 * no arguments (main.c's command table checks that, and --help). */
#ifndef EPSYNC_STATUS_H
#define EPSYNC_STATUS_H

#include "config.h"

int status_main(const struct config *cfg, int argc, char **argv);

#endif

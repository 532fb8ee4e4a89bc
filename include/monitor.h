/* monitor.h - the daemon's heartbeat and its metrics, in a thread of its own.
 *
 * Every `metrics.interval` (15 s by default) the thread, on a state
 * connection of its own, upserts this process's row of epsync.daemons
 * (owner, host, pid, version, start, heartbeat, and each target's pause
 * with its reason as JSON) so that `epsync status` can list the daemons
 * and tell a dead one by its stale heartbeat; and, when `metrics.listen`
 * is set, reads the state database's snapshot (snapshot.h) into the
 * metrics registry and serves it (metrics_http.h).  The delivery loop
 * neither waits for nor shares anything with it but the registry.
 *
 * One monitor per process; the configuration's values are copied at
 * start (a reload does not move the endpoint: restart for that). */
#ifndef EPSYNC_MONITOR_H
#define EPSYNC_MONITOR_H

#include "config.h"

/* Start the thread and the endpoint; logs why not and returns the exit
 * code (0: started). */
int monitor_start(const struct config *cfg, const char *state_conninfo, const char *owner);
/* Stop, remove the heartbeat row (a clean exit is not a dead daemon). */
void monitor_stop(void);

#endif

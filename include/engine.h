/* engine.h - the daemon: one event loop over libcurl multi.
 *
 * Each turn of the loop: handle signals (stop, reload), take the work the
 * change detector handed over or claim due deliveries per target (within
 * max_in_flight, rate and the circuit breaker), let the target's adapter
 * turn them into requests, wait for answers, database wake-ups or timers,
 * classify the answers and hand them to the recorder — the state change
 * committed before anything else acts on it (the rows stay leased until
 * then).  Change detection (detector.h) and recording (recorder.h) run in
 * threads of their own. */
#ifndef EPSYNC_ENGINE_H
#define EPSYNC_ENGINE_H

#include <stdbool.h>

#include "config.h"

/* Run until SIGTERM/SIGINT (once = false) or for one full cycle
 * (once = true).  Takes ownership of cfg (reloads replace it).
 * Returns the process exit code. */
int engine_main(struct config *cfg, const char *config_path, bool once);

#endif

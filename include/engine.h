/* engine.h - the daemon: one event loop over libcurl multi (SPEC §5).
 *
 * Each turn of the loop: handle signals (stop, reload), run change
 * detection when this process holds the detector lock and a poll is due,
 * claim due deliveries per target (within max_in_flight, rate and the
 * circuit breaker), let the target's adapter turn them into requests,
 * wait for answers, database wake-ups or timers, classify the answers and
 * record them — the state change committed before anything else acts on
 * it. */
#ifndef EPSYNC_ENGINE_H
#define EPSYNC_ENGINE_H

#include <stdbool.h>

#include "config.h"

/* Run until SIGTERM/SIGINT (once = false) or for one full cycle
 * (once = true).  Takes ownership of cfg (reloads replace it).
 * Returns the process exit code. */
int engine_main(struct config *cfg, const char *config_path, bool once);

#endif

/* clock.h - the two clocks the daemon reads, in milliseconds.
 *
 * Monotonic time for timers, leases in memory and latencies; wall time
 * for what is written down (dates, the province gateway's timestamps).
 * The pure modules take times as arguments and never call these. */
#ifndef EPSYNC_CLOCK_H
#define EPSYNC_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);

#endif

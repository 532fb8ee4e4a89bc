/* clock.h - the two clocks the daemon reads, in milliseconds.
 *
 * Monotonic time for timers, leases in memory and latencies; wall time
 * for what is written down (dates, the province gateway's timestamps).
 * The pure modules take times as arguments and never call these. */
#ifndef EPSYNC_CLOCK_H
#define EPSYNC_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_wall_ms(void);
/* The wall clock now as UTC text "YYYY-MM-DD<sep>HH:MM:SS.<digits
 * fraction digits>" (digits 1..9) in out; the length written.  The one UTC
 * timestamp formatter: log lines (sep 'T', 3) and audit rows (' ', 6). */
size_t clock_utc_text(char *out, size_t n, char sep, int digits);

#endif

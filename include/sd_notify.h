/* sd_notify.h - the sd_notify(3) protocol, without libsystemd.
 *
 * systemd hands a Type=notify service the address of a datagram socket in
 * $NOTIFY_SOCKET: a filesystem path ("/run/systemd/notify") or, when it
 * starts with '@', a name in the abstract namespace.  The service sends
 * newline-separated VAR=value assignments to it, one datagram per message:
 *
 *   READY=1                         startup finished (database reachable,
 *                                   schema current)
 *   STATUS=waiting for the state database (...)   before READY=1
 *   STATUS=backlog=3 published_today=41 in_flight=0 paused=none
 *   WATCHDOG=1                      still alive, every WATCHDOG_USEC / 2
 *   RELOADING=1\nMONOTONIC_USEC=…   SIGHUP received, re-reading the config
 *   STOPPING=1                      shutdown begun
 *
 * Outside systemd ($NOTIFY_SOCKET unset) every call is a successful no-op,
 * so the daemon calls these unconditionally.  Functions return 0 or a
 * negative errno; a failed notification is worth a log line, never an exit.
 *
 * The module keeps one socket in static storage: the daemon has exactly
 * one service manager to talk to.  It is not thread-safe; call it from the
 * event loop only.
 */
#ifndef EPSYNC_SD_NOTIFY_H
#define EPSYNC_SD_NOTIFY_H

#include <stdint.h>

/* Read $NOTIFY_SOCKET and open the socket.  0 when unset (notifications
 * are then no-ops); -EINVAL for an address that is neither absolute nor
 * abstract, -ENAMETOOLONG for one that does not fit sockaddr_un.  Calling
 * it again while open is a no-op. */
int notify_open(void);

/* Send one message (newline-separated assignments) as one datagram.
 * Opens the socket on first use when notify_open() was not called.
 * 0 when sent or when there is no service manager; -errno otherwise
 * (e.g. -ECONNREFUSED, -ENOENT when nobody listens at the address). */
int notify_send(const char *state);

int notify_ready(void);                        /* "READY=1" */
/* "STATUS=line"; line breaks in line become spaces, so a status can never
 * smuggle in another assignment. */
int notify_status(const char *line);
/* "STATUS=waiting for WHAT (WHY)" with the first line of why, cut to 160
 * bytes: what start-up waits for, before READY=1. */
int notify_waiting(const char *what, const char *why);
int notify_watchdog(void);                     /* "WATCHDOG=1" */
/* "RELOADING=1\nMONOTONIC_USEC=N".  N is monotonic_usec, the
 * CLOCK_MONOTONIC time of the reload request; <= 0 reads the clock now. */
int notify_reloading(int64_t monotonic_usec);
int notify_stopping(void);                     /* "STOPPING=1" */

/* The watchdog interval in microseconds from $WATCHDOG_USEC, or 0 when the
 * watchdog is off: unset, malformed, zero, or $WATCHDOG_PID is set and
 * names another process (the variable was inherited, not meant for us).
 * Ping with notify_watchdog() every half interval. */
int64_t notify_watchdog_usec(void);

/* Close the socket; safe to call when not open. */
void notify_close(void);

#endif

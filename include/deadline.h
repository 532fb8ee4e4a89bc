/* deadline.h - saying it before it is late.
 *
 * Every minute the daemon looks at what must still be published: a
 * (decision, target) not yet published whose deadline is within
 * `deadlines.warn_before` working days gets one warning line
 *   deadline at risk decision=... target=... due_on=...
 * and one whose deadline has passed one error line
 *   deadline missed decision=... target=... due_on=...
 * Each line is written once: epsync.deadline_alerts remembers it, so a
 * restart or a second daemon does not repeat it.  The counts of what is
 * at risk and missed now go into the summary line and the systemd status.
 */
#ifndef EPSYNC_DEADLINE_H
#define EPSYNC_DEADLINE_H

#include <stdint.h>

#include "calendar.h"
#include "config.h"
#include "db.h"
#include "err.h"

enum deadline_alert { DEADLINE_OK, DEADLINE_AT_RISK, DEADLINE_MISSED };

/* Pure: what an unpublished pair due on `due` is on `today`.  At risk
 * from warn_before working days before the due day up to the due day
 * itself (warn_before 0: on the due day only); missed the day after. */
enum deadline_alert deadline_classify(const calendar *cal, date_t due, date_t today,
                                      int warn_before);
const char *deadline_alert_key(enum deadline_alert a);   /* "at_risk", "missed" */

typedef struct deadline_watch deadline_watch;

/* The daemon's one call, from its status timer: at most once a minute it
 * reads the unpublished pairs, logs what is newly at risk or missed and
 * updates the counts; *at_risk and *missed are the latest counts (-1
 * before the first check).  *w is created on first use (the calendar of
 * cfg is loaded then) and freed with deadline_watch_free(). */
void deadline_watch_tick(deadline_watch **w, db *d, const struct config *cfg, int64_t now_ms,
                         long *at_risk, long *missed);
void deadline_watch_free(deadline_watch *w);

#endif

/* srcplan.h - says at start-up when the source cannot be read in order.
 *
 * A poll reads the source relation in (updated_at, decision_id) order.
 * When no index can give that order, every poll makes the server join
 * (for a view) and sort the whole relation; epsync still works, but each
 * poll costs the case database that much.  srcplan_check() asks the
 * planner (EXPLAIN of the poll's query with sorting made a last resort):
 * when the plan still sorts, it logs one warning with the CREATE INDEX
 * that would serve the order, on the table behind the view when the
 * order's keys come from one table, and the time one poll took. */
#ifndef EPSYNC_SRCPLAN_H
#define EPSYNC_SRCPLAN_H

#include "db.h"

/* keys_sql: the poll's query of keys ($1 updated_at, $2 decision_id);
 * relation: as configured, for the log.  Errors are logged, not returned:
 * the check only advises. */
void srcplan_check(db *src, const char *keys_sql, const char *relation);

/* The index that would serve a plan's Sort node (EXPLAIN (VERBOSE,
 * FORMAT JSON) text), NULL when the plan does not sort; relation (quoted)
 * names the fallback.  Caller frees. */
char *srcplan_advice(const char *explain_json, const char *relation);

#endif

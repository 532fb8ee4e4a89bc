/* srcread.h - one long read of the source through a server-side cursor.
 *
 * A poll that must read more than a page or two (a first start, a bulk
 * load, the reconcile) reads the relation through one cursor, so the
 * view is planned, joined and sorted once instead of once per keyset
 * page.  The cursor lives in a read-only REPEATABLE READ transaction on
 * the source connection (every read in it sees one snapshot); nothing is
 * held across transactions, so a pooler in transaction mode is fine.
 * The transaction holds back vacuum (and HOT pruning) in its database:
 * the caller closes it when srcread_due() says so and reopens the cursor
 * from the last key it read.  Reopening costs what opening cost (a view
 * without an index on the order is joined and sorted again), so the
 * transaction is kept for ten times that, at least SRCREAD_MIN_MS and at
 * most SRCREAD_HOLD_MS: a source served by an index is read in short
 * transactions, one that must be sorted in transactions that spend at
 * most a tenth of their time sorting again. */
#ifndef EPSYNC_SRCREAD_H
#define EPSYNC_SRCREAD_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "db.h"
#include "err.h"

/* The longest a source transaction stays open. */
#define SRCREAD_HOLD_MS 30000
#define SRCREAD_MIN_MS 2000
#define SRCREAD_COST_FACTOR 10

typedef struct srcread srcread;

/* BEGIN a read-only REPEATABLE READ transaction on src and DECLARE a
 * cursor for the SELECT select_sql with its parameters. */
int srcread_open(srcread **out, db *src, const char *select_sql, int nparams,
                 const char *const *params, struct err *e);
/* The next n rows (fewer at the end); caller PQclear()s *res. */
int srcread_fetch(srcread *r, int n, PGresult **res, struct err *e);
/* The transaction has been open long enough: close and reopen. */
bool srcread_due(const srcread *r);
/* End the transaction (NULL: nothing); says how long it was held. */
void srcread_close(srcread *r);

#endif

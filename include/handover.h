/* handover.h - what detection found, handed to the queue.
 *
 * For one page of changed source rows: store the decisions (masked), ask
 * the lifecycle what each (decision, target) now wants, write that through
 * the queue (queue.c, the one writer of epsync.deliveries) with the audit
 * events, in one transaction; then give the sender the fresh work stored
 * leased to it (struct source_handoff).  Also the one-time rebase of
 * revisions stored by schema version 2. */
#ifndef EPSYNC_HANDOVER_H
#define EPSYNC_HANDOVER_H

#include "calendar.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "row.h"
#include "source.h"

struct handover_ctx {
    const struct config *cfg;
    db *state;
    const struct source_handoff *handoff;   /* take == NULL: nothing is handed over */
    const calendar *cal;
};

/* Store the n changed rows of a page (the state database's transaction is
 * the function's own). */
int handover_store(const struct handover_ctx *c, struct row **chg, int n, struct err *e);

/* Rebase up to a batch of decisions stored with a revision of the
 * unmasked fields; how many (0: none left). */
int handover_rebase(const struct handover_ctx *c, struct err *e);

#endif

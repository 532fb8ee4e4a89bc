/* migrate.h - create or upgrade the state schema (`epsync migrate`).
 *
 * Migrations are the numbered files in sql/, embedded at build
 * time.  They are applied in one transaction under an advisory lock, so
 * two concurrent `migrate` runs and a crash half-way are both harmless. */
#ifndef EPSYNC_MIGRATE_H
#define EPSYNC_MIGRATE_H

#include "db.h"
#include "err.h"

/* Bring the schema to DB_SCHEMA_VERSION; from and to report the versions.
 * Refuses (-EPROTO) a schema newer than this binary. */
int migrate_run(db *d, int *from, int *to, struct err *e);

#endif

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

/* Apply the role grants (sql/004_roles.sql, again after every migration)
 * and check them; what is missing is written to out, one line each, with
 * the statement that fixes it.  Returns the number of missing things (0:
 * complete), negative on database error.  Notes that need no action (no
 * login role is a member of a group role yet) go to out too. */
#include <stdio.h>
int migrate_grants(db *d, FILE *out, struct err *e);

#endif

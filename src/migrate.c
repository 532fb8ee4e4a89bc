/* migrate.c - see migrate.h. */
#include "migrate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* Generated from the sql directory by tools/embed.py, sorted by file name. */
extern const struct { const char *name; const char *text; } epsync_migrations[];

/* Any constant: all epsync processes agree on it. */
#define MIGRATE_LOCK_KEY "7245310001"

static int apply(db *d, int version, const char *name, const char *text, struct err *e)
{
    char vbuf[16];
    const char *params[1] = { vbuf };
    PGresult *r = PQexec(db_conn(d), text);   /* static DDL from the binary, no parameters */

    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        err_set(e, -EIO, "migration %s: %s", name, PQresultErrorMessage(r));
        PQclear(r);
        return -EIO;
    }
    PQclear(r);
    snprintf(vbuf, sizeof vbuf, "%d", version);
    return db_exec(d, "record schema version",
                   "INSERT INTO epsync.schema_version (version) VALUES ($1::integer)",
                   1, params, NULL, e);
}

int migrate_run(db *d, int *from, int *to, struct err *e)
{
    int rc, v = 0;
    const char *lock[1] = { MIGRATE_LOCK_KEY };

    if ((rc = db_begin(d, e)) < 0)
        return rc;
    if ((rc = db_exec(d, "take the migration lock", "SELECT pg_advisory_xact_lock($1::bigint)",
                      1, lock, NULL, e)) < 0)
        goto fail;
    if ((rc = db_schema_version(d, &v, e)) < 0)
        goto fail;
    *from = v;
    if (v > DB_SCHEMA_VERSION) {
        rc = err_set(e, -EPROTO,
                     "the state schema is at version %d, newer than this epsync (%d)", v,
                     DB_SCHEMA_VERSION);
        goto fail;
    }
    for (int i = 0; epsync_migrations[i].name; i++) {
        int n = atoi(epsync_migrations[i].name);
        if (n <= v || n > DB_SCHEMA_VERSION)
            continue;
        if ((rc = apply(d, n, epsync_migrations[i].name, epsync_migrations[i].text, e)) < 0)
            goto fail;
        v = n;
    }
    if ((rc = db_commit(d, e)) < 0)
        return rc;
    *to = v;
    return 0;
fail:
    db_rollback(d);
    return rc;
}

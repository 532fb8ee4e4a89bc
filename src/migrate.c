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

/* Which login roles are members of a group role (none: a note). */
static const char *SQL_MEMBERS =
    "SELECT g.rolname, string_agg(m.rolname, ', ' ORDER BY m.rolname) FILTER (WHERE m.rolcanlogin) "
    "FROM pg_roles g LEFT JOIN pg_auth_members a ON a.roleid = g.oid "
    "LEFT JOIN pg_roles m ON m.oid = a.member "
    "WHERE g.rolname IN ('epsync_daemon', 'epsync_report') GROUP BY g.rolname ORDER BY 1";
/* The daemon's role must not be able to rewrite the audit log. */
static const char *SQL_AUDIT_SAFE =
    "SELECT has_table_privilege('epsync_daemon', 'epsync.audit', 'INSERT') "
    "  AND NOT has_table_privilege('epsync_daemon', 'epsync.audit', 'UPDATE') "
    "  AND NOT has_table_privilege('epsync_daemon', 'epsync.audit', 'DELETE') "
    "  AND NOT has_table_privilege('epsync_daemon', 'epsync.audit', 'TRUNCATE') "
    "  AND NOT pg_has_role('epsync_daemon', c.relowner, 'USAGE') "
    "FROM pg_class c WHERE c.oid = 'epsync.audit'::regclass "
    "  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'epsync_daemon')";

int migrate_grants(db *d, FILE *out, struct err *e)
{
    PGresult *r = NULL;
    int rc, missing = 0;

    if ((rc = db_exec(d, "apply the role grants", "SELECT * FROM epsync.grant_roles()", 0, NULL,
                      &r, e)) < 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++, missing++)
        fprintf(out, "missing: %s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    if ((rc = db_exec(d, "check the role grants", SQL_AUDIT_SAFE, 0, NULL, &r, e)) < 0)
        return rc;
    if (PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] != 't') {
        fprintf(out, "missing: epsync_daemon may rewrite epsync.audit (it owns it or holds "
                     "UPDATE, DELETE or TRUNCATE): ALTER TABLE epsync.audit OWNER TO the owner "
                     "role, and run `epsync migrate` as that role\n");
        missing++;
    }
    PQclear(r);
    if ((rc = db_exec(d, "list the role members", SQL_MEMBERS, 0, NULL, &r, e)) < 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++)
        if (PQgetisnull(r, i, 1))
            fprintf(out, "note: no login role is a member of %s yet: GRANT %s TO <login role>;\n",
                    PQgetvalue(r, i, 0), PQgetvalue(r, i, 0));
    PQclear(r);
    return missing;
}

int migrate_run(db *d, int *from, int *to, struct err *e)
{
    int rc, v = 0;
    const char *lock[1] = { MIGRATE_LOCK_KEY };

    if ((rc = db_begin(d, e)) < 0)
        return rc;
    /* A migration may rebuild a large table: no statement_timeout (db.c)
     * for it; the DDL itself is sent without the client-side wait. */
    if ((rc = db_exec(d, "take the migration lock", "SELECT pg_advisory_xact_lock($1::bigint)",
                      1, lock, NULL, e)) < 0
        || (rc = db_exec(d, "lift the statement timeout", "SET LOCAL statement_timeout = 0", 0,
                         NULL, NULL, e)) < 0)
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

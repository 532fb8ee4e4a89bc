/* db.c - see db.h.
 *
 * libpq is used synchronously: the daemon's database work is short,
 * batched statements between HTTP rounds, and a blocking call keeps the
 * code readable.  A connection that breaks (server restart, failover) is
 * detected on the failed statement and reopened by db_ensure(); callers
 * treat the failure like any other transient one and back off. */
#include "db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#include <json-c/json.h>

struct db {
    PGconn *conn;
    char *conninfo;
    char *what;           /* "state database", "source database" */
    bool broken;
};

/* Stable text output for dates, numbers and times, whatever the server's
 * or the role's defaults are. */
static const char *SQL_SESSION =
    "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET extra_float_digits = 3; "
    "SET IntervalStyle = 'iso_8601'; SET client_encoding = 'UTF8'";

static void notice_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;   /* NOTICEs (e.g. "schema already exists") are not operator news */
}

static int connect_now(db *d, struct err *e)
{
    PGresult *r;

    if (d->conn)
        PQfinish(d->conn);
    d->conn = PQconnectdb(d->conninfo);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(d->conn));
        msg[strcspn(msg, "\n")] = '\0';
        d->broken = true;
        return err_set(e, -EIO, "cannot connect to the %s: %s", d->what, msg);
    }
    PQsetNoticeProcessor(d->conn, notice_quiet, NULL);
    r = PQexec(d->conn, SQL_SESSION);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        err_set(e, -EIO, "%s: session settings: %s", d->what, PQresultErrorMessage(r));
        PQclear(r);
        d->broken = true;
        return e ? e->code : -EIO;
    }
    PQclear(r);
    d->broken = false;
    return 0;
}

int db_open(db **out, const char *conninfo, const char *what, struct err *e)
{
    db *d = xcalloc(1, sizeof *d);
    d->conninfo = xstrdup(conninfo ? conninfo : "");
    d->what = xstrdup(what);
    *out = d;
    return connect_now(d, e);
}

void db_close(db *d)
{
    if (!d)
        return;
    if (d->conn)
        PQfinish(d->conn);
    free(d->conninfo);
    free(d->what);
    free(d);
}

PGconn *db_conn(db *d) { return d->conn; }
bool db_broken(const db *d) { return d->broken || !d->conn || PQstatus(d->conn) != CONNECTION_OK; }

int db_ensure(db *d, struct err *e)
{
    if (!db_broken(d))
        return 0;
    return connect_now(d, e);
}

static int fail(db *d, const char *what, PGresult *r, struct err *e)
{
    char msg[400];
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(d->conn);
    snprintf(msg, sizeof msg, "%s", m && *m ? m : "no answer");
    msg[strcspn(msg, "\n")] = '\0';
    if (PQstatus(d->conn) != CONNECTION_OK)
        d->broken = true;
    return err_set(e, -EIO, "%s: %s", what, msg);
}

int db_exec(db *d, const char *what, const char *sql, int nparams,
            const char *const *params, PGresult **res, struct err *e)
{
    PGresult *r;
    ExecStatusType st;

    if (res)
        *res = NULL;
    if (db_broken(d))
        return err_set(e, -EIO, "%s: the %s connection is down", what, d->what);
    r = PQexecParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = fail(d, what, r, e);
        PQclear(r);
        return rc;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return 0;
}

int db_begin(db *d, struct err *e)
{
    return db_exec(d, "begin transaction", "BEGIN", 0, NULL, NULL, e);
}

int db_begin_lazy(db *d, struct err *e)
{
    int rc = db_begin(d, e);
    if (rc == 0 && (rc = db_exec(d, "begin transaction", "SET LOCAL synchronous_commit TO off",
                                 0, NULL, NULL, e)) < 0)
        db_rollback(d);
    return rc;
}

int db_exec_lazy(db *d, const char *what, const char *sql, int nparams,
                 const char *const *params, PGresult **res, struct err *e)
{
    int rc;
    if (res)
        *res = NULL;
    if ((rc = db_begin_lazy(d, e)) < 0)
        return rc;
    if ((rc = db_exec(d, what, sql, nparams, params, res, e)) < 0
        || (rc = db_commit(d, e)) < 0) {
        if (res) {
            PQclear(*res);
            *res = NULL;
        }
        db_rollback(d);
    }
    return rc;
}

int db_commit(db *d, struct err *e)
{
    return db_exec(d, "commit", "COMMIT", 0, NULL, NULL, e);
}

void db_rollback(db *d)
{
    if (!db_broken(d))
        PQclear(PQexec(d->conn, "ROLLBACK"));
}

int db_schema_version(db *d, int *version, struct err *e)
{
    PGresult *r = NULL;
    int rc;

    *version = 0;
    /* Two statements: a query naming a missing table would not parse. */
    if ((rc = db_exec(d, "read schema version",
                      "SELECT to_regclass('epsync.schema_version') IS NOT NULL", 0, NULL, &r,
                      e)) < 0)
        return rc;
    bool present = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!present)
        return 0;
    if ((rc = db_exec(d, "read schema version",
                      "SELECT coalesce(max(version), 0) FROM epsync.schema_version", 0, NULL,
                      &r, e)) < 0)
        return rc;
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int db_check_schema(db *d, struct err *e)
{
    int rc, v;

    if ((rc = db_schema_version(d, &v, e)) < 0)
        return rc;
    if (v == 0)
        return err_set(e, -ENOENT, "the state schema is missing: run `epsync migrate`");
    if (v < DB_SCHEMA_VERSION)
        return err_set(e, -ESTALE,
                       "the state schema is at version %d, this epsync needs %d: run `epsync migrate`",
                       v, DB_SCHEMA_VERSION);
    if (v > DB_SCHEMA_VERSION)
        return err_set(e, -EPROTO,
                       "the state schema is at version %d, newer than this epsync (%d): "
                       "run a newer epsync, or restore the matching binary",
                       v, DB_SCHEMA_VERSION);
    return 0;
}

void db_array_add(struct buf *b, const char *value)
{
    buf_putc(b, b->len ? ',' : '{');
    if (!value) {
        buf_puts(b, "NULL");
        return;
    }
    buf_putc(b, '"');
    /* Copy runs without a quote or backslash whole; escape those two. */
    for (const char *p = value; *p;) {
        size_t run = strcspn(p, "\"\\");
        buf_append(b, p, run);
        p += run;
        if (*p) {
            buf_putc(b, '\\');
            buf_putc(b, *p++);
        }
    }
    buf_putc(b, '"');
}

void db_array_end(struct buf *b)
{
    if (!b->len)
        buf_putc(b, '{');
    buf_putc(b, '}');
}

/* The key of a row: the two values joined by a unit separator, which
 * cannot occur in ids or target names. */
static const char *index_key(struct buf *k, const char *a, const char *b)
{
    buf_reset(k);
    buf_puts(k, a);
    if (b) {
        buf_putc(k, '\x1f');
        buf_puts(k, b);
    }
    return buf_str(k);
}

struct json_object *db_index_rows(PGresult *r, int a, int b)
{
    json_object *idx = json_object_new_object();
    struct buf k = BUF_INIT;
    for (int i = 0; i < PQntuples(r); i++)
        json_object_object_add(idx, index_key(&k, PQgetvalue(r, i, a),
                                              b >= 0 ? PQgetvalue(r, i, b) : NULL),
                               json_object_new_int(i));
    buf_free(&k);
    return idx;
}

int db_index_find(struct json_object *idx, const char *ka, const char *kb)
{
    struct buf k = BUF_INIT;
    json_object *v = NULL;
    int found = json_object_object_get_ex(idx, index_key(&k, ka, kb), &v);
    buf_free(&k);
    return found ? json_object_get_int(v) : -1;
}

#define DB_PACE_MIN_MS 500
#define DB_PACE_MAX_MS 30000

int64_t db_pace_failed(struct db_pace *p, int64_t now, bool *first)
{
    if (first)
        *first = p->delay == 0;
    p->delay = p->delay ? p->delay * 2 : DB_PACE_MIN_MS;
    if (p->delay > DB_PACE_MAX_MS)
        p->delay = DB_PACE_MAX_MS;
    p->retry_at = now + p->delay;
    return p->delay;
}

bool db_pace_ok(struct db_pace *p)
{
    bool was_failing = p->delay != 0;
    p->delay = 0;
    return was_failing;
}

void db_index_free(struct json_object *idx)
{
    json_object_put(idx);
}

/* db.c - see db.h.
 *
 * libpq is used synchronously: the daemon's database work is short,
 * batched statements between HTTP rounds, and a blocking call keeps the
 * code readable.  A connection that breaks (server restart, failover) is
 * detected on the failed statement and reopened by db_ensure(); callers
 * treat the failure like any other transient one and back off.
 *
 * A database that goes silent (a firewall that drops the connection, a
 * proxy that stops forwarding) must not stall the caller: every
 * connection gets a connect_timeout and TCP keepalives, and every
 * statement a statement_timeout, unless the conninfo sets them; a
 * statement whose answer does not arrive within that timeout and a grace
 * period marks the connection broken (it is reopened like any other). */
#include "db.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

#include <json-c/json.h>

struct db {
    PGconn *conn;
    char *conninfo;
    char *what;           /* "state database", "source database" */
    bool broken;
    int64_t answer_ms;    /* wait for a statement's answer, -1: for ever */
};

/* Defaults, each overridden by the conninfo when it names the keyword: a
 * connection attempt gives up after 10 s, a TCP peer that vanished is
 * noticed within about 25 s idle (keepalives) or 30 s with data unacked. */
static const char *const default_kw[] = {
    "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "dbname", NULL,
};
static const char *const default_val[] = { "10", "1", "10", "5", "3", "30000" };

#define DB_STATEMENT_TIMEOUT_MS 60000
/* A statement's answer is awaited this much longer than statement_timeout,
 * which the server enforces: past it, the connection itself is gone. */
#define DB_ANSWER_GRACE_MS 5000

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

/* statement_timeout from the conninfo's options ("-c statement_timeout=N"
 * with N in ms, or with a unit ms, s or min); -2 when it sets none. */
static int64_t conninfo_statement_timeout(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    int64_t ms = -2;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        const char *s = o->val && !strcmp(o->keyword, "options")
                        ? strstr(o->val, "statement_timeout=") : NULL;
        if (!s)
            continue;
        char *end;
        ms = strtoll(s + 18, &end, 10);
        ms *= !strncmp(end, "min", 3) ? 60000 : (*end == 's') ? 1000 : 1;
    }
    PQconninfoFree(opts);
    return ms;
}

static int connect_now(db *d, struct err *e)
{
    const char *vals[sizeof default_kw / sizeof *default_kw];
    int64_t st = conninfo_statement_timeout(d->conninfo);
    char set_timeout[64] = "";

    if (d->conn)
        PQfinish(d->conn);
    memcpy(vals, default_val, sizeof default_val);
    vals[6] = d->conninfo;       /* after the defaults: what it names wins */
    vals[7] = NULL;
    d->conn = PQconnectdbParams(default_kw, vals, 1);
    if (st == -2) {
        st = DB_STATEMENT_TIMEOUT_MS;
        snprintf(set_timeout, sizeof set_timeout, "; SET statement_timeout = %d",
                 DB_STATEMENT_TIMEOUT_MS);
    }
    d->answer_ms = st > 0 ? st + DB_ANSWER_GRACE_MS : -1;
    if (PQstatus(d->conn) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(d->conn));
        msg[strcspn(msg, "\n")] = '\0';
        d->broken = true;
        return err_set(e, -EIO, "cannot connect to the %s: %s", d->what, msg);
    }
    PQsetNoticeProcessor(d->conn, notice_quiet, NULL);
    char session[512];
    snprintf(session, sizeof session, "%s%s", SQL_SESSION, set_timeout);
    char what[128];
    snprintf(what, sizeof what, "%s: session settings", d->what);
    d->broken = false;
    int rc = db_exec_text(d, what, session, e);
    if (rc < 0)
        d->broken = true;
    return rc;
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

/* The last result of the statement sent, or NULL when its answer did not
 * come in time or the connection failed (then marked broken). */
static PGresult *await_answer(db *d)
{
    int64_t deadline = d->answer_ms < 0 ? -1 : clock_mono_ms() + d->answer_ms;
    PGresult *r, *last = NULL;
    for (;;) {
        while (PQisBusy(d->conn)) {
            struct pollfd p = { .fd = PQsocket(d->conn), .events = POLLIN };
            int64_t left = deadline < 0 ? -1 : deadline - clock_mono_ms();
            int n = deadline >= 0 && left <= 0 ? 0
                  : poll(&p, 1, left > 3600000 ? 3600000 : (int)left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || !PQconsumeInput(d->conn)) {
                PQclear(last);
                d->broken = true;
                return NULL;
            }
        }
        if (!(r = PQgetResult(d->conn)))
            return last;
        PQclear(last);
        last = r;
    }
}

/* The answer to the statement just sent: 0, or -EIO with e naming what. */
static int take_answer(db *d, const char *what, PGresult **res, struct err *e)
{
    PGresult *r;
    ExecStatusType st;

    if (!(r = await_answer(d))) {
        if (d->broken && PQstatus(d->conn) == CONNECTION_OK)
            return err_set(e, -EIO, "%s: no answer from the %s within %lld ms; "
                           "the connection is dropped and will be reopened", what, d->what,
                           (long long)d->answer_ms);
        return fail(d, what, NULL, e);
    }
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

int db_exec(db *d, const char *what, const char *sql, int nparams,
            const char *const *params, PGresult **res, struct err *e)
{
    if (res)
        *res = NULL;
    if (db_broken(d))
        return err_set(e, -EIO, "%s: the %s connection is down", what, d->what);
    if (!PQsendQueryParams(d->conn, sql, nparams, NULL, params, NULL, NULL, 0))
        return fail(d, what, NULL, e);
    return take_answer(d, what, res, e);
}

int db_exec_text(db *d, const char *what, const char *sql, struct err *e)
{
    if (db_broken(d))
        return err_set(e, -EIO, "%s: the %s connection is down", what, d->what);
    if (!PQsendQuery(d->conn, sql))
        return fail(d, what, NULL, e);
    return take_answer(d, what, NULL, e);
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
    /* Fails only with the connection, which is then marked broken. */
    if (!db_broken(d))
        (void)db_exec_text(d, "roll back", "ROLLBACK", NULL);
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

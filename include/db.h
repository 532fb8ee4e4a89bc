/* db.h - a libpq connection that survives the server going away.
 *
 * Every statement is parameterised ($1 …).  A failed statement on a broken
 * connection marks the handle broken; db_ensure() reconnects (callers back
 * off between tries).  Session settings are fixed at connect time so text
 * output of dates and numbers is stable: DateStyle ISO, TimeZone UTC. */
#ifndef EPSYNC_DB_H
#define EPSYNC_DB_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "buf.h"
#include "err.h"

typedef struct db db;

#define DB_SCHEMA_VERSION 7

int db_open(db **out, const char *conninfo, const char *what, struct err *e);
void db_close(db *d);
PGconn *db_conn(db *d);
bool db_broken(const db *d);
/* Reconnect when broken; 0 when usable. */
int db_ensure(db *d, struct err *e);

/* Run sql with text parameters.  *res (when res != NULL) receives the
 * result (caller PQclear()s); on error returns -EIO with e naming what. */
int db_exec(db *d, const char *what, const char *sql, int nparams,
            const char *const *params, PGresult **res, struct err *e);
/* Run fixed text without parameters (one or more statements, e.g. a
 * LISTEN whose channel is an identifier), with the same wait for the
 * answer as db_exec. */
int db_exec_text(db *d, const char *what, const char *sql, struct err *e);
int db_begin(db *d, struct err *e);
/* Begin a transaction whose commit does not wait for its WAL flush: for
 * work that is redone from the source or simply repeated if a server
 * crash loses it (detection, claims, bookkeeping) — never for a
 * platform's answer. */
int db_begin_lazy(db *d, struct err *e);
/* One statement in its own lazy transaction. */
int db_exec_lazy(db *d, const char *what, const char *sql, int nparams,
                 const char *const *params, PGresult **res, struct err *e);
int db_commit(db *d, struct err *e);
void db_rollback(db *d);

/* Array literals for batched statements ($1::text[] with unnest): call
 * db_array_add() for each element (NULL for SQL NULL) on a buffer that
 * starts empty, then db_array_end(). */
void db_array_add(struct buf *b, const char *value);
void db_array_end(struct buf *b);

/* Row lookup by key for a result: maps column a (and b when b >= 0)
 * of every row to its row number.  Free with db_index_free(). */
struct json_object;
struct json_object *db_index_rows(PGresult *r, int a, int b);
/* Row number of key (ka, kb) (kb NULL when the index has one column), -1 when absent. */
int db_index_find(struct json_object *idx, const char *ka, const char *kb);
void db_index_free(struct json_object *idx);

/* Pacing of tries against a database that is away (reconnects, work
 * retried): 500 ms after the first failure, doubling to 30 s. */
struct db_pace {
    int64_t retry_at;     /* monotonic ms: not before this */
    int64_t delay;        /* the last wait, 0 when the last try succeeded */
};
/* A try failed at now: sets retry_at and returns the wait; *first (may be
 * NULL) is true when this failure starts a streak (say it then). */
int64_t db_pace_failed(struct db_pace *p, int64_t now, bool *first);
/* A try succeeded: true when it ends a streak of failures. */
bool db_pace_ok(struct db_pace *p);

/* The state schema's version, 0 when there is none. */
int db_schema_version(db *d, int *version, struct err *e);

/* 0 when the state schema is at DB_SCHEMA_VERSION; otherwise -ENOENT
 * (missing), -ESTALE (older) or -EPROTO (newer), e says which command
 * fixes it. */
int db_check_schema(db *d, struct err *e);

#endif

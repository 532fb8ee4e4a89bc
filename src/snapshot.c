/* snapshot.c - see snapshot.h.
 *
 * Three aggregate statements, each a single pass: counts per (target,
 * state); the oldest due delivery per target (walks the partial index
 * deliveries_due); and the undelivered deliveries grouped by (target,
 * kind, decided_on), whose deadlines are then worked out here with the
 * calendar — a few hundred groups however long the queue is. */
#include "snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "lifecycle.h"

const char *const snapshot_states[SNAPSHOT_NSTATES] = {
    "pending", "retry", "withdraw_pending", "published", "withdrawn",
    "rejected", "invalid", "excluded", "cancelled",
};

static const char *SQL_BY_STATE =
    "SELECT target, state, count(*) FROM epsync.deliveries GROUP BY target, state";
static const char *SQL_OLDEST_DUE =
    "SELECT target, extract(epoch FROM now() - min(next_attempt_at))::float8 "
    "FROM epsync.deliveries "
    "WHERE state IN " LC_ACTIVE_SQL " AND next_attempt_at <= now() "
    "GROUP BY target";
static const char *SQL_OWED =
    "SELECT x.target, d.kind, d.decided_on, count(*) "
    "FROM epsync.deliveries x JOIN epsync.decisions d USING (decision_id) "
    "WHERE x.state IN ('pending', 'retry', 'rejected', 'invalid') "
    "  AND x.first_published_at IS NULL AND d.decided_on IS NOT NULL "
    "GROUP BY x.target, d.kind, d.decided_on";
static const char *SQL_DAEMONS =
    "SELECT count(*) FILTER (WHERE NOT stale), count(*) FILTER (WHERE stale) "
    "FROM (SELECT heartbeat_at < now() - 3 * interval_s * interval '1 second' AS stale "
    "      FROM epsync.daemons) h";

enum deadline_alert snapshot_deadline(const calendar *cal, date_t decided, int days,
                                      date_t today, int warn_before)
{
    return deadline_classify(cal, calendar_add_workdays(cal, decided, days), today, warn_before);
}

struct snap_target *snapshot_target(struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return &s->t[i];
    s->t = xrealloc(s->t, (s->n + 1) * sizeof *s->t);
    struct snap_target *t = &s->t[s->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

void snapshot_free(struct snapshot *s)
{
    if (!s)
        return;
    free(s->t);
    s->t = NULL;
    s->n = 0;
}

static int state_index(const char *state)
{
    for (int i = 0; i < SNAPSHOT_NSTATES; i++)
        if (strcmp(snapshot_states[i], state) == 0)
            return i;
    return -1;
}

static void take_counts(struct snapshot *s, PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        int k = state_index(PQgetvalue(r, i, 1));
        if (k >= 0)
            snapshot_target(s, PQgetvalue(r, i, 0))->count[k] = atol(PQgetvalue(r, i, 2));
    }
}

static void take_oldest(struct snapshot *s, PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        double age = atof(PQgetvalue(r, i, 1));
        snapshot_target(s, PQgetvalue(r, i, 0))->oldest_due_s = age > 0 ? age : 0;
    }
}

static void take_owed(struct snapshot *s, PGresult *r, const calendar *cal,
                      const int deadline_days[KIND_COUNT], int warn_before, date_t today)
{
    for (int i = 0; i < PQntuples(r); i++) {
        date_t decided;
        int k = kind_parse(PQgetvalue(r, i, 1));
        if (date_parse(PQgetvalue(r, i, 2), &decided) < 0)
            continue;
        struct snap_target *t = snapshot_target(s, PQgetvalue(r, i, 0));
        long n = atol(PQgetvalue(r, i, 3));
        switch (snapshot_deadline(cal, decided, deadline_days[k < 0 ? KIND_OTHER : k], today,
                                  warn_before)) {
        case DEADLINE_MISSED: t->missed += n; break;
        case DEADLINE_AT_RISK: t->at_risk += n; break;
        case DEADLINE_OK: break;
        }
    }
}

int snapshot_read(struct db *d, const calendar *cal, const int deadline_days[KIND_COUNT],
                  int warn_before, date_t today, const char *const *names, size_t nnames,
                  struct snapshot *out, struct err *e)
{
    PGresult *by_state = NULL, *oldest = NULL, *owed = NULL, *daemons = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < nnames; i++)
        snapshot_target(out, names[i]);
    /* One read-only transaction: the three figures agree with each other. */
    if ((rc = db_exec(d, "snapshot", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
                      NULL, e)) < 0)
        goto fail;
    if ((rc = db_exec(d, "count deliveries by state", SQL_BY_STATE, 0, NULL, &by_state, e)) < 0
        || (rc = db_exec(d, "find the oldest due delivery", SQL_OLDEST_DUE, 0, NULL, &oldest,
                         e)) < 0
        || (rc = db_exec(d, "count deliveries owed a publication", SQL_OWED, 0, NULL, &owed,
                         e)) < 0
        || (rc = db_exec(d, "count the daemons", SQL_DAEMONS, 0, NULL, &daemons, e)) < 0) {
        db_rollback(d);
        goto fail;
    }
    db_rollback(d);   /* nothing was written */
    take_counts(out, by_state);
    take_oldest(out, oldest);
    take_owed(out, owed, cal, deadline_days, warn_before, today);
    out->daemons_alive = atol(PQgetvalue(daemons, 0, 0));
    out->daemons_dead = atol(PQgetvalue(daemons, 0, 1));
    rc = 0;
    goto out;
fail:
    snapshot_free(out);
out:
    PQclear(by_state);
    PQclear(oldest);
    PQclear(owed);
    PQclear(daemons);
    return rc;
}

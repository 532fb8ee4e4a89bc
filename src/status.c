/* status.c - `epsync status`: one screen for an operator, and a check.
 *
 * Reads the state database only: the deliveries' figures (snapshot.h,
 * the same numbers the metrics show), each target's last success and
 * last failure, and the daemons' heartbeat rows, whose JSON says which
 * targets each daemon holds back and why.  Everything that needs a
 * person is listed at the end, and decides the exit code (0: all is
 * well, 1: something needs a person), so the command doubles as a
 * Nagios/Zabbix check. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "calendar.h"
#include "clock.h"
#include "db.h"
#include "snapshot.h"

#define BACKLOG_AGE_S 3600   /* the oldest due delivery waited this long: look */
#define REASON_MAX 160       /* bytes of a platform's message shown */

#define CST(col) "to_char((" col " AT TIME ZONE 'UTC') + interval '8 hours', " \
                 "'YYYY-MM-DD HH24:MI:SS') || '+08'"

static const char *SQL_LAST_SUCCESS =
    "SELECT target, " CST("max(greatest(published_at, withdrawn_at))") " "
    "FROM epsync.deliveries GROUP BY target";
static const char *SQL_LAST_FAILURE =
    "SELECT DISTINCT ON (target) target, " CST("updated_at") ", decision_id, state, "
    "  coalesce(last_http, 0), coalesce(last_code, ''), last_error "
    "FROM epsync.deliveries WHERE last_error IS NOT NULL ORDER BY target, updated_at DESC";
static const char *SQL_DAEMONS =
    "SELECT owner, version, " CST("started_at") ", "
    "  extract(epoch FROM now() - heartbeat_at)::bigint, "
    "  heartbeat_at < now() - 3 * interval_s * interval '1 second', targets::text, "
    "  coalesce(metrics_listen, '') "
    "FROM epsync.daemons ORDER BY started_at, owner";

struct status {
    struct snapshot snap;
    PGresult *success, *failure, *daemons;
    struct buf problems;
    int nproblems;
};

static void problem(struct status *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct status *s, const char *fmt, ...)
{
    va_list ap;
    buf_puts(&s->problems, "  - ");
    va_start(ap, fmt);
    buf_vprintf(&s->problems, fmt, ap);
    va_end(ap);
    buf_putc(&s->problems, '\n');
    s->nproblems++;
}

/* At most REASON_MAX bytes of s, cut at a character boundary. */
static void clipped(FILE *f, const char *s)
{
    size_t n = strlen(s);
    if (n <= REASON_MAX) {
        fputs(s, f);
        return;
    }
    n = REASON_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    fprintf(f, "%.*s…", (int)n, s);
}

static void duration(char *out, size_t n, double s)
{
    long v = (long)s;
    if (v < 120)
        snprintf(out, n, "%lds", v);
    else if (v < 7200)
        snprintf(out, n, "%ldm%02lds", v / 60, v % 60);
    else if (v < 172800)
        snprintf(out, n, "%ldh%02ldm", v / 3600, v / 60 % 60);
    else
        snprintf(out, n, "%ldd%02ldh", v / 86400, v / 3600 % 24);
}

static int row_of(PGresult *r, const char *target)
{
    for (int i = 0; r && i < PQntuples(r); i++)
        if (strcmp(PQgetvalue(r, i, 0), target) == 0)
            return i;
    return -1;
}

/* The live daemons' view of target: paused by one of them? */
static bool paused_by(struct status *s, const char *target, char *who, size_t wn,
                      char *why, size_t yn)
{
    for (int i = 0; i < PQntuples(s->daemons); i++) {
        if (PQgetvalue(s->daemons, i, 4)[0] == 't')
            continue;   /* dead: its view is stale */
        json_object *all = json_tokener_parse(PQgetvalue(s->daemons, i, 5)), *t, *v;
        bool paused = all && json_object_object_get_ex(all, target, &t)
                      && json_object_object_get_ex(t, "paused", &v) && json_object_get_boolean(v);
        if (paused) {
            snprintf(who, wn, "%s", PQgetvalue(s->daemons, i, 0));
            snprintf(why, yn, "%s", json_object_object_get_ex(t, "reason", &v)
                                        ? json_object_get_string(v) : "");
        }
        json_object_put(all);
        if (paused)
            return true;
    }
    return false;
}

static void print_counts(FILE *f, const struct snap_target *t)
{
    bool any = false;
    fputs("  deliveries   ", f);
    for (int k = 0; k < SNAPSHOT_NSTATES; k++)
        if (t->count[k]) {
            fprintf(f, "%s%s %ld", any ? ", " : "", snapshot_states[k], t->count[k]);
            any = true;
        }
    fputs(any ? "\n" : "none\n", f);
}

static long count_of(const struct snap_target *t, const char *state)
{
    for (int k = 0; k < SNAPSHOT_NSTATES; k++)
        if (strcmp(snapshot_states[k], state) == 0)
            return t->count[k];
    return 0;
}

static void print_target(FILE *f, struct status *s, const struct snap_target *t)
{
    char who[128], why[300], age[32];
    int r;

    if (paused_by(s, t->name, who, sizeof who, why, sizeof why)) {
        fprintf(f, "%s: PAUSED (daemon %s): ", t->name, who);
        clipped(f, why);
        fputc('\n', f);
        problem(s, "%s is paused: %s", t->name, why);
    } else
        fprintf(f, "%s: sending\n", t->name);
    print_counts(f, t);
    duration(age, sizeof age, t->oldest_due_s);
    fprintf(f, "  oldest due   %s\n", t->oldest_due_s > 0 ? age : "none");
    if (t->oldest_due_s >= BACKLOG_AGE_S)
        problem(s, "%s: the oldest due delivery has waited %s", t->name, age);
    r = row_of(s->success, t->name);
    fprintf(f, "  last success %s\n", r >= 0 && !PQgetisnull(s->success, r, 1)
                                          ? PQgetvalue(s->success, r, 1) : "never");
    if ((r = row_of(s->failure, t->name)) >= 0) {
        PGresult *x = s->failure;
        fprintf(f, "  last failure %s  %s (%s)  ", PQgetvalue(x, r, 1), PQgetvalue(x, r, 2),
                PQgetvalue(x, r, 3));
        if (strcmp(PQgetvalue(x, r, 4), "0") != 0 && strncmp(PQgetvalue(x, r, 6), "HTTP ", 5) != 0)
            fprintf(f, "HTTP %s ", PQgetvalue(x, r, 4));
        if (PQgetvalue(x, r, 5)[0])
            fprintf(f, "code %s ", PQgetvalue(x, r, 5));
        clipped(f, PQgetvalue(x, r, 6));
        fputc('\n', f);
    } else
        fputs("  last failure none outstanding\n", f);
    fprintf(f, "  deadlines    %ld missed, %ld at risk (due within one working day)\n",
            t->missed, t->at_risk);
    if (t->missed)
        problem(s, "%s: deliveries past their deadline: %ld (epsync report lists them)", t->name,
                t->missed);
    long rejected = count_of(t, "rejected"), invalid = count_of(t, "invalid");
    if (rejected || invalid)
        problem(s, "%s: deliveries rejected: %ld, invalid: %ld (epsync report says what to do)",
                t->name, rejected, invalid);
}

static void print_daemons(FILE *f, struct status *s)
{
    int live = 0;
    fputs("\ndaemons\n", f);
    for (int i = 0; i < PQntuples(s->daemons); i++) {
        PGresult *x = s->daemons;
        bool dead = PQgetvalue(x, i, 4)[0] == 't';
        char ago[32];
        duration(ago, sizeof ago, atof(PQgetvalue(x, i, 3)));
        fprintf(f, "  %s  epsync %s  started %s  heartbeat %s ago  %s", PQgetvalue(x, i, 0),
                PQgetvalue(x, i, 1), PQgetvalue(x, i, 2), ago, dead ? "DEAD" : "alive");
        if (PQgetvalue(x, i, 6)[0])
            fprintf(f, "  metrics %s", PQgetvalue(x, i, 6));
        fputc('\n', f);
        if (dead)
            problem(s, "daemon %s stopped sending heartbeats %s ago", PQgetvalue(x, i, 0), ago);
        else
            live++;
    }
    if (!live) {
        fputs("  none running\n", f);
        problem(s, "no daemon is running on this state database");
    }
}

static void print_header(FILE *f)
{
    time_t t = (time_t)(clock_wall_ms() / 1000) + 8 * 3600;
    struct tm tm;
    char when[32];
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S+08", &tm);
    fprintf(f, "epsync status at %s\n\n", when);
}

static int read_all(db *d, const struct config *cfg, struct status *s, struct err *e)
{
    calendar *cal = NULL;
    const char **names = xcalloc(cfg->ntargets + 1, sizeof *names);
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < cfg->ntargets; i++)
        if (cfg->targets[i].enabled)
            names[n++] = cfg->targets[i].name;
    if ((rc = calendar_load(&cal, cfg->calendar, e)) < 0)
        goto out;
    if ((rc = snapshot_read(d, cal, cfg->deadline_days, cfg->deadline_warn_before, date_cst(clock_wall_ms()), names, n,
                            &s->snap, e)) < 0
        || (rc = db_exec(d, "read the last successes", SQL_LAST_SUCCESS, 0, NULL, &s->success,
                         e)) < 0
        || (rc = db_exec(d, "read the last failures", SQL_LAST_FAILURE, 0, NULL, &s->failure,
                         e)) < 0
        || (rc = db_exec(d, "read the daemons", SQL_DAEMONS, 0, NULL, &s->daemons, e)) < 0)
        goto out;
    rc = 0;
out:
    calendar_free(cal);
    free(names);
    return rc;
}

int status_main(const struct config *cfg, int argc, char **argv)
{
    const char *ci = cfg->database.state && *cfg->database.state ? cfg->database.state
                                                                   : cfg->database.source;
    struct status s;
    struct err e;
    db *d = NULL;
    int rc;

    (void)argc; (void)argv;   /* none: the command table refuses any */
    memset(&s, 0, sizeof s);
    if (db_open(&d, ci, "state database", &e) < 0 || db_check_schema(d, &e) < 0) {
        fprintf(stderr, "epsync status: %s\n", e.msg);
        rc = EX_UNAVAILABLE_;
        goto out;
    }
    if (read_all(d, cfg, &s, &e) < 0) {
        fprintf(stderr, "epsync status: %s\n", e.msg);
        rc = db_broken(d) ? EX_UNAVAILABLE_ : EX_FAIL;
        goto out;
    }
    print_header(stdout);
    for (size_t i = 0; i < s.snap.n; i++)
        print_target(stdout, &s, &s.snap.t[i]);
    print_daemons(stdout, &s);
    if (s.nproblems)
        printf("\nneeds a person (%d)\n%s", s.nproblems, buf_str(&s.problems));
    else
        printf("\nall is well\n");
    rc = s.nproblems ? EX_FAIL : EX_OK_;
out:
    snapshot_free(&s.snap);
    PQclear(s.success);
    PQclear(s.failure);
    PQclear(s.daemons);
    buf_free(&s.problems);
    db_close(d);
    return rc;
}

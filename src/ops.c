/* ops.c - the operator commands: show, retry, withdraw.
 *
 * Each command is one transaction.  A change to a delivery and the audit
 * event that records it commit together (audit_append inside the same
 * transaction), and the wake-up notification is sent in that transaction
 * too, so PostgreSQL delivers it only once the change is visible: a
 * daemon woken by it always finds the requeued rows.
 *
 * retry and withdraw leave the lease of a row a daemon holds alone, with
 * one exception: retry clears it, because the rows it touches (rejected,
 * invalid, failed) are not being worked on, and a stale lease there would
 * only delay the requeue.
 */
#include "ops.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "calendar.h"
#include "queue.h"
#include "db.h"
#include "report.h"

/* Instants shown to operators are China Standard Time, like the report. */
#define CST(col) "to_char((" col " AT TIME ZONE 'UTC') + interval '8 hours', " \
                 "'YYYY-MM-DD HH24:MI:SS') || '+08'"

static const char *SQL_DECISION =
    "SELECT decision_id, kind, decided_on::text, src_state, confidential, revision, "
    "       " CST("src_updated_at") " AS src_updated_at, publicity_end::text, exclude_reason, "
    "       array_to_string(invalid_reasons, '; ') AS invalid_reasons, "
    "       " CST("first_seen_at") " AS first_seen_at, " CST("changed_at") " AS changed_at, "
    "       " CST("seen_at") " AS seen_at, " CST("missing_since") " AS missing_since, recheck "
    "FROM epsync.decisions WHERE decision_id = $1";

static const char *SQL_FIELDS =
    "SELECT f.key, f.value FROM epsync.decisions d, jsonb_each_text(d.fields) f "
    "WHERE d.decision_id = $1 ORDER BY f.key";

static const char *SQL_DELIVERIES =
    "SELECT target, state, want_revision, want_withdraw, withdraw_type, withdraw_reason, "
    "       published_revision, receipt, reason, last_code, last_error, last_http, attempts, "
    "       total_attempts, " CST("next_attempt_at") " AS next_attempt_at, lease_owner, "
    "       " CST("lease_until") " AS lease_until, "
    "       " CST("first_attempt_at") " AS first_attempt_at, "
    "       " CST("first_published_at") " AS first_published_at, "
    "       " CST("published_at") " AS published_at, " CST("withdrawn_at") " AS withdrawn_at, "
    "       " CST("updated_at") " AS updated_at "
    "FROM epsync.deliveries WHERE decision_id = $1 ORDER BY target";

static const char *SQL_AUDIT =
    "SELECT seq, " CST("at") " AS at, actor, target, operation, attempt, http_status, code, "
    "       message, latency_ms, receipt, body_sha256, detail "
    "FROM epsync.audit WHERE decision_id = $1 ORDER BY seq";

static const char *SQL_EXISTS = "SELECT 1 FROM epsync.decisions WHERE decision_id = $1";

static const char *SQL_WAKE = "SELECT pg_notify($1, $2)";

/* ---- shared ------------------------------------------------------------ */

static int connect_state(const struct config *cfg, const char *cmd, db **d)
{
    struct err e = { 0 };
    if (db_open(d, cfg->database.state, "state database", &e) < 0 ||
        db_check_schema(*d, &e) < 0) {
        fprintf(stderr, "epsync %s: %s\n", cmd, e.msg);
        return EX_UNAVAILABLE_;
    }
    return 0;
}

static int db_failed(db *d, const char *cmd, const struct err *e)
{
    fprintf(stderr, "epsync %s: %s\n", cmd, e->msg);
    return db_broken(d) ? EX_UNAVAILABLE_ : EX_FAIL;
}

/* 1 when the decision exists, 0 when not, negative on error. */
static int decision_exists(db *d, const char *id, struct err *e)
{
    PGresult *r = NULL;
    int rc = db_exec(d, "look up the decision", SQL_EXISTS, 1, &id, &r, e);
    if (rc < 0)
        return rc;
    rc = PQntuples(r) > 0;
    PQclear(r);
    return rc;
}

static const char *val(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? "-" : PQgetvalue(r, row, col);
}

/* A value on one line: line breaks in platform messages become "\n". */
static void put_value(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", f);
        else if (*s == '\r')
            fputs("\\r", f);
        else
            fputc(*s, f);
    }
}

/* Every column of every row as "name: value" lines. */
static void print_columns(FILE *f, const PGresult *r, int row, int first_col, const char *indent)
{
    int ncols = PQnfields(r);
    size_t w = 0;
    for (int c = first_col; c < ncols; c++)
        if (strlen(PQfname(r, c)) > w)
            w = strlen(PQfname(r, c));
    for (int c = first_col; c < ncols; c++) {
        fprintf(f, "%s%-*s  ", indent, (int)w + 1, PQfname(r, c));
        put_value(f, val(r, row, c));
        fputc('\n', f);
    }
}

/* Non-NULL columns as key=value pairs on one line (an audit event). */
static void print_pairs(FILE *f, const PGresult *r, int row)
{
    for (int c = 0; c < PQnfields(r); c++) {
        if (PQgetisnull(r, row, c))
            continue;
        fprintf(f, "%s%s=", c ? " " : "  ", PQfname(r, c));
        const char *v = PQgetvalue(r, row, c);
        bool quote = strpbrk(v, " \"=") != NULL || !*v;
        if (quote)
            fputc('"', f);
        put_value(f, v);
        if (quote)
            fputc('"', f);
    }
    fputc('\n', f);
}

static int wake(db *d, const char *what, struct err *e)
{
    const char *params[2] = { OPS_WAKE_CHANNEL, what };
    return db_exec(d, "notify the daemons", SQL_WAKE, 2, params, NULL, e);
}

/* ---- show ------------------------------------------------------------- */

static void show_due(const struct config *cfg, const PGresult *dec)
{
    struct err e = { 0 };
    calendar *cal = NULL;
    date_t decided;
    char due[11];
    int k = kind_parse(PQgetvalue(dec, 0, 1));

    if (PQgetisnull(dec, 0, 2) || date_parse(PQgetvalue(dec, 0, 2), &decided) < 0)
        return;
    if (calendar_load(&cal, cfg->calendar, &e) < 0) {
        printf("due_on: unknown (%s)\n", e.msg);
        return;
    }
    date_format(calendar_add_workdays(cal, decided, cfg->deadline_days[k < 0 ? KIND_OTHER : k]),
                due);
    printf("due_on: %s (%d working days)\n", due, cfg->deadline_days[k < 0 ? KIND_OTHER : k]);
    calendar_free(cal);
}

static void show_audit(const PGresult *audit)
{
    int n = PQntuples(audit), nattempts = 0;
    for (int i = 0; i < n; i++)
        nattempts += strcmp(PQgetvalue(audit, i, 4), "attempt") == 0;
    printf("\nAttempts (%d)\n", nattempts);
    for (int i = 0; i < n; i++) {
        if (strcmp(PQgetvalue(audit, i, 4), "attempt") != 0)
            continue;
        printf("  %s  %-10s #%-3s http=%s code=%s ms=%s receipt=%s  ", val(audit, i, 1),
               val(audit, i, 3), val(audit, i, 5), val(audit, i, 6), val(audit, i, 7),
               val(audit, i, 9), val(audit, i, 10));
        put_value(stdout, val(audit, i, 8));
        putchar('\n');
    }
    printf("\nAudit events (%d)\n", n);
    for (int i = 0; i < n; i++)
        print_pairs(stdout, audit, i);
}

int ops_show(const struct config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
                                               { NULL, 0, NULL, 0 } };
    PGresult *dec = NULL, *fields = NULL, *dels = NULL, *audit = NULL;
    struct err e = { 0 };
    db *d = NULL;
    int c, ex;

    optind = 0;            /* glibc: 0 also resets the permutation mode main() chose */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fprintf(stderr, "usage: epsync show ID\n");
            return EX_OK_;
        }
        fprintf(stderr, "epsync show: unknown option \"%s\"\nusage: epsync show ID\n",
                argv[optind - 1]);
        return EX_USAGE_;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "usage: epsync show ID\n");
        return EX_USAGE_;
    }
    const char *id = argv[optind];
    if ((ex = connect_state(cfg, "show", &d)) != 0)
        goto out;
    /* One snapshot: the attempts shown are those of the states shown. */
    if (db_exec(d, "show: begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                0, NULL, NULL, &e) < 0 ||
        db_exec(d, "show: read the decision", SQL_DECISION, 1, &id, &dec, &e) < 0) {
        ex = db_failed(d, "show", &e);
        goto out;
    }
    if (PQntuples(dec) == 0) {
        fprintf(stderr, "epsync show: no decision \"%s\" in the state database\n", id);
        ex = EX_USAGE_;
        goto out;
    }
    if (db_exec(d, "show: read the fields", SQL_FIELDS, 1, &id, &fields, &e) < 0 ||
        db_exec(d, "show: read the deliveries", SQL_DELIVERIES, 1, &id, &dels, &e) < 0 ||
        db_exec(d, "show: read the audit events", SQL_AUDIT, 1, &id, &audit, &e) < 0) {
        ex = db_failed(d, "show", &e);
        goto out;
    }
    printf("Decision %s\n", id);
    print_columns(stdout, dec, 0, 1, "  ");
    show_due(cfg, dec);

    printf("\nFields (masked, as sent)\n");
    for (int i = 0; i < PQntuples(fields); i++) {
        printf("  %-24s ", PQgetvalue(fields, i, 0));
        put_value(stdout, val(fields, i, 1));
        putchar('\n');
    }
    printf("\nTargets (%d)\n", PQntuples(dels));
    for (int i = 0; i < PQntuples(dels); i++) {
        printf("  %s\n", PQgetvalue(dels, i, 0));
        print_columns(stdout, dels, i, 1, "    ");
    }
    show_audit(audit);
    ex = fflush(stdout) == 0 ? EX_OK_ : EX_FAIL;
out:
    PQclear(dec);
    PQclear(fields);
    PQclear(dels);
    PQclear(audit);
    if (d)
        db_rollback(d);
    db_close(d);
    return ex;
}

/* ---- retry and withdraw: apply, audit, wake ----------------------------- */

/* Run the change statement (returning decision_id, target, old_state,
 * new_state), audit each changed row, wake the daemons, commit.  Returns
 * the number of rows changed or a negative code. */
static int apply_audited(db *d, const char *operation, const char *const *params,
                         const char *message, PGresult **res, struct err *e)
{
    struct audit_event *ev = NULL;
    char (*detail)[64] = NULL;
    PGresult *r = NULL;
    int rc, n;

    if ((rc = db_begin(d, e)) < 0)
        return rc;
    rc = strcmp(operation, "retry") == 0
             ? queue_requeue(d, params[0], params[1], params[2], &r, e)
             : queue_withdraw(d, params[0], params[1], &r, e);
    if (rc < 0)
        goto out;
    n = PQntuples(r);
    ev = xcalloc(n ? (size_t)n : 1, sizeof *ev);
    detail = xcalloc(n ? (size_t)n : 1, sizeof *detail);
    for (int i = 0; i < n; i++) {
        snprintf(detail[i], sizeof detail[i], "%s->%s", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
        ev[i] = (struct audit_event){
            .actor = audit_os_user(), .decision_id = PQgetvalue(r, i, 0),
            .target = PQgetvalue(r, i, 1), .operation = operation, .message = message,
            .latency_ms = -1, .detail = detail[i],
        };
    }
    if (n > 0 && ((rc = audit_append(d, ev, (size_t)n, e)) < 0 ||
                  (rc = wake(d, operation, e)) < 0))
        goto out;
    if ((rc = db_commit(d, e)) < 0)
        goto out;
    *res = r;
    r = NULL;
    rc = n;
out:
    if (rc < 0)
        db_rollback(d);
    PQclear(r);
    free(ev);
    free(detail);
    return rc;
}

/* How a --state value reads in the database. */
static const struct { const char *opt; const char *states; } retry_states[] = {
    { "rejected", "{rejected}" },
    { "invalid",  "{invalid}" },
    { "failed",   "{retry}" },
};
static const char *RETRY_DEFAULT_STATES = "{rejected,invalid,retry}";

static const char *RETRY_USAGE =
    "usage: epsync retry [ID] [--target T] [--state rejected|invalid|failed]\n"
    "       (at least one of them; without --state: rejected, invalid and failed)\n";

enum { LIST_MAX = 50 };

int ops_retry(const struct config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "target", required_argument, NULL, 't' }, { "state", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    const char *id = NULL, *target = NULL, *states = NULL;
    struct err e = { 0 };
    PGresult *r = NULL;
    db *d = NULL;
    int c, n, ex;

    optind = 0;            /* glibc: 0 also resets the permutation mode main() chose */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!config_target(cfg, optarg)) {
                fprintf(stderr, "epsync retry: --target: no target \"%s\" in the configuration\n",
                        optarg);
                return EX_USAGE_;
            }
            target = optarg;
            break;
        case 's':
            for (size_t i = 0; i < sizeof retry_states / sizeof retry_states[0]; i++)
                if (strcmp(retry_states[i].opt, optarg) == 0)
                    states = retry_states[i].states;
            if (!states) {
                fprintf(stderr, "epsync retry: --state: \"%s\" is not rejected, invalid or "
                                "failed\n%s", optarg, RETRY_USAGE);
                return EX_USAGE_;
            }
            break;
        case 'h':
            fputs(RETRY_USAGE, stderr);
            return EX_OK_;
        default:
            fprintf(stderr, "epsync retry: unknown or incomplete option \"%s\"\n%s",
                    argv[optind - 1], RETRY_USAGE);
            return EX_USAGE_;
        }
    }
    if (argc - optind > 1 || (argc - optind == 0 && !target && !states)) {
        fputs(argc - optind > 1 ? "epsync retry: one decision id at most\n"
                                : "epsync retry: say what to requeue\n", stderr);
        fputs(RETRY_USAGE, stderr);
        return EX_USAGE_;
    }
    if (argc - optind == 1)
        id = argv[optind];
    if ((ex = connect_state(cfg, "retry", &d)) != 0)
        goto out;
    if (id && (n = decision_exists(d, id, &e)) <= 0) {
        if (n < 0)
            ex = db_failed(d, "retry", &e);
        else {
            fprintf(stderr, "epsync retry: no decision \"%s\" in the state database\n", id);
            ex = EX_USAGE_;
        }
        goto out;
    }
    const char *params[3] = { id, target, states ? states : RETRY_DEFAULT_STATES };
    if ((n = apply_audited(d, "retry", params, NULL, &r, &e)) < 0) {
        ex = db_failed(d, "retry", &e);
        goto out;
    }
    printf("requeued %d deliver%s\n", n, n == 1 ? "y" : "ies");
    for (int i = 0; i < n && i < LIST_MAX; i++)
        printf("  %s %s: %s -> %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
    if (n > LIST_MAX)
        printf("  ... and %d more (see the audit log, operation retry)\n", n - LIST_MAX);
    ex = EX_OK_;
out:
    PQclear(r);
    db_close(d);
    return ex;
}

static const char *WITHDRAW_USAGE = "usage: epsync withdraw ID --reason TEXT\n";

int ops_withdraw(const struct config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "reason", required_argument, NULL, 'r' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *reason = NULL;
    struct err e = { 0 };
    PGresult *r = NULL;
    db *d = NULL;
    int c, n, ex;

    optind = 0;            /* glibc: 0 also resets the permutation mode main() chose */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        case 'h': fputs(WITHDRAW_USAGE, stderr); return EX_OK_;
        default:
            fprintf(stderr, "epsync withdraw: unknown or incomplete option \"%s\"\n%s",
                    argv[optind - 1], WITHDRAW_USAGE);
            return EX_USAGE_;
        }
    }
    if (argc - optind != 1) {
        fputs(WITHDRAW_USAGE, stderr);
        return EX_USAGE_;
    }
    /* The reason is the legal record of why a publication came down. */
    if (!reason || !reason[strspn(reason, " \t\r\n")]) {
        fprintf(stderr, "epsync withdraw: --reason is required\n%s", WITHDRAW_USAGE);
        return EX_USAGE_;
    }
    const char *id = argv[optind];
    if ((ex = connect_state(cfg, "withdraw", &d)) != 0)
        goto out;
    if ((n = decision_exists(d, id, &e)) <= 0) {
        if (n < 0)
            ex = db_failed(d, "withdraw", &e);
        else {
            fprintf(stderr, "epsync withdraw: no decision \"%s\" in the state database\n", id);
            ex = EX_USAGE_;
        }
        goto out;
    }
    const char *params[2] = { id, reason };
    if ((n = apply_audited(d, "withdraw", params, reason, &r, &e)) < 0) {
        ex = db_failed(d, "withdraw", &e);
        goto out;
    }
    if (n == 0)
        printf("nothing to withdraw: %s is not published or pending at any target\n", id);
    for (int i = 0; i < n; i++) {
        bool down = strcmp(PQgetvalue(r, i, 3), "withdraw_pending") == 0;
        printf("%s %s: %s -> %s (%s)\n", id, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
               PQgetvalue(r, i, 3), down ? "will be taken down" : "will not be published");
    }
    ex = EX_OK_;
out:
    PQclear(r);
    db_close(d);
    return ex;
}

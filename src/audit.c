/* audit.c - see audit.h; the format is specified in docs/audit.md.
 *
 * The canonical form of an event is its stored columns as text, in a
 * fixed order, each written as "<byte length>:<text>;" (SQL NULL as "~;"),
 * so no value can be confused with a separator.  hash = hex SHA-256 of
 * prev_hash (64 hex digits) followed by the canonical form.  The time is
 * part of it as the exact text the database gives back
 * ("YYYY-MM-DD HH:MM:SS.uuuuuu+00"), so verification re-reads what was
 * written.
 *
 * The chain head is the newest row, read under a transaction-level
 * advisory lock that every appender takes: the daemon's role needs only
 * INSERT and SELECT on epsync.audit, and there is no head row it could
 * reset (sql/004_roles.sql). */
#include "audit.h"
#include "metrics.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "anchor.h"
#include "config.h"
#include "log.h"
#include "clock.h"
#include "sign.h"

enum { AUDIT_NCOLS = 14 };

void audit_canonical(struct buf *out, const char *const *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!fields[i])
            buf_puts(out, "~;");
        else
            buf_printf(out, "%zu:%s;", strlen(fields[i]), fields[i]);
    }
}

static void chain(const char *prev, const char *const *cols, char out[65])
{
    struct buf b = BUF_INIT;
    buf_puts(&b, prev);
    audit_canonical(&b, cols, AUDIT_NCOLS);
    sign_sha256_hex(b.data, b.len, out);
    buf_free(&b);
}

static void now_text(char *out, size_t n)
{
    size_t k = clock_utc_text(out, n, ' ', 6);
    snprintf(out + k, n - k, "+00");
}

static const char *int_or_null(char *buf, size_t n, long v, long none)
{
    if (v == none)
        return NULL;
    snprintf(buf, n, "%ld", v);
    return buf;
}

/* Any constant every epsync process agrees on, distinct from the keys of
 * migrate.c (...001) and source.c (...002). */
#define AUDIT_LOCK_KEY "7245310014"
static const char *SQL_HEAD_LOCK = "SELECT pg_advisory_xact_lock($1::bigint)";
/* After the lock, a fresh statement sees every appender that committed. */
static const char *SQL_HEAD =
    "SELECT seq, hash FROM epsync.audit ORDER BY seq DESC LIMIT 1";
static const char *SQL_INSERT =
    "INSERT INTO epsync.audit (seq, at, actor, decision_id, target, operation, attempt, "
    "  http_status, code, message, latency_ms, receipt, body_sha256, detail, prev_hash, hash) "
    "SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], "
    "  $6::text[], $7::integer[], $8::integer[], $9::text[], $10::text[], $11::integer[], "
    "  $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])";

int audit_head(db *d, long long *seq, char hash[65], struct err *e)
{
    PGresult *r = NULL;
    int rc = db_exec(d, "read the audit chain head", SQL_HEAD, 0, NULL, &r, e);
    if (rc < 0)
        return rc;
    *seq = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
    snprintf(hash, 65, "%s", PQntuples(r) ? PQgetvalue(r, 0, 1) : AUDIT_GENESIS);
    PQclear(r);
    return 0;
}

int audit_append(db *d, const struct audit_event *ev, size_t n, struct err *e)
{
    struct buf arr[16];
    const char *key[1] = { AUDIT_LOCK_KEY };
    char prev[65], at[40], seqtxt[24];
    long long seq;
    int rc;

    if (n == 0)
        return 0;
    if ((rc = db_exec(d, "lock the audit chain", SQL_HEAD_LOCK, 1, key, NULL, e)) < 0
        || (rc = audit_head(d, &seq, prev, e)) < 0)
        return rc;

    memset(arr, 0, sizeof arr);
    now_text(at, sizeof at);
    for (size_t i = 0; i < n; i++) {
        const struct audit_event *v = &ev[i];
        char att[16], http[16], lat[16], hash[65];
        snprintf(seqtxt, sizeof seqtxt, "%lld", ++seq);
        const char *cols[AUDIT_NCOLS] = {
            seqtxt, at, v->actor ? v->actor : "daemon", v->decision_id, v->target,
            v->operation, int_or_null(att, sizeof att, v->attempt, 0),
            int_or_null(http, sizeof http, v->http_status, 0), v->code, v->message,
            int_or_null(lat, sizeof lat, v->latency_ms, -1), v->receipt, v->body_sha256,
            v->detail,
        };
        chain(prev, cols, hash);
        for (int c = 0; c < AUDIT_NCOLS; c++)
            db_array_add(&arr[c], cols[c]);
        db_array_add(&arr[14], prev);
        db_array_add(&arr[15], hash);
        memcpy(prev, hash, sizeof prev);
    }
    const char *params[16];
    for (int c = 0; c < 16; c++) {
        db_array_end(&arr[c]);
        params[c] = arr[c].data;
    }
    rc = db_exec(d, "append audit events", SQL_INSERT, 16, params, NULL, e);
    if (rc == 0)
        metrics_count_audit_events((long)n);
    for (int c = 0; c < 16; c++)
        buf_free(&arr[c]);
    return rc;
}

static const char *SQL_VERIFY_PAGE =
    "SELECT seq::text AS seq_text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', "
    "  actor, decision_id, target, operation, attempt::text, http_status::text, code, message, "
    "  latency_ms::text, receipt, body_sha256, detail, prev_hash, hash "
    "FROM epsync.audit a WHERE a.seq > $1::bigint ORDER BY a.seq LIMIT 5000";

/* One page of the walk; returns 1 when a link is broken (said on out). */
static int verify_page(PGresult *r, char prev[65], long long *expect, struct anchor_set *as,
                       FILE *out)
{
    for (int i = 0; i < PQntuples(r); i++) {
        const char *cols[AUDIT_NCOLS];
        char hash[65];
        long long seq = atoll(PQgetvalue(r, i, 0));
        for (int c = 0; c < AUDIT_NCOLS; c++)
            cols[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
        const char *why = NULL;
        if (seq != *expect)
            why = "an event is missing before it";
        else if (strcmp(PQgetvalue(r, i, 14), prev) != 0)
            why = "its prev_hash is not the hash of the event before it";
        else {
            chain(prev, cols, hash);
            if (strcmp(hash, PQgetvalue(r, i, 15)) != 0)
                why = "its content does not match its hash (altered)";
        }
        if (why) {
            fprintf(out, "audit chain broken at seq=%lld: %s\n", *expect, why);
            return 1;
        }
        memcpy(prev, PQgetvalue(r, i, 15), 65);
        anchor_set_see(as, seq, prev);
        ++*expect;
    }
    return 0;
}

int audit_verify(db *d, FILE *out, struct anchor_set *as, struct err *e)
{
    char prev[65] = AUDIT_GENESIS;
    char after[24] = "0";
    long long expect = 1;
    PGresult *r = NULL;
    int rc, rows;

    do {
        const char *p[1] = { after };
        if ((rc = db_exec(d, "read the audit log", SQL_VERIFY_PAGE, 1, p, &r, e)) < 0)
            return rc;
        rows = PQntuples(r);
        if ((rc = verify_page(r, prev, &expect, as, out)) != 0) {
            PQclear(r);
            return rc;
        }
        if (rows > 0)
            snprintf(after, sizeof after, "%s", PQgetvalue(r, rows - 1, 0));
        PQclear(r);
    } while (rows > 0);
    fprintf(out, "audit chain intact: %lld events\n", expect - 1);
    return as ? anchor_set_report(as, expect - 1, out) : 0;
}

int audit_main(const struct config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        { "anchors", required_argument, NULL, 'a' },
        { "public-key", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    const char *anchors = NULL, *pubkey = NULL;
    struct anchor_set *as = NULL;
    db *d = NULL;
    struct err e;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'a')
            anchors = optarg;
        else if (c == 'k')
            pubkey = optarg;
        else
            return EX_USAGE_;
    }
    if (optind < argc || !anchors != !pubkey) {
        fprintf(stderr, "usage: epsync verify-audit [--anchors FILE --public-key FILE]\n");
        return EX_USAGE_;
    }
    if (anchors && (rc = anchor_set_load(&as, anchors, pubkey, stdout, &e)) != 0) {
        if (rc < 0)
            fprintf(stderr, "epsync: verify-audit: %s\n", e.msg);
        anchor_set_free(as);
        return rc < 0 ? EX_FAIL : 1;
    }
    if (db_open(&d, cfg->database.state, "state database", &e) < 0
        || db_check_schema(d, &e) < 0) {
        fprintf(stderr, "epsync: %s\n", e.msg);
        rc = EX_UNAVAILABLE_;
    } else if ((rc = audit_verify(d, stdout, as, &e)) < 0) {
        fprintf(stderr, "epsync: verify-audit: %s\n", e.msg);
        rc = EX_UNAVAILABLE_;
    }
    db_close(d);
    anchor_set_free(as);
    return rc;
}

void audit_warn_privileges(db *d)
{
    PGresult *r = NULL;
    struct err e;
    if (db_exec(d, "check the audit privileges",
                "SELECT current_user, has_table_privilege('epsync.audit', 'UPDATE') "
                "  OR has_table_privilege('epsync.audit', 'DELETE') "
                "  OR has_table_privilege('epsync.audit', 'TRUNCATE') "
                "  OR pg_has_role(c.relowner, 'USAGE') "
                "FROM pg_class c WHERE c.oid = 'epsync.audit'::regclass", 0, NULL, &r, &e) < 0) {
        log_warning("cannot check the audit privileges", KV("error", e.msg));
        return;
    }
    if (PQgetvalue(r, 0, 1)[0] == 't')
        log_warning("this database role could rewrite the audit log; run the daemon as a member "
                    "of epsync_daemon (docs/operations.md, database roles)",
                    KV("role", PQgetvalue(r, 0, 0)));
    PQclear(r);
}

/* The person behind an operator action: under sudo (the documented way
 * to run `sudo -u epsync epsync retry ...`) the invoking user, with the
 * account the command ran as; else the OS user. */
const char *audit_os_user(void)
{
    static char name[160];
    char os[64];
    struct passwd *pw = getpwuid(getuid());
    const char *sudo_user = getenv("SUDO_USER");
    if (pw && pw->pw_name)
        snprintf(os, sizeof os, "%s", pw->pw_name);
    else
        snprintf(os, sizeof os, "uid:%u", (unsigned)getuid());
    if (sudo_user && *sudo_user && strcmp(sudo_user, os) != 0 &&
        !sudo_user[strcspn(sudo_user, " ()\t\r\n")] && strlen(sudo_user) < 64)
        snprintf(name, sizeof name, "%s (sudo as %s)", sudo_user, os);
    else
        snprintf(name, sizeof name, "%s", os);
    return name;
}

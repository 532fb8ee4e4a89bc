/* audit.c - see audit.h.
 *
 * The canonical form of an event is its stored columns as text, in a
 * fixed order, each written as "<byte length>:<text>;" (SQL NULL as "~;"),
 * so no value can be confused with a separator.  hash = hex SHA-256 of
 * prev_hash (64 hex digits) followed by the canonical form.  The time is
 * part of it as the exact text the database gives back
 * ("YYYY-MM-DD HH:MM:SS.uuuuuu+00"), so verification re-reads what was
 * written. */
#include "audit.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%06ld+00", ts.tv_nsec / 1000);
}

static const char *int_or_null(char *buf, size_t n, long v, long none)
{
    if (v == none)
        return NULL;
    snprintf(buf, n, "%ld", v);
    return buf;
}

static const char *SQL_HEAD_LOCK =
    "SELECT seq, hash FROM epsync.audit_head WHERE id = 1 FOR UPDATE";
static const char *SQL_INSERT =
    "INSERT INTO epsync.audit (seq, at, actor, decision_id, target, operation, attempt, "
    "  http_status, code, message, latency_ms, receipt, body_sha256, detail, prev_hash, hash) "
    "SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], "
    "  $6::text[], $7::integer[], $8::integer[], $9::text[], $10::text[], $11::integer[], "
    "  $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])";
static const char *SQL_HEAD_SET =
    "UPDATE epsync.audit_head SET seq = $1::bigint, hash = $2 WHERE id = 1";

int audit_append(db *d, const struct audit_event *ev, size_t n, struct err *e)
{
    struct buf arr[16];
    PGresult *r = NULL;
    char prev[65], at[40], seqtxt[24];
    long long seq;
    int rc;

    if (n == 0)
        return 0;
    if ((rc = db_exec(d, "lock the audit chain", SQL_HEAD_LOCK, 0, NULL, &r, e)) < 0)
        return rc;
    seq = atoll(PQgetvalue(r, 0, 0));
    snprintf(prev, sizeof prev, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);

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
    if (rc == 0) {
        const char *hp[2] = { seqtxt, prev };
        rc = db_exec(d, "advance the audit chain", SQL_HEAD_SET, 2, hp, NULL, e);
    }
    for (int c = 0; c < 16; c++)
        buf_free(&arr[c]);
    return rc;
}

static const char *SQL_VERIFY_PAGE =
    "SELECT seq::text AS seq_text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00', "
    "  actor, decision_id, target, operation, attempt::text, http_status::text, code, message, "
    "  latency_ms::text, receipt, body_sha256, detail, prev_hash, hash "
    "FROM epsync.audit a WHERE a.seq > $1::bigint ORDER BY a.seq LIMIT 5000";

int audit_verify(db *d, FILE *out, struct err *e)
{
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    char after[24] = "0";
    long long expect = 1, count = 0;
    PGresult *r = NULL;
    int rc;

    for (;;) {
        const char *p[1] = { after };
        if ((rc = db_exec(d, "read the audit log", SQL_VERIFY_PAGE, 1, p, &r, e)) < 0)
            return rc;
        int rows = PQntuples(r);
        for (int i = 0; i < rows; i++) {
            const char *cols[AUDIT_NCOLS];
            char hash[65];
            long long seq = atoll(PQgetvalue(r, i, 0));
            for (int c = 0; c < AUDIT_NCOLS; c++)
                cols[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
            const char *why = NULL;
            if (seq != expect)
                why = "an event is missing before it";
            else if (strcmp(PQgetvalue(r, i, 14), prev) != 0)
                why = "its prev_hash is not the hash of the event before it";
            else {
                chain(prev, cols, hash);
                if (strcmp(hash, PQgetvalue(r, i, 15)) != 0)
                    why = "its content does not match its hash (altered)";
            }
            if (why) {
                fprintf(out, "audit chain broken at seq=%lld: %s\n", expect, why);
                PQclear(r);
                return 1;
            }
            memcpy(prev, PQgetvalue(r, i, 15), sizeof prev);
            expect++;
            count++;
        }
        if (rows > 0)
            snprintf(after, sizeof after, "%s", PQgetvalue(r, rows - 1, 0));
        PQclear(r);
        if (rows == 0)
            break;
    }
    if ((rc = db_exec(d, "read the audit head", "SELECT seq, hash FROM epsync.audit_head",
                      0, NULL, &r, e)) < 0)
        return rc;
    int tail_ok = PQntuples(r) == 1 && atoll(PQgetvalue(r, 0, 0)) == count
                  && strcmp(PQgetvalue(r, 0, 1), prev) == 0;
    PQclear(r);
    if (!tail_ok) {
        fprintf(out, "audit chain broken at seq=%lld: events after it were removed "
                     "(the chain head names a later event)\n", count + 1);
        return 1;
    }
    fprintf(out, "audit chain intact: %lld events\n", count);
    return 0;
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

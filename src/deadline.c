/* deadline.c - see deadline.h. */
#include "deadline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

enum { CHECK_EVERY_MS = 60 * 1000, LOOKBACK_DAYS = 730 };

enum deadline_alert deadline_classify(const calendar *cal, date_t due, date_t today,
                                      int warn_before)
{
    if (due == DATE_NONE || today == DATE_NONE)
        return DEADLINE_OK;
    if (today > due)
        return DEADLINE_MISSED;
    return calendar_add_workdays(cal, today, warn_before) >= due ? DEADLINE_AT_RISK
                                                                 : DEADLINE_OK;
}

const char *deadline_alert_key(enum deadline_alert a)
{
    return a == DEADLINE_AT_RISK ? "at_risk" : a == DEADLINE_MISSED ? "missed" : "ok";
}

struct deadline_watch {
    calendar *cal;
    char *calendar_path;
    int64_t next_ms;
    long at_risk, missed;
};

/* Unpublished pairs that must be published (first_published_at IS NULL:
 * a published decision waiting for an update is not late), decided long
 * enough ago to be at risk ($2: a deadline of N working days is at least N
 * calendar days, so fresh work is never read).  The queue's own partial
 * index finds pending and retrying rows, deliveries_stuck the rest. */
static const char *SQL_OPEN =
    "SELECT dl.decision_id, dl.target, d.kind, d.decided_on::text, dl.state "
    "FROM epsync.deliveries dl JOIN epsync.decisions d ON d.decision_id = dl.decision_id "
    "WHERE dl.first_published_at IS NULL "
    "  AND dl.state IN ('pending', 'retry', 'invalid', 'rejected') "
    "  AND d.decided_on BETWEEN $1::date AND $2::date";

static const char *SQL_REMEMBER =
    "INSERT INTO epsync.deadline_alerts (decision_id, target, alert, due_on) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[]) "
    "ON CONFLICT DO NOTHING RETURNING decision_id, target, alert, due_on::text";

static int load_calendar(deadline_watch *w, const struct config *cfg, struct err *e)
{
    if (w->cal && w->calendar_path && strcmp(w->calendar_path, cfg->calendar) == 0)
        return 0;
    calendar *cal = NULL;
    int rc = calendar_load(&cal, cfg->calendar, e);
    if (rc < 0)
        return rc;
    calendar_free(w->cal);
    free(w->calendar_path);
    w->cal = cal;
    w->calendar_path = xstrdup(cfg->calendar);
    return 0;
}

/* Log what deadline_alerts did not know yet. */
static int remember(db *d, struct buf a[4], struct err *e)
{
    PGresult *r = NULL;
    const char *p[4];
    int rc;
    for (int i = 0; i < 4; i++) {
        db_array_end(&a[i]);
        p[i] = a[i].data;
    }
    if ((rc = db_exec(d, "remember deadline alerts", SQL_REMEMBER, 4, p, &r, e)) < 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        bool missed = strcmp(PQgetvalue(r, i, 2), "missed") == 0;
        if (missed)
            log_error("deadline missed", KV("decision", PQgetvalue(r, i, 0)),
                      KV("target", PQgetvalue(r, i, 1)), KV("due_on", PQgetvalue(r, i, 3)));
        else
            log_warning("deadline at risk", KV("decision", PQgetvalue(r, i, 0)),
                        KV("target", PQgetvalue(r, i, 1)), KV("due_on", PQgetvalue(r, i, 3)));
    }
    PQclear(r);
    return 0;
}

static int check(deadline_watch *w, db *d, const struct config *cfg, int64_t now_ms,
                 struct err *e)
{
    date_t today = date_cst(now_ms);
    char since[11], until[11], due_s[11];
    struct buf a[4];
    PGresult *r = NULL;
    long at_risk = 0, missed = 0;
    int rc;

    if ((rc = load_calendar(w, cfg, e)) < 0)
        return rc;
    int shortest = 365;
    for (int k = 0; k < KIND_COUNT; k++)
        if (cfg->deadline_days[k] < shortest)
            shortest = cfg->deadline_days[k];
    date_format(today - LOOKBACK_DAYS, since);
    date_format(calendar_add_workdays(w->cal, today, cfg->deadline_warn_before) - shortest, until);
    const char *p[2] = { since, until };
    if ((rc = db_exec(d, "read unpublished deliveries", SQL_OPEN, 2, p, &r, e)) < 0)
        return rc;
    memset(a, 0, sizeof a);
    for (int i = 0; i < PQntuples(r); i++) {
        int k = kind_parse(PQgetvalue(r, i, 2));
        date_t decided;
        if (date_parse(PQgetvalue(r, i, 3), &decided) < 0)
            continue;
        date_t due = calendar_add_workdays(w->cal, decided,
                                           cfg->deadline_days[k < 0 ? KIND_OTHER : k]);
        enum deadline_alert al = deadline_classify(w->cal, due, today, cfg->deadline_warn_before);
        if (al == DEADLINE_OK)
            continue;
        if (al == DEADLINE_MISSED)
            missed++;
        else
            at_risk++;
        date_format(due, due_s);
        db_array_add(&a[0], PQgetvalue(r, i, 0));
        db_array_add(&a[1], PQgetvalue(r, i, 1));
        db_array_add(&a[2], deadline_alert_key(al));
        db_array_add(&a[3], due_s);
    }
    PQclear(r);
    rc = a[0].len ? remember(d, a, e) : 0;
    for (int i = 0; i < 4; i++)
        buf_free(&a[i]);
    if (rc == 0) {
        if (at_risk != w->at_risk || missed != w->missed)
            log_info("deadlines checked", KVI("at_risk", at_risk), KVI("missed", missed));
        w->at_risk = at_risk;
        w->missed = missed;
    }
    return rc;
}

void deadline_watch_tick(deadline_watch **wp, db *d, const struct config *cfg, int64_t now_ms,
                         long *at_risk, long *missed)
{
    struct err e = { 0 };
    if (!*wp) {
        *wp = xcalloc(1, sizeof **wp);
        (*wp)->at_risk = (*wp)->missed = -1;
    }
    deadline_watch *w = *wp;
    int64_t mono = clock_mono_ms();
    if (mono >= w->next_ms && !db_broken(d)) {
        w->next_ms = mono + CHECK_EVERY_MS;
        if (check(w, d, cfg, now_ms, &e) < 0)
            log_warning("cannot check publication deadlines", KV("error", e.msg));
    }
    *at_risk = w->at_risk;
    *missed = w->missed;
}

void deadline_watch_free(deadline_watch *w)
{
    if (!w)
        return;
    calendar_free(w->cal);
    free(w->calendar_path);
    free(w);
}

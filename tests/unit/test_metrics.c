/* Unit tests for src/metrics.c (the text exposition) and the pure
 * deadline rule of src/snapshot.c. */
#include "metrics.h"
#include "snapshot.h"
#include "delivery.h"
#include "lifecycle.h"
#include "tap.h"

#include <json-c/json.h>
#include <regex.h>
#include <string.h>

static char *render(void)
{
    struct buf b = BUF_INIT;
    metrics_render(&b);
    return buf_steal(&b);
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0))
            return 1;
    return 0;
}

#define CHECK_LINE(text, line) do { if (!has_line((text), (line))) \
        TAP_FAIL("no line \"%s\" in:\n%s", (line), (text)); } while (0)

static void fresh(void)
{
    metrics_reset();
    metrics_init("1.2.3", 1764633600500);
}

TEST(process_metrics_always_present)
{
    fresh();
    char *t = render();
    CHECK_LINE(t, "epsync_up 1");
    CHECK_LINE(t, "epsync_build_info{version=\"1.2.3\"} 1");
    CHECK_LINE(t, "process_start_time_seconds 1764633600.500");
    CHECK_LINE(t, "epsync_detected_total 0");
    CHECK_LINE(t, "epsync_audit_events_total 0");
    CHECK_LINE(t, "# TYPE epsync_attempts_total counter");
    CHECK(!strstr(t, "epsync_audit_last_anchor_timestamp_seconds"));   /* no anchor yet */
    CHECK(!strstr(t, "epsync_detect_lag_seconds "));
    CHECK(!strstr(t, "epsync_deliveries{"));                            /* no snapshot yet */
    free(t);
}

TEST(attempts_counted_by_target_op_and_result)
{
    fresh();
    metrics_count_attempt("city", OP_PUBLISH, RES_OK);
    metrics_count_attempt("city", OP_PUBLISH, RES_OK);
    metrics_count_attempt("city", OP_PUBLISH, RES_TRANSIENT);
    metrics_count_attempt("province", OP_WITHDRAW, RES_PERMANENT);
    metrics_count_attempt("city", OP_UPDATE, RES_CANCEL);    /* no request: not an attempt */
    metrics_count_attempt("city", OP_UPDATE, RES_RELEASE);
    char *t = render();
    CHECK_LINE(t, "epsync_attempts_total{target=\"city\",op=\"publish\",result=\"ok\"} 2");
    CHECK_LINE(t, "epsync_attempts_total{target=\"city\",op=\"publish\",result=\"transient\"} 1");
    CHECK_LINE(t, "epsync_attempts_total{target=\"province\",op=\"withdraw\",result=\"rejected\"} 1");
    CHECK(!strstr(t, "op=\"update\""));
    free(t);
}

TEST(histogram_buckets_are_cumulative)
{
    fresh();
    metrics_observe_request("city", 0.003);
    metrics_observe_request("city", 0.2);
    metrics_observe_request("city", 0.25);     /* on the bound: counted in it */
    metrics_observe_request("city", 100);
    char *t = render();
    CHECK_LINE(t, "epsync_request_duration_seconds_bucket{target=\"city\",le=\"0.005\"} 1");
    CHECK_LINE(t, "epsync_request_duration_seconds_bucket{target=\"city\",le=\"0.1\"} 1");
    CHECK_LINE(t, "epsync_request_duration_seconds_bucket{target=\"city\",le=\"0.25\"} 3");
    CHECK_LINE(t, "epsync_request_duration_seconds_bucket{target=\"city\",le=\"30\"} 3");
    CHECK_LINE(t, "epsync_request_duration_seconds_bucket{target=\"city\",le=\"+Inf\"} 4");
    CHECK_LINE(t, "epsync_request_duration_seconds_count{target=\"city\"} 4");
    CHECK_LINE(t, "epsync_request_duration_seconds_sum{target=\"city\"} 100.453000");
    free(t);
}

TEST(label_values_are_escaped)
{
    fresh();
    metrics_count_token_renewal("a\"b\\c\nd");
    char *t = render();
    CHECK_LINE(t, "epsync_token_renewals_total{target=\"a\\\"b\\\\c\\nd\"} 1");
    free(t);
}

TEST(pause_shown_in_metric_and_heartbeat_json)
{
    fresh();
    metrics_set_resumed("city", METRICS_PAUSE_BREAKER);            /* known, not paused */
    metrics_set_paused("province", METRICS_PAUSE_BREAKER, "HTTP 503 \"busy\"");
    metrics_set_paused("province", METRICS_PAUSE_CREDENTIALS, "invalid_client");
    metrics_set_resumed("province", METRICS_PAUSE_BREAKER);        /* still refused */
    char *t = render();
    CHECK_LINE(t, "epsync_target_paused{target=\"city\"} 0");
    CHECK_LINE(t, "epsync_target_paused{target=\"province\"} 1");
    free(t);

    struct buf b = BUF_INIT;
    metrics_pauses_json(&b);
    json_object *o = json_tokener_parse(buf_str(&b)), *p, *v;
    CHECK(o != NULL);
    CHECK(json_object_object_get_ex(o, "province", &p));
    CHECK(json_object_object_get_ex(p, "paused", &v) && json_object_get_boolean(v));
    CHECK(json_object_object_get_ex(p, "reason", &v));
    CHECK_STR(json_object_get_string(v), "credentials refused: invalid_client");
    CHECK(json_object_object_get_ex(o, "city", &p));
    CHECK(json_object_object_get_ex(p, "paused", &v) && !json_object_get_boolean(v));
    json_object_put(o);
    buf_free(&b);

    metrics_set_resumed("province", METRICS_PAUSE_CREDENTIALS);
    t = render();
    CHECK_LINE(t, "epsync_target_paused{target=\"province\"} 0");
    free(t);
}

TEST(snapshot_gauges_for_every_state)
{
    struct snapshot s = { NULL, 0, 0, 0 };
    fresh();
    struct snap_target *c = snapshot_target(&s, "city");
    c->count[0] = 7;          /* pending */
    c->count[3] = 500;        /* published */
    c->oldest_due_s = 12.5;
    c->missed = 2;
    c->at_risk = 3;
    s.daemons_alive = 2;
    s.daemons_dead = 1;
    CHECK(snapshot_target(&s, "city") == c);
    metrics_set_snapshot(&s, 1764633615000);
    snapshot_free(&s);
    char *t = render();
    CHECK_LINE(t, "epsync_snapshot_timestamp_seconds 1764633615.000");
    CHECK_LINE(t, "epsync_deliveries{target=\"city\",state=\"pending\"} 7");
    CHECK_LINE(t, "epsync_deliveries{target=\"city\",state=\"published\"} 500");
    CHECK_LINE(t, "epsync_deliveries{target=\"city\",state=\"cancelled\"} 0");
    CHECK_LINE(t, "epsync_oldest_due_seconds{target=\"city\"} 12.5");
    CHECK_LINE(t, "epsync_deadline_missed{target=\"city\"} 2");
    CHECK_LINE(t, "epsync_deadline_at_risk{target=\"city\"} 3");
    CHECK_LINE(t, "epsync_daemons{state=\"alive\"} 2");
    CHECK_LINE(t, "epsync_daemons{state=\"dead\"} 1");
    free(t);
}

TEST(counters_lag_and_anchor)
{
    fresh();
    metrics_count_detected(5);
    metrics_count_detected(0);
    metrics_count_audit_events(9);
    metrics_set_detect_lag(1.25);
    metrics_set_last_anchor(1764633700);
    char *t = render();
    CHECK_LINE(t, "epsync_detected_total 5");
    CHECK_LINE(t, "epsync_audit_events_total 9");
    CHECK_LINE(t, "epsync_detect_lag_seconds 1.250");
    CHECK_LINE(t, "epsync_audit_last_anchor_timestamp_seconds 1764633700");
    free(t);
}

/* Every line is a comment or NAME{LABELS} VALUE of the exposition format. */
TEST(every_line_follows_the_exposition_format)
{
    regex_t sample, comment;
    struct snapshot s = { NULL, 0, 0, 0 };
    fresh();
    metrics_count_attempt("city", OP_UPDATE, RES_ADOPT);
    metrics_observe_request("province", 0.5);
    snapshot_target(&s, "city");
    metrics_set_snapshot(&s, 1);
    snapshot_free(&s);
    CHECK(regcomp(&sample, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*\\})? "
                  "([-+0-9.eE]+|\\+Inf)$", REG_EXTENDED | REG_NOSUB) == 0);
    CHECK(regcomp(&comment, "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", REG_EXTENDED | REG_NOSUB) == 0);
    char *t = render(), *save = NULL;
    int lines = 0;
    for (char *ln = strtok_r(t, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (regexec(ln[0] == '#' ? &comment : &sample, ln, 0, NULL, 0) != 0)
            TAP_FAIL("not an exposition line: %s", ln);
    }
    CHECK(lines > 40);
    free(t);
    regfree(&sample);
    regfree(&comment);
}

static date_t D(const char *s)
{
    date_t d = DATE_NONE;
    date_parse(s, &d);
    return d;
}

TEST(deadline_missed_at_risk_or_ok)
{
    /* 2026-12-01 is a Tuesday; 7 working days later is Thursday 12-10. */
    static const char *yaml = "2026:\n  holidays: []\n  workdays: []\n";
    struct err e = { 0 };
    calendar *c = NULL;
    CHECK_INT(calendar_parse(&c, yaml, strlen(yaml), "t.yaml", &e), 0);
    CHECK_INT(snapshot_deadline(c, D("2026-12-01"), 7, D("2026-12-08"), 1), DEADLINE_OK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-01"), 7, D("2026-12-09"), 1), DEADLINE_AT_RISK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-01"), 7, D("2026-12-10"), 1), DEADLINE_AT_RISK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-01"), 7, D("2026-12-11"), 1), DEADLINE_MISSED);
    /* Due Monday 12-14: the Friday and the weekend before are one working day away. */
    CHECK_INT(snapshot_deadline(c, D("2026-12-03"), 7, D("2026-12-10"), 1), DEADLINE_OK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-03"), 7, D("2026-12-11"), 1), DEADLINE_AT_RISK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-03"), 7, D("2026-12-13"), 1), DEADLINE_AT_RISK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-03"), 7, D("2026-12-15"), 1), DEADLINE_MISSED);
    calendar_free(c);

    /* A holiday on 12-10 moves the deadline to Friday 12-11. */
    static const char *hol = "2026:\n  holidays: [2026-12-10]\n  workdays: []\n";
    CHECK_INT(calendar_parse(&c, hol, strlen(hol), "t.yaml", &e), 0);
    CHECK_INT(snapshot_deadline(c, D("2026-12-01"), 7, D("2026-12-11"), 1), DEADLINE_AT_RISK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-01"), 7, D("2026-12-09"), 1), DEADLINE_AT_RISK);
    CHECK_INT(snapshot_deadline(c, D("2026-12-01"), 7, D("2026-12-08"), 1), DEADLINE_OK);
    calendar_free(c);
}

int main(void)
{
    RUN(process_metrics_always_present);
    RUN(attempts_counted_by_target_op_and_result);
    RUN(histogram_buckets_are_cumulative);
    RUN(label_values_are_escaped);
    RUN(pause_shown_in_metric_and_heartbeat_json);
    RUN(snapshot_gauges_for_every_state);
    RUN(counters_lag_and_anchor);
    RUN(every_line_follows_the_exposition_format);
    RUN(deadline_missed_at_risk_or_ok);
    metrics_reset();
    return tap_done();
}

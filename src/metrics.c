/* metrics.c - see metrics.h.
 *
 * The registry is one static struct behind one mutex.  Targets are a
 * short array looked up by name (a handful of entries); the attempt
 * counters are a fixed table per target indexed by operation and
 * result.  Rendering copies nothing out: it holds the mutex while it
 * prints into the caller's buffer, which takes microseconds for the few
 * dozen series a deployment has. */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "delivery.h"
#include "delivery.h"
#include "lifecycle.h"

#define NBUCKETS 12
static const double bucket_le[NBUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
#define NOPS 3
#define NRESULTS 6   /* RES_OK .. RES_NOT_FOUND: the kinds that are attempts */
static const char *const result_names[NRESULTS] = {
    "ok", "transient", "rejected", "adopted", "gone", "not_found",
};
_Static_assert(RES_OK == 0 && RES_NOT_FOUND == NRESULTS - 1, "result_names follows enum result_kind");
_Static_assert(OP_PUBLISH == 0 && OP_WITHDRAW == NOPS - 1, "NOPS follows enum op");

struct tgt {
    char name[64];
    unsigned long long attempts[NOPS][NRESULTS];
    unsigned long long hist[NBUCKETS + 1];   /* per bucket, the last is +Inf */
    unsigned long long hcount;
    double hsum;
    unsigned long long renewals;
    unsigned paused;                         /* enum metrics_pause bits */
    char reason[256];
    int64_t paused_since_ms;
};

static struct {
    pthread_mutex_t mu;
    char version[32];
    int64_t start_ms;
    struct tgt *t;
    size_t nt;
    unsigned long long detected, audit;
    double detect_lag;
    bool have_lag;
    int64_t anchor;
    bool have_anchor;
    struct snapshot snap;
    int64_t snap_ms;
    bool have_snap;
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The target's entry (mutex held), added when absent. */
static struct tgt *tgt(const char *name)
{
    for (size_t i = 0; i < reg.nt; i++)
        if (strcmp(reg.t[i].name, name) == 0)
            return &reg.t[i];
    reg.t = xrealloc(reg.t, (reg.nt + 1) * sizeof *reg.t);
    struct tgt *t = &reg.t[reg.nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    return t;
}

void metrics_init(const char *version, int64_t start_wall_ms)
{
    pthread_mutex_lock(&reg.mu);
    snprintf(reg.version, sizeof reg.version, "%s", version);
    reg.start_ms = start_wall_ms;
    pthread_mutex_unlock(&reg.mu);
}

void metrics_reset(void)
{
    pthread_mutex_lock(&reg.mu);
    free(reg.t);
    snapshot_free(&reg.snap);
    reg.t = NULL;
    reg.nt = 0;
    reg.version[0] = 0;
    reg.start_ms = 0;
    reg.detected = reg.audit = 0;
    reg.have_lag = reg.have_anchor = reg.have_snap = false;
    pthread_mutex_unlock(&reg.mu);
}

void metrics_count_attempt(const char *target, int op, int result)
{
    if (op < 0 || op >= NOPS || result < 0 || result >= NRESULTS)
        return;   /* settled without a request, or released: not an attempt */
    pthread_mutex_lock(&reg.mu);
    tgt(target)->attempts[op][result]++;
    pthread_mutex_unlock(&reg.mu);
}

void metrics_observe_request(const char *target, double seconds)
{
    int b = 0;
    while (b < NBUCKETS && seconds > bucket_le[b])
        b++;
    pthread_mutex_lock(&reg.mu);
    struct tgt *t = tgt(target);
    t->hist[b]++;
    t->hcount++;
    t->hsum += seconds;
    pthread_mutex_unlock(&reg.mu);
}

void metrics_count_token_renewal(const char *target)
{
    pthread_mutex_lock(&reg.mu);
    tgt(target)->renewals++;
    pthread_mutex_unlock(&reg.mu);
}

void metrics_count_detected(long n)
{
    pthread_mutex_lock(&reg.mu);
    reg.detected += (unsigned long long)(n > 0 ? n : 0);
    pthread_mutex_unlock(&reg.mu);
}

void metrics_count_audit_events(long n)
{
    pthread_mutex_lock(&reg.mu);
    reg.audit += (unsigned long long)(n > 0 ? n : 0);
    pthread_mutex_unlock(&reg.mu);
}

void metrics_set_detect_lag(double seconds)
{
    pthread_mutex_lock(&reg.mu);
    reg.detect_lag = seconds > 0 ? seconds : 0;
    reg.have_lag = true;
    pthread_mutex_unlock(&reg.mu);
}

void metrics_detect_stored(const char *updated_at)
{
    struct tm tm;
    double frac = 0;
    char rest[16] = "";
    memset(&tm, 0, sizeof tm);
    if (!updated_at || sscanf(updated_at, "%4d-%2d-%2dT%2d:%2d:%2d%15s", &tm.tm_year, &tm.tm_mon,
                              &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, rest) < 6)
        return;
    if (rest[0] == '.')
        frac = atof(rest);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    double at = (double)timegm(&tm) + frac;
    metrics_set_detect_lag((double)clock_wall_ms() / 1000.0 - at);
}

void metrics_set_last_anchor(int64_t unix_s)
{
    pthread_mutex_lock(&reg.mu);
    reg.anchor = unix_s;
    reg.have_anchor = true;
    pthread_mutex_unlock(&reg.mu);
}

void metrics_set_paused(const char *target, enum metrics_pause what, const char *why)
{
    pthread_mutex_lock(&reg.mu);
    struct tgt *t = tgt(target);
    if (!t->paused)
        t->paused_since_ms = clock_wall_ms();
    t->paused |= (unsigned)what;
    snprintf(t->reason, sizeof t->reason, "%s%s",
             what == METRICS_PAUSE_CREDENTIALS ? "credentials refused: " : "breaker open: ",
             why ? why : "");
    pthread_mutex_unlock(&reg.mu);
}

void metrics_set_resumed(const char *target, enum metrics_pause what)
{
    pthread_mutex_lock(&reg.mu);
    struct tgt *t = tgt(target);
    t->paused &= ~(unsigned)what;
    if (!t->paused)
        t->reason[0] = 0;
    pthread_mutex_unlock(&reg.mu);
}

/* A JSON string (the reason is a platform's message: any character). */
static void json_str(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            buf_printf(b, "\\u%04x", *p);
        else
            buf_putc(b, (char)*p);
    }
    buf_putc(b, '"');
}

void metrics_pauses_json(struct buf *out)
{
    pthread_mutex_lock(&reg.mu);
    buf_putc(out, '{');
    for (size_t i = 0; i < reg.nt; i++) {
        const struct tgt *t = &reg.t[i];
        if (i)
            buf_putc(out, ',');
        json_str(out, t->name);
        buf_printf(out, ":{\"paused\":%s,\"reason\":", t->paused ? "true" : "false");
        json_str(out, t->reason);
        buf_printf(out, ",\"since\":%lld}", t->paused ? (long long)(t->paused_since_ms / 1000) : 0LL);
    }
    buf_putc(out, '}');
    pthread_mutex_unlock(&reg.mu);
}

void metrics_set_snapshot(const struct snapshot *s, int64_t taken_ms)
{
    struct snap_target *copy = xmalloc((s->n + 1) * sizeof *copy);
    memcpy(copy, s->t, s->n * sizeof *copy);
    pthread_mutex_lock(&reg.mu);
    free(reg.snap.t);
    reg.snap.t = copy;
    reg.snap.n = s->n;
    reg.snap.daemons_alive = s->daemons_alive;
    reg.snap.daemons_dead = s->daemons_dead;
    reg.snap_ms = taken_ms;
    reg.have_snap = true;
    pthread_mutex_unlock(&reg.mu);
}

/* ------------------------------------------------------------------ */
/* rendering */

/* A label value: backslash, double quote and newline escaped. */
static void label(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *s);
    }
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{target="T"} value (a gauge or counter with only the target label). */
static void by_target(struct buf *b, const char *name, const char *target, double v)
{
    buf_printf(b, "%s{target=\"", name);
    label(b, target);
    buf_printf(b, "\"} %.17g\n", v);
}

static void render_process(struct buf *b)
{
    head(b, "epsync_up", "gauge", "1 while the daemon runs.");
    buf_puts(b, "epsync_up 1\n");
    head(b, "epsync_build_info", "gauge", "The running version, as a label; always 1.");
    buf_puts(b, "epsync_build_info{version=\"");
    label(b, reg.version);
    buf_puts(b, "\"} 1\n");
    head(b, "process_start_time_seconds", "gauge", "Start time of the process since the epoch.");
    buf_printf(b, "process_start_time_seconds %.3f\n", (double)reg.start_ms / 1000.0);
    head(b, "epsync_detected_total", "counter",
         "Decisions stored by this process's change detection (new or changed).");
    buf_printf(b, "epsync_detected_total %llu\n", reg.detected);
    head(b, "epsync_audit_events_total", "counter", "Audit events appended by this process.");
    buf_printf(b, "epsync_audit_events_total %llu\n", reg.audit);
    if (reg.have_lag) {
        head(b, "epsync_detect_lag_seconds", "gauge",
             "Source change to stored, for the newest change this process stored.");
        buf_printf(b, "epsync_detect_lag_seconds %.3f\n", reg.detect_lag);
    }
    if (reg.have_anchor) {
        head(b, "epsync_audit_last_anchor_timestamp_seconds", "gauge",
             "Time of the newest audit anchor.");
        buf_printf(b, "epsync_audit_last_anchor_timestamp_seconds %lld\n", (long long)reg.anchor);
    }
}

static void render_attempts(struct buf *b)
{
    head(b, "epsync_attempts_total", "counter",
         "Deliveries sent by this process, by operation and result.");
    for (size_t i = 0; i < reg.nt; i++)
        for (int op = 0; op < NOPS; op++)
            for (int r = 0; r < NRESULTS; r++) {
                if (!reg.t[i].attempts[op][r])
                    continue;
                buf_puts(b, "epsync_attempts_total{target=\"");
                label(b, reg.t[i].name);
                buf_printf(b, "\",op=\"%s\",result=\"%s\"} %llu\n", op_name((enum op)op),
                           result_names[r], reg.t[i].attempts[op][r]);
            }
}

static void render_histograms(struct buf *b)
{
    head(b, "epsync_request_duration_seconds", "histogram",
         "Duration of this process's requests to the platform (token requests excluded).");
    for (size_t i = 0; i < reg.nt; i++) {
        const struct tgt *t = &reg.t[i];
        unsigned long long cum = 0;
        for (int k = 0; k <= NBUCKETS; k++) {
            cum += t->hist[k];
            buf_puts(b, "epsync_request_duration_seconds_bucket{target=\"");
            label(b, t->name);
            if (k < NBUCKETS)
                buf_printf(b, "\",le=\"%g\"} %llu\n", bucket_le[k], cum);
            else
                buf_printf(b, "\",le=\"+Inf\"} %llu\n", cum);
        }
        buf_puts(b, "epsync_request_duration_seconds_sum{target=\"");
        label(b, t->name);
        buf_printf(b, "\"} %.6f\n", t->hsum);
        buf_puts(b, "epsync_request_duration_seconds_count{target=\"");
        label(b, t->name);
        buf_printf(b, "\"} %llu\n", t->hcount);
    }
    head(b, "epsync_token_renewals_total", "counter", "Access tokens obtained by this process.");
    for (size_t i = 0; i < reg.nt; i++)
        by_target(b, "epsync_token_renewals_total", reg.t[i].name, (double)reg.t[i].renewals);
    head(b, "epsync_target_paused", "gauge",
         "1 while this process holds the target back (breaker open or credentials refused).");
    for (size_t i = 0; i < reg.nt; i++)
        by_target(b, "epsync_target_paused", reg.t[i].name, reg.t[i].paused ? 1 : 0);
}

static void render_snapshot(struct buf *b)
{
    const struct snapshot *s = &reg.snap;
    if (!reg.have_snap)
        return;
    head(b, "epsync_snapshot_timestamp_seconds", "gauge",
         "When the state database's figures below were read.");
    buf_printf(b, "epsync_snapshot_timestamp_seconds %.3f\n", (double)reg.snap_ms / 1000.0);
    head(b, "epsync_deliveries", "gauge", "Deliveries per target and state (state database).");
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < SNAPSHOT_NSTATES; k++) {
            buf_puts(b, "epsync_deliveries{target=\"");
            label(b, s->t[i].name);
            buf_printf(b, "\",state=\"%s\"} %ld\n", snapshot_states[k], s->t[i].count[k]);
        }
    head(b, "epsync_oldest_due_seconds", "gauge",
         "How long the oldest delivery that is due has waited (0: none due).");
    for (size_t i = 0; i < s->n; i++)
        by_target(b, "epsync_oldest_due_seconds", s->t[i].name, s->t[i].oldest_due_s);
    head(b, "epsync_deadline_missed", "gauge",
         "Deliveries still owed a first publication whose deadline has passed.");
    for (size_t i = 0; i < s->n; i++)
        by_target(b, "epsync_deadline_missed", s->t[i].name, (double)s->t[i].missed);
    head(b, "epsync_deadline_at_risk", "gauge",
         "Deliveries still owed a first publication due today or the next working day.");
    for (size_t i = 0; i < s->n; i++)
        by_target(b, "epsync_deadline_at_risk", s->t[i].name, (double)s->t[i].at_risk);
    head(b, "epsync_daemons", "gauge",
         "Daemons on the state database by heartbeat: alive, or dead (stale for 3 intervals).");
    buf_printf(b, "epsync_daemons{state=\"alive\"} %ld\nepsync_daemons{state=\"dead\"} %ld\n",
               s->daemons_alive, s->daemons_dead);
}

void metrics_render(struct buf *out)
{
    pthread_mutex_lock(&reg.mu);
    render_process(out);
    render_attempts(out);
    render_histograms(out);
    render_snapshot(out);
    pthread_mutex_unlock(&reg.mu);
}

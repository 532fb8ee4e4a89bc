/* monitor.c - see monitor.h.
 *
 * The thread sleeps on a condition variable between turns, so that
 * monitor_stop() ends it at once.  A state database that is away is
 * retried at the next turn (said once per streak); the heartbeat and the
 * snapshot are then simply late, which is what they are there to show. */
#include "monitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "calendar.h"
#include "clock.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "snapshot.h"

static const char *SQL_BEAT =
    "INSERT INTO epsync.daemons (owner, host, pid, version, started_at, heartbeat_at, "
    "  interval_s, targets, metrics_listen) "
    "VALUES ($1, $2, $3::integer, $4, to_timestamp($5::float8), now(), $6::integer, $7::jsonb, "
    "  nullif($8, '')) "
    "ON CONFLICT (owner) DO UPDATE SET heartbeat_at = now(), targets = EXCLUDED.targets, "
    "  interval_s = EXCLUDED.interval_s";
/* A daemon on this host whose heartbeat stopped was the one this start
 * replaces (systemd restarted it): its row goes. */
static const char *SQL_REPLACED =
    "DELETE FROM epsync.daemons WHERE host = $1 AND owner <> $2 "
    "  AND heartbeat_at < now() - 3 * interval_s * interval '1 second'";
static const char *SQL_GONE = "DELETE FROM epsync.daemons WHERE owner = $1";

static struct monitor {
    char *conninfo, *owner, *listen;
    char host[256], pid[16], started[32], interval_s[24];
    int64_t interval_ms;
    calendar *cal;
    int deadline_days[KIND_COUNT];
    int warn_before;
    char **names;
    size_t nnames;
    db *db;
    bool db_down;                 /* said so already */
    bool beat_once;
    metrics_http *http;
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
} mon = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static bool connected(void)
{
    struct err e;
    int rc = mon.db ? db_ensure(mon.db, &e) : db_open(&mon.db, mon.conninfo, "state database", &e);
    if (rc < 0) {
        if (!mon.db_down)
            log_warning("heartbeat: state database unavailable, retrying", KV("error", e.msg));
        mon.db_down = true;
        return false;
    }
    mon.db_down = false;
    return true;
}

static void beat(void)
{
    struct buf targets = BUF_INIT;
    struct err e;
    metrics_pauses_json(&targets);
    const char *p[8] = { mon.owner, mon.host, mon.pid, EPSYNC_VERSION, mon.started,
                         mon.interval_s, targets.data, mon.listen };
    const char *rp[2] = { mon.host, mon.owner };
    if ((!mon.beat_once
         && db_exec_lazy(mon.db, "forget replaced daemons", SQL_REPLACED, 2, rp, NULL, &e) < 0)
        || db_exec_lazy(mon.db, "heartbeat", SQL_BEAT, 8, p, NULL, &e) < 0)
        log_warning("heartbeat failed", KV("error", e.msg));
    else
        mon.beat_once = true;
    buf_free(&targets);
}

static void snapshot(void)
{
    struct snapshot s;
    struct err e;
    int64_t now = clock_wall_ms();
    if (snapshot_read(mon.db, mon.cal, mon.deadline_days, mon.warn_before, date_cst(now),
                      (const char *const *)mon.names, mon.nnames, &s, &e) < 0) {
        log_warning("metrics: cannot read the state database's figures", KV("error", e.msg));
        return;
    }
    metrics_set_snapshot(&s, now);
    snapshot_free(&s);
}

static void *run(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "epsync-monitor");
    pthread_mutex_lock(&mon.mu);
    while (!mon.stop) {
        pthread_mutex_unlock(&mon.mu);
        if (connected()) {
            beat();
            if (mon.http)
                snapshot();
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);   /* the condition variable's clock */
        until.tv_sec += mon.interval_ms / 1000;
        until.tv_nsec += (mon.interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&mon.mu);
        while (!mon.stop && pthread_cond_timedwait(&mon.cv, &mon.mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&mon.mu);
    return NULL;
}

static void copy_config(const struct config *cfg, const char *conninfo, const char *owner)
{
    mon.conninfo = xstrdup(conninfo);
    mon.owner = xstrdup(owner);
    mon.listen = xstrdup(cfg->metrics.listen ? cfg->metrics.listen : "");
    mon.interval_ms = cfg->metrics.interval_ms;
    memcpy(mon.deadline_days, cfg->deadline_days, sizeof mon.deadline_days);
    mon.warn_before = cfg->deadline_warn_before;
    mon.names = xcalloc(cfg->ntargets + 1, sizeof *mon.names);
    for (size_t i = 0; i < cfg->ntargets; i++)
        if (cfg->targets[i].enabled) {
            mon.names[mon.nnames++] = xstrdup(cfg->targets[i].name);
            /* Known to the registry from the start: paused 0, not absent. */
            metrics_set_resumed(cfg->targets[i].name, METRICS_PAUSE_BREAKER);
        }
    gethostname(mon.host, sizeof mon.host - 1);
    snprintf(mon.pid, sizeof mon.pid, "%d", (int)getpid());
    snprintf(mon.started, sizeof mon.started, "%.3f", (double)clock_wall_ms() / 1000.0);
    snprintf(mon.interval_s, sizeof mon.interval_s, "%lld",
             (long long)((mon.interval_ms + 999) / 1000));
}

int monitor_start(const struct config *cfg, const char *state_conninfo, const char *owner)
{
    struct err e;
    int rc = EX_FAIL;

    metrics_init(EPSYNC_VERSION, clock_wall_ms());
    copy_config(cfg, state_conninfo, owner);
    mon.stop = false;
    if (mon.listen[0]) {
        if (calendar_load(&mon.cal, cfg->calendar, &e) < 0) {
            log_error("cannot start", KV("error", e.msg));
            rc = EX_CONFIG_;
            goto fail;
        }
        if (metrics_http_start(&mon.http, mon.listen, &e) < 0) {
            log_error("cannot start", KV("error", e.msg));
            goto fail;
        }
        log_info("serving metrics", KV("listen", mon.listen));
    }
    if (pthread_create(&mon.thread, NULL, run, NULL) != 0) {
        log_error("cannot start", KV("error", "cannot create the monitor thread"));
        goto fail;
    }
    mon.running = true;
    return 0;
fail:
    monitor_stop();
    return rc;
}

void monitor_stop(void)
{
    struct err e;
    if (mon.running) {
        pthread_mutex_lock(&mon.mu);
        mon.stop = true;
        pthread_cond_signal(&mon.cv);
        pthread_mutex_unlock(&mon.mu);
        pthread_join(mon.thread, NULL);
        mon.running = false;
    }
    metrics_http_stop(mon.http);
    mon.http = NULL;
    if (mon.db && mon.beat_once && !db_broken(mon.db)) {
        const char *p[1] = { mon.owner };
        if (db_exec(mon.db, "remove the heartbeat", SQL_GONE, 1, p, NULL, &e) < 0)
            log_warning("cannot remove the heartbeat row", KV("error", e.msg));
    }
    db_close(mon.db);
    calendar_free(mon.cal);
    for (size_t i = 0; i < mon.nnames; i++)
        free(mon.names[i]);
    free(mon.names);
    free(mon.conninfo);
    free(mon.owner);
    free(mon.listen);
    mon.db = NULL;
    mon.cal = NULL;
    mon.names = NULL;
    mon.nnames = 0;
    mon.conninfo = mon.owner = mon.listen = NULL;
    mon.beat_once = mon.db_down = false;
}

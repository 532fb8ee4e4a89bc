/* engine.c - see engine.h.
 *
 * All the loop's state lives in struct engine, passed to every step; the
 * only process-wide state is the blocked signal set (read through a
 * signalfd in the loop).  Nothing here blocks except short, batched
 * claim statements: HTTP runs on the curl multi handle, detection and
 * recording run in threads of their own (detector.c, recorder.c), and the
 * loop sleeps in curl_multi_poll() on curl's sockets, the signalfd, the
 * state connection (LISTEN epsync_wake) and the two threads' eventfds
 * until one of them or a timer is due. */
#include "engine.h"
#include "deadline.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "adapter.h"
#include "anchor.h"
#include "audit.h"
#include "backoff.h"
#include "clock.h"
#include "date.h"
#include "db.h"
#include "detector.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "sd_notify.h"
#include "publicity.h"
#include "recorder.h"
#include "sign.h"
#include "queue.h"
#include "target_rt.h"
#include "engine_int.h"

/* ------------------------------------------------------------------ */
/* results */

/* Outcomes go to the recorder in batches (engine_int.h); it commits them on its own
 * connection while the loop goes on sending.  The rows stay leased
 * meanwhile, so nothing acts on an outcome before it is recorded.  When
 * the recorder falls far behind (the database is slow or away), sending
 * pauses. */
static bool flush_due(const struct engine *en, int64_t now)
{
    return en->nres && (en->nres >= FLUSH_MAX || now - en->res_since >= FLUSH_EVERY_MS
                        || en->stopping);
}

/* Hand what is waiting to the recorder. */
static void flush_results(struct engine *en)
{
    if (en->nres == 0)
        return;
    recorder_put(en->rec, en->res, en->nres);
    en->res = NULL;
    en->nres = en->capres = 0;
}

/* Outcomes recorded that left work in the queue (a release, a retry, the
 * next operation of a pair): the targets must claim again.  Outcomes that
 * settled their rows (published, rejected, ...) add nothing claimable, so
 * a target that found its queue empty stays idle: while the detector
 * hands work over, a claim after every recorded batch would find nothing. */
static void take_recorded(struct engine *en)
{
    if (recorder_news(en->rec) == 0)
        return;
    for (size_t i = 0; i < en->ntr; i++)
        en->tr[i].idle = false;
}

/* ------------------------------------------------------------------ */
/* database health, detection, housekeeping */

static const char *SQL_LISTEN_WAKE = "LISTEN epsync_wake";

static int state_listen(struct engine *en, struct err *e)
{
    return db_exec_text(en->state, "LISTEN epsync_wake", SQL_LISTEN_WAKE, e);
}

/* true when the state database is usable now. */
static bool db_healthy(struct engine *en, int64_t now)
{
    struct err e;
    if (!db_broken(en->state))
        return true;
    if (now < en->db_pace.retry_at)
        return false;
    if (db_ensure(en->state, &e) < 0 || state_listen(en, &e) < 0) {
        bool first;
        db_pace_failed(&en->db_pace, now, &first);
        if (first)
            log_error("state database unavailable, retrying", KV("error", e.msg));
        return false;
    }
    log_notice("state database reconnected");
    db_pace_ok(&en->db_pace);
    for (size_t i = 0; i < en->ntr; i++)
        en->tr[i].idle = false;
    return true;
}

/* New decisions stored by the detector: every target has work again. */
static void take_news(struct engine *en)
{
    long n = en->det ? detector_news(en->det) : 0;
    if (!n)
        return;
    en->detected += n;
    metrics_count_detected(n);
    for (size_t i = 0; i < en->ntr; i++)
        en->tr[i].idle = false;
}

/* readable: the connection's socket was readable at the last wait (else
 * only what libpq has already read is looked at, no system call). */
static bool wake_notified(struct engine *en, bool readable)
{
    PGconn *c = db_conn(en->state);
    PGnotify *n;
    bool any = false;
    if (db_broken(en->state) || (readable && !PQconsumeInput(c)))
        return false;
    while ((n = PQnotifies(c))) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

static void expire(struct engine *en, int64_t now)
{
    char today[11];
    struct err e;
    int n;
    if (!en->cfg->publicity.expire || now < en->next_expire || en->stopping)
        return;
    en->next_expire = now + en->cfg->poll.interval_ms;   /* an indexed, usually empty UPDATE */
    date_format(date_cst(clock_wall_ms()), today);
    if (queue_expire(en->state, today, &n, &e) < 0)
        log_error("cannot queue expired withdrawals", KV("error", e.msg));
    else if (n)
        for (size_t i = 0; i < en->ntr; i++)
            en->tr[i].idle = false;
}

static void status(struct engine *en, int64_t now)
{
    char line[256], paused[128] = "";
    struct err e;
    long backlog = -1;

    if (now >= en->next_watchdog && en->watchdog_ms > 0) {
        notify_watchdog();
        en->next_watchdog = now + en->watchdog_ms / 2;
    }
    if (now < en->next_status)
        return;
    en->next_status = now + STATUS_EVERY_MS;
    if (!db_broken(en->state) && queue_backlog(en->state, &backlog, &e) < 0)
        backlog = -1;
    long published = 0;
    for (size_t i = 0; i < en->ntr; i++) {
        published += en->tr[i].published;
        if (en->tr[i].open || en->tr[i].broken)
            snprintf(paused + strlen(paused), sizeof paused - strlen(paused), "%s%s",
                     paused[0] ? "," : "", en->tr[i].t->name);
    }
    if (date_cst(clock_wall_ms()) != en->today)
        en->published_today = 0;
    long at_risk, missed;
    deadline_watch_tick(&en->deadlines, en->state, en->cfg, clock_wall_ms(), &at_risk, &missed);
    snprintf(line, sizeof line, "backlog=%ld published_today=%ld in_flight=%zu paused=%s "
             "at_risk=%ld missed=%ld", backlog, en->published_today, http_in_flight(en->http),
             paused[0] ? paused : "none", at_risk, missed);
    notify_status(line);
    if (now >= en->next_summary) {
        en->next_summary = now + SUMMARY_EVERY_MS;
        log_info("summary", KVI("backlog", backlog), KVI("published", published),
                 KVI("attempts", en->attempts), KVI("detected", en->detected),
                 KV("paused", paused[0] ? paused : "none"), KVI("at_risk", at_risk),
                 KVI("missed", missed));
    }
}

/* ------------------------------------------------------------------ */
/* signals and reload */

static int signals_open(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void signals_read(struct engine *en)
{
    struct signalfd_siginfo si;
    while (read(en->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP)
            en->reload = true;
        else if (!en->stopping) {
            en->stopping = true;
            en->stop_deadline = clock_mono_ms() + STOP_GRACE_MS;
            if (en->det)
                detector_stop_soon(en->det);   /* its page ends while requests finish */
            notify_stopping();
            log_notice("stopping", KVI("in_flight", http_in_flight(en->http)));
        }
    }
}

static void do_reload(struct engine *en)
{
    struct config *cfg = NULL;
    struct trt *tr = NULL;
    size_t n = 0;
    struct err e;
    struct timespec ts;

    en->reload = false;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    notify_reloading((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    if (config_load(&cfg, en->config_path, &e) < 0) {
        log_error("reload refused, keeping the running configuration", KV("error", e.msg),
                  LOG_ACTION_NEEDED);
        notify_ready();
        return;
    }
    /* In-flight requests point at the old targets: finish them first.
     * Reloads are rare; a short wait keeps ownership simple. */
    int64_t until = clock_mono_ms() + STOP_GRACE_MS;
    while (http_in_flight(en->http) > 0 && clock_mono_ms() < until) {
        struct err we;
        http_wait(en->http, 100, NULL, 0, &we);
        engine_collect(en);
    }
    if (http_in_flight(en->http) > 0) {
        http_abandon_all(en->http);
        engine_collect(en);
    }
    flush_results(en);
    if (trt_build(en->tr, en->ntr, cfg, &tr, &n, &e) < 0) {
        log_error("reload refused, keeping the running configuration", KV("error", e.msg),
                  LOG_ACTION_NEEDED);
        config_free(cfg);
        notify_ready();
        return;
    }
    for (size_t i = 0; i < en->ntr; i++) {
        /* Deliveries waiting to be resent go back to the database. */
        for (size_t k = 0; k < en->tr[i].nready; k++) {
            struct result *r = engine_result_new(en, &en->tr[i].ready[k]);
            r->kind = RES_RELEASE;
        }
        trt_clear(&en->tr[i]);
    }
    free(en->tr);
    en->tr = tr;
    en->ntr = n;
    if (en->det)
        detector_set_config(en->det, cfg);   /* before the old configuration goes */
    config_free(en->cfg);
    en->cfg = cfg;
    log_set_level((enum log_level)cfg->log.level);
    flush_results(en);
    log_notice("configuration reloaded", KVI("targets", n));
    notify_ready();
}

/* ------------------------------------------------------------------ */

static int next_timeout(struct engine *en, int64_t now)
{
    int64_t t = 60000;
    struct err e;
    bool busy = false, any_idle = false;

    if (en->stopping)
        return 100;
    for (size_t i = 0; i < en->ntr; i++) {
        struct trt *tr = &en->tr[i];
        bool held = tr->broken || tr->auth_in_flight || now < tr->wait_until
                    || (tr->open && now < tr->open_until)
                    || tr->in_flight >= tr->t->max_in_flight
                    || (tr->t->rate_per_s > 0 && tr->tokens < 1);
        if (!held && (tr->nready || !tr->idle))
            busy = true;
        any_idle |= tr->idle && !tr->broken;
        if (tr->open && now < tr->open_until && tr->open_until - now < t)
            t = tr->open_until - now;
        if (now < tr->wait_until && tr->wait_until - now < t)
            t = tr->wait_until - now;
        if (tr->t->rate_per_s > 0 && tr->tokens < 1)
            t = t < 50 ? t : 50;
    }
    if (en->nres) {   /* outcomes waiting for the database */
        int64_t f = en->res_since + FLUSH_EVERY_MS - now;
        t = t < f ? t : f;
    }
    bool quiet = !busy && http_in_flight(en->http) == 0 && !recorder_pending(en->rec);
    if (quiet || !any_idle)
        en->idle_look = 0;
    else if (!en->idle_look)
        en->idle_look = now + IDLE_LOOK_MS;
    if (en->idle_look && en->idle_look - now < t)
        t = en->idle_look - now;
    if (db_broken(en->state))
        t = en->db_pace.retry_at - now;
    else if (quiet) {
        /* The look for the next retry (over the whole queue) is for when
         * nothing else goes on; meanwhile idle targets look again every
         * IDLE_LOOK_MS. */
        int64_t due;
        if (queue_next_due_ms(en->state, &due, &e) == 0 && due >= 0 && due < t) {
            t = due + 5;
            en->next_due = now + t;   /* idle targets must claim again then */
        }
    } else if (http_in_flight(en->http) == 0) {
        /* Work to send now, unless sending waits for the recorder: its
         * descriptor says when a batch is recorded (signalled after its
         * count went down; the short look is only a safety net), so the
         * loop does not spin meanwhile. */
        if (busy && recorder_pending(en->rec) < RECORD_BACKLOG_MAX)
            t = 0;
        else if (t > RECORDER_LOOK_MS)
            t = RECORDER_LOOK_MS;
    }
    if (en->watchdog_ms > 0 && en->next_watchdog - now < t)
        t = en->next_watchdog - now;
    if (en->next_status - now < t)
        t = en->next_status - now;
    if (t < 0)
        t = 0;
    if (t > 60000)
        t = 60000;
    return (int)t;
}

static bool once_finished(struct engine *en)
{
    if (en->det && !detector_done(en->det))
        return false;
    take_news(en);   /* what the pass stored last */
    if (http_in_flight(en->http) || en->nres || recorder_pending(en->rec))
        return false;
    for (size_t i = 0; i < en->ntr; i++)
        if (en->det && detector_waiting(en->det, en->tr[i].t->name))
            en->tr[i].idle = false;   /* handed-over work: the check below waits for it */
    for (size_t i = 0; i < en->ntr; i++)
        if (en->tr[i].nready || (!en->tr[i].idle && !en->tr[i].broken
                                 && !(en->tr[i].open && clock_mono_ms() < en->tr[i].open_until)))
            return false;
    return true;
}

/* The descriptors the loop waits on besides curl's: after a wait, only
 * those that were readable are read (each read is a system call, and the
 * loop turns once per answer or more). */
enum { WAIT_SIG = 1, WAIT_STATE = 2, WAIT_DETECTOR = 4, WAIT_RECORDER = 8, WAIT_ALL = 15 };

static unsigned waited_ready(const struct curl_waitfd *fds, const unsigned *what, unsigned nfds)
{
    unsigned ready = 0;
    for (unsigned i = 0; i < nfds; i++)
        if (fds[i].revents)
            ready |= what[i];
    return ready;
}

static void loop(struct engine *en)
{
    unsigned ready = WAIT_ALL;     /* the first turn looks at everything */

    for (;;) {
        int64_t now = clock_mono_ms();
        struct curl_waitfd fds[4];
        unsigned what[4], nfds = 0;
        struct err e;
        bool notified = false;

        if (ready & WAIT_SIG)
            signals_read(en);
        if (en->reload && !en->stopping)
            do_reload(en);
        if (en->stopping && (http_in_flight(en->http) == 0 || now >= en->stop_deadline)) {
            if (http_in_flight(en->http)) {
                log_warning("abandoning in-flight requests", KVI("count", http_in_flight(en->http)));
                http_abandon_all(en->http);
                engine_collect(en);
            }
            break;
        }
        if (ready & WAIT_DETECTOR)
            take_news(en);
        if (ready & WAIT_RECORDER)
            take_recorded(en);
        if (flush_due(en, now))
            flush_results(en);
        if (db_healthy(en, now)) {
            notified = wake_notified(en, ready & WAIT_STATE);
            /* Idle targets look again when the next row falls due (found
             * while nothing went on) or every IDLE_LOOK_MS while work goes
             * on: no outcome or change need end their idleness. */
            bool due = en->next_due && now >= en->next_due;
            if (due)
                en->next_due = 0;
            if (en->idle_look && now >= en->idle_look) {
                en->idle_look = 0;    /* set again while work goes on */
                due = true;
            }
            if (notified || due)
                for (size_t i = 0; i < en->ntr; i++)
                    en->tr[i].idle = false;
            expire(en, now);
            for (size_t i = 0; i < en->ntr; i++)
                engine_dispatch(en, &en->tr[i]);
            if (flush_due(en, clock_mono_ms()))
                flush_results(en);   /* e.g. settled without a request */
        }
        status(en, now);
        anchor_tick(en->anchor, en->state, now, false);
        if (en->once && !en->stopping && once_finished(en))
            break;

        what[nfds] = WAIT_SIG;
        fds[nfds++] = (struct curl_waitfd){ .fd = en->sigfd, .events = CURL_WAIT_POLLIN };
        if (!db_broken(en->state)) {
            what[nfds] = WAIT_STATE;
            fds[nfds++] = (struct curl_waitfd){ .fd = PQsocket(db_conn(en->state)),
                                                .events = CURL_WAIT_POLLIN };
        }
        if (en->det) {
            what[nfds] = WAIT_DETECTOR;
            fds[nfds++] = (struct curl_waitfd){ .fd = detector_fd(en->det), .events = CURL_WAIT_POLLIN };
        }
        what[nfds] = WAIT_RECORDER;
        fds[nfds++] = (struct curl_waitfd){ .fd = recorder_fd(en->rec), .events = CURL_WAIT_POLLIN };
        for (unsigned i = 0; i < nfds; i++)
            fds[i].revents = 0;
        if (http_wait(en->http, next_timeout(en, clock_mono_ms()), fds, nfds, &e) < 0) {
            log_error("waiting failed", KV("error", e.msg));
            ready = WAIT_ALL;
        } else {
            ready = waited_ready(fds, what, nfds);
        }
        engine_collect(en);
    }
}

static void make_owner(char *out, size_t n)
{
    char host[64] = "host", rnd[9] = "0";
    gethostname(host, sizeof host - 1);
    sign_random_hex(rnd, 8);
    snprintf(out, n, "%s:%d:%s", host, (int)getpid(), rnd);
}

static const char *state_conninfo(const struct config *cfg)
{
    return cfg->database.state && *cfg->database.state ? cfg->database.state
                                                       : cfg->database.source;
}

static int startup(struct engine *en, struct err *e)
{
    int rc;
    struct db_pace pace = { 0, 0 };

    /* The daemon waits for its database; `once` reports it unavailable. */
    for (;;) {
        rc = db_open(&en->state, state_conninfo(en->cfg), "state database", e);
        if (rc == 0)
            break;
        if (en->once)
            return EX_UNAVAILABLE_;
        log_error("state database unavailable, retrying", KV("error", e->msg));
        notify_waiting("the state database", e->msg);   /* READY=1 once connected */
        db_close(en->state);
        en->state = NULL;
        struct pollfd sig = { .fd = en->sigfd, .events = POLLIN };   /* SIGTERM ends the wait */
        poll(&sig, 1, (int)db_pace_failed(&pace, clock_mono_ms(), NULL));
        signals_read(en);
        if (en->stopping)
            return 0;
    }
    if ((rc = db_check_schema(en->state, e)) < 0)
        return EX_UNAVAILABLE_;
    if (anchor_open(&en->anchor, en->cfg, e) < 0)
        return EX_CONFIG_;
    audit_warn_privileges(en->state);
    if ((rc = state_listen(en, e)) < 0)
        return EX_UNAVAILABLE_;
    if (detector_open(&en->det, en->cfg, state_conninfo(en->cfg), en->owner, en->once, e) < 0) {
        log_error("source database unavailable, retrying", KV("error", e->msg));
        if (en->once)
            return EX_UNAVAILABLE_;
    }
    if (recorder_open(&en->rec, state_conninfo(en->cfg), en->owner, e) < 0)
        log_error("state database unavailable, retrying", KV("error", e->msg));
    if ((rc = http_new(&en->http, e)) < 0)
        return EX_FAIL;
    if (trt_build(NULL, 0, en->cfg, &en->tr, &en->ntr, e) < 0)
        return EX_CONFIG_;
    return 0;
}

int engine_main(struct config *cfg, const char *config_path, bool once)
{
    struct engine en;
    struct err e;
    int rc;

    memset(&en, 0, sizeof en);
    en.cfg = cfg;
    en.config_path = config_path;
    en.once = once;
    make_owner(en.owner, sizeof en.owner);
    en.sigfd = signals_open();
    notify_open();
    en.watchdog_ms = notify_watchdog_usec() / 1000;

    if ((rc = startup(&en, &e)) != 0) {
        if (!en.stopping) {
            log_error(rc == EX_UNAVAILABLE_ ? "database or schema unavailable" : "cannot start",
                      KV("error", e.msg), LOG_ACTION_NEEDED);
            notify_status(e.msg);
        }
        goto out;
    }
    if (en.stopping)
        goto out;
    log_info(once ? "cycle started" : "started", KV("version", EPSYNC_VERSION),
             KVI("targets", en.ntr), KV("owner", en.owner));
    if (en.det && detector_start(en.det, &e) < 0) {
        log_error("cannot start", KV("error", e.msg));
        rc = EX_FAIL;
        goto out;
    }
    if (!once && (rc = monitor_start(en.cfg, state_conninfo(en.cfg), en.owner)) != 0)
        goto out;
    notify_ready();
    loop(&en);
    detector_close(en.det);   /* stop detecting before the leases go */
    en.det = NULL;
    flush_results(&en);
    /* What is left to record gets what is left of the grace period and
     * STOP_RECORD_MS more (at least half a second); `once` waits longer. */
    int64_t wait = once ? 30000 : en.stop_deadline + STOP_RECORD_MS - clock_mono_ms();
    size_t unrecorded = recorder_close(en.rec, wait < 500 ? 500 : wait);
    en.rec = NULL;
    if (unrecorded)
        log_error("outcomes not recorded; the platform's idempotency keys make the resend safe",
                  KVI("count", unrecorded));
    if (!db_broken(en.state) && queue_release(en.state, en.owner, &e) < 0)
        log_warning("cannot release leases; they expire on their own", KV("error", e.msg));
    anchor_tick(en.anchor, en.state, clock_mono_ms(), true);
    rc = 0;
    if (once) {
        int64_t due = -1;
        if (queue_next_due_ms(en.state, &due, &e) < 0 || due == 0)
            rc = 1;
        log_info("cycle finished", KVI("attempts", en.attempts), KVI("detected", en.detected),
                 KV("left_due_now", rc ? "yes" : "no"));
    } else
        log_notice("stopped");
out:
    for (size_t i = 0; i < en.nres; i++)
        result_clear(&en.res[i]);
    free(en.res);
    for (size_t i = 0; i < en.ntr; i++)
        trt_clear(&en.tr[i]);
    free(en.tr);
    http_free(en.http);
    monitor_stop();
    deadline_watch_free(en.deadlines);
    detector_close(en.det);
    recorder_close(en.rec, 0);
    anchor_close(en.anchor);
    db_close(en.state);
    if (en.sigfd >= 0)
        close(en.sigfd);
    config_free(en.cfg);
    return rc;
}

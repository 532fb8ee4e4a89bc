/* detector.c - see detector.h.
 *
 * The thread's loop: wait until a poll is due (the poll interval, a
 * notification on the source's notify_channel, or a request from the
 * loop's thread on wakefd), then run source_poll() until the pass is
 * finished, going straight on while it says there is more.  Everything
 * the thread touches besides this struct's atomics is its own: the two
 * connections and the source's scan position.  The configuration is read
 * only, and swapped only while the thread is stopped. */
#include "detector.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "db.h"
#include "log.h"
#include "source.h"

#include <json-c/json.h>

#define HANDOFF_MAX 1000              /* deliveries waiting per target */
#define HANDOFF_BYTES (1 << 20)       /* bytes of fields waiting per target */

/* A delivery handed over, as text until the loop takes it. */
struct handed {
    char *decision_id;
    int kind;
    char *revision;
    struct fieldset *fields;         /* shared with the decision's other targets */
    size_t bytes;
    char due_on[11];
    int64_t lease_token;
    int64_t lease_until;             /* monotonic ms */
};

/* One target's queue (a ring would save a memmove; the queue is short). */
struct handq {
    char *target;
    struct handed *h;
    size_t n, cap, bytes;
};

struct detector {
    const struct config *cfg;
    bool once;
    db *state;                   /* holds the detector lock */
    source *src;
    pthread_t thread;
    bool running;
    int wakefd;                  /* loop -> thread: stop */
    int newsfd;                  /* thread -> loop: something was stored, or done */
    atomic_bool stop;
    atomic_bool done;            /* once: the pass is over */
    atomic_long changed;         /* stored since the loop last asked */
    /* handed-over deliveries, per target */
    pthread_mutex_t mu;
    struct handq *q;
    size_t nq;
    char *owner;
    int64_t lease_ms;
    /* the thread's own */
    int64_t next_poll, next_reconcile;
    struct db_pace db_pace;      /* reconnects of the state connection */
    bool source_down_logged;
};

static void say(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_debug("cannot signal an eventfd", KV("error", strerror(errno)));
}

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
}

/* The first poll after a start reconciles only when the last reconcile
 * (by any process) is older than reconcile_every. */
static bool reconcile_due(detector *d)
{
    PGresult *r = NULL;
    char every[32];
    struct err e;
    bool due = true;

    snprintf(every, sizeof every, "%lld milliseconds", (long long)d->cfg->poll.reconcile_every_ms);
    const char *p[2] = { d->cfg->database.source_relation, every };
    if (db_exec(d->state, "read the last reconcile",
                "SELECT last_reconcile_at IS NULL OR last_reconcile_at < now() - $2::interval "
                "FROM epsync.watermarks WHERE relation = $1",
                2, p, &r, &e) == 0) {
        if (PQntuples(r) == 1)
            due = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
    }
    return due;
}

/* The state connection, reconnected with backoff; false while it is down. */
static bool state_usable(detector *d, int64_t now)
{
    struct err e;
    if (!db_broken(d->state))
        return true;
    if (now < d->db_pace.retry_at)
        return false;
    if (db_ensure(d->state, &e) < 0) {
        bool first;
        db_pace_failed(&d->db_pace, now, &first);
        if (first)
            log_error("change detection paused: state database unavailable, retrying",
                      KV("error", e.msg));
        return false;
    }
    if (db_pace_ok(&d->db_pace))
        log_notice("change detection resumed");
    return true;
}

/* One step: a bounded part of a pass.  Returns how long to wait before
 * the next step (0: at once). */
static int64_t step(detector *d, bool notified)
{
    int64_t now = clock_mono_ms(), interval = d->cfg->poll.interval_ms;
    struct source_stats st;
    struct err e;

    if (!state_usable(d, now)) {
        if (d->once)
            atomic_store(&d->done, true);
        return d->db_pace.retry_at - now;
    }
    if (now < d->next_poll && !notified)
        return d->next_poll - now;
    d->next_poll = now + interval;
    if (source_ensure(d->src, &e) < 0) {
        if (!d->source_down_logged)
            log_error("source database unavailable, retrying", KV("error", e.msg));
        d->source_down_logged = true;
        if (d->once)
            atomic_store(&d->done, true);
        return interval;
    }
    d->source_down_logged = false;
    if (!source_try_lock(d->src, &e)) {
        if (d->once)
            atomic_store(&d->done, true);   /* another process detects */
        return interval;
    }
    bool reconcile = now >= d->next_reconcile;
    if (reconcile && d->next_reconcile == 0)
        reconcile = reconcile_due(d);
    int more = source_poll(d->src, reconcile, clock_wall_ms(), &st, &e);
    if (more < 0) {
        log_error("change detection failed, will retry", KV("error", e.msg));
        if (d->once)
            atomic_store(&d->done, true);
        return interval;
    }
    if (d->next_reconcile == 0 || st.reconciled)
        d->next_reconcile = now + d->cfg->poll.reconcile_every_ms;
    if (st.reconciled)
        log_info("reconcile finished", KVI("missing", st.missing));
    if (st.changed) {
        log_debug("changes detected", KVI("scanned", st.scanned), KVI("changed", st.changed),
                  KVI("invalid", st.invalid));
        atomic_fetch_add(&d->changed, st.changed);
        say(d->newsfd);
    }
    if (more) {
        d->next_poll = 0;
        return 0;
    }
    if (d->once) {
        atomic_store(&d->done, true);
        say(d->newsfd);
    }
    return interval;
}

static void *run(void *arg)
{
    detector *d = arg;
    bool notified = false;

    pthread_setname_np(pthread_self(), "epsync-detect");   /* top -H, ps -L */
    while (!atomic_load(&d->stop) && !(d->once && atomic_load(&d->done))) {
        int64_t wait = step(d, notified);
        notified = false;
        if (wait <= 0 || atomic_load(&d->stop))
            continue;
        struct pollfd fds[2] = { { .fd = d->wakefd, .events = POLLIN },
                                 { .fd = source_fd(d->src), .events = POLLIN } };
        int n = poll(fds, fds[1].fd >= 0 ? 2 : 1, wait > 60000 ? 60000 : (int)wait);
        if (n > 0 && (fds[0].revents & POLLIN))
            drain(d->wakefd);
        if (n > 0 && fds[1].fd >= 0 && fds[1].revents)
            notified = source_notified(d->src);
    }
    if (d->once) {
        atomic_store(&d->done, true);
        say(d->newsfd);
    }
    return NULL;
}

/* The queue of target (created on first use); call with mu held. */
static struct handq *queue_of(detector *d, const char *target)
{
    for (size_t i = 0; i < d->nq; i++)
        if (strcmp(d->q[i].target, target) == 0)
            return &d->q[i];
    d->q = xrealloc(d->q, (d->nq + 1) * sizeof *d->q);
    memset(&d->q[d->nq], 0, sizeof *d->q);
    d->q[d->nq].target = xstrdup(target);
    return &d->q[d->nq++];
}

static void handed_clear(struct handed *h)
{
    free(h->decision_id);
    free(h->revision);
    fieldset_drop(h->fields);
}

static void hand_room(void *ctx, const char *target, size_t *count, size_t *bytes)
{
    detector *d = ctx;
    pthread_mutex_lock(&d->mu);
    struct handq *q = queue_of(d, target);
    *count = q->n < HANDOFF_MAX ? HANDOFF_MAX - q->n : 0;
    *bytes = q->bytes < HANDOFF_BYTES ? HANDOFF_BYTES - q->bytes : 0;
    pthread_mutex_unlock(&d->mu);
}

/* Where h goes in q: the queue is in deadline order (the earliest due_on
 * first, "" last), first come first within a day. */
static size_t hand_position(const struct handq *q, const struct handed *h)
{
    size_t lo = 0, hi = q->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = q->h[mid].due_on;
        bool after = !*h->due_on ? true : !*m ? false : strcmp(m, h->due_on) <= 0;
        if (after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void hand_take(void *ctx, const struct handed_work *w, size_t n)
{
    detector *d = ctx;
    struct fieldset *fs = NULL;
    size_t fs_bytes = 0;

    pthread_mutex_lock(&d->mu);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || w[i].fields != w[i - 1].fields) {
            /* the targets of one decision come one after the other, with
             * the same text: they share one set */
            unsigned users = 1;
            while (i + users < n && w[i + users].fields == w[i].fields)
                users++;
            fs = fieldset_new(w[i].fields, users);
            fs_bytes = strlen(w[i].fields);
        }
        struct handed h = {
            .decision_id = xstrdup(w[i].decision_id), .kind = w[i].kind,
            .revision = xstrdup(w[i].revision), .fields = fs,
            .bytes = fs_bytes, .lease_token = w[i].lease_token,
            .lease_until = w[i].lease_until,
        };
        snprintf(h.due_on, sizeof h.due_on, "%s", w[i].due_on);
        struct handq *q = queue_of(d, w[i].target);
        if (q->n == q->cap) {
            q->cap = q->cap ? q->cap * 2 : 64;
            q->h = xrealloc(q->h, q->cap * sizeof *q->h);
        }
        size_t at = hand_position(q, &h);
        memmove(q->h + at + 1, q->h + at, (q->n - at) * sizeof *q->h);
        q->h[at] = h;
        q->n++;
        q->bytes += h.bytes;
    }
    pthread_mutex_unlock(&d->mu);
}

size_t detector_take(detector *d, const char *target, size_t max, struct delivery **out)
{
    struct handed *got;
    size_t n, kept = 0;
    int64_t now = clock_mono_ms();

    pthread_mutex_lock(&d->mu);
    struct handq *q = queue_of(d, target);
    n = q->n < max ? q->n : max;
    if (n == 0) {
        pthread_mutex_unlock(&d->mu);
        return 0;
    }
    got = xmalloc(n * sizeof *got);
    memcpy(got, q->h, n * sizeof *got);
    memmove(q->h, q->h + n, (q->n - n) * sizeof *q->h);
    q->n -= n;
    for (size_t i = 0; i < n; i++)
        q->bytes -= got[i].bytes;
    pthread_mutex_unlock(&d->mu);

    for (size_t i = 0; i < n; i++) {
        struct handed *h = &got[i];
        /* A lease that has surely ended: the row may be another process's
         * already.  (One running low is released by the sender.) */
        if (h->lease_until <= now) {
            handed_clear(h);
            continue;
        }
        struct delivery *dv = delivery_new(h->decision_id, target, h->kind, OP_PUBLISH,
                                           h->revision, 1);
        dv->shared = h->fields;        /* taken over */
        free(h->decision_id);
        free(h->revision);
        dv->lease_token = h->lease_token;
        dv->lease_until = h->lease_until;
        memcpy(dv->due_on, h->due_on, sizeof dv->due_on);
        out[kept++] = dv;
    }
    free(got);
    return kept;
}

size_t detector_waiting(detector *d, const char *target)
{
    pthread_mutex_lock(&d->mu);
    size_t n = queue_of(d, target)->n;
    pthread_mutex_unlock(&d->mu);
    return n;
}

int detector_open(detector **out, const struct config *cfg, const char *state_conninfo,
                  const char *owner, bool once, struct err *e)
{
    detector *d = xcalloc(1, sizeof *d);
    int rc;

    d->cfg = cfg;
    d->once = once;
    d->owner = xstrdup(owner);
    d->lease_ms = cfg->delivery.lease_ms;
    pthread_mutex_init(&d->mu, NULL);
    d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    d->newsfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    *out = d;
    if (d->wakefd < 0 || d->newsfd < 0)
        return err_set(e, -errno, "eventfd: %s", strerror(errno));
    /* Both handles exist even when a connection failed: the thread
     * reconnects them. */
    rc = db_open(&d->state, state_conninfo, "state database", e);
    if (rc < 0) {
        struct err ignored;
        source_open(&d->src, cfg, d->state, &ignored);
    } else
        rc = source_open(&d->src, cfg, d->state, e);
    struct source_handoff h = { .owner = d->owner, .lease_ms = d->lease_ms, .room = hand_room,
                                .take = hand_take, .ctx = d };
    source_set_handoff(d->src, &h);
    return rc;
}

int detector_start(detector *d, struct err *e)
{
    int rc;
    if (d->running)
        return 0;
    atomic_store(&d->stop, false);
    if ((rc = pthread_create(&d->thread, NULL, run, d)) != 0)
        return err_set(e, -rc, "cannot start the change detector: %s", strerror(rc));
    d->running = true;
    return 0;
}

static void halt(detector *d)
{
    if (!d->running)
        return;
    atomic_store(&d->stop, true);
    say(d->wakefd);
    pthread_join(d->thread, NULL);
    d->running = false;
}

void detector_stop_soon(detector *d)
{
    atomic_store(&d->stop, true);
    say(d->wakefd);
}

void detector_set_config(detector *d, const struct config *cfg)
{
    struct err e;
    bool was_running = d->running;

    halt(d);
    d->cfg = cfg;
    source_set_config(d->src, cfg);
    pthread_mutex_lock(&d->mu);
    d->lease_ms = cfg->delivery.lease_ms;
    pthread_mutex_unlock(&d->mu);
    struct source_handoff h = { .owner = d->owner, .lease_ms = d->lease_ms, .room = hand_room,
                                .take = hand_take, .ctx = d };
    source_set_handoff(d->src, &h);
    if (was_running && detector_start(d, &e) < 0)
        log_error("change detection stopped", KV("error", e.msg));
}

void detector_close(detector *d)
{
    if (!d)
        return;
    halt(d);
    source_free(d->src);
    db_close(d->state);
    if (d->wakefd >= 0)
        close(d->wakefd);
    if (d->newsfd >= 0)
        close(d->newsfd);
    for (size_t i = 0; i < d->nq; i++) {
        for (size_t k = 0; k < d->q[i].n; k++)
            handed_clear(&d->q[i].h[k]);
        free(d->q[i].h);
        free(d->q[i].target);
    }
    free(d->q);
    pthread_mutex_destroy(&d->mu);
    free(d->owner);
    free(d);
}

int detector_fd(const detector *d)
{
    return d->newsfd;
}

long detector_news(detector *d)
{
    drain(d->newsfd);
    return atomic_exchange(&d->changed, 0);
}

bool detector_done(const detector *d)
{
    return atomic_load(&d->done);
}

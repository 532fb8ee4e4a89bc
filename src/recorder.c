/* recorder.c - see recorder.h.
 *
 * One mutex guards the queue; the thread takes everything waiting (up to
 * RECORD_MAX results) into one transaction, so the faster the loop hands
 * results over, the larger and fewer the commits.  A batch that cannot be
 * recorded goes back to the front of the queue and is tried again after
 * a backoff. */
#include "recorder.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "db.h"
#include "lifecycle.h"
#include "log.h"

#define RECORD_MAX 1024              /* results per transaction */

struct recorder {
    db *state;
    char *owner;
    pthread_t thread;
    bool running;
    int newsfd;                      /* thread -> loop: something was recorded */
    pthread_mutex_t mu;
    pthread_cond_t work;             /* results arrived, or stop */
    pthread_cond_t done;             /* a batch was recorded */
    struct result *q;                /* handed over, not yet taken */
    size_t nq, capq;
    size_t busy;                     /* taken by the thread, being recorded */
    size_t requeued;                 /* outcomes that left work in the queue, since
                                        the last recorder_news() */
    bool stop;
};

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void recorder_log_result(const struct result *r)
{
    static const char *const done_msg[] = {
        [OP_PUBLISH] = "published", [OP_UPDATE] = "updated", [OP_WITHDRAW] = "withdrawn",
    };
    if (r->lease_lost) {
        if (r->kind != RES_RELEASE)
            log_warning("lease lost, outcome not recorded", KV("decision", r->decision_id),
                        KV("target", r->target), KV("op", op_name(r->op)));
        return;
    }
    switch (r->kind) {
    case RES_OK:
    case RES_GONE:
        log_info(done_msg[r->op], KV("decision", r->decision_id), KV("target", r->target),
                 KV("receipt", r->receipt), KVI("attempt", r->attempt), KVI("ms", r->latency_ms));
        break;
    case RES_ADOPT:
        log_info("already published, receipt adopted", KV("decision", r->decision_id),
                 KV("target", r->target), KV("receipt", r->receipt));
        break;
    case RES_NOT_FOUND:
        log_warning("platform lost the publication, publishing again",
                    KV("decision", r->decision_id), KV("target", r->target));
        break;
    case RES_TRANSIENT:
        log_warning("delivery failed, will retry", KV("decision", r->decision_id),
                    KV("target", r->target), KV("op", op_name(r->op)), KVI("attempt", r->attempt),
                    KVI("http", r->http_status), KV("code", r->code), KV("reason", r->message),
                    KVI("retry_in_ms", r->delay_ms));
        break;
    case RES_PERMANENT:
        log_error("delivery rejected", KV("decision", r->decision_id), KV("target", r->target),
                  KV("op", op_name(r->op)), KVI("http", r->http_status), KV("code", r->code),
                  KV("reason", r->message), LOG_ACTION_NEEDED);
        break;
    case RES_CANCEL:
        log_info("cancelled before publication", KV("decision", r->decision_id),
                 KV("target", r->target));
        break;
    default:
        break;
    }
}

/* Record one batch on the thread's connection; 0 when committed. */
static int record(recorder *r, struct result *res, size_t n, struct err *e)
{
    int rc;
    if ((rc = db_ensure(r->state, e)) < 0)
        return rc;
    return queue_record(r->state, r->owner, res, n, e);
}

static void *run(void *arg)
{
    recorder *r = arg;
    struct db_pace pace = { 0, 0 };

    pthread_setname_np(pthread_self(), "epsync-record");   /* top -H, ps -L */
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        if (r->nq == 0) {
            pthread_cond_wait(&r->work, &r->mu);
            continue;
        }
        size_t n = r->nq < RECORD_MAX ? r->nq : RECORD_MAX;
        struct result *batch = xmalloc(n * sizeof *batch);
        memcpy(batch, r->q, n * sizeof *batch);
        memmove(r->q, r->q + n, (r->nq - n) * sizeof *r->q);
        r->nq -= n;
        r->busy = n;
        pthread_mutex_unlock(&r->mu);

        struct err e;
        size_t requeued = 0;
        int rc = record(r, batch, n, &e);
        if (rc == 0) {
            if (db_pace_ok(&pace))
                log_notice("outcomes recorded again");
            for (size_t i = 0; i < n; i++) {
                if (!batch[i].lease_lost && lc_state_active(lc_state_parse(batch[i].new_state)))
                    requeued++;
                recorder_log_result(&batch[i]);
                result_clear(&batch[i]);
            }
            free(batch);
        }
        pthread_mutex_lock(&r->mu);
        r->busy = 0;
        if (rc == 0 && r->nq == 0 && r->capq > 2 * RECORD_MAX) {
            free(r->q);   /* a backlog is over: give its room back */
            r->q = NULL;
            r->capq = 0;
        }
        if (rc == 0) {
            r->requeued += requeued;
            pthread_cond_broadcast(&r->done);
            /* Signalled once the count is down: a loop woken by it sees
             * the batch gone from recorder_pending(). */
            uint64_t one = 1;
            if (write(r->newsfd, &one, sizeof one) < 0 && errno != EAGAIN)
                log_debug("cannot signal an eventfd", KV("error", strerror(errno)));
            continue;
        }
        /* Keep them, in order, and try again later. */
        if (r->nq + n > r->capq) {
            r->capq = r->nq + n;
            r->q = xrealloc(r->q, r->capq * sizeof *r->q);
        }
        memmove(r->q + n, r->q, r->nq * sizeof *r->q);
        memcpy(r->q, batch, n * sizeof *batch);
        r->nq += n;
        free(batch);
        bool first;
        int64_t wait = db_pace_failed(&pace, clock_mono_ms(), &first);
        if (first)
            log_error("cannot record outcomes, will retry", KV("error", e.msg),
                      KVI("pending", r->nq));
        struct timespec ts;
        deadline_in(&ts, wait);
        while (!r->stop && pthread_cond_timedwait(&r->work, &r->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int recorder_open(recorder **out, const char *state_conninfo, const char *owner, struct err *e)
{
    recorder *r = xcalloc(1, sizeof *r);
    int rc;

    r->owner = xstrdup(owner);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->work, NULL);
    pthread_cond_init(&r->done, NULL);
    *out = r;
    if ((r->newsfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return err_set(e, -errno, "eventfd: %s", strerror(errno));
    rc = db_open(&r->state, state_conninfo, "state database", e);
    int trc = pthread_create(&r->thread, NULL, run, r);
    if (trc != 0)
        return err_set(e, -trc, "cannot start the recorder: %s", strerror(trc));
    r->running = true;
    return rc;
}

void recorder_put(recorder *r, struct result *res, size_t n)
{
    if (n == 0) {
        free(res);
        return;
    }
    pthread_mutex_lock(&r->mu);
    if (r->nq + n > r->capq) {
        r->capq = (r->nq + n) * 2;
        r->q = xrealloc(r->q, r->capq * sizeof *r->q);
    }
    memcpy(r->q + r->nq, res, n * sizeof *res);
    r->nq += n;
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->mu);
    free(res);
}

size_t recorder_pending(recorder *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->nq + r->busy;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int recorder_fd(const recorder *r)
{
    return r->newsfd;
}

size_t recorder_news(recorder *r)
{
    uint64_t v;
    while (read(r->newsfd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
    pthread_mutex_lock(&r->mu);
    size_t n = r->requeued;
    r->requeued = 0;
    pthread_mutex_unlock(&r->mu);
    return n;
}

size_t recorder_close(recorder *r, int64_t wait_ms)
{
    size_t left = 0;
    if (!r)
        return 0;
    if (r->running) {
        struct timespec ts;
        deadline_in(&ts, wait_ms > 0 ? wait_ms : 0);
        pthread_mutex_lock(&r->mu);
        while (r->nq + r->busy > 0 && pthread_cond_timedwait(&r->done, &r->mu, &ts) != ETIMEDOUT)
            ;
        r->stop = true;
        pthread_cond_broadcast(&r->work);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    left = r->nq;
    for (size_t i = 0; i < r->nq; i++)
        result_clear(&r->q[i]);
    free(r->q);
    db_close(r->state);
    if (r->newsfd >= 0)
        close(r->newsfd);
    pthread_cond_destroy(&r->work);
    pthread_cond_destroy(&r->done);
    pthread_mutex_destroy(&r->mu);
    free(r->owner);
    free(r);
    return left;
}

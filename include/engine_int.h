/* engine_int.h - the daemon's loop state, shared by engine.c (the loop,
 * signals, reload, housekeeping) and engine_send.c (claims to requests,
 * answers to outcomes).  Not for other modules. */
#ifndef EPSYNC_ENGINE_INT_H
#define EPSYNC_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "anchor.h"
#include "config.h"
#include "date.h"
#include "deadline.h"
#include "db.h"
#include "detector.h"
#include "http.h"
#include "queue.h"
#include "recorder.h"
#include "target_rt.h"

#define HANDED_TURNS 4               /* handed-over batches before the queue gets a turn */
#define REAUTH_MAX 5                 /* renewed tokens refused in a row before 401 is a failure */
#define STOP_GRACE_MS 9000           /* SIGTERM: finish in-flight requests within this, */
#define STOP_RECORD_MS 1000          /* then record their outcomes: exit within 10 s */
#define STATUS_EVERY_MS 10000
#define SUMMARY_EVERY_MS (10 * 60 * 1000)

/* Outcomes go to the recorder in batches; it commits them on its own
 * connection while the loop goes on sending.  The rows stay leased
 * meanwhile, so nothing acts on an outcome before it is recorded.  When
 * the recorder falls far behind (the database is slow or away), sending
 * pauses. */
#define FLUSH_MAX 512
#define FLUSH_EVERY_MS 20
#define RECORD_BACKLOG_MAX 3072
/* While nothing is in flight and the recorder works, the loop looks again
 * this often (its descriptor wakes the loop earlier). */
#define RECORDER_LOOK_MS 5
/* How often a target whose adapter said "not yet" (a paused token request)
 * is asked again. */
#define ADAPTER_WAIT_LOOK_MS 250
/* While work goes on (answers in flight, outcomes being recorded), a target
 * that found its queue empty looks at it again this often: a retry may
 * fall due, another process's lease run out, and the outcomes recorded
 * here wake it only when they leave work (recorder_news). */
#define IDLE_LOOK_MS 1000

struct reqctx {
    struct trt *tr;
    bool auth;
    struct claim *claims;            /* owned */
    size_t n;
    char request_id[37];
    char body_sha256[65];
};

struct engine {
    struct config *cfg;
    const char *config_path;
    bool once;
    char owner[96];
    db *state;
    detector *det;                   /* change detection, in a thread of its own */
    recorder *rec;                   /* records outcomes, in a thread of its own */
    anchor *anchor;                  /* signs the audit chain head (anchor.h) */
    http *http;
    struct trt *tr;
    size_t ntr;
    int sigfd;
    bool stopping;
    int64_t stop_deadline;
    bool reload;
    /* results waiting to be recorded */
    struct result *res;
    size_t nres, capres;
    int64_t res_since;               /* when the oldest of them arrived (monotonic ms) */
    /* timers (monotonic ms) */
    int64_t next_status, next_summary, next_expire, next_watchdog;
    struct db_pace db_pace;          /* reconnects of the loop's state connection */
    int64_t next_due;                /* earliest retry when every target went idle, 0: none */
    int64_t idle_look;               /* idle targets look again then while work goes on
                                        (IDLE_LOOK_MS), 0: none */
    int64_t watchdog_ms;
    long detected, attempts;
    date_t today;                    /* CST day of published_today */
    long published_today;            /* by this process */
    deadline_watch *deadlines;       /* deadline warnings (deadline.c) */
};

/* A uniform random number in [0, 1) (jitter). */
double engine_rand01(void);
/* A new outcome of claim c, waiting to be handed to the recorder. */
struct result *engine_result_new(struct engine *en, const struct claim *c);
/* Send what tr may send now: waiting, handed-over or claimed deliveries. */
void engine_dispatch(struct engine *en, struct trt *tr);
/* Turn the answers that arrived into outcomes. */
void engine_collect(struct engine *en);

#endif

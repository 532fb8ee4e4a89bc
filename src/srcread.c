/* srcread.c - see srcread.h. */
#include "srcread.h"

#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

struct srcread {
    db *src;
    int64_t opened_ms;       /* monotonic */
    int64_t cost_ms;         /* opening and the first fetch; -1 before it */
    long long rows;
};

int srcread_open(srcread **out, db *src, const char *select_sql, int nparams,
                 const char *const *params, struct err *e)
{
    struct buf sql = BUF_INIT;
    int rc;

    int64_t t0 = clock_mono_ms();
    *out = NULL;
    if ((rc = db_exec(src, "open the source read",
                      "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, NULL, e)) < 0)
        return rc;
    buf_printf(&sql, "DECLARE epsync_read NO SCROLL CURSOR FOR %s", select_sql);
    rc = db_exec(src, "open the source read", sql.data, nparams, params, NULL, e);
    buf_free(&sql);
    if (rc < 0) {
        db_rollback(src);
        return rc;
    }
    srcread *r = xcalloc(1, sizeof *r);
    r->src = src;
    r->opened_ms = t0;
    r->cost_ms = -1;
    *out = r;
    return 0;
}

int srcread_fetch(srcread *r, int n, PGresult **res, struct err *e)
{
    char sql[64];
    int rc;

    snprintf(sql, sizeof sql, "FETCH FORWARD %d FROM epsync_read", n);
    if ((rc = db_exec(r->src, "read the source", sql, 0, NULL, res, e)) == 0)
        r->rows += PQntuples(*res);
    if (r->cost_ms < 0)
        r->cost_ms = clock_mono_ms() - r->opened_ms;
    return rc;
}

static int64_t age_ms(const srcread *r)
{
    return clock_mono_ms() - r->opened_ms;
}

bool srcread_due(const srcread *r)
{
    int64_t hold = r->cost_ms < 0 ? SRCREAD_HOLD_MS : r->cost_ms * SRCREAD_COST_FACTOR;
    hold = hold < SRCREAD_MIN_MS ? SRCREAD_MIN_MS : hold > SRCREAD_HOLD_MS ? SRCREAD_HOLD_MS : hold;
    return age_ms(r) >= hold;
}

void srcread_close(srcread *r)
{
    if (!r)
        return;
    db_rollback(r->src);    /* read only: nothing to keep */
    log_info("source read transaction ended", KVI("held_ms", age_ms(r)),
             KVI("cost_ms", r->cost_ms), KVI("rows", r->rows));
    free(r);
}

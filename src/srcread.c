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
    long long rows;
};

int srcread_open(srcread **out, db *src, const char *select_sql, int nparams,
                 const char *const *params, struct err *e)
{
    struct buf sql = BUF_INIT;
    int rc;

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
    r->opened_ms = clock_mono_ms();
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
    return rc;
}

int64_t srcread_age_ms(const srcread *r)
{
    return clock_mono_ms() - r->opened_ms;
}

void srcread_close(srcread *r)
{
    if (!r)
        return;
    db_rollback(r->src);    /* read only: nothing to keep */
    log_info("source read transaction ended", KVI("held_ms", srcread_age_ms(r)),
             KVI("rows", r->rows));
    free(r);
}

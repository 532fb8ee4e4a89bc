/* Unit tests for src/buf.c and src/err.c. */
#include "buf.h"
#include "err.h"
#include "tap.h"

#include <stdlib.h>

TEST(buf_grows_and_stays_terminated)
{
    struct buf b = BUF_INIT;
    CHECK_STR(buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i % 10);
    CHECK_INT(b.len, 2000);
    CHECK_INT(b.data[b.len], 0);
    buf_reset(&b);
    buf_puts(&b, "x");
    CHECK_STR(buf_str(&b), "x");
    char *s = buf_steal(&b);
    CHECK_STR(s, "x");
    CHECK(b.data == NULL);
    free(s);
}

TEST(err_wrap_prefixes_context)
{
    struct err e;
    CHECK_INT(err_set(&e, -5, "inner %d", 1), -5);
    err_wrap(&e, "outer");
    CHECK_STR(e.msg, "outer: inner 1");
    CHECK_INT(e.code, -5);
}

int main(void)
{
    RUN(buf_grows_and_stays_terminated);
    RUN(err_wrap_prefixes_context);
    return tap_done();
}

/* tap.h - a minimal TAP producer for the unit tests.
 *
 *   TEST(adds_two) { CHECK_INT(1 + 1, 2); }
 *   int main(void) { RUN(adds_two); return tap_done(); }
 *
 * Each RUN is one test point ("ok 3 - adds_two"); a failed CHECK prints
 * the file, line and both values as a TAP diagnostic and marks the point
 * failed, and the test goes on to its end. */
#ifndef EPSYNC_TAP_H
#define EPSYNC_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed, tap_cur_failed;

#define TEST(name) static void name(void)

static inline void tap_run(const char *name, void (*fn)(void))
{
    tap_cur_failed = 0;
    fn();
    tap_n++;
    if (tap_cur_failed)
        tap_failed++;
    printf("%sok %d - %s\n", tap_cur_failed ? "not " : "", tap_n, name);
    fflush(stdout);
}
#define RUN(name) tap_run(#name, name)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#define TAP_FAIL(...) do { \
        printf("# %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); \
        tap_cur_failed = 1; } while (0)

#define CHECK(cond) do { if (!(cond)) TAP_FAIL("CHECK(%s) failed", #cond); } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
        if (a_ != b_) TAP_FAIL("%s == %lld, expected %lld", #a, a_, b_); } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) \
            TAP_FAIL("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
    } while (0)

#endif

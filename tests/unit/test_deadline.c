/* Unit tests for the pure part of src/deadline.c: when an unpublished
 * decision is at risk, and when its deadline is missed. */
#include "deadline.h"
#include "tap.h"
#include "cal2026.h"

#include <stdlib.h>
#include <string.h>

static date_t D(const char *s)
{
    date_t d = DATE_NONE;
    if (date_parse(s, &d) < 0)
        abort();
    return d;
}


TEST(one_working_day_before_the_deadline_is_at_risk)
{
    calendar *c = cal2026();
    date_t due = D("2026-10-12");    /* Monday; Saturday 10 October works */
    CHECK_INT(deadline_classify(c, due, D("2026-10-08"), 1), DEADLINE_OK);
    CHECK_INT(deadline_classify(c, due, D("2026-10-09"), 1), DEADLINE_OK);
    CHECK_INT(deadline_classify(c, due, D("2026-10-10"), 1), DEADLINE_AT_RISK);
    CHECK_INT(deadline_classify(c, due, D("2026-10-11"), 1), DEADLINE_AT_RISK);
    CHECK_INT(deadline_classify(c, due, D("2026-10-12"), 1), DEADLINE_AT_RISK);
    CHECK_INT(deadline_classify(c, due, D("2026-10-13"), 1), DEADLINE_MISSED);
    calendar_free(c);
}

TEST(warn_before_counts_working_days_over_holidays)
{
    calendar *c = cal2026();
    date_t due = D("2026-10-09");    /* Friday after National Day */
    /* two working days before the 9th: 30 September (8 October is the first) */
    CHECK_INT(deadline_classify(c, due, D("2026-10-08"), 2), DEADLINE_AT_RISK);
    CHECK_INT(deadline_classify(c, due, D("2026-09-30"), 2), DEADLINE_AT_RISK);
    CHECK_INT(deadline_classify(c, due, D("2026-09-29"), 2), DEADLINE_OK);
    /* 0: the due day only */
    CHECK_INT(deadline_classify(c, due, D("2026-10-08"), 0), DEADLINE_OK);
    CHECK_INT(deadline_classify(c, due, D("2026-10-09"), 0), DEADLINE_AT_RISK);
    CHECK_STR(deadline_alert_key(DEADLINE_MISSED), "missed");
    CHECK_STR(deadline_alert_key(DEADLINE_AT_RISK), "at_risk");
    calendar_free(c);
}

int main(void)
{
    RUN(one_working_day_before_the_deadline_is_at_risk);
    RUN(warn_before_counts_working_days_over_holidays);
    return tap_done();
}

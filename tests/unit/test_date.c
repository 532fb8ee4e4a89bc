/* Unit tests for src/date.c. */
#include "date.h"
#include "tap.h"

#include <stdint.h>

TEST(epoch_is_day_zero)
{
    CHECK_INT(date_from_ymd(1970, 1, 1), 0);
    CHECK_INT(date_from_ymd(1969, 12, 31), -1);
    CHECK_INT(date_from_ymd(2000, 3, 1), 11017);
    /* 2026-09-30: 20726 days after the epoch (date -d 2026-09-30 +%s / 86400). */
    CHECK_INT(date_from_ymd(2026, 9, 30), 20726);
}

TEST(round_trip_over_many_years)
{
    date_t prev = date_from_ymd(1899, 12, 31);
    int bad = 0;
    for (int y = 1900; y <= 2400; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= 31; d++) {
                static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
                int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
                int dim = len[m - 1] + (m == 2 && leap);
                if (d > dim)
                    continue;
                date_t t = date_from_ymd(y, m, d);
                int yy, mm, dd;
                date_to_ymd(t, &yy, &mm, &dd);
                if (t != prev + 1 || yy != y || mm != m || dd != d)
                    bad++;
                prev = t;
            }
    CHECK_INT(bad, 0);
}

TEST(parse_is_strict)
{
    date_t t = 0;
    CHECK_INT(date_parse("2026-02-28", &t), 0);
    CHECK_INT(t, date_from_ymd(2026, 2, 28));
    CHECK_INT(date_parse("2024-02-29", &t), 0);
    CHECK_INT(date_parse("2026-02-29", &t), -1);   /* not a leap year */
    CHECK_INT(date_parse("1900-02-29", &t), -1);
    CHECK_INT(date_parse("2000-02-29", &t), 0);
    CHECK_INT(date_parse("2026-04-31", &t), -1);
    CHECK_INT(date_parse("2026-13-01", &t), -1);
    CHECK_INT(date_parse("2026-00-10", &t), -1);
    CHECK_INT(date_parse("2026-01-00", &t), -1);
    CHECK_INT(date_parse("2026-1-01", &t), -1);
    CHECK_INT(date_parse("2026/01/01", &t), -1);
    CHECK_INT(date_parse("2026-01-01 ", &t), -1);
    CHECK_INT(date_parse("2026-01-0a", &t), -1);
    CHECK_INT(date_parse("", &t), -1);
    CHECK_INT(date_parse(NULL, &t), -1);
}

TEST(format_pads)
{
    char s[11];
    date_format(date_from_ymd(2026, 1, 4), s);
    CHECK_STR(s, "2026-01-04");
    date_format(date_from_ymd(999, 12, 31), s);
    CHECK_STR(s, "0999-12-31");
}

TEST(weekday_monday_is_zero)
{
    CHECK_INT(date_weekday(0), 3);                            /* Thu 1970-01-01 */
    CHECK_INT(date_weekday(date_from_ymd(2026, 9, 30)), 2);   /* Wednesday */
    CHECK_INT(date_weekday(date_from_ymd(2026, 10, 10)), 5);  /* Saturday */
    CHECK_INT(date_weekday(date_from_ymd(2026, 10, 11)), 6);  /* Sunday */
    CHECK_INT(date_weekday(date_from_ymd(2026, 10, 12)), 0);  /* Monday */
    CHECK_INT(date_weekday(date_from_ymd(1969, 12, 29)), 0);  /* Monday before the epoch */
}

TEST(add_months_clamps)
{
    char s[11];
    date_format(date_add_months(date_from_ymd(2026, 1, 31), 1), s);
    CHECK_STR(s, "2026-02-28");
    date_format(date_add_months(date_from_ymd(2024, 1, 31), 1), s);
    CHECK_STR(s, "2024-02-29");
    date_format(date_add_months(date_from_ymd(2026, 11, 30), 3), s);
    CHECK_STR(s, "2027-02-28");
    date_format(date_add_months(date_from_ymd(2026, 1, 15), 36), s);
    CHECK_STR(s, "2029-01-15");
    date_format(date_add_months(date_from_ymd(2026, 3, 31), -1), s);
    CHECK_STR(s, "2026-02-28");
    date_format(date_add_months(date_from_ymd(2026, 1, 10), -13), s);
    CHECK_STR(s, "2024-12-10");
    date_format(date_add_months(date_from_ymd(2024, 2, 29), 12), s);
    CHECK_STR(s, "2025-02-28");
}

TEST(cst_day_changes_at_16_utc)
{
    /* 2026-09-30T15:59:59.999Z is 23:59:59.999 in Beijing; one ms later
     * is 2026-10-01 there. 1790783999999 = date -u -d 2026-09-30T15:59:59 +%s, ×1000 + 999. */
    int64_t ms = 1790783999999LL;
    CHECK_INT(date_cst(ms), date_from_ymd(2026, 9, 30));
    CHECK_INT(date_cst(ms + 1), date_from_ymd(2026, 10, 1));
    CHECK_INT(date_cst(0), 0);
    CHECK_INT(date_cst(-8LL * 3600 * 1000), 0);
    CHECK_INT(date_cst(-8LL * 3600 * 1000 - 1), -1);
}

int main(void)
{
    RUN(epoch_is_day_zero);
    RUN(round_trip_over_many_years);
    RUN(parse_is_strict);
    RUN(format_pads);
    RUN(weekday_monday_is_zero);
    RUN(add_months_clamps);
    RUN(cst_day_changes_at_16_utc);
    return tap_done();
}

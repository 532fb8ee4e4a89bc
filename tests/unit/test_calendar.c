/* Unit tests for src/calendar.c. */
#include "calendar.h"
#include "tap.h"

#include <string.h>

static date_t D(const char *s)
{
    date_t d = DATE_NONE;
    date_parse(s, &d);
    return d;
}

static const char *fmt(date_t d)
{
    static char s[11];
    date_format(d, s);
    return s;
}

static calendar *shipped(void)
{
    struct err e = { 0 };
    calendar *c = NULL;
    int rc = calendar_load(&c, EPSYNC_SOURCE_ROOT "/conf/holidays.yaml", &e);
    if (rc != 0)
        TAP_FAIL("calendar_load: %s", e.msg);
    return c;
}

static calendar *parse(const char *text, struct err *e)
{
    calendar *c = NULL;
    memset(e, 0, sizeof *e);
    calendar_parse(&c, text, strlen(text), "test.yaml", e);
    return c;
}

TEST(shipped_file_covers_2025_and_2026)
{
    calendar *c = shipped();
    CHECK(c != NULL);
    CHECK(calendar_covers(c, 2025));
    CHECK(calendar_covers(c, 2026));
    CHECK(!calendar_covers(c, 2024));
    CHECK(!calendar_covers(c, 2027));
    calendar_free(c);
}

TEST(domain_example_national_day_2026)
{
    calendar *c = shipped();
    /* Wednesday 2026-09-30; 1-7 October are holidays; Saturday 10 October
     * is a make-up working day. */
    CHECK_STR(fmt(calendar_add_workdays(c, D("2026-09-30"), 7)), "2026-10-15");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2026-09-30"), 3)), "2026-10-10");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2026-09-30"), 1)), "2026-10-08");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2026-09-30"), 0)), "2026-09-30");
    calendar_free(c);
}

/* Across the year boundary with the shipped data: Wednesday 2025-12-31;
 * 1-3 January 2026 are 元旦 holidays; Sunday 4 January is a make-up
 * working day (2026's entry), then Monday 5 - Friday 9, and Monday 12. */
TEST(deadline_across_the_year_boundary)
{
    calendar *c = shipped();
    CHECK(calendar_is_workday(c, D("2025-12-31")));
    CHECK(!calendar_is_workday(c, D("2026-01-01")));
    CHECK(!calendar_is_workday(c, D("2026-01-03")));
    CHECK(calendar_is_workday(c, D("2026-01-04")));      /* a Sunday */
    CHECK_STR(fmt(calendar_add_workdays(c, D("2025-12-31"), 1)), "2026-01-04");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2025-12-31"), 2)), "2026-01-05");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2025-12-31"), 6)), "2026-01-09");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2025-12-31"), 7)), "2026-01-12");
    /* From the last working Friday of 2025: 31 December is the first. */
    CHECK_STR(fmt(calendar_add_workdays(c, D("2025-12-26"), 3)), "2025-12-31");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2025-12-26"), 4)), "2026-01-04");
    /* A decision on the holiday itself counts from the next working day. */
    CHECK_STR(fmt(calendar_add_workdays(c, D("2026-01-01"), 1)), "2026-01-04");
    /* Without the make-up Sunday (a weekends-only calendar) it would be later. */
    CHECK_STR(fmt(calendar_add_workdays(NULL, D("2025-12-31"), 7)), "2026-01-09");
    calendar_free(c);
}

TEST(shipped_days_have_the_right_status)
{
    calendar *c = shipped();
    /* Every day of the official notices, counted: ranges expanded. */
    static const char *holidays_2025[] = { "2025-01-01", "2025-01-28", "2025-02-04", "2025-04-04",
        "2025-04-06", "2025-05-01", "2025-05-05", "2025-05-31", "2025-06-02", "2025-10-01",
        "2025-10-08" };
    static const char *workdays[] = { "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28",
        "2025-10-11", "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20",
        "2026-10-10" };
    static const char *holidays_2026[] = { "2026-01-01", "2026-01-02", "2026-01-03",
        "2026-02-15", "2026-02-23", "2026-04-06", "2026-05-01", "2026-05-05", "2026-06-19",
        "2026-09-25", "2026-10-01", "2026-10-07" };
    for (size_t i = 0; i < sizeof holidays_2025 / sizeof *holidays_2025; i++)
        if (calendar_is_workday(c, D(holidays_2025[i])))
            TAP_FAIL("%s should be a holiday", holidays_2025[i]);
    for (size_t i = 0; i < sizeof holidays_2026 / sizeof *holidays_2026; i++)
        if (calendar_is_workday(c, D(holidays_2026[i])))
            TAP_FAIL("%s should be a holiday", holidays_2026[i]);
    for (size_t i = 0; i < sizeof workdays / sizeof *workdays; i++)
        if (!calendar_is_workday(c, D(workdays[i])))
            TAP_FAIL("%s should be a working day", workdays[i]);
    /* Working days in October 2026: 22 weekdays − 5 holidays + Sat 10th = 18. */
    int n = 0;
    for (date_t d = D("2026-10-01"); d <= D("2026-10-31"); d++)
        n += calendar_is_workday(c, d);
    CHECK_INT(n, 18);
    /* A whole year: 2026 has 261 weekdays; its holidays fall on a weekday
     * 19 times (Jan 1-2, Feb 16-20 and 23, Apr 6, May 1, 4-5, Jun 19,
     * Sep 25, Oct 1-2 and 5-7), and 6 weekend days are make-up days. */
    int wd = 0, hol_weekdays = 0;
    for (date_t d = D("2026-01-01"); d <= D("2026-12-31"); d++) {
        wd += calendar_is_workday(c, d);
        hol_weekdays += date_weekday(d) < 5 && !calendar_is_workday(c, d);
    }
    CHECK_INT(hol_weekdays, 19);
    CHECK_INT(wd, 261 - 19 + 6);
    calendar_free(c);
}

TEST(uncovered_year_counts_weekends_only)
{
    calendar *c = shipped();
    /* 2027-10-01 is a Friday; without a 2027 schedule it is a working day. */
    CHECK(calendar_is_workday(c, D("2027-10-01")));
    CHECK(!calendar_is_workday(c, D("2027-10-02")));
    CHECK_STR(fmt(calendar_add_workdays(c, D("2027-09-30"), 7)), "2027-10-11");
    CHECK_STR(fmt(calendar_add_workdays(c, D("2027-12-31"), 1)), "2028-01-03");
    calendar_free(c);
    /* No calendar at all: the same rule. */
    CHECK_STR(fmt(calendar_add_workdays(NULL, D("2026-09-30"), 7)), "2026-10-09");
}

TEST(deadline_crosses_into_an_uncovered_year)
{
    calendar *c = shipped();
    /* Thu 2026-12-31 + 20 working days: 2027 has no schedule, so
     * 1 January 2027 (a Friday) counts. */
    CHECK_STR(fmt(calendar_add_workdays(c, D("2026-12-31"), 20)), "2027-01-28");
    calendar_free(c);
}

TEST(empty_document_is_an_empty_calendar)
{
    struct err e;
    calendar *c = parse("# nothing yet\n", &e);
    CHECK(c != NULL);
    CHECK(!calendar_covers(c, 2026));
    calendar_free(c);
    c = parse("2030:\n  holidays: []\n  workdays:\n", &e);
    CHECK(c != NULL);
    CHECK(calendar_covers(c, 2030));
    calendar_free(c);
}

static void expect_error(const char *text, const char *msg)
{
    struct err e;
    calendar *c = parse(text, &e);
    if (c) {
        TAP_FAIL("accepted: %s", text);
        calendar_free(c);
        return;
    }
    CHECK_STR(e.msg, msg);
}

TEST(errors_name_file_line_column)
{
    expect_error("2026:\n  holidays: [2026-01-01, 2026-02-30]\n",
                 "test.yaml:2:26: 2026-02-30: expected a date YYYY-MM-DD");
    expect_error("2026:\n  holidays:\n    - 2025-12-31\n",
                 "test.yaml:3:7: 2025-12-31 is not in year 2026");
    expect_error("2026:\n  workdays: [2026-10-09]\n",
                 "test.yaml:2:14: 2026-10-09 is a weekday, not a weekend working day");
    expect_error("2026:\n  holiday: [2026-10-01]\n",
                 "test.yaml:2:3: unknown key holiday (expected holidays or workdays)");
    expect_error("2026:\n  holidays: [2026-10-10]\n  workdays: [2026-10-10]\n",
                 "test.yaml:3:14: 2026-10-10 is listed both as a holiday and as a working day");
    expect_error("26:\n  holidays: []\n", "test.yaml:1:1: 26: expected a year (4 digits)");
    expect_error("2026:\n  holidays: []\n2026:\n  holidays: []\n",
                 "test.yaml:3:1: year 2026 appears twice");
    expect_error("2026: [2026-01-01]\n",
                 "test.yaml:1:7: year 2026: expected holidays: and workdays: lists");
    expect_error("2026:\n  holidays: 2026-01-01\n",
                 "test.yaml:2:13: holidays: expected a list of dates");
    expect_error("- 2026\n", "test.yaml:1:1: expected a mapping of years");
    /* A syntax error comes from libyaml, with its position. */
    struct err e;
    calendar *c = parse("2026:\n  holidays: [2026-01-01\n", &e);
    CHECK(c == NULL);
    CHECK(strncmp(e.msg, "test.yaml:3:1: ", 15) == 0);
}

TEST(missing_file_is_named)
{
    struct err e = { 0 };
    calendar *c = (calendar *)1;
    CHECK(calendar_load(&c, "/nonexistent/holidays.yaml", &e) < 0);
    CHECK(c == NULL);
    CHECK(strstr(e.msg, "/nonexistent/holidays.yaml") != NULL);
}

int main(void)
{
    RUN(shipped_file_covers_2025_and_2026);
    RUN(domain_example_national_day_2026);
    RUN(deadline_across_the_year_boundary);
    RUN(shipped_days_have_the_right_status);
    RUN(uncovered_year_counts_weekends_only);
    RUN(deadline_crosses_into_an_uncovered_year);
    RUN(empty_document_is_an_empty_calendar);
    RUN(errors_name_file_line_column);
    RUN(missing_file_is_named);
    return tap_done();
}

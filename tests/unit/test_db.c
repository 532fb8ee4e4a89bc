/* Unit tests for the pure part of src/db.c: reconnect pacing. */
#include "db.h"
#include "tap.h"

TEST(pace_doubles_from_half_a_second_to_thirty)
{
    struct db_pace p = { 0, 0 };
    bool first = false;
    CHECK_INT(db_pace_failed(&p, 1000, &first), 500);
    CHECK(first);
    CHECK_INT(p.retry_at, 1500);
    CHECK_INT(db_pace_failed(&p, 2000, &first), 1000);
    CHECK(!first);
    CHECK_INT(p.retry_at, 3000);
    for (int i = 0; i < 10; i++)
        db_pace_failed(&p, 0, NULL);
    CHECK_INT(db_pace_failed(&p, 0, NULL), 30000);   /* capped */
}

TEST(pace_ok_ends_a_streak_once)
{
    struct db_pace p = { 0, 0 };
    CHECK(!db_pace_ok(&p));          /* nothing had failed */
    db_pace_failed(&p, 0, NULL);
    db_pace_failed(&p, 0, NULL);
    CHECK(db_pace_ok(&p));
    CHECK(!db_pace_ok(&p));
    bool first = false;
    CHECK_INT(db_pace_failed(&p, 0, &first), 500);   /* a new streak starts over */
    CHECK(first);
}

int main(void)
{
    RUN(pace_doubles_from_half_a_second_to_thirty);
    RUN(pace_ok_ends_a_streak_once);
    return tap_done();
}

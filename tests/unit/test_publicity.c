/* Unit tests for src/publicity.c. */
#include "publicity.h"
#include "tap.h"

#include <json-c/json.h>

static struct config cfg;

static const char *end_of(const char *json, enum kind kind, const char *first)
{
    static char out[11];
    struct json_object *f = json_tokener_parse(json);
    if (!f)
        TAP_FAIL("test input does not parse: %s", json);
    date_t d = DATE_NONE;
    if (first)
        date_parse(first, &d);
    date_t e = publicity_end(f, kind, d, &cfg);
    json_object_put(f);
    if (e == DATE_NONE)
        return "none";
    date_format(e, out);
    return out;
}

#define PEN(extra) "{\"party_type\":\"legal_person\"," extra "}"
#define PERSON(extra) "{\"party_type\":\"natural_person\"," extra "}"

TEST(short_period_for_criticism_or_small_fine)
{
    CHECK_STR(end_of(PEN("\"penalty_types\":\"通报批评\""), KIND_PENALTY, "2026-01-15"), "2026-04-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"警告\""), KIND_PENALTY, "2026-01-15"), "2026-04-15");
    /* Organisations: threshold 10 000 yuan, at or below. */
    CHECK_STR(end_of(PEN("\"penalty_types\":\"罚款\",\"fine_amount\":\"10000.00\""), KIND_PENALTY,
                     "2026-01-15"), "2026-04-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"罚款\",\"fine_amount\":10000.01"), KIND_PENALTY,
                     "2026-01-15"), "2029-01-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"通报批评,罚款\",\"fine_amount\":500"), KIND_PENALTY,
                     "2026-01-15"), "2026-04-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"警告,罚款\",\"fine_amount\":500"), KIND_PENALTY,
                     "2026-01-15"), "2026-04-15");
    /* End of a shorter month. */
    CHECK_STR(end_of(PEN("\"penalty_types\":\"通报批评\""), KIND_PENALTY, "2026-11-30"), "2027-02-28");
}

TEST(person_threshold_applies_to_persons_and_individual_businesses)
{
    CHECK_STR(end_of(PERSON("\"penalty_types\":\"罚款\",\"fine_amount\":\"1000\""), KIND_PENALTY,
                     "2026-01-15"), "2026-04-15");
    CHECK_STR(end_of(PERSON("\"penalty_types\":\"罚款\",\"fine_amount\":\"1000.50\""), KIND_PENALTY,
                     "2026-01-15"), "2029-01-15");
    CHECK_STR(end_of("{\"party_type\":\"individual_business\",\"penalty_types\":\"罚款\","
                     "\"fine_amount\":5000}", KIND_PENALTY, "2026-01-15"), "2029-01-15");
    CHECK_STR(end_of("{\"party_type\":\"other_org\",\"penalty_types\":\"罚款\","
                     "\"fine_amount\":5000}", KIND_PENALTY, "2026-01-15"), "2026-04-15");
    /* A fine with no amount cannot be shown to be small. */
    CHECK_STR(end_of(PERSON("\"penalty_types\":\"罚款\""), KIND_PENALTY, "2026-01-15"), "2029-01-15");
}

TEST(anything_else_three_years)
{
    CHECK_STR(end_of(PEN("\"penalty_types\":\"罚款,没收违法所得\",\"fine_amount\":100"), KIND_PENALTY,
                     "2026-01-15"), "2029-01-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"吊销许可证件\""), KIND_PENALTY, "2024-02-29"), "2027-02-28");
    CHECK_STR(end_of(PEN("\"penalty_types\":null"), KIND_PENALTY, "2026-01-15"), "2029-01-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"警告,未知\""), KIND_PENALTY, "2026-01-15"), "2029-01-15");
}

TEST(long_restrictions_use_their_length)
{
    CHECK_STR(end_of(PEN("\"penalty_types\":\"限制从业\",\"restriction_months\":60"), KIND_PENALTY,
                     "2026-01-15"), "2031-01-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"罚款,限制开展生产经营活动\",\"fine_amount\":1,"
                         "\"restriction_months\":\"48\""), KIND_PENALTY, "2026-01-15"), "2030-01-15");
    /* Not longer than 3 years: the general 3 years. */
    CHECK_STR(end_of(PEN("\"penalty_types\":\"限制从业\",\"restriction_months\":12"), KIND_PENALTY,
                     "2026-01-15"), "2029-01-15");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"限制从业\""), KIND_PENALTY, "2026-01-15"), "2029-01-15");
    /* Only for restrictions. */
    CHECK_STR(end_of(PEN("\"penalty_types\":\"吊销许可证件\",\"restriction_months\":60"), KIND_PENALTY,
                     "2026-01-15"), "2029-01-15");
    /* A lifetime ban written as a huge number stays a century. */
    CHECK_STR(end_of(PEN("\"penalty_types\":\"限制从业\",\"restriction_months\":99999999"),
                     KIND_PENALTY, "2026-01-15"), "2126-01-15");
}

TEST(publicity_until_overrides)
{
    CHECK_STR(end_of(PEN("\"penalty_types\":\"通报批评\",\"publicity_until\":\"2027-06-30\""),
                     KIND_PENALTY, "2026-01-15"), "2027-06-30");
    CHECK_STR(end_of(PEN("\"publicity_until\":\"2027-06-30 00:00:00+08\""), KIND_LICENSE,
                     "2026-01-15"), "2027-06-30");
    CHECK_STR(end_of(PEN("\"publicity_until\":\"2027-06-30\""), KIND_OTHER, NULL), "2027-06-30");
    /* NULL means "no override". */
    CHECK_STR(end_of(PEN("\"penalty_types\":\"通报批评\",\"publicity_until\":null"), KIND_PENALTY,
                     "2026-01-15"), "2026-04-15");
}

TEST(other_kinds_have_no_period)
{
    CHECK_STR(end_of(PEN("\"penalty_types\":\"通报批评\""), KIND_LICENSE, "2026-01-15"), "none");
    CHECK_STR(end_of(PEN("\"x\":1"), KIND_INSPECTION, "2026-01-15"), "none");
    CHECK_STR(end_of(PEN("\"penalty_types\":\"通报批评\""), KIND_PENALTY, NULL), "none");
}

TEST(warning_only)
{
    struct json_object *f = json_tokener_parse("{\"penalty_types\":\"警告\"}");
    CHECK(publicity_warning_only(f, KIND_PENALTY));
    CHECK(!publicity_warning_only(f, KIND_LICENSE));
    json_object_object_add(f, "penalty_types", json_object_new_string(" 警告 ，"));
    CHECK(publicity_warning_only(f, KIND_PENALTY));
    json_object_object_add(f, "penalty_types", json_object_new_string("警告,罚款"));
    CHECK(!publicity_warning_only(f, KIND_PENALTY));
    json_object_object_add(f, "penalty_types", json_object_new_string("警告,其它"));
    CHECK(!publicity_warning_only(f, KIND_PENALTY));
    json_object_object_del(f, "penalty_types");
    CHECK(!publicity_warning_only(f, KIND_PENALTY));
    json_object_put(f);
}

int main(void)
{
    cfg.publicity.small_fine_person_yuan = 1000;
    cfg.publicity.small_fine_org_yuan = 10000;
    RUN(short_period_for_criticism_or_small_fine);
    RUN(person_threshold_applies_to_persons_and_individual_businesses);
    RUN(anything_else_three_years);
    RUN(long_restrictions_use_their_length);
    RUN(publicity_until_overrides);
    RUN(other_kinds_have_no_period);
    RUN(warning_only);
    return tap_done();
}

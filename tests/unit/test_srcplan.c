/* Unit tests for src/srcplan.c: the index advice read from a plan. */
#include <stdlib.h>

#include "srcplan.h"
#include "tap.h"

#define SCAN(alias, rel) "{\"Node Type\": \"Seq Scan\", \"Relation Name\": \"" rel "\", " \
                         "\"Schema\": \"cms\", \"Alias\": \"" alias "\"}"

static char *advice(const char *json)
{
    return srcplan_advice(json, "epsync_source.decisions");
}

TEST(an_index_scan_needs_no_advice)
{
    CHECK(advice("[{\"Plan\": {\"Node Type\": \"Limit\", \"Plans\": [{\"Node Type\": "
                 "\"Index Scan\", \"Relation Name\": \"decision\", \"Alias\": \"d\"}]}}]") == NULL);
}

TEST(a_sort_over_one_table_names_that_table)
{
    char *a = advice("[{\"Plan\": {\"Node Type\": \"Limit\", \"Plans\": [{\"Node Type\": \"Sort\", "
                     "\"Sort Key\": [\"d.updated_at\", \"((d.decision_no)::text)\"], \"Plans\": ["
                     "{\"Node Type\": \"Hash Join\", \"Plans\": [" SCAN("d", "decision") ", "
                     SCAN("dd", "case_file") "]}]}]}}]");
    CHECK_STR(a, "CREATE INDEX ON cms.decision (updated_at, ((decision_no)::text))");
    free(a);
}

TEST(an_order_from_several_tables_falls_back_to_the_relation)
{
    char *a = advice("[{\"Plan\": {\"Node Type\": \"Sort\", \"Sort Key\": "
                     "[\"(GREATEST(d.updated_at, c.updated_at))\", \"d.decision_no\"], \"Plans\": "
                     "[{\"Node Type\": \"Hash Join\", \"Plans\": [" SCAN("d", "decision") ", "
                     SCAN("c", "case_file") "]}]}}]");
    CHECK_STR(a, "CREATE INDEX ON epsync_source.decisions (updated_at, decision_id) -- on the "
                 "table that holds these columns, when the view takes them from one table");
    free(a);
}

TEST(garbage_gives_no_advice)
{
    CHECK(advice("not json") == NULL);
    CHECK(advice("[]") == NULL);
    CHECK(advice("{\"Plan\": {}}") == NULL);
}

int main(void)
{
    RUN(an_index_scan_needs_no_advice);
    RUN(a_sort_over_one_table_names_that_table);
    RUN(an_order_from_several_tables_falls_back_to_the_relation);
    RUN(garbage_gives_no_advice);
    return tap_done();
}

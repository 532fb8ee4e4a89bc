/* Unit tests for src/delivery.c: a field set shared by a decision's
 * deliveries is parsed once between them and freed with the last. */
#include "delivery.h"
#include "tap.h"

#include <json-c/json.h>

#define REV "a3f1c0de00000000000000000000000000000000000000000000000000000001"

static struct delivery *shared(struct fieldset *f, const char *target)
{
    struct delivery *d = delivery_new("D-1", target, KIND_PENALTY, OP_PUBLISH, REV, 1);
    d->shared = f;
    return d;
}

TEST(targets_of_one_decision_parse_its_fields_once)
{
    struct fieldset *f = fieldset_new("{\"doc_no\":\"石市监罚〔2026〕1号\",\"fine_amount\":5000.00}", 2);
    struct delivery *a = shared(f, "city"), *b = shared(f, "province");

    CHECK_STR(fieldset_text(f), "{\"doc_no\":\"石市监罚〔2026〕1号\",\"fine_amount\":5000.00}");
    struct json_object *fa = delivery_fields(a);
    CHECK_STR(json_object_get_string(json_object_object_get(fa, "doc_no")), "石市监罚〔2026〕1号");
    delivery_fields_release(a);
    CHECK(a->fields == NULL);
    /* the other target gets the same object, not a second parse */
    CHECK(delivery_fields(b) == fa);
    CHECK_STR(json_object_to_json_string_ext(json_object_object_get(fa, "fine_amount"),
                                             JSON_C_TO_STRING_PLAIN), "5000.00");
    delivery_fields_release(b);
    /* built again (a resend): parsed again from the text */
    CHECK_STR(json_object_get_string(json_object_object_get(delivery_fields(a), "doc_no")),
              "石市监罚〔2026〕1号");
    delivery_free(b);
    delivery_free(a);
}

TEST(a_set_dropped_or_freed_unbuilt_is_freed_with_the_last)
{
    struct fieldset *f = fieldset_new("{\"x\":\"1\"}", 3);
    struct delivery *a = shared(f, "city");

    fieldset_drop(f);                       /* one never became a delivery */
    CHECK_STR(json_object_get_string(json_object_object_get(delivery_fields(a), "x")), "1");
    delivery_free(a);                       /* freed while holding the object */
    struct delivery *b = shared(f, "province");
    delivery_free(b);                       /* never built: the last reference */
}

TEST(text_that_is_not_json_gives_an_empty_set)
{
    struct delivery *a = shared(fieldset_new("not json", 1), "city");
    CHECK_INT(json_object_object_length(delivery_fields(a)), 0);
    delivery_fields_release(a);
    delivery_free(a);
}

int main(void)
{
    RUN(targets_of_one_decision_parse_its_fields_once);
    RUN(a_set_dropped_or_freed_unbuilt_is_freed_with_the_last);
    RUN(text_that_is_not_json_gives_an_empty_set);
    return tap_done();
}

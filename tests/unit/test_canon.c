/* Unit tests for src/canon.c. */
#include "canon.h"
#include "tap.h"

#include <json-c/json.h>
#include <stdlib.h>

static char *canon_of(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    if (!o && strcmp(json, "null") != 0)
        TAP_FAIL("test input does not parse: %s", json);
    struct buf b = BUF_INIT;
    canon_json(&b, o);
    json_object_put(o);
    return buf_steal(&b);
}

#define CHECK_CANON(in, want) do { char *s_ = canon_of(in); CHECK_STR(s_, want); free(s_); } while (0)

TEST(keys_sorted_by_bytes_whatever_the_input_order)
{
    char *a = canon_of("{\"b\":1,\"a\":2,\"c\":{\"z\":true,\"y\":false}}");
    char *b = canon_of("{ \"c\" : { \"y\" : false , \"z\" : true } , \"a\" : 2 , \"b\" : 1 }");
    CHECK_STR(a, "{\"a\":2,\"b\":1,\"c\":{\"y\":false,\"z\":true}}");
    CHECK_STR(a, b);
    free(a);
    free(b);
    /* Byte order: upper case before lower case, "a" before "a_b", and UTF-8
     * (party_名称 > party_z). */
    CHECK_CANON("{\"a_b\":1,\"a\":1,\"B\":1,\"party_名称\":1,\"party_z\":1}",
                "{\"B\":1,\"a\":1,\"a_b\":1,\"party_z\":1,\"party_名称\":1}");
}

TEST(nulls_are_explicit)
{
    CHECK_CANON("{\"remarks\":null,\"a\":\"\"}", "{\"a\":\"\",\"remarks\":null}");
    CHECK_CANON("[null,null]", "[null,null]");
    struct buf b = BUF_INIT;
    canon_json(&b, NULL);
    CHECK_STR(buf_str(&b), "null");
    buf_free(&b);
}

TEST(strings_carry_only_required_escapes)
{
    CHECK_CANON("{\"s\":\"say \\\"hi\\\" \\\\ done\"}", "{\"s\":\"say \\\"hi\\\" \\\\ done\"}");
    /* '/' and non-ASCII are not escaped (json-c would write "\/"). */
    CHECK_CANON("{\"s\":\"a/b 石家庄\"}", "{\"s\":\"a/b 石家庄\"}");
    /* Escaped input is written as plain UTF-8: \u77f3 is 石. */
    CHECK_CANON("{\"s\":\"\\u77f3\"}", "{\"s\":\"石\"}");
    /* Non-BMP: U+20000 𠀀, from a surrogate pair or raw UTF-8. */
    CHECK_CANON("{\"s\":\"\\ud840\\udc00\"}", "{\"s\":\"\xF0\xA0\x80\x80\"}");
    CHECK_CANON("{\"s\":\"𠀀\"}", "{\"s\":\"𠀀\"}");
    /* Control characters. */
    CHECK_CANON("{\"s\":\"a\\nb\\tc\\rd\\b\\f\\u0001\\u001f\"}",
                "{\"s\":\"a\\nb\\tc\\rd\\b\\f\\u0001\\u001f\"}");
    /* Keys are strings too. */
    CHECK_CANON("{\"k\\\"ey\":1}", "{\"k\\\"ey\":1}");
}

TEST(embedded_nul_is_kept)
{
    struct json_object *o = json_object_new_string_len("a\0b", 3);
    struct buf b = BUF_INIT;
    canon_json(&b, o);
    CHECK_INT(b.len, 10);
    CHECK(memcmp(b.data, "\"a\\u0000b\"", 10) == 0);
    buf_free(&b);
    json_object_put(o);
}

TEST(numbers_keep_their_text)
{
    CHECK_CANON("{\"fine_amount\":1000.00}", "{\"fine_amount\":1000.00}");
    CHECK_CANON("{\"x\":1e2,\"y\":-0.0,\"z\":0.10}", "{\"x\":1e2,\"y\":-0.0,\"z\":0.10}");
    CHECK_CANON("[1000,-5,12345678901234567890]", "[1000,-5,12345678901234567890]");
    /* Different text is a different field value. */
    char *a = canon_of("{\"n\":1000.00}"), *b = canon_of("{\"n\":1000}");
    CHECK(strcmp(a, b) != 0);
    free(a);
    free(b);
    /* Numbers built in memory. */
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "i", json_object_new_int64(42));
    json_object_object_add(o, "d", json_object_new_double_s(1000.0, "1000.00"));
    struct buf buf = BUF_INIT;
    canon_json(&buf, o);
    CHECK_STR(buf_str(&buf), "{\"d\":1000.00,\"i\":42}");
    buf_free(&buf);
    json_object_put(o);
}

TEST(nested_objects_and_arrays)
{
    CHECK_CANON("{\"z\":[{\"b\":[1,{\"d\":null,\"c\":\"x\"}],\"a\":[]}],\"y\":{}}",
                "{\"y\":{},\"z\":[{\"a\":[],\"b\":[1,{\"c\":\"x\",\"d\":null}]}]}");
    CHECK_CANON("[true,false,\"t\"]", "[true,false,\"t\"]");
}

TEST(revision_is_sha256_of_canonical_text)
{
    /* printf '%s' '{"a":null,"amount":1000.00,"name":"x"}' | openssl dgst -sha256 */
    struct json_object *o = json_tokener_parse("{\"name\":\"x\",\"amount\":1000.00,\"a\":null}");
    char rev[65], rev2[65];
    canon_revision(o, rev);
    CHECK_STR(rev, "89dc979a2443165b6a006be6837f5e19ca232b25791f2e7511b622e4ff7b05c7");
    json_object_object_add(o, "name", json_object_new_string("y"));
    canon_revision(o, rev2);
    CHECK(strcmp(rev, rev2) != 0);
    json_object_put(o);
}

/* The text kept is the one hashed, appended after what the buffer held. */
TEST(revision_text_keeps_what_it_hashed)
{
    struct json_object *o = json_tokener_parse("{\"name\":\"x\",\"amount\":1000.00,\"a\":null}");
    struct buf text = BUF_INIT;
    char rev[65], rev2[65];
    buf_puts(&text, "prefix:");
    canon_revision_text(o, rev, &text);
    canon_revision(o, rev2);
    CHECK_STR(rev, rev2);
    CHECK_STR(buf_str(&text), "prefix:{\"a\":null,\"amount\":1000.00,\"name\":\"x\"}");
    buf_free(&text);
    json_object_put(o);
}

int main(void)
{
    RUN(keys_sorted_by_bytes_whatever_the_input_order);
    RUN(nulls_are_explicit);
    RUN(strings_carry_only_required_escapes);
    RUN(embedded_nul_is_kept);
    RUN(numbers_keep_their_text);
    RUN(nested_objects_and_arrays);
    RUN(revision_is_sha256_of_canonical_text);
    RUN(revision_text_keeps_what_it_hashed);
    return tap_done();
}

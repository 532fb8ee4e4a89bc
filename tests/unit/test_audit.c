/* Unit tests for the pure part of src/audit.c: the canonical encoding of an
 * event, and the chain formula hash = SHA-256(prev_hash || canonical) it
 * feeds.  The expected hashes were computed independently of epsync; they
 * pin the stored format, so a change to the encoding (which would break
 * every existing chain) fails here. */
#include "audit.h"
#include "sign.h"
#include "tap.h"

#include <stdlib.h>

static char *canon(const char *const *fields, size_t n)
{
    struct buf b = BUF_INIT;
    audit_canonical(&b, fields, n);
    return buf_steal(&b);
}

TEST(each_field_is_length_prefixed_and_null_is_a_tilde)
{
    const char *f[] = { "1", "", NULL, "daemon" };
    char *s = canon(f, 4);
    CHECK_STR(s, "1:1;0:;~;6:daemon;");
    free(s);
}

TEST(the_length_counts_bytes_not_characters)
{
    const char *f[] = { "张三", "行政处罚" };
    char *s = canon(f, 2);
    CHECK_STR(s, "6:张三;12:行政处罚;");
    free(s);
}

TEST(no_value_can_pass_for_a_separator)
{
    /* One field holding "a;1:b" and two fields "a", "b" must differ, and so
     * must the text "~" and SQL NULL, and an empty string and NULL. */
    const char *one[] = { "a;1:b" }, *two[] = { "a", "b" };
    const char *tilde[] = { "~" }, *null[] = { NULL }, *empty[] = { "" };
    char *a = canon(one, 1), *b = canon(two, 2);
    char *t = canon(tilde, 1), *n = canon(null, 1), *e = canon(empty, 1);
    CHECK_STR(a, "5:a;1:b;");
    CHECK_STR(b, "1:a;1:b;");
    CHECK_STR(t, "1:~;");
    CHECK_STR(n, "~;");
    CHECK_STR(e, "0:;");
    free(a);
    free(b);
    free(t);
    free(n);
    free(e);
}

TEST(no_fields_give_nothing_and_output_is_appended)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "prev");
    audit_canonical(&b, NULL, 0);
    CHECK_STR(b.data, "prev");
    const char *f[] = { "x" };
    audit_canonical(&b, f, 1);
    CHECK_STR(b.data, "prev1:x;");
    buf_free(&b);
}

/* hash = hex SHA-256 of the previous hash (64 hex digits) followed by the
 * canonical form of the 14 stored columns. */
static void link_hash(const char *prev, const char *const *cols, char out[65])
{
    struct buf b = BUF_INIT;
    buf_puts(&b, prev);
    audit_canonical(&b, cols, 14);
    sign_sha256_hex(b.data, b.len, out);
    buf_free(&b);
}

TEST(a_two_event_chain_has_the_known_hashes)
{
    const char *e1[14] = { "1", "2026-01-05 08:00:00.000000+00", "daemon", "D-1", "city",
                           "state", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                           "pending->published" };
    const char *e2[14] = { "2", "2026-01-05 08:00:00.000000+00", "张三", "D-1", NULL,
                           "retry", NULL, NULL, NULL, "行政处罚;1:x", NULL, NULL, NULL, NULL };
    char h1[65], h2[65], prev[65];
    memset(prev, '0', 64);
    prev[64] = '\0';
    char *c1 = canon(e1, 14);
    CHECK_STR(c1, "1:1;29:2026-01-05 08:00:00.000000+00;6:daemon;3:D-1;4:city;5:state;"
                  "~;~;~;~;~;~;~;18:pending->published;");
    free(c1);
    link_hash(prev, e1, h1);
    CHECK_STR(h1, "17f65d0886ec7423e4de1dbcad9e51448d7e82b8eb9a0776fe097f03921f1b19");
    link_hash(h1, e2, h2);
    CHECK_STR(h2, "f71c814ae0d36fddfbf7102ae0679b22ea903d75e4341a3251e4300c5b5aaba5");
    /* Any change to an earlier link changes every later hash. */
    char h1x[65], h2x[65];
    e1[13] = "pending->failed";
    link_hash(prev, e1, h1x);
    link_hash(h1x, e2, h2x);
    CHECK(strcmp(h1x, h1) != 0);
    CHECK(strcmp(h2x, h2) != 0);
}

TEST(the_os_user_is_named)
{
    const char *u = audit_os_user();
    CHECK(u != NULL && u[0] != '\0');
}

int main(void)
{
    RUN(each_field_is_length_prefixed_and_null_is_a_tilde);
    RUN(the_length_counts_bytes_not_characters);
    RUN(no_value_can_pass_for_a_separator);
    RUN(no_fields_give_nothing_and_output_is_appended);
    RUN(a_two_event_chain_has_the_known_hashes);
    RUN(the_os_user_is_named);
    return tap_done();
}

/* Unit tests for src/sign.c.  Expected digests come from openssl(1), run
 * independently; the commands are next to the constants. */
#include "sign.h"
#include "tap.h"

#include <string.h>

TEST(sha256_known_vectors)
{
    char h[65];
    /* printf '' | openssl dgst -sha256 */
    sign_sha256_hex("", 0, h);
    CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sign_sha256_hex(NULL, 0, h);
    CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* printf '%s' '{"batchNo":"B1","records":[]}' | openssl dgst -sha256 */
    const char *body = "{\"batchNo\":\"B1\",\"records\":[]}";
    sign_sha256_hex(body, strlen(body), h);
    CHECK_STR(h, "2d895035a94b3dd3b1093193de1c56f41bbed69e67138e8a8da96379ec9c14d7");
}

TEST(hmac_known_vector)
{
    char h[65];
    /* printf 'The quick brown fox jumps over the lazy dog' | openssl dgst -sha256 -hmac key */
    const char *m = "The quick brown fox jumps over the lazy dog";
    sign_hmac_sha256_hex("key", m, strlen(m), h);
    CHECK_STR(h, "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST(province_signature_fixed_vector)
{
    /* BODY='{"batchNo":"B1","records":[]}'
     * H=$(printf '%s' "$BODY" | openssl dgst -sha256 -r | cut -d' ' -f1)
     * printf 'POST\n/gateway/v2/publicity/batch\n1790784000000\n0123456789abcdef0123456789abcdef\n%s' "$H" \
     *   | openssl dgst -sha256 -hmac 'province-secret' */
    const char *body = "{\"batchNo\":\"B1\",\"records\":[]}";
    char sig[65];
    sign_province("province-secret", "POST", "/gateway/v2/publicity/batch", "1790784000000",
                  "0123456789abcdef0123456789abcdef", body, strlen(body), sig);
    CHECK_STR(sig, "8513a9789f4c0dcac36849c5f4886296045afde03eb3232900f1ad3d04d7f534");
    /* Any part changed changes the signature. */
    char other[65];
    sign_province("province-secret", "POST", "/gateway/v2/publicity/batch", "1790784000001",
                  "0123456789abcdef0123456789abcdef", body, strlen(body), other);
    CHECK(strcmp(sig, other) != 0);
    sign_province("province-secret", "POST", "/gateway/v2/publicity/batch", "1790784000000",
                  "0123456789abcdef0123456789abcdef", body, strlen(body) - 1, other);
    CHECK(strcmp(sig, other) != 0);
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]) || s[i] == '\0')
            return 0;
    return 1;
}

TEST(random_hex_lengths_and_uniqueness)
{
    char a[200], b[200];
    memset(a, 'Z', sizeof a);
    CHECK_INT(sign_random_hex(a, 32), 0);
    CHECK_INT(strlen(a), 32);
    CHECK(all_hex(a, 32));
    CHECK_INT(sign_random_hex(b, 32), 0);
    CHECK(strcmp(a, b) != 0);
    CHECK_INT(sign_random_hex(a, 7), 0);          /* odd length */
    CHECK_INT(strlen(a), 7);
    CHECK(all_hex(a, 7));
    CHECK_INT(sign_random_hex(a, 199), 0);        /* more than one chunk */
    CHECK_INT(strlen(a), 199);
    CHECK(all_hex(a, 199));
    CHECK_INT(sign_random_hex(a, 0), 0);
    CHECK_STR(a, "");
}

TEST(uuid_is_version_4)
{
    char u[37], v[37];
    CHECK_INT(sign_uuid(u), 0);
    CHECK_INT(sign_uuid(v), 0);
    CHECK_INT(strlen(u), 36);
    CHECK(strcmp(u, v) != 0);
    CHECK(u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-');
    CHECK(u[14] == '4');
    CHECK(strchr("89ab", u[19]) != NULL);
    CHECK(all_hex(u, 8) && all_hex(u + 9, 4) && all_hex(u + 14, 4) && all_hex(u + 19, 4)
          && all_hex(u + 24, 12));
}

int main(void)
{
    RUN(sha256_known_vectors);
    RUN(hmac_known_vector);
    RUN(province_signature_fixed_vector);
    RUN(random_hex_lengths_and_uniqueness);
    RUN(uuid_is_version_4);
    return tap_done();
}

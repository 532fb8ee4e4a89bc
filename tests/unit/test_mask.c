/* Unit tests for src/mask.c.  The people, numbers and addresses here are
 * invented; the ID numbers carry check characters worked out by hand. */
#include "mask.h"
#include "tap.h"

#include <json-c/json.h>
#include <stdlib.h>

/* The columns of these tests' decisions that a target publishes. */
static const char *const published[] = {
    "party_name", "party_id_no", "party_id_type", "party_credit_code", "legal_rep", "doc_no",
    "violation_facts", "penalty_content", "license_content", "remarks", "case_name",
    "legal_basis",
    /* listed, yet never published */
    "party_address", "party_phone", "bank_name", "party_bank_account", "account_no",
    "Bank_Branch", "party_birth_date", "birth_date", "health_status", "health", "property_value",
};

static mask_allow *allow_all(void)
{
    mask_allow *a = mask_allow_new();
    for (size_t i = 0; i < sizeof published / sizeof *published; i++)
        mask_allow_add(a, published[i], strlen(published[i]));
    return a;
}

static struct json_object *masked(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    mask_allow *a = allow_all();
    if (!o)
        TAP_FAIL("test input does not parse: %s", json);
    mask_fields(o, a);
    mask_allow_free(a);
    return o;
}


static const char *get(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return "(absent)";
    return v ? json_object_get_string(v) : "(null)";
}

static bool has(struct json_object *o, const char *key)
{
    return json_object_object_get_ex(o, key, NULL);
}

/* What fn writes for in, as a string. */
static const char *via(void (*fn)(const char *, struct buf *), const char *in)
{
    static char out[512];
    struct buf b = BUF_INIT;
    fn(in, &b);
    snprintf(out, sizeof out, "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

static const char *id_masked(const char *id) { return via(mask_id_number, id); }
static const char *scrubbed(const char *msg) { return via(mask_message, msg); }

TEST(id_number_keeps_first_six_and_last_four)
{
    CHECK_STR(id_masked("13010219900101123X"), "130102********123X");
    CHECK_STR(id_masked("130102199001011237"), "130102********1237");
    CHECK_STR(id_masked("130102900101123"), "130102*****1123");   /* 15-digit */
    CHECK_STR(id_masked("E12345678AB"), "E12345*78AB");           /* 11: one star */
    CHECK_STR(id_masked("E1234567AB"), "**********");             /* 10: all stars */
    CHECK_STR(id_masked("A123"), "****");
    CHECK_STR(id_masked(""), "");
    /* Characters, not bytes: 港澳通行证 style with CJK prefix. */
    CHECK_STR(id_masked("港C12345678901"), "港C1234***8901");
    /* Appends: what the buffer held stays. */
    struct buf b = BUF_INIT;
    buf_puts(&b, "id=");
    mask_id_number("13010219900101123X", &b);
    CHECK_STR(buf_str(&b), "id=130102********123X");
    buf_free(&b);
}

TEST(never_published_columns_are_dropped_for_every_party)
{
    static const char *types[] = { "natural_person", "individual_business", "legal_person",
                                   "other_org" };
    for (size_t i = 0; i < 4; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"party_type\":\"%s\",\"party_name\":\"某某\",\"party_address\":\"河北省石家庄市长安区某路1号\","
                 "\"party_phone\":\"13800000000\",\"bank_name\":\"某银行\",\"party_bank_account\":\"6222000000000000\","
                 "\"account_no\":123456,\"Bank_Branch\":\"x\",\"party_birth_date\":\"1990-01-01\","
                 "\"birth_date\":null,\"health_status\":\"x\",\"health\":true,\"property_value\":1.5,"
                 "\"doc_no\":\"石市监罚〔2026〕1号\",\"fine_amount\":1000.00,\"legal_rep\":\"张三\"}",
                 types[i]);
        struct json_object *o = masked(json);
        static const char *gone[] = { "party_address", "party_phone", "bank_name",
            "party_bank_account", "account_no", "Bank_Branch", "party_birth_date", "birth_date",
            "health_status", "health", "property_value" };
        for (size_t g = 0; g < sizeof gone / sizeof *gone; g++)
            if (has(o, gone[g]))
                TAP_FAIL("%s: %s not dropped", types[i], gone[g]);
        CHECK_STR(get(o, "party_name"), "某某");
        CHECK_STR(get(o, "doc_no"), "石市监罚〔2026〕1号");
        CHECK_STR(get(o, "fine_amount"), "1000.00");
        CHECK_STR(get(o, "legal_rep"), "张三");
        CHECK_STR(get(o, "party_type"), types[i]);
        json_object_put(o);
    }
}

TEST(person_id_numbers_are_masked_organisations_are_not)
{
    struct json_object *o = masked("{\"party_type\":\"natural_person\",\"party_id_no\":\"13010219900101123X\"}");
    CHECK_STR(get(o, "party_id_no"), "130102********123X");
    json_object_put(o);
    o = masked("{\"party_type\":\"individual_business\",\"party_id_no\":\"130102199001011237\"}");
    CHECK_STR(get(o, "party_id_no"), "130102********1237");
    json_object_put(o);
    /* A number typed into a numeric column is masked as text. */
    o = masked("{\"party_type\":\"natural_person\",\"party_id_no\":130102199001011237}");
    CHECK_STR(get(o, "party_id_no"), "130102********1237");
    json_object_put(o);
    o = masked("{\"party_type\":\"legal_person\",\"party_id_no\":\"130102199001011237\","
               "\"party_credit_code\":\"91130100MA0CXXXXXC\"}");
    CHECK_STR(get(o, "party_id_no"), "130102199001011237");
    CHECK_STR(get(o, "party_credit_code"), "91130100MA0CXXXXXC");
    json_object_put(o);
    o = masked("{\"party_type\":\"natural_person\",\"party_id_no\":null}");
    CHECK_STR(get(o, "party_id_no"), "(null)");
    json_object_put(o);
}

TEST(names_are_published_unchanged)
{
    static const char *names[] = { "王", "李四", "张三丰", "欧阳娜娜", "司马相如", "𠀀𠀁" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"party_type\":\"natural_person\",\"party_name\":\"%s\","
                 "\"violation_facts\":\"当事人%s销售过期食品\"}", names[i], names[i]);
        struct json_object *o = masked(json);
        CHECK_STR(get(o, "party_name"), names[i]);
        char facts[128];
        snprintf(facts, sizeof facts, "当事人%s销售过期食品", names[i]);
        CHECK_STR(get(o, "violation_facts"), facts);
        json_object_put(o);
    }
}

TEST(own_values_are_scrubbed_from_free_text)
{
    struct json_object *o = masked(
        "{\"party_type\":\"natural_person\",\"party_name\":\"欧阳娜娜\","
        "\"party_id_no\":\"13010219900101123X\","
        "\"party_phone\":\"13800001111, 0311-87654321；13900002222 / 15000003333;x\","
        "\"party_address\":\"石家庄市长安区建设北大街100号\","
        "\"violation_facts\":\"当事人欧阳娜娜（身份证号13010219900101123X，电话13800001111）在石家庄市长安区建设北大街100号经营，"
        "复核身份证号13010219900101123x无误。\","
        "\"penalty_content\":\"联系电话0311-87654321或13900002222\","
        "\"license_content\":\"15000003333\","
        "\"remarks\":\"住址：石家庄市长安区建设北大街100号\","
        "\"case_name\":\"欧阳娜娜（13010219900101123X）销售过期食品案\","
        "\"legal_basis\":\"13800001111\"}");
    CHECK_STR(get(o, "violation_facts"),
              "当事人欧阳娜娜（身份证号***，电话***）在***经营，复核身份证号***无误。");
    CHECK_STR(get(o, "penalty_content"), "联系电话***或***");
    CHECK_STR(get(o, "license_content"), "***");
    CHECK_STR(get(o, "remarks"), "住址：***");
    CHECK_STR(get(o, "case_name"), "欧阳娜娜（***）销售过期食品案");
    /* Only the free-text fields are scrubbed. */
    CHECK_STR(get(o, "legal_basis"), "13800001111");
    CHECK_STR(get(o, "party_name"), "欧阳娜娜");
    CHECK_STR(get(o, "party_id_no"), "130102********123X");
    json_object_put(o);
}

TEST(scrub_applies_to_every_party_type)
{
    struct json_object *o = masked(
        "{\"party_type\":\"legal_person\",\"party_id_no\":\"130102199001011237\","
        "\"party_phone\":13800001111,\"party_address\":\"桥西区中山路1号\","
        "\"violation_facts\":\"法定代表人130102199001011237，电话13800001111，地址桥西区中山路1号\"}");
    CHECK_STR(get(o, "violation_facts"), "法定代表人***，电话***，地址***");
    json_object_put(o);
}

TEST(short_or_placeholder_values_are_not_searched)
{
    /* An address of "无" must not wipe every 无 in the facts. */
    struct json_object *o = masked(
        "{\"party_type\":\"natural_person\",\"party_address\":\"无\",\"party_phone\":\"-\","
        "\"remarks\":\"无 - 无\"}");
    CHECK_STR(get(o, "remarks"), "无 - 无");
    json_object_put(o);
}

TEST(non_bmp_text_survives_scrubbing)
{
    struct json_object *o = masked(
        "{\"party_type\":\"natural_person\",\"party_name\":\"𠀀娜\",\"party_phone\":\"13800001111\","
        "\"remarks\":\"𠀀娜13800001111𠀁\",\"case_name\":\"𠮷野家\"}");
    CHECK_STR(get(o, "remarks"), "𠀀娜***𠀁");
    CHECK_STR(get(o, "case_name"), "𠮷野家");
    CHECK_STR(get(o, "party_name"), "𠀀娜");
    json_object_put(o);
}

TEST(non_string_values_are_left_alone)
{
    struct json_object *o = masked(
        "{\"party_type\":\"natural_person\",\"party_phone\":\"13800001111\",\"remarks\":null,"
        "\"case_name\":12345,\"confidential\":false,\"fine_amount\":500}");
    CHECK_STR(get(o, "remarks"), "(null)");
    CHECK_STR(get(o, "case_name"), "12345");
    CHECK_STR(get(o, "confidential"), "false");
    CHECK_STR(get(o, "fine_amount"), "500");
    json_object_put(o);
    mask_fields(NULL, NULL);   /* no-op */
}

TEST(id_numbers_of_unknown_party_types_are_masked)
{
    static const char *json[] = {
        "{\"party_id_no\":\"13010219900101123X\"}",                              /* no type */
        "{\"party_type\":null,\"party_id_no\":\"13010219900101123X\"}",
        "{\"party_type\":\"\",\"party_id_no\":\"13010219900101123X\"}",
        "{\"party_type\":\"company\",\"party_id_no\":\"13010219900101123X\"}",   /* unknown */
        "{\"party_type\":\"Legal_Person\",\"party_id_no\":\"13010219900101123X\"}", /* misspelt */
        "{\"party_type\":\"individual_business\",\"party_id_no\":\"13010219900101123X\"}",
        "{\"party_type\":17,\"party_id_no\":\"13010219900101123X\"}",
    };
    for (size_t i = 0; i < sizeof json / sizeof *json; i++) {
        struct json_object *o = masked(json[i]);
        CHECK_STR(get(o, "party_id_no"), "130102********123X");
        json_object_put(o);
    }
    struct json_object *o = masked("{\"party_type\":\"other_org\",\"party_id_no\":\"13010219900101123X\"}");
    CHECK_STR(get(o, "party_id_no"), "13010219900101123X");
    json_object_put(o);
}

TEST(columns_not_allow_listed_are_dropped)
{
    const char *json = "{\"party_type\":\"legal_person\",\"party_name\":\"某公司\","
                       "\"kind\":\"penalty\",\"fine_amount\":500,\"party_religion\":\"x\","
                       "\"party_ethnicity\":\"y\",\"internal_note\":\"z\",\"legal_rep\":\"张三\"}";
    /* A target that publishes the name only. */
    mask_allow *a = mask_allow_new();
    mask_allow_add(a, "party_name", strlen("party_name"));
    struct json_object *o = json_tokener_parse(json);
    mask_fields(o, a);
    CHECK_STR(get(o, "party_name"), "某公司");
    CHECK(!has(o, "party_religion") && !has(o, "party_ethnicity") && !has(o, "internal_note"));
    CHECK(!has(o, "legal_rep"));
    /* What epsync itself reads stays. */
    CHECK_STR(get(o, "kind"), "penalty");
    CHECK_STR(get(o, "fine_amount"), "500");
    CHECK_STR(get(o, "party_type"), "legal_person");
    json_object_put(o);
    mask_allow_free(a);
    /* No allow-list at all: only what epsync reads. */
    o = json_tokener_parse(json);
    mask_fields(o, NULL);
    CHECK(!has(o, "party_name") && !has(o, "legal_rep") && has(o, "kind"));
    json_object_put(o);
    /* The allow-list cannot re-admit a never-published column. */
    o = masked("{\"party_phone\":\"13800001111\",\"party_address\":\"某路1号\"}");
    CHECK(!has(o, "party_phone") && !has(o, "party_address"));
    json_object_put(o);
}

TEST(platform_messages_are_scrubbed)
{
    CHECK_STR(scrubbed("证件号码13010219900101123X与姓名不符"), "证件号码130****与姓名不符");
    CHECK_STR(scrubbed("id 130102199001011237, tel 13800001111."), "id 130****, tel 138****.");
    CHECK_STR(scrubbed("old id 130102900101123"), "old id 130****");
    CHECK_STR(scrubbed("call 031187654321 now"), "call 031**** now");
    CHECK_STR(scrubbed("line\nbreak\ttab\x1b[31m\x7f"), "line\\x0abreak\\x09tab\\x1b[31m\\x7f");
    CHECK_STR(scrubbed("a\\x0a"), "a\\\\x0a");
    /* Other numbers stay: codes, amounts, dates, document numbers, long runs. */
    CHECK_STR(scrubbed("E1002 fine 5000.00 on 2026-01-02 doc 20260001"),
              "E1002 fine 5000.00 on 2026-01-02 doc 20260001");
    CHECK_STR(scrubbed("23800001111 1234567890123456789012"), "23800001111 1234567890123456789012");
    CHECK_STR(scrubbed("ZFJD2026120200000001"), "ZFJD2026120200000001");
    CHECK_STR(scrubbed(""), "");
    CHECK_STR(scrubbed(NULL), "");
}

static bool minor(const char *id, const char *decided)
{
    char json[256];
    snprintf(json, sizeof json, "{\"party_type\":\"natural_person\",\"party_id_no\":\"%s\"}", id);
    struct json_object *o = json_tokener_parse(json);
    date_t d = DATE_NONE;
    date_parse(decided, &d);
    bool r = mask_is_minor(o, d);
    json_object_put(o);
    return r;
}

static const char *adult_on(const char *birth)
{
    static char s[11];
    date_t b = DATE_NONE;
    date_parse(birth, &b);
    date_format(mask_adult_on(b), s);
    return s;
}

TEST(the_18th_birthday)
{
    CHECK_STR(adult_on("2008-08-08"), "2026-08-08");
    CHECK_STR(adult_on("2008-02-29"), "2026-03-01");
    CHECK_STR(adult_on("2008-02-28"), "2026-02-28");
    CHECK_STR(adult_on("2008-03-01"), "2026-03-01");
    CHECK_STR(adult_on("1996-02-29"), "2014-03-01");
    CHECK_STR(adult_on("2007-12-31"), "2025-12-31");
    CHECK(mask_adult_on(DATE_NONE) == DATE_NONE);
}

TEST(minors_by_birth_date_in_the_id)
{
    /* 130102200808081234 — born 2008-08-08; check char by hand:
     * 1×7+3×9+0×10+1×5+0×8+2×4+2×2+0×1+0×6+8×3+0×7+8×9+0×10+8×5+1×8+2×4+3×2
     * = 7+27+5+8+4+24+72+40+8+8+6 = 209; 209 mod 11 = 0 → '1'. */
    const char *id = "130102200808081231";
    CHECK(minor(id, "2026-08-07"));       /* the day before the 18th birthday: 17 */
    CHECK(!minor(id, "2026-08-08"));      /* on the 18th birthday: an adult */
    CHECK(!minor(id, "2026-08-09"));      /* the day after */
    CHECK(minor(id, "2010-01-01"));
    CHECK(!minor("13010219900101123X", "2026-01-01"));
    /* A wrong check character does not hide a minor. */
    CHECK(minor("130102200808081239", "2026-01-01"));
    /* Born on 29 February 2008: 2026 has no 29 February, and the 18 years
     * are complete on 1 March. */
    CHECK(minor("130102200802291234", "2026-02-27"));
    CHECK(minor("130102200802291234", "2026-02-28"));
    CHECK(!minor("130102200802291234", "2026-03-01"));
    CHECK(!minor("130102200802291234", "2026-03-02"));
    /* Born on 28 February or 1 March of a leap year: their own day. */
    CHECK(minor("130102200802281234", "2026-02-27"));
    CHECK(!minor("130102200802281234", "2026-02-28"));
    CHECK(minor("130102200803011234", "2026-02-28"));
    CHECK(!minor("130102200803011234", "2026-03-01"));
    /* Not a resident ID, or not a date. */
    CHECK(!minor("E12345678", "2026-01-01"));
    CHECK(!minor("130102201313011234", "2026-01-01"));
}

TEST(minor_only_for_natural_persons_with_a_resident_id)
{
    struct json_object *o = json_tokener_parse(
        "{\"party_type\":\"legal_person\",\"party_id_no\":\"130102200808081231\"}");
    date_t d = date_from_ymd(2026, 1, 1);
    CHECK(!mask_is_minor(o, d));
    json_object_object_add(o, "party_type", json_object_new_string("natural_person"));
    CHECK(mask_is_minor(o, d));
    json_object_object_add(o, "party_id_type", json_object_new_string("护照"));
    CHECK(!mask_is_minor(o, d));
    json_object_object_add(o, "party_id_type", json_object_new_string("居民身份证"));
    CHECK(mask_is_minor(o, d));
    CHECK(!mask_is_minor(o, DATE_NONE));
    json_object_put(o);
}

int main(void)
{
    RUN(id_number_keeps_first_six_and_last_four);
    RUN(never_published_columns_are_dropped_for_every_party);
    RUN(person_id_numbers_are_masked_organisations_are_not);
    RUN(names_are_published_unchanged);
    RUN(own_values_are_scrubbed_from_free_text);
    RUN(scrub_applies_to_every_party_type);
    RUN(short_or_placeholder_values_are_not_searched);
    RUN(non_bmp_text_survives_scrubbing);
    RUN(non_string_values_are_left_alone);
    RUN(the_18th_birthday);
    RUN(id_numbers_of_unknown_party_types_are_masked);
    RUN(columns_not_allow_listed_are_dropped);
    RUN(platform_messages_are_scrubbed);
    RUN(minors_by_birth_date_in_the_id);
    RUN(minor_only_for_natural_persons_with_a_resident_id);
    return tap_done();
}

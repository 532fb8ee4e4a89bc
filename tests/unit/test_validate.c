/* Unit tests for src/validate.c. */
#include "validate.h"
#include "tap.h"

#include <json-c/json.h>
#include <stdlib.h>

static date_t D(const char *s)
{
    date_t d = DATE_NONE;
    date_parse(s, &d);
    return d;
}

/* A complete, valid penalty of a legal person.  Check characters:
 * 91130100MA0CXXXXXC is worked out in test_checkdigit.c; all zeros has
 * check character '0'. */
static const char *good_legal =
    "{\"doc_no\":\"石市监罚〔2026〕12号\",\"case_name\":\"某公司销售过期食品案\","
    "\"party_name\":\"石家庄某某食品有限公司\",\"party_type\":\"legal_person\","
    "\"party_credit_code\":\"91130100MA0CXXXXXC\",\"legal_rep\":\"张三\","
    "\"violation_type\":\"食品安全\",\"violation_facts\":\"销售过期食品\","
    "\"legal_basis\":\"《食品安全法》第一百二十四条\",\"penalty_types\":\"警告,罚款\","
    "\"penalty_content\":\"警告，罚款5000元\",\"fine_amount\":\"5000.00\","
    "\"confiscated_amount\":null,\"authority_name\":\"石家庄市市场监督管理局\","
    "\"authority_credit_code\":\"000000000000000000\",\"remarks\":null}";

static struct json_object *reasons;

static int run(const char *json, enum kind kind, const char *decided, const char *today)
{
    struct json_object *f = json_tokener_parse(json);
    if (!f)
        TAP_FAIL("test input does not parse: %s", json);
    json_object_put(reasons);
    reasons = json_object_new_array();
    int n = validate_decision(f, kind, decided ? D(decided) : DATE_NONE, D(today), reasons);
    json_object_put(f);
    if (n != (int)json_object_array_length(reasons))
        TAP_FAIL("returned %d but listed %zu reasons", n, json_object_array_length(reasons));
    return n;
}

/* good_legal with one key replaced (value is raw JSON) or removed (NULL). */
static char *with(const char *base, const char *key, const char *value)
{
    struct json_object *f = json_tokener_parse(base);
    if (value)
        json_object_object_add(f, key, json_tokener_parse(value));
    else
        json_object_object_del(f, key);
    char *s = strdup(json_object_to_json_string(f));
    json_object_put(f);
    return s;
}

static const char *reason_at(size_t i)
{
    return json_object_get_string(json_object_array_get_idx(reasons, i));
}

static bool has_reason(const char *text)
{
    for (size_t i = 0; i < json_object_array_length(reasons); i++)
        if (!strcmp(reason_at(i), text))
            return true;
    for (size_t i = 0; i < json_object_array_length(reasons); i++)
        printf("#   got: %s\n", reason_at(i));
    return false;
}

#define ONE_REASON(json, kind, text) do { \
        CHECK_INT(run(json, kind, "2026-03-02", "2026-03-10"), 1); \
        CHECK(has_reason(text)); } while (0)

TEST(a_complete_penalty_passes)
{
    CHECK_INT(run(good_legal, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    CHECK_INT(run(good_legal, KIND_PENALTY, "2026-03-10", "2026-03-10"), 0);   /* today is fine */
}

TEST(each_required_field_is_named)
{
    static const char *fields[] = { "doc_no", "party_name", "authority_name", "violation_type",
        "violation_facts", "legal_basis", "penalty_content", "legal_rep", "party_credit_code" };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        /* absent, null and blank all count as missing */
        static const char *empties[] = { NULL, "null", "\"  \"" };
        for (size_t e = 0; e < 3; e++) {
            char *j = with(good_legal, fields[i], empties[e]);
            CHECK_INT(run(j, KIND_PENALTY, "2026-03-02", "2026-03-10"), 1);
            char want[160];
            const char *whom = !strcmp(fields[i], "doc_no") ? "a penalty or licence"
                : !strcmp(fields[i], "party_name") || !strcmp(fields[i], "authority_name") ? "every decision"
                : !strcmp(fields[i], "legal_rep") ? "a legal person"
                : !strcmp(fields[i], "party_credit_code") ? "a legal person or other organisation"
                : "a penalty";
            snprintf(want, sizeof want, "%s: missing (required for %s)", fields[i], whom);
            CHECK(has_reason(want));
            free(j);
        }
    }
    char *j = with(good_legal, "penalty_types", NULL);
    ONE_REASON(j, KIND_PENALTY, "penalty_types: missing (required for a penalty)");
    free(j);
    j = with(good_legal, "party_type", NULL);
    ONE_REASON(j, KIND_PENALTY, "party_type: missing (required for every decision)");
    free(j);
}

TEST(party_type_must_be_one_of_four)
{
    char *j = with(good_legal, "party_type", "\"company\"");
    ONE_REASON(j, KIND_PENALTY, "party_type: not one of legal_person, other_org, "
               "individual_business, natural_person");
    free(j);
    j = with(good_legal, "party_type", "\"other_org\"");       /* no legal_rep needed */
    char *k = with(j, "legal_rep", NULL);
    CHECK_INT(run(k, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    free(j);
    free(k);
}

TEST(penalty_fields_not_required_for_other_kinds)
{
    const char *inspection = "{\"party_name\":\"某店\",\"party_type\":\"individual_business\","
                             "\"authority_name\":\"某局\"}";
    CHECK_INT(run(inspection, KIND_INSPECTION, "2026-03-02", "2026-03-10"), 0);
    /* A licence needs its document number, not the penalty fields. */
    CHECK_INT(run(inspection, KIND_LICENSE, "2026-03-02", "2026-03-10"), 1);
    CHECK(has_reason("doc_no: missing (required for a penalty or licence)"));
    /* Everything missing: every reason at once. */
    CHECK_INT(run("{}", KIND_PENALTY, NULL, "2026-03-10"), 10);
    CHECK(has_reason("decided_on: missing"));
}

TEST(fine_amount_required_with_a_fine)
{
    char *j = with(good_legal, "fine_amount", NULL);
    ONE_REASON(j, KIND_PENALTY, "fine_amount: missing (required when penalty_types includes 罚款)");
    char *k = with(j, "penalty_types", "\"警告\"");
    CHECK_INT(run(k, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    free(j);
    free(k);
}

TEST(penalty_types_from_the_list)
{
    char *j = with(good_legal, "penalty_types", "\"警告，罚款、 没收违法所得 ;其他\"");
    CHECK_INT(run(j, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    free(j);
    j = with(good_legal, "penalty_types", "\"警告,罚金\"");
    CHECK_INT(run(j, KIND_PENALTY, "2026-03-02", "2026-03-10"), 1);
    CHECK(strncmp(reason_at(0), "penalty_types: entry 2 is not a penalty category", 48) == 0);
    free(j);
    j = with(good_legal, "penalty_types", "[\"罚款\",\"限制从业\"]");
    CHECK_INT(run(j, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    free(j);

    struct json_object *v = json_object_new_string("警告, 通报批评,,罚款,拘留");
    int unknown = -1;
    CHECK_INT(validate_penalty_types(v, &unknown), PT_WARNING | PT_CRITICISM | PT_FINE);
    CHECK_INT(unknown, 1);
    json_object_put(v);
    CHECK_INT(validate_penalty_types(NULL, &unknown), 0);
    CHECK_INT(unknown, 0);
}

TEST(credit_codes_are_check_digit_validated)
{
    char *j = with(good_legal, "party_credit_code", "\"91130100MA0CXXXXXD\"");
    ONE_REASON(j, KIND_PENALTY, "party_credit_code: check digit is wrong (expected C)");
    free(j);
    j = with(good_legal, "authority_credit_code", "\"11130100000000000X\"");
    /* 11130100000000000: 1×1+1×3+1×9+3×27+1×26 = 120; 120 mod 31 = 27;
     * 31 − 27 = 4 → '4'. */
    ONE_REASON(j, KIND_PENALTY, "authority_credit_code: check digit is wrong (expected 4)");
    free(j);
    j = with(good_legal, "authority_credit_code", "\"111301000000000004\"");
    CHECK_INT(run(j, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    free(j);
    j = with(good_legal, "source_unit_credit_code", "\"9113010\"");
    ONE_REASON(j, KIND_PENALTY,
               "source_unit_credit_code: a unified social credit code has 18 characters, this one 7");
    free(j);
    j = with(good_legal, "party_credit_code", "\"91130100MA0CIXXXXC\"");
    ONE_REASON(j, KIND_PENALTY, "party_credit_code: only digits and the capital letters "
               "ABCDEFGHJKLMNPQRTUWXY are allowed in a unified social credit code");
    free(j);
    /* An individual business need not have one, but a given one is checked. */
    j = with(good_legal, "party_type", "\"individual_business\"");
    char *k = with(j, "party_credit_code", "\"\"");
    CHECK_INT(run(k, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    free(k);
    k = with(j, "party_credit_code", "\"92130100MA0CXXXXX1\"");
    CHECK_INT(run(k, KIND_PENALTY, "2026-03-02", "2026-03-10"), 1);
    free(k);
    free(j);
}

static const char *good_person =
    "{\"doc_no\":\"石市监罚〔2026〕13号\",\"party_name\":\"欧阳娜娜\",\"party_type\":\"natural_person\","
    "\"party_id_no\":\"11010519491231002X\",\"violation_type\":\"无照经营\",\"violation_facts\":\"无照经营\","
    "\"legal_basis\":\"《无证无照经营查处办法》\",\"penalty_types\":\"罚款\",\"penalty_content\":\"罚款500元\","
    "\"fine_amount\":500,\"authority_name\":\"某局\"}";

/* Reasons reach the log and the report: they name the field and the rule,
 * never a value.  Every value here carries a marker, or is an ID number
 * whose digits must not appear. */
TEST(no_reason_quotes_a_value)
{
    static const char *const bad_ids[] = {
        "\"110105194912310021\"", "\"11010519491231002\"", "\"1101051949123100AX\"",
        "\"110105194913310023\"", "\"1101051949123100212\"",
    };
    char *a = with(good_person, "party_type", "\"ZQMARK\"");
    char *b = with(a, "penalty_types", "\"警告,ZQMARK\"");
    char *c = with(b, "fine_amount", "\"ZQMARK\"");
    char *d = with(c, "confiscated_amount", "\"-7.25\"");
    char *e = with(d, "authority_credit_code", "\"91130100MA0CXXXXXQ\"");
    CHECK(run(e, KIND_PENALTY, "2031-07-19", "2026-03-10") >= 5);
    for (size_t i = 0; i < json_object_array_length(reasons); i++) {
        CHECK(strstr(reason_at(i), "ZQMARK") == NULL);
        CHECK(strstr(reason_at(i), "2031") == NULL);
        CHECK(strstr(reason_at(i), "7.25") == NULL);
        CHECK(strstr(reason_at(i), "MA0CXXXXX") == NULL);
    }
    free(a); free(b); free(c); free(d); free(e);
    for (size_t k = 0; k < sizeof bad_ids / sizeof bad_ids[0]; k++) {
        char *j = with(good_person, "party_id_no", bad_ids[k]);
        CHECK_INT(run(j, KIND_PENALTY, "2026-03-02", "2026-03-10"), 1);
        /* Not even one digit: the reason names no digit other than the
         * rule's own positions and the length. */
        const char *r = reason_at(0);
        CHECK(strstr(r, "110105") == NULL && strstr(r, "1949") == NULL && strstr(r, "0021") == NULL);
        CHECK(strchr(r, '(') == NULL);        /* no "(expected N)" */
        free(j);
    }
}

TEST(resident_id_numbers_are_checked)
{
    CHECK_INT(run(good_person, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    char *j = with(good_person, "party_id_no", "\"110105194912310021\"");
    ONE_REASON(j, KIND_PENALTY, "party_id_no: check character is wrong");
    free(j);
    j = with(good_person, "party_id_no", "\"11010519491231002\"");
    ONE_REASON(j, KIND_PENALTY, "party_id_no: a resident ID number has 18 characters, this one 17");
    free(j);
    j = with(good_person, "party_id_no", "\"1101051949123100AX\"");
    ONE_REASON(j, KIND_PENALTY, "party_id_no: a resident ID number is 17 digits and a digit or X");
    free(j);
    j = with(good_person, "party_id_no", "\"110105194913310023\"");
    ONE_REASON(j, KIND_PENALTY, "party_id_no: digits 7-14 are not a real birth date");
    free(j);
    j = with(good_person, "party_id_no", NULL);
    ONE_REASON(j, KIND_PENALTY, "party_id_no: missing (required for a natural person)");
    free(j);
    /* Typed as a number (the X-less ID 130102199001011237 of test_checkdigit.c). */
    j = with(good_person, "party_id_no", "130102199001011237");
    CHECK_INT(run(j, KIND_PENALTY, "2026-03-02", "2026-03-10"), 0);
    free(j);
    /* Resident-ID spellings are checked, other document types are not. */
    static const struct { const char *type; int n; } types[] = {
        { "\"身份证\"", 1 }, { "\"居民身份证\"", 1 }, { "\"1\"", 1 }, { "1", 1 },
        { "\"resident_id\"", 1 }, { "null", 1 }, { "\"护照\"", 0 }, { "\"passport\"", 0 },
    };
    j = with(good_person, "party_id_no", "\"E12345678\"");
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        char *k = with(j, "party_id_type", types[i].type);
        if (run(k, KIND_PENALTY, "2026-03-02", "2026-03-10") != types[i].n)
            TAP_FAIL("party_id_type %s: expected %d reasons", types[i].type, types[i].n);
        free(k);
    }
    free(j);
}

TEST(decided_on_rules)
{
    CHECK_INT(run(good_legal, KIND_PENALTY, NULL, "2026-03-10"), 1);
    CHECK(has_reason("decided_on: missing"));
    CHECK_INT(run(good_legal, KIND_PENALTY, "2026-03-11", "2026-03-10"), 1);
    CHECK(has_reason("decided_on: in the future (today is 2026-03-10)"));
}

TEST(amounts_are_numbers_not_below_zero)
{
    static const struct { const char *value; int n; } cases[] = {
        { "\"5000.00\"", 0 }, { "5000", 0 }, { "0", 0 }, { "\"0.00\"", 0 }, { "12.5", 0 },
        { "\"-1\"", 1 }, { "-0.01", 1 }, { "\"abc\"", 1 }, { "\"1,000\"", 1 }, { "\"1e3\"", 1 },
        { "\"\"", 1 /* fine_amount missing, as 罚款 is listed */ }, { "true", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *j = with(good_legal, "fine_amount", cases[i].value);
        if (run(j, KIND_PENALTY, "2026-03-02", "2026-03-10") != cases[i].n)
            TAP_FAIL("fine_amount %s: expected %d reasons", cases[i].value, cases[i].n);
        free(j);
    }
    char *j = with(good_legal, "fine_amount", "\"-5\"");
    ONE_REASON(j, KIND_PENALTY, "fine_amount: must not be negative");
    free(j);
    j = with(good_legal, "confiscated_amount", "\"x\"");
    ONE_REASON(j, KIND_PENALTY, "confiscated_amount: not a number");
    free(j);
}

TEST(overlong_text_is_flagged_by_characters)
{
    /* 50 000 CJK characters are 150 000 bytes but within the limit. */
    struct buf b = BUF_INIT;
    for (int i = 0; i < 50000; i++)
        buf_puts(&b, "违");
    struct json_object *f = json_tokener_parse(good_legal);
    json_object_object_add(f, "violation_facts", json_object_new_string(buf_str(&b)));
    json_object_put(reasons);
    reasons = json_object_new_array();
    CHECK_INT(validate_decision(f, KIND_PENALTY, D("2026-03-02"), D("2026-03-10"), reasons), 0);
    buf_puts(&b, "𠀀");
    json_object_object_add(f, "violation_facts", json_object_new_string(buf_str(&b)));
    CHECK_INT(validate_decision(f, KIND_PENALTY, D("2026-03-02"), D("2026-03-10"), reasons), 1);
    CHECK(has_reason("violation_facts: longer than 50000 characters (50001)"));
    json_object_put(f);
    buf_free(&b);
}

int main(void)
{
    RUN(a_complete_penalty_passes);
    RUN(each_required_field_is_named);
    RUN(party_type_must_be_one_of_four);
    RUN(penalty_fields_not_required_for_other_kinds);
    RUN(fine_amount_required_with_a_fine);
    RUN(penalty_types_from_the_list);
    RUN(credit_codes_are_check_digit_validated);
    RUN(resident_id_numbers_are_checked);
    RUN(decided_on_rules);
    RUN(no_reason_quotes_a_value);
    RUN(amounts_are_numbers_not_below_zero);
    RUN(overlong_text_is_flagged_by_characters);
    json_object_put(reasons);
    return tap_done();
}

/* Unit tests for src/mapping.c: the default payloads and the transforms. */
#include "mapping.h"
#include "tap.h"

#include <stdbool.h>
#include <stdlib.h>

#include <json-c/json.h>

#define REV "a3f1c0de00000000000000000000000000000000000000000000000000000001"

static struct delivery *mk(enum kind kind, const char *fields_json)
{
    struct delivery *d = calloc(1, sizeof *d);
    d->decision_id = strdup("SJZSJ-2026-000123");
    d->target = strdup("t");
    d->kind = kind;
    d->op = OP_PUBLISH;
    d->revision = strdup(REV);
    d->fields = json_tokener_parse(fields_json);
    d->attempt = 1;
    return d;
}

/* JSON equality with numbers compared by value (the payload's numbers
 * are decimal texts, the expected ones parsed integers or doubles). */
static int same(struct json_object *a, struct json_object *b)
{
    enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
    bool na = ta == json_type_int || ta == json_type_double;
    bool nb = tb == json_type_int || tb == json_type_double;

    if (na && nb)
        return json_object_get_double(a) == json_object_get_double(b);
    if (ta != tb)
        return 0;
    switch (ta) {
    case json_type_object: {
        if (json_object_object_length(a) != json_object_object_length(b))
            return 0;
        json_object_object_foreach(a, k, v) {
            struct json_object *w;
            if (!json_object_object_get_ex(b, k, &w) || !same(v, w))
                return 0;
        }
        return 1;
    }
    case json_type_array:
        if (json_object_array_length(a) != json_object_array_length(b))
            return 0;
        for (size_t i = 0; i < json_object_array_length(a); i++)
            if (!same(json_object_array_get_idx(a, i), json_object_array_get_idx(b, i)))
                return 0;
        return 1;
    case json_type_string:
        return strcmp(json_object_get_string(a), json_object_get_string(b)) == 0;
    case json_type_boolean:
        return json_object_get_boolean(a) == json_object_get_boolean(b);
    default:
        return 1;
    }
}

/* mapping_write() gives, byte for byte, what json-c prints for the object
 * (with the fixed keys added to it at the top). */
static int written_as_printed(const mapping *m, const struct delivery *d, struct json_object *o,
                              const struct map_fixed *fixed, size_t nfixed)
{
    struct buf b = BUF_INIT;
    struct err e = { 0, "" };
    int ok;

    for (size_t i = 0; i < nfixed; i++)
        json_object_object_add(o, fixed[i].key, json_object_new_string(fixed[i].value));
    ok = mapping_write(m, d, fixed, nfixed, &b, &e) == 0
         && strcmp(buf_str(&b), json_object_to_json_string_ext(
                       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) == 0;
    if (!ok)
        printf("# written %s\n# printed %s\n", buf_str(&b), json_object_to_json_string_ext(
                   o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    buf_free(&b);
    return ok;
}

/* Apply the default table (or t's overrides) and compare the payload with
 * the expected JSON object (compared as JSON, key order ignored). */
static int payload_is(const struct target_cfg *t, enum map_table table,
                      const struct delivery *d, const char *want_json)
{
    mapping *m = NULL;
    struct json_object *got = NULL, *want = json_tokener_parse(want_json);
    struct err e = { 0, "" };
    int ok = 0;

    if (mapping_new(&m, t, table, &e) < 0) {
        printf("# mapping_new: %s\n", e.msg);
        goto out;
    }
    if (mapping_apply(m, d, &got, &e) < 0) {
        printf("# mapping_apply: %s\n", e.msg);
        goto out;
    }
    ok = want && same(got, want) && written_as_printed(m, d, got, NULL, 0);
    if (!ok)
        printf("# got  %s\n# want %s\n", json_object_to_json_string_ext(got, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), want_json);
out:
    json_object_put(got);
    json_object_put(want);
    mapping_free(m);
    return ok;
}

/* Serialised text of a transform's result ("" when it yields nothing,
 * "ERR" on error). */
static char tbuf[512];
static const char *tf(const char *name, const char *in)
{
    struct json_object *o = NULL;
    struct err e;
    if (mapping_transform(name, in, &o, &e) < 0)
        return "ERR";
    snprintf(tbuf, sizeof tbuf, "%s", o ? json_object_to_json_string_ext(
                 o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "");
    json_object_put(o);
    return tbuf;
}

/* A legal person's penalty as the masked field set (numeric columns as
 * the database prints them). */
static const char *PENALTY_LEGAL =
    "{\"decision_id\":\"SJZSJ-2026-000123\",\"kind\":\"penalty\",\"decided_on\":\"2026-09-30\","
    "\"doc_no\":\"石市监罚〔2026〕123号\",\"case_name\":\"某公司销售过期食品案\","
    "\"party_name\":\"石家庄某商贸有限公司\",\"party_type\":\"legal_person\","
    "\"party_credit_code\":\"91130100MA0XXXXX1X\",\"legal_rep\":\"法人代表\","
    "\"party_id_type\":null,\"party_id_no\":null,"
    "\"violation_type\":\"销售过期食品\",\"violation_facts\":\"经查，当事人销售超过保质期的食品。\","
    "\"legal_basis\":\"《食品安全法》第一百二十四条\",\"penalty_types\":\"警告,罚款、没收违法所得\","
    "\"penalty_content\":\"警告，罚款5000元，没收违法所得120.5元\","
    "\"fine_amount\":\"5000.00\",\"confiscated_amount\":\"120.50\","
    "\"license_revoked\":null,\"valid_until\":\"2029-09-30\","
    "\"authority_name\":\"石家庄市市场监督管理局\",\"authority_credit_code\":\"11130100MB0000000X\","
    "\"source_unit\":\"石家庄市市场监督管理局\",\"source_unit_credit_code\":\"11130100MB0000000X\","
    "\"remarks\":\"\"}";

TEST(province_penalty_legal_person_matches_domain)
{
    struct delivery *d = mk(KIND_PENALTY, PENALTY_LEGAL);
    d->publicity_end = strdup("2029-10-08");
    CHECK(payload_is(NULL, MAP_PROVINCE_PENALTY, d,
        "{\"CF_WSH\":\"石市监罚〔2026〕123号\",\"CF_XDR_MC\":\"石家庄某商贸有限公司\","
        "\"CF_XDR_LB\":\"法人及非法人组织\",\"CF_XDR_SHXYM\":\"91130100MA0XXXXX1X\","
        "\"CF_FRDB\":\"法人代表\",\"CF_WFXW\":\"销售过期食品\","
        "\"CF_SY\":\"经查，当事人销售超过保质期的食品。\",\"CF_YJ\":\"《食品安全法》第一百二十四条\","
        "\"CF_CFLB\":\"警告,罚款、没收违法所得\",\"CF_NR\":\"警告，罚款5000元，没收违法所得120.5元\","
        "\"CF_NR_FK\":0.500000,\"CF_NR_WFFF\":0.012050,\"CF_JDRQ\":\"2026-09-30\","
        "\"CF_YXQ\":\"2029-09-30\",\"CF_GSJZQ\":\"2029-10-08\","
        "\"CF_CFJG\":\"石家庄市市场监督管理局\",\"CF_CFJGDM\":\"11130100MB0000000X\","
        "\"CF_SJLY\":\"石家庄市市场监督管理局\",\"CF_SJLYDM\":\"11130100MB0000000X\"}"));
    /* the amount is sent with its exact text, not a binary double's */
    mapping *m;
    struct json_object *o;
    struct err e;
    CHECK_INT(mapping_new(&m, NULL, MAP_PROVINCE_PENALTY, &e), 0);
    CHECK_INT(mapping_apply(m, d, &o, &e), 0);
    CHECK(strstr(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                 "\"CF_NR_FK\":0.500000,\"CF_NR_WFFF\":0.012050") != NULL);
    json_object_put(o);
    mapping_free(m);
    delivery_free(d);
}

static const char *PENALTY_PERSON =
    "{\"decision_id\":\"SJZSJ-2026-000124\",\"kind\":\"penalty\",\"decided_on\":\"2026-10-09\","
    "\"doc_no\":\"石市监罚〔2026〕124号\",\"party_name\":\"张某\",\"party_type\":\"natural_person\","
    "\"party_id_type\":\"身份证\",\"party_id_no\":\"130102********123X\","
    "\"violation_type\":\"无照经营\",\"violation_facts\":\"当事人在***无照经营。\","
    "\"legal_basis\":\"《无证无照经营查处办法》第十三条\",\"penalty_types\":\"罚款\","
    "\"penalty_content\":\"罚款800元\",\"fine_amount\":800,"
    "\"authority_name\":\"石家庄市市场监督管理局\",\"remarks\":\"当场缴纳\"}";

TEST(province_penalty_natural_person_matches_domain)
{
    struct delivery *d = mk(KIND_PENALTY, PENALTY_PERSON);
    CHECK(payload_is(NULL, MAP_PROVINCE_PENALTY, d,
        "{\"CF_WSH\":\"石市监罚〔2026〕124号\",\"CF_XDR_MC\":\"张某\",\"CF_XDR_LB\":\"自然人\","
        "\"CF_XDR_ZJLX\":\"身份证\",\"CF_XDR_ZJHM\":\"130102********123X\","
        "\"CF_WFXW\":\"无照经营\",\"CF_SY\":\"当事人在***无照经营。\","
        "\"CF_YJ\":\"《无证无照经营查处办法》第十三条\",\"CF_CFLB\":\"罚款\",\"CF_NR\":\"罚款800元\","
        "\"CF_NR_FK\":0.080000,\"CF_JDRQ\":\"2026-10-09\",\"CF_CFJG\":\"石家庄市市场监督管理局\","
        "\"BZ\":\"当场缴纳\"}"));
    /* the comparison itself can fail */
    CHECK(!payload_is(NULL, MAP_PROVINCE_PENALTY, d, "{\"CF_XDR_MC\":\"张某\"}"));
    delivery_free(d);
}

TEST(city_penalty_matches_domain)
{
    struct delivery *d = mk(KIND_PENALTY, PENALTY_PERSON);
    d->publicity_end = strdup("2027-01-09");
    CHECK(payload_is(NULL, MAP_CITY, d,
        "{\"sourceId\":\"SJZSJ-2026-000123\",\"kind\":\"penalty\",\"docNo\":\"石市监罚〔2026〕124号\","
        "\"decidedOn\":\"2026-10-09\",\"party\":{\"name\":\"张某\",\"type\":\"natural_person\","
        "\"idType\":\"身份证\",\"idNo\":\"130102********123X\"},\"violationType\":\"无照经营\","
        "\"facts\":\"当事人在***无照经营。\",\"legalBasis\":\"《无证无照经营查处办法》第十三条\","
        "\"penaltyTypes\":[\"罚款\"],\"content\":\"罚款800元\",\"fineYuan\":800,"
        "\"publicityUntil\":\"2027-01-09\",\"authority\":{\"name\":\"石家庄市市场监督管理局\"},"
        "\"remarks\":\"当场缴纳\"}"));
    delivery_free(d);
}

TEST(city_legal_person_has_nested_party_and_lists)
{
    struct delivery *d = mk(KIND_PENALTY, PENALTY_LEGAL);
    mapping *m;
    struct json_object *o, *v;
    struct err e;
    CHECK_INT(mapping_new(&m, NULL, MAP_CITY, &e), 0);
    CHECK_INT(mapping_apply(m, d, &o, &e), 0);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN
                                                      | JSON_C_TO_STRING_NOSLASHESCAPE);
    CHECK(strstr(s, "\"penaltyTypes\":[\"警告\",\"罚款\",\"没收违法所得\"]") != NULL);
    CHECK(strstr(s, "\"fineYuan\":5000.00,\"confiscatedYuan\":120.50") != NULL);
    CHECK(strstr(s, "\"sourceUnit\":{\"name\":\"石家庄市市场监督管理局\",\"creditCode\":") != NULL);
    CHECK(json_object_object_get_ex(o, "party", &v));
    CHECK_STR(json_object_get_string(json_object_object_get(v, "legalRep")), "法人代表");
    CHECK(!json_object_object_get_ex(v, "idNo", NULL));        /* NULL column: omitted */
    CHECK(!json_object_object_get_ex(o, "remarks", NULL));     /* "" column: omitted */
    CHECK(!json_object_object_get_ex(o, "publicityUntil", NULL));
    json_object_put(o);
    mapping_free(m);
    delivery_free(d);
}

TEST(province_license_matches_domain)
{
    struct delivery *d = mk(KIND_LICENSE,
        "{\"decision_id\":\"SJZXK-2026-000007\",\"kind\":\"license\",\"decided_on\":\"2026-03-02\","
        "\"doc_no\":\"石市监许〔2026〕7号\",\"case_name\":\"食品经营许可\","
        "\"party_name\":\"石家庄某餐饮有限公司\",\"party_type\":\"individual_business\","
        "\"party_credit_code\":\"92130100MA0YYYYY2Y\",\"penalty_content\":\"准予食品经营许可\","
        "\"valid_from\":\"2026-03-02\",\"valid_until\":\"2031-03-01 00:00:00+08\","
        "\"authority_name\":\"石家庄市市场监督管理局\",\"authority_credit_code\":\"11130100MB0000000X\","
        "\"source_unit\":\"石家庄市市场监督管理局\",\"source_unit_credit_code\":\"11130100MB0000000X\"}");
    CHECK_INT(mapping_table_for(PROTO_PROVINCE, KIND_LICENSE), MAP_PROVINCE_LICENSE);
    CHECK_INT(mapping_table_for(PROTO_PROVINCE, KIND_INSPECTION), MAP_PROVINCE_PENALTY);
    CHECK_INT(mapping_table_for(PROTO_CITY, KIND_LICENSE), MAP_CITY);
    CHECK(payload_is(NULL, MAP_PROVINCE_LICENSE, d,
        "{\"XK_WSH\":\"石市监许〔2026〕7号\",\"XK_XDR_MC\":\"石家庄某餐饮有限公司\","
        "\"XK_XDR_LB\":\"个体工商户\",\"XK_XDR_SHXYM\":\"92130100MA0YYYYY2Y\","
        "\"XK_XKWS\":\"食品经营许可\",\"XK_NR\":\"准予食品经营许可\",\"XK_JDRQ\":\"2026-03-02\","
        "\"XK_YXQZ\":\"2026-03-02\",\"XK_YXQZI\":\"2031-03-01\","
        "\"XK_XKJG\":\"石家庄市市场监督管理局\",\"XK_XKJGDM\":\"11130100MB0000000X\","
        "\"XK_SJLY\":\"石家庄市市场监督管理局\",\"XK_SJLYDM\":\"11130100MB0000000X\"}"));
    /* license_content, when present, wins over penalty_content */
    json_object_object_add(d->fields, "license_content", json_object_new_string("许可内容"));
    mapping *m;
    struct json_object *o;
    struct err e;
    CHECK_INT(mapping_new(&m, NULL, MAP_PROVINCE_LICENSE, &e), 0);
    CHECK_INT(mapping_apply(m, d, &o, &e), 0);
    CHECK_STR(json_object_get_string(json_object_object_get(o, "XK_NR")), "许可内容");
    json_object_put(o);
    mapping_free(m);
    delivery_free(d);
}

TEST(yuan_to_wan_is_exact_decimal)
{
    CHECK_STR(tf("yuan_to_wan", "5000.00"), "0.500000");
    CHECK_STR(tf("yuan_to_wan", "5000"), "0.500000");
    CHECK_STR(tf("yuan_to_wan", "0.01"), "0.000001");
    CHECK_STR(tf("yuan_to_wan", "123456789.12"), "12345.678912");
    CHECK_STR(tf("yuan_to_wan", "0.1"), "0.000010");
    CHECK_STR(tf("yuan_to_wan", "0.004"), "0.000000");
    CHECK_STR(tf("yuan_to_wan", "0.005"), "0.000001");        /* half rounds up */
    CHECK_STR(tf("yuan_to_wan", "99999.995"), "10.000000");   /* carry through every digit */
    CHECK_STR(tf("yuan_to_wan", "0"), "0.000000");
    CHECK_STR(tf("yuan_to_wan", " 007 "), "0.000700");
    CHECK_STR(tf("yuan_to_wan", "-200"), "-0.020000");
    CHECK_STR(tf("yuan_to_wan", "1e3"), "ERR");
    CHECK_STR(tf("yuan_to_wan", "五千"), "ERR");
    CHECK_STR(tf("yuan_to_wan", ""), "ERR");
    CHECK_STR(tf("yuan_to_wan", "."), "ERR");
}

TEST(number_keeps_the_text)
{
    CHECK_STR(tf("number", "5000.00"), "5000.00");
    CHECK_STR(tf("number", "+12"), "12");
    CHECK_STR(tf("number", "007.50"), "7.50");
    CHECK_STR(tf("number", ".5"), "0.5");
    CHECK_STR(tf("number", "-0"), "0");
    CHECK_STR(tf("number", "12a"), "ERR");
}

TEST(date_takes_dates_and_timestamps_in_cst)
{
    CHECK_STR(tf("date", "2026-09-30"), "\"2026-09-30\"");
    CHECK_STR(tf("date", "2026-09-30 10:00:00"), "\"2026-09-30\"");
    CHECK_STR(tf("date", "2026-09-30 23:30:00+08"), "\"2026-09-30\"");
    /* 17:30 UTC is 01:30 the next day in China Standard Time */
    CHECK_STR(tf("date", "2026-09-30T17:30:00.123Z"), "\"2026-10-01\"");
    CHECK_STR(tf("date", "2026-10-01 01:00:00+09:00"), "\"2026-10-01\"");
    CHECK_STR(tf("date", "2026-10-01T00:30:00+00"), "\"2026-10-01\"");
    CHECK_STR(tf("date", "2026-02-30"), "ERR");
    CHECK_STR(tf("date", "30/09/2026"), "ERR");
    CHECK_STR(tf("date", "2026-09-30 junk"), "ERR");
}

TEST(party_type_province_table)
{
    CHECK_STR(tf("party_type_province", "legal_person"), "\"法人及非法人组织\"");
    CHECK_STR(tf("party_type_province", "other_org"), "\"法人及非法人组织\"");
    CHECK_STR(tf("party_type_province", "natural_person"), "\"自然人\"");
    CHECK_STR(tf("party_type_province", "individual_business"), "\"个体工商户\"");
    CHECK_STR(tf("party_type_province", "alien"), "ERR");
}

TEST(split_list_separators)
{
    CHECK_STR(tf("split_list", "警告,罚款"), "[\"警告\",\"罚款\"]");
    CHECK_STR(tf("split_list", "警告、罚款，没收违法所得；其他"),
              "[\"警告\",\"罚款\",\"没收违法所得\",\"其他\"]");
    CHECK_STR(tf("split_list", " 警告 , 　罚款　,,"), "[\"警告\",\"罚款\"]");
    CHECK_STR(tf("split_list", "罚款"), "[\"罚款\"]");
    CHECK_STR(tf("split_list", " , "), "");
    CHECK_STR(tf("string", "5000.00"), "\"5000.00\"");
    CHECK_STR(tf("no_such", "x"), "ERR");
}

static struct target_cfg target(enum protocol p, struct field_map *f, size_t n)
{
    struct target_cfg t;
    memset(&t, 0, sizeof t);
    t.name = p == PROTO_CITY ? "city" : "province";
    t.protocol = p;
    t.fields = f;
    t.nfields = n;
    return t;
}

TEST(overrides_replace_add_fix_and_drop)
{
    struct field_map f[] = {
        { "CF_XDR_MC", "case_name", NULL, NULL, false },                  /* replace */
        { "CF_SJLY", NULL, NULL, "石家庄市市场监督管理局（盖章）", false },    /* fixed value */
        { "CF_FRDB", NULL, NULL, NULL, true },                             /* drop */
        { "CF_NR_FK", "fine_amount", "number", NULL, false },              /* new transform */
        { "XK_XKWS", NULL, NULL, "许可决定书", false },                       /* licence only */
        { "EXTRA.sub", "$revision", NULL, NULL, false },                   /* added, both */
    };
    struct target_cfg t = target(PROTO_PROVINCE, f, sizeof f / sizeof f[0]);
    struct delivery *d = mk(KIND_PENALTY,
        "{\"party_name\":\"A\",\"case_name\":\"案名\",\"legal_rep\":\"R\",\"fine_amount\":\"5000.00\","
        "\"source_unit\":\"X\"}");
    struct err e;
    CHECK_INT(mapping_check(&t, &e), 0);
    CHECK(payload_is(&t, MAP_PROVINCE_PENALTY, d,
        "{\"CF_XDR_MC\":\"案名\",\"CF_SJLY\":\"石家庄市市场监督管理局（盖章）\",\"CF_NR_FK\":5000.00,"
        "\"EXTRA\":{\"sub\":\"" REV "\"}}"));
    CHECK(payload_is(&t, MAP_PROVINCE_LICENSE, d,
        "{\"XK_XDR_MC\":\"A\",\"XK_XKWS\":\"许可决定书\",\"XK_FRDB\":\"R\",\"XK_SJLY\":\"X\","
        "\"EXTRA\":{\"sub\":\"" REV "\"}}"));

    /* the effective mapping can be listed; the replaced entry keeps its place */
    mapping *m;
    const struct map_entry *me;
    CHECK_INT(mapping_new(&m, &t, MAP_PROVINCE_PENALTY, &e), 0);
    size_t n = mapping_entries(m, &me);
    CHECK_INT(n, 23 - 1 + 1);
    CHECK_STR(me[1].field, "CF_XDR_MC");
    CHECK_STR(me[1].from, "case_name");
    CHECK_STR(me[n - 1].field, "EXTRA.sub");
    mapping_free(m);
    delivery_free(d);
}

/* Text, numbers and nesting as json-c prints them, whatever the values and
 * whichever keys are absent. */
TEST(written_payload_is_the_printed_object)
{
    struct field_map f[] = {
        { "party.extra", "remarks", NULL, NULL, false },        /* joins "party", far back */
        { "deep.a.b", "case_name", NULL, NULL, false },
        { "deep.c", "$kind", NULL, NULL, false },
        { "deep.a.d", "obj", NULL, NULL, false },
        { "SJLY_ID", "doc_no", NULL, NULL, false },             /* the protocol's key wins */
        { "list", "arr", NULL, NULL, false },
        { "flag", "yes", NULL, NULL, false },
        { "big", "big", NULL, NULL, false },
        { "n", "num", "string", NULL, false },
        { "k\"ey/\u00e9", NULL, NULL, "v/\\\"", false },
    };
    static const char *const fields[] = {
        "{\"doc_no\":\"a\\\"b\\\\c/d\\u0001\\u001f\\t\\n\\r\\b\\f\\u007f\","
        "\"case_name\":\"\\ud83d\\ude00 𠀀 \\u00e9 é\",\"party_type\":\"\","
        "\"party_id_no\":\"130102199001011234\",\"remarks\":\"r\",\"obj\":{\"x\":[1,2.50,\"y\"]},"
        "\"arr\":[],\"yes\":true,\"big\":123456789012345678901234567890,\"num\":5000.00,"
        "\"fine_amount\":1000.505,\"confiscated_amount\":\"-0.004\",\"decided_on\":\"2026-01-02T23:30:00Z\"}",
        "{\"party_name\":null,\"remarks\":\"only\"}",
        "{}",
    };
    static const enum map_table tables[] = { MAP_CITY, MAP_PROVINCE_PENALTY, MAP_PROVINCE_LICENSE };
    static const enum protocol protos[] = { PROTO_CITY, PROTO_PROVINCE, PROTO_PROVINCE };
    const struct map_fixed own[] = { { "SJLY_ID", "D-1" }, { "BBH", REV } };

    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        for (size_t t = 0; t < 3; t++)
            for (size_t over = 0; over < 2; over++) {
                struct target_cfg tc = target(protos[t], f, over ? sizeof f / sizeof f[0] : 0);
                struct delivery *d = mk(k == 1 ? KIND_LICENSE : KIND_PENALTY, fields[k]);
                mapping *m = NULL;
                struct json_object *o = NULL;
                struct err e;
                d->publicity_end = k == 2 ? NULL : strdup("2029-10-08");
                CHECK_INT(mapping_new(&m, &tc, tables[t], &e), 0);
                if (m && mapping_apply(m, d, &o, &e) == 0) {
                    CHECK(written_as_printed(m, d, o, NULL, 0));
                    CHECK(written_as_printed(m, d, o, own, 2));
                } else {
                    printf("# %s\n", e.msg);
                    CHECK(!"mapping_apply failed");
                }
                json_object_put(o);
                mapping_free(m);
                delivery_free(d);
            }
}

TEST(override_errors_are_caught_at_config_time)
{
    struct err e;
    struct field_map bad_tf[] = { { "CF_NR_FK", "fine_amount", "to_wan", NULL, false } };
    struct target_cfg t = target(PROTO_PROVINCE, bad_tf, 1);
    CHECK(mapping_check(&t, &e) < 0);
    CHECK(strstr(e.msg, "targets.province.fields.CF_NR_FK: unknown transform \"to_wan\"") != NULL);
    CHECK(strstr(e.msg, "yuan_to_wan") != NULL);

    struct field_map empty[] = { { "docNo", NULL, NULL, NULL, false } };
    t = target(PROTO_CITY, empty, 1);
    CHECK(mapping_check(&t, &e) < 0);
    CHECK(strstr(e.msg, "fields.docNo") != NULL);

    struct field_map nodrop[] = { { "docNumber", NULL, NULL, NULL, true } };
    t = target(PROTO_CITY, nodrop, 1);
    CHECK(mapping_check(&t, &e) < 0);
    CHECK(strstr(e.msg, "drops nothing") != NULL);

    struct field_map conflict[] = { { "party", "party_name", NULL, NULL, false } };
    t = target(PROTO_CITY, conflict, 1);
    CHECK(mapping_check(&t, &e) < 0);
    CHECK(strstr(e.msg, "conflicts with party.") != NULL);

    struct field_map ok[] = { { "party.name", "party_name", "string", NULL, false } };
    t = target(PROTO_CITY, ok, 1);
    CHECK_INT(mapping_check(&t, &e), 0);
}

TEST(untransformable_value_names_decision_and_field_not_value)
{
    struct delivery *d = mk(KIND_PENALTY, "{\"fine_amount\":\"12abc34\"}");
    mapping *m;
    struct json_object *o = NULL;
    struct err e;
    CHECK_INT(mapping_new(&m, NULL, MAP_PROVINCE_PENALTY, &e), 0);
    CHECK(mapping_apply(m, d, &o, &e) < 0);
    CHECK(o == NULL);
    CHECK(strstr(e.msg, "SJZSJ-2026-000123") != NULL);
    CHECK(strstr(e.msg, "CF_NR_FK") != NULL);
    CHECK(strstr(e.msg, "12abc34") == NULL);
    mapping_free(m);
    delivery_free(d);
}

int main(void)
{
    RUN(province_penalty_legal_person_matches_domain);
    RUN(province_penalty_natural_person_matches_domain);
    RUN(city_penalty_matches_domain);
    RUN(city_legal_person_has_nested_party_and_lists);
    RUN(province_license_matches_domain);
    RUN(yuan_to_wan_is_exact_decimal);
    RUN(number_keeps_the_text);
    RUN(date_takes_dates_and_timestamps_in_cst);
    RUN(party_type_province_table);
    RUN(split_list_separators);
    RUN(overrides_replace_add_fix_and_drop);
    RUN(written_payload_is_the_printed_object);
    RUN(override_errors_are_caught_at_config_time);
    RUN(untransformable_value_names_decision_and_field_not_value);
    return tap_done();
}

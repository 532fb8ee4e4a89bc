/* validate.c - local validation before anything is sent (see validate.h,
 * docs/rules.md "Validation").
 *
 * Every problem is reported, not just the first: a clerk fixing the case
 * record should see the whole list at once.  A reason names the field and
 * the rule it breaks and never quotes a field's value: reasons reach the
 * report and the log.  Of an ID number a reason tells nothing but its
 * length; of a credit code (public registration data) the check character
 * it should have. */
#include "fields.h"
#include "validate.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkdigit.h"

#define N(a) (sizeof(a) / sizeof(a)[0])
#define MAX_TEXT_CHARS 50000

enum party {
    PARTY_LEGAL = 1u << 0, PARTY_OTHER_ORG = 1u << 1, PARTY_INDIVIDUAL = 1u << 2,
    PARTY_NATURAL = 1u << 3, PARTY_ANY = 0xF,
};

static const struct {
    const char *name;
    enum party bit;
} party_types[] = {
    { "legal_person", PARTY_LEGAL },
    { "other_org", PARTY_OTHER_ORG },
    { "individual_business", PARTY_INDIVIDUAL },
    { "natural_person", PARTY_NATURAL },
};

#define KIND_ANY ((1u << KIND_COUNT) - 1)
#define K(k) (1u << (k))

/* Required fields: by kind and by party type (docs/rules.md). */
static const struct {
    const char *field;
    unsigned kinds;
    unsigned parties;
    const char *for_whom;
} required[] = {
    { "party_name", KIND_ANY, PARTY_ANY, "every decision" },
    { "authority_name", KIND_ANY, PARTY_ANY, "every decision" },
    { "doc_no", K(KIND_PENALTY) | K(KIND_LICENSE), PARTY_ANY, "a penalty or licence" },
    { "violation_type", K(KIND_PENALTY), PARTY_ANY, "a penalty" },
    { "violation_facts", K(KIND_PENALTY), PARTY_ANY, "a penalty" },
    { "legal_basis", K(KIND_PENALTY), PARTY_ANY, "a penalty" },
    { "penalty_types", K(KIND_PENALTY), PARTY_ANY, "a penalty" },
    { "penalty_content", K(KIND_PENALTY), PARTY_ANY, "a penalty" },
    { "party_credit_code", KIND_ANY, PARTY_LEGAL | PARTY_OTHER_ORG,
      "a legal person or other organisation" },
    { "legal_rep", KIND_ANY, PARTY_LEGAL, "a legal person" },
    { "party_id_no", KIND_ANY, PARTY_NATURAL, "a natural person" },
};

/* Unified social credit codes checked whenever they are given. */
static const char *const credit_code_fields[] = {
    "party_credit_code", "authority_credit_code", "source_unit_credit_code",
};

static const char *const amount_fields[] = { "fine_amount", "confiscated_amount" };

static const struct {
    const char *name;
    enum penalty_type bit;
} penalty_type_names[] = {
    { "警告", PT_WARNING },
    { "通报批评", PT_CRITICISM },
    { "罚款", PT_FINE },
    { "没收违法所得", PT_CONFISCATE_GAINS },
    { "没收非法财物", PT_CONFISCATE_PROPERTY },
    { "暂扣许可证件", PT_SUSPEND_LICENSE },
    { "降低资质等级", PT_DOWNGRADE },
    { "吊销许可证件", PT_REVOKE_LICENSE },
    { "限制开展生产经营活动", PT_RESTRICT_BUSINESS },
    { "责令停产停业", PT_ORDER_SUSPEND },
    { "责令关闭", PT_ORDER_CLOSE },
    { "限制从业", PT_RESTRICT_PRACTICE },
    { "行政拘留", PT_DETENTION },
    { "其他", PT_OTHER },
};

static const char *const type_separators[] = { ",", "，", "、", ";", "；" };

static void reason(struct json_object *reasons, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reason(struct json_object *reasons, int *n, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (reasons)
        json_object_array_add(reasons, json_object_new_string(buf_str(&b)));
    buf_free(&b);
    (*n)++;
}

static bool blank(const char *s)
{
    if (!s)
        return true;
    for (; *s; s++)
        if (!strchr(" \t\r\n", *s))
            return false;
    return true;
}

static bool present(struct json_object *fields, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(fields, key, &v) || !v)
        return false;
    if (json_object_is_type(v, json_type_array))
        return json_object_array_length(v) > 0;
    return !blank(fields_text(fields, key));
}

/* ---- penalty types ---- */

typedef void (*entry_fn)(const char *entry, size_t len, void *ctx);

static void each_entry_of_string(const char *s, entry_fn fn, void *ctx)
{
    while (*s) {
        size_t len = 0, sep = 0;
        while (s[len]) {
            for (size_t i = 0; i < N(type_separators) && !sep; i++)
                if (!strncmp(s + len, type_separators[i], strlen(type_separators[i])))
                    sep = strlen(type_separators[i]);
            if (sep)
                break;
            len++;
        }
        const char *e = s;
        size_t elen = len;
        while (elen && strchr(" \t", *e)) {
            e++;
            elen--;
        }
        while (elen && strchr(" \t", e[elen - 1]))
            elen--;
        if (elen)
            fn(e, elen, ctx);
        s += len + sep;
    }
}

static void each_entry(struct json_object *value, entry_fn fn, void *ctx)
{
    if (json_object_is_type(value, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(value); i++) {
            struct json_object *it = json_object_array_get_idx(value, i);
            if (json_object_is_type(it, json_type_string))
                each_entry_of_string(json_object_get_string(it), fn, ctx);
        }
    } else if (json_object_is_type(value, json_type_string)) {
        each_entry_of_string(json_object_get_string(value), fn, ctx);
    }
}

static unsigned type_bit(const char *e, size_t len)
{
    for (size_t i = 0; i < N(penalty_type_names); i++)
        if (strlen(penalty_type_names[i].name) == len && !memcmp(e, penalty_type_names[i].name, len))
            return penalty_type_names[i].bit;
    return 0;
}

struct types_ctx {
    unsigned bits;
    int entries;               /* seen so far, to name an entry by number */
    int unknown;
    struct json_object *reasons;
    int *n;
};

static void collect_type(const char *e, size_t len, void *p)
{
    struct types_ctx *c = p;
    unsigned bit = type_bit(e, len);
    c->entries++;
    c->bits |= bit;
    if (bit)
        return;
    c->unknown++;
    if (c->n)
        reason(c->reasons, c->n, "penalty_types: entry %d is not a penalty category of the list "
               "(警告, 通报批评, 罚款, 没收违法所得, 没收非法财物, 暂扣许可证件, 降低资质等级, "
               "吊销许可证件, 限制开展生产经营活动, 责令停产停业, 责令关闭, 限制从业, 行政拘留, 其他)",
               c->entries);
}

unsigned validate_penalty_types(struct json_object *value, int *unknown)
{
    struct types_ctx c = { 0, 0, 0, NULL, NULL };
    each_entry(value, collect_type, &c);
    if (unknown)
        *unknown = c.unknown;
    return c.bits;
}

/* ---- single checks ---- */

static void check_credit_code(const char *field, const char *code, struct json_object *reasons,
                              int *n)
{
    size_t len = strlen(code);
    if (len != 18) {
        reason(reasons, n, "%s: a unified social credit code has 18 characters, this one %zu",
               field, len);
        return;
    }
    char check = checkdigit_uscc(code);
    if (!check) {
        reason(reasons, n, "%s: only digits and the capital letters "
               "ABCDEFGHJKLMNPQRTUWXY are allowed in a unified social credit code", field);
        return;
    }
    if (check != code[17])
        reason(reasons, n, "%s: check digit is wrong (expected %c)", field, check);
}

static void check_resident_id(const char *id, struct json_object *reasons, int *n)
{
    size_t len = strlen(id);
    if (len != 18) {
        reason(reasons, n, "party_id_no: a resident ID number has 18 characters, this one %zu",
               len);
        return;
    }
    if (!checkdigit_idno(id) || !strchr("0123456789Xx", id[17])) {
        reason(reasons, n, "party_id_no: a resident ID number is 17 digits and a digit or X");
        return;
    }
    char s[11] = { id[6], id[7], id[8], id[9], '-', id[10], id[11], '-', id[12], id[13], '\0' };
    date_t birth;
    if (date_parse(s, &birth) != 0)
        reason(reasons, n, "party_id_no: digits 7-14 are not a real birth date");
    else if (!checkdigit_idno_valid(id))
        reason(reasons, n, "party_id_no: check character is wrong");
}

/* Strict decimal as PostgreSQL prints numeric: [-+]digits[.digits]. */
static bool parse_decimal(const char *s, double *out)
{
    const char *p = s;
    size_t digits = 0;
    if (*p == '-' || *p == '+')
        p++;
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits || *p)
        return false;
    *out = strtod(s, NULL);
    return true;
}

static void check_amount(struct json_object *fields, const char *field,
                         struct json_object *reasons, int *n)
{
    struct json_object *v;
    double d;
    if (!json_object_object_get_ex(fields, field, &v) || !v)
        return;
    switch (json_object_get_type(v)) {
    case json_type_int:
    case json_type_double:
        d = json_object_get_double(v);
        break;
    case json_type_string:
        if (blank(json_object_get_string(v)))
            return;
        if (!parse_decimal(json_object_get_string(v), &d)) {
            reason(reasons, n, "%s: not a number", field);
            return;
        }
        break;
    default:
        reason(reasons, n, "%s: not a number", field);
        return;
    }
    if (d < 0)
        reason(reasons, n, "%s: must not be negative", field);
}

static void check_lengths(struct json_object *fields, struct json_object *reasons, int *n)
{
    json_object_object_foreach(fields, key, v) {
        if (!json_object_is_type(v, json_type_string))
            continue;
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v), chars = 0;
        if (len <= MAX_TEXT_CHARS)
            continue;            /* fewer bytes than the limit: fewer characters too */
        for (size_t i = 0; i < len; i++)
            chars += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (chars > MAX_TEXT_CHARS)
            reason(reasons, n, "%s: longer than %d characters (%zu)", key, MAX_TEXT_CHARS, chars);
    }
}

/* ---- the whole decision ---- */

int validate_decision(struct json_object *fields, enum kind kind, date_t decided_on,
                      date_t today, struct json_object *reasons)
{
    int n = 0;
    unsigned party = 0;
    const char *ptype = fields_text(fields, "party_type");
    char today_s[11];

    if (blank(ptype)) {
        reason(reasons, &n, "party_type: missing (required for every decision)");
    } else {
        for (size_t i = 0; i < N(party_types); i++)
            if (!strcmp(ptype, party_types[i].name))
                party = party_types[i].bit;
        if (!party)
            reason(reasons, &n, "party_type: not one of legal_person, other_org, "
                   "individual_business, natural_person");
    }

    for (size_t i = 0; i < N(required); i++) {
        if (!(required[i].kinds & (1u << kind)))
            continue;
        if (required[i].parties != PARTY_ANY && !(required[i].parties & party))
            continue;
        if (!present(fields, required[i].field))
            reason(reasons, &n, "%s: missing (required for %s)", required[i].field,
                   required[i].for_whom);
    }

    if (kind == KIND_PENALTY) {
        struct json_object *types = NULL;
        json_object_object_get_ex(fields, "penalty_types", &types);
        struct types_ctx c = { 0, 0, 0, reasons, &n };
        each_entry(types, collect_type, &c);
        if ((c.bits & PT_FINE) && !present(fields, "fine_amount"))
            reason(reasons, &n, "fine_amount: missing (required when penalty_types includes 罚款)");
    }

    for (size_t i = 0; i < N(credit_code_fields); i++) {
        const char *code = fields_text(fields, credit_code_fields[i]);
        if (!blank(code))
            check_credit_code(credit_code_fields[i], code, reasons, &n);
    }

    if (party == PARTY_NATURAL) {
        const char *id = fields_text(fields, "party_id_no");
        if (!blank(id) && checkdigit_is_resident_id_type(fields_text(fields, "party_id_type")))
            check_resident_id(id, reasons, &n);
    }

    if (decided_on == DATE_NONE) {
        reason(reasons, &n, "decided_on: missing");
    } else if (today != DATE_NONE && decided_on > today) {
        date_format(today, today_s);
        reason(reasons, &n, "decided_on: in the future (today is %s)", today_s);
    }

    for (size_t i = 0; i < N(amount_fields); i++)
        check_amount(fields, amount_fields[i], reasons, &n);

    check_lengths(fields, reasons, &n);
    return n;
}

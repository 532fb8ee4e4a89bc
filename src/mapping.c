/* mapping.c - see mapping.h.
 *
 * The default tables are those of docs/rules.md; the transforms are
 * pure text functions so amounts stay exact (no binary floating point
 * between the database's numeric and the JSON text sent). */
#include "mapping.h"
#include "mapping_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "date.h"

struct def_entry {
    const char *field, *from, *transform;
};

static const struct def_entry city_defaults[] = {
    { "sourceId",             "$decision_id",            NULL },
    { "kind",                 "$kind",                   NULL },
    { "docNo",                "doc_no",                  NULL },
    { "caseName",             "case_name",               NULL },
    { "decidedOn",            "decided_on",              "date" },
    { "party.name",           "party_name",              NULL },
    { "party.type",           "party_type",              NULL },
    { "party.creditCode",     "party_credit_code",       NULL },
    { "party.legalRep",       "legal_rep",               NULL },
    { "party.idType",         "party_id_type",           NULL },
    { "party.idNo",           "party_id_no",             NULL },
    { "violationType",        "violation_type",          NULL },
    { "facts",                "violation_facts",         NULL },
    { "legalBasis",           "legal_basis",             NULL },
    { "penaltyTypes",         "penalty_types",           "split_list" },
    { "content",              "license_content|penalty_content", NULL },
    { "fineYuan",             "fine_amount",             "number" },
    { "confiscatedYuan",      "confiscated_amount",      "number" },
    { "licenseRevoked",       "license_revoked",         NULL },
    { "validUntil",           "valid_until",             "date" },
    { "publicityUntil",       "$publicity_end",          "date" },
    { "authority.name",       "authority_name",          NULL },
    { "authority.creditCode", "authority_credit_code",   NULL },
    { "sourceUnit.name",      "source_unit",             NULL },
    { "sourceUnit.creditCode", "source_unit_credit_code", NULL },
    { "remarks",              "remarks",                 NULL },
};

static const struct def_entry province_penalty_defaults[] = {
    { "CF_WSH",       "doc_no",                  NULL },
    { "CF_XDR_MC",    "party_name",              NULL },
    { "CF_XDR_LB",    "party_type",              "party_type_province" },
    { "CF_XDR_SHXYM", "party_credit_code",       NULL },
    { "CF_FRDB",      "legal_rep",               NULL },
    { "CF_XDR_ZJLX",  "party_id_type",           NULL },
    { "CF_XDR_ZJHM",  "party_id_no",             NULL },
    { "CF_WFXW",      "violation_type",          NULL },
    { "CF_SY",        "violation_facts",         NULL },
    { "CF_YJ",        "legal_basis",             NULL },
    { "CF_CFLB",      "penalty_types",           NULL },
    { "CF_NR",        "penalty_content",         NULL },
    { "CF_NR_FK",     "fine_amount",             "yuan_to_wan" },
    { "CF_NR_WFFF",   "confiscated_amount",      "yuan_to_wan" },
    { "CF_NR_ZKDX",   "license_revoked",         NULL },
    { "CF_JDRQ",      "decided_on",              "date" },
    { "CF_YXQ",       "valid_until",             "date" },
    { "CF_GSJZQ",     "$publicity_end",          "date" },
    { "CF_CFJG",      "authority_name",          NULL },
    { "CF_CFJGDM",    "authority_credit_code",   NULL },
    { "CF_SJLY",      "source_unit",             NULL },
    { "CF_SJLYDM",    "source_unit_credit_code", NULL },
    { "BZ",           "remarks",                 NULL },
};

/* XK_XKWS (licence document name) has no column of its own in the source:
 * a view may provide license_doc_name, else the case name stands in. */
static const struct def_entry province_license_defaults[] = {
    { "XK_WSH",       "doc_no",                  NULL },
    { "XK_XDR_MC",    "party_name",              NULL },
    { "XK_XDR_LB",    "party_type",              "party_type_province" },
    { "XK_XDR_SHXYM", "party_credit_code",       NULL },
    { "XK_FRDB",      "legal_rep",               NULL },
    { "XK_XDR_ZJLX",  "party_id_type",           NULL },
    { "XK_XDR_ZJHM",  "party_id_no",             NULL },
    { "XK_XKWS",      "license_doc_name|case_name", NULL },
    { "XK_NR",        "license_content|penalty_content", NULL },
    { "XK_JDRQ",      "decided_on",              "date" },
    { "XK_YXQZ",      "valid_from",              "date" },
    { "XK_YXQZI",     "valid_until",             "date" },
    { "XK_XKJG",      "authority_name",          NULL },
    { "XK_XKJGDM",    "authority_credit_code",   NULL },
    { "XK_SJLY",      "source_unit",             NULL },
    { "XK_SJLYDM",    "source_unit_credit_code", NULL },
    { "BZ",           "remarks",                 NULL },
};

static const struct {
    const char *name;
    const struct def_entry *defs;
    size_t n;
} tables[MAP_TABLE_COUNT] = {
    [MAP_CITY] = { "city", city_defaults,
                   sizeof city_defaults / sizeof city_defaults[0] },
    [MAP_PROVINCE_PENALTY] = { "province-penalty", province_penalty_defaults,
                   sizeof province_penalty_defaults / sizeof province_penalty_defaults[0] },
    [MAP_PROVINCE_LICENSE] = { "province-license", province_license_defaults,
                   sizeof province_license_defaults / sizeof province_license_defaults[0] },
};

struct mapping {
    struct map_entry *e;
    size_t n;
};

/* ---- decimal text ---------------------------------------------------- */

/* A plain decimal "[-+]digits[.digits]" (surrounding blanks allowed) split
 * into sign, integer digits without leading zeros, fraction digits. */
struct decimal {
    bool neg;
    const char *ip; size_t il;
    const char *fp; size_t fl;
};

static int decimal_parse(const char *s, struct decimal *d)
{
    while (isspace((unsigned char)*s))
        s++;
    d->neg = false;
    if (*s == '-' || *s == '+')
        d->neg = (*s++ == '-');
    d->ip = s;
    while (isdigit((unsigned char)*s))
        s++;
    d->il = (size_t)(s - d->ip);
    d->fp = s; d->fl = 0;
    if (*s == '.') {
        d->fp = ++s;
        while (isdigit((unsigned char)*s))
            s++;
        d->fl = (size_t)(s - d->fp);
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s || d->il + d->fl == 0)
        return -1;
    while (d->il > 0 && *d->ip == '0') {
        d->ip++;
        d->il--;
    }
    return 0;
}

static bool all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

/* value / 10000 with exactly 6 decimals, rounded half away from zero. */
static int tf_yuan_to_wan(const char *in, struct json_object **out, struct err *e)
{
    struct decimal d;
    struct buf dig = BUF_INIT, txt = BUF_INIT;

    if (decimal_parse(in, &d) < 0)
        return err_set(e, -EINVAL, "not a decimal amount");
    /* digits of the amount in units of 10^-6 wan = 10^-2 yuan */
    buf_append(&dig, d.ip, d.il);
    buf_append(&dig, d.fp, d.fl < 2 ? d.fl : 2);
    for (size_t i = d.fl; i < 2; i++)
        buf_putc(&dig, '0');
    if (d.fl > 2 && d.fp[2] >= '5') {             /* round on the third decimal */
        size_t i = dig.len;
        while (i > 0 && dig.data[i - 1] == '9')
            dig.data[--i] = '0';
        if (i == 0) {
            struct buf t = BUF_INIT;
            buf_putc(&t, '1');
            buf_append(&t, dig.data, dig.len);
            buf_free(&dig);
            dig = t;
        } else {
            dig.data[i - 1]++;
        }
    }
    while (dig.len < 7) {                          /* at least "0" + 6 decimals */
        struct buf t = BUF_INIT;
        buf_putc(&t, '0');
        buf_append(&t, dig.data, dig.len);
        buf_free(&dig);
        dig = t;
    }
    if (d.neg && !all_zero(dig.data, dig.len))
        buf_putc(&txt, '-');
    buf_append(&txt, dig.data, dig.len - 6);
    buf_putc(&txt, '.');
    buf_puts(&txt, dig.data + dig.len - 6);
    *out = json_object_new_double_s(strtod(txt.data, NULL), txt.data);
    buf_free(&dig);
    buf_free(&txt);
    return 0;
}

/* A JSON number keeping the digits as written ("5000.00" stays so). */
static int tf_number(const char *in, struct json_object **out, struct err *e)
{
    struct decimal d;
    struct buf txt = BUF_INIT;

    if (decimal_parse(in, &d) < 0)
        return err_set(e, -EINVAL, "not a decimal number");
    if (d.neg && !(all_zero(d.ip, d.il) && all_zero(d.fp, d.fl)))
        buf_putc(&txt, '-');
    if (d.il)
        buf_append(&txt, d.ip, d.il);
    else
        buf_putc(&txt, '0');
    if (d.fl) {
        buf_putc(&txt, '.');
        buf_append(&txt, d.fp, d.fl);
    }
    *out = json_object_new_double_s(strtod(txt.data, NULL), txt.data);
    buf_free(&txt);
    return 0;
}

static int take_digits(const char **s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (!isdigit((unsigned char)**s))
            return -1;
        *v = *v * 10 + (**s - '0');
    }
    return 0;
}

/* "YYYY-MM-DD" from a date, or from a timestamp: a timestamp with a UTC
 * offset is turned into its China Standard Time date (epsync counts
 * every date in CST); one without an offset keeps its date part. */
static int tf_date(const char *in, struct json_object **out, struct err *e)
{
    const char *s = in;
    char ymd[11];
    date_t day;
    int h, mi, sec = 0, oh, om = 0, sign;

    while (isspace((unsigned char)*s))
        s++;
    if (strlen(s) < 10)
        goto bad;
    memcpy(ymd, s, 10);
    ymd[10] = '\0';
    if (date_parse(ymd, &day) < 0)
        goto bad;
    s += 10;
    if (*s == ' ' || *s == 'T') {
        s++;
        if (take_digits(&s, 2, &h) < 0 || *s++ != ':' || take_digits(&s, 2, &mi) < 0)
            goto bad;
        if (*s == ':' && (s++, take_digits(&s, 2, &sec) < 0))
            goto bad;
        if (*s == '.')
            for (s++; isdigit((unsigned char)*s); s++)
                ;
        if (*s == 'Z' || *s == '+' || *s == '-') {
            sign = *s == '-' ? -1 : 1;
            if (*s++ == 'Z') {
                oh = 0;
            } else {
                if (take_digits(&s, 2, &oh) < 0)
                    goto bad;
                if (*s == ':')
                    s++;
                if (isdigit((unsigned char)*s) && take_digits(&s, 2, &om) < 0)
                    goto bad;
            }
            int64_t secs = (int64_t)day * 86400 + h * 3600 + mi * 60 + sec
                           - sign * (oh * 3600 + om * 60);
            day = date_cst(secs * 1000);
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        goto bad;
    date_format(day, ymd);
    *out = json_object_new_string(ymd);
    return 0;
bad:
    return err_set(e, -EINVAL, "not a date (YYYY-MM-DD) or timestamp");
}

static const struct { const char *from, *to; } party_types_province[] = {
    { "legal_person",        "法人及非法人组织" },
    { "other_org",           "法人及非法人组织" },
    { "natural_person",      "自然人" },
    { "individual_business", "个体工商户" },
};

static int tf_party_type_province(const char *in, struct json_object **out, struct err *e)
{
    for (size_t i = 0; i < sizeof party_types_province / sizeof party_types_province[0]; i++)
        if (strcmp(in, party_types_province[i].from) == 0) {
            *out = json_object_new_string(party_types_province[i].to);
            return 0;
        }
    return err_set(e, -EINVAL, "not a party type (legal_person, other_org, "
                   "natural_person, individual_business)");
}

/* Separators of a list typed by hand: ASCII and full-width commas and
 * semicolons, and the enumeration comma 、. */
static const char *const list_seps[] = { ",", ";", "，", "；", "、" };
static const char *const list_blanks[] = { " ", "\t", "\r", "\n", "　" };

static size_t match_any(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(set[i]);
        if (strncmp(s, set[i], l) == 0)
            return l;
    }
    return 0;
}

static void list_add(struct json_object *arr, const char *s, size_t n)
{
    size_t l;
    const size_t nb = sizeof list_blanks / sizeof list_blanks[0];
    while (n > 0 && (l = match_any(s, list_blanks, nb)) > 0 && l <= n) {
        s += l;
        n -= l;
    }
    for (bool again = true; again && n > 0;) {
        again = false;
        for (size_t i = 0; i < nb; i++) {
            size_t bl = strlen(list_blanks[i]);
            if (n >= bl && memcmp(s + n - bl, list_blanks[i], bl) == 0) {
                n -= bl;
                again = true;
            }
        }
    }
    if (n > 0)
        json_object_array_add(arr, json_object_new_string_len(s, (int)n));
}

static int tf_split_list(const char *in, struct json_object **out, struct err *e)
{
    struct json_object *arr = json_object_new_array();
    const char *start = in, *s = in;
    size_t l;

    (void)e;
    while (*s) {
        if ((l = match_any(s, list_seps, sizeof list_seps / sizeof list_seps[0])) > 0) {
            list_add(arr, start, (size_t)(s - start));
            s += l;
            start = s;
        } else {
            s++;
        }
    }
    list_add(arr, start, (size_t)(s - start));
    if (json_object_array_length(arr) == 0) {
        json_object_put(arr);
        arr = NULL;
    }
    *out = arr;
    return 0;
}

/* Force a string, e.g. for a numeric column the platform wants as text. */
static int tf_string(const char *in, struct json_object **out, struct err *e)
{
    (void)e;
    *out = json_object_new_string(in);
    return 0;
}

typedef int (*transform_fn)(const char *in, struct json_object **out, struct err *e);

static const struct {
    const char *name;
    transform_fn fn;
} transforms[] = {
    { "yuan_to_wan",         tf_yuan_to_wan },
    { "number",              tf_number },
    { "date",                tf_date },
    { "party_type_province", tf_party_type_province },
    { "split_list",          tf_split_list },
    { "string",              tf_string },
};
#define NTRANSFORMS (sizeof transforms / sizeof transforms[0])

static const char *const transform_names[NTRANSFORMS + 1] = {
    "yuan_to_wan", "number", "date", "party_type_province", "split_list", "string", NULL,
};

const char *const *mapping_transform_names(void) { return transform_names; }

static transform_fn transform_find(const char *name)
{
    for (size_t i = 0; i < NTRANSFORMS; i++)
        if (strcmp(name, transforms[i].name) == 0)
            return transforms[i].fn;
    return NULL;
}

int mapping_transform(const char *name, const char *in, struct json_object **out,
                      struct err *e)
{
    transform_fn fn = transform_find(name);
    *out = NULL;
    if (!fn)
        return err_set(e, -EINVAL, "unknown transform \"%s\"", name);
    return fn(in, out, e) < 0 ? -EINVAL : 0;
}

/* ---- tables ------------------------------------------------------------ */

enum map_table mapping_table_for(enum protocol p, enum kind k)
{
    if (p == PROTO_CITY)
        return MAP_CITY;
    return k == KIND_LICENSE ? MAP_PROVINCE_LICENSE : MAP_PROVINCE_PENALTY;
}

const char *mapping_table_name(enum map_table table)
{
    return table < MAP_TABLE_COUNT ? tables[table].name : "?";
}

/* Does a province override key belong to this table? */
static bool override_applies(enum map_table table, const char *field)
{
    if (table == MAP_PROVINCE_PENALTY)
        return strncmp(field, "XK_", 3) != 0;
    if (table == MAP_PROVINCE_LICENSE)
        return strncmp(field, "CF_", 3) != 0;
    return true;
}

static void entry_set(struct map_entry *m, const char *field, const char *from,
                      const char *transform, const char *value)
{
    m->field = xstrdup(field);
    m->from = xstrdup(from);
    m->transform = xstrdup(transform);
    m->value = from ? NULL : xstrdup(value ? value : "");
}

static void entry_clear(struct map_entry *m)
{
    free((char *)m->field);
    free((char *)m->from);
    free((char *)m->transform);
    free((char *)m->value);
    memset(m, 0, sizeof *m);
}

static int check_override(const struct target_cfg *t, const struct field_map *f,
                          struct err *e)
{
    const char *name = t ? t->name : "?";

    if (!f->field || !*f->field || f->field[0] == '.' || f->field[strlen(f->field) - 1] == '.'
        || strstr(f->field, ".."))
        return err_set(e, -EINVAL, "targets.%s.fields.%s: not a payload key", name,
                       f->field ? f->field : "");
    if (f->drop)
        return 0;
    if (!f->from && !f->value)
        return err_set(e, -EINVAL, "targets.%s.fields.%s: needs `from` (a source column) "
                       "or `value`", name, f->field);
    if (f->transform && !transform_find(f->transform)) {
        struct buf known = BUF_INIT;
        for (size_t i = 0; i < NTRANSFORMS; i++)
            buf_printf(&known, "%s%s", i ? ", " : "", transforms[i].name);
        err_set(e, -EINVAL, "targets.%s.fields.%s: unknown transform \"%s\" (known: %s)",
                name, f->field, f->transform, known.data);
        buf_free(&known);
        return -EINVAL;
    }
    return 0;
}

void mapping_free(mapping *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        entry_clear(&m->e[i]);
    free(m->e);
    free(m);
}

int mapping_new(mapping **out, const struct target_cfg *t, enum map_table table,
                struct err *e)
{
    mapping *m;
    size_t nover = t ? t->nfields : 0;

    *out = NULL;
    if (table >= MAP_TABLE_COUNT)
        return err_set(e, -EINVAL, "mapping: no table %d", (int)table);
    for (size_t i = 0; i < nover; i++)
        if (check_override(t, &t->fields[i], e) < 0)
            return -EINVAL;

    m = xcalloc(1, sizeof *m);
    m->e = xcalloc(tables[table].n + nover, sizeof *m->e);
    for (size_t i = 0; i < tables[table].n; i++) {
        const struct def_entry *d = &tables[table].defs[i];
        entry_set(&m->e[m->n++], d->field, d->from, d->transform, NULL);
    }
    for (size_t i = 0; i < nover; i++) {
        const struct field_map *f = &t->fields[i];
        size_t j;
        if (!override_applies(table, f->field))
            continue;
        for (j = 0; j < m->n && strcmp(m->e[j].field, f->field) != 0; j++)
            ;
        if (j < m->n) {
            entry_clear(&m->e[j]);
            if (f->drop) {
                memmove(&m->e[j], &m->e[j + 1], (m->n - j - 1) * sizeof *m->e);
                m->n--;
                continue;
            }
        } else if (f->drop) {
            continue;
        } else {
            j = m->n++;
        }
        entry_set(&m->e[j], f->field, f->from, f->transform, f->value);
    }
    /* "party" as a value and "party.name" under it cannot both exist */
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->n; j++) {
            size_t l = strlen(m->e[i].field);
            if (i != j && strncmp(m->e[i].field, m->e[j].field, l) == 0
                && m->e[j].field[l] == '.') {
                err_set(e, -EINVAL, "targets.%s.fields.%s: conflicts with %s (a key cannot "
                        "be both a value and an object)", t ? t->name : "?",
                        m->e[i].field, m->e[j].field);
                mapping_free(m);
                return -EINVAL;
            }
        }
    *out = m;
    return 0;
}

size_t mapping_entries(const mapping *m, const struct map_entry **out)
{
    *out = m->e;
    return m->n;
}

int mapping_check(const struct target_cfg *t, struct err *e)
{
    static const enum map_table city[] = { MAP_CITY };
    static const enum map_table prov[] = { MAP_PROVINCE_PENALTY, MAP_PROVINCE_LICENSE };
    const enum map_table *tabs = t->protocol == PROTO_CITY ? city : prov;
    size_t ntabs = t->protocol == PROTO_CITY ? 1 : 2;

    for (size_t i = 0; i < ntabs; i++) {
        mapping *m;
        if (mapping_new(&m, t, tabs[i], e) < 0)
            return -EINVAL;
        mapping_free(m);
    }
    for (size_t i = 0; i < t->nfields; i++) {
        const struct field_map *f = &t->fields[i];
        bool found = false;
        if (!f->drop)
            continue;
        for (size_t k = 0; k < ntabs && !found; k++) {
            if (!override_applies(tabs[k], f->field))
                continue;
            for (size_t j = 0; j < tables[tabs[k]].n && !found; j++)
                found = strcmp(tables[tabs[k]].defs[j].field, f->field) == 0;
        }
        if (!found)
            return err_set(e, -EINVAL, "targets.%s.fields.%s: null drops nothing: no default "
                           "field of that name", t->name, f->field);
    }
    return 0;
}

/* ---- building a payload ------------------------------------------------ */

/* The value of one column or pseudo-column, or NULL when absent/NULL/"". */
static struct json_object *column(const struct delivery *d, const char *name, size_t len,
                                  struct json_object **tmp)
{
    const char *s = mapping_pseudo(d, name, len);

    if (s)
        return *tmp = json_object_new_string(s);
    return mapping_column(d, name, len);
}

const char *mapping_pseudo(const struct delivery *d, const char *name, size_t len)
{
    static const char *const pseudo[] = { "$decision_id", "$kind", "$revision",
                                          "$publicity_end" };
    const char *s = NULL;

    if (len == 0 || name[0] != '$')
        return NULL;
    if (len == strlen(pseudo[0]) && memcmp(name, pseudo[0], len) == 0)
        s = d->decision_id;
    else if (len == strlen(pseudo[1]) && memcmp(name, pseudo[1], len) == 0)
        s = kind_name(d->kind);
    else if (len == strlen(pseudo[2]) && memcmp(name, pseudo[2], len) == 0)
        s = d->revision;
    else if (len == strlen(pseudo[3]) && memcmp(name, pseudo[3], len) == 0)
        s = d->publicity_end;
    return s && *s ? s : NULL;
}

struct json_object *mapping_column(const struct delivery *d, const char *name, size_t len)
{
    struct json_object *v = NULL;
    char key[128];

    if (len >= sizeof key || (len > 0 && name[0] == '$'))
        return NULL;
    memcpy(key, name, len);
    key[len] = '\0';
    if (!d->fields || !json_object_object_get_ex(d->fields, key, &v) || !v)
        return NULL;
    if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) == 0)
        return NULL;
    return v;
}

/* Put val at the dotted path key of root (takes ownership of val). */
static void put_path(struct json_object *root, const char *key, struct json_object *val)
{
    const char *dot;
    char seg[128];

    while ((dot = strchr(key, '.')) != NULL) {
        struct json_object *child;
        size_t l = (size_t)(dot - key) < sizeof seg - 1 ? (size_t)(dot - key) : sizeof seg - 1;
        memcpy(seg, key, l);
        seg[l] = '\0';
        if (!json_object_object_get_ex(root, seg, &child)
            || !json_object_is_type(child, json_type_object)) {
            child = json_object_new_object();
            json_object_object_add(root, seg, child);
        }
        root = child;
        key = dot + 1;
    }
    json_object_object_add(root, key, val);
}

static int apply_entry(const struct map_entry *me, const struct delivery *d,
                       struct json_object *root, struct err *e)
{
    struct json_object *src = NULL, *tmp = NULL, *val = NULL;
    const char *text;
    int rc = 0;

    if (me->from) {
        const char *p = me->from;
        while (!src) {
            size_t l = strcspn(p, "|");
            src = column(d, p, l, &tmp);
            if (!p[l])
                break;
            p += l + 1;
        }
        if (!src)
            return 0;
        text = json_object_get_string(src);
    } else {
        text = me->value;
    }
    if (me->transform) {
        struct err te;
        if (mapping_transform(me->transform, text, &val, &te) < 0)
            rc = err_set(e, -EINVAL, "decision %s: payload field %s: %s", d->decision_id,
                         me->field, te.msg);
    } else if (src && !json_object_is_type(src, json_type_string)) {
        json_object_deep_copy(src, &val, NULL);
    } else {
        val = json_object_new_string(text);
    }
    if (val)
        put_path(root, me->field, val);
    json_object_put(tmp);
    return rc;
}

int mapping_apply(const mapping *m, const struct delivery *d, struct json_object **out,
                  struct err *e)
{
    struct json_object *root = json_object_new_object();

    *out = NULL;
    for (size_t i = 0; i < m->n; i++)
        if (apply_entry(&m->e[i], d, root, e) < 0) {
            json_object_put(root);
            return -EINVAL;
        }
    *out = root;
    return 0;
}

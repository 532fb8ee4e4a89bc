/* mask.c - privacy masking of a decision's fields (see mask.h, docs/rules.md
 * "Masking").
 *
 * Three passes over the field set, in this order because the later ones
 * need values the earlier ones remove:
 *   1. collect the decision's own private values (ID number, each phone
 *      number, address) while they are still there;
 *   2. drop the never-published columns and mask party_id_no;
 *   3. replace the collected values in the free-text fields with "***". */
#include "fields.h"
#include "mask.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checkdigit.h"

/* Columns never published, for any party type. */
static const char *const drop_exact[] = {
    "party_address", "party_phone", "party_birth_date", "birth_date",
};
static const char *const drop_containing[] = { "bank", "account" };
static const char *const drop_prefix[] = { "health", "property" };

/* Free-text columns that may quote the party's private values. */
static const char *const free_text[] = {
    "violation_facts", "penalty_content", "license_content", "remarks", "case_name",
};

/* Party types whose ID number is a natural person's. */
static const char *const person_types[] = { "natural_person", "individual_business" };

/* Separators between several numbers in party_phone, ASCII and full-width. */
static const char *const phone_separators[] = {
    ",", ";", "/", " ", "\t", "\r", "\n", "，", "；", "、", "／", "　",
};

/* A value shorter than this (in characters) is not searched for: "无",
 * "-" or an extension number would garble the text and protect nothing. */
#define MIN_NEEDLE_CHARS 4

#define N(a) (sizeof(a) / sizeof(a)[0])

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, list[i]))
            return true;
    return false;
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* Byte offset of the character number `idx` in s (or len). */
static size_t utf8_offset(const char *s, size_t len, size_t idx)
{
    size_t i = 0;
    for (; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && idx-- == 0)
            break;
    return i;
}

void mask_id_number(const char *id, struct buf *out)
{
    size_t len = strlen(id), n = utf8_chars(id, len);
    if (n < 11) {
        for (size_t i = 0; i < n; i++)
            buf_putc(out, '*');
        return;
    }
    size_t head = utf8_offset(id, len, 6), tail = utf8_offset(id, len, n - 4);
    buf_append(out, id, head);
    for (size_t i = 0; i < n - 10; i++)
        buf_putc(out, '*');
    buf_append(out, id + tail, len - tail);
}

static bool dropped(const char *key)
{
    if (in_list(key, drop_exact, N(drop_exact)))
        return true;
    for (size_t i = 0; i < N(drop_containing); i++)
        if (strcasestr(key, drop_containing[i]))
            return true;
    for (size_t i = 0; i < N(drop_prefix); i++)
        if (!strncasecmp(key, drop_prefix[i], strlen(drop_prefix[i])))
            return true;
    return false;
}

struct needles {
    char **v;
    size_t n;
};

static void add_needle(struct needles *nd, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (utf8_chars(s, len) < MIN_NEEDLE_CHARS)
        return;
    nd->v = xrealloc(nd->v, (nd->n + 1) * sizeof *nd->v);
    nd->v[nd->n++] = xstrndup(s, len);
}

static size_t separator_at(const char *s)
{
    for (size_t i = 0; i < N(phone_separators); i++) {
        size_t l = strlen(phone_separators[i]);
        if (!strncmp(s, phone_separators[i], l))
            return l;
    }
    return 0;
}

static void add_phones(struct needles *nd, const char *s)
{
    const char *start = s;
    while (*s) {
        size_t sep = separator_at(s);
        if (sep) {
            add_needle(nd, start, (size_t)(s - start));
            s += sep;
            start = s;
        } else {
            s++;
        }
    }
    add_needle(nd, start, (size_t)(s - start));
}

static int longest_first(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Replace every occurrence of needle (ASCII case-insensitive, so an ID
 * typed with 'x' matches one stored with 'X') with "***". */
static bool replace_all(struct buf *text, const char *needle)
{
    size_t nl = strlen(needle);
    if (text->len < nl)
        return false;
    struct buf out = BUF_INIT;
    bool hit = false;
    size_t i = 0, start = 0;
    while (i + nl <= text->len) {
        if (!strncasecmp(text->data + i, needle, nl)) {
            buf_append(&out, text->data + start, i - start);
            buf_puts(&out, "***");
            i += nl;
            start = i;
            hit = true;
        } else {
            i++;
        }
    }
    if (hit) {
        buf_append(&out, text->data + start, text->len - start);
        buf_free(text);
        *text = out;
    } else {
        buf_free(&out);
    }
    return hit;
}

static void scrub(struct json_object *fields, const struct needles *nd)
{
    for (size_t f = 0; f < N(free_text); f++) {
        struct json_object *v;
        if (!json_object_object_get_ex(fields, free_text[f], &v) || !json_object_is_type(v, json_type_string))
            continue;
        struct buf text = BUF_INIT;
        buf_append(&text, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        bool changed = false;
        for (size_t i = 0; i < nd->n; i++)
            changed |= replace_all(&text, nd->v[i]);
        if (changed)
            json_object_object_add(fields, free_text[f],
                                   json_object_new_string_len(buf_str(&text), (int)text.len));
        buf_free(&text);
    }
}

void mask_fields(struct json_object *fields)
{
    struct needles nd = { NULL, 0 };
    const char *s;

    if (!json_object_is_type(fields, json_type_object))
        return;

    if ((s = fields_text(fields, "party_id_no")))
        add_needle(&nd, s, strlen(s));
    if ((s = fields_text(fields, "party_phone")))
        add_phones(&nd, s);
    if ((s = fields_text(fields, "party_address")))
        add_needle(&nd, s, strlen(s));
    /* Longest first, so a number that contains another is replaced whole. */
    if (nd.n > 1)
        qsort(nd.v, nd.n, sizeof *nd.v, longest_first);

    /* Keys are collected before deleting: deleting while iterating json-c's
     * table would invalidate the iterator. */
    size_t ndrop = 0;
    char **drop = xcalloc((size_t)json_object_object_length(fields) + 1, sizeof *drop);
    json_object_object_foreach(fields, key, val) {
        (void)val;
        if (dropped(key))
            drop[ndrop++] = xstrdup(key);
    }
    for (size_t i = 0; i < ndrop; i++) {
        json_object_object_del(fields, drop[i]);
        free(drop[i]);
    }
    free(drop);

    if (in_list(fields_text(fields, "party_type"), person_types, N(person_types))
        && (s = fields_text(fields, "party_id_no")) && *s) {
        struct buf m = BUF_INIT;
        mask_id_number(s, &m);
        json_object_object_add(fields, "party_id_no", json_object_new_string(buf_str(&m)));
        buf_free(&m);
    }

    scrub(fields, &nd);

    for (size_t i = 0; i < nd.n; i++)
        free(nd.v[i]);
    free(nd.v);
}

/* Birth date in digits 7-14 of an 18-character resident ID number.  The
 * check character is not required: a number with a typo in it still
 * shows the birth date, and it is safer to hold back a minor's record
 * than to publish it because of the typo. */
static date_t birth_of(const char *id)
{
    if (strlen(id) != 18)
        return DATE_NONE;
    for (int i = 0; i < 17; i++)
        if (id[i] < '0' || id[i] > '9')
            return DATE_NONE;
    char s[11] = { id[6], id[7], id[8], id[9], '-', id[10], id[11], '-', id[12], id[13], '\0' };
    date_t d;
    return date_parse(s, &d) == 0 ? d : DATE_NONE;
}

date_t mask_adult_on(date_t birth)
{
    int y, m, d;
    if (birth == DATE_NONE)
        return DATE_NONE;
    date_to_ymd(birth, &y, &m, &d);
    /* Born on 29 February: the 18th year never has one (y + 18 is not a
     * leap year when y is), and the 18 years are complete on 1 March. */
    if (m == 2 && d == 29)
        return date_from_ymd(y + 18, 3, 1);
    return date_from_ymd(y + 18, m, d);
}

bool mask_is_minor(struct json_object *fields, date_t decided_on)
{
    const char *type = fields_text(fields, "party_type");
    const char *id = fields_text(fields, "party_id_no");
    if (!type || strcmp(type, "natural_person") != 0 || !id || decided_on == DATE_NONE)
        return false;
    if (!checkdigit_is_resident_id_type(fields_text(fields, "party_id_type")))
        return false;
    date_t birth = birth_of(id);
    if (birth == DATE_NONE)
        return false;
    return decided_on < mask_adult_on(birth);
}

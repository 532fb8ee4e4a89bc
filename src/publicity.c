/* publicity.c - the publicity period (see publicity.h, docs/rules.md
 * "The publicity period", after SAMR's 市场监督管理行政处罚信息公示规定 art. 14).
 *
 * Periods run from the day of first publication.  As the Civil Code
 * counts periods in months (arts. 201-202: the first day is not counted;
 * the period ends on the corresponding day of the last month, or that
 * month's last day when it has none), the last day of a 3-month period
 * that began on 2026-01-15 is 2026-04-15 - date_add_months exactly. */
#include "publicity.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

#define SHORT_MONTHS 3
#define LONG_MONTHS 36
#define MAX_MONTHS 1200

/* Categories that alone (or together) earn the short period; a fine only
 * when at or below the smaller-amount threshold. */
#define SHORT_TYPES (PT_WARNING | PT_CRITICISM | PT_FINE)
#define RESTRICTIONS (PT_RESTRICT_BUSINESS | PT_RESTRICT_PRACTICE)

/* Party types whose threshold is the one for persons. */
static const char *const person_types[] = { "natural_person", "individual_business" };

static struct json_object *field(struct json_object *fields, const char *key)
{
    struct json_object *v = NULL;
    json_object_object_get_ex(fields, key, &v);
    return v;
}

/* A date column as the database prints it: "YYYY-MM-DD", possibly with a
 * time after it (timestamp columns). */
static date_t date_field(struct json_object *fields, const char *key)
{
    struct json_object *v = field(fields, key);
    if (!json_object_is_type(v, json_type_string))
        return DATE_NONE;
    const char *s = json_object_get_string(v);
    char day[11];
    size_t len = strlen(s);
    if (len < 10 || (len > 10 && s[10] != ' ' && s[10] != 'T'))
        return DATE_NONE;
    memcpy(day, s, 10);
    day[10] = '\0';
    date_t d;
    return date_parse(day, &d) == 0 ? d : DATE_NONE;
}

/* A numeric column; false when absent, null or not a number. */
static bool number_field(struct json_object *fields, const char *key, double *out)
{
    struct json_object *v = field(fields, key);
    char *end;
    switch (json_object_get_type(v)) {
    case json_type_int:
    case json_type_double:
        *out = json_object_get_double(v);
        return true;
    case json_type_string:
        *out = strtod(json_object_get_string(v), &end);
        return end != json_object_get_string(v) && *end == '\0';
    default:
        return false;
    }
}

static bool is_person(struct json_object *fields)
{
    const char *t = json_object_get_string(field(fields, "party_type"));
    for (size_t i = 0; t && i < sizeof person_types / sizeof *person_types; i++)
        if (!strcmp(t, person_types[i]))
            return true;
    return false;
}

static int penalty_months(struct json_object *fields, const struct config *cfg)
{
    int unknown = 0;
    unsigned types = validate_penalty_types(field(fields, "penalty_types"), &unknown);
    double fine, months;

    if (types && !unknown && !(types & ~SHORT_TYPES)) {
        if (!(types & PT_FINE))
            return SHORT_MONTHS;
        int64_t limit = is_person(fields) ? cfg->publicity.small_fine_person_yuan
                                          : cfg->publicity.small_fine_org_yuan;
        if (number_field(fields, "fine_amount", &fine) && fine >= 0 && fine <= (double)limit)
            return SHORT_MONTHS;
    }
    /* A lifetime ban may be written as a huge number of months: keep it
     * published for a century rather than overflow. */
    if ((types & RESTRICTIONS) && number_field(fields, "restriction_months", &months)
        && months > LONG_MONTHS)
        return months < MAX_MONTHS ? (int)months : MAX_MONTHS;
    return LONG_MONTHS;
}

date_t publicity_end(struct json_object *fields, enum kind kind, date_t first,
                     const struct config *cfg)
{
    date_t until = date_field(fields, "publicity_until");
    if (until != DATE_NONE)
        return until;
    if (kind != KIND_PENALTY || first == DATE_NONE)
        return DATE_NONE;
    return date_add_months(first, penalty_months(fields, cfg));
}

bool publicity_warning_only(struct json_object *fields, enum kind kind)
{
    int unknown = 0;
    return kind == KIND_PENALTY
           && validate_penalty_types(field(fields, "penalty_types"), &unknown) == PT_WARNING
           && unknown == 0;
}

/* calendar.c - working days from a holiday calendar (see calendar.h).
 *
 * Each covered year keeps one status byte per day of the year (default,
 * holiday, working day): the lookups the deadline arithmetic makes are
 * then one index, and a year is 366 bytes.  The YAML is read with
 * libyaml's document API so that every node keeps its position for
 * FILE:LINE:COL messages. */
#include "calendar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"

enum day_status { DAY_DEFAULT = 0, DAY_HOLIDAY, DAY_WORKDAY };

struct cal_year {
    int year;
    date_t jan1;
    unsigned char status[366];
};

struct calendar {
    struct cal_year *years;
    size_t nyears;
};

/* The two lists a year may hold; anything else is an error. */
static const struct {
    const char *key;
    enum day_status status;
} year_keys[] = {
    { "holidays", DAY_HOLIDAY },
    { "workdays", DAY_WORKDAY },
};

static const char *const status_names[] = { "", "holidays", "workdays" };

static int at(struct err *e, const char *name, const yaml_node_t *n, const char *fmt,
              const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, detail);
    return err_set(e, -EINVAL, "%s:%zu:%zu: %s", name, n->start_mark.line + 1,
                   n->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static struct cal_year *find_year(const calendar *c, int year)
{
    for (size_t i = 0; i < c->nyears; i++)
        if (c->years[i].year == year)
            return &c->years[i];
    return NULL;
}

static int parse_year_key(const char *s)
{
    if (!s || strlen(s) != 4)
        return -1;
    int y = 0;
    for (int i = 0; i < 4; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        y = y * 10 + (s[i] - '0');
    }
    return y >= 1900 ? y : -1;
}

static int load_days(struct cal_year *cy, yaml_document_t *doc, yaml_node_t *seq,
                     enum day_status status, const char *name, struct err *e)
{
    if (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0)
        return 0;                           /* "workdays:" with nothing after it */
    if (seq->type != YAML_SEQUENCE_NODE)
        return at(e, name, seq, "%s: expected a list of dates", status_names[status]);
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *n = yaml_document_get_node(doc, *it);
        const char *s = scalar(n);
        date_t d;
        if (!s || date_parse(s, &d) != 0)
            return at(e, name, n, "%s: expected a date YYYY-MM-DD", s ? s : "(not a scalar)");
        int y, m, dd;
        date_to_ymd(d, &y, &m, &dd);
        if (y != cy->year) {
            char msg[64];
            snprintf(msg, sizeof msg, "%s is not in year %d", s, cy->year);
            return at(e, name, n, "%s", msg);
        }
        /* A make-up working day is by definition a weekend day; a weekday
         * here is a typo that would silently shorten a deadline. */
        if (status == DAY_WORKDAY && date_weekday(d) < 5)
            return at(e, name, n, "%s is a weekday, not a weekend working day", s);
        unsigned char *st = &cy->status[d - cy->jan1];
        if (*st != DAY_DEFAULT && *st != status)
            return at(e, name, n, "%s is listed both as a holiday and as a working day", s);
        *st = (unsigned char)status;
    }
    return 0;
}

static int load_year(calendar *c, yaml_document_t *doc, yaml_node_t *key, yaml_node_t *val,
                     const char *name, struct err *e)
{
    int year = parse_year_key(scalar(key));
    if (year < 0)
        return at(e, name, key, "%s: expected a year (4 digits)",
                  scalar(key) ? scalar(key) : "(not a scalar)");
    if (find_year(c, year))
        return at(e, name, key, "year %s appears twice", scalar(key));
    if (val->type != YAML_MAPPING_NODE)
        return at(e, name, val, "year %s: expected holidays: and workdays: lists", scalar(key));

    c->years = xrealloc(c->years, (c->nyears + 1) * sizeof *c->years);
    struct cal_year *cy = &c->years[c->nyears++];
    memset(cy, 0, sizeof *cy);
    cy->year = year;
    cy->jan1 = date_from_ymd(year, 1, 1);

    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const char *ks = scalar(k);
        size_t i = 0;
        while (i < sizeof year_keys / sizeof year_keys[0] && !(ks && !strcmp(ks, year_keys[i].key)))
            i++;
        if (i == sizeof year_keys / sizeof year_keys[0])
            return at(e, name, k, "unknown key %s (expected holidays or workdays)",
                      ks ? ks : "(not a scalar)");
        int rc = load_days(cy, doc, v, year_keys[i].status, name, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int calendar_parse(calendar **out, const char *text, size_t len, const char *name,
                   struct err *e)
{
    int rc = -EINVAL;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    calendar *c = xcalloc(1, sizeof *c);

    *out = NULL;
    if (!yaml_parser_initialize(&parser)) {
        rc = err_set(e, -ENOMEM, "%s: cannot initialise the YAML parser", name);
        goto out_free;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *m = &parser.problem_mark;
        rc = err_set(e, -EINVAL, "%s:%zu:%zu: %s", name, m->line + 1, m->column + 1,
                     parser.problem ? parser.problem : "invalid YAML");
        goto out;
    }
    have_doc = true;

    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        if (root->type != YAML_MAPPING_NODE) {
            rc = at(e, name, root, "%s", "expected a mapping of years");
            goto out;
        }
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++) {
            rc = load_year(c, &doc, yaml_document_get_node(&doc, p->key),
                           yaml_document_get_node(&doc, p->value), name, e);
            if (rc < 0)
                goto out;
        }
    }
    *out = c;
    c = NULL;
    rc = 0;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
out_free:
    calendar_free(c);
    return rc;
}

int calendar_load(calendar **out, const char *path, struct err *e)
{
    int rc;
    struct buf text = BUF_INIT;
    char chunk[8192];
    size_t n;
    FILE *f = fopen(path, "r");

    *out = NULL;
    if (!f)
        return err_set(e, -errno, "%s: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&text, chunk, n);
    if (ferror(f)) {
        rc = err_set(e, -EIO, "%s: read error", path);
        goto out;
    }
    rc = calendar_parse(out, buf_str(&text), text.len, path, e);
out:
    fclose(f);
    buf_free(&text);
    return rc;
}

void calendar_free(calendar *c)
{
    if (!c)
        return;
    free(c->years);
    free(c);
}

bool calendar_is_workday(const calendar *c, date_t day)
{
    int y, m, d;
    date_to_ymd(day, &y, &m, &d);
    const struct cal_year *cy = c ? find_year(c, y) : NULL;
    if (cy && cy->status[day - cy->jan1] != DAY_DEFAULT)
        return cy->status[day - cy->jan1] == DAY_WORKDAY;
    return date_weekday(day) < 5;
}

date_t calendar_add_workdays(const calendar *c, date_t start, int n)
{
    if (start == DATE_NONE || n < 0)
        return DATE_NONE;
    date_t day = start;
    while (n > 0) {
        day++;
        if (calendar_is_workday(c, day))
            n--;
    }
    return day;
}

bool calendar_covers(const calendar *c, int year)
{
    return c && find_year(c, year) != NULL;
}

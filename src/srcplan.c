/* srcplan.c - see srcplan.h. */
#include "srcplan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

#define MAX_SCANS 32

struct scan_rel {
    const char *alias, *schema, *name;
};

struct plan_walk {
    json_object *sort;                 /* the first Sort node, NULL when none */
    struct scan_rel scans[MAX_SCANS];
    int nscans;
};

static const char *str_of(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static void walk(json_object *node, struct plan_walk *w)
{
    const char *type = str_of(node, "Node Type");
    const char *rel = str_of(node, "Relation Name");
    json_object *kids;

    if (type && !strcmp(type, "Sort") && !w->sort)
        w->sort = node;
    if (rel && w->nscans < MAX_SCANS)
        w->scans[w->nscans++] = (struct scan_rel){ .alias = str_of(node, "Alias"),
                                                   .schema = str_of(node, "Schema"),
                                                   .name = rel };
    if (json_object_object_get_ex(node, "Plans", &kids))
        for (size_t i = 0; i < json_object_array_length(kids); i++)
            walk(json_object_array_get_idx(kids, i), w);
}

/* key names alias at p: "alias." not inside a longer name. */
static bool alias_at(const char *key, const char *p, const char *alias)
{
    size_t n = strlen(alias);
    if (strncmp(p, alias, n) != 0 || p[n] != '.')
        return false;
    return p == key || !(p[-1] == '_' || p[-1] == '.' || p[-1] == '"'
                         || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= '0' && p[-1] <= '9'));
}

/* The scan whose alias key names (as "alias."), NULL when none or more
 * than one table does. */
static const struct scan_rel *key_table(const struct plan_walk *w, const char *key)
{
    const struct scan_rel *found = NULL;
    for (int i = 0; i < w->nscans; i++) {
        if (!w->scans[i].alias)
            continue;
        for (const char *p = strstr(key, w->scans[i].alias); p;
             p = strstr(p + 1, w->scans[i].alias)) {
            if (alias_at(key, p, w->scans[i].alias)) {
                if (found && found != &w->scans[i])
                    return NULL;
                found = &w->scans[i];
                break;
            }
        }
    }
    return found;
}

/* key with every "alias." removed: the expression on the table itself. */
static void put_key(struct buf *b, const char *key, const char *alias)
{
    size_t n = strlen(alias);
    for (const char *p = key; *p;) {
        if (alias_at(key, p, alias)) {
            p += n + 1;
            continue;
        }
        buf_printf(b, "%c", *p++);
    }
}

/* "CREATE INDEX ON table (k1, k2)" when every sort key comes from one table. */
static char *index_on_table(const struct plan_walk *w, json_object *keys)
{
    const struct scan_rel *t = NULL;
    size_t n = json_object_array_length(keys);

    for (size_t i = 0; i < n; i++) {
        const struct scan_rel *k = key_table(w, json_object_get_string(
                                                    json_object_array_get_idx(keys, i)));
        if (!k || (t && k != t))
            return NULL;
        t = k;
    }
    if (!t || !t->name)
        return NULL;
    struct buf b = BUF_INIT;
    buf_puts(&b, "CREATE INDEX ON ");
    if (t->schema)
        buf_printf(&b, "%s.", t->schema);
    buf_printf(&b, "%s (", t->name);
    for (size_t i = 0; i < n; i++) {
        const char *key = json_object_get_string(json_object_array_get_idx(keys, i));
        bool bare = key[0] == '(' || !strchr(key, '(');   /* an expression is parenthesised */
        buf_puts(&b, i ? ", " : "");
        buf_puts(&b, bare ? "" : "(");
        put_key(&b, key, t->alias);
        buf_puts(&b, bare ? "" : ")");
    }
    buf_puts(&b, ")");
    return buf_steal(&b);
}

char *srcplan_advice(const char *explain_json, const char *relation)
{
    json_object *root = json_tokener_parse(explain_json), *plan, *keys;
    struct plan_walk w = { 0 };
    char *advice = NULL;

    if (!root || !json_object_is_type(root, json_type_array) || !json_object_array_length(root)
        || !json_object_object_get_ex(json_object_array_get_idx(root, 0), "Plan", &plan)) {
        json_object_put(root);
        return NULL;
    }
    walk(plan, &w);
    if (w.sort) {
        if (json_object_object_get_ex(w.sort, "Sort Key", &keys)
            && json_object_is_type(keys, json_type_array))
            advice = index_on_table(&w, keys);
        if (!advice) {
            struct buf b = BUF_INIT;
            buf_printf(&b, "CREATE INDEX ON %s (updated_at, decision_id) -- on the table that "
                       "holds these columns, when the view takes them from one table", relation);
            advice = buf_steal(&b);
        }
    }
    json_object_put(root);
    return advice;
}

/* EXPLAIN of the poll's query with sorting disabled (a plan that can
 * use an index then does). */
static int explain(db *src, const char *keys_sql, PGresult **res, struct err *e)
{
    const char *p[2] = { "-infinity", "" };
    struct buf sql = BUF_INIT;
    int rc;

    if ((rc = db_exec(src, "check the source's plan", "BEGIN READ ONLY", 0, NULL, NULL, e)) < 0)
        return rc;
    buf_printf(&sql, "EXPLAIN (VERBOSE, FORMAT JSON) %s", keys_sql);
    if ((rc = db_exec(src, "check the source's plan", "SET LOCAL enable_sort = off",
                      0, NULL, NULL, e)) == 0)
        rc = db_exec(src, "check the source's plan", sql.data, 2, p, res, e);
    db_rollback(src);
    buf_free(&sql);
    return rc;
}

void srcplan_check(db *src, const char *keys_sql, const char *relation)
{
    PGresult *r = NULL;
    struct err e;
    char *advice = NULL;

    if (explain(src, keys_sql, &r, &e) < 0) {
        log_notice("cannot check the source's plan", KV("error", e.msg));
        return;
    }
    if (PQntuples(r) == 1)
        advice = srcplan_advice(PQgetvalue(r, 0, 0), relation);
    PQclear(r);
    r = NULL;
    if (!advice)
        return;
    const char *p[2] = { "-infinity", "" };
    int64_t t0 = clock_mono_ms();
    int rc = db_exec(src, "time one poll", keys_sql, 2, p, &r, &e);
    int64_t ms = clock_mono_ms() - t0;
    PQclear(r);
    log_warning("no index serves the source's poll order: every poll sorts the whole source; "
                "an index would fix it", KV("relation", relation), KV("create_index", advice),
                KVI("poll_ms", rc == 0 ? ms : -1));
    free(advice);
}

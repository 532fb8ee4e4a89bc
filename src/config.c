/* config.c - the YAML configuration (epsync.yaml(5)): key tables, load, free.
 *
 * One static table per YAML mapping lists its keys (name, type, offset,
 * default, bounds, flags), in the manner of Redis config.c and PgBouncer's
 * cf_params.  The same tables drive defaults, parsing, validation and
 * config_print(): a key added to a table is parsed, defaulted and printed
 * without touching any other code.  Sections (poll, retry, tls, ...) keep
 * the offset base of the struct they fill and only add YAML nesting.
 *
 * The file is read with libyaml's document API because its nodes keep
 * their start marks, so every error can name FILE:LINE:COL.  Defaults are
 * written in the file's own syntax ("5s", "20/s") and go through the same
 * parsers as the file, so they cannot drift from what a user may write.
 * The syntax of single values is in config_value.c, printing in
 * config_print.c (config_int.h).
 */
#include "config.h"
#include "mapping.h"
#include "mask.h"
#include "sign.h"

#include "buf.h"
#include "calendar.h"
#include "config_int.h"
#include "log.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

struct ctx {
    const char *path;       /* the config file, for messages */
    char *dir;              /* its directory, for relative paths */
    const char *text;       /* the whole file */
    size_t len;
    unsigned flags;         /* CONFIG_* */
    yaml_document_t *doc;
    struct err *e;
};

/* Values that are a mapping or a list; scalars are config_scalars[]. */
typedef int node_fn(struct ctx *c, const struct key *k, yaml_node_t *n, char *base,
                    const char *where);

/* ---- small helpers ---------------------------------------------------- */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* The closest name in a NULL-terminated table whose elements start with a
 * `const char *name` (struct key, struct enum_name), if close enough to be
 * a misspelling: at most 2 edits, or a third of the word. */
static const char *suggest(const char *name, const void *table, size_t stride)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX, limit = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
    for (const char *p = table; *(const char *const *)p; p += stride) {
        const char *cand = *(const char *const *)p;
        size_t d = edit_distance(name, cand);
        if (d < bestd) {
            bestd = d;
            best = cand;
        }
    }
    return bestd <= limit ? best : NULL;
}

static void set_str(char **p, const char *s)
{
    char *old = *p;
    *p = xstrdup(s);
    free(old);
}

static int at(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int at(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[sizeof c->e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(c->e, -EINVAL, "%s:%zu:%zu: %s", c->path,
                   n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1, msg);
}

static yaml_node_t *node(struct ctx *c, int i) { return yaml_document_get_node(c->doc, i); }
static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = text(n);
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *node_what(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list"
         : is_null(n) ? "nothing" : "a scalar";
}

/* The value node of `name` in mapping m, or NULL. */
static yaml_node_t *lookup(struct ctx *c, yaml_node_t *m, const char *name)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp(text(k), name) == 0)
            return node(c, p->value);
    }
    return NULL;
}

/* Scalar keys, each once. */
static int check_key(struct ctx *c, yaml_node_t *m, yaml_node_pair_t *p, const char *where)
{
    yaml_node_t *k = node(c, p->key);
    if (k->type != YAML_SCALAR_NODE)
        return at(c, k, "%s%skeys must be plain words, not %s", where, *where ? ": " : "",
                  node_what(k));
    for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *o = node(c, q->key);
        if (o->type == YAML_SCALAR_NODE && strcmp(text(o), text(k)) == 0)
            return at(c, k, "%s%sduplicate key '%s' (first at line %zu)", where,
                      *where ? ": " : "", text(k), o->start_mark.line + 1);
    }
    return 0;
}

/* ---- structured values ----------------------------------------------- */

static int parse_map(struct ctx *c, const struct key *keys, yaml_node_t *m, char *base,
                     const char *where, int proto);

static int node_secret_inline(struct ctx *c, const struct key *k, yaml_node_t *n, char *base,
                              const char *where)
{
    (void)base;
    return at(c, n, "%s: secrets are never written in the configuration file; put it in a file "
              "named by %s_file (e.g. under $CREDENTIALS_DIRECTORY) or an environment "
              "variable named by %s_env", where, k->name, k->name);
}

static int node_section(struct ctx *c, const struct key *k, yaml_node_t *n, char *base,
                        const char *where)
{
    return parse_map(c, k->aux, n, base, where, -1);
}

static int node_kinds(struct ctx *c, const struct key *k, yaml_node_t *n, char *base,
                      const char *where)
{
    unsigned *mask = (unsigned *)(base + k->off);
    char list[128];
    if (n->type != YAML_SEQUENCE_NODE)
        return at(c, n, "%s: expected a list of kinds, got %s", where, node_what(n));
    if (n->data.sequence.items.start == n->data.sequence.items.top)
        return at(c, n, "%s: name at least one kind", where);
    config_enum_list(config_kind_names, list, sizeof list);
    *mask = 0;
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *v = node(c, *i);
        int kd = v->type == YAML_SCALAR_NODE ? kind_parse(text(v)) : -1;
        if (v->type != YAML_SCALAR_NODE)
            return at(c, v, "%s: expected a kind, got %s", where, node_what(v));
        if (kd < 0) {
            const char *s = suggest(text(v), config_kind_names, sizeof config_kind_names[0]);
            return at(c, v, "%s: unknown kind '%s'%s%s%s (kinds: %s)", where, text(v),
                      s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "", list);
        }
        *mask |= 1u << kd;
    }
    return 0;
}

static int field_one(struct ctx *c, yaml_node_t *v, struct field_map *f, const char *where)
{
    char why[CONFIG_WHY];
    int rc;
    if (is_null(v))
        return f->drop = true, 0;
    if (v->type == YAML_SCALAR_NODE) {
        if (config_scalars[T_COLUMN].parse(c->dir, &config_field_keys[0], text(v), (char *)f,
                                           why) < 0)
            return at(c, v, "%s: %s", where, why);
        return 0;
    }
    if ((rc = parse_map(c, config_field_keys, v, (char *)f, where, -1)) < 0)
        return rc;
    if (!f->from == !f->value)
        return at(c, v, "%s: give either 'from' (a source column) or 'value' (a fixed value)",
                  where);
    if (f->transform && !f->from)
        return at(c, v, "%s: 'transform' applies to a 'from' column, not to a fixed value", where);
    return 0;
}

static int node_fields(struct ctx *c, const struct key *k, yaml_node_t *n, char *base,
                       const char *where)
{
    struct target_cfg *t = (struct target_cfg *)base;
    char sub[256];
    int rc;
    (void)k;
    if (n->type != YAML_MAPPING_NODE)
        return at(c, n, "%s: expected a mapping of payload fields, got %s", where, node_what(n));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        if ((rc = check_key(c, n, p, where)) < 0)
            return rc;
        yaml_node_t *kn = node(c, p->key);
        if (!*text(kn))
            return at(c, kn, "%s: empty field name", where);
        t->fields = xrealloc(t->fields, (t->nfields + 1) * sizeof *t->fields);
        struct field_map *f = memset(&t->fields[t->nfields++], 0, sizeof *t->fields);
        f->field = xstrdup(text(kn));
        snprintf(sub, sizeof sub, "%s.%s", where, text(kn));
        if ((rc = field_one(c, node(c, p->value), f, sub)) < 0)
            return rc;
    }
    return 0;
}

static void apply_defaults(struct ctx *c, const struct key *keys, char *base);

static int finish_target(struct ctx *c, struct target_cfg *t, yaml_node_t *m, const char *where)
{
    const char *cred = t->protocol == PROTO_CITY ? "client_secret" : "app_secret";
    /* A command that never talks to a platform (report, show) may run
     * with a configuration of its own that names no secret at all. */
    if (!t->secret_from && config_value_loading_secrets())
        return at(c, m, "%s: missing required key '%s_file' or '%s_env'", where, cred, cred);
    if (!strncmp(t->base_url, "http://", 7) && !t->allow_plain_http)
        return at(c, lookup(c, m, "base_url"), "%s.base_url: plain http:// is refused (secrets "
                  "and personal data would travel unencrypted); use https://, or set "
                  "allow_plain_http: true for a test platform", where);
    if (!t->tls.verify && !t->tls.insecure_ack)
        return at(c, lookup(c, lookup(c, m, "tls"), "verify"), "%s.tls.verify: false is refused "
                  "(anyone on the path could read the secrets and personal data and forge the "
                  "answers); fix the CA (tls.ca_file), or also set "
                  "tls.insecure_skip_verify_i_understand: true", where);
    if (!t->kinds)
        t->kinds = t->protocol == PROTO_CITY ? (1u << KIND_COUNT) - 1
                 : (1u << KIND_PENALTY) | (1u << KIND_LICENSE);
    struct err me;
    if (mapping_check(t, &me) < 0)
        return at(c, lookup(c, m, "fields") ? lookup(c, m, "fields") : m, "%s", me.msg);
    if (mask_check_target(t, &me) < 0)
        return at(c, lookup(c, m, "publish_columns") ? lookup(c, m, "publish_columns") : m, "%s",
                  me.msg);
    return 0;
}

static int node_targets(struct ctx *c, const struct key *k, yaml_node_t *n, char *base,
                        const char *where)
{
    struct config *cfg = (struct config *)base;
    char sub[128], why[CONFIG_WHY];
    int rc;
    (void)k;
    if (n->type != YAML_MAPPING_NODE || n->data.mapping.pairs.start == n->data.mapping.pairs.top)
        return at(c, n, "%s: expected a mapping of target names to targets, got %s", where,
                  n->type == YAML_MAPPING_NODE ? "none" : node_what(n));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        if ((rc = check_key(c, n, p, where)) < 0)
            return rc;
        yaml_node_t *kn = node(c, p->key), *m = node(c, p->value), *pn;
        const char *name = text(kn);
        size_t len = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
        if (!*name || name[len] || len > 32)
            return at(c, kn, "%s: target name '%s' must be 1 to 32 letters, digits, _ or -",
                      where, name);
        snprintf(sub, sizeof sub, "%s.%s", where, name);
        if (m->type != YAML_MAPPING_NODE)
            return at(c, m, "%s: expected a mapping, got %s", sub, node_what(m));
        cfg->targets = xrealloc(cfg->targets, (cfg->ntargets + 1) * sizeof *cfg->targets);
        struct target_cfg *t = memset(&cfg->targets[cfg->ntargets++], 0, sizeof *cfg->targets);
        t->name = xstrdup(name);
        apply_defaults(c, config_target_keys, (char *)t);
        /* Which keys are allowed depends on the protocol: read it first
         * (config_target_keys[0] is `protocol`). */
        if (!(pn = lookup(c, m, "protocol")))
            return at(c, m, "%s: missing required key 'protocol' (city or province)", sub);
        if (pn->type != YAML_SCALAR_NODE ||
            config_scalars[T_ENUM].parse(c->dir, &config_target_keys[0], text(pn), (char *)t,
                                         why) < 0)
            return at(c, pn, "%s.protocol: %s", sub, pn->type == YAML_SCALAR_NODE ? why
                      : "expected city or province");
        if ((rc = parse_map(c, config_target_keys, m, (char *)t, sub, (int)t->protocol)) < 0 ||
            (rc = finish_target(c, t, m, sub)) < 0)
            return rc;
    }
    return 0;
}

static node_fn *const walkers[T_COUNT] = {
    [T_SECRET_INLINE] = node_secret_inline, [T_KINDS] = node_kinds, [T_FIELDS] = node_fields,
    [T_SECTION] = node_section, [T_TARGETS] = node_targets,
};

static int parse_value(struct ctx *c, const struct key *k, yaml_node_t *n, char *base,
                       const char *where)
{
    const struct config_scalar *ti = &config_scalars[k->type];
    char why[CONFIG_WHY];
    if (walkers[k->type])
        return walkers[k->type](c, k, n, base, where);
    if (n->type != YAML_SCALAR_NODE)
        return at(c, n, "%s: expected a single value, got %s", where, node_what(n));
    const char *s = is_null(n) ? "" : text(n);
    if (is_null(n) && !ti->nullable)
        return at(c, n, "%s: missing value", where);
    if ((k->flags & F_REQUIRED) && ti->owns_string && !*s)
        return at(c, n, "%s: must not be empty", where);
    if (ti->parse(c->dir, k, s, base, why) < 0)
        return at(c, n, "%s: %s", where, why);
    return 0;
}

static int parse_map(struct ctx *c, const struct key *keys, yaml_node_t *m, char *base,
                     const char *where, int proto)
{
    const char *sep = *where ? ": " : "";
    uint64_t seen = 0;
    char sub[160];
    int rc;
    if (m->type != YAML_MAPPING_NODE)
        return at(c, m, "%s%sexpected a mapping, got %s", where, sep, node_what(m));
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        if ((rc = check_key(c, m, p, where)) < 0)
            return rc;
        yaml_node_t *kn = node(c, p->key);
        const char *name = text(kn);
        const struct key *k = keys;
        while (k->name && strcmp(k->name, name) != 0)
            k++;
        if (!k->name) {
            const char *s = suggest(name, keys, sizeof *keys);
            return at(c, kn, "%s%sunknown key '%s'%s%s%s", where, sep, name,
                      s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
        }
        if (!config_key_applies(k, proto))
            return at(c, kn, "%s%s'%s' is a key of protocol %s targets, this one is %s", where,
                      sep, name, (k->flags & F_CITY) ? "city" : "province",
                      config_enum_label(config_proto_names, proto));
        seen |= 1ull << (k - keys);
        snprintf(sub, sizeof sub, "%s%s%s", where, *where ? "." : "", name);
        if ((rc = parse_value(c, k, node(c, p->value), base, sub)) < 0)
            return rc;
    }
    for (const struct key *k = keys; k->name; k++)
        if ((k->flags & F_REQUIRED) && config_key_applies(k, proto) && !(seen & (1ull << (k - keys))))
            return at(c, m, "%s%smissing required key '%s'", where, sep, k->name);
    return 0;
}

static void apply_defaults(struct ctx *c, const struct key *keys, char *base)
{
    char why[CONFIG_WHY];
    for (const struct key *k = keys; k->name; k++) {
        if (k->type == T_SECTION)
            apply_defaults(c, k->aux, base);
        else if (k->def && config_scalars[k->type].parse(c->dir, k, k->def, base, why) < 0)
            abort();    /* a default that does not parse is a bug in the tables */
    }
}

/* The holiday calendar the file names loads: else the error is placed at
 * the `calendar` key (at the top of the file when the default is used). */
static int check_calendar(struct ctx *c, const struct config *cfg, yaml_node_t *root)
{
    yaml_node_t *n = lookup(c, root, "calendar");
    calendar *cal = NULL;
    struct err ce;
    if (calendar_load(&cal, cfg->calendar, &ce) == 0) {
        calendar_free(cal);
        return 0;
    }
    return at(c, n ? n : root, "calendar%s: %s", n ? "" : " (the default)", ce.msg);
}

static int finish_config(struct ctx *c, struct config *cfg, yaml_node_t *root)
{
    if (!cfg->database.state || !*cfg->database.state)
        set_str(&cfg->database.state, cfg->database.source);
    for (int k = 0; k < KIND_COUNT; k++)
        if (cfg->deadline_days[k] == 0)
            cfg->deadline_days[k] = cfg->deadline_default;
    cfg->publish_allow = mask_allow_config(cfg);
    if (!*cfg->audit.anchor_key_file != !*cfg->audit.anchor_file) {
        yaml_node_t *a = lookup(c, root, "audit");
        return at(c, a ? a : root, "audit: give both anchor_key_file and anchor_file, or neither");
    }
    if (cfg->delivery.retry.max_ms < cfg->delivery.retry.initial_ms) {
        yaml_node_t *r = lookup(c, lookup(c, root, "delivery"), "retry");
        return at(c, lookup(c, r, "max") ? lookup(c, r, "max") : r ? r : root,
                  "delivery.retry.max: must not be shorter than delivery.retry.initial");
    }
    /* A request must end, and its answer be recorded, while its lease
     * lasts: otherwise another process may claim the row and send again. */
    for (size_t i = 0; i < cfg->ntargets; i++) {
        const struct target_cfg *t = &cfg->targets[i];
        if (t->timeout_ms + 2 * config_lease_room_ms(cfg->delivery.lease_ms)
            > cfg->delivery.lease_ms) {
            yaml_node_t *tn = lookup(c, lookup(c, root, "targets"), t->name);
            yaml_node_t *to = lookup(c, tn, "timeout");
            return at(c, to ? to : tn ? tn : root,
                      "targets.%s.timeout: %lld ms does not fit in delivery.lease (%lld ms) "
                      "with room to record the answer: at most %lld ms, or a longer lease",
                      t->name, (long long)t->timeout_ms, (long long)cfg->delivery.lease_ms,
                      (long long)(cfg->delivery.lease_ms
                                  - 2 * config_lease_room_ms(cfg->delivery.lease_ms)));
        }
    }
    return (c->flags & CONFIG_CALENDAR) ? check_calendar(c, cfg, root) : 0;
}

/* ---- load and free ----------------------------------------------------- */

/* Strings owned by a struct are exactly its table's string-typed keys. */
static void free_strings(const struct key *keys, char *base)
{
    for (const struct key *k = keys; k->name; k++) {
        if (k->type == T_SECTION)
            free_strings(k->aux, base);
        else if (config_scalars[k->type].owns_string) {
            char **s = (char **)(base + k->off);
            free(*s);
            *s = NULL;     /* client_id and app_id share a slot */
        }
    }
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->ntargets; i++) {
        struct target_cfg *t = &cfg->targets[i];
        free_strings(config_target_keys, (char *)t);
        sign_wipe_free(t->secret);
        free(t->secret_from);
        free(t->name);
        for (size_t j = 0; j < t->nfields; j++) {
            free_strings(config_field_keys, (char *)&t->fields[j]);
            free(t->fields[j].field);
        }
        free(t->fields);
    }
    free(cfg->targets);
    mask_allow_free(cfg->publish_allow);
    free_strings(config_root_keys, (char *)cfg);
    free(cfg->path);
    free(cfg);
}

const struct target_cfg *config_target(const struct config *cfg, const char *name)
{
    for (size_t i = 0; cfg && name && i < cfg->ntargets; i++)
        if (strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}

static char *config_dir(const char *path)
{
    char *tmp = xstrdup(path), *r = realpath(dirname(tmp), NULL);
    char *out = r ? r : xstrdup(dirname(tmp));
    free(tmp);
    return out;
}

/* Whether line `line` (from 0) of the text is indented with a tab. */
static bool tab_indented(const struct ctx *c, size_t line)
{
    const char *p = c->text, *end = c->text + c->len;
    for (size_t l = 0; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    for (; p < end && (*p == ' ' || *p == '\t'); p++)
        if (*p == '\t')
            return true;
    return false;
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *y)
{
    const yaml_mark_t *m = &y->problem_mark;
    bool tab = tab_indented(c, m->line) || (m->line > 0 && tab_indented(c, m->line - 1));
    return err_set(c->e, -EINVAL, "%s:%zu:%zu: %s%s%s%s", c->path, m->line + 1, m->column + 1,
                   y->problem ? y->problem : "invalid YAML", y->context ? " " : "",
                   y->context ? y->context : "",
                   tab ? "; YAML does not allow tabs for indentation; use spaces" : "");
}

/* Read the file, refusing one that others may read: it names the
 * secrets' locations and the database. */
static int read_config(const char *path, struct buf *out, struct err *e)
{
    struct stat st;
    char chunk[8192];
    size_t n;
    int rc = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return err_set(e, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
        rc = err_set(e, -EINVAL, "%s: not a regular file", path);
    else if (st.st_mode & 077)
        rc = err_set(e, -EACCES, "%s: readable by group or other users (mode %04o); "
                     "chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(out, chunk, n);
    if (rc == 0 && ferror(f))
        rc = err_set(e, -EIO, "%s: read error", path);
    fclose(f);
    return rc;
}

static int load(struct config **out, const char *path, const char *text, size_t len,
                unsigned flags, struct err *e);

/* Whether secrets are read holds for the duration of one load. */
static int load_flags(struct config **out, const char *path, const char *text, size_t len,
                      unsigned flags, struct err *e)
{
    int rc;
    config_value_load_secrets(flags & CONFIG_SECRETS);
    rc = load(out, path, text, len, flags, e);
    config_value_load_secrets(true);
    return rc;
}

int config_load(struct config **out, const char *path, struct err *e)
{
    return config_load_opts(out, path, CONFIG_SECRETS, e);
}

int config_load_opts(struct config **out, const char *path, unsigned flags, struct err *e)
{
    return load_flags(out, path, NULL, 0, flags, e);
}

int config_parse_text(struct config **out, const char *path, const char *text, size_t len,
                      unsigned flags, struct err *e)
{
    return load_flags(out, path, text ? text : "", text ? len : 0, flags, e);
}

/* From the file at path when text is NULL, else from text[0..len) (path
 * then only names it in messages and anchors relative paths). */
static int load(struct config **out, const char *path, const char *text, size_t len,
                unsigned flags, struct err *e)
{
    struct config *cfg = xcalloc(1, sizeof *cfg);
    yaml_document_t doc, extra;
    yaml_parser_t parser;
    yaml_node_t *root;
    bool have_parser = false, have_doc = false;
    struct buf file = BUF_INIT;
    struct err local;
    struct ctx c = { .path = path, .text = text, .len = len, .flags = flags, .doc = &doc,
                     .e = e ? e : &local };
    int rc;

    cfg->path = xstrdup(path);
    c.dir = config_dir(path);
    if (!text) {
        if ((rc = read_config(path, &file, c.e)) < 0)
            goto out;
        c.text = buf_str(&file);
        c.len = file.len;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = err_set(e, -ENOMEM, "%s: cannot initialise the YAML parser", path);
        goto out;
    }
    have_parser = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)c.text, c.len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_fail(&c, &parser);
        goto out;
    }
    have_doc = true;
    if (!yaml_parser_load(&parser, &extra)) {
        rc = yaml_fail(&c, &parser);
        goto out;
    }
    root = yaml_document_get_root_node(&extra);
    if (root) {
        rc = at(&c, root, "a second YAML document; the configuration is one document");
        yaml_document_delete(&extra);
        goto out;
    }
    yaml_document_delete(&extra);
    apply_defaults(&c, config_root_keys, (char *)cfg);
    if (!(root = yaml_document_get_root_node(&doc))) {
        rc = err_set(e, -EINVAL, "%s:1:1: empty configuration: missing required key 'database'",
                     path);
        goto out;
    }
    if ((rc = parse_map(&c, config_root_keys, root, (char *)cfg, "", -1)) < 0 ||
        (rc = finish_config(&c, cfg, root)) < 0)
        goto out;
    *out = cfg;
    cfg = NULL;
    rc = 0;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (file.data)
        explicit_bzero(file.data, file.len);   /* a conninfo may hold a password */
    buf_free(&file);
    free(c.dir);
    config_free(cfg);
    return rc;
}

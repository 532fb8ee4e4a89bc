/* mapping_write.c - a payload written straight as JSON text (see
 * mapping_write() in mapping.h).
 *
 * The text is the one json-c prints for mapping_apply()'s object (plain,
 * '/' unescaped): keys in the order of their first value, a dotted key's
 * object where its first value went, json-c's escapes (buf_json_chars is
 * the same escaper), numbers and other non-string columns as json-c
 * prints them.  It is built in one buffer: no tree of objects per
 * delivery. */
#include "mapping.h"
#include "mapping_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"

#define PRINT_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define SEG_MAX 127          /* an object key on a dotted path is cut there */
#define STACK_ENTRIES 64

/* One entry's value: NULL when left out; text to quote, or JSON as is. */
struct val {
    const char *s;
    bool quote;
};

struct wctx {
    const struct map_entry *e;
    const struct val *v;
    const struct map_fixed *fixed;
    size_t nfixed;
    bool *fixed_done;
    struct buf *out;
};

static int entry_value(const struct map_entry *me, const struct delivery *d, struct val *v,
                       struct json_object **made, struct err *e)
{
    struct json_object *src = NULL;
    const char *text = NULL;

    v->s = NULL;
    v->quote = true;
    *made = NULL;
    if (me->from) {
        for (const char *p = me->from; !text && !src;) {
            size_t l = strcspn(p, "|");
            if (!(text = mapping_pseudo(d, p, l)))
                src = mapping_column(d, p, l);
            if (!p[l])
                break;
            p += l + 1;
        }
        if (!text && !src)
            return 0;
        if (!text)
            text = json_object_get_string(src);
    } else {
        text = me->value;
    }
    if (me->transform) {
        struct err te;
        if (mapping_transform(me->transform, text, made, &te) < 0)
            return err_set(e, -EINVAL, "decision %s: payload field %s: %s", d->decision_id,
                           me->field, te.msg);
        if (*made) {
            v->s = json_object_to_json_string_ext(*made, PRINT_FLAGS);
            v->quote = false;
        }
    } else if (src && !json_object_is_type(src, json_type_string)) {
        v->s = json_object_to_json_string_ext(src, PRINT_FLAGS);
        v->quote = false;
    } else {
        v->s = text;
    }
    return 0;
}

static void put_key(struct buf *out, bool *first, const char *k, size_t n)
{
    if (!*first)
        buf_putc(out, ',');
    *first = false;
    buf_putc(out, '"');
    buf_json_chars(out, k, n);
    buf_puts(out, "\":");
}

static void put_val(struct buf *out, const struct val *v)
{
    if (v->quote)
        buf_json_string(out, v->s, strlen(v->s));
    else
        buf_puts(out, v->s);
}

/* The key of an entry at offset off of its dotted field; *leaf when it is
 * the last segment (a value), else an object's key (cut at SEG_MAX). */
static size_t seg_of(const char *f, size_t off, bool *leaf)
{
    size_t l = strcspn(f + off, ".");
    *leaf = f[off + l] == '\0';
    return !*leaf && l > SEG_MAX ? SEG_MAX : l;
}

/* One object: the entries idx[0..n) (with a value, in order), each with
 * the rest of its key from off[].  Every key appears once, where its
 * first value put it; a value added later replaces what the key held
 * (json_object_object_add), an object path over a value starts a new
 * object. */
static void write_object(struct wctx *c, const size_t *idx, const size_t *off, size_t n,
                         bool top)
{
    struct seg { size_t len; bool leaf, done; } stack_s[STACK_ENTRIES];
    size_t stack_i[STACK_ENTRIES], stack_o[STACK_ENTRIES];
    bool small = n <= STACK_ENTRIES;
    struct seg *sg = small ? stack_s : xmalloc(n * sizeof *sg);
    size_t *ci = small ? stack_i : xmalloc(n * sizeof *ci);
    size_t *co = small ? stack_o : xmalloc(n * sizeof *co);
    bool first = true;

    for (size_t k = 0; k < n; k++) {
        sg[k].len = seg_of(c->e[idx[k]].field, off[k], &sg[k].leaf);
        sg[k].done = false;
    }
    buf_putc(c->out, '{');
    for (size_t k = 0; k < n; k++) {
        const char *key = c->e[idx[k]].field + off[k];
        size_t kl = sg[k].len, last_leaf = k, nc = 0, fx = c->nfixed;
        bool any_leaf = false;

        if (sg[k].done)
            continue;
        for (size_t j = k; j < n; j++)              /* the entries under this key */
            if (!sg[j].done && sg[j].len == kl
                && memcmp(c->e[idx[j]].field + off[j], key, kl) == 0) {
                sg[j].done = true;
                if (sg[j].leaf)
                    last_leaf = j, any_leaf = true;
                else if (!any_leaf || j > last_leaf)
                    ci[nc++] = j;
                if (sg[j].leaf)
                    nc = 0;                          /* a value replaces the object */
            }
        put_key(c->out, &first, key, kl);
        for (size_t i = 0; top && i < c->nfixed; i++)
            if (!c->fixed_done[i] && strlen(c->fixed[i].key) == kl
                && memcmp(c->fixed[i].key, key, kl) == 0)
                fx = i;
        if (fx < c->nfixed) {                       /* the protocol's own value */
            c->fixed_done[fx] = true;
            buf_json_string(c->out, c->fixed[fx].value, strlen(c->fixed[fx].value));
            continue;
        }
        if (nc) {
            for (size_t i = 0; i < nc; i++) {
                size_t j = ci[i];
                co[i] = off[j] + strcspn(c->e[idx[j]].field + off[j], ".") + 1;
                ci[i] = idx[j];
            }
            write_object(c, ci, co, nc, false);
        } else {
            put_val(c->out, &c->v[idx[last_leaf]]);
        }
    }
    for (size_t i = 0; top && i < c->nfixed; i++)
        if (!c->fixed_done[i]) {
            put_key(c->out, &first, c->fixed[i].key, strlen(c->fixed[i].key));
            buf_json_string(c->out, c->fixed[i].value, strlen(c->fixed[i].value));
        }
    buf_putc(c->out, '}');
    if (!small) {
        free(sg);
        free(ci);
        free(co);
    }
}

int mapping_write(const mapping *m, const struct delivery *d, const struct map_fixed *fixed,
                  size_t nfixed, struct buf *out, struct err *e)
{
    const struct map_entry *me;
    size_t n = mapping_entries(m, &me), np = 0;
    struct val stack_v[STACK_ENTRIES];
    struct json_object *stack_made[STACK_ENTRIES];
    size_t stack_idx[STACK_ENTRIES], stack_off[STACK_ENTRIES];
    bool stack_fd[8];
    bool small = n <= STACK_ENTRIES && nfixed <= 8;
    struct val *v = small ? stack_v : xcalloc(n + 1, sizeof *v);
    struct json_object **made = small ? stack_made : xcalloc(n + 1, sizeof *made);
    size_t *idx = small ? stack_idx : xcalloc(n + 1, sizeof *idx);
    size_t *off = small ? stack_off : xcalloc(n + 1, sizeof *off);
    bool *fixed_done = small ? stack_fd : xcalloc(nfixed + 1, sizeof *fixed_done);
    size_t nv = 0;
    int rc = 0;

    memset(fixed_done, 0, nfixed * sizeof *fixed_done);
    for (; nv < n && rc == 0; nv++) {
        rc = entry_value(&me[nv], d, &v[nv], &made[nv], e);
        if (v[nv].s) {
            off[np] = 0;
            idx[np++] = nv;
        }
    }
    if (rc == 0) {
        struct wctx c = { me, v, fixed, nfixed, fixed_done, out };
        write_object(&c, idx, off, np, true);
    }
    for (size_t i = 0; i < nv; i++)
        json_object_put(made[i]);
    if (!small) {
        free(v);
        free(made);
        free(idx);
        free(off);
        free(fixed_done);
    }
    return rc < 0 ? -EINVAL : 0;
}

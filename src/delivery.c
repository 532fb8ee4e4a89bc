/* delivery.c - see delivery.h. */
#include "delivery.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"

static const char *const op_names[] = {
    [OP_PUBLISH] = "publish", [OP_UPDATE] = "update", [OP_WITHDRAW] = "withdraw",
};

const char *op_name(enum op op)
{
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "?";
}

static const char *const outcome_names[] = {
    [OUTCOME_OK] = "ok",              [OUTCOME_TRANSIENT] = "transient",
    [OUTCOME_PERMANENT] = "permanent", [OUTCOME_ADOPT] = "adopt",
    [OUTCOME_GONE] = "gone",          [OUTCOME_NOT_FOUND] = "not_found",
    [OUTCOME_REAUTH] = "reauth",      [OUTCOME_SPLIT] = "split",
};

const char *outcome_name(enum outcome_kind k)
{
    return (unsigned)k < sizeof outcome_names / sizeof outcome_names[0] ? outcome_names[k]
                                                                        : "?";
}

struct fieldset {
    atomic_uint refs;
    atomic_uint wanting;         /* users that may still build from parsed */
    struct json_object *parsed;  /* loop's thread only */
    char text[];
};

struct fieldset *fieldset_new(const char *text, unsigned users)
{
    size_t n = strlen(text);
    struct fieldset *f = xmalloc(sizeof *f + n + 1);
    atomic_init(&f->refs, users);
    atomic_init(&f->wanting, users);
    f->parsed = NULL;
    memcpy(f->text, text, n + 1);
    return f;
}

const char *fieldset_text(const struct fieldset *f)
{
    return f->text;
}

static void fieldset_unref(struct fieldset *f)
{
    if (atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    json_object_put(f->parsed);
    free(f);
}

/* One user is done with the object: the last one frees it. */
static void fieldset_built(struct fieldset *f)
{
    if (atomic_fetch_sub(&f->wanting, 1) == 1 && f->parsed) {
        json_object_put(f->parsed);
        f->parsed = NULL;
    }
}

void fieldset_drop(struct fieldset *f)
{
    fieldset_built(f);
    fieldset_unref(f);
}

void delivery_free(struct delivery *d)
{
    if (!d)
        return;
    free(d->decision_id);
    free(d->target);
    free(d->revision);
    free(d->receipt);
    free(d->withdraw_type);
    free(d->withdraw_reason);
    json_object_put(d->fields);
    free(d->fields_text);
    if (d->shared) {
        if (!d->shared_built)
            fieldset_built(d->shared);
        fieldset_unref(d->shared);
    }
    free(d->publicity_end);
    free(d);
}

struct json_object *delivery_fields(struct delivery *d)
{
    if (!d->fields && d->shared) {
        struct fieldset *f = d->shared;
        if (!f->parsed)
            f->parsed = json_tokener_parse(f->text);
        d->fields = f->parsed ? json_object_get(f->parsed) : NULL;
    } else if (!d->fields && d->fields_text) {
        d->fields = json_tokener_parse(d->fields_text);
    }
    if (!d->fields)
        d->fields = json_object_new_object();
    return d->fields;
}

void delivery_fields_release(struct delivery *d)
{
    if (!d->fields_text && !d->shared)
        return;
    json_object_put(d->fields);
    d->fields = NULL;
    if (d->shared && !d->shared_built) {
        d->shared_built = true;
        fieldset_built(d->shared);
    }
}

struct delivery *delivery_new(const char *decision_id, const char *target, int kind, enum op op,
                              const char *revision, int attempt)
{
    struct delivery *d = xcalloc(1, sizeof *d);
    d->decision_id = xstrdup(decision_id);
    d->target = xstrdup(target);
    d->kind = kind >= 0 && kind < KIND_COUNT ? (enum kind)kind : KIND_OTHER;
    d->op = op;
    d->revision = xstrdup(revision);
    d->attempt = attempt;
    return d;
}

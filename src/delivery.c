/* delivery.c - see delivery.h. */
#include "delivery.h"

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
    free(d->publicity_end);
    free(d);
}

struct json_object *delivery_fields(struct delivery *d)
{
    if (!d->fields && d->fields_text)
        d->fields = json_tokener_parse(d->fields_text);
    if (!d->fields)
        d->fields = json_object_new_object();
    return d->fields;
}

void delivery_fields_release(struct delivery *d)
{
    if (!d->fields_text)
        return;
    json_object_put(d->fields);
    d->fields = NULL;
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

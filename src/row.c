/* row.c - see row.h.
 *
 * The revision is computed over the masked object minus updated_at and
 * state: touching updated_at or revoking does not make a new revision,
 * changing a published field does. */
#include "row.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "canon.h"
#include "fields.h"
#include "mask.h"
#include "publicity.h"
#include "validate.h"

void row_clear(struct row *r)
{
    free(r->id);
    free(r->updated_at);
    free(r->state);
    json_object_put(r->fields);
    json_object_put(r->reasons);
    buf_free(&r->canon);
    memset(r, 0, sizeof *r);
}

void row_due_on(const calendar *cal, const struct config *cfg, int kind, date_t decided,
                char out[11])
{
    out[0] = '\0';
    if (!cal || decided == DATE_NONE)
        return;
    date_format(calendar_add_workdays(cal, decided,
                                      cfg->deadline_days[kind < 0 ? KIND_OTHER : kind]), out);
}

int row_parse(struct row *r, const char *upd, const char *id, const char *json, date_t today,
              const struct config *cfg, const calendar *cal)
{
    json_object *v;
    const char *s;

    memset(r, 0, sizeof *r);
    r->id = xstrdup(id);
    r->updated_at = xstrdup(upd);
    if (!(r->fields = json_tokener_parse(json)) || !json_object_is_type(r->fields, json_type_object))
        return -1;
    s = fields_text(r->fields, "state");
    r->state = xstrdup(s ? s : "");
    json_object_object_del(r->fields, "state");

    s = fields_text(r->fields, "kind");
    r->kind = s ? kind_parse(s) : -1;
    s = fields_text(r->fields, "decided_on");
    if (!s || date_parse(s, &r->decided_on) < 0)
        r->decided_on = DATE_NONE;
    r->confidential = json_object_object_get_ex(r->fields, "confidential", &v)
                      && json_object_get_boolean(v);
    r->reasons = json_object_new_array();
    /* The id travels in HTTP headers and URLs: control characters (a line
     * break in a header) must never reach the wire. */
    for (const char *p = r->id; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            json_object_array_add(r->reasons, json_object_new_string(
                "decision_id: contains a control character (line break, tab ...)"));
            break;
        }
    }
    if (r->kind < 0)
        json_object_array_add(r->reasons, json_object_new_string(
            "kind: not one of penalty, license, inspection, coercion, levy, other"));
    else
        validate_decision(r->fields, (enum kind)r->kind, r->decided_on, today, r->reasons);

    if (r->confidential)
        r->exclude = "confidential";
    else if (r->decided_on != DATE_NONE && mask_is_minor(r->fields, r->decided_on))
        r->exclude = "minor";
    else if (r->kind >= 0 && cfg->publicity.skip_warning_only
             && publicity_warning_only(r->fields, (enum kind)r->kind))
        r->exclude = "warning_only";
    mask_fields(r->fields, cfg->publish_allow);
    /* The revision is the hash of what may be published: a change to a
     * field that never leaves (a phone, an address, the hidden digits of
     * an ID number) makes no new revision, and the revision sent as the
     * idempotency key tells nothing that masking hides. */
    canon_revision_text(r->fields, r->revision, &r->canon);
    row_due_on(cal, cfg, r->kind, r->decided_on, r->due_on);
    return 0;
}

void row_view(const struct row *r, const struct target_cfg *t, struct buf *reasons,
              struct lc_source *out)
{
    size_t n = json_object_array_length(r->reasons);
    for (size_t i = 0; i < n; i++)
        buf_printf(reasons, "%s%s", i ? "; " : "",
                   json_object_get_string(json_object_array_get_idx(r->reasons, i)));
    *out = (struct lc_source){
        .revoked = strcmp(r->state, "revoked") == 0,
        .routed = r->kind < 0 || (t->kinds & (1u << r->kind)),
        .exclude = r->exclude, .invalid = n ? buf_str(reasons) : NULL, .revision = r->revision,
    };
}

/* row.h - one row of the source relation, interpreted (pure).
 *
 * A row arrives as the JSON object of its columns (to_jsonb of the
 * relation's row): row_parse() takes out state, kind, decided_on and
 * confidential, validates it, says why it may never be published
 * (confidential, a minor, warning only), masks the field set, and hashes
 * the masked set into the revision — so a change to a field that is never
 * published makes no new revision.  row_view() says what the row means for
 * one target, as the lifecycle (lifecycle.h) takes it. */
#ifndef EPSYNC_ROW_H
#define EPSYNC_ROW_H

#include <stdbool.h>

#include "buf.h"
#include "calendar.h"
#include "config.h"
#include "date.h"
#include "lifecycle.h"

struct json_object;

/* One source row, as far as detection needs it. */
struct row {
    char *id;
    char *updated_at;          /* UTC text, the keyset position */
    char *state;               /* final | revoked | other */
    int kind;                  /* enum kind, -1 unknown */
    date_t decided_on;
    bool confidential;
    char revision[65];
    char due_on[11];           /* deadline "YYYY-MM-DD", "" when none */
    struct json_object *fields;       /* raw, then masked in place */
    struct buf canon;          /* the masked fields as canonical JSON (what
                                  the revision hashes and the state stores) */
    const char *exclude;       /* why never published, NULL */
    struct json_object *reasons;      /* validation failures (array) */
    bool known;                /* the state database has it already */
};

/* Parse one source row (upd: its updated_at as UTC text); -1 when it
 * cannot be used (not a JSON object).  row_clear() in either case. */
int row_parse(struct row *r, const char *upd, const char *id, const char *json, date_t today,
              const struct config *cfg, const calendar *cal);
void row_clear(struct row *r);

/* The legal deadline of a decision of kind (enum kind, -1 unknown) decided
 * on decided, "YYYY-MM-DD"; "" when it has none (no date, no calendar). */
void row_due_on(const calendar *cal, const struct config *cfg, int kind, date_t decided,
                char out[11]);

/* What the source says of row r as target t sees it.  reasons receives
 * the validation failures joined; out points into it and into r. */
void row_view(const struct row *r, const struct target_cfg *t, struct buf *reasons,
              struct lc_source *out);

#endif

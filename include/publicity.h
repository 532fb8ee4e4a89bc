/* publicity.h - the publicity period of docs/rules.md (pure). */
#ifndef EPSYNC_PUBLICITY_H
#define EPSYNC_PUBLICITY_H

#include <stdbool.h>

#include "config.h"
#include "date.h"

struct json_object;

/* Last day of publication for a decision first published on `first`
 * (CST date): publicity_until when the column is present and not NULL;
 * penalties: 3 months (only 通报批评 and/or a fine at or below the
 * small-amount threshold for the party type, or only 警告), a
 * restriction longer than 3 years: its length (restriction_months column
 * when present), else 3 years; other kinds: DATE_NONE. */
date_t publicity_end(struct json_object *fields, enum kind kind, date_t first,
                     const struct config *cfg);

/* Is this a penalty whose only category is 警告 (warning)? */
bool publicity_warning_only(struct json_object *fields, enum kind kind);

#endif

/* validate.h - local validation before anything is sent (pure, SPEC §4). */
#ifndef EPSYNC_VALIDATE_H
#define EPSYNC_VALIDATE_H

#include "buf.h"
#include "config.h"
#include "date.h"

struct json_object;

/* Check the unmasked field set of a decision of `kind` decided on
 * decided_on, as of `today` (CST).  Appends one plain-words reason per
 * problem to reasons (a JSON array of strings, e.g. "party_credit_code:
 * check digit is wrong (expected 3)"); returns the number of problems. */
int validate_decision(struct json_object *fields, enum kind kind, date_t decided_on,
                      date_t today, struct json_object *reasons);

#endif

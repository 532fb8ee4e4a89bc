/* mask.h - privacy masking of a decision's fields (pure, docs/rules.md).
 *
 * Applied to the field set read from the source before it is stored or
 * mapped: everything that leaves the process has passed through here. */
#ifndef EPSYNC_MASK_H
#define EPSYNC_MASK_H

#include <stdbool.h>

#include "buf.h"
#include "date.h"

struct json_object;

/* Keep the first 6 and last 4 characters, '*' for each one between
 * ("130102********123X"); shorter than 11 characters: all '*'. */
void mask_id_number(const char *id, struct buf *out);

/* Mask fields in place (an object of column -> string|number|bool|null):
 *  - drop the never-published columns (party_address, party_phone, bank
 *    accounts, birth date, health and property details);
 *  - natural persons and individual businesses: mask party_id_no;
 *  - replace the decision's own ID number, phone numbers and address
 *    wherever they occur in the free-text fields (violation_facts,
 *    penalty_content, license_content, remarks, case_name) with "***". */
void mask_fields(struct json_object *fields);

/* The age rule, in this one place: a person is under 18 on day D when D
 * is before their 18th birthday, and an adult on the birthday itself.
 * mask_adult_on() is that birthday: the same month and day 18 years on,
 * 1 March for someone born on 29 February. */
date_t mask_adult_on(date_t birth);

/* Is the party a natural person under 18 on decided_on, by the birth date
 * in digits 7-14 of party_id_no?  (Reads the unmasked fields.) */
bool mask_is_minor(struct json_object *fields, date_t decided_on);

#endif

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

/* The columns that may be stored and published: the ones epsync itself
 * reads (kind, decided_on, party_type, fine_amount, ...) and those added. */
typedef struct mask_allow mask_allow;
mask_allow *mask_allow_new(void);
void mask_allow_add(mask_allow *a, const char *column, size_t len);
bool mask_allow_has(const mask_allow *a, const char *column);
void mask_allow_free(mask_allow *a);

/* The allow-list of a configuration: for every enabled target, its
 * publish_columns, or by default the columns its mapping reads. */
struct config;
struct target_cfg;
struct err;
mask_allow *mask_allow_config(const struct config *cfg);
/* A target's publish_columns (when given) must hold every column its
 * mapping reads; e names the first one missing. */
int mask_check_target(const struct target_cfg *t, struct err *e);

/* Mask fields in place (an object of column -> string|number|bool|null):
 *  - keep only the columns of allow (NULL: those epsync itself reads),
 *    never the never-published ones (party_address, party_phone, bank
 *    accounts, birth date, health and property details) even if listed;
 *  - mask party_id_no unless party_type is legal_person or other_org (an
 *    unknown, missing or individual_business party is masked);
 *  - replace the decision's own ID number, phone numbers and address
 *    wherever they occur in the free-text fields (violation_facts,
 *    penalty_content, license_content, remarks, case_name) with "***". */
void mask_fields(struct json_object *fields, const mask_allow *allow);

/* mask_fields() on a field set stored by an earlier version; true when
 * that masks or drops an ID number the stored set still held (it went
 * out to the platforms that way and must be replaced there). */
bool mask_fields_hides_id(struct json_object *fields, const mask_allow *allow);

/* A platform's message as it may be logged, stored and shown: runs of
 * digits that look like an ID number (15, or 17 and a check character)
 * or a phone number (11 starting with 1; 0 and 9 to 12 digits) become
 * their first three digits and "****"; control characters become \xNN and
 * a backslash "\\". */
void mask_message(const char *in, struct buf *out);

/* The age rule, in this one place: a person is under 18 on day D when D
 * is before their 18th birthday, and an adult on the birthday itself.
 * mask_adult_on() is that birthday: the same month and day 18 years on,
 * 1 March for someone born on 29 February. */
date_t mask_adult_on(date_t birth);

/* Is the party a natural person under 18 on decided_on, by the birth date
 * in digits 7-14 of party_id_no?  (Reads the unmasked fields.) */
bool mask_is_minor(struct json_object *fields, date_t decided_on);

#endif

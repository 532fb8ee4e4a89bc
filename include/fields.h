/* fields.h - reading a decision's field set (pure).
 *
 * A field set is the JSON object of a source row: column name -> string,
 * number, boolean or null. */
#ifndef EPSYNC_FIELDS_H
#define EPSYNC_FIELDS_H

struct json_object;

/* The text of a scalar field (string, number or boolean, as the database
 * printed it); NULL when absent, null or not a scalar. */
const char *fields_text(struct json_object *fields, const char *key);

#endif

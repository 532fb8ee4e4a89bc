/* canon.h - canonical serialisation and revision hashes (pure).
 *
 * A decision's revision is SHA-256 of its canonical field set: the JSON
 * object of its source columns (minus updated_at and state) with keys in
 * byte order, no whitespace, strings as UTF-8 with only the escapes JSON
 * requires, numbers as the database printed them, NULLs explicit. */
#ifndef EPSYNC_CANON_H
#define EPSYNC_CANON_H

#include "buf.h"

struct json_object;

/* Canonical JSON text of obj (any JSON value) appended to out. */
void canon_json(struct buf *out, struct json_object *obj);
/* Revision of a field set: hex SHA-256 of canon_json(fields). */
void canon_revision(struct json_object *fields, char out[65]);
/* The same, keeping the canonical text it hashed in text (appended; the
 * caller frees it): the field set's one serialisation, stored as is. */
void canon_revision_text(struct json_object *fields, char out[65], struct buf *text);

#endif

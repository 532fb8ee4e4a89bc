/* mapping_int.h - what mapping.c shares with mapping_write.c. */
#ifndef EPSYNC_MAPPING_INT_H
#define EPSYNC_MAPPING_INT_H

#include <stddef.h>

#include "delivery.h"

struct json_object;

/* The text of pseudo-column name[0..len) ("$decision_id", ...) of d, or
 * NULL when it is not one or is absent or "". */
const char *mapping_pseudo(const struct delivery *d, const char *name, size_t len);
/* Source column name[0..len) in d's field set, or NULL when absent, NULL
 * or "" (borrowed from d->fields). */
struct json_object *mapping_column(const struct delivery *d, const char *name, size_t len);

#endif

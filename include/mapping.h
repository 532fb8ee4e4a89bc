/* mapping.h - a decision's masked fields become a platform payload (pure).
 *
 * The default payloads (docs/rules.md) are three static tables: the city payload,
 * the province penalty record (CF_*, also used for every kind other than
 * licences) and the province licence record (XK_*).  A target's `fields:`
 * overrides are merged over them: an entry with the same payload key is
 * replaced, a new key is added, `KEY: null` drops a default entry.  For a
 * province target an override whose key starts with "CF_" applies to the
 * penalty table only, "XK_" to the licence table only, any other key to
 * both.
 *
 * An entry takes its value from
 *  - a source column (`from`): the value in the delivery's field set.
 *    "a|b" names alternatives: the first one present is used (licences
 *    send license_content, or penalty_content when it is absent).
 *    Pseudo-columns that come from the delivery rather than the source:
 *    "$decision_id", "$kind", "$revision", "$publicity_end" (the end of
 *    the publicity period epsync computed, or the source's override);
 *  - or a fixed value (`value`), sent as a string.
 * optionally through a named transform (see mapping_transform_names()).
 * A column that is absent, NULL or "" leaves the key out of the payload
 * (keys are omitted, never sent as null): the platforms treat a missing
 * optional field and an empty one alike, and required fields are checked
 * by validation before anything is sent.  Without a transform a value
 * keeps its JSON type (string or number).
 *
 * Error messages name the decision and the payload key, never the value
 * (it may be personal).
 *
 * Payload keys may be dotted for nesting ("party.name" fills
 * {"party":{"name":…}}). */
#ifndef EPSYNC_MAPPING_H
#define EPSYNC_MAPPING_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "delivery.h"
#include "err.h"

struct json_object;

enum map_table {
    MAP_CITY,                 /* city: every kind */
    MAP_PROVINCE_PENALTY,     /* province: penalty and every kind but licences */
    MAP_PROVINCE_LICENSE,     /* province: licences */
    MAP_TABLE_COUNT
};

/* One effective entry (strings owned by the mapping). */
struct map_entry {
    const char *field;        /* payload key, dotted for nesting */
    const char *from;         /* source column(s), or NULL for a fixed value */
    const char *transform;    /* NULL or a transform name */
    const char *value;        /* fixed value when from == NULL */
};

typedef struct mapping mapping;

/* The table a decision of kind k uses at a target speaking protocol p. */
enum map_table mapping_table_for(enum protocol p, enum kind k);
const char *mapping_table_name(enum map_table table);   /* "city", "province-penalty", ... */

/* The defaults of `table` merged with t's overrides (t may be NULL: the
 * defaults alone).  Strings are copied: the mapping does not refer to t. */
int mapping_new(mapping **out, const struct target_cfg *t, enum map_table table,
                struct err *e);
void mapping_free(mapping *m);

/* The effective entries, in payload order; returns their number. */
size_t mapping_entries(const mapping *m, const struct map_entry **out);

/* Build the payload object of d (d->fields holds the masked columns).
 * Fails with e naming the decision and the payload key when a value
 * cannot be transformed (e.g. a fine that is not a number). */
int mapping_apply(const mapping *m, const struct delivery *d, struct json_object **out,
                  struct err *e);

/* A key a protocol sets itself at the top of a payload (province: SJLY_ID,
 * BBH), over whatever the mapping put there. */
struct map_fixed {
    const char *key;
    const char *value;        /* sent as a string */
};

/* The payload of d as JSON text, appended to out: byte for byte what
 * json-c prints (plain, '/' unescaped) for mapping_apply()'s object after
 * json_object_object_add() of each fixed[0..nfixed) key at the top (a key
 * the mapping has keeps its place, a new one comes last) — written
 * straight from the field set, without building the object.  Fails as
 * mapping_apply() does (out may then hold part of a document). */
int mapping_write(const mapping *m, const struct delivery *d, const struct map_fixed *fixed,
                  size_t nfixed, struct buf *out, struct err *e);

/* Check t's overrides at configuration time: unknown transforms, entries
 * with neither a column nor a value, drops that match no default key,
 * keys that are both a value and a nested object ("party" and
 * "party.name").  e names "targets.NAME.fields.KEY". */
int mapping_check(const struct target_cfg *t, struct err *e);

/* Apply transform `name` to the text `in`.  *out is the new JSON value,
 * or NULL when the transform yields nothing (an empty list).  -1 with e
 * set when `in` is not acceptable or the transform is unknown. */
int mapping_transform(const char *name, const char *in, struct json_object **out,
                      struct err *e);
/* NULL-terminated list of the transform names, for messages and docs. */
const char *const *mapping_transform_names(void);

#endif

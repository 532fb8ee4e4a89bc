/* config_int.h - what the three parts of the configuration module share.
 *
 *   config.c        the key tables, walking the YAML document, load/free
 *   config_value.c  the syntax of one value: durations, rates, names,
 *                   paths, URLs, secrets (parse and format)
 *   config_print.c  the effective configuration as YAML
 *
 * Each part keeps its own table indexed by enum ktype (parse, walk, print),
 * so a new type is one line in each. */
#ifndef EPSYNC_CONFIG_INT_H
#define EPSYNC_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum ktype {
    T_STR, T_IDENT, T_COLUMN, T_PATH, T_CONNINFO, T_BOOL, T_INT, T_I64, T_DOUBLE, T_DUR,
    T_ENUM, T_RATE, T_URL, T_SECRET_FILE, T_SECRET_ENV, T_SECRET_INLINE,
    T_KINDS, T_FIELDS, T_SECTION, T_TARGETS,
    T_COUNT
};

enum {
    F_REQUIRED = 1 << 0,
    F_CITY = 1 << 1,        /* only in protocol city targets */
    F_PROV = 1 << 2,        /* only in protocol province targets */
    F_EMPTY_OK = 1 << 3,    /* T_IDENT: "" means none */
    F_DOTTED = 1 << 4,      /* T_IDENT: "schema.name" allowed */
};

struct enum_name { const char *name; int val; };

struct key {
    const char *name;
    enum ktype type;
    size_t off;             /* into the struct being filled */
    const char *def;        /* default in the file's syntax; NULL: zero */
    double min, max;        /* bounds of numbers; durations in ms */
    unsigned flags;
    const void *aux;        /* T_SECTION: struct key[]; T_ENUM: struct enum_name[] */
};

/* Why a value was refused, without the FILE:LINE:COL the caller adds. */
#define CONFIG_WHY 384

/* Parse text s for key k into the struct at base; -1 with why filled.
 * dir is the configuration file's directory, for relative paths. */
typedef int config_parse_fn(const char *dir, const struct key *k, const char *s, char *base,
                            char *why);

struct config_scalar {
    config_parse_fn *parse; /* NULL for mappings and lists */
    bool nullable;          /* `key:` with no value means "" */
    bool owns_string;       /* the field is a char * the struct owns */
};
extern const struct config_scalar config_scalars[T_COUNT];

extern const struct key config_root_keys[];
extern const struct key config_target_keys[];
extern const struct key config_field_keys[];
extern const struct enum_name config_proto_names[];
extern const struct enum_name config_kind_names[];

static inline bool config_key_applies(const struct key *k, int proto)
{
    if (proto < 0)
        return true;
    if ((k->flags & F_CITY) && proto != PROTO_CITY)
        return false;
    return !((k->flags & F_PROV) && proto != PROTO_PROVINCE);
}

const struct enum_name *config_enum_find(const struct enum_name *t, const char *s);
const char *config_enum_label(const struct enum_name *t, int v);
void config_enum_list(const struct enum_name *t, char *out, size_t n);
void config_format_duration(int64_t ms, char *out, size_t n);
void config_format_rate(double per_s, char *out, size_t n);

/* See config_load_opts(). */
void config_value_load_secrets(bool yes);
bool config_value_loading_secrets(void);

#endif

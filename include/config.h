/* config.h - the typed configuration (epsync.yaml(5)).
 *
 * config_load() parses one YAML file with libyaml into a struct config,
 * applies defaults, validates, and reads the secrets named by *_file /
 * *_env keys.  Every error names FILE:LINE:COL.  The struct is plain data,
 * owned by whoever called config_load() and released with config_free();
 * a SIGHUP reload builds a new one and swaps it in whole.
 */
#ifndef EPSYNC_CONFIG_H
#define EPSYNC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* Decision kinds (docs/rules.md), as bits so a target's `kinds` is a mask. */
enum kind {
    KIND_PENALTY, KIND_LICENSE, KIND_INSPECTION, KIND_COERCION, KIND_LEVY, KIND_OTHER,
    KIND_COUNT
};
int kind_parse(const char *s);          /* -1 when unknown */
const char *kind_name(enum kind k);

enum protocol { PROTO_CITY, PROTO_PROVINCE };

/* How a city target authenticates at its token endpoint (RFC 6749 §2.3.1):
 * client_secret_post (form fields) or client_secret_basic (HTTP Basic). */
enum token_auth { TOKEN_AUTH_POST, TOKEN_AUTH_BASIC };

/* One entry of a target's field mapping (docs/rules.md):
 * the payload key `field` (dotted for nesting: "party.name") takes its
 * value from a source column, optionally through a named transform, or
 * is a fixed value. */
struct field_map {
    char *field;        /* payload key, e.g. "CF_NR_FK" or "party.name" */
    char *from;         /* source column, or NULL for a fixed value */
    char *transform;    /* NULL, or a transform name (mapping.h) */
    char *value;        /* fixed value when from == NULL */
    bool drop;          /* `FIELD: null` removes a default entry */
};

struct retry_cfg {
    int64_t initial_ms;
    int64_t max_ms;
    double multiplier;
    double jitter;      /* 0.2 = ±20 % */
};

struct tls_cfg {
    bool verify;
    bool insecure_ack;  /* insecure_skip_verify_i_understand: verify: false allowed */
    char *ca_file;      /* "" or NULL: system store */
    char *client_cert;
    char *client_key;
};

struct target_cfg {
    char *name;                 /* the key under targets: */
    enum protocol protocol;
    bool enabled;
    char *base_url;             /* no trailing slash */
    bool allow_plain_http;
    char *client_id;            /* city: client_id; province: app_id */
    char *secret;               /* loaded secret (never printed) */
    char *secret_from;          /* "file /path" or "env NAME", for messages */
    int token_auth;             /* enum token_auth (city) */
    unsigned kinds;             /* bit (1u << enum kind) */
    int64_t timeout_ms;
    int max_in_flight;
    double rate_per_s;          /* 0 = unlimited */
    int batch_size;             /* province only, 1..100 */
    struct tls_cfg tls;
    char *proxy;
    char *publish_columns;      /* "a, b, c"; "": the columns the mapping reads */
    char *display_name;         /* the platform's name in the report, "" = the key */
    struct field_map *fields;   /* overrides merged over the default mapping */
    size_t nfields;
};

struct config {
    char *path;

    struct {
        char *source;           /* libpq conninfo */
        char *state;            /* conninfo; defaults to source */
        char *source_relation;  /* "schema.name" or "name" */
    } database;

    struct {
        int64_t interval_ms;
        int64_t overlap_ms;
        int64_t reconcile_every_ms;
        char *notify_channel;   /* "" or NULL: none */
    } poll;

    struct {
        int max_in_flight;
        int64_t lease_ms;
        struct retry_cfg retry;
    } delivery;

    int deadline_days[KIND_COUNT];   /* working days per kind */
    int deadline_default;            /* `deadlines.default`: kinds not named */
    int deadline_warn_before;        /* `deadlines.warn_before`: working days of warning */

    char *calendar;             /* path of the holiday calendar */

    struct {
        bool expire;
        int64_t small_fine_person_yuan;
        int64_t small_fine_org_yuan;
        bool skip_warning_only;
    } publicity;

    struct {
        int64_t anchor_every_ms;
        char *anchor_key_file;  /* Ed25519 private key (PEM); "": no anchors */
        char *anchor_file;      /* where the signed anchors are appended */
    } audit;

    struct {
        char *organisation;     /* the bureau named on the report, "" = none */
    } report;

    struct {
        int level;              /* enum log_level */
        int format;             /* enum log_format */
    } log;

    struct {
        char *listen;           /* "" : no endpoint; "ADDR:PORT" or a unix socket path */
        int64_t interval_ms;    /* heartbeat and snapshot of the state database */
    } metrics;

    struct target_cfg *targets;
    size_t ntargets;

    struct mask_allow *publish_allow;   /* what masking keeps (mask.h) */
};

/* Parse and validate path.  On error returns a negative code and e->msg is
 * "FILE:LINE:COL: message" (or names the file); the exit code is 78. */
int config_load(struct config **out, const char *path, struct err *e);
void config_free(struct config *cfg);

/* config_load() with flags: without CONFIG_SECRETS the secret files and
 * variables are named but not read (target_cfg.secret stays NULL), for
 * commands that never talk to a platform (migrate, report, show, ...),
 * which operators run outside the service's credentials directory. */
#define CONFIG_SECRETS 1u
/* Also load the holiday calendar `calendar` names, reporting a file that
 * is missing or does not parse at the key's FILE:LINE:COL (check-config). */
#define CONFIG_CALENDAR 2u
int config_load_opts(struct config **out, const char *path, unsigned flags, struct err *e);

/* config_load_opts() on text already in memory (the fuzzer's input): path
 * names it in messages and its directory anchors relative paths; no file
 * is opened for it, so there is no mode check. */
int config_parse_text(struct config **out, const char *path, const char *text, size_t len,
                      unsigned flags, struct err *e);

/* The effective configuration as YAML, secrets shown as "***". */
void config_print(const struct config *cfg, FILE *f);

/* Target by name, or NULL. */
const struct target_cfg *config_target(const struct config *cfg, const char *name);

/* Parse a duration ("500ms", "5s", "10m", "6h", "2d"); -1 on error. */
int64_t config_parse_duration(const char *s);

/* Room a lease keeps for recording an answer: a claimed delivery is sent
 * only while at least `timeout` + this much of its lease is left, and a
 * target's timeout must leave twice this much of delivery.lease. */
static inline int64_t config_lease_room_ms(int64_t lease_ms)
{
    return lease_ms / 10 > 500 ? lease_ms / 10 : 500;
}

#endif

/* config_keys.c - the configuration's keys, one table per section.
 *
 * Each entry names a key, its type, where it lands in struct config (or
 * struct target_cfg, struct field_map), its default and bounds: the one
 * description that config.c parses with, config_print.c prints from, and
 * epsync.yaml(5) documents.  The names of the decision kinds live here too. */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "config_int.h"
#include "log.h"

#define SEC 1000.0
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

const struct enum_name config_kind_names[] = {
    { "penalty", KIND_PENALTY }, { "license", KIND_LICENSE },
    { "inspection", KIND_INSPECTION }, { "coercion", KIND_COERCION },
    { "levy", KIND_LEVY }, { "other", KIND_OTHER }, { NULL, 0 },
};
const struct enum_name config_proto_names[] = {
    { "city", PROTO_CITY }, { "province", PROTO_PROVINCE }, { NULL, 0 },
};
static const struct enum_name token_auth_names[] = {
    { "post", TOKEN_AUTH_POST }, { "basic", TOKEN_AUTH_BASIC }, { NULL, 0 },
};
static const struct enum_name level_names[] = {
    { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
    { "info", LOG_INFO }, { "debug", LOG_DEBUG }, { NULL, 0 },
};
static const struct enum_name format_names[] = {
    { "text", LOG_TEXT }, { "json", LOG_JSON }, { NULL, 0 },
};
#define CO(m) offsetof(struct config, m)
#define TO(m) offsetof(struct target_cfg, m)
#define FO(m) offsetof(struct field_map, m)

static const struct key database_keys[] = {
    { "source", T_CONNINFO, CO(database.source), NULL, 0, 0, F_REQUIRED, NULL },
    { "state", T_CONNINFO, CO(database.state), "", 0, 0, 0, NULL },
    { "source_relation", T_IDENT, CO(database.source_relation), "epsync_source.decisions",
      0, 0, F_DOTTED, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key poll_keys[] = {
    { "interval", T_DUR, CO(poll.interval_ms), "5s", 100, HOUR, 0, NULL },
    { "overlap", T_DUR, CO(poll.overlap_ms), "10m", 0, 7 * DAY, 0, NULL },
    { "reconcile_every", T_DUR, CO(poll.reconcile_every_ms), "24h", SEC, 90 * DAY, 0, NULL },
    { "notify_channel", T_IDENT, CO(poll.notify_channel), "", 0, 0, F_EMPTY_OK, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key retry_keys[] = {
    { "initial", T_DUR, CO(delivery.retry.initial_ms), "10s", 100, DAY, 0, NULL },
    { "max", T_DUR, CO(delivery.retry.max_ms), "1h", 100, 7 * DAY, 0, NULL },
    { "multiplier", T_DOUBLE, CO(delivery.retry.multiplier), "2.0", 1, 10, 0, NULL },
    { "jitter", T_DOUBLE, CO(delivery.retry.jitter), "0.2", 0, 1, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key delivery_keys[] = {
    { "max_in_flight", T_INT, CO(delivery.max_in_flight), "32", 1, 1024, 0, NULL },
    { "lease", T_DUR, CO(delivery.lease_ms), "2m", 1 * SEC, DAY, 0, NULL },
    { "retry", T_SECTION, 0, NULL, 0, 0, 0, retry_keys },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
/* Kinds without a default take `default` after parsing (finish_config). */
static const struct key deadline_keys[] = {
    { "penalty", T_INT, CO(deadline_days[KIND_PENALTY]), "7", 1, 365, 0, NULL },
    { "license", T_INT, CO(deadline_days[KIND_LICENSE]), "7", 1, 365, 0, NULL },
    { "inspection", T_INT, CO(deadline_days[KIND_INSPECTION]), NULL, 1, 365, 0, NULL },
    { "coercion", T_INT, CO(deadline_days[KIND_COERCION]), NULL, 1, 365, 0, NULL },
    { "levy", T_INT, CO(deadline_days[KIND_LEVY]), NULL, 1, 365, 0, NULL },
    { "other", T_INT, CO(deadline_days[KIND_OTHER]), NULL, 1, 365, 0, NULL },
    { "default", T_INT, CO(deadline_default), "20", 1, 365, 0, NULL },
    { "warn_before", T_INT, CO(deadline_warn_before), "1", 0, 30, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key small_fine_keys[] = {
    { "person", T_I64, CO(publicity.small_fine_person_yuan), "1000", 0, 1e12, 0, NULL },
    { "organisation", T_I64, CO(publicity.small_fine_org_yuan), "10000", 0, 1e12, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key publicity_keys[] = {
    { "expire", T_BOOL, CO(publicity.expire), "true", 0, 0, 0, NULL },
    { "small_fine_yuan", T_SECTION, 0, NULL, 0, 0, 0, small_fine_keys },
    { "skip_warning_only", T_BOOL, CO(publicity.skip_warning_only), "false", 0, 0, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key report_keys[] = {
    { "organisation", T_STR, CO(report.organisation), "", 0, 0, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key log_keys[] = {
    { "level", T_ENUM, CO(log.level), "info", 0, 0, 0, level_names },
    { "format", T_ENUM, CO(log.format), "text", 0, 0, 0, format_names },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key metrics_keys[] = {
    { "listen", T_STR, CO(metrics.listen), "", 0, 0, 0, NULL },
    { "interval", T_DUR, CO(metrics.interval_ms), "15s", SEC, HOUR, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
static const struct key audit_keys[] = {
    { "anchor_every", T_DUR, CO(audit.anchor_every_ms), "5m", 10 * SEC, DAY, 0, NULL },
    { "anchor_key_file", T_PATH, CO(audit.anchor_key_file), "", 0, 0, 0, NULL },
    { "anchor_file", T_PATH, CO(audit.anchor_file), "", 0, 0, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
const struct key config_root_keys[] = {
    { "database", T_SECTION, 0, NULL, 0, 0, F_REQUIRED, database_keys },
    { "poll", T_SECTION, 0, NULL, 0, 0, 0, poll_keys },
    { "delivery", T_SECTION, 0, NULL, 0, 0, 0, delivery_keys },
    { "deadlines", T_SECTION, 0, NULL, 0, 0, 0, deadline_keys },
    { "calendar", T_PATH, CO(calendar), "/etc/epsync/holidays.yaml", 0, 0, 0, NULL },
    { "publicity", T_SECTION, 0, NULL, 0, 0, 0, publicity_keys },
    { "report", T_SECTION, 0, NULL, 0, 0, 0, report_keys },
    { "log", T_SECTION, 0, NULL, 0, 0, 0, log_keys },
    { "metrics", T_SECTION, 0, NULL, 0, 0, 0, metrics_keys },
    { "audit", T_SECTION, 0, NULL, 0, 0, 0, audit_keys },
    { "targets", T_TARGETS, 0, NULL, 0, 0, F_REQUIRED, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};

static const struct key tls_keys[] = {
    { "verify", T_BOOL, TO(tls.verify), "true", 0, 0, 0, NULL },
    { "insecure_skip_verify_i_understand", T_BOOL, TO(tls.insecure_ack), "false", 0, 0, 0, NULL },
    { "ca_file", T_PATH, TO(tls.ca_file), "", 0, 0, 0, NULL },
    { "client_cert", T_PATH, TO(tls.client_cert), "", 0, 0, 0, NULL },
    { "client_key", T_PATH, TO(tls.client_key), "", 0, 0, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
/* city and province name their credentials differently (docs/protocols.md);
 * both land in client_id / secret. */
const struct key config_target_keys[] = {
    { "protocol", T_ENUM, TO(protocol), NULL, 0, 0, F_REQUIRED, config_proto_names },
    { "enabled", T_BOOL, TO(enabled), "true", 0, 0, 0, NULL },
    { "base_url", T_URL, TO(base_url), NULL, 0, 0, F_REQUIRED, NULL },
    { "allow_plain_http", T_BOOL, TO(allow_plain_http), "false", 0, 0, 0, NULL },
    { "client_id", T_STR, TO(client_id), NULL, 0, 0, F_CITY | F_REQUIRED, NULL },
    { "client_secret_file", T_SECRET_FILE, 0, NULL, 0, 0, F_CITY, NULL },
    { "client_secret_env", T_SECRET_ENV, 0, NULL, 0, 0, F_CITY, NULL },
    { "client_secret", T_SECRET_INLINE, 0, NULL, 0, 0, F_CITY, NULL },
    { "token_auth", T_ENUM, TO(token_auth), "post", 0, 0, F_CITY, token_auth_names },
    { "app_id", T_STR, TO(client_id), NULL, 0, 0, F_PROV | F_REQUIRED, NULL },
    { "app_secret_file", T_SECRET_FILE, 0, NULL, 0, 0, F_PROV, NULL },
    { "app_secret_env", T_SECRET_ENV, 0, NULL, 0, 0, F_PROV, NULL },
    { "app_secret", T_SECRET_INLINE, 0, NULL, 0, 0, F_PROV, NULL },
    { "kinds", T_KINDS, TO(kinds), NULL, 0, 0, 0, NULL },
    { "timeout", T_DUR, TO(timeout_ms), "30s", SEC, 10 * MIN, 0, NULL },
    { "max_in_flight", T_INT, TO(max_in_flight), "8", 1, 256, 0, NULL },
    { "rate", T_RATE, TO(rate_per_s), "unlimited", 0, 0, 0, NULL },
    { "batch_size", T_INT, TO(batch_size), "50", 1, 100, F_PROV, NULL },
    { "tls", T_SECTION, 0, NULL, 0, 0, 0, tls_keys },
    { "proxy", T_STR, TO(proxy), "", 0, 0, 0, NULL },
    { "publish_columns", T_STR, TO(publish_columns), "", 0, 0, 0, NULL },
    { "display_name", T_STR, TO(display_name), "", 0, 0, 0, NULL },
    { "fields", T_FIELDS, 0, NULL, 0, 0, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};
const struct key config_field_keys[] = {
    { "from", T_COLUMN, FO(from), NULL, 0, 0, 0, NULL },
    { "transform", T_IDENT, FO(transform), NULL, 0, 0, 0, NULL },
    { "value", T_STR, FO(value), NULL, 0, 0, 0, NULL },
    { NULL, 0, 0, NULL, 0, 0, 0, NULL },
};

int kind_parse(const char *s)
{
    for (const struct enum_name *n = config_kind_names; s && n->name; n++)
        if (strcmp(s, n->name) == 0)
            return n->val;
    return -1;
}

const char *kind_name(enum kind k)
{
    return (unsigned)k < KIND_COUNT ? config_kind_names[k].name : "unknown";
}

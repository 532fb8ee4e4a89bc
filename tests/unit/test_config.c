/* Unit tests for src/config.c, config_value.c and config_print.c.
 *
 * Every test writes its files into one mkdtemp() directory (mode 0600
 * unless the test is about the mode) and removes them at the end. */
#include "buf.h"
#include "config.h"
#include "log.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAXFILES 64
static char dir[64];
static char *files[MAXFILES];
static size_t nfiles;
static char cfgpath[256];

/* Write dir/name with mode; returns the path (owned by the test). */
static const char *put(const char *name, const char *text, mode_t mode)
{
    struct buf p = BUF_INIT;
    buf_printf(&p, "%s/%s", dir, name);
    FILE *f = fopen(p.data, "w");
    if (!f) {
        printf("Bail out! cannot write %s: %s\n", p.data, strerror(errno));
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    chmod(p.data, mode);
    for (size_t i = 0; i < nfiles; i++)
        if (strcmp(files[i], p.data) == 0) {
            free(files[i]);
            files[i] = buf_steal(&p);
            return files[i];
        }
    files[nfiles++] = buf_steal(&p);
    return files[nfiles - 1];
}

/* Load text as dir/epsync.yaml. */
static int load(const char *text, struct config **cfg, struct err *e)
{
    snprintf(cfgpath, sizeof cfgpath, "%s", put("epsync.yaml", text, 0600));
    *cfg = NULL;
    err_clear(e);
    return config_load(cfg, cfgpath, e);
}

/* e->msg with the config path replaced by "@" and dir by "DIR", so that
 * expectations do not depend on the temporary directory. */
static const char *msg(const struct err *e)
{
    static char out[1024];
    struct buf b = BUF_INIT;
    size_t lp = strlen(cfgpath), ld = strlen(dir);
    for (const char *s = e->msg; *s;) {
        if (!strncmp(s, cfgpath, lp)) {
            buf_putc(&b, '@');
            s += lp;
        } else if (!strncmp(s, dir, ld)) {
            buf_puts(&b, "DIR");
            s += ld;
        } else {
            buf_putc(&b, *s++);
        }
    }
    snprintf(out, sizeof out, "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

#define DB "database:\n  source: \"dbname=cases\"\n"
#define CITY "targets:\n" \
    "  city:\n" \
    "    protocol: city\n" \
    "    base_url: https://city.example/\n" \
    "    client_id: cid\n" \
    "    client_secret_file: city-secret\n"

TEST(full_file_round_trips_to_the_struct)
{
    struct config *cfg;
    struct err e;
    put("city-secret", "city-s3cret\r\n", 0600);
    setenv("EPSYNC_TEST_PROV", "env-s3cret", 1);
    const char *text =
        "database:\n"
        "  source: \"host=db1,db2 dbname=cases user=epsync target_session_attrs=read-write\"\n"
        "  state: \"dbname=state\"\n"
        "  source_relation: cases.v_decisions\n"
        "poll: { interval: 500ms, overlap: 1h, reconcile_every: 2d, notify_channel: cases_changed }\n"
        "delivery:\n"
        "  max_in_flight: 64\n"
        "  lease: 90s\n"
        "  retry: { initial: 1s, max: 6h, multiplier: 1.5, jitter: 0.1 }\n"
        "deadlines: { penalty: 5, license: 6, levy: 30, default: 15 }\n"
        "calendar: cal/holidays.yaml\n"
        "publicity:\n"
        "  expire: false\n"
        "  small_fine_yuan: { person: 500, organisation: 5000 }\n"
        "  skip_warning_only: true\n"
        "log: { level: debug, format: json }\n"
        "targets:\n"
        "  city:\n"
        "    protocol: city\n"
        "    enabled: false\n"
        "    base_url: http://127.0.0.1:8081/api//\n"
        "    allow_plain_http: true\n"
        "    client_id: \"sjz-scjg\"\n"
        "    client_secret_file: city-secret\n"
        "    kinds: [penalty, levy]\n"
        "    timeout: 5s\n"
        "    max_in_flight: 2\n"
        "    rate: 100/m\n"
        "    tls: { verify: false, insecure_skip_verify_i_understand: true, ca_file: ca.pem,\n"
        "           client_cert: /etc/c.pem, client_key: k.pem }\n"
        "    proxy: \"http://proxy:3128\"\n"
        "    fields:\n"
        "      party.name: party_name\n"
        "      fineYuan: { from: fine_amount, transform: yuan_to_wan }\n"
        "      sourceUnit.name: { value: \"石家庄市市场监督管理局\" }\n"
        "      remarks: null\n"
        "  hebei-2:\n"
        "    protocol: province\n"
        "    base_url: https://zfgs.example.gov.cn\n"
        "    app_id: \"130100-scjg\"\n"
        "    app_secret_env: EPSYNC_TEST_PROV\n"
        "    batch_size: 100\n"
        "    rate: 2/h\n";
    if (load(text, &cfg, &e) < 0) {
        TAP_FAIL("load: %s", e.msg);
        return;
    }
    CHECK_STR(cfg->path, cfgpath);
    CHECK_STR(cfg->database.source,
              "host=db1,db2 dbname=cases user=epsync target_session_attrs=read-write");
    CHECK_STR(cfg->database.state, "dbname=state");
    CHECK_STR(cfg->database.source_relation, "cases.v_decisions");
    CHECK_INT(cfg->poll.interval_ms, 500);
    CHECK_INT(cfg->poll.overlap_ms, 3600000);
    CHECK_INT(cfg->poll.reconcile_every_ms, 2 * 86400000LL);
    CHECK_STR(cfg->poll.notify_channel, "cases_changed");
    CHECK_INT(cfg->delivery.max_in_flight, 64);
    CHECK_INT(cfg->delivery.lease_ms, 90000);
    CHECK_INT(cfg->delivery.retry.initial_ms, 1000);
    CHECK_INT(cfg->delivery.retry.max_ms, 6 * 3600000LL);
    CHECK(cfg->delivery.retry.multiplier == 1.5);
    CHECK(cfg->delivery.retry.jitter == 0.1);
    const int days[KIND_COUNT] = { 5, 6, 15, 15, 30, 15 };
    for (int k = 0; k < KIND_COUNT; k++)
        CHECK_INT(cfg->deadline_days[k], days[k]);
    CHECK_INT(cfg->deadline_default, 15);
    char want[300];
    snprintf(want, sizeof want, "%s/cal/holidays.yaml", dir);
    CHECK_STR(cfg->calendar, want);
    CHECK(!cfg->publicity.expire);
    CHECK_INT(cfg->publicity.small_fine_person_yuan, 500);
    CHECK_INT(cfg->publicity.small_fine_org_yuan, 5000);
    CHECK(cfg->publicity.skip_warning_only);
    CHECK_INT(cfg->log.level, LOG_DEBUG);
    CHECK_INT(cfg->log.format, LOG_JSON);
    CHECK_INT(cfg->ntargets, 2);

    const struct target_cfg *c = config_target(cfg, "city");
    CHECK(c == &cfg->targets[0]);
    CHECK_STR(c->name, "city");
    CHECK_INT(c->protocol, PROTO_CITY);
    CHECK(!c->enabled);
    CHECK_STR(c->base_url, "http://127.0.0.1:8081/api");
    CHECK(c->allow_plain_http);
    CHECK_STR(c->client_id, "sjz-scjg");
    CHECK_STR(c->secret, "city-s3cret");
    snprintf(want, sizeof want, "file %s/city-secret", dir);
    CHECK_STR(c->secret_from, want);
    CHECK_INT(c->kinds, (1u << KIND_PENALTY) | (1u << KIND_LEVY));
    CHECK_INT(c->timeout_ms, 5000);
    CHECK_INT(c->max_in_flight, 2);
    CHECK(c->rate_per_s > 1.6666 && c->rate_per_s < 1.6667);
    CHECK(!c->tls.verify);
    snprintf(want, sizeof want, "%s/ca.pem", dir);
    CHECK_STR(c->tls.ca_file, want);
    CHECK_STR(c->tls.client_cert, "/etc/c.pem");
    snprintf(want, sizeof want, "%s/k.pem", dir);
    CHECK_STR(c->tls.client_key, want);
    CHECK_STR(c->proxy, "http://proxy:3128");
    CHECK_INT(c->nfields, 4);
    if (c->nfields == 4) {
        CHECK_STR(c->fields[0].field, "party.name");
        CHECK_STR(c->fields[0].from, "party_name");
        CHECK(!c->fields[0].transform && !c->fields[0].value && !c->fields[0].drop);
        CHECK_STR(c->fields[1].from, "fine_amount");
        CHECK_STR(c->fields[1].transform, "yuan_to_wan");
        CHECK(!c->fields[2].from);
        CHECK_STR(c->fields[2].value, "石家庄市市场监督管理局");
        CHECK_STR(c->fields[3].field, "remarks");
        CHECK(c->fields[3].drop);
    }

    const struct target_cfg *p = config_target(cfg, "hebei-2");
    CHECK(p == &cfg->targets[1]);
    CHECK_INT(p->protocol, PROTO_PROVINCE);
    CHECK(p->enabled);
    CHECK_STR(p->client_id, "130100-scjg");
    CHECK_STR(p->secret, "env-s3cret");
    CHECK_STR(p->secret_from, "env EPSYNC_TEST_PROV");
    CHECK_INT(p->batch_size, 100);
    CHECK(p->rate_per_s * 3600 > 1.9999 && p->rate_per_s * 3600 < 2.0001);
    CHECK_INT(p->kinds, (1u << KIND_PENALTY) | (1u << KIND_LICENSE));
    CHECK(config_target(cfg, "nope") == NULL);
    config_free(cfg);
}

TEST(defaults_match_the_spec)
{
    struct config *cfg;
    struct err e;
    put("city-secret", "x\n", 0600);
    if (load(DB CITY, &cfg, &e) < 0) {
        TAP_FAIL("load: %s", e.msg);
        return;
    }
    CHECK_STR(cfg->database.state, "dbname=cases");
    CHECK_STR(cfg->database.source_relation, "epsync_source.decisions");
    CHECK_INT(cfg->poll.interval_ms, 5000);
    CHECK_INT(cfg->poll.overlap_ms, 600000);
    CHECK_INT(cfg->poll.reconcile_every_ms, 86400000);
    CHECK_STR(cfg->poll.notify_channel, "");
    CHECK_INT(cfg->delivery.max_in_flight, 32);
    CHECK_INT(cfg->delivery.lease_ms, 120000);
    CHECK_INT(cfg->delivery.retry.initial_ms, 10000);
    CHECK_INT(cfg->delivery.retry.max_ms, 3600000);
    CHECK(cfg->delivery.retry.multiplier == 2.0);
    CHECK(cfg->delivery.retry.jitter == 0.2);
    const int days[KIND_COUNT] = { 7, 7, 20, 20, 20, 20 };
    for (int k = 0; k < KIND_COUNT; k++)
        CHECK_INT(cfg->deadline_days[k], days[k]);
    CHECK_STR(cfg->calendar, "/etc/epsync/holidays.yaml");
    CHECK(cfg->publicity.expire);
    CHECK_INT(cfg->publicity.small_fine_person_yuan, 1000);
    CHECK_INT(cfg->publicity.small_fine_org_yuan, 10000);
    CHECK(!cfg->publicity.skip_warning_only);
    CHECK_INT(cfg->log.level, LOG_INFO);
    CHECK_INT(cfg->log.format, LOG_TEXT);
    CHECK_INT(cfg->ntargets, 1);
    const struct target_cfg *t = &cfg->targets[0];
    CHECK(t->enabled);
    CHECK_STR(t->base_url, "https://city.example");
    CHECK(!t->allow_plain_http);
    CHECK_STR(t->secret, "x");
    CHECK_INT(t->kinds, (1u << KIND_COUNT) - 1);
    CHECK_INT(t->timeout_ms, 30000);
    CHECK_INT(t->max_in_flight, 8);
    CHECK(t->rate_per_s == 0);
    CHECK_INT(t->batch_size, 50);
    CHECK(t->tls.verify);
    CHECK_STR(t->tls.ca_file, "");
    CHECK_STR(t->proxy, "");
    CHECK_INT(t->nfields, 0);
    config_free(cfg);
}

/* conf/epsync.yaml as shipped, with the credential paths moved here. */
TEST(example_configuration_loads)
{
    struct config *cfg;
    struct err e;
    struct buf text = BUF_INIT, cred = BUF_INIT;
    FILE *f = fopen(EPSYNC_SOURCE_ROOT "/conf/epsync.yaml", "r");
    char line[1024];
    if (!f) {
        TAP_FAIL("conf/epsync.yaml: %s", strerror(errno));
        return;
    }
    buf_printf(&cred, "%s/", dir);
    while (fgets(line, sizeof line, f)) {
        char *at = strstr(line, "/run/credentials/epsync.service/");
        if (at) {
            buf_append(&text, line, (size_t)(at - line));
            buf_puts(&text, cred.data);
            buf_puts(&text, at + strlen("/run/credentials/epsync.service/"));
        } else {
            buf_puts(&text, line);
        }
    }
    fclose(f);
    put("city-secret", "city-secret-value\n", 0600);
    put("province-secret", "province-secret-value\n", 0600);
    int rc = load(text.data, &cfg, &e);
    buf_free(&text);
    buf_free(&cred);
    if (rc < 0) {
        TAP_FAIL("load: %s", e.msg);
        return;
    }
    CHECK_INT(cfg->ntargets, 2);
    CHECK_STR(config_target(cfg, "city")->secret, "city-secret-value");
    CHECK_STR(config_target(cfg, "province")->secret, "province-secret-value");
    CHECK_STR(config_target(cfg, "province")->client_id, "130100-scjg");
    /* The city accepts every kind; levies (行政征收) included. */
    CHECK_INT(config_target(cfg, "city")->kinds, (1u << KIND_COUNT) - 1);
    CHECK(config_target(cfg, "city")->rate_per_s == 20);
    CHECK_INT(cfg->deadline_days[KIND_OTHER], 20);
    config_free(cfg);
}

struct bad { const char *name, *text, *want; };

/* Each refused file, and the whole message it gets ("@" is the file). */
static const struct bad bad_files[] = {
    { "misspelt key", DB "poll:\n  intervall: 5s\n" CITY,
      "@:4:3: poll: unknown key 'intervall'; did you mean 'interval'?" },
    { "misspelt section", DB "pol:\n  interval: 5s\n" CITY,
      "@:3:1: unknown key 'pol'; did you mean 'poll'?" },
    { "unknown key, nothing close", DB "colour: red\n" CITY, "@:3:1: unknown key 'colour'" },
    { "list for a duration", DB "poll:\n  interval: [5s]\n" CITY,
      "@:4:13: poll.interval: expected a single value, got a list" },
    { "word for an integer", DB "delivery: { max_in_flight: many }\n" CITY,
      "@:3:28: delivery.max_in_flight: expected an integer, got 'many'" },
    { "scalar for a section", DB "log: loud\n" CITY, "@:3:6: log: expected a mapping, got a scalar" },
    { "bad boolean", DB "publicity: { expire: maybe }\n" CITY,
      "@:3:22: publicity.expire: expected true or false, got 'maybe'" },
    { "bad duration", DB "poll:\n  interval: 5 s\n" CITY,
      "@:4:13: poll.interval: bad duration '5 s' (a whole number and a unit: ms, s, m, h or d, "
      "e.g. 500ms, 5s, 10m, 6h, 2d)" },
    { "fractional duration", DB "delivery:\n  lease: 1.5m\n" CITY,
      "@:4:10: delivery.lease: bad duration '1.5m' (a whole number and a unit: ms, s, m, h or "
      "d, e.g. 500ms, 5s, 10m, 6h, 2d)" },
    { "duration out of range", DB "poll:\n  interval: 0s\n" CITY,
      "@:4:13: poll.interval: 0s is out of range (100ms to 1h)" },
    { "missing value", DB "poll:\n  interval:\n" CITY, "@:4:12: poll.interval: missing value" },
    { "jitter out of range", DB "delivery: { retry: { jitter: 1.5 } }\n" CITY,
      "@:3:30: delivery.retry.jitter: 1.5 is out of range (0 to 1)" },
    { "retry max below initial", DB "delivery:\n  retry: { initial: 10m, max: 1m }\n" CITY,
      "@:4:31: delivery.retry.max: must not be shorter than delivery.retry.initial" },
    { "unknown log level", DB "log: { level: loud }\n" CITY,
      "@:3:15: log.level: unknown level 'loud' (expected one of: error, warning, notice, info, "
      "debug)" },
    { "missing database", CITY, "@:1:1: missing required key 'database'" },
    { "missing source", "database:\n  state: \"\"\n" CITY,
      "@:2:3: database: missing required key 'source'" },
    { "empty source", "database:\n  source: \"\"\n" CITY,
      "@:2:11: database.source: must not be empty" },
    { "empty client_id", DB "targets:\n  c:\n    protocol: city\n    base_url: https://x\n"
      "    client_id: ~\n",
      "@:7:16: targets.c.client_id: must not be empty" },
    { "missing targets", DB, "@:1:1: missing required key 'targets'" },
    { "no target", DB "targets: {}\n",
      "@:3:10: targets: expected a mapping of target names to targets, got none" },
    { "empty file", "", "@:1:1: empty configuration: missing required key 'database'" },
    { "duplicate key", DB "poll: { interval: 5s, interval: 6s }\n" CITY,
      "@:3:23: poll: duplicate key 'interval' (first at line 3)" },
    { "yaml syntax", DB "poll:\n  interval: 5s\n overlap: 1m\n" CITY,
      "@:5:2: did not find expected key while parsing a block mapping" },
    { "invalid conninfo", "database:\n  source: x=y\n  source_relation: \"v; drop table x\"\n" CITY,
      "@:2:11: database.source: not a valid libpq connection string" },
    { "relation injection", DB "  source_relation: \"v; drop table x\"\n" CITY,
      "@:3:20: database.source_relation: 'v; drop table x' is not a valid name (letters, "
      "digits and _, or schema.name)" },
    { "missing base_url", DB "targets:\n  city:\n    protocol: city\n    client_id: c\n"
      "    client_secret_file: city-secret\n",
      "@:5:5: targets.city: missing required key 'base_url'" },
    { "missing protocol", DB "targets:\n  city:\n    base_url: https://x\n",
      "@:5:5: targets.city: missing required key 'protocol' (city or province)" },
    { "unknown protocol", DB "targets:\n  city:\n    protocol: ftp\n",
      "@:5:15: targets.city.protocol: unknown protocol 'ftp' (expected one of: city, province)" },
    { "missing secret key", DB "targets:\n  c:\n    protocol: city\n    base_url: https://x\n"
      "    client_id: c\n",
      "@:5:5: targets.c: missing required key 'client_secret_file' or 'client_secret_env'" },
    { "missing app_id", DB "targets:\n  p:\n    protocol: province\n    base_url: https://x\n"
      "    app_secret_file: city-secret\n",
      "@:5:5: targets.p: missing required key 'app_id'" },
    { "key of the other protocol", DB CITY "    app_id: x\n",
      "@:9:5: targets.city: 'app_id' is a key of protocol province targets, this one is city" },
    { "batch_size on city", DB CITY "    batch_size: 10\n",
      "@:9:5: targets.city: 'batch_size' is a key of protocol province targets, this one is "
      "city" },
    { "inline secret", DB CITY "    client_secret: s3cr3t-inline\n",
      "@:9:20: targets.city.client_secret: secrets are never written in the configuration "
      "file; put it in a file named by client_secret_file (e.g. under $CREDENTIALS_DIRECTORY) "
      "or an environment variable named by client_secret_env" },
    { "two secret sources", DB CITY "    client_secret_env: HOME\n",
      "@:9:24: targets.city.client_secret_env: give only one of client_secret_file and "
      "client_secret_env" },
    { "secret env unset", DB "targets:\n  c:\n    protocol: city\n    base_url: https://x\n"
      "    client_id: c\n    client_secret_env: EPSYNC_TEST_UNSET\n",
      "@:8:24: targets.c.client_secret_env: environment variable EPSYNC_TEST_UNSET is not set" },
    { "missing secret file", DB "targets:\n  c:\n    protocol: city\n    base_url: https://x\n"
      "    client_id: c\n    client_secret_file: no-such-secret\n",
      "@:8:25: targets.c.client_secret_file: secret file DIR/no-such-secret: No such file or "
      "directory" },
    { "world-readable secret file", DB "targets:\n  c:\n    protocol: city\n"
      "    base_url: https://x\n    client_id: c\n    client_secret_file: open-secret\n",
      "@:8:25: targets.c.client_secret_file: secret file DIR/open-secret is readable by group "
      "or other users (mode 0644); chmod 600 DIR/open-secret" },
    { "empty secret file", DB "targets:\n  c:\n    protocol: city\n"
      "    base_url: https://x\n    client_id: c\n    client_secret_file: empty-secret\n",
      "@:8:25: targets.c.client_secret_file: secret file DIR/empty-secret is empty" },
    { "plain http", DB "targets:\n  c:\n    protocol: city\n    base_url: http://127.0.0.1:8080\n"
      "    client_id: c\n    client_secret_file: city-secret\n",
      "@:6:15: targets.c.base_url: plain http:// is refused (secrets and personal data would "
      "travel unencrypted); use https://, or set allow_plain_http: true for a test platform" },
    { "not a url", DB "targets:\n  city:\n    protocol: city\n    base_url: ftp://x\n",
      "@:6:15: targets.city.base_url: 'ftp://x' is not an https:// URL" },
    { "bad rate unit", DB CITY "    rate: 20/x\n",
      "@:9:11: targets.city.rate: bad rate '20/x' (a positive number per s, m or h, e.g. 20/s "
      "or 100/m; or unlimited)" },
    { "bad rate number", DB CITY "    rate: -5/s\n",
      "@:9:11: targets.city.rate: bad rate '-5/s' (a positive number per s, m or h, e.g. 20/s "
      "or 100/m; or unlimited)" },
    { "batch_size 101", DB "targets:\n  p:\n    protocol: province\n    base_url: https://x\n"
      "    app_id: a\n    app_secret_file: city-secret\n    batch_size: 101\n",
      "@:9:17: targets.p.batch_size: 101 is out of range (1 to 100)" },
    { "misspelt kind", DB CITY "    kinds: [penalty, licence]\n",
      "@:9:22: targets.city.kinds: unknown kind 'licence'; did you mean 'license'? (kinds: "
      "penalty, license, inspection, coercion, levy, other)" },
    { "empty kinds", DB CITY "    kinds: []\n", "@:9:12: targets.city.kinds: name at least one kind" },
    { "kinds not a list", DB CITY "    kinds: penalty\n",
      "@:9:12: targets.city.kinds: expected a list of kinds, got a scalar" },
    { "bad target name", DB "targets:\n  \"city one\":\n    protocol: city\n",
      "@:4:3: targets: target name 'city one' must be 1 to 32 letters, digits, _ or -" },
    { "field with from and value", DB CITY "    fields:\n      a: { from: x, value: y }\n",
      "@:10:10: targets.city.fields.a: give either 'from' (a source column) or 'value' (a "
      "fixed value)" },
    { "field key misspelt", DB CITY "    fields:\n      a: { form: x }\n",
      "@:10:12: targets.city.fields.a: unknown key 'form'; did you mean 'from'?" },
    { "field from not a column", DB CITY "    fields:\n      a: \"x y\"\n",
      "@:10:10: targets.city.fields.a: 'x y' is not a source column (a name, $pseudo-column, "
      "or alternatives a|b)" },
    { "second document", DB CITY "---\nfoo: 1\n",
      "@:10:1: a second YAML document; the configuration is one document" },
};

TEST(each_error_names_file_line_column)
{
    put("city-secret", "x\n", 0600);
    put("open-secret", "x\n", 0644);
    put("empty-secret", "\n", 0600);
    unsetenv("EPSYNC_TEST_UNSET");
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        struct config *cfg = (struct config *)&cfg;
        struct err e;
        int rc = load(bad_files[i].text, &cfg, &e);
        if (rc >= 0) {
            TAP_FAIL("%s: loaded", bad_files[i].name);
            config_free(cfg);
            continue;
        }
        if (cfg != NULL)
            TAP_FAIL("%s: *out was set on failure", bad_files[i].name);
        if (strcmp(msg(&e), bad_files[i].want) != 0)
            TAP_FAIL("%s:\n#   got  %s\n#   want %s", bad_files[i].name, msg(&e),
                     bad_files[i].want);
    }
}

TEST(inline_secret_value_is_not_echoed)
{
    struct config *cfg;
    struct err e;
    CHECK(load(DB CITY "    client_secret: s3cr3t-inline\n", &cfg, &e) < 0);
    CHECK(strstr(e.msg, "s3cr3t-inline") == NULL);
    CHECK(load("database:\n  source: \"password=pw-SECRET bad\"\n" CITY, &cfg, &e) < 0);
    CHECK(strstr(e.msg, "pw-SECRET") == NULL);
    CHECK(strstr(e.msg, ":2:11: database.source: not a valid libpq connection string") != NULL);
}

TEST(group_or_world_readable_config_is_refused)
{
    struct config *cfg = NULL;
    struct err e;
    put("city-secret", "x\n", 0600);
    const char *p = put("open.yaml", DB CITY, 0640);
    snprintf(cfgpath, sizeof cfgpath, "%s", p);
    CHECK(config_load(&cfg, p, &e) < 0);
    CHECK(cfg == NULL);
    CHECK_STR(msg(&e), "@: readable by group or other users (mode 0640); chmod 600 @");
    p = put("open.yaml", DB CITY, 0604);
    CHECK(config_load(&cfg, p, &e) < 0);
    CHECK_STR(msg(&e), "@: readable by group or other users (mode 0604); chmod 600 @");
    p = put("open.yaml", DB CITY, 0600);
    CHECK_INT(config_load(&cfg, p, &e), 0);
    config_free(cfg);
    snprintf(cfgpath, sizeof cfgpath, "%s/missing.yaml", dir);
    CHECK(config_load(&cfg, cfgpath, &e) < 0);
    CHECK_STR(msg(&e), "@: No such file or directory");
}

/* Tabs used for indentation get advice after libyaml's own message. */
TEST(tab_indentation_gets_advice)
{
    struct config *cfg;
    struct err e;
    static const char *const advice = "; YAML does not allow tabs for indentation; use spaces";
    CHECK(load("database:\n\tsource: x\n" CITY, &cfg, &e) < 0);
    CHECK(!strncmp(msg(&e), "@:2:1: ", 7));
    CHECK(strstr(e.msg, advice) != NULL);
    CHECK(load(DB "poll:\n  interval: 5s\n\t overlap: 10m\n" CITY, &cfg, &e) < 0);
    CHECK(!strncmp(msg(&e), "@:5:", 4));
    CHECK(strstr(e.msg, advice) != NULL);
    /* A syntax error without a tab gets no such advice. */
    CHECK(load(DB "poll: {interval: 5s\n" CITY, &cfg, &e) < 0);
    CHECK(strstr(e.msg, "tabs") == NULL);
}

/* With CONFIG_CALENDAR the calendar must load, its error placed at the key. */
TEST(calendar_is_checked_on_request)
{
    struct config *cfg = NULL;
    struct err e;
    put("city-secret", "x\n", 0600);
    put("cal.yaml", "2026:\n  holidays: [2026-01-01]\n", 0600);
    put("bad-cal.yaml", "2026:\n  holidays: [2026-13-01]\n", 0600);
    snprintf(cfgpath, sizeof cfgpath, "%s", put("epsync.yaml", DB "calendar: cal.yaml\n" CITY,
                                                  0600));
    CHECK_INT(config_load_opts(&cfg, cfgpath, CONFIG_CALENDAR, &e), 0);
    config_free(cfg);
    put("epsync.yaml", DB "calendar: nope.yaml\n" CITY, 0600);
    cfg = NULL;
    CHECK_INT(config_load_opts(&cfg, cfgpath, 0, &e), 0);      /* not asked: not read */
    config_free(cfg);
    cfg = NULL;
    CHECK(config_load_opts(&cfg, cfgpath, CONFIG_CALENDAR, &e) < 0);
    CHECK_STR(msg(&e), "@:3:11: calendar: DIR/nope.yaml: No such file or directory");
    put("epsync.yaml", DB "calendar: bad-cal.yaml\n" CITY, 0600);
    CHECK(config_load_opts(&cfg, cfgpath, CONFIG_CALENDAR, &e) < 0);
    CHECK(!strncmp(msg(&e), "@:3:11: calendar: DIR/bad-cal.yaml:2:", 37));
    CHECK(cfg == NULL);
}

/* The same text in memory (config_parse_text, what the fuzzer feeds)
 * gives what the file gives: the same struct as printed, the same errors. */
TEST(text_parses_like_the_file)
{
    static const char *const texts[] = {
        DB CITY "poll: { interval: 2s }\ncalendar: cal.yaml\n",
        DB CITY "    kinds: [penalty, fine]\n",
        DB "targets: [a, b]\n",
        "database: {source: \"dbname=x\"\n",
        "",
    };
    put("city-secret", "x\n", 0600);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct config *fc = NULL, *tc = NULL;
        struct err fe, te;
        char *fp = NULL, *tp = NULL;
        size_t fl = 0, tl = 0;
        int frc = load(texts[i], &fc, &fe);
        int trc = config_parse_text(&tc, cfgpath, texts[i], strlen(texts[i]), CONFIG_SECRETS,
                                    &te);
        CHECK_INT(trc, frc);
        if (frc < 0 && trc < 0)
            CHECK_STR(te.msg, fe.msg);
        if (fc && tc) {
            FILE *f = open_memstream(&fp, &fl), *t = open_memstream(&tp, &tl);
            config_print(fc, f);
            config_print(tc, t);
            fclose(f);
            fclose(t);
            CHECK_STR(tp, fp);
        }
        free(fp);
        free(tp);
        config_free(fc);
        config_free(tc);
    }
}

/* The printed configuration is YAML, has every key, and no secret. */
TEST(print_masks_every_secret)
{
    struct config *cfg;
    struct err e;
    char *out = NULL;
    size_t len = 0;
    put("city-secret", "hunter2-CITY\n", 0600);
    setenv("EPSYNC_TEST_PROV", "hunter2-PROV", 1);
    const char *text =
        "database:\n"
        "  source: \"host=db password='pw SOURCE' dbname=cases\"\n"
        "  state: \"postgresql://epsync:pw-STATE@db2:5433/state?sslmode=require\"\n"
        CITY
        "    rate: 100/m\n"
        "    fields: { CF_SJLY: { value: \"x\\\"y\" }, remarks: null }\n"
        "  prov:\n"
        "    protocol: province\n"
        "    base_url: https://p.example\n"
        "    app_id: a\n"
        "    app_secret_env: EPSYNC_TEST_PROV\n";
    if (load(text, &cfg, &e) < 0) {
        TAP_FAIL("load: %s", e.msg);
        return;
    }
    FILE *f = open_memstream(&out, &len);
    config_print(cfg, f);
    fclose(f);
    CHECK(strstr(out, "hunter2") == NULL);
    CHECK(strstr(out, "SOURCE") == NULL);
    CHECK(strstr(out, "pw-STATE") == NULL);
    CHECK(strstr(out, "  source: \"host=db password=*** dbname=cases\"\n") != NULL);
    CHECK(strstr(out, "password=*** ") != NULL);
    CHECK(strstr(out, "  state: \"") != NULL && strstr(strstr(out, "  state: \""), "password=***"));
    CHECK(strstr(out, "    client_secret: \"***\"\n") != NULL);
    CHECK(strstr(out, "    app_secret: \"***\"\n") != NULL);
    CHECK(strstr(out, "    app_secret_env: \"EPSYNC_TEST_PROV\"\n") != NULL);
    CHECK(strstr(out, "client_secret_env") == NULL);
    CHECK(strstr(out, "    rate: 100/m\n") != NULL);
    CHECK(strstr(out, "  interval: 5s\n") != NULL);
    CHECK(strstr(out, "    multiplier: 2.0\n") != NULL);
    CHECK(strstr(out, "  inspection: 20\n") != NULL);
    CHECK(strstr(out, "    batch_size: 50\n") != NULL);
    CHECK(strstr(out, "      \"CF_SJLY\": { value: \"x\\\"y\" }\n") != NULL);
    CHECK(strstr(out, "      \"remarks\": null\n") != NULL);
    CHECK(strstr(out, "    kinds: [penalty, license, inspection, coercion, levy, other]\n"));

    /* well-formed YAML */
    yaml_parser_t y;
    yaml_document_t doc;
    yaml_parser_initialize(&y);
    yaml_parser_set_input_string(&y, (const unsigned char *)out, len);
    CHECK(yaml_parser_load(&y, &doc));
    CHECK(yaml_document_get_root_node(&doc) != NULL);
    yaml_document_delete(&doc);
    yaml_parser_delete(&y);
    free(out);
    config_free(cfg);
}

TEST(durations_table)
{
    static const struct { const char *in; long long ms; } cases[] = {
        { "500ms", 500 }, { "5s", 5000 }, { "10m", 600000 }, { "6h", 21600000 },
        { "2d", 172800000 }, { "0s", 0 }, { "0ms", 0 }, { "90s", 90000 },
        { "5", -1 }, { "5x", -1 }, { "-5s", -1 }, { "+5s", -1 }, { "1.5s", -1 }, { "", -1 },
        { "s", -1 }, { " 5s", -1 }, { "5s ", -1 }, { "5 s", -1 }, { "5S", -1 }, { "5sec", -1 },
        { "99999999999999999999d", -1 }, { "9223372036854775807d", -1 },
        { "9223372036854775807ms", 9223372036854775807LL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (config_parse_duration(cases[i].in) != cases[i].ms)
            TAP_FAIL("\"%s\" -> %lld, expected %lld", cases[i].in,
                     (long long)config_parse_duration(cases[i].in), cases[i].ms);
    CHECK_INT(config_parse_duration(NULL), -1);
}

TEST(kind_names_round_trip)
{
    for (int k = 0; k < KIND_COUNT; k++)
        CHECK_INT(kind_parse(kind_name(k)), k);
    CHECK_STR(kind_name(KIND_LEVY), "levy");
    CHECK_INT(kind_parse("penalty"), KIND_PENALTY);
    CHECK_INT(kind_parse("Penalty"), -1);
    CHECK_INT(kind_parse(""), -1);
    CHECK_INT(kind_parse(NULL), -1);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/epsync-test-config-XXXXXX");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    RUN(full_file_round_trips_to_the_struct);
    RUN(defaults_match_the_spec);
    RUN(example_configuration_loads);
    RUN(each_error_names_file_line_column);
    RUN(inline_secret_value_is_not_echoed);
    RUN(group_or_world_readable_config_is_refused);
    RUN(tab_indentation_gets_advice);
    RUN(calendar_is_checked_on_request);
    RUN(text_parses_like_the_file);
    RUN(print_masks_every_secret);
    RUN(durations_table);
    RUN(kind_names_round_trip);
    for (size_t i = 0; i < nfiles; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    rmdir(dir);
    return tap_done();
}

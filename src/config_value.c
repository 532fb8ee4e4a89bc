/* config_value.c - the syntax of one configuration value.
 *
 * Each parser reads one YAML scalar into its field, or says why not in a
 * sentence that the caller prefixes with FILE:LINE:COL and the key's
 * dotted name.  The formatters are their inverses, for config_print().
 * A message may quote the value refused, except for the two kinds of
 * value that can hold a secret: connection strings and secret sources. */
#include "config_int.h"

#include "buf.h"
#include "sign.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHY CONFIG_WHY
#define FIELD(T) (*(T *)(base + k->off))

static const struct { const char *unit; int64_t ms; } dur_units[] = {
    { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
};
static const struct { const char *unit; double per_s; } rate_units[] = {
    { "s", 1 }, { "m", 60 }, { "h", 3600 },
};
static const struct enum_name bool_names[] = {
    { "true", 1 }, { "yes", 1 }, { "on", 1 }, { "false", 0 }, { "no", 0 }, { "off", 0 },
    { NULL, 0 },
};

#define NELEM(a) (sizeof (a) / sizeof (a)[0])

int64_t config_parse_duration(const char *s)
{
    int64_t n = 0;
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        if (n > (INT64_MAX - (*s - '0')) / 10)
            return -1;
        n = n * 10 + (*s - '0');
    }
    for (size_t i = 0; i < NELEM(dur_units); i++)
        if (strcmp(s, dur_units[i].unit) == 0)
            return n > INT64_MAX / dur_units[i].ms ? -1 : n * dur_units[i].ms;
    return -1;
}

/* The largest unit that states ms exactly: 90000 -> "90s", 600000 -> "10m". */
void config_format_duration(int64_t ms, char *out, size_t n)
{
    for (size_t i = 0; i < NELEM(dur_units); i++)
        if (ms > 0 && ms % dur_units[i].ms == 0) {
            snprintf(out, n, "%lld%s", (long long)(ms / dur_units[i].ms), dur_units[i].unit);
            return;
        }
    snprintf(out, n, "0s");
}

/* The smallest unit in which the rate is a whole number: 20/s, 100/m. */
void config_format_rate(double r, char *out, size_t n)
{
    for (size_t i = 0; r > 0 && i < NELEM(rate_units); i++) {
        double v = r * rate_units[i].per_s;
        if (fabs(v - round(v)) < 1e-9 * (v > 1 ? v : 1)) {
            snprintf(out, n, "%.0f/%s", round(v), rate_units[i].unit);
            return;
        }
    }
    if (r > 0)
        snprintf(out, n, "%g/s", r);
    else
        snprintf(out, n, "unlimited");
}

const struct enum_name *config_enum_find(const struct enum_name *t, const char *s)
{
    for (; t->name; t++)
        if (strcmp(s, t->name) == 0)
            return t;
    return NULL;
}

const char *config_enum_label(const struct enum_name *t, int v)
{
    for (; t->name; t++)
        if (t->val == v)
            return t->name;
    return "?";
}

void config_enum_list(const struct enum_name *t, char *out, size_t n)
{
    struct buf b = BUF_INIT;
    for (const struct enum_name *p = t; p->name; p++)
        buf_printf(&b, "%s%s", p == t ? "" : ", ", p->name);
    snprintf(out, n, "%s", buf_str(&b));
    buf_free(&b);
}

/* An SQL identifier that can be written unquoted (names that end up in SQL
 * text, where no parameter can stand): letters, digits, _, and "a.b" when
 * dotted. */
static bool is_ident(const char *s, bool dotted)
{
    size_t part = 0;
    for (; *s; s++) {
        if (*s == '.' && dotted && part > 0) {
            part = 0;
            continue;
        }
        if (!(isalpha((unsigned char)*s) || *s == '_' || (part > 0 && isdigit((unsigned char)*s))))
            return false;
        if (++part > 63)
            return false;
    }
    return part > 0;
}

/* Relative paths are relative to the configuration file, not to the
 * daemon's working directory (systemd runs it in /). */
static char *resolve_path(const char *dir, const char *s)
{
    struct buf b = BUF_INIT;
    if (*s == '/' || !*s || !dir)
        return xstrdup(s);
    buf_printf(&b, "%s/%s", dir, s);
    return buf_steal(&b);
}

static void set_owned(char **p, char *v)
{
    free(*p);
    *p = v;
}

static int parse_str(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    (void)dir, (void)why;
    set_owned(&FIELD(char *), xstrdup(s));
    return 0;
}

static int parse_ident(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    if (!(*s == '\0' && (k->flags & F_EMPTY_OK)) && !is_ident(s, k->flags & F_DOTTED))
        return snprintf(why, WHY, "'%s' is not a valid name (letters, digits and _%s)", s,
                        (k->flags & F_DOTTED) ? ", or schema.name" : ""), -1;
    return parse_str(dir, k, s, base, why);
}

/* A source column of the mapping (mapping.h): "name", "$pseudo", or
 * alternatives "a|b". */
static int parse_column(const char *dir, const struct key *k, const char *s, char *base,
                        char *why)
{
    char *copy = xstrdup(s), *save = NULL;
    bool ok = *s && s[strlen(s) - 1] != '|' && !strstr(s, "||");
    for (char *t = strtok_r(copy, "|", &save); ok && t; t = strtok_r(NULL, "|", &save))
        ok = is_ident(t[0] == '$' ? t + 1 : t, false);
    free(copy);
    if (!ok)
        return snprintf(why, WHY, "'%s' is not a source column (a name, $pseudo-column, or "
                        "alternatives a|b)", s), -1;
    return parse_str(dir, k, s, base, why);
}

static int parse_path(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    (void)why;
    set_owned(&FIELD(char *), resolve_path(dir, s));
    return 0;
}

static int parse_conninfo(const char *dir, const struct key *k, const char *s, char *base,
                          char *why)
{
    char *msg = NULL;
    PQconninfoOption *o = *s ? PQconninfoParse(s, &msg) : NULL;
    /* libpq's message may quote the string, password and all: not shown */
    if (msg)
        PQfreemem(msg);
    if (*s && !o)
        return snprintf(why, WHY, "not a valid libpq connection string"), -1;
    PQconninfoFree(o);
    return parse_str(dir, k, s, base, why);
}

static int parse_bool(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    (void)dir;
    for (const struct enum_name *n = bool_names; n->name; n++)
        if (strcasecmp(s, n->name) == 0)
            return FIELD(bool) = n->val, 0;
    return snprintf(why, WHY, "expected true or false, got '%s'", s), -1;
}

static int parse_number(const struct key *k, const char *s, bool integer, double *out, char *why)
{
    char *end;
    errno = 0;
    double v = integer ? (double)strtoll(s, &end, 10) : strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || isspace((unsigned char)*s))
        return snprintf(why, WHY, "expected %s, got '%s'", integer ? "an integer" : "a number",
                        s), -1;
    if (v < k->min || v > k->max)
        return snprintf(why, WHY, "%s is out of range (%g to %g)", s, k->min, k->max), -1;
    *out = v;
    return 0;
}

static int parse_int(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    double v;
    (void)dir;
    if (parse_number(k, s, true, &v, why) < 0)
        return -1;
    FIELD(int) = (int)v;
    return 0;
}

static int parse_i64(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    double v;
    (void)dir;
    if (parse_number(k, s, true, &v, why) < 0)
        return -1;
    FIELD(int64_t) = strtoll(s, NULL, 10);
    return 0;
}

static int parse_double(const char *dir, const struct key *k, const char *s, char *base,
                        char *why)
{
    (void)dir;
    return parse_number(k, s, false, &FIELD(double), why);
}

static int parse_dur(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    char lo[32], hi[32];
    int64_t ms = config_parse_duration(s);
    (void)dir;
    if (ms < 0)
        return snprintf(why, WHY, "bad duration '%s' (a whole number and a unit: ms, s, m, h "
                        "or d, e.g. 500ms, 5s, 10m, 6h, 2d)", s), -1;
    config_format_duration((int64_t)k->min, lo, sizeof lo);
    config_format_duration((int64_t)k->max, hi, sizeof hi);
    if (ms < k->min || ms > k->max)
        return snprintf(why, WHY, "%s is out of range (%s to %s)", s, lo, hi), -1;
    FIELD(int64_t) = ms;
    return 0;
}

static int parse_enum(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    char list[128];
    const struct enum_name *n = config_enum_find(k->aux, s);
    (void)dir;
    config_enum_list(k->aux, list, sizeof list);
    if (!n)
        return snprintf(why, WHY, "unknown %s '%s' (expected one of: %s)", k->name, s, list), -1;
    FIELD(int) = n->val;
    return 0;
}

/* "20/s", "100/m", "5/h"; "unlimited" (or "" / "0") for no limit. */
static int parse_rate(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    char *end;
    (void)dir;
    if (!*s || !strcmp(s, "unlimited") || !strcmp(s, "0"))
        return FIELD(double) = 0, 0;
    errno = 0;
    double v = strtod(s, &end);
    if (isdigit((unsigned char)*s) && !errno && isfinite(v) && v > 0 && *end == '/')
        for (size_t i = 0; i < NELEM(rate_units); i++)
            if (strcmp(end + 1, rate_units[i].unit) == 0)
                return FIELD(double) = v / rate_units[i].per_s, 0;
    return snprintf(why, WHY, "bad rate '%s' (a positive number per s, m or h, e.g. 20/s or "
                    "100/m; or unlimited)", s), -1;
}

/* Scheme and host checked, trailing slashes dropped so that paths of
 * docs/protocols.md can be appended.  Whether http:// is allowed depends on
 * another key and is checked once the whole target is read. */
static int parse_url(const char *dir, const struct key *k, const char *s, char *base, char *why)
{
    const char *host = !strncmp(s, "https://", 8) ? s + 8 : !strncmp(s, "http://", 7) ? s + 7
                     : NULL;
    (void)dir;
    if (!host)
        return snprintf(why, WHY, "'%s' is not an https:// URL", s), -1;
    if (!*host || *host == '/')
        return snprintf(why, WHY, "'%s' has no host", s), -1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#')
            return snprintf(why, WHY, "'%s': a base URL has no blanks, query or fragment", s), -1;
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    set_owned(&FIELD(char *), xstrndup(s, n));
    return 0;
}

/* A target's secret comes from one of two keys; a second one is an error,
 * so that it is always clear which was used. */
static int claim_secret(const struct key *k, const struct target_cfg *t, char *why)
{
    int stem = (int)(strrchr(k->name, '_') - k->name);
    if (!t->secret_from)
        return 0;
    return snprintf(why, WHY, "give only one of %.*s_file and %.*s_env", stem, k->name, stem,
                    k->name), -1;
}

static int read_secret(const char *path, char **out, char *why)
{
    struct stat st;
    struct buf b = BUF_INIT;
    char chunk[4096];
    int rc = -1, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, WHY, "secret file %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, WHY, "secret file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        snprintf(why, WHY, "secret file %s is readable by group or other users (mode %04o); "
                 "chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    for (ssize_t n; (n = read(fd, chunk, sizeof chunk)) != 0; buf_append(&b, chunk, (size_t)n))
        if (n < 0 || b.len > 65536) {
            snprintf(why, WHY, "secret file %s: %s", path, n < 0 ? strerror(errno) : "too large");
            goto out;
        }
    /* `echo secret > file` leaves a newline that is not part of it */
    while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = '\0';
    if (b.len == 0) {
        snprintf(why, WHY, "secret file %s is empty", path);
        goto out;
    }
    *out = buf_steal(&b);
    rc = 0;
out:
    if (b.data)
        explicit_bzero(b.data, b.cap);
    buf_free(&b);
    explicit_bzero(chunk, sizeof chunk);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Whether this load reads the secrets (config_load_opts).  Set for the
 * duration of one load; configuration is loaded by one thread only. */
static bool load_secrets = true;

void config_value_load_secrets(bool yes)
{
    load_secrets = yes;
}

bool config_value_loading_secrets(void) { return load_secrets; }

static int parse_secret_file(const char *dir, const struct key *k, const char *s, char *base,
                             char *why)
{
    struct target_cfg *t = (struct target_cfg *)base;
    struct buf from = BUF_INIT;
    char *path = NULL;
    int rc = -1;
    if (claim_secret(k, t, why) < 0)
        return -1;
    if (!*s)
        return snprintf(why, WHY, "empty file name"), -1;
    path = resolve_path(dir, s);
    if (load_secrets && read_secret(path, &t->secret, why) < 0)
        goto out;
    buf_printf(&from, "file %s", path);
    t->secret_from = buf_steal(&from);
    rc = 0;
out:
    free(path);
    return rc;
}

/* Secrets read from the environment, by variable name.  The variable is
 * wiped and removed once read, so that neither child processes nor
 * /proc/PID/environ show it; a later load (a reload) takes the value kept
 * here unless the variable was set again.  Kept for the process's life. */
static struct env_secret { char *name, *value; } *env_secrets;
static size_t n_env_secrets;

static const char *env_secret(const char *name)
{
    char *v = getenv(name);
    struct env_secret *s = NULL;
    for (size_t i = 0; i < n_env_secrets && !s; i++)
        if (strcmp(env_secrets[i].name, name) == 0)
            s = &env_secrets[i];
    if (!v || !*v)
        return s ? s->value : v;
    if (!s) {
        env_secrets = xrealloc(env_secrets, (n_env_secrets + 1) * sizeof *env_secrets);
        s = &env_secrets[n_env_secrets++];
        s->name = xstrdup(name);
    } else {
        sign_wipe_free(s->value);
    }
    s->value = xstrdup(v);
    sign_wipe(v, strlen(v));
    unsetenv(name);
    return s->value;
}

static int parse_secret_env(const char *dir, const struct key *k, const char *s, char *base,
                            char *why)
{
    struct target_cfg *t = (struct target_cfg *)base;
    struct buf from = BUF_INIT;
    (void)dir;
    if (claim_secret(k, t, why) < 0)
        return -1;
    if (!is_ident(s, false))
        return snprintf(why, WHY, "'%s' is not an environment variable name", s), -1;
    const char *v = load_secrets ? env_secret(s) : NULL;
    if (load_secrets && (!v || !*v))
        return snprintf(why, WHY, "environment variable %s is %s", s, v ? "empty" : "not set"), -1;
    t->secret = load_secrets ? xstrdup(v) : NULL;
    buf_printf(&from, "env %s", s);
    t->secret_from = buf_steal(&from);
    return 0;
}

const struct config_scalar config_scalars[T_COUNT] = {
    [T_STR] = { parse_str, true, true },
    [T_IDENT] = { parse_ident, true, true },
    [T_COLUMN] = { parse_column, false, true },
    [T_PATH] = { parse_path, true, true },
    [T_CONNINFO] = { parse_conninfo, true, true },
    [T_BOOL] = { parse_bool, false, false },
    [T_INT] = { parse_int, false, false },
    [T_I64] = { parse_i64, false, false },
    [T_DOUBLE] = { parse_double, false, false },
    [T_DUR] = { parse_dur, false, false },
    [T_ENUM] = { parse_enum, false, false },
    [T_RATE] = { parse_rate, true, false },
    [T_URL] = { parse_url, false, true },
    [T_SECRET_FILE] = { parse_secret_file, false, false },
    [T_SECRET_ENV] = { parse_secret_env, false, false },
};

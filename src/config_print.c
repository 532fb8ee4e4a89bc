/* config_print.c - the effective configuration as YAML (check-config).
 *
 * Walks the same key tables as the parser, so every key is printed,
 * defaults included, in the file's own syntax.  Secrets never reach the
 * output: a target's secret is shown as "***" and so is every
 * password-like value inside a connection string. */
#include "config_int.h"

#include "buf.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pctx { FILE *f; int depth; int proto; };
typedef void print_fn(struct pctx *p, const struct key *k, const char *base);

#define FIELD(T) (*(const T *)(base + k->off))

static void print_map(struct pctx *p, const struct key *keys, const char *base);

static void put_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void head(struct pctx *p, const char *name)
{
    fprintf(p->f, "%*s%s:", p->depth * 2, "", name);
}

static void put_line(struct pctx *p, const struct key *k, const char *plain, const char *quoted)
{
    head(p, k->name);
    fputc(' ', p->f);
    if (plain)
        fputs(plain, p->f);
    else
        put_quoted(p->f, quoted);
    fputc('\n', p->f);
}

/* key=value form: copied as written, except that the value of every
 * password-like keyword becomes ***.  The string was accepted by libpq
 * when loaded, so this follows libpq's lexing: blanks around '=', a value
 * either single-quoted with backslash escapes or up to the next blank. */
static void mask_keyword_form(struct buf *b, const char *s)
{
    while (*s) {
        const char *start = s, *kw;
        while (isspace((unsigned char)*s))
            s++;
        kw = s;
        while (*s && *s != '=' && !isspace((unsigned char)*s))
            s++;
        bool secret = memmem(kw, (size_t)(s - kw), "password", 8) != NULL;
        while (*s && (isspace((unsigned char)*s) || *s == '='))
            s++;
        buf_append(b, start, (size_t)(s - start));
        const char *v = s;
        bool quoted = *s == '\'';
        for (s += quoted; *s && (quoted ? *s != '\'' : !isspace((unsigned char)*s)); s++)
            if (*s == '\\' && s[1])
                s++;
        s += quoted && *s == '\'';
        if (secret)
            buf_puts(b, "***");
        else
            buf_append(b, v, (size_t)(s - v));
    }
}

/* URI form: rebuilt from libpq's parse as key=value, passwords masked. */
static void mask_uri_form(struct buf *b, const char *s)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(s, &msg);
    if (msg)
        PQfreemem(msg);
    if (!opts) {
        buf_puts(b, "***");
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        buf_printf(b, "%s%s=", b->len ? " " : "", o->keyword);
        if (strstr(o->keyword, "password")) {
            buf_puts(b, "***");
            continue;
        }
        bool quote = !*o->val || strpbrk(o->val, " \t\n'\\");
        if (quote)
            buf_putc(b, '\'');
        for (const char *c = o->val; *c; c++) {
            if (quote && (*c == '\'' || *c == '\\'))
                buf_putc(b, '\\');
            buf_putc(b, *c);
        }
        if (quote)
            buf_putc(b, '\'');
    }
    PQconninfoFree(opts);
}

static void print_conninfo(struct pctx *p, const struct key *k, const char *base)
{
    struct buf b = BUF_INIT;
    const char *s = FIELD(char *) ? FIELD(char *) : "";
    if (!strncmp(s, "postgresql://", 13) || !strncmp(s, "postgres://", 11))
        mask_uri_form(&b, s);
    else
        mask_keyword_form(&b, s);
    put_line(p, k, NULL, buf_str(&b));
    buf_free(&b);
}

/* A URL with credentials (user:pass@ after the scheme) with them as three stars. */
static void mask_url_userinfo(struct buf *b, const char *s)
{
    const char *auth = strstr(s, "://");
    if (auth) {
        auth += 3;
        size_t n = strcspn(auth, "/?#");
        const char *at = memrchr(auth, '@', n);
        if (at) {
            buf_append(b, s, (size_t)(auth - s));
            buf_puts(b, "***");
            s = at;
        }
    }
    buf_puts(b, s);
}

static void print_str(struct pctx *p, const struct key *k, const char *base)
{
    struct buf b = BUF_INIT;
    const char *s = FIELD(char *);
    if (s)
        mask_url_userinfo(&b, s);
    put_line(p, k, NULL, s ? buf_str(&b) : NULL);
    buf_free(&b);
}

static void print_bool(struct pctx *p, const struct key *k, const char *base)
{
    put_line(p, k, FIELD(bool) ? "true" : "false", NULL);
}

static void print_int(struct pctx *p, const struct key *k, const char *base)
{
    char num[32];
    snprintf(num, sizeof num, "%d", FIELD(int));
    put_line(p, k, num, NULL);
}

static void print_i64(struct pctx *p, const struct key *k, const char *base)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)FIELD(int64_t));
    put_line(p, k, num, NULL);
}

static void print_double(struct pctx *p, const struct key *k, const char *base)
{
    char num[64];
    snprintf(num, sizeof num, "%g", FIELD(double));
    if (!strpbrk(num, ".en"))
        strcat(num, ".0");
    put_line(p, k, num, NULL);
}

static void print_dur(struct pctx *p, const struct key *k, const char *base)
{
    char d[32];
    config_format_duration(FIELD(int64_t), d, sizeof d);
    put_line(p, k, d, NULL);
}

static void print_enum(struct pctx *p, const struct key *k, const char *base)
{
    put_line(p, k, config_enum_label(k->aux, FIELD(int)), NULL);
}

static void print_rate(struct pctx *p, const struct key *k, const char *base)
{
    char r[64];
    config_format_rate(FIELD(double), r, sizeof r);
    put_line(p, k, r, NULL);
}

/* secret_from is "file PATH" or "env NAME": the key it came from is
 * printed with its PATH or NAME, the other one not at all. */
static void print_secret_source(struct pctx *p, const struct key *k, const char *base,
                                const char *prefix)
{
    const char *from = ((const struct target_cfg *)base)->secret_from;
    if (from && !strncmp(from, prefix, strlen(prefix)))
        put_line(p, k, NULL, from + strlen(prefix));
}

static void print_secret_file(struct pctx *p, const struct key *k, const char *base)
{
    print_secret_source(p, k, base, "file ");
}

static void print_secret_env(struct pctx *p, const struct key *k, const char *base)
{
    print_secret_source(p, k, base, "env ");
}

/* The secret itself: only that there is one. */
static void print_secret_inline(struct pctx *p, const struct key *k, const char *base)
{
    if (((const struct target_cfg *)base)->secret)
        put_line(p, k, "\"***\"", NULL);
}

static void print_kinds(struct pctx *p, const struct key *k, const char *base)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < KIND_COUNT; i++)
        if (FIELD(unsigned) & (1u << i))
            buf_printf(&b, "%s%s", b.len ? ", " : "[", kind_name(i));
    buf_puts(&b, b.len ? "]" : "[]");
    put_line(p, k, buf_str(&b), NULL);
    buf_free(&b);
}

static void print_fields(struct pctx *p, const struct key *k, const char *base)
{
    const struct target_cfg *t = (const struct target_cfg *)base;
    head(p, k->name);
    fputs(t->nfields ? "\n" : " {}\n", p->f);
    for (size_t i = 0; i < t->nfields; i++) {
        const struct field_map *f = &t->fields[i];
        fprintf(p->f, "%*s", (p->depth + 1) * 2, "");
        put_quoted(p->f, f->field);
        if (f->drop) {
            fputs(": null\n", p->f);
            continue;
        }
        fputs(f->from ? ": { from: " : ": { value: ", p->f);
        put_quoted(p->f, f->from ? f->from : f->value);
        if (f->transform) {
            fputs(", transform: ", p->f);
            put_quoted(p->f, f->transform);
        }
        fputs(" }\n", p->f);
    }
}

static void print_section(struct pctx *p, const struct key *k, const char *base)
{
    head(p, k->name);
    fputc('\n', p->f);
    p->depth++;
    print_map(p, k->aux, base);
    p->depth--;
}

static void print_targets(struct pctx *p, const struct key *k, const char *base)
{
    const struct config *cfg = (const struct config *)base;
    head(p, k->name);
    fputc('\n', p->f);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        struct pctx tp = { p->f, p->depth + 1, -1 };
        head(&tp, cfg->targets[i].name);
        fputc('\n', p->f);
        tp.depth++;
        tp.proto = (int)cfg->targets[i].protocol;
        print_map(&tp, config_target_keys, (const char *)&cfg->targets[i]);
    }
}

static print_fn *const printers[T_COUNT] = {
    [T_STR] = print_str, [T_IDENT] = print_str, [T_COLUMN] = print_str,
    [T_PATH] = print_str, [T_CONNINFO] = print_conninfo, [T_BOOL] = print_bool,
    [T_INT] = print_int, [T_I64] = print_i64, [T_DOUBLE] = print_double,
    [T_DUR] = print_dur, [T_ENUM] = print_enum, [T_RATE] = print_rate, [T_URL] = print_str,
    [T_SECRET_FILE] = print_secret_file, [T_SECRET_ENV] = print_secret_env,
    [T_SECRET_INLINE] = print_secret_inline, [T_KINDS] = print_kinds,
    [T_FIELDS] = print_fields, [T_SECTION] = print_section, [T_TARGETS] = print_targets,
};

static void print_map(struct pctx *p, const struct key *keys, const char *base)
{
    for (const struct key *k = keys; k->name; k++)
        if (config_key_applies(k, p->proto))
            printers[k->type](p, k, base);
}

void config_print(const struct config *cfg, FILE *f)
{
    struct pctx p = { f, 0, -1 };
    fputs("# epsync effective configuration", f);
    if (cfg->path)
        fprintf(f, " (from %s)", cfg->path);
    fputs("; secrets are shown as ***\n", f);
    print_map(&p, config_root_keys, (const char *)cfg);
}

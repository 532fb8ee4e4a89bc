/* adapter.c - the dispatch to a protocol's adapter, and what the two
 * protocols share: outcome helpers, body classification, URL pieces. */
#include "adapter_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "log.h"
#include "mask.h"
#include "sign.h"

/* ---- dispatch ------------------------------------------------------------ */

static const struct adapter_ops *const protocols[] = {
    [PROTO_CITY] = &adapter_city_ops,
    [PROTO_PROVINCE] = &adapter_province_ops,
};

int adapter_new(adapter **out, const struct target_cfg *t, const struct config *cfg,
                struct err *e)
{
    adapter *a;
    int rc;

    (void)cfg;
    *out = NULL;
    if ((unsigned)t->protocol >= sizeof protocols / sizeof protocols[0])
        return err_set(e, -EINVAL, "target %s: unknown protocol %d", t->name, (int)t->protocol);
    a = xcalloc(1, sizeof *a);
    a->ops = protocols[t->protocol];
    a->name = xstrdup(t->name);
    a->base_url = xstrdup(t->base_url ? t->base_url : "");
    for (size_t l = strlen(a->base_url); l > 0 && a->base_url[l - 1] == '/'; l--)
        a->base_url[l - 1] = '\0';
    a->client_id = xstrdup(t->client_id ? t->client_id : "");
    a->secret = xstrdup(t->secret ? t->secret : "");
    a->secret_from = xstrdup(t->secret_from ? t->secret_from : "the configured secret");
    a->batch_size = t->batch_size;
    a->token_auth = t->token_auth;
    if (!t->tls.verify)
        log_warning("TLS certificate verification is OFF for this target "
                    "(tls.insecure_skip_verify_i_understand): anyone on the path can read and "
                    "forge its traffic", KV("target", t->name));
    for (int m = 0; m < MAP_TABLE_COUNT; m++) {
        bool used = t->protocol == PROTO_CITY ? m == MAP_CITY : m != MAP_CITY;
        if (used && (rc = mapping_new(&a->map[m], t, (enum map_table)m, e)) < 0)
            goto fail;
    }
    if ((rc = a->ops->init(a, e)) < 0)
        goto fail;
    *out = a;
    return 0;
fail:
    err_wrap(e, "target %s", t->name);
    adapter_free(a);
    return rc;
}

void adapter_free(adapter *a)
{
    if (!a)
        return;
    a->ops->fini(a);
    for (int m = 0; m < MAP_TABLE_COUNT; m++)
        mapping_free(a->map[m]);
    free(a->name);
    free(a->base_url);
    free(a->client_id);
    sign_wipe_free(a->secret);
    free(a->secret_from);
    free(a);
}

size_t adapter_batch_max(const adapter *a, enum op op)
{
    return a->ops->batch_max(a, op);
}

enum adapter_state adapter_prepare(adapter *a, int64_t now_ms, struct http_req *auth_req,
                                   char *msg, size_t msgsz)
{
    if (msg && msgsz)
        msg[0] = '\0';
    return a->ops->prepare(a, now_ms, auth_req, msg, msgsz);
}

void adapter_auth_done(adapter *a, const struct http_resp *resp, int64_t now_ms)
{
    a->ops->auth_done(a, resp, now_ms);
}

int adapter_build(adapter *a, struct delivery *const *d, size_t n, size_t *used,
                  int64_t now_ms, struct http_req *req, struct err *e)
{
    size_t max = n ? adapter_batch_max(a, d[0]->op) : 0;

    if (n == 0)
        return err_set(e, -EINVAL, "target %s: nothing to build", a->name);
    for (size_t i = 1; i < n; i++)
        if (d[i]->op != d[0]->op)
            return err_set(e, -EINVAL, "target %s: one request cannot mix %s and %s",
                           a->name, op_name(d[0]->op), op_name(d[i]->op));
    if (n > max) {
        if (!used)
            return err_set(e, -EINVAL, "target %s: %zu deliveries, at most %zu per %s request",
                           a->name, n, max, op_name(d[0]->op));
        n = max;
    }
    return a->ops->build(a, d, n, used, now_ms, req, e);
}

void adapter_parse(adapter *a, struct delivery *const *d, size_t n,
                   const struct http_resp *resp, struct outcome *out)
{
    for (size_t i = 0; i < n; i++)
        adapter_outcome_init(&out[i], resp);
    a->ops->parse(a, d, n, resp, out);
}

/* ---- shared helpers ------------------------------------------------------ */

void adapter_outcome_init(struct outcome *o, const struct http_resp *resp)
{
    memset(o, 0, sizeof *o);
    o->kind = OUTCOME_TRANSIENT;
    o->http_status = resp ? (int)resp->status : 0;
    o->retry_after_ms = resp ? resp->retry_after_ms : -1;
}

void adapter_copy_text(char *dst, size_t sz, const char *s)
{
    size_t n = 0;

    if (!sz)
        return;
    for (; s && *s && n + 1 < sz; s++)
        dst[n++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
    dst[n] = '\0';
    if (s && *s) {
        /* cut: drop a partial multi-byte character at the end */
        size_t k = n;
        while (k > 0 && ((unsigned char)dst[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0 && ((unsigned char)dst[k - 1] & 0x80)) {
            unsigned char lead = (unsigned char)dst[k - 1];
            size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            if (n - (k - 1) < want)
                dst[k - 1] = '\0';
        }
    }
}

void adapter_outcome_set(struct outcome *o, enum outcome_kind kind, const char *code,
                         const char *fmt, ...)
{
    struct buf tmp = BUF_INIT;       /* whole, so the cut below is UTF-8 aware */
    va_list ap;

    o->kind = kind;
    adapter_copy_text(o->code, sizeof o->code, code ? code : "");
    va_start(ap, fmt);
    buf_vprintf(&tmp, fmt, ap);
    va_end(ap);
    /* A platform's message may quote a party's ID or phone number and
     * carry control characters: it is logged, stored and shown as masked. */
    struct buf safe = BUF_INIT;
    mask_message(buf_str(&tmp), &safe);
    adapter_copy_text(o->message, sizeof o->message, buf_str(&safe));
    buf_free(&safe);
    buf_free(&tmp);
}

static void describe_body(const struct http_resp *r, char *out, size_t sz)
{
    if (r->truncated)
        snprintf(out, sz, "a body over 1 MiB");
    else if (r->body_len == 0)
        snprintf(out, sz, "an empty body");
    else
        snprintf(out, sz, "a non-JSON body (%s)", r->content_type[0] ? r->content_type
                                                                     : "no content type");
}

bool adapter_common_failure(const struct http_resp *r, struct outcome *o)
{
    char what[128];

    if (r->error[0]) {
        adapter_outcome_set(o, OUTCOME_TRANSIENT, NULL, "%s", r->error);
        return true;
    }
    if (r->status == 429) {
        if (r->retry_after_ms >= 0)
            adapter_outcome_set(o, OUTCOME_TRANSIENT, NULL, "HTTP 429 rate limited, retry "
                                "after %lld s", (long long)(r->retry_after_ms / 1000));
        else
            adapter_outcome_set(o, OUTCOME_TRANSIENT, NULL, "HTTP 429 rate limited");
        return true;
    }
    if (r->status >= 500 || r->status < 100) {
        struct json_object *j = NULL;
        if (r->body_len && !r->truncated && (j = json_tokener_parse(r->body)) != NULL)
            snprintf(what, sizeof what, "a JSON body");
        else
            describe_body(r, what, sizeof what);
        json_object_put(j);
        adapter_outcome_set(o, OUTCOME_TRANSIENT, NULL, "HTTP %ld with %s", r->status, what);
        return true;
    }
    return false;
}

struct json_object *adapter_json_body(const struct http_resp *r, char *why, size_t whysz)
{
    struct json_object *j = NULL;
    char what[128];

    if (r->truncated) {
        snprintf(why, whysz, "response truncated at 1 MiB");
        return NULL;
    }
    if (r->body_len && strlen(r->body) == r->body_len) {
        struct json_tokener *tok = json_tokener_new();
        j = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
        if (j && json_tokener_get_error(tok) != json_tokener_success) {
            json_object_put(j);
            j = NULL;
        }
        /* trailing garbage after the object is not the documented JSON */
        if (j && (size_t)json_tokener_get_parse_end(tok) < r->body_len
            && strspn(r->body + json_tokener_get_parse_end(tok), " \t\r\n")
                   != r->body_len - json_tokener_get_parse_end(tok)) {
            json_object_put(j);
            j = NULL;
        }
        json_tokener_free(tok);
    }
    if (!j) {
        describe_body(r, what, sizeof what);
        snprintf(why, whysz, "HTTP %ld with %s", r->status, what);
        return NULL;
    }
    if (!json_object_is_type(j, json_type_object)) {
        snprintf(why, whysz, "HTTP %ld with JSON that is not an object", r->status);
        json_object_put(j);
        return NULL;
    }
    return j;
}

const char *adapter_json_str(struct json_object *obj, const char *key)
{
    struct json_object *v;

    if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

void adapter_json_member(struct buf *body, const char *key, const char *value)
{
    buf_putc(body, body->len ? ',' : '{');
    buf_json_string(body, key, strlen(key));
    buf_putc(body, ':');
    buf_json_string(body, value, strlen(value));
}

void adapter_url_escape(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            buf_putc(out, (char)*p);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hex[*p >> 4]);
            buf_putc(out, hex[*p & 15]);
        }
    }
}

void adapter_url_path(struct buf *out, const char *url)
{
    const char *p = strstr(url, "://");
    size_t n;

    p = p ? p + 3 : url;
    p += strcspn(p, "/?#");            /* skip the authority */
    n = strcspn(p, "?#");
    if (n == 0 || *p != '/')
        buf_putc(out, '/');
    buf_append(out, p, n);
}

/* adapter_city.c - the city platform, API v1 (docs/protocols.md).
 *
 * OAuth client credentials: the token is fetched through
 * adapter_prepare()/adapter_auth_done(), cached and renewed at 80 % of its
 * lifetime while the old one still serves.  A refused client secret breaks
 * the target for a pause (hammering the token endpoint with a wrong secret
 * helps no one and may lock the account); a 401 on any other call means
 * the token was revoked: it is dropped and the call repeated (REAUTH).
 *
 * Answers come as HTTP 200 with a business code; city_codes maps each
 * code to an outcome per operation. */
#include "adapter_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "log.h"
#include "sign.h"

/* After the token endpoint refuses the credentials. */
#define CITY_BROKEN_PAUSE_MS (5 * 60 * 1000)
/* After a token request that failed for another reason: doubles up to max. */
#define CITY_AUTH_RETRY_MIN_MS 1000
#define CITY_AUTH_RETRY_MAX_MS (60 * 1000)
#define CITY_DEFAULT_EXPIRES_S 3600
/* A longer lifetime is taken as this one: the renewal is merely earlier,
 * and the milliseconds stay far from int64 overflow (expires_in is the
 * platform's number, anything up to 2^63-1). */
#define CITY_MAX_EXPIRES_S (365LL * 24 * 3600)

struct city {
    char *token;                /* access token, NULL when none */
    int64_t renew_at_ms;        /* ask for a new one from here on */
    int64_t expires_at_ms;      /* the token is useless from here on */
    bool auth_in_flight;
    int64_t auth_not_before_ms; /* pause after a failed token request */
    int64_t auth_retry_ms;      /* current pause length */
    bool broken;                /* credentials refused */
    char reason[256];           /* why the last token request failed */
    unsigned gen;               /* counts tokens obtained: which one a request carried */
};

static struct city *C(const adapter *a) { return a->priv; }

static void set_reason(struct city *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_reason(struct city *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

static int city_init(adapter *a, struct err *e)
{
    (void)e;
    a->priv = xcalloc(1, sizeof(struct city));
    return 0;
}

static void drop_token(struct city *c)
{
    sign_wipe_free(c->token);
    c->token = NULL;
    c->renew_at_ms = c->expires_at_ms = 0;
}

static void city_fini(adapter *a)
{
    if (!a->priv)
        return;
    drop_token(C(a));
    free(a->priv);
    a->priv = NULL;
}

static size_t city_batch_max(const adapter *a, enum op op)
{
    (void)a;
    (void)op;
    return 1;
}

/* ---- the token ----------------------------------------------------------- */

static void form_pair(struct buf *b, const char *k, const char *v)
{
    if (b->len)
        buf_putc(b, '&');
    adapter_url_escape(b, k);
    buf_putc(b, '=');
    adapter_url_escape(b, v);
}

static enum adapter_state city_prepare(adapter *a, int64_t now_ms, struct http_req *req,
                                       char *msg, size_t msgsz)
{
    struct city *c = C(a);
    struct buf url = BUF_INIT;
    bool usable = c->token && now_ms < c->expires_at_ms;

    if (c->broken) {
        if (now_ms < c->auth_not_before_ms) {
            if (msg)
                snprintf(msg, msgsz, "%s", c->reason);
            return ADAPTER_BROKEN;
        }
        c->broken = false;               /* the pause is over: try the secret again */
    }
    if (usable && now_ms < c->renew_at_ms)
        return ADAPTER_READY;
    if (c->auth_in_flight || now_ms < c->auth_not_before_ms) {
        if (usable)
            return ADAPTER_READY;        /* renewal pending; the old token still serves */
        if (msg && !c->auth_in_flight)
            snprintf(msg, msgsz, "%s", c->reason);
        return ADAPTER_WAIT;
    }
    buf_printf(&url, "%s/oauth/token", a->base_url);
    http_req_init(req, "POST", url.data);
    buf_free(&url);
    req->content_type = "application/x-www-form-urlencoded";
    form_pair(&req->body, "grant_type", "client_credentials");
    if (a->token_auth == TOKEN_AUTH_BASIC) {
        /* client_secret_basic: the form-encoded id and secret, joined by a
         * colon, in base64 (RFC 6749 §2.3.1) */
        struct buf pair = BUF_INIT, hdr = BUF_INIT;
        adapter_url_escape(&pair, a->client_id);
        buf_putc(&pair, ':');
        adapter_url_escape(&pair, a->secret);
        buf_puts(&hdr, "Basic ");
        sign_base64(pair.data, pair.len, &hdr);
        http_req_header(req, "Authorization", buf_str(&hdr));
        sign_wipe(pair.data, pair.len);
        sign_wipe(hdr.data, hdr.len);
        buf_free(&pair);
        buf_free(&hdr);
    } else {
        form_pair(&req->body, "client_id", a->client_id);
        form_pair(&req->body, "client_secret", a->secret);
    }
    http_req_finish(req);
    c->auth_in_flight = true;
    return ADAPTER_AUTH;
}

static void auth_failed(adapter *a, int64_t now_ms)
{
    struct city *c = C(a);

    c->auth_retry_ms = c->auth_retry_ms ? c->auth_retry_ms * 2 : CITY_AUTH_RETRY_MIN_MS;
    if (c->auth_retry_ms > CITY_AUTH_RETRY_MAX_MS)
        c->auth_retry_ms = CITY_AUTH_RETRY_MAX_MS;
    c->auth_not_before_ms = now_ms + c->auth_retry_ms;
    log_warning("token request failed", KV("target", a->name), KV("reason", c->reason),
                KVI("retry_ms", c->auth_retry_ms));
}

/* The token is sent back in the Authorization header, which libcurl
 * writes as given: a line break in it would add headers of the answer's
 * choosing to every request.  RFC 6750 tokens are visible ASCII. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7F)
            return false;
    return true;
}

static void city_auth_done(adapter *a, const struct http_resp *r, int64_t now_ms)
{
    struct city *c = C(a);
    struct json_object *j = NULL, *v;
    struct outcome o;
    const char *tok, *type, *error;
    int64_t expires_s = CITY_DEFAULT_EXPIRES_S;
    char why[256];

    c->auth_in_flight = false;
    adapter_outcome_init(&o, r);
    if (adapter_common_failure(r, &o)) {
        set_reason(c, "token request: %s", o.message);
        goto fail;
    }
    j = adapter_json_body(r, why, sizeof why);
    error = adapter_json_str(j, "error");
    if (r->status == 401 || (r->status == 400 && error
                             && (strcmp(error, "invalid_client") == 0
                                 || strcmp(error, "unauthorized_client") == 0))) {
        set_reason(c, "%s/oauth/token refused the credentials "
                 "(HTTP %ld %s): check client_id \"%s\" and the secret from %s; next try in "
                 "%d min", a->base_url, r->status, error ? error : "", a->client_id,
                 a->secret_from, CITY_BROKEN_PAUSE_MS / 60000);
        c->broken = true;
        c->auth_not_before_ms = now_ms + CITY_BROKEN_PAUSE_MS;
        c->auth_retry_ms = 0;
        drop_token(c);
        goto out;                        /* the engine logs the pause, once */
    }
    if (!j) {
        set_reason(c, "token request: %s", why);
        goto fail;
    }
    if (r->status != 200) {
        set_reason(c, "token request: HTTP %ld%s%s", r->status,
                 error ? " " : "", error ? error : "");
        goto fail;
    }
    tok = adapter_json_str(j, "access_token");
    type = adapter_json_str(j, "token_type");
    if (!tok || !*tok || (type && strcasecmp(type, "Bearer") != 0)) {
        set_reason(c, "token request: answer without a Bearer "
                 "access_token");
        goto fail;
    }
    if (!header_safe(tok)) {
        set_reason(c, "token request: access_token with characters an HTTP header cannot "
                 "carry");
        goto fail;
    }
    if (json_object_object_get_ex(j, "expires_in", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0) {
            set_reason(c, "token request: expires_in is not a "
                     "positive integer");
            goto fail;
        }
        expires_s = json_object_get_int64(v);
        if (expires_s > CITY_MAX_EXPIRES_S)
            expires_s = CITY_MAX_EXPIRES_S;
    }
    drop_token(c);
    c->token = xstrdup(tok);
    c->gen++;
    c->expires_at_ms = now_ms + expires_s * 1000;
    c->renew_at_ms = now_ms + expires_s * 800;       /* 80 % of the lifetime */
    c->auth_retry_ms = 0;
    c->auth_not_before_ms = 0;
    c->reason[0] = '\0';
    log_debug("token obtained", KV("target", a->name), KVI("expires_in", expires_s));
    goto out;
fail:
    auth_failed(a, now_ms);
out:
    json_object_put(j);
}

/* ---- requests ------------------------------------------------------------ */

static int city_build(adapter *a, struct delivery *const *d, size_t n, size_t *used,
                      int64_t now_ms, struct http_req *req, struct err *e)
{
    struct city *c = C(a);
    struct delivery *x = d[0];   /* auth_gen is noted on it */
    struct buf url = BUF_INIT, hdr = BUF_INIT, body = BUF_INIT;
    int rc = -EINVAL;

    (void)n;
    (void)now_ms;
    if (!c->token) {
        rc = err_set(e, -EAGAIN, "target %s: no access token yet", a->name);
        goto out;
    }
    if (x->op != OP_PUBLISH && !(x->receipt && *x->receipt)) {
        rc = err_set(e, -EINVAL, "decision %s: %s at %s without a receipt number",
                     x->decision_id, op_name(x->op), a->name);
        goto out;
    }
    /* The receipt is the platform's text and becomes a path segment:
     * percent-encoded below, and never a "." or ".." that would climb. */
    if (x->op != OP_PUBLISH && (!strcmp(x->receipt, ".") || !strcmp(x->receipt, ".."))) {
        rc = err_set(e, -EINVAL, "decision %s: receipt number \"%s\" at %s cannot name a "
                     "record in a URL", x->decision_id, x->receipt, a->name);
        goto out;
    }
    buf_printf(&url, "%s/api/v1/decisions", a->base_url);
    if (x->op != OP_PUBLISH) {
        buf_putc(&url, '/');
        adapter_url_escape(&url, x->receipt);
    }
    if (x->op == OP_WITHDRAW) {
        buf_puts(&url, "/withdraw");
        adapter_json_member(&body, "reason", x->withdraw_reason ? x->withdraw_reason : "");
        adapter_json_member(&body, "type", x->withdraw_type ? x->withdraw_type : "REVOKED");
        buf_putc(&body, '}');
    } else if ((rc = mapping_write(a->map[MAP_CITY], x, NULL, 0, &body, e)) < 0) {
        goto out;
    }
    http_req_init(req, x->op == OP_UPDATE ? "PUT" : "POST", url.data);
    buf_free(&req->body);
    req->body = body;
    body = (struct buf)BUF_INIT;
    buf_printf(&hdr, "Bearer %s", c->token);
    http_req_header(req, "Authorization", hdr.data);
    x->auth_gen = c->gen;
    if (x->op != OP_WITHDRAW) {
        buf_reset(&hdr);
        buf_printf(&hdr, "%s:%s", x->decision_id, x->revision ? x->revision : "");
        http_req_header(req, "Idempotency-Key", hdr.data);
    }
    http_req_finish(req);
    if (used)
        *used = 1;
    rc = 0;
out:
    buf_free(&body);
    buf_free(&url);
    sign_wipe(hdr.data, hdr.len);
    buf_free(&hdr);
    return rc;
}

/* ---- answers ------------------------------------------------------------- */

enum receipt_need { R_NONE, R_REQUIRED };

/* Business codes: the outcome for publish, update, withdraw. */
static const struct {
    const char *code;
    enum outcome_kind on[3];
    enum receipt_need receipt;
} city_codes[] = {
    { "0",    { OUTCOME_OK, OUTCOME_OK, OUTCOME_OK },                      R_REQUIRED },
    { "1002", { OUTCOME_ADOPT, OUTCOME_ADOPT, OUTCOME_ADOPT },             R_REQUIRED },
    { "1001", { OUTCOME_PERMANENT, OUTCOME_PERMANENT, OUTCOME_PERMANENT }, R_NONE },
    { "1003", { OUTCOME_PERMANENT, OUTCOME_PERMANENT, OUTCOME_PERMANENT }, R_NONE },
    { "1004", { OUTCOME_PERMANENT, OUTCOME_NOT_FOUND, OUTCOME_GONE },      R_NONE },
    { "5001", { OUTCOME_TRANSIENT, OUTCOME_TRANSIENT, OUTCOME_TRANSIENT }, R_NONE },
};

/* Codes outside the table, by family: 1xxx are validation refusals of the
 * request itself, anything else is taken as a platform-side condition. */
static enum outcome_kind unknown_code(const char *code)
{
    return (code[0] == '1' && strlen(code) == 4) ? OUTCOME_PERMANENT : OUTCOME_TRANSIENT;
}

static void classify(const struct delivery *d, struct json_object *j, struct outcome *o)
{
    struct json_object *jc, *data = NULL;
    const char *code, *msg = adapter_json_str(j, "msg"), *receipt = NULL;
    char codebuf[32];
    size_t i;

    if (!json_object_object_get_ex(j, "code", &jc)
        || !(json_object_is_type(jc, json_type_string) || json_object_is_type(jc, json_type_int))) {
        adapter_outcome_set(o, OUTCOME_TRANSIENT, NULL, "HTTP %d with JSON without a "
                            "string \"code\"", o->http_status);
        return;
    }
    snprintf(codebuf, sizeof codebuf, "%s", json_object_get_string(jc));
    code = codebuf;
    if (json_object_object_get_ex(j, "data", &data) && json_object_is_type(data, json_type_object))
        receipt = adapter_json_str(data, "receiptNo");
    for (i = 0; i < sizeof city_codes / sizeof city_codes[0]; i++)
        if (strcmp(code, city_codes[i].code) == 0)
            break;
    if (i == sizeof city_codes / sizeof city_codes[0]) {
        adapter_outcome_set(o, unknown_code(code), code, "%s", msg ? msg : "unknown code");
        return;
    }
    /* a withdraw answer names no new receipt: the one withdrawn stays */
    if (city_codes[i].receipt == R_REQUIRED && d->op == OP_WITHDRAW && !receipt)
        receipt = d->receipt;
    if (city_codes[i].receipt == R_REQUIRED && !(receipt && *receipt)) {
        adapter_outcome_set(o, OUTCOME_TRANSIENT, code, "code %s without data.receiptNo", code);
        return;
    }
    adapter_outcome_set(o, city_codes[i].on[d->op], code, "%s", msg ? msg : "");
    if (receipt)
        adapter_copy_text(o->receipt, sizeof o->receipt, receipt);
}

static void city_parse(adapter *a, struct delivery *const *d, size_t n,
                       const struct http_resp *r, struct outcome *out)
{
    struct city *c = C(a);
    struct json_object *j = NULL;
    char why[256];

    (void)n;
    if (adapter_common_failure(r, &out[0]))
        return;
    if (r->status == 401) {
        /* Only the token this call carried is known to be revoked: a 401
         * for an older one must not throw away its replacement. */
        if (d[0]->auth_gen == 0 || d[0]->auth_gen == c->gen)   /* 0: not built here */
            drop_token(c);
        adapter_outcome_set(&out[0], OUTCOME_REAUTH, NULL, "HTTP 401: access token refused, "
                            "renewing it");
        return;
    }
    if (!(j = adapter_json_body(r, why, sizeof why))) {
        adapter_outcome_set(&out[0], OUTCOME_TRANSIENT, NULL, "%s", why);
        return;
    }
    if (r->status != 200 && !json_object_object_get_ex(j, "code", NULL))
        adapter_outcome_set(&out[0], OUTCOME_TRANSIENT, NULL, "HTTP %ld without a business "
                            "code", r->status);
    else
        classify(d[0], j, &out[0]);
    json_object_put(j);
}

const struct adapter_ops adapter_city_ops = {
    .protocol = "city",
    .init = city_init,
    .fini = city_fini,
    .batch_max = city_batch_max,
    .prepare = city_prepare,
    .auth_done = city_auth_done,
    .build = city_build,
    .parse = city_parse,
};

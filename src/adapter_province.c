/* adapter_province.c - the province gateway, v2 (docs/protocols.md).
 *
 * Every request is signed afresh when it is built (timestamp, new nonce,
 * HMAC over method, path, timestamp, nonce and the body's hash), so a
 * retried attempt never replays a nonce.  Publications and updates travel
 * in batches of up to batch_size records and 2 MiB; the gateway answers
 * per record, by index. */
#include "adapter_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "sign.h"

#define PROVINCE_BODY_MAX (2 * 1024 * 1024)
#define PROVINCE_BATCH_PATH "/gateway/v2/publicity/batch"
#define PROVINCE_REVOKE_PATH "/gateway/v2/publicity/revoke"

static int province_init(adapter *a, struct err *e)
{
    if (a->batch_size < 1 || a->batch_size > 100)
        return err_set(e, -EINVAL, "batch_size %d is outside 1..100", a->batch_size);
    return 0;             /* no state of its own beyond struct adapter */
}

static void province_fini(adapter *a)
{
    (void)a;
}

static size_t province_batch_max(const adapter *a, enum op op)
{
    return op == OP_WITHDRAW ? 1 : (size_t)a->batch_size;
}

static enum adapter_state province_prepare(adapter *a, int64_t now_ms,
                                           struct http_req *auth_req, char *msg, size_t msgsz)
{
    (void)a; (void)now_ms; (void)auth_req; (void)msg; (void)msgsz;
    return ADAPTER_READY;    /* no token: each request carries its own signature */
}

static void province_auth_done(adapter *a, const struct http_resp *resp, int64_t now_ms)
{
    (void)a; (void)resp; (void)now_ms;
}

/* The record of one delivery: its mapping plus the protocol's keys, which
 * an override cannot change. */
static int record_text(adapter *a, const struct delivery *d, struct buf *out, struct err *e)
{
    const struct map_fixed own[] = {
        { "SJLY_ID", d->decision_id }, { "BBH", d->revision ? d->revision : "" },
    };

    return mapping_write(a->map[mapping_table_for(PROTO_PROVINCE, d->kind)], d, own,
                         sizeof own / sizeof own[0], out, e);
}

static int build_batch(adapter *a, struct delivery *const *d, size_t n, size_t *used,
                       struct buf *body, struct err *e)
{
    struct buf rec = BUF_INIT;
    char batch_no[37];
    size_t i;
    int rc = 0;

    if (sign_uuid(batch_no) < 0)
        return err_set(e, -EIO, "target %s: no random batch number (CSPRNG failed)", a->name);
    buf_printf(body, "{\"batchNo\":\"%s\",\"records\":[", batch_no);
    for (i = 0; i < n; i++) {
        buf_reset(&rec);
        if ((rc = record_text(a, d[i], &rec, e)) < 0)
            goto out;
        /* + "," and the closing "]}" */
        if (body->len + rec.len + (i ? 1 : 0) + 2 > PROVINCE_BODY_MAX) {
            if (i == 0)
                rc = err_set(e, -E2BIG, "decision %s: its record is %zu bytes, over the "
                             "province's 2 MiB request limit", d[i]->decision_id, rec.len);
            else if (!used)
                rc = err_set(e, -E2BIG, "target %s: %zu records do not fit in 2 MiB (%zu do)",
                             a->name, n, i);
            break;
        }
        if (i)
            buf_putc(body, ',');
        buf_append(body, rec.data, rec.len);
    }
    buf_puts(body, "]}");
    if (rc == 0 && used)
        *used = i;
out:
    buf_free(&rec);
    return rc;
}

/* As json-c prints the object (plain, '/' unescaped). */
static void build_revoke(const struct delivery *d, struct buf *body)
{
    adapter_json_member(body, "recordId", d->receipt);
    adapter_json_member(body, "reason", d->withdraw_reason ? d->withdraw_reason : "");
    adapter_json_member(body, "revokeType", d->withdraw_type ? d->withdraw_type : "REVOKED");
    buf_putc(body, '}');
}

static int sign_request(adapter *a, struct http_req *req, int64_t now_ms, struct err *e)
{
    struct buf path = BUF_INIT;
    char ts[24], nonce[33], sig[65];

    if (sign_random_hex(nonce, 32) < 0)
        return err_set(e, -EIO, "target %s: no nonce (CSPRNG failed)", a->name);
    snprintf(ts, sizeof ts, "%" PRId64, now_ms);
    adapter_url_path(&path, req->url);
    sign_province(a->secret, req->method, path.data, ts, nonce,
                  req->body.data ? req->body.data : "", req->body.len, sig);
    buf_free(&path);
    http_req_header(req, "X-App-Id", a->client_id);
    http_req_header(req, "X-Timestamp", ts);
    http_req_header(req, "X-Nonce", nonce);
    http_req_header(req, "X-Signature", sig);
    sign_wipe(sig, sizeof sig);      /* the request keeps its own copy until sent */
    return 0;
}

static int province_build(adapter *a, struct delivery *const *d, size_t n, size_t *used,
                          int64_t now_ms, struct http_req *req, struct err *e)
{
    struct buf url = BUF_INIT, body = BUF_INIT;
    size_t fit = 1;
    int rc;

    if (d[0]->op == OP_WITHDRAW) {
        if (!(d[0]->receipt && *d[0]->receipt)) {
            rc = err_set(e, -EINVAL, "decision %s: withdraw at %s without a record id",
                         d[0]->decision_id, a->name);
            goto out;
        }
        build_revoke(d[0], &body);
        buf_printf(&url, "%s%s", a->base_url, PROVINCE_REVOKE_PATH);
    } else {
        if ((rc = build_batch(a, d, n, used ? &fit : NULL, &body, e)) < 0)
            goto out;
        buf_printf(&url, "%s%s", a->base_url, PROVINCE_BATCH_PATH);
    }
    http_req_init(req, "POST", url.data);
    req->body = body;
    body = (struct buf)BUF_INIT;
    if ((rc = sign_request(a, req, now_ms, e)) < 0) {
        http_req_clear(req);
        goto out;
    }
    http_req_finish(req);
    if (used)
        *used = fit;
    rc = 0;
out:
    buf_free(&url);
    buf_free(&body);
    return rc;
}

/* ---- answers ------------------------------------------------------------- */

/* Gateway refusals of the request itself (HTTP 401). */
static const struct {
    const char *code;
    const char *why;
} auth_codes[] = {
    { "A0401", "signature rejected (A0401): check app_id and the app secret" },
    { "A0402", "timestamp rejected (A0402): the clock of this host may be off by more "
               "than 300 s" },
    { "A0403", "nonce rejected as replayed (A0403)" },
};

static const struct {
    const char *status;
    enum outcome_kind kind;
    bool needs_id;
} record_statuses[] = {
    { "ACCEPTED", OUTCOME_OK,        true },
    { "REJECTED", OUTCOME_PERMANENT, false },
    { "RETRY",    OUTCOME_TRANSIENT, false },
};

static void set_all(struct outcome *out, size_t n, enum outcome_kind k, const char *code,
                    const char *msg)
{
    for (size_t i = 0; i < n; i++)
        adapter_outcome_set(&out[i], k, code, "%s", msg);
}

static void parse_auth_failure(struct json_object *j, struct outcome *out, size_t n)
{
    const char *code = adapter_json_str(j, "errorCode");
    char msg[256];

    snprintf(msg, sizeof msg, "HTTP 401 %s", code ? code : "without an errorCode");
    for (size_t i = 0; code && i < sizeof auth_codes / sizeof auth_codes[0]; i++)
        if (strcmp(code, auth_codes[i].code) == 0)
            snprintf(msg, sizeof msg, "%s", auth_codes[i].why);
    set_all(out, n, OUTCOME_TRANSIENT, code, msg);
}

static void parse_record(struct json_object *res, size_t n, struct outcome *out, bool *seen)
{
    struct json_object *ji;
    const char *status = adapter_json_str(res, "status");
    const char *code = adapter_json_str(res, "errorCode");
    const char *msg = adapter_json_str(res, "errorMsg");
    const char *id = adapter_json_str(res, "recordId");
    int64_t idx;
    size_t k;
    struct outcome *o;

    if (!json_object_is_type(res, json_type_object)
        || !json_object_object_get_ex(res, "index", &ji) || !json_object_is_type(ji, json_type_int))
        return;
    idx = json_object_get_int64(ji);
    if (idx < 0 || (uint64_t)idx >= n || seen[idx])
        return;                            /* out of range or repeated: first one counts */
    seen[idx] = true;
    o = &out[idx];
    for (k = 0; status && k < sizeof record_statuses / sizeof record_statuses[0]; k++)
        if (strcmp(status, record_statuses[k].status) == 0)
            break;
    if (!status || k == sizeof record_statuses / sizeof record_statuses[0]) {
        adapter_outcome_set(o, OUTCOME_TRANSIENT, code, "record status %s is unknown",
                            status ? status : "missing");
        return;
    }
    if (record_statuses[k].needs_id && !(id && *id)) {
        adapter_outcome_set(o, OUTCOME_TRANSIENT, code, "ACCEPTED without a recordId");
        return;
    }
    adapter_outcome_set(o, record_statuses[k].kind, code, "%s",
                        msg ? msg : code ? code : status);
    if (id)
        adapter_copy_text(o->receipt, sizeof o->receipt, id);
}

static void parse_batch(struct json_object *j, size_t n, struct outcome *out)
{
    struct json_object *data, *results;
    bool *seen;

    if (!json_object_object_get_ex(j, "data", &data)
        || !json_object_object_get_ex(data, "results", &results)
        || !json_object_is_type(results, json_type_array)) {
        set_all(out, n, OUTCOME_TRANSIENT, NULL, "success without data.results");
        return;
    }
    seen = xcalloc(n, sizeof *seen);
    for (size_t i = 0; i < json_object_array_length(results); i++)
        parse_record(json_object_array_get_idx(results, i), n, out, seen);
    for (size_t i = 0; i < n; i++)
        if (!seen[i])
            adapter_outcome_set(&out[i], OUTCOME_TRANSIENT, NULL, "no result for this record");
    free(seen);
}

/* success:false on revoke: F0404 means already gone, other F codes are
 * refusals of this request, the rest platform-side conditions. */
static enum outcome_kind revoke_failure(const char *code)
{
    if (strcmp(code, "F0404") == 0)
        return OUTCOME_GONE;
    return code[0] == 'F' ? OUTCOME_PERMANENT : OUTCOME_TRANSIENT;
}

static void province_parse(adapter *a, struct delivery *const *d, size_t n,
                           const struct http_resp *r, struct outcome *out)
{
    struct json_object *j = NULL, *jsucc;
    const char *code, *msg;
    char why[256];

    (void)a;
    if (adapter_common_failure(r, &out[0])) {
        for (size_t i = 1; i < n; i++)
            out[i] = out[0];
        return;
    }
    if (r->status == 413) {
        set_all(out, n, OUTCOME_SPLIT, NULL, "HTTP 413: batch too large, splitting it");
        return;
    }
    j = adapter_json_body(r, why, sizeof why);
    if (r->status == 401) {
        parse_auth_failure(j, out, n);
        goto out;
    }
    if (!j) {
        set_all(out, n, OUTCOME_TRANSIENT, NULL, why);
        goto out;
    }
    if (!json_object_object_get_ex(j, "success", &jsucc)
        || !json_object_is_type(jsucc, json_type_boolean)) {
        snprintf(why, sizeof why, "HTTP %ld with JSON without a boolean \"success\"", r->status);
        set_all(out, n, OUTCOME_TRANSIENT, NULL, why);
        goto out;
    }
    code = adapter_json_str(j, "errorCode");
    msg = adapter_json_str(j, "errorMsg");
    if (!json_object_get_boolean(jsucc)) {
        enum outcome_kind k = d[0]->op == OP_WITHDRAW && code ? revoke_failure(code)
                                                               : OUTCOME_TRANSIENT;
        snprintf(why, sizeof why, "%s%s%s", code ? code : "success:false without an errorCode",
                 msg ? ": " : "", msg ? msg : "");
        set_all(out, n, k, code, why);
        goto out;
    }
    if (r->status != 200) {
        snprintf(why, sizeof why, "HTTP %ld with success:true", r->status);
        set_all(out, n, OUTCOME_TRANSIENT, NULL, why);
        goto out;
    }
    if (d[0]->op == OP_WITHDRAW) {
        adapter_outcome_set(&out[0], OUTCOME_OK, NULL, "revoked");
        adapter_copy_text(out[0].receipt, sizeof out[0].receipt, d[0]->receipt);
    } else {
        parse_batch(j, n, out);
    }
out:
    json_object_put(j);
}

const struct adapter_ops adapter_province_ops = {
    .protocol = "province",
    .init = province_init,
    .fini = province_fini,
    .batch_max = province_batch_max,
    .prepare = province_prepare,
    .auth_done = province_auth_done,
    .build = province_build,
    .parse = province_parse,
};

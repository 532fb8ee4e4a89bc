/* Unit tests for src/adapter_province.c: signed requests (the signature is
 * recomputed here with OpenSSL directly, not with src/sign.c), batches
 * within the 2 MiB cap, and the per-record and whole-batch outcomes. */
#include "adapter.h"
#include "tap.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define REV "a3f1c0de00000000000000000000000000000000000000000000000000000001"
#define SECRET "province-app-secret"
#define NOW 1790000000123LL

static struct target_cfg prov_target(int batch_size)
{
    struct target_cfg t;
    memset(&t, 0, sizeof t);
    t.name = "province";
    t.protocol = PROTO_PROVINCE;
    t.enabled = true;
    t.base_url = "https://zfgs.example.gov.cn/pfx";
    t.client_id = "130100-scjg";
    t.secret = SECRET;
    t.secret_from = "file /run/credentials/epsync.service/province-secret";
    t.batch_size = batch_size;
    t.timeout_ms = 30000;
    return t;
}

static struct delivery *mk(int i, enum kind kind, enum op op, size_t facts_len)
{
    struct delivery *d = calloc(1, sizeof *d);
    char id[64];
    snprintf(id, sizeof id, "SJZSJ-2026-%06d", i);
    d->decision_id = strdup(id);
    d->target = strdup("province");
    d->kind = kind;
    d->op = op;
    d->revision = strdup(REV);
    if (op == OP_WITHDRAW) {
        d->receipt = strdup("HB0001");
        d->withdraw_type = strdup("EXPIRED");
        d->withdraw_reason = strdup("公示期满");
    }
    d->fields = json_object_new_object();
    json_object_object_add(d->fields, "decided_on", json_object_new_string("2026-09-30"));
    json_object_object_add(d->fields, "party_name", json_object_new_string("某公司"));
    json_object_object_add(d->fields, "party_type", json_object_new_string("legal_person"));
    json_object_object_add(d->fields, "fine_amount", json_object_new_string("5000.00"));
    if (facts_len) {
        char *f = malloc(facts_len + 1);
        memset(f, 'a', facts_len);
        f[facts_len] = '\0';
        json_object_object_add(d->fields, "violation_facts", json_object_new_string(f));
        free(f);
    }
    d->publicity_end = strdup("2029-10-08");
    d->attempt = 1;
    return d;
}

static void free_all(struct delivery **d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        delivery_free(d[i]);
}

static const char *header(const struct http_req *req, const char *name)
{
    size_t l = strlen(name);
    for (struct curl_slist *s = req->headers; s; s = s->next)
        if (strncmp(s->data, name, l) == 0 && s->data[l] == ':')
            return s->data + l + 2;
    return NULL;
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* Does req's X-Signature verify for path (computed from scratch)? */
static bool signature_verifies(const struct http_req *req, const char *path)
{
    unsigned char md[SHA256_DIGEST_LENGTH], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    char body_hex[65], mac_hex[65];
    struct buf s = BUF_INIT;
    const char *ts = header(req, "X-Timestamp"), *nonce = header(req, "X-Nonce");
    const char *sig = header(req, "X-Signature");
    bool ok;

    if (!ts || !nonce || !sig)
        return false;
    SHA256((const unsigned char *)buf_str(&req->body), req->body.len, md);
    hex(md, sizeof md, body_hex);
    buf_printf(&s, "%s\n%s\n%s\n%s\n%s", req->method, path, ts, nonce, body_hex);
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)s.data, s.len,
         mac, &maclen);
    hex(mac, maclen, mac_hex);
    ok = maclen == 32 && strcmp(mac_hex, sig) == 0;
    buf_free(&s);
    return ok;
}

static bool is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return true;
}

static struct http_resp resp(long status, const char *body)
{
    struct http_resp r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.body = (char *)body;
    r.body_len = body ? strlen(body) : 0;
    r.retry_after_ms = -1;
    snprintf(r.content_type, sizeof r.content_type, "application/json");
    return r;
}

static adapter *new_adapter(int batch_size)
{
    struct target_cfg t = prov_target(batch_size);
    struct err e;
    adapter *a = NULL;
    if (adapter_new(&a, &t, NULL, &e) < 0)
        printf("# adapter_new: %s\n", e.msg);
    return a;
}

TEST(batch_is_signed_over_the_path_and_carries_records)
{
    adapter *a = new_adapter(50);
    struct delivery *d[3] = { mk(1, KIND_PENALTY, OP_PUBLISH, 0), mk(2, KIND_LICENSE, OP_PUBLISH, 0),
                              mk(3, KIND_PENALTY, OP_UPDATE, 0) };
    struct http_req req;
    struct err e;
    size_t used = 0;
    char ts[32];

    CHECK_INT(adapter_prepare(a, NOW, &req, NULL, 0), ADAPTER_READY);
    CHECK_INT(adapter_batch_max(a, OP_PUBLISH), 50);
    CHECK_INT(adapter_batch_max(a, OP_WITHDRAW), 1);
    d[2]->op = OP_PUBLISH;       /* publish and update share the batch endpoint */
    CHECK_INT(adapter_build(a, d, 3, &used, NOW, &req, &e), 0);
    CHECK_INT(used, 3);
    CHECK_STR(req.method, "POST");
    CHECK_STR(req.url, "https://zfgs.example.gov.cn/pfx/gateway/v2/publicity/batch");
    CHECK_STR(header(&req, "X-App-Id"), "130100-scjg");
    snprintf(ts, sizeof ts, "%lld", NOW);
    CHECK_STR(header(&req, "X-Timestamp"), ts);
    CHECK(is_hex(header(&req, "X-Nonce"), 32));
    CHECK(is_hex(header(&req, "X-Signature"), 64));
    CHECK(signature_verifies(&req, "/pfx/gateway/v2/publicity/batch"));
    CHECK(!signature_verifies(&req, "/gateway/v2/publicity/batch"));

    struct json_object *b = json_tokener_parse(buf_str(&req.body)), *recs, *r;
    CHECK(b != NULL);
    CHECK_INT(strlen(json_object_get_string(json_object_object_get(b, "batchNo"))), 36);
    CHECK(json_object_object_get_ex(b, "records", &recs));
    CHECK_INT(json_object_array_length(recs), 3);
    r = json_object_array_get_idx(recs, 0);
    CHECK_STR(json_object_get_string(json_object_object_get(r, "SJLY_ID")), "SJZSJ-2026-000001");
    CHECK_STR(json_object_get_string(json_object_object_get(r, "BBH")), REV);
    CHECK_STR(json_object_get_string(json_object_object_get(r, "CF_XDR_MC")), "某公司");
    CHECK_STR(json_object_get_string(json_object_object_get(r, "CF_JDRQ")), "2026-09-30");
    CHECK_STR(json_object_get_string(json_object_object_get(r, "CF_GSJZQ")), "2029-10-08");
    CHECK(strstr(buf_str(&req.body), "\"CF_NR_FK\":0.500000") != NULL);
    r = json_object_array_get_idx(recs, 1);                   /* the licence */
    CHECK_STR(json_object_get_string(json_object_object_get(r, "XK_XDR_MC")), "某公司");
    CHECK_STR(json_object_get_string(json_object_object_get(r, "XK_JDRQ")), "2026-09-30");
    CHECK(!json_object_object_get_ex(r, "CF_XDR_MC", NULL));
    json_object_put(b);
    http_req_clear(&req);
    free_all(d, 3);
    adapter_free(a);
}

TEST(every_build_has_a_fresh_nonce_and_batch_number)
{
    adapter *a = new_adapter(50);
    struct delivery *d = mk(1, KIND_PENALTY, OP_PUBLISH, 0);
    struct http_req r1, r2;
    struct err e;

    CHECK_INT(adapter_build(a, &d, 1, NULL, NOW, &r1, &e), 0);
    CHECK_INT(adapter_build(a, &d, 1, NULL, NOW, &r2, &e), 0);
    CHECK(strcmp(header(&r1, "X-Nonce"), header(&r2, "X-Nonce")) != 0);
    CHECK(strcmp(header(&r1, "X-Signature"), header(&r2, "X-Signature")) != 0);
    CHECK(strcmp(buf_str(&r1.body), buf_str(&r2.body)) != 0);     /* batchNo differs */
    CHECK(strcmp(r1.request_id, r2.request_id) != 0);
    CHECK(signature_verifies(&r2, "/pfx/gateway/v2/publicity/batch"));
    http_req_clear(&r1);
    http_req_clear(&r2);
    delivery_free(d);
    adapter_free(a);
}

TEST(batch_stops_at_two_mebibytes)
{
    adapter *a = new_adapter(100);
    struct delivery *d[5];
    struct http_req req;
    struct err e;
    size_t used = 0;

    for (int i = 0; i < 5; i++)
        d[i] = mk(i, KIND_PENALTY, OP_PUBLISH, 600 * 1024);
    CHECK_INT(adapter_build(a, d, 5, &used, NOW, &req, &e), 0);
    CHECK_INT(used, 3);
    CHECK(req.body.len <= 2 * 1024 * 1024);
    struct json_object *b = json_tokener_parse(buf_str(&req.body));
    CHECK(b != NULL);
    CHECK_INT(json_object_array_length(json_object_object_get(b, "records")), 3);
    json_object_put(b);
    CHECK(signature_verifies(&req, "/pfx/gateway/v2/publicity/batch"));
    http_req_clear(&req);

    /* without `used` everything must fit */
    CHECK(adapter_build(a, d, 5, NULL, NOW, &req, &e) < 0);
    CHECK(strstr(e.msg, "2 MiB") != NULL);
    free_all(d, 5);

    /* one record too large on its own cannot be sent at all */
    struct delivery *big = mk(9, KIND_PENALTY, OP_PUBLISH, 2 * 1024 * 1024);
    CHECK(adapter_build(a, &big, 1, &used, NOW, &req, &e) < 0);
    CHECK(strstr(e.msg, "SJZSJ-2026-000009") != NULL);
    delivery_free(big);
    adapter_free(a);
}

TEST(batch_size_limits_the_records_taken)
{
    adapter *a = new_adapter(2);
    struct delivery *d[3] = { mk(1, KIND_PENALTY, OP_PUBLISH, 0), mk(2, KIND_PENALTY, OP_PUBLISH, 0),
                              mk(3, KIND_PENALTY, OP_PUBLISH, 0) };
    struct http_req req;
    struct err e;
    size_t used = 0;

    CHECK_INT(adapter_build(a, d, 3, &used, NOW, &req, &e), 0);
    CHECK_INT(used, 2);
    http_req_clear(&req);
    CHECK(adapter_build(a, d, 3, NULL, NOW, &req, &e) < 0);
    free_all(d, 3);
    adapter_free(a);
}

TEST(per_record_results_by_index)
{
    adapter *a = new_adapter(50);
    struct delivery *d[5];
    struct outcome o[5];
    for (int i = 0; i < 5; i++)
        d[i] = mk(i, KIND_PENALTY, OP_PUBLISH, 0);
    struct http_resp r = resp(200,
        "{\"success\":true,\"data\":{\"results\":["
        "{\"index\":2,\"status\":\"RETRY\",\"errorCode\":\"S0500\",\"errorMsg\":\"入库超时\"},"
        "{\"index\":0,\"status\":\"ACCEPTED\",\"recordId\":\"HB0000001\"},"
        "{\"index\":1,\"status\":\"REJECTED\",\"errorCode\":\"F0102\",\"errorMsg\":\"统一社会信用代码校验失败\"},"
        "{\"index\":1,\"status\":\"ACCEPTED\",\"recordId\":\"HB-dup\"},"
        "{\"index\":4,\"status\":\"ACCEPTED\"},"
        "{\"index\":9,\"status\":\"ACCEPTED\",\"recordId\":\"HB-out-of-range\"},"
        "{\"index\":\"3\",\"status\":\"ACCEPTED\",\"recordId\":\"HB-bad-index\"}]}}");

    adapter_parse(a, d, 5, &r, o);
    CHECK_INT(o[0].kind, OUTCOME_OK);
    CHECK_STR(o[0].receipt, "HB0000001");
    CHECK_INT(o[1].kind, OUTCOME_PERMANENT);
    CHECK_STR(o[1].code, "F0102");
    CHECK_STR(o[1].message, "统一社会信用代码校验失败");
    CHECK_INT(o[2].kind, OUTCOME_TRANSIENT);
    CHECK_STR(o[2].code, "S0500");
    CHECK_STR(o[2].message, "入库超时");
    CHECK_INT(o[3].kind, OUTCOME_TRANSIENT);
    CHECK_STR(o[3].message, "no result for this record");
    CHECK_INT(o[4].kind, OUTCOME_TRANSIENT);              /* ACCEPTED without recordId */
    CHECK(strstr(o[4].message, "recordId") != NULL);
    for (int i = 0; i < 5; i++)
        CHECK_INT(o[i].http_status, 200);
    free_all(d, 5);
    adapter_free(a);
}

/* Every record of the batch gets the same outcome kind; returns it, or -1. */
static int all_same(adapter *a, struct http_resp r, struct outcome *o)
{
    struct delivery *d[3] = { mk(1, KIND_PENALTY, OP_PUBLISH, 0), mk(2, KIND_PENALTY, OP_PUBLISH, 0),
                              mk(3, KIND_PENALTY, OP_PUBLISH, 0) };
    struct outcome out[3];
    int k;

    adapter_parse(a, d, 3, &r, out);
    k = (int)out[0].kind;
    for (int i = 1; i < 3; i++)
        if ((int)out[i].kind != k || strcmp(out[i].message, out[0].message) != 0)
            k = -1;
    *o = out[0];
    free_all(d, 3);
    return k;
}

TEST(whole_batch_failures)
{
    adapter *a = new_adapter(50);
    struct outcome o;
    struct http_resp r;

    CHECK_INT(all_same(a, resp(413, "<html>Request Entity Too Large</html>"), &o), OUTCOME_SPLIT);
    CHECK_INT(all_same(a, resp(503, "<html>busy</html>"), &o), OUTCOME_TRANSIENT);
    CHECK_INT(o.http_status, 503);
    r = resp(429, "");
    r.retry_after_ms = 7000;
    CHECK_INT(all_same(a, r, &o), OUTCOME_TRANSIENT);
    CHECK_INT(o.retry_after_ms, 7000);
    CHECK_INT(all_same(a, resp(200, "{\"success\":false,\"errorCode\":\"S0503\","
                                     "\"errorMsg\":\"系统繁忙\"}"), &o), OUTCOME_TRANSIENT);
    CHECK_STR(o.code, "S0503");
    CHECK(strstr(o.message, "系统繁忙") != NULL);
    CHECK_INT(all_same(a, resp(200, "<html>oops</html>"), &o), OUTCOME_TRANSIENT);
    r = resp(200, "{\"success\":true,\"data\":{\"res");
    r.truncated = true;
    CHECK_INT(all_same(a, r, &o), OUTCOME_TRANSIENT);
    CHECK_STR(o.message, "response truncated at 1 MiB");
    CHECK_INT(all_same(a, resp(200, "{\"success\":\"yes\"}"), &o), OUTCOME_TRANSIENT);
    CHECK_INT(all_same(a, resp(200, "{\"success\":true,\"data\":{\"results\":{}}}"), &o),
              OUTCOME_TRANSIENT);
    CHECK_INT(all_same(a, resp(200, "{\"success\":true,\"data\":{\"results\":[]}}"), &o),
              OUTCOME_TRANSIENT);
    CHECK_STR(o.message, "no result for this record");
    r = resp(0, NULL);
    snprintf(r.error, sizeof r.error, "Connection reset by peer");
    CHECK_INT(all_same(a, r, &o), OUTCOME_TRANSIENT);
    CHECK_STR(o.message, "Connection reset by peer");
    adapter_free(a);
}

TEST(gateway_auth_refusals_name_the_code)
{
    adapter *a = new_adapter(50);
    struct outcome o;

    CHECK_INT(all_same(a, resp(401, "{\"success\":false,\"errorCode\":\"A0402\"}"), &o),
              OUTCOME_TRANSIENT);
    CHECK_STR(o.code, "A0402");
    CHECK(strstr(o.message, "A0402") != NULL);
    CHECK(strstr(o.message, "clock") != NULL);
    CHECK_INT(all_same(a, resp(401, "{\"success\":false,\"errorCode\":\"A0401\"}"), &o),
              OUTCOME_TRANSIENT);
    CHECK(strstr(o.message, "A0401") != NULL);
    CHECK(strstr(o.message, "signature") != NULL);
    CHECK_INT(all_same(a, resp(401, "{\"success\":false,\"errorCode\":\"A0403\"}"), &o),
              OUTCOME_TRANSIENT);
    CHECK(strstr(o.message, "nonce") != NULL);
    CHECK_INT(all_same(a, resp(401, "<html>401</html>"), &o), OUTCOME_TRANSIENT);
    adapter_free(a);
}

TEST(revoke_is_signed_and_classified)
{
    adapter *a = new_adapter(50);
    struct delivery *d = mk(1, KIND_PENALTY, OP_WITHDRAW, 0);
    struct http_req req;
    struct err e;
    struct outcome o;
    struct http_resp r;
    size_t used = 0;

    CHECK_INT(adapter_build(a, &d, 1, &used, NOW, &req, &e), 0);
    CHECK_INT(used, 1);
    CHECK_STR(req.url, "https://zfgs.example.gov.cn/pfx/gateway/v2/publicity/revoke");
    CHECK_STR(buf_str(&req.body),
              "{\"recordId\":\"HB0001\",\"reason\":\"公示期满\",\"revokeType\":\"EXPIRED\"}");
    CHECK(signature_verifies(&req, "/pfx/gateway/v2/publicity/revoke"));
    http_req_clear(&req);

    r = resp(200, "{\"success\":true}");
    adapter_parse(a, &d, 1, &r, &o);
    CHECK_INT(o.kind, OUTCOME_OK);
    CHECK_STR(o.receipt, "HB0001");
    r = resp(200, "{\"success\":false,\"errorCode\":\"F0404\",\"errorMsg\":\"记录不存在\"}");
    adapter_parse(a, &d, 1, &r, &o);
    CHECK_INT(o.kind, OUTCOME_GONE);
    CHECK_STR(o.code, "F0404");
    r = resp(200, "{\"success\":false,\"errorCode\":\"F0109\",\"errorMsg\":\"撤销类型错误\"}");
    adapter_parse(a, &d, 1, &r, &o);
    CHECK_INT(o.kind, OUTCOME_PERMANENT);
    r = resp(200, "{\"success\":false,\"errorCode\":\"S0503\"}");
    adapter_parse(a, &d, 1, &r, &o);
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);

    free(d->receipt);
    d->receipt = NULL;
    CHECK(adapter_build(a, &d, 1, &used, NOW, &req, &e) < 0);
    delivery_free(d);
    adapter_free(a);
}

TEST(bad_batch_size_is_refused)
{
    struct target_cfg t = prov_target(0);
    struct err e;
    adapter *a = NULL;
    CHECK(adapter_new(&a, &t, NULL, &e) < 0);
    CHECK(a == NULL);
    CHECK(strstr(e.msg, "batch_size") != NULL);
}

int main(void)
{
    RUN(batch_is_signed_over_the_path_and_carries_records);
    RUN(every_build_has_a_fresh_nonce_and_batch_number);
    RUN(batch_stops_at_two_mebibytes);
    RUN(batch_size_limits_the_records_taken);
    RUN(per_record_results_by_index);
    RUN(whole_batch_failures);
    RUN(gateway_auth_refusals_name_the_code);
    RUN(revoke_is_signed_and_classified);
    RUN(bad_batch_size_is_refused);
    return tap_done();
}

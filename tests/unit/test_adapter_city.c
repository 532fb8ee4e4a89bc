/* Unit tests for src/adapter_city.c (and the shared parts of src/adapter.c):
 * the token state machine, the requests built, and the classification of
 * every answer of docs/protocols.md's table plus garbage.  No network: answers
 * are struct http_resp values made here. */
#include "adapter.h"
#include "tap.h"

#include <stdbool.h>
#include <stdlib.h>

#include <json-c/json.h>

#define REV "a3f1c0de00000000000000000000000000000000000000000000000000000001"
#define SECRET "s3cr&t=value with space"
#define T0 1790000000000LL

static struct target_cfg city_target(void)
{
    struct target_cfg t;
    memset(&t, 0, sizeof t);
    t.name = "city";
    t.protocol = PROTO_CITY;
    t.enabled = true;
    t.base_url = "https://zfjd.example.gov.cn/";
    t.client_id = "sjz-scjg";
    t.secret = SECRET;
    t.secret_from = "file /run/credentials/epsync.service/city-secret";
    t.timeout_ms = 30000;
    return t;
}

static struct delivery *mk(enum op op, const char *receipt)
{
    struct delivery *d = calloc(1, sizeof *d);
    d->decision_id = strdup("SJZSJ-2026-000123");
    d->target = strdup("city");
    d->kind = KIND_PENALTY;
    d->op = op;
    d->revision = strdup(REV);
    d->receipt = receipt ? strdup(receipt) : NULL;
    if (op == OP_WITHDRAW) {
        d->withdraw_type = strdup("REVOKED");
        d->withdraw_reason = strdup("决定已撤销");
    }
    d->fields = json_tokener_parse("{\"decision_id\":\"SJZSJ-2026-000123\",\"kind\":\"penalty\","
                                   "\"decided_on\":\"2026-09-30\",\"party_name\":\"某公司\","
                                   "\"authority_name\":\"石家庄市市场监督管理局\"}");
    d->attempt = 1;
    return d;
}

static struct http_resp resp(long status, const char *body, const char *ctype)
{
    struct http_resp r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.body = (char *)body;
    r.body_len = body ? strlen(body) : 0;
    r.retry_after_ms = -1;
    snprintf(r.content_type, sizeof r.content_type, "%s", ctype ? ctype : "");
    return r;
}

static const char *header(const struct http_req *req, const char *name)
{
    size_t l = strlen(name);
    for (struct curl_slist *s = req->headers; s; s = s->next)
        if (strncmp(s->data, name, l) == 0 && s->data[l] == ':')
            return s->data + l + 2;
    return NULL;
}

/* An adapter holding a token obtained at T0 with the given lifetime. */
static adapter *ready_adapter(long expires_in)
{
    struct target_cfg t = city_target();
    struct http_req req;
    struct err e;
    adapter *a = NULL;
    char body[128];

    if (adapter_new(&a, &t, NULL, &e) < 0) {
        printf("# adapter_new: %s\n", e.msg);
        return NULL;
    }
    if (adapter_prepare(a, T0, &req, NULL, 0) != ADAPTER_AUTH)
        return a;
    http_req_clear(&req);
    snprintf(body, sizeof body, "{\"access_token\":\"tok-1\",\"token_type\":\"Bearer\","
             "\"expires_in\":%ld}", expires_in);
    struct http_resp r = resp(200, body, "application/json");
    adapter_auth_done(a, &r, T0);
    return a;
}

/* Classify one answer to an operation. */
static struct outcome classify(adapter *a, enum op op, struct http_resp r)
{
    struct delivery *d = mk(op, op == OP_PUBLISH ? NULL : "R-0001");
    struct outcome o;
    adapter_parse(a, &d, 1, &r, &o);
    delivery_free(d);
    return o;
}

TEST(token_request_is_form_encoded_and_cached)
{
    struct target_cfg t = city_target();
    struct http_req req;
    struct err e;
    adapter *a;
    char msg[256];

    CHECK_INT(adapter_new(&a, &t, NULL, &e), 0);
    CHECK_INT(adapter_batch_max(a, OP_PUBLISH), 1);
    CHECK_INT(adapter_batch_max(a, OP_WITHDRAW), 1);
    CHECK_INT(adapter_prepare(a, T0, &req, msg, sizeof msg), ADAPTER_AUTH);
    CHECK_STR(req.method, "POST");
    CHECK_STR(req.url, "https://zfjd.example.gov.cn/oauth/token");
    CHECK_STR(req.content_type, "application/x-www-form-urlencoded");
    CHECK_STR(buf_str(&req.body), "grant_type=client_credentials&client_id=sjz-scjg"
              "&client_secret=s3cr%26t%3Dvalue%20with%20space");
    CHECK_INT(strlen(req.request_id), 36);
    CHECK_INT(strlen(req.body_sha256), 64);
    http_req_clear(&req);

    /* while the token request is in flight nothing can be sent */
    CHECK_INT(adapter_prepare(a, T0 + 10, &req, msg, sizeof msg), ADAPTER_WAIT);
    struct http_resp r = resp(200, "{\"access_token\":\"tok-1\",\"token_type\":\"bearer\","
                              "\"expires_in\":7200}", "application/json");
    adapter_auth_done(a, &r, T0 + 50);
    CHECK_INT(adapter_prepare(a, T0 + 60, &req, msg, sizeof msg), ADAPTER_READY);
    /* renewed at 80 % of the lifetime, while the old token still serves */
    CHECK_INT(adapter_prepare(a, T0 + 50 + 5759999, &req, msg, sizeof msg), ADAPTER_READY);
    CHECK_INT(adapter_prepare(a, T0 + 50 + 5760000, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    CHECK_INT(adapter_prepare(a, T0 + 50 + 5760001, &req, msg, sizeof msg), ADAPTER_READY);
    /* ... but not past its expiry */
    CHECK_INT(adapter_prepare(a, T0 + 50 + 7200000, &req, msg, sizeof msg), ADAPTER_WAIT);
    adapter_free(a);
}

TEST(token_request_with_http_basic)
{
    struct target_cfg t = city_target();
    struct http_req req;
    struct err e;
    adapter *a;
    char msg[256];

    t.token_auth = TOKEN_AUTH_BASIC;
    CHECK_INT(adapter_new(&a, &t, NULL, &e), 0);
    CHECK_INT(adapter_prepare(a, T0, &req, msg, sizeof msg), ADAPTER_AUTH);
    /* RFC 6749 §2.3.1: the form-encoded id and secret, base64 */
    CHECK_STR(header(&req, "Authorization"), "Basic c2p6LXNjamc6czNjciUyNnQlM0R2YWx1ZSUyMHdpdGglMjBzcGFjZQ==");
    CHECK_STR(buf_str(&req.body), "grant_type=client_credentials");
    http_req_clear(&req);
    adapter_free(a);
}

TEST(refused_credentials_break_the_target_for_a_pause)
{
    struct target_cfg t = city_target();
    struct http_req req;
    struct err e;
    adapter *a;
    char msg[256];

    CHECK_INT(adapter_new(&a, &t, NULL, &e), 0);
    CHECK_INT(adapter_prepare(a, T0, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    struct http_resp r = resp(401, "{\"error\":\"invalid_client\"}", "application/json");
    adapter_auth_done(a, &r, T0 + 20);
    CHECK_INT(adapter_prepare(a, T0 + 30, &req, msg, sizeof msg), ADAPTER_BROKEN);
    CHECK(strstr(msg, "invalid_client") != NULL);
    CHECK(strstr(msg, "/run/credentials/epsync.service/city-secret") != NULL);
    CHECK(strstr(msg, "s3cr") == NULL);                 /* never the secret */
    CHECK_INT(adapter_prepare(a, T0 + 20 + 299999, &req, msg, sizeof msg), ADAPTER_BROKEN);
    /* after the pause the secret is tried again (it may have been fixed) */
    CHECK_INT(adapter_prepare(a, T0 + 20 + 300000, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    adapter_free(a);
}

TEST(failed_token_request_waits_and_backs_off)
{
    struct target_cfg t = city_target();
    struct http_req req;
    struct err e;
    adapter *a;
    char msg[256];

    CHECK_INT(adapter_new(&a, &t, NULL, &e), 0);
    CHECK_INT(adapter_prepare(a, T0, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    struct http_resp r = resp(503, "<html>down</html>", "text/html");
    adapter_auth_done(a, &r, T0);
    CHECK_INT(adapter_prepare(a, T0 + 500, &req, msg, sizeof msg), ADAPTER_WAIT);
    CHECK(strstr(msg, "HTTP 503 with a non-JSON body (text/html)") != NULL);
    CHECK_INT(adapter_prepare(a, T0 + 1000, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    /* a token answer without a token is a failure too; the pause doubles */
    r = resp(200, "{\"token_type\":\"Bearer\",\"expires_in\":7200}", "application/json");
    adapter_auth_done(a, &r, T0 + 1000);
    CHECK_INT(adapter_prepare(a, T0 + 2999, &req, msg, sizeof msg), ADAPTER_WAIT);
    CHECK(strstr(msg, "access_token") != NULL);
    CHECK_INT(adapter_prepare(a, T0 + 3000, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    r = resp(200, "{\"access_token\":\"x\",\"expires_in\":\"7200\"}", "application/json");
    adapter_auth_done(a, &r, T0 + 3000);
    CHECK_INT(adapter_prepare(a, T0 + 3001, &req, msg, sizeof msg), ADAPTER_WAIT);
    adapter_free(a);
}

/* Found by tests/fuzz/fuzz_city: the token goes into a header line and
 * its lifetime into millisecond arithmetic. */
TEST(token_answer_cannot_inject_headers_or_overflow)
{
    struct target_cfg t = city_target();
    struct http_req req;
    struct err e;
    adapter *a;
    char msg[256];

    CHECK_INT(adapter_new(&a, &t, NULL, &e), 0);
    CHECK_INT(adapter_prepare(a, T0, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    struct http_resp r = resp(200, "{\"access_token\":\"tok\\r\\nX-Evil: 1\",\"token_type\":"
                              "\"Bearer\"}", "application/json");
    adapter_auth_done(a, &r, T0);
    CHECK_INT(adapter_prepare(a, T0 + 1, &req, msg, sizeof msg), ADAPTER_WAIT);
    CHECK(strstr(msg, "access_token with characters an HTTP header cannot carry") != NULL);
    CHECK_INT(adapter_prepare(a, T0 + 1000, &req, msg, sizeof msg), ADAPTER_AUTH);
    http_req_clear(&req);
    /* the largest lifetime JSON can state: capped at a year, renewed at 80 % */
    r = resp(200, "{\"access_token\":\"tok-1\",\"expires_in\":9223372036854775807}",
             "application/json");
    adapter_auth_done(a, &r, T0 + 1000);
    CHECK_INT(adapter_prepare(a, T0 + 1000 + 365LL * 86400 * 800 - 1, &req, msg, sizeof msg),
              ADAPTER_READY);
    CHECK_INT(adapter_prepare(a, T0 + 1000 + 365LL * 86400 * 800, &req, msg, sizeof msg),
              ADAPTER_AUTH);
    http_req_clear(&req);
    adapter_free(a);
}

TEST(publish_request_carries_token_and_idempotency_key)
{
    adapter *a = ready_adapter(7200);
    struct delivery *d = mk(OP_PUBLISH, NULL);
    struct http_req req;
    struct err e;
    size_t used = 0;

    CHECK(a != NULL);
    CHECK_INT(adapter_prepare(a, T0 + 1, &req, NULL, 0), ADAPTER_READY);
    CHECK_INT(adapter_build(a, &d, 1, &used, T0 + 1, &req, &e), 0);
    CHECK_INT(used, 1);
    CHECK_STR(req.method, "POST");
    CHECK_STR(req.url, "https://zfjd.example.gov.cn/api/v1/decisions");
    CHECK(req.content_type == NULL);
    CHECK_STR(header(&req, "Authorization"), "Bearer tok-1");
    CHECK_STR(header(&req, "Idempotency-Key"), "SJZSJ-2026-000123:" REV);
    struct json_object *b = json_tokener_parse(buf_str(&req.body));
    CHECK(b != NULL);
    CHECK_STR(json_object_get_string(json_object_object_get(b, "sourceId")), "SJZSJ-2026-000123");
    CHECK_STR(json_object_get_string(json_object_object_get(b, "kind")), "penalty");
    CHECK_STR(json_object_get_string(json_object_object_get(b, "decidedOn")), "2026-09-30");
    CHECK_STR(json_object_get_string(json_object_object_get(
                  json_object_object_get(b, "party"), "name")), "某公司");
    json_object_put(b);
    http_req_clear(&req);
    delivery_free(d);
    adapter_free(a);
}

TEST(update_and_withdraw_address_the_escaped_receipt)
{
    adapter *a = ready_adapter(7200);
    struct delivery *u = mk(OP_UPDATE, "R/1 2"), *w = mk(OP_WITHDRAW, "R/1 2");
    struct delivery *no = mk(OP_UPDATE, NULL);
    struct http_req req;
    struct err e;

    CHECK_INT(adapter_build(a, &u, 1, NULL, T0 + 1, &req, &e), 0);
    CHECK_STR(req.method, "PUT");
    CHECK_STR(req.url, "https://zfjd.example.gov.cn/api/v1/decisions/R%2F1%202");
    CHECK_STR(header(&req, "Idempotency-Key"), "SJZSJ-2026-000123:" REV);
    http_req_clear(&req);

    CHECK_INT(adapter_build(a, &w, 1, NULL, T0 + 1, &req, &e), 0);
    CHECK_STR(req.method, "POST");
    CHECK_STR(req.url, "https://zfjd.example.gov.cn/api/v1/decisions/R%2F1%202/withdraw");
    CHECK_STR(buf_str(&req.body), "{\"reason\":\"决定已撤销\",\"type\":\"REVOKED\"}");
    CHECK_STR(header(&req, "Authorization"), "Bearer tok-1");
    http_req_clear(&req);

    CHECK(adapter_build(a, &no, 1, NULL, T0 + 1, &req, &e) < 0);
    CHECK(strstr(e.msg, "SJZSJ-2026-000123") != NULL);
    /* A receipt that would climb out of /decisions/ is refused; other
     * dots and every reserved character are encoded. */
    static const char *const climbs[] = { ".", "..", "" };
    for (size_t i = 0; i < 3; i++) {
        struct delivery *x = mk(i == 1 ? OP_WITHDRAW : OP_UPDATE, climbs[i]);
        CHECK(adapter_build(a, &x, 1, NULL, T0 + 1, &req, &e) < 0);
        delivery_free(x);
    }
    struct delivery *odd = mk(OP_UPDATE, "../x?y#z%");
    CHECK_INT(adapter_build(a, &odd, 1, NULL, T0 + 1, &req, &e), 0);
    CHECK_STR(req.url, "https://zfjd.example.gov.cn/api/v1/decisions/..%2Fx%3Fy%23z%25");
    http_req_clear(&req);
    delivery_free(odd);
    struct delivery *two[2] = { u, u };
    CHECK(adapter_build(a, two, 2, NULL, T0 + 1, &req, &e) < 0);
    delivery_free(u);
    delivery_free(w);
    delivery_free(no);
    adapter_free(a);
}

TEST(build_without_a_token_fails)
{
    struct target_cfg t = city_target();
    struct delivery *d = mk(OP_PUBLISH, NULL);
    struct http_req req;
    struct err e;
    adapter *a;

    CHECK_INT(adapter_new(&a, &t, NULL, &e), 0);
    CHECK(adapter_build(a, &d, 1, NULL, T0, &req, &e) < 0);
    delivery_free(d);
    adapter_free(a);
}

TEST(business_codes_follow_the_protocol_table)
{
    adapter *a = ready_adapter(7200);
    struct outcome o;

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"0\",\"msg\":\"成功\",\"data\":"
                                     "{\"receiptNo\":\"SJ20260001\"}}", "application/json"));
    CHECK_INT(o.kind, OUTCOME_OK);
    CHECK_STR(o.receipt, "SJ20260001");
    CHECK_STR(o.code, "0");
    CHECK_INT(o.http_status, 200);

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"1002\",\"msg\":\"记录已存在\",\"data\":"
                                     "{\"receiptNo\":\"SJ20260002\"}}", NULL));
    CHECK_INT(o.kind, OUTCOME_ADOPT);
    CHECK_STR(o.receipt, "SJ20260002");

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"1001\",\"msg\":\"party.name 不能为空\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_PERMANENT);
    CHECK_STR(o.code, "1001");
    CHECK_STR(o.message, "party.name 不能为空");

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"1003\",\"msg\":\"不允许\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_PERMANENT);
    CHECK_STR(o.message, "不允许");

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"1077\",\"msg\":\"新的校验\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_PERMANENT);
    CHECK_STR(o.message, "新的校验");

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"5001\",\"msg\":\"系统繁忙，请稍后重试\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK_STR(o.code, "5001");

    o = classify(a, OP_UPDATE, resp(200, "{\"code\":\"0\",\"msg\":\"成功\",\"data\":"
                                    "{\"receiptNo\":\"R-0001\"}}", NULL));
    CHECK_INT(o.kind, OUTCOME_OK);
    CHECK_STR(o.receipt, "R-0001");

    o = classify(a, OP_UPDATE, resp(200, "{\"code\":\"1004\",\"msg\":\"不存在\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_NOT_FOUND);

    o = classify(a, OP_WITHDRAW, resp(200, "{\"code\":\"0\",\"msg\":\"成功\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_OK);
    CHECK_STR(o.receipt, "R-0001");

    o = classify(a, OP_WITHDRAW, resp(200, "{\"code\":\"1004\",\"msg\":\"不存在\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_GONE);

    /* a numeric code is understood too */
    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":0,\"data\":{\"receiptNo\":\"N1\"}}", NULL));
    CHECK_INT(o.kind, OUTCOME_OK);
    CHECK_STR(o.receipt, "N1");
    adapter_free(a);
}

TEST(http_level_failures)
{
    adapter *a = ready_adapter(7200);
    struct outcome o;
    struct http_resp r;
    struct http_req req;

    r = resp(429, "", NULL);
    r.retry_after_ms = 30000;
    o = classify(a, OP_PUBLISH, r);
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK_INT(o.retry_after_ms, 30000);
    CHECK_INT(o.http_status, 429);

    o = classify(a, OP_PUBLISH, resp(502, "<html><body>Bad Gateway</body></html>", "text/html"));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK_STR(o.message, "HTTP 502 with a non-JSON body (text/html)");

    r = resp(0, NULL, NULL);
    snprintf(r.error, sizeof r.error, "Timeout was reached: Operation timed out after 30000 ms");
    o = classify(a, OP_PUBLISH, r);
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK_INT(o.http_status, 0);
    CHECK_STR(o.message, "Timeout was reached: Operation timed out after 30000 ms");

    /* 401 for a call that carried an older token: the current one stays */
    struct delivery *old = mk(OP_PUBLISH, NULL);
    struct http_resp r401 = resp(401, "{\"error\":\"invalid_token\"}", NULL);
    old->auth_gen = 12345;
    adapter_parse(a, &old, 1, &r401, &o);
    delivery_free(old);
    CHECK_INT(o.kind, OUTCOME_REAUTH);
    CHECK_INT(adapter_prepare(a, T0 + 5, &req, NULL, 0), ADAPTER_READY);

    /* 401 on a call: the token was revoked; it is dropped and renewed */
    o = classify(a, OP_PUBLISH, resp(401, "{\"error\":\"invalid_token\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_REAUTH);
    CHECK_INT(adapter_prepare(a, T0 + 5, &req, NULL, 0), ADAPTER_AUTH);
    http_req_clear(&req);
    adapter_free(a);
}

TEST(garbage_bodies_are_transient_with_a_reason)
{
    adapter *a = ready_adapter(7200);
    struct outcome o;
    struct http_resp r;

    o = classify(a, OP_PUBLISH, resp(200, "<html>维护中</html>", "text/html; charset=utf-8"));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK_STR(o.message, "HTTP 200 with a non-JSON body (text/html; charset=utf-8)");

    o = classify(a, OP_PUBLISH, resp(200, "", NULL));
    CHECK_STR(o.message, "HTTP 200 with an empty body");

    r = resp(200, "{\"code\":\"0\",\"data\":{\"recei", "application/json");
    r.truncated = true;
    o = classify(a, OP_PUBLISH, r);
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK_STR(o.message, "response truncated at 1 MiB");

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"0\",\"data\":{\"recei", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"0\",\"data\":{\"receiptNo\":\"A\"}} trailing", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);

    o = classify(a, OP_PUBLISH, resp(200, "[\"code\",\"0\"]", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK(strstr(o.message, "not an object") != NULL);

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":{\"v\":0}}", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK(strstr(o.message, "code") != NULL);

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"0\",\"data\":{\"receiptNo\":12}}", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK(strstr(o.message, "receiptNo") != NULL);

    o = classify(a, OP_PUBLISH, resp(200, "{\"code\":\"0\",\"data\":\"SJ1\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);

    o = classify(a, OP_PUBLISH, resp(404, "{\"message\":\"no route\"}", NULL));
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    CHECK_STR(o.message, "HTTP 404 without a business code");

    /* a huge body that is not JSON (cut at the cap by http.c) */
    size_t big = HTTP_BODY_MAX;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    huge[big] = '\0';
    r = resp(200, huge, "application/octet-stream");
    o = classify(a, OP_PUBLISH, r);
    CHECK_INT(o.kind, OUTCOME_TRANSIENT);
    r.truncated = true;
    o = classify(a, OP_PUBLISH, r);
    CHECK_STR(o.message, "response truncated at 1 MiB");
    free(huge);
    adapter_free(a);
}

TEST(long_messages_are_cut_on_a_character_boundary)
{
    adapter *a = ready_adapter(7200);
    struct buf b = BUF_INIT;
    struct outcome o;

    buf_puts(&b, "{\"code\":\"1001\",\"msg\":\"");
    for (int i = 0; i < 300; i++)
        buf_puts(&b, "字");                     /* 3 bytes each: 900 bytes */
    buf_puts(&b, "\"}");
    o = classify(a, OP_PUBLISH, resp(200, b.data, NULL));
    CHECK_INT(o.kind, OUTCOME_PERMANENT);
    CHECK(strlen(o.message) < sizeof o.message);
    CHECK_INT(strlen(o.message) % 3, 0);
    CHECK(strncmp(o.message, "字字字", 9) == 0);
    buf_free(&b);
    adapter_free(a);
}

TEST(names)
{
    CHECK_STR(op_name(OP_PUBLISH), "publish");
    CHECK_STR(op_name(OP_UPDATE), "update");
    CHECK_STR(op_name(OP_WITHDRAW), "withdraw");
    CHECK_STR(outcome_name(OUTCOME_OK), "ok");
    CHECK_STR(outcome_name(OUTCOME_NOT_FOUND), "not_found");
    CHECK_STR(outcome_name(OUTCOME_SPLIT), "split");
}

int main(void)
{
    RUN(token_request_is_form_encoded_and_cached);
    RUN(refused_credentials_break_the_target_for_a_pause);
    RUN(failed_token_request_waits_and_backs_off);
    RUN(token_answer_cannot_inject_headers_or_overflow);
    RUN(publish_request_carries_token_and_idempotency_key);
    RUN(update_and_withdraw_address_the_escaped_receipt);
    RUN(token_request_with_http_basic);
    RUN(build_without_a_token_fails);
    RUN(business_codes_follow_the_protocol_table);
    RUN(http_level_failures);
    RUN(garbage_bodies_are_transient_with_a_reason);
    RUN(long_messages_are_cut_on_a_character_boundary);
    RUN(names);
    return tap_done();
}

/* fuzz_city - the city platform's answers (src/adapter_city.c).
 *
 * Input: two header bytes, then the answer's body.
 *   byte 0  bits 0-3  status code (fuzz_statuses)
 *           bits 4-5  operation: publish, update, withdraw, publish
 *           bit 6     the body answers the token request (adapter_auth_done)
 *                     instead of the operation (adapter_parse)
 *           bit 7     a newer token arrives between sending and the answer
 *                     (a 401 must then not throw the newer one away)
 *   byte 1  answer flags (fuzz_resp): content type, Retry-After, cut, reset
 *
 * A fresh adapter per input, so a crash replays from its file alone; after
 * the answer the adapter is asked again for a token or a request, which
 * walks the token state the answer left behind. */
#include "fuzz.h"

static const char good_token[] =
    "{\"access_token\":\"tok-1\",\"token_type\":\"Bearer\",\"expires_in\":7200}";
static const char newer_token[] =
    "{\"access_token\":\"tok-2\",\"token_type\":\"Bearer\",\"expires_in\":7200}";

/* Feed a token answer the platform really gives. */
static void token(adapter *a, const char *body, int64_t now_ms)
{
    struct http_req req;
    struct http_resp r;
    if (adapter_prepare(a, now_ms, &req, NULL, 0) != ADAPTER_AUTH)
        abort();
    http_req_clear(&req);
    fuzz_resp(&r, 200, 0, (const uint8_t *)body, strlen(body));
    adapter_auth_done(a, &r, now_ms);
    http_resp_clear(&r);
}

/* What the engine does next at now_ms: send a token request, or build the
 * next request with the token held. */
static void walk(adapter *a, int64_t now_ms)
{
    struct http_req req;
    struct err e;
    char msg[256];
    enum adapter_state st = adapter_prepare(a, now_ms, &req, msg, sizeof msg);

    if (st == ADAPTER_AUTH) {
        fuzz_check_req(&req);
        http_req_clear(&req);
    } else if (st == ADAPTER_READY) {
        struct delivery *d = fuzz_delivery("city", 1, KIND_LICENSE, OP_PUBLISH);
        if (adapter_build(a, &d, 1, NULL, now_ms, &req, &e) < 0) {
            fprintf(stderr, "READY but no request: %s\n", e.msg);
            abort();
        }
        fuzz_check_req(&req);
        http_req_clear(&req);
        delivery_free(d);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size };
    unsigned b0 = fuzz_byte(&in), flags = fuzz_byte(&in);
    long status = fuzz_statuses[b0 & 15];
    enum op op = ((b0 >> 4) & 3) == 3 ? OP_PUBLISH : (enum op)((b0 >> 4) & 3);
    adapter *a = fuzz_adapter("city");
    struct http_resp r;

    if (b0 & 0x40) {
        struct http_req req;
        if (adapter_prepare(a, FUZZ_T0, &req, NULL, 0) != ADAPTER_AUTH)
            abort();
        http_req_clear(&req);
        fuzz_resp(&r, status, flags, in.p, in.n);
        adapter_auth_done(a, &r, FUZZ_T0);
        http_resp_clear(&r);
        walk(a, FUZZ_T0 + 1);
        walk(a, FUZZ_T0 + 2 * 3600 * 1000);     /* past the default lifetime */
    } else {
        struct delivery *d = fuzz_delivery("city", 0, KIND_PENALTY, op);
        struct http_req req;
        struct outcome o;
        struct err e;

        token(a, good_token, FUZZ_T0);
        if (adapter_build(a, &d, 1, NULL, FUZZ_T0, &req, &e) < 0) {
            fprintf(stderr, "build: %s\n", e.msg);
            abort();
        }
        fuzz_check_req(&req);
        http_req_clear(&req);
        delivery_fields_release(d);
        if (b0 & 0x80)
            token(a, newer_token, FUZZ_T0 + 7200 * 800);    /* renewed at 80 % */
        fuzz_resp(&r, status, flags, in.p, in.n);
        adapter_parse(a, &d, 1, &r, &o);
        http_resp_clear(&r);
        fuzz_check_outcomes(&o, 1);
        walk(a, FUZZ_T0 + 7200 * 800 + 1);
        delivery_free(d);
    }
    adapter_free(a);
    return 0;
}

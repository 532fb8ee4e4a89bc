/* fuzz.h - what the response fuzzers share: the fixed configuration their
 * adapters come from, answers and deliveries made the way the engine
 * makes them.
 *
 * An input starts with a few header bytes that choose the situation
 * (status code, operation, batch size ...) and the rest is the answer's
 * body, so one corpus file is one whole exchange and a crash file
 * replays alone.  Missing header bytes read as 0. */
#ifndef EPSYNC_FUZZ_H
#define EPSYNC_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "buf.h"
#include "config.h"
#include "delivery.h"
#include "http.h"
#include "log.h"

#define FUZZ_REV "a3f1c0de00000000000000000000000000000000000000000000000000000001"
#define FUZZ_T0 1790000000000LL

/* The input, consumed from the front. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline unsigned fuzz_byte(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* Status codes an answer may carry: the documented ones more than once,
 * and those no platform should send (0 without a transport error, 1xx,
 * redirects, odd 2xx). */
static const long fuzz_statuses[16] = {
    200, 200, 200, 201, 204, 302, 400, 401, 403, 404, 413, 429, 500, 502, 503, 0,
};

static const char *const fuzz_ctypes[4] = {
    "application/json; charset=utf-8", "application/json", "text/html", "",
};

/* An answer as http_done() hands it over: the body owned and
 * NUL-terminated, NUL bytes inside kept (body_len counts them). flags
 * (a header byte) picks the content type, a Retry-After, a body flagged
 * as cut at 1 MiB, and rarely a transport failure instead of an answer. */
static inline void fuzz_resp(struct http_resp *r, long status, unsigned flags,
                             const uint8_t *body, size_t len)
{
    memset(r, 0, sizeof *r);
    r->status = status;
    r->body = xmalloc(len + 1);
    memcpy(r->body, body, len);
    r->body[len] = '\0';
    r->body_len = len;
    r->truncated = (flags & 0x04) != 0;
    r->retry_after_ms = (flags & 0x08) ? (int64_t)(flags >> 4) * 1000 : -1;
    snprintf(r->content_type, sizeof r->content_type, "%s", fuzz_ctypes[flags & 3]);
    if ((flags & 0xF0) == 0xF0 && !(flags & 0x08)) {
        r->status = 0;
        snprintf(r->error, sizeof r->error, "Connection reset by peer");
    }
    r->latency_ms = 12;
}

/* The masked field set of a decision as the detector stores it (text,
 * parsed only when a request is built); made once per kind, copied per
 * delivery. */
static inline char *fuzz_fields_text(enum kind kind)
{
    static char *text[KIND_COUNT];
    if (!text[kind]) {
        struct buf b = BUF_INIT;
        buf_printf(&b, "{\"kind\":\"%s\",\"decided_on\":\"2026-09-30\","
                   "\"doc_no\":\"石市监罚〔2026〕123号\",\"party_name\":\"某某科技有限公司\","
                   "\"party_type\":\"legal_person\",\"party_id\":\"91130100MA0XXXXX1Y\","
                   "\"legal_rep\":\"张*\",\"violation_facts\":\"销售过期食品\","
                   "\"legal_basis\":\"《食品安全法》第一百二十四条\",\"penalty_content\":\"罚款\","
                   "\"license_content\":\"食品经营许可\",\"fine_amount\":\"5000.00\","
                   "\"authority_name\":\"石家庄市市场监督管理局\","
                   "\"authority_code\":\"11130100MB0000000X\"}", kind_name(kind));
        text[kind] = buf_steal(&b);
    }
    return xstrdup(text[kind]);
}

/* One delivery, with the fields queue_claim() fills from a claimed row:
 * a publish has no receipt yet, an update and a withdraw carry the one the
 * platform gave, a withdraw its type and reason. */
static inline struct delivery *fuzz_delivery(const char *target, int i, enum kind kind,
                                             enum op op)
{
    struct delivery *d = xcalloc(1, sizeof *d);
    char id[32], receipt[32];
    snprintf(id, sizeof id, "SJZSJ-2026-%06d", i + 1);
    snprintf(receipt, sizeof receipt, "R-%06d", i + 1);
    d->decision_id = xstrdup(id);
    d->target = xstrdup(target);
    d->kind = kind;
    d->op = op;
    d->revision = xstrdup(FUZZ_REV);
    d->receipt = op == OP_PUBLISH ? NULL : xstrdup(receipt);
    if (op == OP_WITHDRAW) {
        d->withdraw_type = xstrdup("REVOKED");
        d->withdraw_reason = xstrdup("决定已撤销");
    }
    d->fields_text = fuzz_fields_text(kind);
    d->publicity_end = xstrdup("2029-10-08");
    d->attempt = 1 + i % 3;
    return d;
}

/* The fixed configuration (tests/fuzz/fuzz.yaml), loaded once and kept
 * for the whole run.  Its secrets come from environment variables set
 * here, so nothing is written to disk; the file is read as text because
 * a checkout does not keep the 0600 mode config_load() insists on. */
static inline const struct config *fuzz_config(void)
{
    static struct config *cfg;
    struct err e;
    char *text = NULL;
    size_t len = 0;
    FILE *f, *m;
    char chunk[4096];
    size_t got;

    if (cfg)
        return cfg;
    log_init(LOG_ERR, LOG_TEXT);     /* the token's retry warnings would flood the run */
    setenv("EPSYNC_FUZZ_CITY_SECRET", "s3cr&t=value with space", 0);
    setenv("EPSYNC_FUZZ_PROVINCE_SECRET", "province-app-secret", 0);
    if (!(f = fopen(EPSYNC_SOURCE_ROOT "/tests/fuzz/fuzz.yaml", "re")) ||
        !(m = open_memstream(&text, &len))) {
        perror(EPSYNC_SOURCE_ROOT "/tests/fuzz/fuzz.yaml");
        abort();
    }
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    fclose(f);
    fclose(m);
    if (config_parse_text(&cfg, EPSYNC_SOURCE_ROOT "/tests/fuzz/fuzz.yaml", text, len,
                          CONFIG_SECRETS, &e) < 0) {
        fprintf(stderr, "fuzz.yaml: %s\n", e.msg);
        abort();
    }
    free(text);
    return cfg;
}

/* An adapter for target name of the fixed configuration. */
static inline adapter *fuzz_adapter(const char *name)
{
    const struct config *cfg = fuzz_config();
    adapter *a;
    struct err e;
    if (adapter_new(&a, config_target(cfg, name), cfg, &e) < 0) {
        fprintf(stderr, "adapter %s: %s\n", name, e.msg);
        abort();
    }
    return a;
}

/* A request the adapter built may be sent as is: no header may carry a
 * line break or other control character from an answer (it would add
 * headers of the answer's choosing to the next request). */
static inline void fuzz_check_req(const struct http_req *req)
{
    for (const struct curl_slist *s = req->headers; s; s = s->next)
        for (const unsigned char *c = (const unsigned char *)s->data; *c; c++)
            if (*c < 0x20 || *c == 0x7F) {
                fprintf(stderr, "request header with control character 0x%02x\n", *c);
                abort();
            }
}

/* Every outcome is one the engine knows, with NUL-terminated texts, and
 * a success names the receipt the next update or withdraw must use. */
static inline void fuzz_check_outcomes(const struct outcome *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned)o[i].kind > OUTCOME_SPLIT
            || !memchr(o[i].code, '\0', sizeof o[i].code)
            || !memchr(o[i].message, '\0', sizeof o[i].message)
            || !memchr(o[i].receipt, '\0', sizeof o[i].receipt)
            || ((o[i].kind == OUTCOME_OK || o[i].kind == OUTCOME_ADOPT) && !o[i].receipt[0])) {
            fprintf(stderr, "outcome %zu is malformed\n", i);
            abort();
        }
}

#endif

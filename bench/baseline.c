/*
 * baseline - the naive sequential sync epsync is compared with.
 *
 *     baseline CONNINFO RELATION CITY_URL PROVINCE_URL MAX_SECONDS
 *
 * What a straightforward first version of the daemon would do, with the
 * same libraries (libpq, libcurl easy, json-c): for each target in turn,
 * walk the source relation by decision_id and, per delivery,
 *
 *   1. one query for the next due decision
 *        SELECT decision_id, to_jsonb(r) FROM RELATION r
 *        WHERE decision_id > $1 AND state = 'final' ORDER BY decision_id LIMIT 1
 *   2. one HTTP request (city: POST /api/v1/decisions with the row as the
 *      body; province: a batch of one record), on one reused easy handle
 *   3. one committed write of the outcome
 *        INSERT INTO bench_baseline.deliveries ... ON CONFLICT DO UPDATE
 *
 * It stops when both targets are done or after MAX_SECONDS, and prints
 * "deliveries=<n> seconds=<s> rate=<n/s>".  No validation, masking,
 * revisions, retries or audit: it does strictly less work than epsync, so
 * the ratio is a lower bound of what the engine's design buys.
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>

struct base_buf {
    char *p;
    size_t len;
};

static const char BASE_DDL[] =
    "CREATE SCHEMA IF NOT EXISTS bench_baseline;"
    "CREATE TABLE IF NOT EXISTS bench_baseline.deliveries ("
    " decision_id text NOT NULL, target text NOT NULL, receipt text,"
    " published_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (decision_id, target))";

static const char BASE_RECORD[] =
    "INSERT INTO bench_baseline.deliveries (decision_id, target, receipt) VALUES ($1, $2, $3) "
    "ON CONFLICT (decision_id, target) DO UPDATE SET receipt = EXCLUDED.receipt, "
    "published_at = now()";

static double base_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t base_collect(char *data, size_t size, size_t n, void *arg)
{
    struct base_buf *b = arg;
    char *q = realloc(b->p, b->len + size * n + 1);
    if (!q)
        return 0;
    memcpy(q + b->len, data, size * n);
    b->p = q;
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

/* POST body to url; the parsed JSON answer or NULL. */
static json_object *base_post(CURL *h, const char *url, struct curl_slist *hdrs,
                              const char *body)
{
    struct base_buf ans = { 0 };
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, base_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans);
    CURLcode rc = curl_easy_perform(h);
    json_object *obj = NULL;
    if (rc == CURLE_OK && ans.p)
        obj = json_tokener_parse(ans.p);
    else
        fprintf(stderr, "baseline: %s: %s\n", url, curl_easy_strerror(rc));
    free(ans.p);
    return obj;
}

static const char *base_path(json_object *o, const char *const *keys)
{
    for (; *keys && o; keys++) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, 0);
        else if (!json_object_object_get_ex(o, *keys, &o))
            return NULL;
    }
    return o ? json_object_get_string(o) : NULL;
}

/* One delivery of the decision `row` (its to_jsonb) to target `t`; the receipt. */
static char *base_deliver(CURL *h, int t, const char *base, const char *token,
                          const char *id, const char *row)
{
    static const char *const city_receipt[] = { "data", "receiptNo", NULL };
    static const char *const prov_receipt[] = { "data", "results", "", "recordId", NULL };
    char url[512], hdr[600];
    struct curl_slist *hdrs = curl_slist_append(NULL,
                                                "Content-Type: application/json; charset=utf-8");
    json_object *ans = NULL, *doc = json_tokener_parse(row);
    char *receipt = NULL;
    if (!doc)
        goto out;
    if (t == 0) {
        snprintf(url, sizeof url, "%s/api/v1/decisions", base);
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, hdr);
        snprintf(hdr, sizeof hdr, "Idempotency-Key: %s:%064d", id, 0);
        hdrs = curl_slist_append(hdrs, hdr);
        ans = base_post(h, url, hdrs, json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
        const char *r = base_path(ans, city_receipt);
        receipt = r ? strdup(r) : NULL;
    } else {
        json_object_object_add(doc, "SJLY_ID", json_object_new_string(id));
        json_object_object_add(doc, "BBH", json_object_new_string("0"));
        json_object *batch = json_object_new_object(), *recs = json_object_new_array();
        json_object_array_add(recs, doc);
        json_object_object_add(batch, "batchNo", json_object_new_string(id));
        json_object_object_add(batch, "records", recs);
        doc = batch;
        snprintf(url, sizeof url, "%s/gateway/v2/publicity/batch", base);
        ans = base_post(h, url, hdrs, json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
        const char *r = base_path(ans, prov_receipt);
        receipt = r ? strdup(r) : NULL;
    }
out:
    json_object_put(ans);
    json_object_put(doc);
    curl_slist_free_all(hdrs);
    return receipt;
}

static char *base_token(CURL *h, const char *base)
{
    static const char *const keys[] = { "access_token", NULL };
    char url[512];
    snprintf(url, sizeof url, "%s/oauth/token", base);
    struct curl_slist *hdrs = curl_slist_append(NULL,
                                                "Content-Type: application/x-www-form-urlencoded");
    json_object *ans = base_post(h, url, hdrs,
                                 "grant_type=client_credentials&client_id=b&client_secret=b");
    const char *t = base_path(ans, keys);
    char *tok = t ? strdup(t) : NULL;
    json_object_put(ans);
    curl_slist_free_all(hdrs);
    return tok;
}

/* "schema.table" quoted as identifiers (which cannot be $ parameters). */
static char *base_relation(PGconn *c, const char *name)
{
    const char *dot = strchr(name, '.');
    size_t slen = dot ? (size_t)(dot - name) : 0;
    char *schema = dot ? PQescapeIdentifier(c, name, slen) : NULL;
    const char *tname = dot ? dot + 1 : name;
    char *tbl = PQescapeIdentifier(c, tname, strlen(tname));
    char *out = NULL;
    if (tbl && (!dot || schema)) {
        size_t n = (schema ? strlen(schema) : 0) + strlen(tbl) + 2;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s%s%s", schema ? schema : "", schema ? "." : "", tbl);
    }
    PQfreemem(schema);
    PQfreemem(tbl);
    return out;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: baseline CONNINFO RELATION CITY_URL PROVINCE_URL MAX_SECONDS\n");
        return 64;
    }
    static const char *const names[] = { "city", "province" };
    const char *urls[] = { argv[3], argv[4] };
    double limit = atof(argv[5]);
    int rc = 1;
    long done = 0;
    char *token = NULL, *next = NULL;
    PGresult *r = NULL;
    CURL *h = NULL;
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "baseline: %s", PQerrorMessage(c));
        goto out;
    }
    r = PQexec(c, BASE_DDL);            /* fixed text, no parameters */
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "baseline: %s", PQresultErrorMessage(r));
        goto out;
    }
    PQclear(r);
    r = NULL;
    char *rel = base_relation(c, argv[2]);
    if (!rel)
        goto out;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT decision_id, to_jsonb(r)::text FROM %s r "
             "WHERE decision_id > $1 AND state = 'final' ORDER BY decision_id LIMIT 1", rel);
    free(rel);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    token = base_token(h, urls[0]);
    if (!token) {
        fprintf(stderr, "baseline: no token from %s\n", urls[0]);
        goto out;
    }
    double t0 = base_now();
    for (int t = 0; t < 2; t++) {
        next = strdup("");
        while (base_now() - t0 < limit) {
            const char *p1[] = { next };
            r = PQexecParams(c, sql, 1, NULL, p1, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                fprintf(stderr, "baseline: %s", PQresultErrorMessage(r));
                goto out;
            }
            if (PQntuples(r) == 0) {
                PQclear(r);
                r = NULL;
                break;
            }
            free(next);
            next = strdup(PQgetvalue(r, 0, 0));
            char *receipt = base_deliver(h, t, urls[t], token, next, PQgetvalue(r, 0, 1));
            PQclear(r);
            const char *p3[] = { next, names[t], receipt };
            r = PQexecParams(c, BASE_RECORD, 3, NULL, p3, NULL, NULL, 0);
            free(receipt);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "baseline: %s", PQresultErrorMessage(r));
                goto out;
            }
            PQclear(r);
            r = NULL;
            done++;
        }
        free(next);
        next = NULL;
    }
    double secs = base_now() - t0;
    printf("deliveries=%ld seconds=%.3f rate=%.1f\n", done, secs, secs > 0 ? done / secs : 0.0);
    rc = 0;
out:
    PQclear(r);
    free(next);
    free(token);
    if (h)
        curl_easy_cleanup(h);
    PQfinish(c);
    return rc;
}

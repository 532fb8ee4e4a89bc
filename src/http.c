/* http.c - see http.h.
 *
 * One CURLM drives every transfer; its connection cache gives keep-alive
 * and connection reuse per host.  Finished transfers are moved to a done
 * list that http_done() drains, so the engine sees results in the order
 * they completed.  Easy handles are kept in a small pool and reset for
 * reuse.  Nothing here logs: headers carry credentials and bodies carry
 * personal data. */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "sign.h"

#define HTTP_POOL_MAX 16
/* Above any sensible per-target max_in_flight: curl queues transfers
 * beyond it rather than opening ever more connections to one host. */
#define HTTP_MAX_HOST_CONNECTIONS 64
#define HTTP_MAX_CONNECTS 128
#define HTTP_RETRY_AFTER_MAX_S 86400LL

struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    struct http_req req;
    void *ctx;
    struct buf body;
    bool truncated;
    int64_t retry_after_ms;
    char content_type[64];
    char errbuf[CURL_ERROR_SIZE];
    char error[256];
    int64_t start_ms, latency_ms;
    struct xfer *next;
};

struct http {
    CURLM *multi;
    struct xfer *active;            /* in flight */
    struct xfer *done, *done_tail;  /* finished, waiting for http_done() */
    CURL *pool[HTTP_POOL_MAX];
    size_t npool, nactive;
};

/* ---- requests ------------------------------------------------------------ */

void http_req_init(struct http_req *req, const char *method, const char *url)
{
    static unsigned long fallback_seq;

    memset(req, 0, sizeof *req);
    req->method = method;
    req->url = xstrdup(url);
    if (sign_uuid(req->request_id) < 0)     /* CSPRNG failure: still unique per process */
        snprintf(req->request_id, sizeof req->request_id, "00000000-0000-4000-8000-%012lx",
                 ++fallback_seq);
}

void http_req_header(struct http_req *req, const char *name, const char *value)
{
    struct buf line = BUF_INIT;
    struct curl_slist *l;

    buf_printf(&line, "%s: %s", name, value);
    if (!(l = curl_slist_append(req->headers, line.data)))
        abort();                    /* out of memory: the xalloc policy of buf.h */
    req->headers = l;
    buf_free(&line);
}

void http_req_finish(struct http_req *req)
{
    sign_sha256_hex(req->body.data ? req->body.data : "", req->body.len, req->body_sha256);
}

void http_req_clear(struct http_req *req)
{
    /* The body may hold a client secret (a token request) or a decision;
     * the headers an Authorization. */
    free(req->url);
    sign_wipe(req->body.data, req->body.len);
    buf_free(&req->body);
    for (struct curl_slist *h = req->headers; h; h = h->next)
        sign_wipe(h->data, strlen(h->data));
    curl_slist_free_all(req->headers);
    memset(req, 0, sizeof *req);
}

void http_resp_clear(struct http_resp *resp)
{
    sign_wipe(resp->body, resp->body_len);   /* a token answer holds the token */
    free(resp->body);
    memset(resp, 0, sizeof *resp);
    resp->retry_after_ms = -1;
}

/* ---- the multi handle ------------------------------------------------------ */

int http_new(http **out, struct err *e)
{
    http *h = xcalloc(1, sizeof *h);

    *out = NULL;
    if (!(h->multi = curl_multi_init())) {
        free(h);
        return err_set(e, -ENOMEM, "http: curl_multi_init failed");
    }
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTP_MAX_HOST_CONNECTIONS);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_CONNECTS);
    *out = h;
    return 0;
}

static void xfer_free(http *h, struct xfer *x)
{
    if (x->easy) {
        if (h && h->npool < HTTP_POOL_MAX) {
            curl_easy_reset(x->easy);
            h->pool[h->npool++] = x->easy;
        } else {
            curl_easy_cleanup(x->easy);
        }
    }
    curl_slist_free_all(x->hdrs);
    http_req_clear(&x->req);
    buf_free(&x->body);
    free(x);
}

static void done_push(http *h, struct xfer *x)
{
    x->next = NULL;
    if (h->done_tail)
        h->done_tail->next = x;
    else
        h->done = x;
    h->done_tail = x;
}

static void active_unlink(http *h, struct xfer *x)
{
    for (struct xfer **p = &h->active; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            h->nactive--;
            return;
        }
}

void http_abandon_all(http *h)
{
    while (h->active) {
        struct xfer *x = h->active;
        curl_multi_remove_handle(h->multi, x->easy);
        active_unlink(h, x);
        snprintf(x->error, sizeof x->error, "abandoned");
        x->latency_ms = clock_mono_ms() - x->start_ms;
        done_push(h, x);
    }
}

void http_free(http *h)
{
    if (!h)
        return;
    http_abandon_all(h);
    while (h->done) {
        struct xfer *x = h->done;
        h->done = x->next;
        xfer_free(NULL, x);
    }
    for (size_t i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    curl_multi_cleanup(h->multi);
    free(h);
}

size_t http_in_flight(const http *h)
{
    return h ? h->nactive : 0;     /* none before http_new (a stop during start-up) */
}

/* ---- callbacks ------------------------------------------------------------- */

/* Keep at most HTTP_BODY_MAX bytes; past that, abort the transfer (a
 * short write) instead of reading megabytes we would throw away. */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n, room = HTTP_BODY_MAX - x->body.len;

    if (len > room) {
        buf_append(&x->body, p, room);
        x->truncated = true;
        return 0;
    }
    buf_append(&x->body, p, len);
    return len;
}

static void trim_copy(char *dst, size_t sz, const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'
                     || s[n - 1] == '\n'))
        n--;
    if (n >= sz)
        n = sz - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Retry-After: delay-seconds or an HTTP date (RFC 9110 10.2.3). */
static int64_t parse_retry_after(const char *v)
{
    char *end;
    long long secs;
    time_t when;

    if (*v >= '0' && *v <= '9') {
        errno = 0;
        secs = strtoll(v, &end, 10);
        if (*end != '\0')
            return -1;
        if (errno == ERANGE)
            secs = HTTP_RETRY_AFTER_MAX_S;
    } else {
        if ((when = curl_getdate(v, NULL)) == -1)
            return -1;
        secs = (long long)(when - time(NULL));
        if (secs < 0)
            secs = 0;
    }
    /* a platform asking for more than a day is not taken at its word */
    return (secs < HTTP_RETRY_AFTER_MAX_S ? secs : HTTP_RETRY_AFTER_MAX_S) * 1000;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    char val[128];
    static const char ra[] = "retry-after:", ct[] = "content-type:";

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {   /* a new response (after 1xx) */
        x->retry_after_ms = -1;
        x->content_type[0] = '\0';
    } else if (len > sizeof ra - 1 && strncasecmp(p, ra, sizeof ra - 1) == 0) {
        trim_copy(val, sizeof val, p + sizeof ra - 1, len - (sizeof ra - 1));
        x->retry_after_ms = parse_retry_after(val);
    } else if (len > sizeof ct - 1 && strncasecmp(p, ct, sizeof ct - 1) == 0) {
        trim_copy(x->content_type, sizeof x->content_type, p + sizeof ct - 1,
                  len - (sizeof ct - 1));
    }
    return len;
}

/* ---- submitting ------------------------------------------------------------ */

static bool set(const char *s)
{
    return s && *s;
}

static int setup(http *h, struct xfer *x, const struct target_cfg *t, struct err *e)
{
    CURL *c = x->easy;
    struct curl_slist *l = NULL;
    struct buf line = BUF_INIT;
    CURLcode rc = CURLE_OK;

    buf_printf(&line, "Content-Type: %s",
               x->req.content_type ? x->req.content_type : "application/json; charset=utf-8");
    l = curl_slist_append(l, line.data);
    buf_reset(&line);
    buf_printf(&line, "X-Request-Id: %s", x->req.request_id);
    l = curl_slist_append(l, line.data);
    l = curl_slist_append(l, "Accept: application/json");
    l = curl_slist_append(l, "Expect:");           /* no 100-continue round trip */
    for (struct curl_slist *s = x->req.headers; s; s = s->next)
        l = curl_slist_append(l, s->data);
    buf_free(&line);
    if (!l)
        return err_set(e, -ENOMEM, "http: out of memory for headers");
    x->hdrs = l;

#define OPT(o, v) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, o, v); } while (0)
    OPT(CURLOPT_URL, x->req.url);
    OPT(CURLOPT_PROTOCOLS_STR, "http,https");
    OPT(CURLOPT_NOSIGNAL, 1L);
    OPT(CURLOPT_HTTPHEADER, x->hdrs);
    OPT(CURLOPT_USERAGENT, "epsync/" EPSYNC_VERSION);
    OPT(CURLOPT_ERRORBUFFER, x->errbuf);
    OPT(CURLOPT_WRITEFUNCTION, on_body);
    OPT(CURLOPT_WRITEDATA, x);
    OPT(CURLOPT_HEADERFUNCTION, on_header);
    OPT(CURLOPT_HEADERDATA, x);
    OPT(CURLOPT_PRIVATE, x);
    OPT(CURLOPT_TCP_KEEPALIVE, 1L);
    OPT(CURLOPT_ACCEPT_ENCODING, "");
    OPT(CURLOPT_TIMEOUT_MS, (long)(t->timeout_ms > 0 ? t->timeout_ms : 30000));
    OPT(CURLOPT_SSL_VERIFYPEER, t->tls.verify ? 1L : 0L);
    OPT(CURLOPT_SSL_VERIFYHOST, t->tls.verify ? 2L : 0L);
    if (set(t->tls.ca_file))
        OPT(CURLOPT_CAINFO, t->tls.ca_file);
    if (set(t->tls.client_cert))
        OPT(CURLOPT_SSLCERT, t->tls.client_cert);
    if (set(t->tls.client_key))
        OPT(CURLOPT_SSLKEY, t->tls.client_key);
    /* "" means a direct connection: the configuration says where to go,
     * not whatever *_proxy variables the environment happens to hold */
    OPT(CURLOPT_PROXY, set(t->proxy) ? t->proxy : "");
    if (strcmp(x->req.method, "GET") == 0) {
        OPT(CURLOPT_HTTPGET, 1L);
    } else {
        OPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->req.body.len);
        OPT(CURLOPT_POSTFIELDS, x->req.body.data ? x->req.body.data : "");
        if (strcmp(x->req.method, "POST") != 0)
            OPT(CURLOPT_CUSTOMREQUEST, x->req.method);
    }
#undef OPT
    (void)h;
    if (rc != CURLE_OK)
        return err_set(e, -EINVAL, "http: setting up %s request: %s", x->req.method,
                       curl_easy_strerror(rc));
    return 0;
}

int http_submit(http *h, const struct target_cfg *t, struct http_req *req, void *ctx,
                struct err *e)
{
    struct xfer *x = xcalloc(1, sizeof *x);
    CURLMcode mc;
    int rc;

    x->req = *req;
    memset(req, 0, sizeof *req);
    x->ctx = ctx;
    x->retry_after_ms = -1;
    x->easy = h->npool ? h->pool[--h->npool] : curl_easy_init();
    if (!x->easy) {
        rc = err_set(e, -ENOMEM, "http: curl_easy_init failed");
        goto fail;
    }
    if ((rc = setup(h, x, t, e)) < 0)
        goto fail;
    x->start_ms = clock_mono_ms();
    if ((mc = curl_multi_add_handle(h->multi, x->easy)) != CURLM_OK) {
        rc = err_set(e, -EIO, "http: adding a transfer: %s", curl_multi_strerror(mc));
        goto fail;
    }
    x->next = h->active;
    h->active = x;
    h->nactive++;
    return 0;
fail:
    xfer_free(h, x);
    return rc;
}

/* One line: curl's generic message, then its detail when it adds any. */
static void transport_error(struct xfer *x, CURLcode code)
{
    const char *generic = curl_easy_strerror(code);
    size_t l = strlen(x->errbuf);
    struct buf line = BUF_INIT;

    while (l > 0 && (x->errbuf[l - 1] == '\n' || x->errbuf[l - 1] == '\r'))
        x->errbuf[--l] = '\0';
    if (l && strstr(x->errbuf, generic))      /* the detail often ends with it */
        buf_puts(&line, x->errbuf);
    else if (l)
        buf_printf(&line, "%s: %s", generic, x->errbuf);
    else
        buf_puts(&line, generic);
    snprintf(x->error, sizeof x->error, "%.*s", (int)(sizeof x->error - 1), line.data);
    buf_free(&line);
    for (char *p = x->error; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

static void collect(http *h)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
        struct xfer *x = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode res = m->data.result;
        curl_multi_remove_handle(h->multi, x->easy);
        active_unlink(h, x);
        x->latency_ms = clock_mono_ms() - x->start_ms;
        /* a body cut at the cap is an answer, not a transport failure */
        if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && x->truncated))
            transport_error(x, res);
        done_push(h, x);
    }
}

int http_wait(http *h, int timeout_ms, struct curl_waitfd *extra, unsigned nextra,
              struct err *e)
{
    int running, numfds;
    CURLMcode mc;

    if ((mc = curl_multi_perform(h->multi, &running)) != CURLM_OK)
        return err_set(e, -EIO, "http: %s", curl_multi_strerror(mc));
    collect(h);
    if (h->done)
        timeout_ms = 0;      /* results are waiting: only look at the descriptors */
    if ((mc = curl_multi_poll(h->multi, extra, nextra, timeout_ms, &numfds)) != CURLM_OK)
        return err_set(e, -EIO, "http: %s", curl_multi_strerror(mc));
    if ((mc = curl_multi_perform(h->multi, &running)) != CURLM_OK)
        return err_set(e, -EIO, "http: %s", curl_multi_strerror(mc));
    collect(h);
    return 0;
}

int http_done(http *h, void **ctx, struct http_resp *resp)
{
    struct xfer *x = h->done;
    long status = 0;

    if (!x)
        return 0;
    h->done = x->next;
    if (!h->done)
        h->done_tail = NULL;

    memset(resp, 0, sizeof *resp);
    if (!x->error[0] && x->easy)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    resp->status = x->error[0] ? 0 : status;
    resp->body_len = x->body.len;
    resp->body = buf_steal(&x->body);
    resp->truncated = x->truncated;
    resp->retry_after_ms = x->retry_after_ms;
    snprintf(resp->content_type, sizeof resp->content_type, "%s", x->content_type);
    snprintf(resp->error, sizeof resp->error, "%s", x->error);
    resp->latency_ms = x->latency_ms;
    *ctx = x->ctx;
    xfer_free(h, x);
    return 1;
}

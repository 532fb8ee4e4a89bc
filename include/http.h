/* http.h - HTTP requests over one libcurl multi handle.
 *
 * The engine submits requests with an opaque context pointer, waits on the
 * multi handle (plus its own descriptors: signals, the libpq socket), and
 * collects finished requests.  Connections are reused per host.  Response
 * bodies are capped at HTTP_BODY_MAX; a bigger one is cut and flagged. */
#ifndef EPSYNC_HTTP_H
#define EPSYNC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "config.h"
#include "err.h"

#define HTTP_BODY_MAX (1024 * 1024)

struct http_req {
    const char *method;           /* "GET", "POST", "PUT" (static string) */
    char *url;                    /* owned */
    const char *content_type;     /* static; NULL: application/json; charset=utf-8 */
    struct buf body;
    struct curl_slist *headers;   /* owned; extra headers ("Authorization: ..."), never logged */
    char request_id[37];          /* X-Request-Id, a fresh UUID per attempt */
    char body_sha256[65];         /* hex SHA-256 of body, for the audit */
};

struct http_resp {
    long status;                  /* 0 when no HTTP answer arrived */
    char *body;                   /* owned, NUL-terminated, at most HTTP_BODY_MAX bytes */
    size_t body_len;
    bool truncated;               /* body was larger than HTTP_BODY_MAX */
    int64_t retry_after_ms;       /* from Retry-After, -1 when absent */
    char content_type[64];        /* Content-Type of the answer, "" when none */
    char error[256];              /* transport failure in one line, "" when none */
    int64_t latency_ms;
};

/* Initialise req: method, url (copied), fresh request id; body empty. */
void http_req_init(struct http_req *req, const char *method, const char *url);
/* Add "Name: value" (copied). */
void http_req_header(struct http_req *req, const char *name, const char *value);
/* Compute body_sha256 (call after the body is final). */
void http_req_finish(struct http_req *req);
void http_req_clear(struct http_req *req);
void http_resp_clear(struct http_resp *resp);

typedef struct http http;

int http_new(http **out, struct err *e);
void http_free(http *h);            /* abandons anything in flight */

/* Start req towards target t (TLS, proxy, timeout from t).  Takes
 * ownership of req's contents (req is left cleared), on failure too.
 * t->proxy "" means a direct connection, whatever the environment's
 * *_proxy variables say.  Retry-After (seconds or an HTTP date) is
 * capped at one day.  Nothing here logs headers or bodies. */
int http_submit(http *h, const struct target_cfg *t, struct http_req *req, void *ctx,
                struct err *e);
/* Wait up to timeout_ms for transfers or the extra descriptors. */
int http_wait(http *h, int timeout_ms, struct curl_waitfd *extra, unsigned nextra,
              struct err *e);
/* Collect one finished request: returns 1 and fills *ctx and *resp
 * (caller clears resp), 0 when none is finished. */
int http_done(http *h, void **ctx, struct http_resp *resp);
size_t http_in_flight(const http *h);      /* 0 for NULL */
/* Abort every transfer; each comes back from http_done with error "abandoned". */
void http_abandon_all(http *h);

#endif

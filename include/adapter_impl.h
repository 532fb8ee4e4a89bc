/* adapter_impl.h - what the protocol adapters share (internal to
 * adapter.c, adapter_city.c and adapter_province.c).
 *
 * struct adapter holds copies of what the adapter needs from its target's
 * configuration (so a reload that frees the old configuration does not
 * pull strings from under a live adapter), its field mappings, and the
 * protocol's own state behind `priv`. */
#ifndef EPSYNC_ADAPTER_IMPL_H
#define EPSYNC_ADAPTER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "mapping.h"

struct json_object;

struct adapter_ops {
    const char *protocol;
    int (*init)(adapter *a, struct err *e);
    void (*fini)(adapter *a);
    size_t (*batch_max)(const adapter *a, enum op op);
    enum adapter_state (*prepare)(adapter *a, int64_t now_ms, struct http_req *auth_req,
                                  char *msg, size_t msgsz);
    void (*auth_done)(adapter *a, const struct http_resp *resp, int64_t now_ms);
    int (*build)(adapter *a, struct delivery *const *d, size_t n, size_t *used,
                 int64_t now_ms, struct http_req *req, struct err *e);
    void (*parse)(adapter *a, struct delivery *const *d, size_t n,
                  const struct http_resp *resp, struct outcome *out);
};

struct adapter {
    const struct adapter_ops *ops;
    char *name;                 /* target name */
    char *base_url;             /* no trailing slash */
    char *client_id;            /* city client_id / province app_id */
    char *secret;               /* never logged, never in a message */
    char *secret_from;          /* "file /path": says where to fix a refused secret */
    int batch_size;
    int token_auth;             /* enum token_auth */
    mapping *map[MAP_TABLE_COUNT];   /* the tables this protocol uses; others NULL */
    void *priv;
};

extern const struct adapter_ops adapter_city_ops;
extern const struct adapter_ops adapter_province_ops;

/* Start an outcome from resp: TRANSIENT, http status and Retry-After
 * copied, no code, message or receipt. */
void adapter_outcome_init(struct outcome *o, const struct http_resp *resp);
/* Set kind, code (NULL: none) and a message (printf format). */
void adapter_outcome_set(struct outcome *o, enum outcome_kind kind, const char *code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Copy s into dst of size sz on one line, cut on a UTF-8 character
 * boundary (platform messages are kept verbatim, but must stay valid
 * text in the audit and the report). */
void adapter_copy_text(char *dst, size_t sz, const char *s);

/* Failures the protocols classify alike: no answer (transport error),
 * HTTP 429 and HTTP 5xx.  Fills o (TRANSIENT) and returns true when resp
 * is one of them. */
bool adapter_common_failure(const struct http_resp *resp, struct outcome *o);
/* Parse resp's body as a JSON object.  NULL with a one-line reason in why
 * ("response truncated at 1 MiB", "HTTP 200 with a non-JSON body
 * (text/html)", ...) when it is not one.  The caller puts the result. */
struct json_object *adapter_json_body(const struct http_resp *resp, char *why, size_t whysz);
/* A string member of obj, or NULL when absent or not a string. */
const char *adapter_json_str(struct json_object *obj, const char *key);

/* One string member of a flat JSON object being written onto body: '{'
 * before the first (body empty), ',' before the others; the caller closes
 * it with '}'.  Escaped as the request bodies are (mapping_write). */
void adapter_json_member(struct buf *body, const char *key, const char *value);

/* Percent-encode s (RFC 3986 unreserved characters kept) onto out. */
void adapter_url_escape(struct buf *out, const char *s);
/* The path part of url (no scheme, host, query or fragment): "/" at least. */
void adapter_url_path(struct buf *out, const char *url);

#endif

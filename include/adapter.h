/* adapter.h - where a decision becomes an HTTP request.
 *
 * One adapter per configured target, speaking that target's protocol
 * (PROTOCOLS.md): it builds the request for a batch of deliveries (payload
 * mapping, signing, headers) and classifies the answer into one outcome
 * per delivery.  Authentication that needs its own request (the city's
 * OAuth token) is driven through adapter_prepare()/adapter_auth_done().
 * Adapters do no I/O themselves: the engine sends what they build. */
#ifndef EPSYNC_ADAPTER_H
#define EPSYNC_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "delivery.h"
#include "err.h"
#include "http.h"

typedef struct adapter adapter;

enum adapter_state {
    ADAPTER_READY,     /* requests can be built now */
    ADAPTER_AUTH,      /* send *auth_req first, then adapter_auth_done() */
    ADAPTER_WAIT,      /* an auth request is in flight */
    ADAPTER_BROKEN,    /* credentials refused: target paused, msg says why */
};

int adapter_new(adapter **out, const struct target_cfg *t, const struct config *cfg,
                struct err *e);
void adapter_free(adapter *a);

/* How many deliveries of this operation one request may carry. */
size_t adapter_batch_max(const adapter *a, enum op op);

/* Ready to send at now_ms?  May fill auth_req (ADAPTER_AUTH). On
 * ADAPTER_BROKEN, msg (when not NULL) gets the reason. */
enum adapter_state adapter_prepare(adapter *a, int64_t now_ms, struct http_req *auth_req,
                                   char *msg, size_t msgsz);
void adapter_auth_done(adapter *a, const struct http_resp *resp, int64_t now_ms);

/* Build one request for d[0..n) (same op; n <= adapter_batch_max).
 * now_ms is the wall clock (signing timestamps).  A delivery that cannot
 * be mapped makes the call fail with e naming the decision and field. */
int adapter_build(adapter *a, struct delivery *const *d, size_t n, int64_t now_ms,
                  struct http_req *req, struct err *e);

/* Classify resp into out[0..n), one outcome per delivery. */
void adapter_parse(adapter *a, struct delivery *const *d, size_t n,
                   const struct http_resp *resp, struct outcome *out);

#endif

/* adapter.h - where a decision becomes an HTTP request.
 *
 * One adapter per configured target, speaking that target's protocol
 * (docs/protocols.md): it builds the request for a batch of deliveries (payload
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
    ADAPTER_WAIT,      /* not yet: an auth request is in flight, or the last
                          one failed and the next waits for a pause (msg says
                          why); ask again later */
    ADAPTER_BROKEN,    /* credentials refused: target paused, msg says why */
};

int adapter_new(adapter **out, const struct target_cfg *t, const struct config *cfg,
                struct err *e);
void adapter_free(adapter *a);

/* How many deliveries of this operation one request may carry. */
size_t adapter_batch_max(const adapter *a, enum op op);

/* Ready to send at now_ms?  May fill auth_req (ADAPTER_AUTH). On
 * ADAPTER_BROKEN (and ADAPTER_WAIT after a failed auth request), msg
 * (when not NULL) gets the reason; it never contains a secret.
 * auth_req is sent like any request (http_submit takes it over); its
 * answer goes to adapter_auth_done().  READY may come back while a
 * renewal is in flight, as long as the current token is still valid. */
enum adapter_state adapter_prepare(adapter *a, int64_t now_ms, struct http_req *auth_req,
                                   char *msg, size_t msgsz);
void adapter_auth_done(adapter *a, const struct http_resp *resp, int64_t now_ms);

/* Build one request for d[0..n) (same op; n <= adapter_batch_max).
 * now_ms is the wall clock (signing timestamps).  A delivery that cannot
 * be mapped makes the call fail with e naming the decision and field.
 *
 * A platform may also cap the request's size (province: 2 MiB).  With
 * `used` not NULL the request carries the first *used deliveries that fit
 * (1 <= *used <= n); the engine then parses with n = *used and offers
 * the rest again in another request.  With `used` NULL all n must fit or
 * the call fails.  A single delivery too large on its own always fails. */
int adapter_build(adapter *a, struct delivery *const *d, size_t n, size_t *used,
                  int64_t now_ms, struct http_req *req, struct err *e);

/* Classify resp into out[0..n), one outcome per delivery. */
void adapter_parse(adapter *a, struct delivery *const *d, size_t n,
                   const struct http_resp *resp, struct outcome *out);

#endif

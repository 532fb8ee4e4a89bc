/* delivery.h - the core vocabulary: operations, the unit of work between
 * the engine and the adapters, and what a platform's answer means.
 *
 * The engine claims rows of epsync.deliveries, turns each into a struct
 * delivery (with the decision's masked fields), hands batches of them to
 * the target's adapter to become one HTTP request, and gets one struct
 * outcome per delivery back. */
#ifndef EPSYNC_DELIVERY_H
#define EPSYNC_DELIVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct json_object;

/* One decision's field set as JSON text, shared by the deliveries handed
 * over to its targets, with the object parsed from it on first use: the
 * targets parse it once between them.  The object is kept until each of
 * the `users` has been built once (or dropped), then freed; the text
 * until the last reference goes.  Made on any thread; its object is
 * parsed, used and freed on the loop's thread only. */
struct fieldset;
struct fieldset *fieldset_new(const char *text, unsigned users);   /* users references */
const char *fieldset_text(const struct fieldset *f);
/* Drop one user's reference (one that was never built). */
void fieldset_drop(struct fieldset *f);

enum op { OP_PUBLISH, OP_UPDATE, OP_WITHDRAW };
const char *op_name(enum op op);    /* "publish" | "update" | "withdraw" */

struct delivery {
    char *decision_id;
    char *target;                 /* target name (key under targets:) */
    enum kind kind;
    enum op op;
    char *revision;               /* 64 hex digits: the revision this attempt sends */
    char *receipt;                /* receipt held by the platform, NULL when none */
    char *withdraw_type;          /* REVOKED | EXPIRED | OPERATOR (withdraw only) */
    char *withdraw_reason;
    struct json_object *fields;   /* masked field set (owned); also decided_on etc. */
    char *fields_text;            /* the same as JSON text (owned), NULL when only parsed:
                                     parsed while a request is built (delivery_fields), so
                                     that waiting deliveries hold text, not objects */
    struct fieldset *shared;      /* instead of fields_text: the decision's shared set (a
                                     reference owned), NULL when none */
    bool shared_built;            /* this delivery no longer needs shared's object */
    char *publicity_end;          /* "YYYY-MM-DD" or NULL */
    int attempt;                  /* 1-based number of this attempt of this operation */
    unsigned auth_gen;            /* adapter's token generation the request carried */
    int64_t lease_token;          /* the row's lease this process holds (0: none) */
    int64_t lease_until;          /* monotonic ms by which the lease has surely ended */
    char due_on[11];              /* the decision's deadline "YYYY-MM-DD", "" when none */
};

/* A delivery of decision_id to target (kind: enum kind, -1 unknown, taken
 * as other); the other members are NULL / 0 until set.  The one
 * constructor: claims (queue.c) and the hand-over (detector.c) use it. */
struct delivery *delivery_new(const char *decision_id, const char *target, int kind, enum op op,
                              const char *revision, int attempt);
void delivery_free(struct delivery *d);   /* frees members and d itself */
/* The parsed field set (from fields_text or shared on first use; an empty
 * object when the text is not JSON). */
struct json_object *delivery_fields(struct delivery *d);
/* Drop the parsed field set when the text can give it again. */
void delivery_fields_release(struct delivery *d);

enum outcome_kind {
    OUTCOME_OK,          /* published / updated / withdrawn: receipt set */
    OUTCOME_TRANSIENT,   /* try again later (retry_after_ms when given) */
    OUTCOME_PERMANENT,   /* rejected for good: message kept verbatim */
    OUTCOME_ADOPT,       /* city 1002: already published under `receipt`; update if revision differs */
    OUTCOME_GONE,        /* withdraw of something the platform no longer has: withdrawn */
    OUTCOME_NOT_FOUND,   /* update of an unknown receipt: publish again */
    OUTCOME_REAUTH,      /* token revoked: renew and repeat at once; not an attempt */
    OUTCOME_SPLIT,       /* batch too large (413): split and resend; not an attempt */
};
const char *outcome_name(enum outcome_kind k);

struct outcome {
    enum outcome_kind kind;
    int http_status;              /* 0: no HTTP answer */
    char code[32];                /* platform code ("1001", "F0102", "A0402"), or "" */
    char message[512];            /* platform message verbatim, or a one-line reason */
    char receipt[128];            /* receiptNo / recordId when known */
    int64_t retry_after_ms;       /* -1: none given */
    bool pause_target;            /* e.g. bad credentials: pause the whole target */
};

#endif

/* audit.h - the append-only, hash-chained audit log.
 *
 * Each event stores hash = SHA-256(prev_hash || canonical(event)).  The
 * chain head lives in epsync.audit_head and is row-locked by every append,
 * so several daemons and CLI commands produce one total order.  Call
 * audit_append() inside the transaction that makes the change it records:
 * the event and the change commit together or not at all. */
#ifndef EPSYNC_AUDIT_H
#define EPSYNC_AUDIT_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "db.h"
#include "err.h"

struct audit_event {
    const char *actor;        /* "daemon" or the OS user */
    const char *decision_id;  /* may be NULL */
    const char *target;       /* may be NULL */
    const char *operation;    /* detect, state, attempt, retry, withdraw, ... */
    int attempt;              /* 0: none */
    int http_status;          /* 0: none */
    const char *code;
    const char *message;
    int latency_ms;           /* -1: none */
    const char *receipt;
    const char *body_sha256;
    const char *detail;       /* e.g. "pending->published" */
};

/* Append n events (in a transaction already begun on d). */
int audit_append(db *d, const struct audit_event *ev, size_t n, struct err *e);

/* Recompute the chain; 0 intact, 1 broken (first broken seq written to
 * out), negative on database error. */
int audit_verify(db *d, FILE *out, struct err *e);

/* The canonical serialisation hashed for one stored event (fields as text,
 * NULL allowed): exposed for the unit test. */
void audit_canonical(struct buf *out, const char *const *fields, size_t n);

/* The OS user running this process (for CLI actions). */
const char *audit_os_user(void);

#endif

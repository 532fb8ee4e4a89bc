/* audit.h - the append-only, hash-chained audit log.
 *
 * Each event stores hash = SHA-256(prev_hash || canonical(event))
 * (docs/audit.md).  The chain head is the newest event, read under an
 * advisory lock every append takes, so several daemons and CLI commands
 * produce one total order.  Call
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

#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* The newest event's seq and hash (0 and AUDIT_GENESIS when none). */
int audit_head(db *d, long long *seq, char hash[65], struct err *e);

/* Recompute the chain; 0 intact, 1 broken (first broken seq written to
 * out), negative on database error.  With anchors (may be NULL) also 1
 * when an anchored head is no longer in the chain (anchor.h). */
struct anchor_set;
int audit_verify(db *d, FILE *out, struct anchor_set *anchors, struct err *e);

/* `epsync verify-audit [--anchors FILE --public-key FILE]`: exit code. */
struct config;
int audit_main(const struct config *cfg, int argc, char **argv);

/* The canonical serialisation hashed for one stored event (fields as text,
 * NULL allowed): exposed for the unit test. */
void audit_canonical(struct buf *out, const char *const *fields, size_t n);

/* Log a warning when the connected role could rewrite the audit log
 * (owns it, is a superuser, or may UPDATE, DELETE or TRUNCATE it). */
void audit_warn_privileges(db *d);

/* The OS user running this process (for CLI actions). */
const char *audit_os_user(void);

#endif

/* anchor.h - signed anchors of the audit chain, kept outside the database.
 *
 * Every audit.anchor_every, at start and at shutdown the daemon signs the
 * chain head (seq, hash, time) with an Ed25519 key the database never sees
 * and appends the signed line to audit.anchor_file (docs/audit.md gives
 * the format).  Whoever can rewrite the database cannot forge an anchor,
 * so `epsync verify-audit --anchors FILE --public-key FILE` catches a
 * chain rewritten after it was anchored, even a consistent one. */
#ifndef EPSYNC_ANCHOR_H
#define EPSYNC_ANCHOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "err.h"

typedef struct anchor anchor;

/* Load the private key named by cfg->audit.anchor_key_file (a PEM file
 * readable by its owner only).  No key file configured: *out = NULL, 0. */
int anchor_open(anchor **out, const struct config *cfg, struct err *e);
/* Wipes the key. */
void anchor_close(anchor *a);
/* When due at now (monotonic ms) or when force: sign the head and append
 * it; a head already anchored by this process is not anchored again.
 * Failures are logged and tried again at the next interval. */
void anchor_tick(anchor *a, db *d, int64_t now, bool force);

/* The text signed for one anchor ("epsync-anchor/1 seq=… hash=… at=…"). */
void anchor_message(struct buf *out, long long seq, const char *hash, const char *at);

/* Verification: the anchors of a file, each checked against the public key. */
struct anchor_set;
/* Reads every line; a line that does not parse or whose signature does not
 * verify is an error naming it (returns 1, said on out). */
int anchor_set_load(struct anchor_set **out, const char *path, const char *pubkey_path,
                    FILE *report, struct err *e);
/* The chain's event seq has hash. */
void anchor_set_see(struct anchor_set *s, long long seq, const char *hash);
/* After the walk: 0 when every anchored head was seen with its hash; else
 * 1, naming the first anchor (in file order) that no longer matches. */
int anchor_set_report(const struct anchor_set *s, long long last_seq, FILE *out);
void anchor_set_free(struct anchor_set *s);

#endif

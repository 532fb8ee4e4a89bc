/* window.h - what a poll read of the overlap window, to skip it next time.
 *
 * One page of keys a poll read from the overlap window: the keys in
 * (lower, upper], and a digest of them.  When the next poll reads the
 * same range and finds the same keys, nothing in it changed since, and
 * the comparison with the state database is skipped: after a bulk load
 * the window holds the whole backlog, and each poll would otherwise
 * compare all of it again.  Bounds are compared as the text the source
 * gave, never ordered here (the source's collation orders ids).
 */
#ifndef EPSYNC_WINDOW_H
#define EPSYNC_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

struct window_page {
    char lower_upd[40], upper_upd[40];
    char *lower_id, *upper_id;    /* NULL: the window start */
    char digest[65];
};

struct window {
    struct window_page *p;
    size_t n, cap;
};

void window_clear(struct window *w);
/* Two keys (updated_at text, id; NULL id: the window start) are the same. */
bool window_same_key(const char *upd_a, const char *id_a, const char *upd_b, const char *id_b);
/* The page of prev that started at (upd, id), NULL when none did. */
const struct window_page *window_from(const struct window *prev, const char *upd, const char *id);
/* Row index of the first key of r (columns updated_at, id) at which a page
 * of prev started (a page boundary), -1 when none. */
int window_boundary(const struct window *prev, PGresult *r);
void window_add(struct window *w, const char *lower_upd, const char *lower_id,
                const char *upper_upd, const char *upper_id, const char *digest);
/* The digest of the keys in rows 0..n-1 of keys (columns updated_at, id). */
void window_digest(PGresult *keys, int n, char out[65]);

#endif

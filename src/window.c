/* window.c - see window.h. */
#include "window.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sign.h"

void window_clear(struct window *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->p[i].lower_id);
        free(w->p[i].upper_id);
    }
    free(w->p);
    memset(w, 0, sizeof *w);
}

bool window_same_key(const char *upd_a, const char *id_a, const char *upd_b, const char *id_b)
{
    if (strcmp(upd_a, upd_b) != 0)
        return false;
    if (!id_a || !id_b)
        return id_a == id_b;
    return strcmp(id_a, id_b) == 0;
}

/* The page of the last poll that started where this poll is now, NULL
 * when none did. */
const struct window_page *window_from(const struct window *prev, const char *upd, const char *id)
{
    for (size_t i = 0; i < prev->n; i++)
        if (window_same_key(prev->p[i].lower_upd, prev->p[i].lower_id, upd, id))
            return &prev->p[i];
    return NULL;
}

/* Row index of the first key in r that a page of the last poll started
 * from (a page boundary), -1 when none. */
int window_boundary(const struct window *prev, PGresult *r)
{
    if (!prev->n)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        if (window_from(prev, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)))
            return i;
    return -1;
}

void window_add(struct window *w, const char *lower_upd, const char *lower_id,
                const char *upper_upd, const char *upper_id, const char *digest)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->p = xrealloc(w->p, w->cap * sizeof *w->p);
    }
    struct window_page *p = &w->p[w->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->lower_upd, sizeof p->lower_upd, "%s", lower_upd);
    snprintf(p->upper_upd, sizeof p->upper_upd, "%s", upper_upd);
    p->lower_id = lower_id ? xstrdup(lower_id) : NULL;
    p->upper_id = upper_id ? xstrdup(upper_id) : NULL;
    memcpy(p->digest, digest, sizeof p->digest);
}

void window_digest(PGresult *keys, int n, char out[65])
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s\x1f%s\x1e", PQgetvalue(keys, i, 0), PQgetvalue(keys, i, 1));
    sign_sha256_hex(b.data ? b.data : "", b.len, out);
    buf_free(&b);
}

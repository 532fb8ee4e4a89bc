/* buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Allocation failure aborts the process (xalloc policy): epsync cannot do
 * anything useful without memory, and checking every append would bury
 * the logic. */
#ifndef EPSYNC_BUF_H
#define EPSYNC_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
    char *data;    /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* s[0..len) as the characters of a JSON string (no quotes), with only the
 * escapes JSON requires: \" \\ \n \r \t \b \f and \u00XX for the other
 * control characters.  buf_json_string() adds the quotes.  The one JSON
 * string escaper: the revision's canonical form and the JSON log use it. */
void buf_json_chars(struct buf *b, const char *s, size_t len);
void buf_json_string(struct buf *b, const char *s, size_t len);
void buf_reset(struct buf *b);            /* len = 0, keeps the memory */
void buf_free(struct buf *b);
/* Hand over ownership of the string; b becomes empty. Never NULL. */
char *buf_steal(struct buf *b);
const char *buf_str(const struct buf *b); /* "" when empty */

/* Allocation helpers that abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);            /* xstrdup(NULL) == NULL */
char *xstrndup(const char *s, size_t n);

#endif

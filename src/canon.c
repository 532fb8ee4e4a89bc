/* canon.c - canonical JSON and revision hashes (see canon.h).
 *
 * The revision must not change unless a field does: key order, json-c's
 * own escaping choices (it escapes '/' and non-ASCII on request) and the
 * spelling of numbers must not leak into it.  So keys are sorted by
 * bytes, strings carry only the escapes RFC 8259 requires, and numbers
 * keep the text they were parsed from (json-c keeps it for doubles:
 * "1000.00" stays "1000.00", not 1000). */
#include "canon.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_object(struct buf *out, struct json_object *obj)
{
    size_t n = (size_t)json_object_object_length(obj), i = 0;
    const char **keys = xcalloc(n ? n : 1, sizeof *keys);
    json_object_object_foreach(obj, k, v) {
        (void)v;
        keys[i++] = k;
    }
    qsort(keys, n, sizeof *keys, cmp_keys);
    buf_putc(out, '{');
    for (i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ',');
        buf_json_string(out, keys[i], strlen(keys[i]));
        buf_putc(out, ':');
        canon_json(out, json_object_object_get(obj, keys[i]));
    }
    buf_putc(out, '}');
    free(keys);
}

void canon_json(struct buf *out, struct json_object *obj)
{
    switch (json_object_get_type(obj)) {
    case json_type_null:
        buf_puts(out, "null");
        break;
    case json_type_boolean:
        buf_puts(out, json_object_get_boolean(obj) ? "true" : "false");
        break;
    case json_type_int:
    case json_type_double:
        /* The text the number was parsed from (or json-c's own rendering
         * of a number built in memory). */
        buf_puts(out, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
        break;
    case json_type_string:
        buf_json_string(out, json_object_get_string(obj), (size_t)json_object_get_string_len(obj));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(obj);
        buf_putc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                buf_putc(out, ',');
            canon_json(out, json_object_array_get_idx(obj, i));
        }
        buf_putc(out, ']');
        break;
    }
    case json_type_object:
        put_object(out, obj);
        break;
    }
}

void canon_revision(struct json_object *fields, char out[65])
{
    struct buf b = BUF_INIT;
    canon_revision_text(fields, out, &b);
    buf_free(&b);
}

void canon_revision_text(struct json_object *fields, char out[65], struct buf *text)
{
    size_t from = text->len;
    canon_json(text, fields);
    sign_sha256_hex(buf_str(text) + from, text->len - from, out);
}

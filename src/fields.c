/* fields.c - see fields.h. */
#include "fields.h"

#include <json-c/json.h>

const char *fields_text(struct json_object *fields, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(fields, key, &v) || !v)
        return NULL;
    switch (json_object_get_type(v)) {
    case json_type_string:
    case json_type_int:
    case json_type_double:
    case json_type_boolean:
        return json_object_get_string(v);
    default:
        return NULL;
    }
}

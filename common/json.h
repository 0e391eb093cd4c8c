/* json-c helpers: parsing bodies, typed field access, JSON answers. */
#ifndef REGISTRY_JSON_H
#define REGISTRY_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct http_txn;
struct http_headers;

/* Parses exactly one JSON value; NULL with *cause on error. */
json_object *js_parse(const char *buf, size_t len, char **cause);
json_object *js_parse_buffer(struct evbuffer *buf, char **cause);
/* A string member, or NULL when missing or not a string. */
const char *js_str(json_object *obj, const char *key);
/* An integer member (also given as a decimal string, as form-minded clients send); false if
 * missing or not an integer. */
bool js_int(json_object *obj, const char *key, int64_t *out);
/* A boolean member (true/false, or "true"/"false"); false if missing or not one. */
bool js_bool(json_object *obj, const char *key, bool *out);
/* Serialises compactly, without escaping '/'. The string belongs to obj. */
const char *js_text(json_object *obj);
/* Answers status with obj as application/json; takes obj. extra may be NULL. */
void js_respond(struct http_txn *txn, int status, const struct http_headers *extra,
                json_object *obj);
/* Answers status with text that is JSON already (a literal such as "true", a fixed body). */
void js_respond_text(struct http_txn *txn, int status, const char *text);
json_object *js_new_str_or_null(const char *s);
/* "a,b" (a column of names joined with commas) as a JSON array of strings; NULL as []. */
json_object *js_csv_array(const char *csv);

#endif

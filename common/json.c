/* json-c helpers. */
#include "json.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "http.h"
#include "util.h"

json_object *
js_parse(const char *buf, size_t len, char **cause)
{
	if (len > INT32_MAX) {
		*cause = xstrdup("JSON document too large");
		return NULL;
	}
	json_tokener *tok = json_tokener_new();
	json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (obj == NULL || err != json_tokener_success) {
		*cause = xasprintf("invalid JSON: %s", err == json_tokener_continue
		                                               ? "unexpected end of input"
		                                               : json_tokener_error_desc(err));
		json_object_put(obj);
		return NULL;
	}
	for (size_t i = used; i < len; i++) {
		if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t') {
			*cause = xstrdup("invalid JSON: trailing data after the document");
			json_object_put(obj);
			return NULL;
		}
	}
	return obj;
}

json_object *
js_parse_buffer(struct evbuffer *buf, char **cause)
{
	size_t len = evbuffer_get_length(buf);
	const char *p = len ? (const char *)evbuffer_pullup(buf, -1) : "";
	return js_parse(p, len, cause);
}

const char *
js_str(json_object *obj, const char *key)
{
	json_object *v;
	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool
js_int(json_object *obj, const char *key, int64_t *out)
{
	json_object *v;
	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) || v == NULL)
		return false;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return true;
	}
	if (json_object_is_type(v, json_type_string))
		return str_to_i64(json_object_get_string(v), INT64_MIN, INT64_MAX, out) == 0;
	return false;
}

bool
js_bool(json_object *obj, const char *key, bool *out)
{
	json_object *v;
	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) || v == NULL)
		return false;
	if (json_object_is_type(v, json_type_boolean)) {
		*out = json_object_get_boolean(v);
		return true;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

const char *
js_text(json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
}

void
js_respond(struct http_txn *txn, int status, const struct http_headers *extra, json_object *obj)
{
	struct http_headers h;
	headers_init(&h);
	if (extra != NULL)
		headers_copy(&h, extra);
	headers_set(&h, "Content-Type", "application/json");
	const char *s = js_text(obj);
	http_txn_respond(txn, status, &h, s, strlen(s));
	headers_clear(&h);
	json_object_put(obj);
}

void
js_respond_text(struct http_txn *txn, int status, const char *text)
{
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Content-Type", "application/json");
	http_txn_respond(txn, status, &h, text, strlen(text));
	headers_clear(&h);
}

json_object *
js_new_str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

json_object *
js_csv_array(const char *csv)
{
	json_object *arr = json_object_new_array();
	if (csv == NULL)
		return arr;
	char *copy = xstrdup(csv);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
		json_object_array_add(arr, json_object_new_string(t));
	free(copy);
	return arr;
}

/*
 * Request parameters the way GitLab's API (Grape) takes them: a JSON body, a form body
 * (application/x-www-form-urlencoded, "scopes[]=a&scopes[]=b" for arrays) or the query string,
 * all merged into one JSON object; a body value wins over a query value of the same name.
 */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "json.h"
#include "url.h"
#include "util.h"

#define PARAMS_MAX_BODY (64 * 1024)

struct params_op {
	params_cb cb;
	void (*fail)(void *arg);
	void *arg;
};

/* Adds name=value to obj; a repeated plain name keeps the first. */
static int
add_pair(const char *name, const char *value, void *arg)
{
	gl_param_add(arg, name, value, true);
	return 0;
}

/* Parses the body by its Content-Type; NULL with *cause (and *status) on error. */
static json_object *
parse_body(struct http_txn *txn, struct evbuffer *body, int *status, char **cause)
{
	size_t len = body ? evbuffer_get_length(body) : 0;
	if (len == 0)
		return json_object_new_object();
	const char *ct = headers_get(&http_txn_request(txn)->headers, "Content-Type");
	char *text = xmalloc(len + 1);
	evbuffer_remove(body, text, len);
	text[len] = '\0';
	json_object *obj = NULL;
	bool json = ct != NULL ? strncasecmp(ct, "application/json", 16) == 0 : text[0] == '{';
	bool form = ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
	*status = 400;
	if (json) {
		obj = js_parse(text, len, cause);
		if (obj != NULL && !json_object_is_type(obj, json_type_object)) {
			json_object_put(obj);
			obj = NULL;
			*cause = xstrdup("the body must be a JSON object");
		}
	} else if (form) {
		obj = json_object_new_object();
		if (memchr(text, '\0', len) != NULL || query_each(text, add_pair, obj) < 0) {
			json_object_put(obj);
			obj = NULL;
			*cause = xstrdup("malformed form body");
		}
	} else {
		*status = 415;
		*cause = xasprintf("unsupported Content-Type %s", ct);
	}
	free(text);
	return obj;
}

/* The body is in: parse it, merge the query and hand both over. */
static void
body_read(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct params_op *op = arg;
	if (txn == NULL) {
		if (op->fail != NULL)
			op->fail(op->arg); /* nobody left to answer */
		free(op);
		return;
	}
	int status = 400;
	char *cause = NULL;
	json_object *obj = parse_body(txn, body, &status, &cause);
	if (obj == NULL) {
		char *msg = xasprintf("%d %s - %s", status, status == 415 ? "Unsupported Media Type"
		                                                            : "Bad request", cause);
		error_gitlab(txn, status, msg);
		free(msg);
		free(cause);
		if (op->fail != NULL)
			op->fail(op->arg);
		free(op);
		return;
	}
	const char *query = http_txn_request(txn)->query;
	json_object *q = json_object_new_object();
	if (query_each(query, add_pair, q) == 0) {
		json_object_object_foreach(q, k, v)
		{
			if (!json_object_object_get_ex(obj, k, NULL))
				json_object_object_add(obj, k, json_object_get(v));
		}
	}
	json_object_put(q);
	op->cb(txn, obj, op->arg);
	json_object_put(obj);
	free(op);
}

void
params_read(struct http_txn *txn, params_cb cb, void (*fail)(void *arg), void *arg)
{
	struct params_op *op = xcalloc(1, sizeof(*op));
	op->cb = cb;
	op->fail = fail;
	op->arg = arg;
	http_txn_read_body(txn, PARAMS_MAX_BODY, body_read, op);
}

/* A growing NULL-terminated list of strings. */
struct list {
	char **v;
	size_t n, cap;
};

/* Appends a copy of s, keeping the list NULL-terminated. */
static void
list_add(struct list *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap *= 2;
		l->v = xrealloc(l->v, (l->cap + 1) * sizeof(char *));
	}
	l->v[l->n++] = xstrdup(s);
	l->v[l->n] = NULL;
}

char **
params_list(json_object *p, const char *key)
{
	json_object *v;
	if (p == NULL || !json_object_object_get_ex(p, key, &v) || v == NULL)
		return NULL;
	struct list l = { xcalloc(5, sizeof(char *)), 0, 4 };
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			json_object *e = json_object_array_get_idx(v, i);
			if (json_object_is_type(e, json_type_string))
				list_add(&l, json_object_get_string(e));
		}
	} else if (json_object_is_type(v, json_type_string)) {
		/* "api,read_api", as Grape's CommaSeparatedToArray takes it */
		char *copy = xstrdup(json_object_get_string(v));
		char *save = NULL;
		for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
			list_add(&l, t);
		free(copy);
	}
	return l.v;
}


/*
 * Request parameters: read by gl_params_read (common/gl_params.c), which authd and metad share;
 * lists as authd's token endpoints take them.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "gl_params.h"
#include "util.h"

struct params_op {
	params_cb cb;
	void (*fail)(void *arg);
	void *arg;
};

/* The parameters are in (params non-NULL), or the request is over. */
static void
params_done(struct http_txn *txn, json_object *params, void *arg)
{
	struct params_op *op = arg;
	if (params != NULL)
		op->cb(txn, params, op->arg);
	else if (op->fail != NULL)
		op->fail(op->arg); /* answered already, or nobody left to answer */
	free(op);
}

void
params_read(struct http_txn *txn, params_cb cb, void (*fail)(void *arg), void *arg)
{
	struct params_op *op = xcalloc(1, sizeof(*op));
	op->cb = cb;
	op->fail = fail;
	op->arg = arg;
	gl_params_read(txn, params_done, op);
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


/* Request parameters as GitLab's API (Grape) coerces them, with its wording for bad ones. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gitlab.h"
#include "rest.h"
#include "util.h"

/* The parameter's JSON value, NULL when absent or null. */
static json_object *
param(struct rest_req *r, const char *key)
{
	json_object *v = NULL;
	json_object_object_get_ex(r->params, key, &v);
	return v;
}

bool
rest_has(struct rest_req *r, const char *key)
{
	return json_object_object_get_ex(r->params, key, NULL);
}

const char *
rest_str(struct rest_req *r, const char *key)
{
	return gl_param_str(r->params, key);
}

/* 400 {"error": "<key> <how>"} as Grape words it; returns -1. */
static int
invalid(struct rest_req *r, const char *key, const char *how)
{
	char *msg = xasprintf("%s %s", key, how);
	rest_fail_param(r, msg);
	free(msg);
	return -1;
}

int
rest_int(struct rest_req *r, const char *key, int64_t *out)
{
	json_object *v = param(r, key);
	if (v == NULL)
		return 0; /* absent, or null: Grape's nil */
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 1;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		if (*s == '\0')
			return 0; /* Grape treats an empty value as absent */
		if (gl_int_text(s, out))
			return 1;
	}
	return invalid(r, key, "is invalid");
}

int
rest_bool(struct rest_req *r, const char *key, bool *out)
{
	int b = gl_param_bool(r->params, key);
	if (b == -1)
		return 0; /* absent, or null: Grape's nil */
	if (b == -2)
		return invalid(r, key, "is invalid");
	*out = b == 1;
	return 1;
}

int
rest_enum(struct rest_req *r, const char *key, const char *const *values, const char **out)
{
	*out = NULL;
	if (!rest_has(r, key))
		return 0;
	const char *s = rest_str(r, key);
	for (size_t i = 0; s != NULL && values[i] != NULL; i++) {
		if (strcmp(s, values[i]) == 0) {
			*out = values[i];
			return 1;
		}
	}
	return invalid(r, key, "does not have a valid value");
}

int
rest_access_level(struct rest_req *r, const char *key, int *out)
{
	int64_t n;
	int rc = rest_int(r, key, &n);
	if (rc <= 0)
		return rc;
	if (n != 10 && n != 20 && n != 30 && n != 40 && n != 50)
		return invalid(r, key, "does not have a valid value");
	*out = (int)n;
	return 1;
}

int
rest_date(struct rest_req *r, const char *key, const char **out)
{
	*out = NULL;
	if (!rest_has(r, key))
		return 0;
	json_object *v = param(r, key);
	if (v == NULL)
		return 1;
	const char *s = rest_str(r, key);
	if (s != NULL && *s == '\0')
		return 1;
	/* YYYY-MM-DD that is a real day: the round trip through timegm() must not move it */
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
	if (end == NULL || *end != '\0' || strlen(s) != 10)
		return invalid(r, key, "is invalid");
	struct tm check = tm;
	time_t t = timegm(&check);
	struct tm back;
	gmtime_r(&t, &back);
	if (back.tm_mday != tm.tm_mday || back.tm_mon != tm.tm_mon || back.tm_year != tm.tm_year)
		return invalid(r, key, "is invalid");
	*out = s;
	return 1;
}

int
rest_id_list(struct rest_req *r, const char *key, char **out)
{
	*out = NULL;
	json_object *v = NULL;
	if (!json_object_object_get_ex(r->params, key, &v) || v == NULL)
		return 0;
	char *text = xstrdup("{");
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_is_type(v, json_type_array)
		                         ? json_object_array_get_idx(v, i)
		                         : v;
		const char *s = e ? json_object_get_string(e) : NULL;
		char *copy = xstrdup(s ? s : "");
		char *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t != NULL;
		     t = strtok_r(NULL, ",", &save)) {
			int64_t id;
			if (str_to_i64(t, 1, INT64_MAX, &id) < 0) {
				free(copy);
				free(text);
				invalid(r, key, "is invalid");
				return -1;
			}
			char *next = xasprintf("%s%s%lld", text, text[1] ? "," : "", (long long)id);
			free(text);
			text = next;
		}
		free(copy);
	}
	char *done = xasprintf("%s}", text);
	free(text);
	*out = done;
	return 1;
}

int
rest_page(struct rest_req *r)
{
	return gl_page_parse(r->txn, &r->page); /* -1: answered */
}

int
rest_order(struct rest_req *r, const char *const *values, const char *dflt, const char *sort_dflt,
           const char **order_by, const char **sort)
{
	static const char *const sorts[] = { "asc", "desc", NULL };
	if (rest_enum(r, "order_by", values, order_by) < 0 || rest_enum(r, "sort", sorts, sort) < 0)
		return -1;
	if (*order_by == NULL)
		*order_by = dflt;
	if (*sort == NULL)
		*sort = sort_dflt;
	return 0;
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
rest_list(struct rest_req *r, const char *key)
{
	json_object *v;
	if (r->params == NULL || !json_object_object_get_ex(r->params, key, &v) || v == NULL)
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

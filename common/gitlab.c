/* GitLab REST conventions: offset pagination headers, the external URL, parameters. */
#include "gitlab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "url.h"
#include "util.h"
#include "wire.h"

/* page or per_page as GitLab reads them (lib/api/concerns/pagination_params.rb, with
 * only_positive_pagination_values): absent or empty is dflt, not an integer "<name> is invalid",
 * below 1 "<name> does not have a valid value" (400 both), above max is max (Kaminari's cap). */
static int
parse_param(struct http_txn *txn, const char *name, int64_t dflt, int64_t max, int64_t *out)
{
	char *v = query_get(http_txn_request(txn)->query, name);
	if (v == NULL || *v == '\0') {
		free(v);
		*out = dflt;
		return 0;
	}
	int64_t n;
	bool integer = gl_int_text(v, &n);
	free(v);
	if (!integer || n < 1) {
		char *msg = xasprintf("%s %s", name,
		                      integer ? "does not have a valid value" : "is invalid");
		error_gitlab_param(txn, msg);
		free(msg);
		return -1;
	}
	*out = n > max ? max : n;
	return 0;
}

int
gl_page_parse(struct http_txn *txn, struct gl_page *p)
{
	/* a page past INT32_MAX is as empty as any page past the last; it keeps offsets small */
	if (parse_param(txn, "page", 1, INT32_MAX, &p->page) < 0)
		return -1;
	return parse_param(txn, "per_page", 20, 100, &p->per_page);
}

int64_t
gl_page_offset(const struct gl_page *p)
{
	return (p->page - 1) * p->per_page;
}

const char *
gl_external_url(struct http_txn *txn)
{
	const char *u = headers_get(&http_txn_request(txn)->headers, WIRE_EXTERNAL_URL);
	return u ? u : "http://localhost";
}

char *
gl_registry_host(struct http_txn *txn)
{
	const char *u = gl_external_url(txn);
	const char *p = strstr(u, "://");
	return xstrdup(p ? p + 3 : u);
}

/* A query string being rebuilt without some of its parameters. */
struct query_filter {
	const char *const *drop;
	char *out;
};

/* Appends one name=value, encoded again, unless its name is one to drop. */
static int
keep_param(const char *name, const char *value, void *arg)
{
	struct query_filter *f = arg;
	for (const char *const *d = f->drop; *d != NULL; d++)
		if (strcmp(name, *d) == 0)
			return 0;
	char *n = url_encode(name, false), *v = url_encode(value, false);
	char *joined = xasprintf("%s%s%s=%s", f->out ? f->out : "", f->out ? "&" : "", n, v);
	free(f->out);
	f->out = joined;
	free(n);
	free(v);
	return 0;
}

char *
gl_query_except(struct http_txn *txn, const char *const *drop)
{
	struct query_filter f = { drop, NULL };
	query_each(http_txn_request(txn)->query, keep_param, &f);
	return f.out;
}

char *
gl_page_url(struct http_txn *txn, int64_t page, int64_t per_page)
{
	static const char *const drop[] = { "page", "per_page", NULL };
	char *query = gl_query_except(txn, drop);
	char *url = xasprintf("%s%s?%s%spage=%lld&per_page=%lld", gl_external_url(txn),
	                      http_txn_request(txn)->path, query ? query : "", query ? "&" : "",
	                      (long long)page, (long long)per_page);
	free(query);
	return url;
}

void
gl_page_headers(struct http_txn *txn, const struct gl_page *p, int64_t total,
                struct http_headers *out)
{
	int64_t pages = total == 0 ? 1 : (total + p->per_page - 1) / p->per_page;
	headers_set_int(out, "X-Total", total);
	headers_set_int(out, "X-Total-Pages", pages);
	headers_set_int(out, "X-Page", p->page);
	headers_set_int(out, "X-Per-Page", p->per_page);
	/* the next and previous pages: empty when there is none, as GitLab sends them */
	if (p->page < pages)
		headers_set_int(out, "X-Next-Page", p->page + 1);
	else
		headers_set(out, "X-Next-Page", "");
	if (p->page > 1)
		headers_set_int(out, "X-Prev-Page", p->page - 1);
	else
		headers_set(out, "X-Prev-Page", "");

	char *link = xstrdup("");
	struct {
		const char *rel;
		int64_t page;
		bool show;
	} rels[] = {
		{ "prev", p->page - 1, p->page > 1 },
		{ "next", p->page + 1, p->page < pages },
		{ "first", 1, true },
		{ "last", pages, true },
	};
	for (size_t i = 0; i < nitems(rels); i++) {
		if (!rels[i].show)
			continue;
		char *u = gl_page_url(txn, rels[i].page, p->per_page);
		char *next =
		        xasprintf("%s%s<%s>; rel=\"%s\"", link, *link ? ", " : "", u, rels[i].rel);
		free(u);
		free(link);
		link = next;
	}
	headers_set(out, "Link", link);
	free(link);
}

void
gl_page_respond(struct http_txn *txn, const struct gl_page *p, int64_t total,
                struct json_object *items)
{
	struct http_headers h;
	headers_init(&h);
	gl_page_headers(txn, p, total, &h);
	js_respond(txn, 200, &h, items);
	headers_clear(&h);
}

void
gl_param_add(json_object *params, const char *name, const char *value, bool keep_first)
{
	size_t len = strlen(name);
	const char *nest = strstr(name, "[][");
	size_t klen = nest ? (size_t)(nest - name) : 0;
	if (klen > 0 && len > klen + 4 && name[len - 1] == ']' &&
	    strcspn(nest + 3, "[]") == len - klen - 4) {
		/* "list[][field]" as Rack takes it: the field of the list's last object, or of a
		 * new one when that one has it already */
		char *key = xstrndup(name, klen);
		char *field = xstrndup(nest + 3, len - klen - 4);
		json_object *arr, *last = NULL;
		if (!json_object_object_get_ex(params, key, &arr) ||
		    !json_object_is_type(arr, json_type_array)) {
			arr = json_object_new_array();
			json_object_object_add(params, key, arr);
		}
		size_t n = json_object_array_length(arr);
		if (n > 0)
			last = json_object_array_get_idx(arr, n - 1);
		if (last == NULL || !json_object_is_type(last, json_type_object) ||
		    json_object_object_get_ex(last, field, NULL)) {
			last = json_object_new_object();
			json_object_array_add(arr, last);
		}
		json_object_object_add(last, field, json_object_new_string(value));
		free(key);
		free(field);
		return;
	}
	if (len > 2 && strcmp(name + len - 2, "[]") == 0) {
		char *key = xstrndup(name, len - 2);
		json_object *arr;
		if (!json_object_object_get_ex(params, key, &arr) ||
		    !json_object_is_type(arr, json_type_array)) {
			arr = json_object_new_array();
			json_object_object_add(params, key, arr);
		}
		json_object_array_add(arr, json_object_new_string(value));
		free(key);
		return;
	}
	if (!keep_first || !json_object_object_get_ex(params, name, NULL))
		json_object_object_add(params, name, json_object_new_string(value));
}

const char *
gl_param_str(json_object *params, const char *key)
{
	json_object *v;
	if (params == NULL || !json_object_object_get_ex(params, key, &v) || v == NULL)
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

int
gl_param_bool(json_object *params, const char *key)
{
	json_object *v;
	if (params == NULL || !json_object_object_get_ex(params, key, &v) || v == NULL)
		return -1;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? 1 : 0;
	/* Grape's coercion: Ruby clients send "true", Python ones "True", forms "1" or "on". */
	static const char *const yes[] = { "true", "t", "yes", "y", "on", "1" };
	static const char *const no[] = { "false", "f", "no", "n", "off", "0" };
	bool scalar =
	        json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int);
	const char *s = scalar ? json_object_get_string(v) : "";
	for (size_t i = 0; i < nitems(yes); i++) {
		if (str_eq_nocase(s, yes[i]))
			return 1;
		if (str_eq_nocase(s, no[i]))
			return 0;
	}
	return -2;
}

bool
gl_int_text(const char *s, int64_t *out)
{
	bool neg = s[0] == '-';
	int64_t v;
	if (str_to_count(s + neg, strlen(s + neg), INT64_MAX, &v) == COUNT_INVALID)
		return false;
	*out = neg ? -v : v;
	return true;
}

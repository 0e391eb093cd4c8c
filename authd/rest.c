/* Pieces every REST handler of authd shares: the caller, access checks, plain answers, list
 * pages and their window, the fields of a new token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "headers.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "util.h"

void
rest_actor(struct http_txn *txn, struct actor *a)
{
	actor_from_headers(a, &http_txn_request(txn)->headers);
}

bool
rest_require_user(struct http_txn *txn, const struct actor *a)
{
	if (actor_signed_in(a))
		return true;
	error_gitlab(txn, 401, "401 Unauthorized");
	return false;
}

bool
rest_require_admin(struct http_txn *txn, const struct actor *a)
{
	if (!rest_require_user(txn, a))
		return false;
	if (a->admin)
		return true;
	error_gitlab(txn, 403, "403 Forbidden");
	return false;
}

void
rest_db_error(struct http_txn *txn, const PGresult *res, const char *what)
{
	if (res == NULL) {
		log_error("request %s: %s: database unreachable", http_txn_id(txn), what);
		error_gitlab(txn, 503, "503 Service Unavailable");
		return;
	}
	log_error("request %s: %s: %s", http_txn_id(txn), what, pg_error(res));
	error_gitlab(txn, 500, "500 Internal Server Error");
}

void
rest_no_content(struct http_txn *txn)
{
	http_txn_respond(txn, 204, NULL, NULL, 0);
}

json_object *
rest_str_array(const char *csv)
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

bool
rest_is_id(const char *s)
{
	int64_t n;
	return str_to_i64(s, 1, INT64_MAX, &n) == 0;
}

bool
rest_require_id(struct http_txn *txn, const char *id)
{
	if (rest_is_id(id))
		return true;
	error_gitlab(txn, 404, "404 Not Found");
	return false;
}


void
rest_respond_page(struct http_txn *txn, const struct gl_page *page, const PGresult *res,
                  const char *what, rest_row_fn row, void *arg)
{
	if (!pg_ok(res) || pg_rows(res) < 1) {
		rest_db_error(txn, res, what);
		return;
	}
	json_object *arr = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++)
		if (pg_get(res, i, "id") != NULL)
			json_object_array_add(arr, row(res, i, arg));
	gl_page_respond(txn, page, pg_get_int(res, 0, "total"), arr);
}

bool
rest_page(struct http_txn *txn, struct gl_page *page, struct rest_window *w)
{
	if (gl_page_parse(txn, page) < 0)
		return false;
	snprintf(w->limit, sizeof(w->limit), "%lld", (long long)page->per_page);
	snprintf(w->offset, sizeof(w->offset), "%lld", (long long)gl_page_offset(page));
	return true;
}

const char *
rest_bool_arg(int b)
{
	return b < 0 ? NULL : b ? "true" : "false";
}

bool
rest_token_fields(struct http_txn *txn, json_object *p, unsigned allowed, const char *if_empty,
                  unsigned *bits)
{
	const char *name = gl_param_str(p, "name");
	char **scopes = params_list(p, "scopes");
	if (name == NULL || scopes == NULL) {
		error_gitlab_param(txn, name == NULL && scopes == NULL
		                            ? "name is missing, scopes is missing"
		                        : name == NULL ? "name is missing"
		                                       : "scopes is missing");
		strv_free(scopes);
		return false;
	}
	bool bad = false, empty = scopes[0] == NULL;
	*bits = 0;
	for (char **s = scopes; *s; s++) {
		unsigned b = scope_bit(*s);
		bad |= b == 0 || (b & ~allowed) != 0;
		*bits |= b;
	}
	strv_free(scopes);
	if (bad || empty) {
		error_gitlab_param(txn, bad ? "scopes does not have a valid value" : if_empty);
		return false;
	}
	if (*name == '\0' || strlen(name) > 255) {
		error_gitlab(txn, 400, *name ? "400 Bad request - Name is too long"
		                             : "400 Bad request - Name can't be blank");
		return false;
	}
	return true;
}

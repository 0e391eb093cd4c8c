/* Pieces every REST handler of authd shares: the caller, access checks, plain answers. */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "errors.h"
#include "headers.h"
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
rest_respond_literal(struct http_txn *txn, int status, const char *literal)
{
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Content-Type", "application/json");
	http_txn_respond(txn, status, &h, literal, strlen(literal));
	headers_clear(&h);
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
	return s != NULL && s[0] != '-' && str_to_i64(s, 1, INT64_MAX, &n) == 0;
}

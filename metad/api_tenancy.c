/*
 * What the groups, projects, namespaces and members endpoints share: the request context, GitLab's
 * parameter rules (read by gl_params_read; Grape's error wording), the answers, and the JSON
 * entities built from query rows.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_registry.h"
#include "errors.h"
#include "gl_params.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "tenancy.h"
#include "util.h"

const char tn_path_message[] = "can contain only letters, digits, '_', '-' and '.'. Cannot start "
                               "with '-', end in '.git' or end in '.atom'";

const char tn_description_message[] = "is too long (maximum is 2000 characters)";

size_t
tn_chars(const char *s)
{
	return str_chars(s);
}

/* ---- the request ----------------------------------------------------------------------------- */

void
tn_free(struct tn_req *r)
{
	if (r == NULL)
		return;
	json_object_put(r->params);
	free(r->id);
	free(r->sub);
	for (int i = 0; i < r->nargs; i++)
		free(r->args[i]);
	free(r);
}

/* The parameters are in (params non-NULL): go on; or the request is over (answered, or the
 * client left). */
static void
params_read(struct http_txn *txn, json_object *params, void *arg)
{
	struct tn_req *r = arg;
	(void)txn;
	if (params == NULL) {
		tn_free(r);
		return;
	}
	r->params = json_object_get(params);
	r->next(r);
}

void
tn_start(struct http_txn *txn, const struct route_match *m, const char *id_name,
         const char *sub_name, tn_step next)
{
	struct tn_req *r = xcalloc(1, sizeof(*r));
	r->txn = txn;
	r->next = next;
	r->what = "Project";
	actor_from_headers(&r->actor, &http_txn_request(txn)->headers);
	const char *v;
	if (id_name != NULL && (v = route_param(m, id_name)) != NULL)
		r->id = xstrdup(v);
	if (sub_name != NULL && (v = route_param(m, sub_name)) != NULL)
		r->sub = xstrdup(v);
	gl_params_read(txn, params_read, r);
}

/* ---- parameters ------------------------------------------------------------------------------ */

/* The parameter's JSON value, NULL when absent or null. */
static json_object *
param(struct tn_req *r, const char *key)
{
	json_object *v = NULL;
	json_object_object_get_ex(r->params, key, &v);
	return v;
}

bool
tn_has(struct tn_req *r, const char *key)
{
	return json_object_object_get_ex(r->params, key, NULL);
}

const char *
tn_str(struct tn_req *r, const char *key)
{
	return gl_param_str(r->params, key);
}

/* 400 {"error": "<key> <how>"} as Grape words it; returns -1. */
static int
invalid(struct tn_req *r, const char *key, const char *how)
{
	char *msg = xasprintf("%s %s", key, how);
	tn_fail_param(r, msg);
	free(msg);
	return -1;
}

int
tn_int(struct tn_req *r, const char *key, int64_t *out)
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
tn_bool(struct tn_req *r, const char *key, bool *out)
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
tn_enum(struct tn_req *r, const char *key, const char *const *values, const char **out)
{
	*out = NULL;
	if (!tn_has(r, key))
		return 0;
	const char *s = tn_str(r, key);
	for (size_t i = 0; s != NULL && values[i] != NULL; i++) {
		if (strcmp(s, values[i]) == 0) {
			*out = values[i];
			return 1;
		}
	}
	return invalid(r, key, "does not have a valid value");
}

int
tn_access_level(struct tn_req *r, const char *key, int *out)
{
	int64_t n;
	int rc = tn_int(r, key, &n);
	if (rc <= 0)
		return rc;
	if (n != 10 && n != 20 && n != 30 && n != 40 && n != 50)
		return invalid(r, key, "does not have a valid value");
	*out = (int)n;
	return 1;
}

int
tn_date(struct tn_req *r, const char *key, const char **out)
{
	*out = NULL;
	if (!tn_has(r, key))
		return 0;
	json_object *v = param(r, key);
	if (v == NULL)
		return 1;
	const char *s = tn_str(r, key);
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
tn_id_list(struct tn_req *r, const char *key, char **out)
{
	*out = NULL;
	json_object *v = NULL;
	if (!json_object_object_get_ex(r->params, key, &v) || v == NULL)
		return 0;
	char *text = xstrdup("{");
	size_t n = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_is_type(v, json_type_array) ? json_object_array_get_idx(v, i)
		                                                         : v;
		const char *s = e ? json_object_get_string(e) : NULL;
		char *copy = xstrdup(s ? s : "");
		char *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
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
tn_page(struct tn_req *r)
{
	if (gl_page_parse(r->txn, &r->page) < 0) {
		/* gl_page_parse answered; the request is over */
		tn_free(r);
		return -1;
	}
	return 0;
}

int
tn_order(struct tn_req *r, const char *const *values, const char *dflt, const char *sort_dflt,
         const char **order_by, const char **sort)
{
	static const char *const sorts[] = { "asc", "desc", NULL };
	if (tn_enum(r, "order_by", values, order_by) < 0 || tn_enum(r, "sort", sorts, sort) < 0)
		return -1;
	if (*order_by == NULL)
		*order_by = dflt;
	if (*sort == NULL)
		*sort = sort_dflt;
	return 0;
}

/* ---- SQL arguments --------------------------------------------------------------------------- */

void
tn_arg(struct tn_req *r, const char *v)
{
	if (r->nargs == TN_MAX_ARGS)
		fatal("too many SQL arguments");
	r->args[r->nargs++] = v ? xstrdup(v) : NULL;
}

void
tn_arg_i64(struct tn_req *r, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	tn_arg(r, buf);
}

void
tn_arg_bool(struct tn_req *r, bool v)
{
	tn_arg(r, v ? "true" : "false");
}

void
tn_arg_i64_opt(struct tn_req *r, bool given, int64_t v)
{
	if (given)
		tn_arg_i64(r, v);
	else
		tn_arg(r, NULL);
}

void
tn_arg_actor(struct tn_req *r)
{
	tn_arg_i64(r, r->actor.user_id);
	tn_arg_bool(r, r->actor.admin && r->actor.user_id > 0);
}

void
tn_arg_ref(struct tn_req *r, const char *ref)
{
	int64_t id;
	if (ref != NULL && ref[0] >= '0' && ref[0] <= '9' &&
	    str_to_i64(ref, 1, INT64_MAX, &id) == 0) {
		tn_arg_i64(r, id);
		tn_arg(r, NULL);
	} else {
		/* a path that is not text names nothing (404), rather than failing the query */
		tn_arg(r, NULL);
		tn_arg(r, ref != NULL && gl_params_is_text(ref, strlen(ref)) ? ref : NULL);
	}
}

void
tn_exec(struct tn_req *r, struct pg_stmt *stmt, void (*cb)(PGresult *res, void *arg))
{
	pg_exec(md.db, stmt, r->nargs, (const char *const *)r->args, cb, r);
	for (int i = 0; i < r->nargs; i++) {
		free(r->args[i]);
		r->args[i] = NULL;
	}
	r->nargs = 0;
}

/* ---- answers --------------------------------------------------------------------------------- */

void
tn_reply(struct tn_req *r, int status, json_object *obj)
{
	js_respond(r->txn, status, NULL, obj);
	tn_free(r);
}

void
tn_reply_empty(struct tn_req *r, int status)
{
	http_txn_respond(r->txn, status, NULL, NULL, 0);
	tn_free(r);
}

void
tn_fail(struct tn_req *r, int status, const char *message)
{
	error_gitlab(r->txn, status, message);
	tn_free(r);
}

void
tn_fail_param(struct tn_req *r, const char *message)
{
	error_gitlab_param(r->txn, message);
	tn_free(r);
}

void
tn_not_found(struct tn_req *r, const char *what)
{
	char *msg = xasprintf("404 %s Not Found", what ? what : r->what);
	tn_fail(r, 404, msg);
	free(msg);
}

void
tn_db_error(struct tn_req *r, PGresult *res)
{
	log_set_request_id(http_txn_id(r->txn));
	log_error("%s %s: %s", http_txn_request(r->txn)->method, http_txn_request(r->txn)->path,
	          pg_error(res));
	log_set_request_id(NULL);
	if (res == NULL)
		tn_fail(r, 503, "503 Service Unavailable: the database is unreachable");
	else
		tn_fail(r, 500, "500 Internal Server Error");
}

void
tn_fail_validation(struct tn_req *r, const char *key, const char *text)
{
	error_gitlab_field(r->txn, key, text);
	tn_free(r);
}

const char *
tn_status(struct tn_req *r, PGresult *res)
{
	if (!pg_ok(res) || pg_rows(res) != 1) {
		tn_db_error(r, res);
		return NULL;
	}
	const char *status = pg_get(res, 0, "status");
	if (strcmp(status, "not_found") == 0) {
		tn_not_found(r, NULL);
		return NULL;
	}
	if (strcmp(status, "forbidden") == 0) {
		tn_fail(r, 403, "403 Forbidden");
		return NULL;
	}
	return status;
}

/* Answers a delete function's status: 202, as GitLab deletes asynchronously, or the refusal. */
static void
deleted(PGresult *res, void *arg)
{
	struct tn_req *r = arg;
	/* ok is the one status left: the delete functions return not_found, forbidden or ok */
	if (tn_status(r, res) != NULL)
		tn_fail(r, 202, "202 Accepted");
}

void
tn_delete(struct tn_req *r, struct pg_stmt *stmt)
{
	if (!tn_require_user(r))
		return;
	tn_arg_actor(r);
	tn_arg_ref(r, r->id);
	tn_exec(r, stmt, deleted);
}

bool
tn_require_user(struct tn_req *r)
{
	if (r->actor.user_id > 0)
		return true;
	tn_fail(r, 401, "401 Unauthorized");
	return false;
}

bool
tn_found(struct tn_req *r, PGresult *res, const char *what)
{
	if (!pg_ok(res)) {
		tn_db_error(r, res);
		return false;
	}
	if (pg_rows(res) == 0) {
		tn_not_found(r, what);
		return false;
	}
	return true;
}

bool
tn_list_ok(struct tn_req *r, PGresult *res)
{
	if (!tn_found(r, res, NULL))
		return false;
	if (!pg_get_bool(res, 0, "ok")) {
		tn_not_found(r, NULL);
		return false;
	}
	return true;
}

void
tn_reply_list(struct tn_req *r, PGresult *res,
              json_object *(*build)(struct tn_req *r, PGresult *res, int row))
{
	if (!tn_list_ok(r, res))
		return;
	json_object *arr = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++)
		if (pg_get(res, i, "id") != NULL)
			json_object_array_add(arr, build(r, res, i));
	gl_page_respond(r->txn, &r->page, pg_get_int(res, 0, "total"), arr);
	tn_free(r);
}

/* ---- names ----------------------------------------------------------------------------------- */

/* Matches text against pattern (compiled once per worker, UTF-8 aware). */
static bool
utf8_match(pcre2_code **code, const char *pattern, const char *text)
{
	if (*code == NULL) {
		int err;
		PCRE2_SIZE off;
		*code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
		                      PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
		if (*code == NULL)
			fatal("bad name pattern at %zu: %d", (size_t)off, err);
	}
	pcre2_match_data *md_ = pcre2_match_data_create_from_pattern(*code, NULL);
	int rc = pcre2_match(*code, (PCRE2_SPTR)text, strlen(text), 0, 0, md_, NULL);
	pcre2_match_data_free(md_);
	return rc >= 0;
}

/* A name of 1 to 255 bytes matching pattern; *why gets GitLab's message, rule when it does not
 * match. */
static bool
valid_name(const char *name, pcre2_code **re, const char *pattern, const char *rule,
           const char **why)
{
	if (*name == '\0') {
		*why = "can't be blank";
		return false;
	}
	if (strlen(name) > 255) {
		*why = "is too long (maximum is 255 characters)";
		return false;
	}
	*why = rule;
	return utf8_match(re, pattern, name);
}

bool
tn_valid_group_name(const char *name, const char **why)
{
	static pcre2_code *re;
	return valid_name(name, &re,
	                  "^[\\p{L}\\p{N}\\x{00A9}-\\x{1f9ff}_]"
	                  "[\\p{L}\\p{N}\\p{Pd}_.() \\x{00A9}-\\x{1f9ff}]*$",
	                  "can contain only letters, digits, emoji, '_', '.', dash, space, "
	                  "parenthesis. It must start with letter, digit, emoji or '_'.",
	                  why);
}

bool
tn_valid_project_name(const char *name, const char **why)
{
	static pcre2_code *re;
	return valid_name(name, &re,
	                  "^[\\p{L}\\p{N}\\x{00A9}-\\x{1f9ff}_]"
	                  "[\\p{L}\\p{N}\\p{Pd}+_. \\x{00A9}-\\x{1f9ff}]*$",
	                  "can contain only letters, digits, emojis, '_', '.', '+', dashes, or "
	                  "spaces. It must start with a letter, digit, emoji, or '_'.",
	                  why);
}

/* ---- entities -------------------------------------------------------------------------------- */

char *
tn_url(struct tn_req *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *tail = xvasprintf(fmt, ap);
	va_end(ap);
	char *url = xasprintf("%s%s", gl_external_url(r->txn), tail);
	free(tail);
	return url;
}

/* Adds a string member, null for NULL. */
static void
add_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, js_new_str_or_null(value));
}

/* Adds a column's text, null for SQL NULL. */
static void
add_col(json_object *o, const char *key, PGresult *res, int row, const char *col)
{
	add_str(o, key, pg_get(res, row, col));
}

/* Adds a column as a number, null for SQL NULL. */
static void
add_int_col(json_object *o, const char *key, PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	json_object_object_add(o, key, v ? json_object_new_int64(strtoll(v, NULL, 10)) : NULL);
}

/* Adds a column holding JSON text, parsed; null for SQL NULL. */
static void
add_json_col(json_object *o, const char *key, PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	char *cause = NULL;
	json_object_object_add(o, key, v ? js_parse(v, strlen(v), &cause) : NULL);
	free(cause);
}

/* Adds external URL + prefix + path. */
static void
add_url(struct tn_req *r, json_object *o, const char *key, const char *prefix, const char *path)
{
	char *u = tn_url(r, "%s%s", prefix, path);
	add_str(o, key, u);
	free(u);
}

json_object *
tn_user_basic(struct tn_req *r, const char *id, const char *username, const char *name,
              const char *state)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(strtoll(id, NULL, 10)));
	add_str(o, "username", username);
	add_str(o, "name", name);
	add_str(o, "state", state);
	json_object_object_add(o, "avatar_url", NULL);
	add_url(r, o, "web_url", "/", username);
	return o;
}

json_object *
tn_group_json(struct tn_req *r, PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	add_int_col(o, "id", res, row, "id");
	add_url(r, o, "web_url", "/groups/", pg_get(res, row, "full_path"));
	add_col(o, "name", res, row, "name");
	add_col(o, "path", res, row, "path");
	add_col(o, "description", res, row, "description");
	add_col(o, "visibility", res, row, "visibility");
	json_object_object_add(o, "share_with_group_lock", json_object_new_boolean(false));
	json_object_object_add(o, "require_two_factor_authentication",
	                       json_object_new_boolean(false));
	/* the rules this registry applies: Developers create projects, Maintainers subgroups */
	add_str(o, "project_creation_level", "developer");
	add_str(o, "subgroup_creation_level", "maintainer");
	json_object_object_add(o, "avatar_url", NULL);
	json_object_object_add(o, "request_access_enabled", json_object_new_boolean(false));
	add_col(o, "full_name", res, row, "full_name");
	add_col(o, "full_path", res, row, "full_path");
	add_col(o, "created_at", res, row, "created_at");
	add_int_col(o, "parent_id", res, row, "parent_id");
	return o;
}

json_object *
tn_group_detail_json(struct tn_req *r, PGresult *res, int row)
{
	json_object *o = tn_group_json(r, res, row);
	add_json_col(o, "shared_with_groups", res, row, "shared_with_groups");
	return o;
}

json_object *
tn_namespace_json(struct tn_req *r, PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	const char *kind = pg_get(res, row, "kind");
	bool group = kind != NULL && strcmp(kind, "group") == 0;
	add_int_col(o, "id", res, row, "id");
	add_col(o, "name", res, row, "name");
	add_col(o, "path", res, row, "path");
	add_str(o, "kind", kind);
	add_col(o, "full_path", res, row, "full_path");
	add_int_col(o, "parent_id", res, row, "parent_id");
	json_object_object_add(o, "avatar_url", NULL);
	add_url(r, o, "web_url", group ? "/groups/" : "/", pg_get(res, row, "full_path"));
	return o;
}

json_object *
tn_member_json(struct tn_req *r, PGresult *res, int row)
{
	json_object *o = tn_user_basic(r, pg_get(res, row, "id"), pg_get(res, row, "username"),
	                               pg_get(res, row, "name"), pg_get(res, row, "state"));
	add_int_col(o, "access_level", res, row, "access_level");
	add_col(o, "created_at", res, row, "created_at");
	if (pg_get(res, row, "by_id") != NULL)
		json_object_object_add(o, "created_by",
		                       tn_user_basic(r, pg_get(res, row, "by_id"),
		                                     pg_get(res, row, "by_username"),
		                                     pg_get(res, row, "by_name"),
		                                     pg_get(res, row, "by_state")));
	add_col(o, "expires_at", res, row, "expires_at");
	add_str(o, "membership_state", "active");
	return o;
}

/* {"access_level": n, "notification_level": 3} or null. */
static json_object *
access_json(PGresult *res, int row, const char *col)
{
	long long level = pg_get_int(res, row, col);
	if (level <= 0)
		return NULL;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "access_level", json_object_new_int64(level));
	json_object_object_add(o, "notification_level", json_object_new_int(3));
	return o;
}

json_object *
tn_project_json(struct tn_req *r, PGresult *res, int row, enum tn_project_shape shape)
{
	json_object *o = json_object_new_object();
	const char *full_path = pg_get(res, row, "full_path");
	const char *ns_kind = pg_get(res, row, "ns_kind");
	bool group = ns_kind != NULL && strcmp(ns_kind, "group") == 0;
	add_int_col(o, "id", res, row, "id");
	add_col(o, "description", res, row, "description");
	add_col(o, "name", res, row, "name");
	char *nwn = xasprintf("%s / %s", pg_get(res, row, "ns_full_name"), pg_get(res, row, "name"));
	add_str(o, "name_with_namespace", nwn);
	free(nwn);
	add_col(o, "path", res, row, "path");
	add_str(o, "path_with_namespace", full_path);
	add_col(o, "created_at", res, row, "created_at");
	json_object_object_add(o, "default_branch", NULL);
	json_object_object_add(o, "tag_list", json_object_new_array());
	json_object_object_add(o, "topics", json_object_new_array());
	add_url(r, o, "web_url", "/", full_path);
	json_object_object_add(o, "avatar_url", NULL);
	json_object_object_add(o, "forks_count", json_object_new_int(0));
	json_object_object_add(o, "star_count", json_object_new_int(0));
	add_col(o, "last_activity_at", res, row, "last_activity_at");

	json_object *ns = json_object_new_object();
	add_int_col(ns, "id", res, row, "ns_id");
	add_col(ns, "name", res, row, "ns_name");
	add_col(ns, "path", res, row, "ns_path");
	add_str(ns, "kind", ns_kind);
	add_col(ns, "full_path", res, row, "ns_full_path");
	add_int_col(ns, "parent_id", res, row, "ns_parent_id");
	json_object_object_add(ns, "avatar_url", NULL);
	add_url(r, ns, "web_url", group ? "/groups/" : "/", pg_get(res, row, "ns_full_path"));
	json_object_object_add(o, "namespace", ns);

	/* images live at <registry host>/<full path>, lowercase as image names must be */
	char *host = gl_registry_host(r->txn);
	char *prefix = xasprintf("%s/%s", host, full_path);
	for (char *p = prefix + strlen(host); *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	add_str(o, "container_registry_image_prefix", prefix);
	free(prefix);
	free(host);
	if (shape == TN_PROJECT_BASIC)
		return o;

	json_object *links = json_object_new_object();
	const char *id = pg_get(res, row, "id");
	char *self = tn_url(r, "/api/v4/projects/%s", id);
	add_str(links, "self", self);
	char *members = xasprintf("%s/members", self);
	add_str(links, "members", members);
	free(members);
	free(self);
	json_object_object_add(o, "_links", links);
	json_object_object_add(o, "archived", json_object_new_boolean(false));
	add_col(o, "visibility", res, row, "visibility");
	if (!group && pg_get(res, row, "owner_id") != NULL)
		json_object_object_add(o, "owner",
		                       tn_user_basic(r, pg_get(res, row, "owner_id"),
		                                     pg_get(res, row, "owner_username"),
		                                     pg_get(res, row, "owner_name"),
		                                     pg_get(res, row, "owner_state")));
	const char *crl = pg_get(res, row, "container_registry_access_level");
	json_object_object_add(o, "container_registry_enabled",
	                       json_object_new_boolean(crl != NULL && strcmp(crl, "disabled") != 0));
	add_str(o, "container_registry_access_level", crl);
	/* the cleanup policy: api_registry_policy.c */
	json_object_object_add(o, "container_expiration_policy", rg_policy_json(res, row));
	add_json_col(o, "shared_with_groups", res, row, "shared_with_groups");
	add_int_col(o, "creator_id", res, row, "creator_id");
	add_col(o, "updated_at", res, row, "updated_at");
	if (shape == TN_PROJECT_WITH_ACCESS) {
		json_object *perm = json_object_new_object();
		json_object_object_add(perm, "project_access", access_json(res, row, "pm_level"));
		json_object_object_add(perm, "group_access", access_json(res, row, "gm_level"));
		json_object_object_add(o, "permissions", perm);
	}
	return o;
}

/*
 * What the Container Registry API endpoints share: the project of the request as the caller sees
 * it (GitLab answers 404 "Project Not Found" for a project one cannot see and 403 when one may see
 * it but not read its images), GitLab's answers for the write functions' status words, the
 * repository and tag entities, and the route table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "metad.h"
#include "names.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

PG_STMT_READ(q_access,
             "SELECT project_id, can_read, can_admin FROM registry_api_access($1, $2, $3, $4)");

/* ---- the request --------------------------------------------------------------------------------
 */

/* Frees what a call holds (the call itself goes with its request). */
static void
rg_call_clear(void *state)
{
	struct rg_call *c = state;
	free(c->tag);
}

struct rg_call *
rg_call_new(struct rest_req *r)
{
	struct rg_call *c = rest_state_new(r, sizeof(*c), rg_call_clear);
	c->r = r;
	return c;
}

/* Answers 404/403 from the access row, or goes on with the project. */
static void
accessed(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(c->r, res);
		return;
	}
	if (pg_get(res, 0, "project_id") == NULL) {
		rest_not_found(c->r, "Project");
		return;
	}
	if (!pg_get_bool(res, 0, "can_read")) {
		rest_fail(c->r, 403, "403 Forbidden");
		return;
	}
	c->project_id = pg_get_int(res, 0, "project_id");
	c->can_admin = pg_get_bool(res, 0, "can_admin");
	c->next(c);
}

void
rg_begin(struct rest_req *r, bool write, rg_step next)
{
	/* GitLab asks anonymous writers to sign in before anything else */
	if (write && !rest_require_user(r))
		return;
	struct rg_call *c = rg_call_new(r);
	c->next = next;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_exec(c->r, &q_access, accessed, c);
}

bool
rg_repository_id(struct rg_call *c)
{
	if (str_to_i64(rest_param(c->r, "repository_id"), 1, INT64_MAX, &c->repo_id) < 0) {
		rest_fail_param(c->r, "repository_id is invalid");
		return false;
	}
	return true;
}

/* ---- entities -----------------------------------------------------------------------------------
 */

char *
rg_location(struct rest_req *r, const char *path, const char *tag)
{
	char *host = gl_registry_host(r->txn);
	char *loc = tag ? xasprintf("%s/%s:%s", host, path, tag) : xasprintf("%s/%s", host, path);
	free(host);
	return loc;
}

json_object *
rg_tag_json(struct rest_req *r, const char *repo_path, const char *tag)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(tag));
	char *path = xasprintf("%s:%s", repo_path, tag);
	json_object_object_add(o, "path", json_object_new_string(path));
	free(path);
	char *loc = rg_location(r, repo_path, tag);
	json_object_object_add(o, "location", json_object_new_string(loc));
	free(loc);
	return o;
}

/* A column as a JSON number, null for SQL NULL. */
static json_object *
int_col(const PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	return v ? json_object_new_int64(strtoll(v, NULL, 10)) : NULL;
}

json_object *
rg_repository_json(struct rest_req *r, const PGresult *res, int row, bool can_admin)
{
	json_object *o = json_object_new_object();
	const char *path = pg_get(res, row, "path");
	json_object_object_add(o, "id", int_col(res, row, "id"));
	json_object_object_add(o, "name", json_object_new_string(pg_get(res, row, "name")));
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "project_id", int_col(res, row, "project_id"));
	char *loc = rg_location(r, path, NULL);
	json_object_object_add(o, "location", json_object_new_string(loc));
	free(loc);
	json_object_object_add(o, "created_at", js_new_str_or_null(pg_get(res, row, "created_at")));
	json_object_object_add(o, "cleanup_policy_started_at",
	                       js_new_str_or_null(pg_get(res, row, "cleanup_policy_started_at")));
	if (pg_get(res, row, "tags_count") != NULL)
		json_object_object_add(o, "tags_count", int_col(res, row, "tags_count"));
	const char *tags = pg_get(res, row, "tags");
	if (tags != NULL) {
		char *cause = NULL;
		json_object *names = js_parse(tags, strlen(tags), &cause);
		free(cause);
		json_object *arr = json_object_new_array();
		size_t n = json_object_is_type(names, json_type_array)
		                   ? json_object_array_length(names)
		                   : 0;
		for (size_t i = 0; i < n; i++)
			json_object_array_add(
			        arr, rg_tag_json(r, path,
			                         json_object_get_string(
			                                 json_object_array_get_idx(names, i))));
		json_object_put(names);
		json_object_object_add(o, "tags", arr);
	}
	if (can_admin) {
		char *del = tn_url(r, "/api/v4/projects/%s/registry/repositories/%s",
		                   pg_get(res, row, "project_id"), pg_get(res, row, "id"));
		json_object_object_add(o, "delete_api_path", json_object_new_string(del));
		free(del);
	}
	if (pg_get(res, row, "size") != NULL)
		json_object_object_add(o, "size", int_col(res, row, "size"));
	json_object_object_add(o, "status", js_new_str_or_null(pg_get(res, row, "status")));
	return o;
}

/*
 * What the Container Registry API endpoints share: the project of the request as the caller sees
 * it (GitLab answers 404 "Project Not Found" for a project one cannot see and 403 when one may see
 * it but not read its images), GitLab's answers for the write functions' status words, the
 * repository and tag entities, and the route table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_registry.h"
#include "http.h"
#include "json.h"
#include "metad.h"
#include "names.h"
#include "pg.h"
#include "util.h"

PG_STMT(q_access,
        "SELECT project_id, can_read, can_admin FROM registry_api_access($1, $2, $3, $4)");

/* ---- the request -------------------------------------------------------------------------------- */

void
rg_free(struct rg_call *c)
{
	if (c == NULL)
		return;
	free(c->tag);
	free(c);
}

void
rg_reply(struct rg_call *c, int status, json_object *obj)
{
	tn_reply(c->r, status, obj);
	rg_free(c);
}

void
rg_fail(struct rg_call *c, int status, const char *message)
{
	tn_fail(c->r, status, message);
	rg_free(c);
}

void
rg_db_error(struct rg_call *c, PGresult *res)
{
	tn_db_error(c->r, res);
	rg_free(c);
}

/* Answers 404/403 from the access row, or goes on with the project. */
static void
accessed(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rg_db_error(c, res);
		return;
	}
	if (pg_get(res, 0, "project_id") == NULL) {
		tn_not_found(c->r, "Project");
		rg_free(c);
		return;
	}
	if (!pg_get_bool(res, 0, "can_read")) {
		rg_fail(c, 403, "403 Forbidden");
		return;
	}
	c->project_id = pg_get_int(res, 0, "project_id");
	c->can_admin = pg_get_bool(res, 0, "can_admin");
	c->next(c);
}

void
rg_begin(struct tn_req *r, bool write, rg_step next)
{
	/* GitLab asks anonymous writers to sign in before anything else */
	if (write && !tn_require_user(r))
		return;
	struct rg_call *c = xcalloc(1, sizeof(*c));
	c->r = r;
	c->next = next;
	tn_arg_actor(r);
	tn_arg_ref(r, r->id);
	rg_exec(c, &q_access, accessed);
}

void
rg_exec(struct rg_call *c, struct pg_stmt *stmt, pg_cb cb)
{
	struct tn_req *r = c->r;
	pg_exec(md.db, stmt, r->nargs, (const char *const *)r->args, cb, c);
	for (int i = 0; i < r->nargs; i++) {
		free(r->args[i]);
		r->args[i] = NULL;
	}
	r->nargs = 0;
}

bool
rg_repository_id(struct rg_call *c)
{
	if (c->r->sub == NULL || str_to_i64(c->r->sub, 1, INT64_MAX, &c->repo_id) < 0) {
		tn_fail_param(c->r, "repository_id is invalid");
		rg_free(c);
		return false;
	}
	return true;
}

const char *
rg_status(struct rg_call *c, PGresult *res)
{
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rg_db_error(c, res);
		return NULL;
	}
	const char *status = pg_get(res, 0, "status");
	if (strcmp(status, "repository_not_found") == 0)
		rg_fail(c, 404, "404 Not found");
	else if (strcmp(status, "forbidden") == 0)
		rg_fail(c, 403, "403 Forbidden");
	else if (strcmp(status, "tag_not_found") == 0)
		rg_fail(c, 404, "404 Tag Not Found");
	else
		return status;
	return NULL;
}

/* ---- entities ----------------------------------------------------------------------------------- */

char *
rg_location(struct tn_req *r, const char *path, const char *tag)
{
	char *host = gl_registry_host(r->txn);
	char *loc = tag ? xasprintf("%s/%s:%s", host, path, tag) : xasprintf("%s/%s", host, path);
	free(host);
	return loc;
}

json_object *
rg_tag_json(struct tn_req *r, const char *repo_path, const char *tag)
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
int_col(PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	return v ? json_object_new_int64(strtoll(v, NULL, 10)) : NULL;
}

json_object *
rg_repository_json(struct tn_req *r, PGresult *res, int row, bool can_admin)
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
		size_t n = json_object_is_type(names, json_type_array) ? json_object_array_length(names)
		                                                       : 0;
		for (size_t i = 0; i < n; i++)
			json_object_array_add(
			        arr, rg_tag_json(r, path,
			                         json_object_get_string(json_object_array_get_idx(names, i))));
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

/* ---- routes ------------------------------------------------------------------------------------- */

/* Route entry points: each starts a request with the step that serves it. */
static void
h_repos_project(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", NULL, rg_repos_project);
}

static void
h_repos_group(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", NULL, rg_repos_group);
}

static void
h_repo_get(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", NULL, rg_repo_get);
}

static void
h_repo_delete(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", "repository_id", rg_repo_delete);
}

static void
h_tags_list(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", "repository_id", rg_tags_list);
}

static void
h_tags_bulk_delete(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", "repository_id", rg_tags_bulk_delete);
}

static void
h_tag_get(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", "repository_id", rg_tag_get);
}

static void
h_tag_delete(struct http_txn *txn, const struct route_match *m)
{
	tn_start(txn, m, "id", "repository_id", rg_tag_delete);
}

#define REPOS "/api/v4/projects/:id/registry/repositories"
const struct route rg_routes[] = {
	ROUTE_OWN("GET", REPOS, h_repos_project, "api_registry_repositories"),
	ROUTE_OWN("DELETE", REPOS "/:repository_id", h_repo_delete, "api_registry_repository"),
	ROUTE_OWN("GET", REPOS "/:repository_id/tags", h_tags_list, "api_registry_tags"),
	ROUTE_OWN("DELETE", REPOS "/:repository_id/tags", h_tags_bulk_delete, "api_registry_tags"),
	ROUTE_OWN("GET", REPOS "/:repository_id/tags/:tag_name", h_tag_get, "api_registry_tag"),
	ROUTE_OWN("DELETE", REPOS "/:repository_id/tags/:tag_name", h_tag_delete, "api_registry_tag"),
	ROUTE_OWN("GET", "/api/v4/groups/:id/registry/repositories", h_repos_group,
	  "api_registry_group_repositories"),
	ROUTE_OWN("GET", "/api/v4/registry/repositories/:id", h_repo_get, "api_registry_repository"),
};
const size_t rg_nroutes = nitems(rg_routes);

/*
 * Repositories over GitLab's Container Registry API: a project's (with tags and tags_count), a
 * group's and its subgroups' (what the caller may read), one repository by id (with its
 * deduplicated size), and deletion: the repository is marked delete_scheduled and a background
 * job (registry_jobs.c) removes its tags and manifests; pushes into it are refused meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "metad.h"
#include "pg.h"
#include "util.h"

/* What a repository row may carry besides RG_REPO_COLS, each only when asked for ($n true). */
#define TAGS_COUNT_COL(n)                                                                          \
	"CASE WHEN " n "::boolean THEN (SELECT count(*) FROM tags t WHERE t.repository_id = r.id)" \
	" END AS tags_count"
#define TAGS_COL(n)                                                                                \
	"CASE WHEN " n "::boolean THEN (SELECT coalesce(json_agg(t.name ORDER BY t.name), '[]')"   \
	"   FROM tags t WHERE t.repository_id = r.id) END AS tags"
/* Deduplicated: every blob the repository's manifests reference once, plus the manifests. */
#define SIZE_COL(n)                                                                                  \
	"CASE WHEN " n "::boolean THEN"                                                              \
	" (SELECT coalesce(sum(b.size), 0) FROM blobs b WHERE b.digest IN ("                         \
	"    SELECT mb.blob_digest FROM manifest_blobs mb JOIN manifests m ON m.id = mb.manifest_id" \
	"     WHERE m.repository_id = r.id))"                                                        \
	" + (SELECT coalesce(sum(octet_length(m.payload)), 0) FROM manifests m"                      \
	"     WHERE m.repository_id = r.id) END AS size"

/* $1 project, $2 name filter, $3 limit, $4 offset, $5 tags_count, $6 tags. */
PG_STMT_READ(q_project_repos,
             "WITH items AS (SELECT r.id, r.name FROM repositories r"
             "                WHERE r.project_id = $1"
             "                  AND ($2::text IS NULL OR r.name ILIKE like_pattern($2))),"
             " page AS (SELECT id FROM items ORDER BY name, id LIMIT $3 OFFSET $4)"
             " SELECT (SELECT count(*) FROM items) AS total, x.* FROM (SELECT 1) one"
             " LEFT JOIN LATERAL (SELECT " RG_REPO_COLS ", " TAGS_COUNT_COL("$5") ", " TAGS_COL(
                     "$6") ", NULL::bigint AS size"
                           "   FROM page JOIN repositories r ON r.id = page.id"
                           " ) x ON true ORDER BY x.name, x.id");

/* $1 user, $2 admin, $3/$4 the group (id or path), $5 limit, $6 offset. The caller's pull
 * rights as sets (registry_pull_scope), joined once: no check per repository. */
PG_STMT_READ(
        q_group_repos,
        "WITH g AS (SELECT group_ref($3, $4) AS id),"
        " ok AS (SELECT g.id, coalesce(group_visible($1, $2, g.id), false) AS visible FROM g),"
        " s AS (SELECT * FROM registry_pull_scope($1, $2, 0)),"
        " items AS (SELECT r.id, r.name, p.id AS project_id FROM ok CROSS JOIN s"
        "   JOIN namespaces d ON d.traversal_ids @> ARRAY[ok.id]"
        "   JOIN projects p ON p.namespace_id = d.id"
        "   JOIN repositories r ON r.project_id = p.id"
        "  WHERE ok.visible AND registry_scope_pulls(s.all_projects, s.visibilities,"
        "        s.project_ids, p.container_registry_access_level, p.visibility, p.id)),"
        " page AS (SELECT id FROM items ORDER BY name, id LIMIT $5 OFFSET $6)"
        " SELECT ok.visible, (SELECT count(*) FROM items) AS total, x.* FROM ok"
        " LEFT JOIN LATERAL (SELECT " RG_REPO_COLS ", NULL::bigint AS tags_count,"
        "   NULL::text AS tags, NULL::bigint AS size,"
        "   registry_api_can($1, $2, p.id, 'delete') AS can_admin"
        "   FROM page JOIN repositories r ON r.id = page.id JOIN projects p ON p.id = r.project_id"
        " ) x ON true ORDER BY x.name, x.id");

/* $1 user, $2 admin, $3 repository, $4 tags_count, $5 tags, $6 size. */
PG_STMT_READ(
        q_repo,
        "SELECT a.project_id AS visible_project, a.can_read, a.can_admin, " RG_REPO_COLS
        ", " TAGS_COUNT_COL("$4") ", " TAGS_COL("$5") ", " SIZE_COL(
                "$6") " FROM repositories r,"
                      " LATERAL registry_api_access($1, $2, r.project_id, NULL) a WHERE r.id = $3");

PG_STMT(q_repo_delete, "SELECT registry_repository_delete($1, $2, $3, $4) AS status");

/* ---- lists --------------------------------------------------------------------------------------
 */

/* Answers a page of repositories (offset pagination headers); group lists carry can_admin per
 * row, a project's list the caller's right on the project. */
static void
repos_page(struct rg_call *c, PGresult *res, bool per_row_admin)
{
	json_object *arr = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++)
		if (pg_get(res, i, "id") != NULL)
			json_object_array_add(
			        arr,
			        rg_repository_json(c->r, res, i,
			                           per_row_admin ? pg_get_bool(res, i, "can_admin")
			                                         : c->can_admin));
	gl_page_respond(c->r->txn, &c->r->page, pg_rows(res) ? pg_get_int(res, 0, "total") : 0,
	                arr);
}

/* The project's list is in. */
static void
project_listed(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	if (!pg_ok(res)) {
		rest_db_error(c->r, res);
		return;
	}
	repos_page(c, res, false);
}

/* GET /projects/:id/registry/repositories, once the project may be read. */
static void
project_list(struct rg_call *c)
{
	struct rest_req *r = c->r;
	bool tags = false, tags_count = false;
	if (rest_bool(r, "tags", &tags) < 0 || rest_bool(r, "tags_count", &tags_count) < 0 ||
	    rest_page(r) < 0) {
		return;
	}
	const char *name = rest_str(r, "name");
	rest_arg_i64(r, c->project_id);
	rest_arg(r, name && *name ? name : NULL);
	rest_arg_i64(r, r->page.per_page);
	rest_arg_i64(r, gl_page_offset(&r->page));
	rest_arg_bool(r, tags_count);
	rest_arg_bool(r, tags);
	rest_exec(c->r, &q_project_repos, project_listed, c);
}

void
rg_repos_project(struct rest_req *r)
{
	rg_begin(r, false, project_list);
}

/* The group's list is in: 404 for a group one cannot see. */
static void
group_listed(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	if (!pg_ok(res) || pg_rows(res) == 0) {
		rest_db_error(c->r, res);
		return;
	}
	if (!pg_get_bool(res, 0, "visible")) {
		rest_not_found(c->r, "Group");
		return;
	}
	repos_page(c, res, true);
}

void
rg_repos_group(struct rest_req *r)
{
	if (rest_page(r) < 0)
		return;
	struct rg_call *c = rg_call_new(r);
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_arg_i64(r, r->page.per_page);
	rest_arg_i64(r, gl_page_offset(&r->page));
	rest_exec(c->r, &q_group_repos, group_listed, c);
}

/* ---- one repository -----------------------------------------------------------------------------
 */

/* GET /registry/repositories/:id answered: 404 for what the caller cannot see, 403 when it may
 * see the project but not read its images. */
static void
repo_read(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	if (!pg_ok(res)) {
		rest_db_error(c->r, res);
		return;
	}
	if (pg_rows(res) == 0 || pg_get(res, 0, "visible_project") == NULL) {
		rest_fail(c->r, 404, "404 Not found");
		return;
	}
	if (!pg_get_bool(res, 0, "can_read")) {
		rest_fail(c->r, 403, "403 Forbidden");
		return;
	}
	rest_reply(c->r, 200, rg_repository_json(c->r, res, 0, pg_get_bool(res, 0, "can_admin")));
}

void
rg_repo_get(struct rest_req *r)
{
	bool tags = false, tags_count = false, size = false;
	if (rest_bool(r, "tags", &tags) < 0 || rest_bool(r, "tags_count", &tags_count) < 0 ||
	    rest_bool(r, "size", &size) < 0)
		return;
	struct rg_call *c = rg_call_new(r);
	int64_t id;
	if (str_to_i64(rest_param(r, "id"), 1, INT64_MAX, &id) < 0) {
		rest_fail(c->r, 404, "404 Not found");
		return;
	}
	rest_arg_actor(r);
	rest_arg_i64(r, id);
	rest_arg_bool(r, tags_count);
	rest_arg_bool(r, tags);
	rest_arg_bool(r, size);
	rest_exec(c->r, &q_repo, repo_read, c);
}

/* ---- deletion -----------------------------------------------------------------------------------
 */

/* Scheduled (202, as GitLab answers), or refused. */
static void
repo_deleted(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s != STATUS_ok) {
		rest_status_answer(c->r, res, s);
		return;
	}
	regjobs_kick();
	rest_reply(c->r, 202, json_object_new_int(202));
}

/* DELETE /projects/:id/registry/repositories/:repository_id, once the project may be read. */
static void
repo_delete(struct rg_call *c)
{
	if (!rg_repository_id(c))
		return;
	struct rest_req *r = c->r;
	rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	rest_arg_i64(r, c->repo_id);
	rest_exec(c->r, &q_repo_delete, repo_deleted, c);
}

void
rg_repo_delete(struct rest_req *r)
{
	rg_begin(r, true, repo_delete);
}

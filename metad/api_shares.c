/*
 * Sharing with groups (GitLab's doc/api/projects.md "Share project with group", doc/api/groups.md
 * "Share groups with groups"): POST and DELETE /projects/:id/share and /groups/:id/share, and a
 * project's groups (GET /projects/:id/groups: its ancestors, and with with_shared the groups it
 * is shared with). Who may share, and what a share grants, is SQL (schema/functions/sharing.sql and
 * rights.sql).
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "metad.h"
#include "rest_db.h"
#include "util.h"

PG_STMT(q_project_share, "SELECT * FROM project_share($1, $2, $3, $4, $5, $6, $7)");
PG_STMT(q_project_unshare, "SELECT project_unshare($1, $2, $3, $4, $5) AS status");
PG_STMT(q_group_share, "SELECT * FROM group_share($1, $2, $3, $4, $5, $6, $7)");
PG_STMT(q_group_unshare, "SELECT group_unshare($1, $2, $3, $4, $5) AS status");

/* GitLab's Projects::GroupsFinder: the project's group and its ancestors, and (with_shared, $5)
 * the groups it is shared with: at least $6's role, and with shared_visible_only ($7) only those
 * open to the caller (group_visible_by) and those it is a direct member of, as GitLab has it.
 * Then search ($8) and skip_groups ($9); newest id first. */
PG_STMT_READ(
        q_project_groups,
        "WITH src AS (SELECT project_ref($3, $4) AS id),"
        " ctx AS (SELECT coalesce(project_visible($1, $2, src.id), false) AS ok,"
        "                src.id AS project FROM src),"
        " items AS ("
        "  SELECT n.id, n.name, n.path, n.full_name, n.full_path"
        "    FROM ctx, projects p JOIN namespaces pn ON pn.id = p.namespace_id"
        "    JOIN namespaces n ON n.id = ANY (pn.traversal_ids)"
        "   WHERE ctx.ok AND p.id = ctx.project AND pn.kind = 'group'"
        "  UNION"
        "  SELECT n.id, n.name, n.path, n.full_name, n.full_path"
        "    FROM ctx, project_group_links l JOIN namespaces n ON n.id = l.group_id"
        "   WHERE ctx.ok AND $5::boolean AND l.project_id = ctx.project"
        "     AND not_expired(l.expires_at)"
        "     AND ($6::integer IS NULL OR l.group_access >= $6::integer)"
        "     AND (NOT $7::boolean OR group_visible_by($1, false, n.visibility,"
        "          EXISTS (SELECT 1 FROM group_members gm WHERE gm.namespace_id = n.id"
        "                    AND gm.user_id = $1::bigint AND not_expired(gm.expires_at))))),"
        " kept AS ("
        "  SELECT * FROM items"
        "   WHERE ($8::text IS NULL OR name ILIKE like_pattern($8) OR path ILIKE like_pattern($8))"
        "     AND ($9::bigint[] IS NULL OR NOT id = ANY ($9::bigint[])))"
        " SELECT ctx.ok, (SELECT count(*) FROM kept) AS total, i.*"
        "   FROM ctx LEFT JOIN LATERAL ("
        "     SELECT * FROM kept ORDER BY id DESC LIMIT $10 OFFSET $11) i ON true"
        "  ORDER BY i.id DESC");

/* ---- parameters --------------------------------------------------------------------------------
 */

/* Reads group_id and group_access (both required; the role at most max_level) and expires_at
 * into the SQL arguments; -1 when the request was answered (400, Grape's wording). */
static int
share_params(struct rest_req *r, int max_level)
{
	const char *g = rest_str(r, "group_id"), *l = rest_str(r, "group_access");
	bool has_group = g != NULL && *g != '\0', has_level = l != NULL && *l != '\0';
	if (!has_group || !has_level) {
		rest_fail_param(r, !has_group && !has_level
		                           ? "group_id is missing, group_access is missing"
		                   : !has_group ? "group_id is missing"
		                                : "group_access is missing");
		return -1;
	}
	int64_t group = 0;
	int level = 0;
	const char *expires;
	if (rest_int(r, "group_id", &group) < 0 ||
	    rest_access_level(r, "group_access", &level) < 0 ||
	    rest_date(r, "expires_at", &expires) < 0)
		return -1;
	if (level > max_level) {
		rest_fail_param(r, "group_access does not have a valid value");
		return -1;
	}
	rest_arg_i64(r, group);
	rest_arg_i64(r, level);
	rest_arg(r, expires);
	return 0;
}

/* The :group_id of a DELETE as the last SQL argument; -1 when answered (400). */
static int
unshare_param(struct rest_req *r)
{
	int64_t group;
	if (str_to_i64(rest_param(r, "group_id"), INT64_MIN, INT64_MAX, &group) < 0) {
		rest_fail_param(r, "group_id is invalid");
		return -1;
	}
	rest_arg_i64(r, group);
	return 0;
}

/* ---- projects ----------------------------------------------------------------------------------
 */

/* Maps project_share()'s status onto GitLab's answer: the link (Entities::ProjectGroupLink). */
static void
project_shared(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok) {
		static const char *const ids[][2] = { { "id", "link_id" },
			                              { "project_id", "project_id" },
			                              { "group_id", "group_id" },
			                              { "group_access", "group_access" } };
		json_object *o = json_object_new_object();
		for (size_t i = 0; i < nitems(ids); i++)
			json_object_object_add(
			        o, ids[i][0], json_object_new_int64(pg_get_int(res, 0, ids[i][1])));
		json_object_object_add(o, "expires_at",
		                       js_new_str_or_null(pg_get(res, 0, "expires_at")));
		rest_reply(r, 201, o);
	} else {
		rest_status_answer(r, res, s);
	}
}

/* POST /projects/:id/share: Maintainers share at most at Maintainer, as GitLab's values. */
void
shares_project_share(struct rest_req *r)
{
	r->what = "Project";
	if (!rest_require_user(r))
		return;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	if (share_params(r, 40) < 0)
		return;
	rest_exec(r, &q_project_share, project_shared, r);
}

/* Maps an unshare function's status onto GitLab's answer: 204, or the refusal. */
static void
unshared(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok)
		rest_reply_empty(r, 204);
	else
		rest_status_answer(r, res, s);
}

/* DELETE /projects/:id/share/:group_id */
void
shares_project_unshare(struct rest_req *r)
{
	r->what = "Project";
	if (!rest_require_user(r))
		return;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	if (unshare_param(r) < 0)
		return;
	rest_exec(r, &q_project_unshare, unshared, r);
}

/* Entities::PublicGroupDetails. */
static json_object *
public_group_json(struct rest_req *r, const PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(pg_get_int(res, row, "id")));
	char *url = tn_url(r, "/groups/%s", pg_get(res, row, "full_path"));
	json_object_object_add(o, "web_url", json_object_new_string(url));
	free(url);
	json_object_object_add(o, "name", js_new_str_or_null(pg_get(res, row, "name")));
	json_object_object_add(o, "avatar_url", NULL);
	json_object_object_add(o, "full_name", js_new_str_or_null(pg_get(res, row, "full_name")));
	json_object_object_add(o, "full_path", js_new_str_or_null(pg_get(res, row, "full_path")));
	return o;
}

/* Answers a page of a project's groups. */
static void
project_groups_listed(PGresult *res, void *arg)
{
	rest_reply_list(arg, res, public_group_json);
}

/* GET /projects/:id/groups */
void
shares_project_groups(struct rest_req *r)
{
	r->what = "Project";
	bool shared = false, visible_only = false;
	int min = 0;
	char *skip;
	if (rest_page(r) < 0 || rest_bool(r, "with_shared", &shared) < 0 ||
	    rest_bool(r, "shared_visible_only", &visible_only) < 0 ||
	    rest_access_level(r, "shared_min_access_level", &min) < 0 ||
	    rest_id_list(r, "skip_groups", &skip) < 0)
		return;
	const char *search = rest_str(r, "search");
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_arg_bool(r, shared);
	rest_arg_i64_opt(r, min > 0, min);
	rest_arg_bool(r, visible_only);
	rest_arg(r, search && *search ? search : NULL);
	rest_arg(r, skip);
	free(skip);
	rest_arg_i64(r, r->page.per_page);
	rest_arg_i64(r, gl_page_offset(&r->page));
	rest_exec(r, &q_project_groups, project_groups_listed, r);
}

/* ---- groups ------------------------------------------------------------------------------------
 */

/* Maps group_share()'s status onto GitLab's answer: the shared group (Entities::GroupDetail). */
static void
group_shared(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok)
		tn_group_reply(r, pg_get_int(res, 0, "group_id"), 201);
	else
		rest_status_answer(r, res, s);
}

/* POST /groups/:id/share */
void
shares_group_share(struct rest_req *r)
{
	r->what = "Group";
	if (!rest_require_user(r))
		return;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	if (share_params(r, 50) < 0)
		return;
	rest_exec(r, &q_group_share, group_shared, r);
}

/* DELETE /groups/:id/share/:group_id */
void
shares_group_unshare(struct rest_req *r)
{
	r->what = "Group";
	if (!rest_require_user(r))
		return;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	if (unshare_param(r) < 0)
		return;
	rest_exec(r, &q_group_unshare, unshared, r);
}

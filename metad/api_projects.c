/*
 * Projects (GitLab's doc/api/projects.md): list (all visible, a group's, a user's), create (for
 * oneself or, as admin, for a user), read, update (a path rename moves the project's full path
 * and, with it, its images), delete, and transfer to another namespace.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "metad.h"
#include "rest_db.h"
#include "names.h"
#include "util.h"

static const char *const visibilities[] = { "private", "internal", "public", NULL };
static const char *const registry_levels[] = { "enabled", "private", "disabled", NULL };

enum list_scope { LIST_ALL, LIST_GROUP, LIST_USER };
static const char *const scope_names[] = { "all", "group", "user" };

PG_STMT_READ(
        q_project_get,
        "SELECT " TN_PROJECT_COLS " FROM " TN_PROJECT_FROM
        " WHERE p.id = project_ref($3, $4) AND coalesce(project_visible($1, $2, p.id), false)");
/* With ?statistics=true: the project's registry size for Reporters and admins (GitLab's
 * read_statistics), NULL for others; the bytes it takes on disk for admins (NULL for others). */
PG_STMT_READ(
        q_project_get_statistics,
        "SELECT " TN_PROJECT_COLS ","
        " CASE WHEN $2::boolean OR coalesce(project_access_level($1, p.id), 0) >= 20"
        "      THEN coalesce((SELECT u.size FROM registry_usage_projects u"
        "                      WHERE u.project_id = p.id), 0) END AS container_registry_size,"
        " CASE WHEN $2::boolean THEN usage_stored_of_project(p.id) END"
        "      AS container_registry_stored_size"
        " FROM " TN_PROJECT_FROM
        " WHERE p.id = project_ref($3, $4) AND coalesce(project_visible($1, $2, p.id), false)");

/* GitLab's ProjectsFinder: the projects the caller may see (project_visible_by over its roles,
 * user_project_levels, joined once). $3 scopes it: 'all', a group ($4/$5, with
 * its subgroups when $6), or a user's personal namespace ($4/$5 the user's id or username).
 * SCOPE is the filter on p.namespace_id: none for 'all', so that scoped lists use the index. */
#define PROJECTS_SQL(SCOPE)                                                                          \
	"WITH src AS (SELECT CASE $3::text"                                                          \
	"               WHEN 'group' THEN group_ref($4, $5)"                                         \
	"               WHEN 'user' THEN (SELECT n.id FROM users u"                                  \
	"                   JOIN namespaces n ON n.owner_id = u.id AND n.kind = 'user'"              \
	"                  WHERE CASE WHEN $4::bigint IS NOT NULL THEN u.id = $4::bigint"            \
	"                             ELSE lower(u.username) = lower($5::text) END)"                 \
	"             END AS ns),"                                                                   \
	" ctx AS (SELECT CASE $3::text WHEN 'all' THEN true"                                         \
	"                  WHEN 'group' THEN coalesce(group_visible($1, $2, src.ns), false)"         \
	"                  ELSE src.ns IS NOT NULL END AS ok,"                                       \
	"                CASE WHEN $6::boolean AND $3::text = 'group'"                               \
	"                     THEN ARRAY(SELECT d.id FROM namespaces d"                              \
	"                                 WHERE d.traversal_ids @> ARRAY[src.ns])"                   \
	"                     ELSE ARRAY[src.ns] END AS nss FROM src),"                              \
	" lv AS (SELECT * FROM user_project_levels($1)),"                                            \
	" items AS ("                                                                                \
	"  SELECT p.id, p.created_at AS created_ts, p.updated_at AS updated_ts,"                     \
	"         p.last_activity_at AS activity_ts, lower(p.name) AS sort_name,"                    \
	"         lower(p.path) AS sort_path"                                                        \
	"    FROM ctx, projects p LEFT JOIN lv ON lv.project_id = p.id"                              \
	"   WHERE ctx.ok " SCOPE                                                                     \
	"     AND project_visible_by($1, $2, p.visibility, lv.access_level)"                         \
	"     AND (NOT $7::boolean OR lv.access_level IS NOT NULL)"                                  \
	"     AND (NOT $8::boolean OR lv.access_level >= 50)"                                        \
	"     AND ($9::text IS NULL OR p.name ILIKE like_pattern($9)"                                \
	"          OR p.path ILIKE like_pattern($9) OR p.description ILIKE like_pattern($9)"         \
	"          OR ($10::boolean AND p.full_path ILIKE like_pattern($9)))"                        \
	"     AND ($11::text IS NULL OR p.visibility = $11::text)"                                   \
	"     AND ($12::integer IS NULL OR coalesce(lv.access_level, 0) >= $12::integer)"            \
	"     AND ($13::bigint IS NULL OR p.id > $13::bigint)"                                       \
	"     AND ($14::bigint IS NULL OR p.id < $14::bigint)),"                                     \
	" page AS ("                                                                                 \
	"  SELECT id, row_number() OVER (ORDER BY"                                                   \
	"       CASE WHEN $15::text = 'name' AND $16::text = 'asc' THEN sort_name END ASC,"          \
	"       CASE WHEN $15::text = 'name' AND $16::text = 'desc' THEN sort_name END DESC,"        \
	"       CASE WHEN $15::text = 'path' AND $16::text = 'asc' THEN sort_path END ASC,"          \
	"       CASE WHEN $15::text = 'path' AND $16::text = 'desc' THEN sort_path END DESC,"        \
	"       CASE WHEN $15::text = 'created_at' AND $16::text = 'asc' THEN created_ts END ASC,"   \
	"       CASE WHEN $15::text = 'created_at' AND $16::text = 'desc' THEN created_ts END DESC," \
	"       CASE WHEN $15::text = 'updated_at' AND $16::text = 'asc' THEN updated_ts END ASC,"   \
	"       CASE WHEN $15::text = 'updated_at' AND $16::text = 'desc' THEN updated_ts END DESC," \
	"       CASE WHEN $15::text = 'last_activity_at' AND $16::text = 'asc'"                      \
	"            THEN activity_ts END ASC,"                                                      \
	"       CASE WHEN $15::text = 'last_activity_at' AND $16::text = 'desc'"                     \
	"            THEN activity_ts END DESC,"                                                     \
	"       CASE WHEN $16::text = 'asc' THEN id END ASC,"                                        \
	"       CASE WHEN $16::text = 'desc' THEN id END DESC) AS rn"                                \
	"    FROM items ORDER BY rn LIMIT $17 OFFSET $18)"                                           \
	" SELECT ctx.ok, (SELECT count(*) FROM items) AS total, i.*"                                 \
	"   FROM ctx LEFT JOIN LATERAL ("                                                            \
	"     SELECT " TN_PROJECT_COLS ", page.rn FROM page"                                         \
	"       JOIN projects p ON p.id = page.id"                                                   \
	"       JOIN namespaces n ON n.id = p.namespace_id LEFT JOIN users o ON o.id = n.owner_id"   \
	"    ) i ON true ORDER BY i.rn"

PG_STMT_READ(q_projects, PROJECTS_SQL(""));
PG_STMT_READ(q_projects_scoped, PROJECTS_SQL("AND p.namespace_id = ANY (ctx.nss)"));

PG_STMT(q_project_create, "SELECT * FROM project_create($1, $2, $3, $4, $5, $6, $7, $8)");
PG_STMT(q_project_update, "SELECT * FROM project_update($1, $2, $3, $4, $5, $6, $7, $8, $9)");
PG_STMT(q_project_delete, "SELECT project_delete($1, $2, $3, $4) AS status");
PG_STMT(q_project_transfer, "SELECT * FROM project_transfer($1, $2, $3, $4, $5, $6)");
/* POST /groups/:id/projects/:project_id: the same transfer, into a group only */
PG_STMT(q_project_to_group,
        "SELECT coalesce(t.status, 'group_not_found') AS status, t.project_id,"
        " g.id AS group_id FROM (SELECT group_ref($5, $6) AS id) g"
        " LEFT JOIN LATERAL project_transfer($1, $2, $3, $4, g.id, NULL) t ON g.id IS NOT NULL");

/* ---- reading -----------------------------------------------------------------------------------
 */

/* Answers with the project just read (status in r->num, shape in r->mode), or 404. */
static void
project_read(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (rest_found(r, res, "Project"))
		rest_reply(r, (int)r->num,
		           tn_project_json(r, res, 0, (enum tn_project_shape)r->mode));
}

void
tn_project_reply(struct rest_req *r, int64_t id, int status)
{
	r->num = status;
	r->mode = TN_PROJECT_WITH_ACCESS;
	rest_arg_actor(r);
	rest_arg_i64(r, id);
	rest_arg(r, NULL);
	rest_exec(r, &q_project_get, project_read, r);
}

/* GET /projects/:id[?statistics=true] */
void
projects_get(struct rest_req *r)
{
	bool statistics = false;
	if (rest_bool(r, "statistics", &statistics) < 0)
		return;
	r->num = 200;
	/* anonymous callers get the basic shape, as GitLab gives them */
	r->mode = r->actor.user_id > 0 ? TN_PROJECT_WITH_ACCESS : TN_PROJECT_BASIC;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_exec(r,
	          statistics && r->mode != TN_PROJECT_BASIC ? &q_project_get_statistics
	                                                    : &q_project_get,
	          project_read, r);
}

/* List item builders: the basic shape (simple=true, anonymous), the full one. */
static json_object *
build_basic(struct rest_req *r, const PGresult *res, int row)
{
	return tn_project_json(r, res, row, TN_PROJECT_BASIC);
}

/* The full shape of a project in a list, for signed-in callers who did not ask for simple. */
static json_object *
build_full(struct rest_req *r, const PGresult *res, int row)
{
	return tn_project_json(r, res, row, TN_PROJECT_WITH_ACCESS);
}

/* Answers a page of projects. */
static void
projects_listed(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	rest_reply_list(r, res, r->num ? build_basic : build_full);
}

/* GET /projects, /groups/:id/projects, /users/:user_id/projects */
void
projects_list(struct rest_req *r)
{
	static const char *const orders[] = { "id",         "name",       "path",
		                              "created_at", "updated_at", "last_activity_at",
		                              NULL };
	const char *order_by, *sort, *vis;
	bool subgroups = false, membership = false, owned = false, simple = false,
	     search_ns = false;
	int min = 0;
	int64_t after = 0, before = 0;
	int has_after, has_before;
	r->what = r->mode == LIST_GROUP ? "Group" : r->mode == LIST_USER ? "User" : "Project";
	if (rest_page(r) < 0 || rest_order(r, orders, "created_at", "desc", &order_by, &sort) < 0 ||
	    rest_bool(r, "include_subgroups", &subgroups) < 0 ||
	    rest_bool(r, "membership", &membership) < 0 || rest_bool(r, "owned", &owned) < 0 ||
	    rest_bool(r, "simple", &simple) < 0 ||
	    rest_bool(r, "search_namespaces", &search_ns) < 0 ||
	    rest_enum(r, "visibility", visibilities, &vis) < 0 ||
	    rest_access_level(r, "min_access_level", &min) < 0 ||
	    (has_after = rest_int(r, "id_after", &after)) < 0 ||
	    (has_before = rest_int(r, "id_before", &before)) < 0)
		return;
	/* anonymous callers get the simple shape, as GitLab gives them */
	r->num = simple || r->actor.user_id <= 0;
	const char *search = rest_str(r, "search");
	rest_arg_actor(r);
	rest_arg(r, scope_names[r->mode]);
	rest_arg_ref(r, rest_param(r, r->mode == LIST_USER ? "user_id" : "id"));
	rest_arg_bool(r, subgroups);
	rest_arg_bool(r, membership && r->actor.user_id > 0);
	rest_arg_bool(r, owned && r->actor.user_id > 0);
	rest_arg(r, search && *search ? search : NULL);
	rest_arg_bool(r, search_ns);
	rest_arg(r, vis);
	rest_arg_i64_opt(r, min > 0, min);
	rest_arg_i64_opt(r, has_after, after);
	rest_arg_i64_opt(r, has_before, before);
	rest_arg(r, order_by);
	rest_arg(r, sort);
	rest_arg_i64(r, r->page.per_page);
	rest_arg_i64(r, gl_page_offset(&r->page));
	rest_exec(r, r->mode == LIST_ALL ? &q_projects : &q_projects_scoped, projects_listed, r);
}

/* ---- writing -----------------------------------------------------------------------------------
 */

/* GitLab's path from a name: lowercase, anything but letters, digits and '_' becomes '-'. */
static char *
path_from_name(const char *name)
{
	size_t len = strlen(name);
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
		if (keep)
			out[o++] = c;
		else if (o > 0 && out[o - 1] != '-')
			out[o++] = '-';
	}
	while (o > 0 && out[o - 1] == '-')
		o--;
	out[o] = '\0';
	return out;
}

/* 400 {"message": {"name": [...], "path": [...]}} for the fields detail lists ("name,path"). */
static void
fail_taken(struct rest_req *r, const char *detail)
{
	json_object *errs = json_object_new_object();
	static const char *const fields[] = { "name", "path" };
	for (size_t i = 0; i < nitems(fields); i++) {
		if (detail == NULL || strstr(detail, fields[i]) == NULL)
			continue;
		json_object *list = json_object_new_array();
		json_object_array_add(list, json_object_new_string("has already been taken"));
		json_object_object_add(errs, fields[i], list);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "message", errs);
	rest_reply(r, 400, o);
}

/* 400 for a visibility above the group's (its visibility in the result's detail). */
static void
fail_visibility(struct rest_req *r, const PGresult *res)
{
	const char *vis = rest_str(r, "visibility");
	char *why = status_text(STATUS_visibility, pg_get(res, 0, "detail"));
	char *text = xasprintf("%s %s", vis ? vis : "private", why);
	rest_fail_validation(r, status_entry(STATUS_visibility)->field, text);
	free(text);
	free(why);
}

/* Reads container_registry_access_level, or the legacy container_registry_enabled. */
static int
registry_level(struct rest_req *r, const char **out)
{
	int rc = rest_enum(r, "container_registry_access_level", registry_levels, out);
	if (rc != 0)
		return rc;
	bool enabled;
	rc = rest_bool(r, "container_registry_enabled", &enabled);
	if (rc == 1)
		*out = enabled ? "enabled" : "disabled";
	return rc;
}

/* Maps project_create()'s status onto GitLab's answer. */
static void
project_created(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	const char *detail = s != STATUS_NONE ? pg_get(res, 0, "detail") : NULL;
	if (s == STATUS_ok) {
		rg_policy_save(r, pg_get_int(res, 0, "project_id"), 201, tn_project_reply);
	} else if (s == STATUS_limit_reached) {
		/* GitLab's message is a list; a limit of 0 is no personal project at all */
		char *text =
		        strcmp(detail, "0") == 0
		                ? xstrdup("Personal project creation is not allowed. Please contact "
		                          "your administrator with questions")
		                : status_text(s, detail);
		json_object *list = json_object_new_array();
		json_object_array_add(list, json_object_new_string(text));
		free(text);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "message", list);
		rest_reply(r, 403, o);
	} else if (s == STATUS_visibility) {
		fail_visibility(r, res);
	} else if (s == STATUS_taken) {
		fail_taken(r, detail);
	} else {
		rest_status_answer(r, res, s);
	}
}

/* Validates the fields of a create or update (name and path, deriving one from the other when
 * creating; description, visibility, registry access, cleanup policy) and adds name, path,
 * description, visibility and registry access to the SQL arguments; -1 when the request was
 * answered. */
static int
project_fields(struct rest_req *r, bool create)
{
	const char *n = rest_str(r, "name"), *p = rest_str(r, "path"), *vis, *registry, *why;
	if (n != NULL && *n == '\0')
		n = NULL;
	if (p != NULL && *p == '\0')
		p = NULL;
	if (rest_enum(r, "visibility", visibilities, &vis) < 0 || registry_level(r, &registry) < 0)
		return -1;
	if (create && n == NULL && p == NULL) {
		rest_fail_param(r,
		                "name, path are missing, at least one parameter must be provided");
		return -1;
	}
	if (n != NULL && !tn_valid_project_name(n, &why)) {
		rest_fail_validation(r, "name", why);
		return -1;
	}
	const char *description = rest_str(r, "description");
	if (description != NULL && tn_chars(description) > TN_DESCRIPTION_MAX) {
		rest_fail_validation(r, "description", tn_description_message);
		return -1;
	}
	char *name = n ? xstrdup(n) : create ? xstrdup(p) : NULL;
	char *path = p ? xstrdup(p) : create ? path_from_name(n) : NULL;
	int rc = 0;
	if (path != NULL && !name_valid_path(path)) {
		rest_fail_validation(r, "path", tn_path_message);
		rc = -1;
	} else if (rg_policy_check(r) < 0) {
		rc = -1;
	} else {
		rest_arg(r, name);
		rest_arg(r, path);
		rest_arg(r, description);
		rest_arg(r, vis);
		rest_arg(r, registry);
	}
	free(name);
	free(path);
	return rc;
}

/* Sends the create for user (the caller, or the user of /projects/user/:user_id). */
static void
project_create_as(struct rest_req *r, int64_t user, bool admin)
{
	int64_t ns = 0;
	int has_ns = rest_int(r, "namespace_id", &ns);
	if (has_ns < 0)
		return;
	rest_arg_i64(r, user);
	rest_arg_bool(r, admin);
	rest_arg_i64_opt(r, has_ns, ns);
	if (project_fields(r, true) < 0)
		return;
	rest_exec(r, &q_project_create, project_created, r);
}

/* POST /projects */
void
projects_create(struct rest_req *r)
{
	r->what = "Project";
	if (!rest_require_user(r))
		return;
	project_create_as(r, r->actor.user_id, r->actor.admin);
}

/* POST /projects/user/:user_id (admins): a project in that user's name. */
void
projects_create_for_user(struct rest_req *r)
{
	r->what = "Project";
	if (!rest_require_user(r))
		return;
	if (!r->actor.admin) {
		rest_fail(r, 403, "403 Forbidden");
		return;
	}
	int64_t user;
	if (str_to_i64(rest_param(r, "user_id"), 1, INT64_MAX, &user) < 0) {
		rest_fail_param(r, "user_id is invalid");
		return;
	}
	if (rest_str(r, "name") == NULL) {
		rest_fail_param(r, "name is missing");
		return;
	}
	project_create_as(r, user, false);
}

/* Maps project_update()'s status onto GitLab's answer. */
static void
project_updated(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok)
		/* the cleanup policy is written once the update passed the rights checks */
		rg_policy_save(r, pg_get_int(res, 0, "project_id"), 200, tn_project_reply);
	else if (s == STATUS_visibility)
		fail_visibility(r, res);
	else if (s == STATUS_taken)
		fail_taken(r, pg_get(res, 0, "detail"));
	else
		rest_status_answer(r, res, s);
}

/* PUT /projects/:id */
void
projects_update(struct rest_req *r)
{
	r->what = "Project";
	static const char *const fields[] = { "name",
		                              "path",
		                              "description",
		                              "visibility",
		                              "container_registry_access_level",
		                              "container_registry_enabled" };
	if (!rest_require_user(r))
		return;
	bool any = rg_policy_given(r);
	for (size_t i = 0; i < nitems(fields); i++)
		any = any || rest_has(r, fields[i]);
	if (!any) {
		rest_fail_param(
		        r, "name, path, description, visibility, container_registry_access_level, "
		           "container_registry_enabled, container_expiration_policy_attributes are "
		           "missing, at least one parameter must be provided");
		return;
	}
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	if (project_fields(r, false) < 0)
		return;
	rest_exec(r, &q_project_update, project_updated, r);
}

/* DELETE /projects/:id */
void
projects_delete(struct rest_req *r)
{
	r->what = "Project";
	tn_delete(r, &q_project_delete);
}

/* Maps project_transfer()'s status onto GitLab's answer. */
static void
project_transferred(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok) {
		if (r->mode == LIST_GROUP)
			tn_group_reply(r, pg_get_int(res, 0, "group_id"), 201);
		else
			tn_project_reply(r, pg_get_int(res, 0, "project_id"), 200);
	} else if (s == STATUS_transfer_refused || s == STATUS_namespace_has_project) {
		/* the transfers a project cannot make, as GitLab words them */
		rest_status_framed(r, res, s,
		                   "Failed to transfer project {:new_namespace=>[\"%s\"]}");
	} else {
		rest_status_answer(r, res, s);
	}
}

/* PUT /projects/:id/transfer: namespace is an id or a full path. */
void
projects_transfer(struct rest_req *r)
{
	r->what = "Project";
	if (!rest_require_user(r))
		return;
	const char *ns = rest_str(r, "namespace");
	if (ns == NULL || *ns == '\0') {
		rest_fail_param(r, "namespace is missing");
		return;
	}
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_arg_ref(r, ns);
	rest_exec(r, &q_project_transfer, project_transferred, r);
}

/* POST /groups/:id/projects/:project_id (admins). */
void
projects_transfer_to_group(struct rest_req *r)
{
	r->what = "Project";
	if (!rest_require_user(r))
		return;
	if (!r->actor.admin) {
		rest_fail(r, 403, "403 Forbidden");
		return;
	}
	r->mode = LIST_GROUP;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "project_id"));
	rest_arg_ref(r, rest_param(r, "id"));
	rest_exec(r, &q_project_to_group, project_transferred, r);
}

/* ---- the lists of a group and of a user --------------------------------------------------------
 */

/* GET /groups/:id/projects */
void
projects_of_group(struct rest_req *r)
{
	r->mode = LIST_GROUP;
	projects_list(r);
}

/* GET /users/:user_id/projects */
void
projects_of_user(struct rest_req *r)
{
	r->mode = LIST_USER;
	projects_list(r);
}

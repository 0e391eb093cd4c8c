/*
 * Groups (GitLab's doc/api/groups.md): list, create (nested subgroups), read, update (a rename
 * carries every path below the group), delete, subgroups and descendants, and transfer.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "rest_db.h"
#include "json.h"
#include "metad.h"
#include "names.h"
#include "util.h"

static const char *const visibilities[] = { "private", "internal", "public", NULL };

enum list_scope { LIST_ALL, LIST_CHILDREN, LIST_DESCENDANTS };
static const char *const scope_names[] = { "all", "children", "descendants" };

PG_STMT_READ(q_group_get,
             "SELECT " TN_GROUP_DETAIL_COLS " FROM namespaces n"
             " WHERE n.id = group_ref($3, $4) AND coalesce(group_visible($1, $2, n.id), false)");

/* GitLab's GroupsFinder: the groups a caller sees through membership (user_member_groups), or
 * with all_available (the default for admins and anonymous callers) every group visible to it
 * (group_visible_by over that set, joined once). */
PG_STMT_READ(
        q_groups,
        "WITH par AS (SELECT group_ref($3, $4) AS id),"
        " ctx AS (SELECT $5::text = 'all' OR coalesce(group_visible($1, $2, par.id), false) AS ok,"
        "                par.id AS parent FROM par),"
        " lv AS (SELECT * FROM user_group_levels($1)),"
        " mine AS (SELECT namespace_id FROM user_member_groups($1)),"
        " items AS ("
        "  SELECT " TN_GROUP_COLS ", lower(n.name) AS sort_name, lower(n.path) AS sort_path"
        "    FROM ctx, namespaces n LEFT JOIN lv ON lv.namespace_id = n.id"
        "    CROSS JOIN LATERAL (SELECT n.id IN (SELECT namespace_id FROM mine) AS member) m"
        "   WHERE ctx.ok AND n.kind = 'group'"
        "     AND ($5::text = 'all'"
        "          OR ($5::text = 'children' AND n.parent_id = ctx.parent)"
        "          OR ($5::text = 'descendants' AND n.traversal_ids @> ARRAY[ctx.parent]"
        "              AND n.id <> ctx.parent))"
        "     AND CASE WHEN $6::boolean THEN group_visible_by($1, $2, n.visibility, m.member)"
        "              ELSE m.member END"
        "     AND (NOT $7::boolean OR n.parent_id IS NULL)"
        "     AND ($8::text IS NULL OR n.name ILIKE like_pattern($8) OR n.path ILIKE like_pattern($8))"
        "     AND (NOT $9::boolean OR EXISTS (SELECT 1 FROM group_members gm"
        "           WHERE gm.namespace_id = n.id AND gm.user_id = $1 AND gm.access_level = 50"
        "             AND (gm.expires_at IS NULL OR gm.expires_at > current_date)))"
        "     AND ($10::integer IS NULL OR coalesce(lv.access_level, 0) >= $10::integer)"
        "     AND ($15::bigint[] IS NULL OR NOT n.id = ANY ($15::bigint[])))"
        " SELECT ctx.ok, (SELECT count(*) FROM items) AS total, i.*"
        "   FROM ctx LEFT JOIN LATERAL ("
        "     SELECT * FROM items ORDER BY"
        "       CASE WHEN $11::text = 'name' AND $12::text = 'asc' THEN sort_name END ASC,"
        "       CASE WHEN $11::text = 'name' AND $12::text = 'desc' THEN sort_name END DESC,"
        "       CASE WHEN $11::text = 'path' AND $12::text = 'asc' THEN sort_path END ASC,"
        "       CASE WHEN $11::text = 'path' AND $12::text = 'desc' THEN sort_path END DESC,"
        "       CASE WHEN $11::text = 'id' AND $12::text = 'desc' THEN id END DESC,"
        "       id ASC"
        "     LIMIT $13 OFFSET $14) i ON true");

PG_STMT(q_group_create, "SELECT * FROM group_create($1, $2, $3, $4, $5, $6, $7)");
PG_STMT(q_group_update, "SELECT * FROM group_update($1, $2, $3, $4, $5, $6, $7, $8)");
PG_STMT(q_group_delete, "SELECT group_delete($1, $2, $3, $4) AS status");
PG_STMT(q_group_transfer, "SELECT * FROM group_transfer($1, $2, $3, $4, $5)");

/* ---- reading -----------------------------------------------------------------------------------
 */

/* Answers with the group just read (status in r->num), or 404. */
static void
group_read(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (rest_found(r, res, "Group"))
		rest_reply(r, (int)r->num, tn_group_detail_json(r, res, 0));
}

void
tn_group_reply(struct rest_req *r, int64_t id, int status)
{
	r->num = status;
	rest_arg_actor(r);
	rest_arg_i64(r, id);
	rest_arg(r, NULL);
	rest_exec(r, &q_group_get, group_read, r);
}

/* GET /groups/:id */
void
groups_get(struct rest_req *r)
{
	r->num = 200;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_exec(r, &q_group_get, group_read, r);
}

/* Answers a page of groups. */
static void
groups_listed(PGresult *res, void *arg)
{
	rest_reply_list(arg, res, tn_group_json);
}

/* GET /groups, /groups/:id/subgroups, /groups/:id/descendant_groups */
void
groups_list(struct rest_req *r)
{
	static const char *const orders[] = { "name", "path", "id", NULL };
	const char *order_by, *sort;
	bool all_available = r->actor.admin, top = false, owned = false;
	int64_t min = 0;
	int min_level = 0;
	r->what = "Group";
	if (rest_page(r) < 0 || rest_order(r, orders, "name", "asc", &order_by, &sort) < 0 ||
	    rest_bool(r, "all_available", &all_available) < 0 ||
	    rest_bool(r, "top_level_only", &top) < 0 || rest_bool(r, "owned", &owned) < 0 ||
	    rest_access_level(r, "min_access_level", &min_level) < 0)
		return;
	char *skip;
	if (rest_id_list(r, "skip_groups", &skip) < 0)
		return;
	min = min_level;
	if (r->actor.user_id <= 0)
		all_available = true; /* anonymous callers see public groups */
	const char *search = rest_str(r, "search");
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_arg(r, scope_names[r->mode]);
	rest_arg_bool(r, all_available);
	rest_arg_bool(r, top);
	rest_arg(r, search && *search ? search : NULL);
	rest_arg_bool(r, owned && r->actor.user_id > 0);
	rest_arg_i64_opt(r, min > 0, min);
	rest_arg(r, order_by);
	rest_arg(r, sort);
	rest_arg_i64(r, r->page.per_page);
	rest_arg_i64(r, gl_page_offset(&r->page));
	rest_arg(r, skip);
	free(skip);
	rest_exec(r, &q_groups, groups_listed, r);
}

/* ---- writing -----------------------------------------------------------------------------------
 */

/* GitLab's "Failed to save group {:key=>["text"]}" (the model's errors, printed by Ruby). */
static void
group_save_failed(struct rest_req *r, const char *key, const char *text)
{
	char *msg = xasprintf("Failed to save group {:%s=>[\"%s\"]}", key, text);
	rest_fail(r, 400, msg);
	free(msg);
}

/* Whether a word refuses a group's visibility (the parent's is lower, or something below is
 * higher). */
static bool
refuses_visibility(enum status_word s)
{
	return s == STATUS_visibility_parent || s == STATUS_visibility_subgroups ||
	       s == STATUS_visibility_projects;
}

/* The model error of such a word: the visibility refused, then why. Caller frees. */
static char *
visibility_error(enum status_word s, const char *visibility)
{
	char *why = status_text(s, NULL);
	char *text = xasprintf("%s %s", visibility, why);
	free(why);
	return text;
}

/* Maps group_create()'s status onto GitLab's answer: its refusals in "Failed to save group". */
static void
group_created(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok) {
		tn_group_reply(r, pg_get_int(res, 0, "group_id"), 201);
	} else if (s == STATUS_path_taken) {
		char *text = status_text(s, NULL);
		group_save_failed(r, status_entry(s)->field, text);
		free(text);
	} else if (refuses_visibility(s)) {
		const char *vis = rest_str(r, "visibility");
		char *text = visibility_error(s, vis ? vis : "private");
		group_save_failed(r, status_entry(s)->field, text);
		free(text);
	} else {
		rest_status_answer(r, res, s);
	}
}

/* POST /groups */
void
groups_create(struct rest_req *r)
{
	r->what = "Group";
	if (!rest_require_user(r))
		return;
	const char *name = rest_str(r, "name"), *path = rest_str(r, "path"), *vis, *why;
	if (name == NULL || path == NULL) {
		rest_fail_param(r, name == NULL && path == NULL ? "name is missing, path is missing"
		                   : name == NULL               ? "name is missing"
		                                                : "path is missing");
		return;
	}
	int64_t parent = 0;
	int has_parent = rest_int(r, "parent_id", &parent);
	if (has_parent < 0 || rest_enum(r, "visibility", visibilities, &vis) < 0)
		return;
	if (!tn_valid_group_name(name, &why)) {
		group_save_failed(r, "name", why);
		return;
	}
	if (!name_valid_path(path)) {
		group_save_failed(r, "path", tn_path_message);
		return;
	}
	const char *description = rest_str(r, "description");
	if (description != NULL && tn_chars(description) > TN_DESCRIPTION_MAX) {
		group_save_failed(r, "description", tn_description_message);
		return;
	}
	rest_arg_actor(r);
	rest_arg(r, name);
	rest_arg(r, path);
	rest_arg_i64_opt(r, has_parent, parent);
	rest_arg(r, vis);
	rest_arg(r, description);
	rest_exec(r, &q_group_create, group_created, r);
}

/* Maps group_update()'s status onto GitLab's answer. */
static void
group_updated(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok) {
		tn_group_reply(r, pg_get_int(res, 0, "group_id"), 200);
	} else if (refuses_visibility(s)) {
		char *text = visibility_error(s, rest_str(r, "visibility"));
		rest_fail_validation(r, status_entry(s)->field, text);
		free(text);
	} else {
		rest_status_answer(r, res, s);
	}
}

/* PUT /groups/:id */
void
groups_update(struct rest_req *r)
{
	r->what = "Group";
	if (!rest_require_user(r))
		return;
	const char *name = rest_str(r, "name"), *path = rest_str(r, "path"), *vis, *why;
	if (rest_enum(r, "visibility", visibilities, &vis) < 0)
		return;
	if (name != NULL && !tn_valid_group_name(name, &why)) {
		rest_fail_validation(r, "name", why);
		return;
	}
	if (path != NULL && !name_valid_path(path)) {
		rest_fail_validation(r, "path", tn_path_message);
		return;
	}
	const char *description = rest_str(r, "description");
	if (description != NULL && tn_chars(description) > TN_DESCRIPTION_MAX) {
		rest_fail_validation(r, "description", tn_description_message);
		return;
	}
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_arg(r, name);
	rest_arg(r, path);
	rest_arg(r, vis);
	rest_arg(r, description);
	rest_exec(r, &q_group_update, group_updated, r);
}

/* DELETE /groups/:id */
void
groups_delete(struct rest_req *r)
{
	r->what = "Group";
	tn_delete(r, &q_group_delete);
}

/* Maps group_transfer()'s status onto GitLab's answer. */
static void
group_transferred(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok) {
		bool post = strcmp(http_txn_request(r->txn)->method, "POST") == 0;
		tn_group_reply(r, pg_get_int(res, 0, "group_id"), post ? 201 : 200);
	} else if (s != STATUS_NONE && status_entry(s)->http == 400) {
		/* the transfers a group cannot make, as GitLab words them */
		rest_status_framed(r, res, s, "Transfer failed: %s");
	} else {
		rest_status_answer(r, res, s);
	}
}

/* POST (or PUT) /groups/:id/transfer: under group_id, or to the top level without it. */
void
groups_transfer(struct rest_req *r)
{
	r->what = "Group";
	if (!rest_require_user(r))
		return;
	int64_t target = 0;
	int has_target = rest_int(r, "group_id", &target);
	if (has_target < 0)
		return;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_arg_i64_opt(r, has_target, target);
	rest_exec(r, &q_group_transfer, group_transferred, r);
}

/* ---- subgroups ---------------------------------------------------------------------------------
 */

/* Lists the groups below :id. */
static void
list_scoped(struct rest_req *r, enum list_scope scope)
{
	r->mode = scope;
	groups_list(r);
}

/* GET /groups/:id/subgroups: direct children. */
void
groups_subgroups(struct rest_req *r)
{
	list_scoped(r, LIST_CHILDREN);
}

/* GET /groups/:id/descendant_groups: every group below. */
void
groups_descendants(struct rest_req *r)
{
	list_scoped(r, LIST_DESCENDANTS);
}

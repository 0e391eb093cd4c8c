/*
 * GET /users/:id/memberships (admins): the groups and projects a user is a direct member of,
 * as GitLab's Entities::Membership (source_id, source_name, source_type "Namespace" or
 * "Project", access_level), filtered by type, paginated. Memberships past their expiry do not
 * count, as they grant nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "json.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

/* $1 user, $2 type (NULL: both), $3 limit, $4 offset; one row with user_found and total even
 * when the page is empty. */
PG_STMT_READ(
        q_list,
        "WITH m AS ("
        "SELECT gm.namespace_id AS source_id, n.name AS source_name, 'Namespace' AS source_type, "
        "gm.access_level, gm.created_at FROM group_members gm "
        "JOIN namespaces n ON n.id = gm.namespace_id "
        "WHERE gm.user_id = $1 AND ($2::text IS NULL OR $2 = 'Namespace') "
        "AND (gm.expires_at IS NULL OR gm.expires_at > current_date) "
        "UNION ALL "
        "SELECT pm.project_id, p.name, 'Project', pm.access_level, pm.created_at "
        "FROM project_members pm JOIN projects p ON p.id = pm.project_id "
        "WHERE pm.user_id = $1 AND ($2::text IS NULL OR $2 = 'Project') "
        "AND (pm.expires_at IS NULL OR pm.expires_at > current_date)) "
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS user_found, "
        "(SELECT count(*) FROM m) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "SELECT m.source_id AS id, m.* FROM m ORDER BY m.created_at, m.source_type, m.source_id "
        "LIMIT $3 OFFSET $4) p ON true");

/* Entities::Membership from a row of q_list (a rest_row_fn). */
static json_object *
membership_json(struct rest_req *r, const PGresult *res, int row)
{
	(void)r;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "source_id",
	                       json_object_new_int64(pg_get_int(res, row, "source_id")));
	json_object_object_add(o, "source_name",
	                       json_object_new_string(pg_get(res, row, "source_name")));
	json_object_object_add(o, "source_type",
	                       json_object_new_string(pg_get(res, row, "source_type")));
	json_object_object_add(o, "access_level",
	                       json_object_new_int64(pg_get_int(res, row, "access_level")));
	return o;
}

/* Answers a page of memberships. */
static void
list_got(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (pg_ok(res) && pg_rows(res) >= 1 && !pg_get_bool(res, 0, "user_found"))
		rest_fail(r, 404, "404 User Not Found");
	else
		rest_reply_list(r, res, membership_json);
}

/* GET /users/:id/memberships (admins): the type first (as Grape checks it), then the caller. */
void
memberships_list(struct rest_req *r)
{
	const char *type = rest_str(r, "type");
	if (type != NULL && strcmp(type, "Project") != 0 && strcmp(type, "Namespace") != 0) {
		rest_fail_param(r, "type does not have a valid value");
		return;
	}
	if (!rest_require_admin(r) || !rest_require_id(r, rest_param(r, "id")) || rest_page(r) < 0)
		return;
	rest_arg(r, rest_param(r, "id"));
	rest_arg(r, type);
	rest_arg_page(r);
	rest_exec(r, &q_list, list_got, r);
}

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
#include "util.h"

/* $1 user, $2 type (NULL: both), $3 limit, $4 offset; one row with user_found and total even
 * when the page is empty. */
PG_STMT(q_list,
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

struct membership_op {
	struct http_txn *txn;
	struct actor actor;
	char *id;
	struct gl_page page;
};

/* Frees a request's state. */
static void
op_free(void *arg)
{
	struct membership_op *op = arg;
	free(op->id);
	free(op);
}

/* Entities::Membership from a row of q_list (a rest_row_fn). */
static json_object *
membership_json(const PGresult *res, int row, void *arg)
{
	(void)arg;
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
	struct membership_op *op = arg;
	if (pg_ok(res) && pg_rows(res) >= 1 && !pg_get_bool(res, 0, "user_found"))
		error_gitlab(op->txn, 404, "404 User Not Found");
	else
		rest_respond_page(op->txn, &op->page, res, "membership list", membership_json, NULL);
	op_free(op);
}

/* Checks the type (first, as Grape does), then that the caller is an admin. */
static void
list_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct membership_op *op = arg;
	const char *type = gl_param_str(p, "type");
	if (type != NULL && strcmp(type, "Project") != 0 && strcmp(type, "Namespace") != 0) {
		error_gitlab_param(txn, "type does not have a valid value");
		op_free(op);
		return;
	}
	struct rest_window w;
	if (!rest_require_admin(txn, &op->actor) || !rest_require_id(txn, op->id) ||
	    !rest_page(txn, &op->page, &w)) {
		op_free(op);
		return;
	}
	const char *v[] = { op->id, type, w.limit, w.offset };
	pg_exec(ad.db, &q_list, 4, v, list_got, op);
}

/* GET /users/:id/memberships (admins) */
static void
h_list(struct http_txn *txn, const struct route_match *m)
{
	struct membership_op *op = xcalloc(1, sizeof(*op));
	op->txn = txn;
	rest_actor(txn, &op->actor);
	const char *id = route_param(m, "id");
	op->id = id ? xstrdup(id) : NULL;
	params_read(txn, list_params, op_free, op);
}

const struct route memberships_routes[] = {
	ROUTE_OWN("GET", "/api/v4/users/:id/memberships", h_list, "api_user_memberships"),
};
const size_t memberships_nroutes = nitems(memberships_routes);

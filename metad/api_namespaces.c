/*
 * Namespaces (GitLab's doc/api/namespaces.md): the user and group namespaces a caller can put
 * projects in or manage, one of them by id or path, whether a path is taken, and an admin's
 * update of a top-level namespace's container registry storage limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "gl_params.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "rest_db.h"
#include "util.h"

PG_STMT_READ(
        q_namespace_get,
        "SELECT " TN_NAMESPACE_COLS " FROM namespaces n"
        " WHERE n.id = namespace_ref($3, $4) AND coalesce(namespace_visible($1, $2, n.id), false)");

/* A list row's usage_shown from the caller's group levels (lv), not one call per row. */
#define NAMESPACE_LIST_COLS                                                                        \
	TN_NAMESPACE_COLS_SHOWN("($2::boolean OR (n.kind = 'user' AND n.owner_id = $1::bigint)"    \
	                        " OR coalesce(lv.access_level, 0) >= 50)")

/* Admins see every namespace (unless owned_only); others their own and the groups they hold a
 * role in (Owner with owned_only). */
PG_STMT_READ(
        q_namespaces,
        "WITH lv AS (SELECT * FROM user_group_levels($1)),"
        " items AS ("
        "  SELECT " NAMESPACE_LIST_COLS " FROM namespaces n LEFT JOIN lv ON lv.namespace_id = n.id"
        "   WHERE (($2::boolean AND NOT $3::boolean)"
        "          OR (n.kind = 'user' AND n.owner_id = $1::bigint)"
        "          OR (n.kind = 'group' AND lv.access_level >= CASE WHEN $3::boolean THEN 50"
        "                                                          ELSE 10 END))"
        "     AND ($4::text IS NULL OR n.name ILIKE like_pattern($4) OR n.path ILIKE like_pattern($4))"
        "     AND (NOT $5::boolean OR n.parent_id IS NULL))"
        " SELECT true AS ok, (SELECT count(*) FROM items) AS total, i.*"
        "   FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "     SELECT * FROM items ORDER BY id LIMIT $6 OFFSET $7) i ON true");

PG_STMT_READ(q_namespace_exists, "SELECT * FROM namespace_exists($1, $2)");
PG_STMT(q_namespace_limit, "SELECT * FROM namespace_storage_limit_set($1, $2, $3, $4)");
PG_STMT(q_default_limit, "SELECT usage_default_limit_set($1)");

/* Answers a page of namespaces. */
static void
namespaces_listed(PGresult *res, void *arg)
{
	rest_reply_list(arg, res, tn_namespace_json);
}

/* GET /namespaces */
void
namespaces_list(struct rest_req *r)
{
	r->what = "Project";
	bool owned = false, top = false;
	if (!rest_require_user(r) || rest_page(r) < 0 || rest_bool(r, "owned_only", &owned) < 0 ||
	    rest_bool(r, "top_level_only", &top) < 0)
		return;
	const char *search = rest_str(r, "search");
	rest_arg_actor(r);
	rest_arg_bool(r, owned);
	rest_arg(r, search && *search ? search : NULL);
	rest_arg_bool(r, top);
	rest_arg_i64(r, r->page.per_page);
	rest_arg_i64(r, gl_page_offset(&r->page));
	rest_exec(r, &q_namespaces, namespaces_listed, r);
}

/* Answers with one namespace, or 404. */
static void
namespace_read(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (rest_found(r, res, "Namespace"))
		rest_reply(r, 200, tn_namespace_json(r, res, 0));
}

/* GET /namespaces/:id (an id or a full path) */
void
namespaces_get(struct rest_req *r)
{
	if (!rest_require_user(r))
		return;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_exec(r, &q_namespace_get, namespace_read, r);
}

/* Answers {"exists": bool, "suggests": [a free path]} (suggests empty when the path is free). */
static void
namespace_exists_read(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(r, res);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "exists",
	                       json_object_new_boolean(pg_get_bool(res, 0, "path_exists")));
	json_object *suggests = json_object_new_array();
	const char *s = pg_get(res, 0, "suggestion");
	if (s != NULL)
		json_object_array_add(suggests, json_object_new_string(s));
	json_object_object_add(o, "suggests", suggests);
	rest_reply(r, 200, o);
}

/* GET /namespaces/:namespace/exists: among the top-level namespaces, or parent_id's children. */
void
namespaces_exists(struct rest_req *r)
{
	int64_t parent = 0;
	int has_parent;
	if (!rest_require_user(r) || (has_parent = rest_int(r, "parent_id", &parent)) < 0)
		return;
	/* a path that is not text names nothing: "" matches no namespace */
	const char *path = rest_param(r, "id");
	rest_arg(r, gl_params_is_text(path, strlen(path)) ? path : "");
	rest_arg_i64_opt(r, has_parent, parent);
	rest_exec(r, &q_namespace_exists, namespace_exists_read, r);
}

/* Answers the namespace an update wrote, or the refusal. */
static void
namespace_updated(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s != STATUS_ok) {
		rest_status_answer(r, res, s); /* 404 Namespace Not Found, a subgroup's limit */
		return;
	}
	rest_arg_actor(r);
	rest_arg_i64(r, pg_get_int(res, 0, "namespace_id"));
	rest_arg(r, NULL);
	rest_exec(r, &q_namespace_get, namespace_read, r);
}

/* PUT /namespaces/:id (admins): container_registry_storage_limit, bytes (0: no limit), of a
 * top-level namespace. */
void
namespaces_update(struct rest_req *r)
{
	static const char key[] = "container_registry_storage_limit";
	int64_t limit = 0;
	int has;
	if (!rest_require_admin(r) || (has = rest_int(r, key, &limit)) < 0)
		return;
	if (has && limit < 0) {
		rest_fail_validation(r, key, "must be greater than or equal to 0");
		return;
	}
	rest_arg_ref(r, rest_param(r, "id"));
	rest_arg_i64_opt(r, has, limit);
	rest_arg_i64(r, r->actor.user_id);
	rest_exec(r, &q_namespace_limit, namespace_updated, r);
}

/* Logs a failed write of the default limit (the previous default stays). */
static void
default_limit_written(PGresult *res, void *arg)
{
	if (!pg_ok(res))
		log_warn("default_container_registry_storage_limit not written: %s",
		         res ? pg_error(res) : "no database connection");
	(void)arg;
}

void
namespaces_default_limit_write(void)
{
	char v[32];
	snprintf(v, sizeof(v), "%lld",
	         (long long)cfg_int(md.cfg, CFG_METAD_DEFAULT_CONTAINER_REGISTRY_STORAGE_LIMIT));
	const char *params[] = { v };
	pg_exec(md.db, &q_default_limit, 1, params, default_limit_written, NULL);
}

/*
 * Deploy tokens, GitLab's API: a project's (Maintainers manage them) or a group's (Maintainers
 * list them, Owners create and delete them, as GitLab has it), with the registry scopes
 * read_registry and write_registry; GET /deploy_tokens lists all of them for admins. The token
 * ("gldt-...") is shown once, in the answer that creates it; its username defaults to
 * "gitlab+deploy-token-<id>". This is what CI signs in with as CI_REGISTRY_USER and
 * CI_REGISTRY_PASSWORD.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

#define DT_FIELDS                                                                                  \
	"d.id, d.name, d.username, gl_time(d.expires_at) AS expires_at, d.revoked, "               \
	"(d.expires_at IS NOT NULL AND d.expires_at <= now()) AS expired, "                        \
	"array_to_string(d.scopes, ',') AS scopes"

PG_STMT_READ(q_project_by_id,
             "SELECT p.id, project_visible($2, $3, p.id) AS visible, "
             "project_access_level($2, p.id) AS level FROM projects p WHERE p.id = $1");
PG_STMT_READ(q_project_by_path, "SELECT p.id, project_visible($2, $3, p.id) AS visible, "
                                "project_access_level($2, p.id) AS level FROM projects p "
                                "WHERE lower(p.full_path) = lower($1)");
PG_STMT_READ(q_group_by_id, "SELECT n.id, coalesce(group_visible($2, $3, n.id), false) AS visible, "
                            "group_access_level($2, n.id) AS level FROM namespaces n "
                            "WHERE n.id = $1 AND n.kind = 'group'");
PG_STMT_READ(q_group_by_path,
             "SELECT n.id, coalesce(group_visible($2, $3, n.id), false) AS visible, "
             "group_access_level($2, n.id) AS level FROM namespaces n "
             "WHERE lower(n.full_path) = lower($1) AND n.kind = 'group'");
/* $1 project, $2 group (both NULL: all), $3 active, $4 limit, $5 offset */
PG_STMT_READ(q_list,
             "WITH f AS (SELECT " DT_FIELDS " FROM deploy_tokens d "
             "WHERE ($1::bigint IS NULL OR d.project_id = $1) "
             "AND ($2::bigint IS NULL OR d.namespace_id = $2) "
             "AND ($3::boolean IS NULL OR $3 = "
             "(NOT d.revoked AND (d.expires_at IS NULL OR d.expires_at > now())))) "
             "SELECT (SELECT count(*) FROM f) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
             "SELECT * FROM f ORDER BY f.id LIMIT $4 OFFSET $5) p ON true");
PG_STMT_READ(q_get, "SELECT " DT_FIELDS " FROM deploy_tokens d "
                    "WHERE d.id = $1 AND (d.project_id = $2 OR d.namespace_id = $3)");
/* $4: the caller, the author of the audit event */
PG_STMT(q_delete,
        "WITH d AS (DELETE FROM deploy_tokens d WHERE d.id = $1 "
        "AND (d.project_id = $2 OR d.namespace_id = $3) "
        "RETURNING d.id, d.project_id, d.namespace_id, d.name), "
        "a AS (SELECT audit_record($4::bigint, CASE WHEN d.project_id IS NOT NULL "
        "THEN 'Project' ELSE 'Group' END, coalesce(d.project_id, d.namespace_id), 'DeployToken', "
        "d.id::text, d.name, jsonb_build_object('custom_message', format('Revoked %s deploy token "
        "with name: %s with token_id: %s', CASE WHEN d.project_id IS NOT NULL THEN 'project' "
        "ELSE 'group' END, d.name, d.id))) FROM d) "
        "SELECT d.id, a.n AS audited FROM d, (SELECT count(*) AS n FROM a) a");
/* $9: the caller, the author of the audit event */
PG_STMT(q_create,
        "WITH n AS (SELECT nextval(pg_get_serial_sequence('deploy_tokens', 'id')) AS id), "
        "d AS (INSERT INTO deploy_tokens AS d (id, project_id, namespace_id, name, username, "
        "scopes, token_lookup, token_hash, expires_at) "
        "SELECT n.id, $1, $2, $3, coalesce($4, 'gitlab+deploy-token-' || n.id), "
        "string_to_array($5, ','), $6, $7, $8::timestamptz FROM n RETURNING d.project_id, "
        "d.namespace_id, " DT_FIELDS "), "
        "a AS (SELECT audit_record($9::bigint, CASE WHEN d.project_id IS NOT NULL "
        "THEN 'Project' ELSE 'Group' END, coalesce(d.project_id, d.namespace_id), 'DeployToken', "
        "d.id::text, d.name, jsonb_build_object('custom_message', format('Created %s deploy token "
        "with name: %s with token_id: %s', CASE WHEN d.project_id IS NOT NULL THEN 'project' "
        "ELSE 'group' END, d.name, d.id))) FROM d) "
        "SELECT d.*, a.n AS audited FROM d, (SELECT count(*) AS n FROM a) a");

enum dt_action { DT_LIST, DT_GET, DT_CREATE, DT_DELETE };

/* What a request learns on the way, kept with it (rest_state_new). */
struct dt_op {
	struct rest_req *r;
	bool group; /* a group's tokens, else a project's */
	enum dt_action action;
	const char *target;   /* :id as given */
	const char *token_id; /* :token_id */
	char target_id[32];   /* the project's or group's id */
	char *scopes;
	char token[SECRET_MAX];
	char lookup[SECRET_LOOKUP_MAX + 1];
};

/* Frees what a request holds, wiping a token not yet shown. */
static void
op_clear(void *arg)
{
	struct dt_op *op = arg;
	free(op->scopes);
	sodium_memzero(op->token, sizeof(op->token));
}

/* A request's state. */
static struct dt_op *
op_new(struct rest_req *r)
{
	struct dt_op *op = rest_state_new(r, sizeof(*op), op_clear);
	op->r = r;
	return op;
}

/* Entities::DeployToken from a row of DT_FIELDS (a rest_row_fn). */
static json_object *
dt_json(struct rest_req *r, const PGresult *res, int row)
{
	(void)r;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(pg_get_int(res, row, "id")));
	json_object_object_add(o, "name", json_object_new_string(pg_get(res, row, "name")));
	json_object_object_add(o, "username", json_object_new_string(pg_get(res, row, "username")));
	json_object_object_add(o, "expires_at", js_new_str_or_null(pg_get(res, row, "expires_at")));
	json_object_object_add(o, "revoked",
	                       json_object_new_boolean(pg_get_bool(res, row, "revoked")));
	json_object_object_add(o, "expired",
	                       json_object_new_boolean(pg_get_bool(res, row, "expired")));
	json_object_object_add(o, "scopes", js_csv_array(pg_get(res, row, "scopes")));
	return o;
}

/* The project and group ids of the target as query parameters (one of them NULL). */
static void
owner_params(struct dt_op *op, const char **project, const char **group)
{
	*project = op->group ? NULL : op->target_id;
	*group = op->group ? op->target_id : NULL;
}

/* Answers a page of deploy tokens. */
static void
list_got(PGresult *res, void *arg)
{
	struct dt_op *op = arg;
	rest_reply_list(op->r, res, dt_json);
}

/* Lists the target's deploy tokens, or all of them. */
static void
list(struct dt_op *op, bool all)
{
	struct rest_req *r = op->r;
	int active = gl_param_bool(r->params, "active");
	if (active == -2) {
		rest_fail_param(r, "active is invalid");
		return;
	}
	if (rest_page(r) < 0)
		return;
	const char *project = NULL, *group = NULL;
	if (!all)
		owner_params(op, &project, &group);
	rest_arg(r, project);
	rest_arg(r, group);
	rest_arg(r, rest_bool_arg(active));
	rest_arg_page(r);
	rest_exec(r, &q_list, list_got, op);
}

/* Answers one deploy token. */
static void
one_got(PGresult *res, void *arg)
{
	struct dt_op *op = arg;
	if (!pg_ok(res))
		rest_db_error(op->r, res);
	else if (pg_rows(res) != 1)
		rest_fail(op->r, 404, "404 Not found");
	else
		rest_reply(op->r, 200, dt_json(op->r, res, 0));
}

/* Answers the deletion of one deploy token. */
static void
one_deleted(PGresult *res, void *arg)
{
	struct dt_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(op->r, 404, "404 Not found");
	} else {
		log_info("deploy token %s of %s %s deleted by %s", op->token_id,
		         op->group ? "group" : "project", op->target_id, op->r->actor.username);
		rest_reply_empty(op->r, 204);
	}
}

/* GET or DELETE of one token of the target. */
static void
one(struct dt_op *op)
{
	if (!rest_is_id(op->token_id)) {
		rest_fail(op->r, 404, "404 Not found");
		return;
	}
	const char *project, *group;
	owner_params(op, &project, &group);
	char caller[32];
	snprintf(caller, sizeof(caller), "%lld", (long long)op->r->actor.user_id);
	const char *v[] = { op->token_id, project, group, caller };
	if (op->action == DT_GET)
		rest_exec_values(op->r, &q_get, 3, v, one_got, op);
	else
		rest_exec_values(op->r, &q_delete, 4, v, one_deleted, op);
}

/* ---- creation ----------------------------------------------------------------------------------
 */

/* Answers a new deploy token with its secret, shown this once. */
static void
created(PGresult *res, void *arg)
{
	struct dt_op *op = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		if (res != NULL && strncmp(pg_sqlstate(res), "22", 2) == 0)
			rest_fail_param(op->r, "expires_at is invalid");
		else
			rest_db_error(op->r, res);
		return;
	}
	json_object *o = dt_json(op->r, res, 0);
	json_object_object_add(o, "token", json_object_new_string(op->token));
	log_info("deploy token %lld (%s) for %s %s created by %s", pg_get_int(res, 0, "id"),
	         op->scopes, op->group ? "group" : "project", op->target_id, op->r->actor.username);
	rest_reply(op->r, 201, o);
}

/* The new token is hashed: store it. */
static void
token_hashed(bool ok, const char *hash, void *arg)
{
	struct dt_op *op = arg;
	if (!ok) {
		rest_fail(op->r, 500, "500 Internal Server Error");
		return;
	}
	const char *project, *group;
	owner_params(op, &project, &group);
	const char *username = rest_str(op->r, "username");
	const char *expires = rest_str(op->r, "expires_at");
	char caller[32];
	snprintf(caller, sizeof(caller), "%lld", (long long)op->r->actor.user_id);
	const char *v[] = { project,
		            group,
		            rest_str(op->r, "name"),
		            username && *username ? username : NULL,
		            op->scopes,
		            op->lookup,
		            hash,
		            expires && *expires ? expires : NULL,
		            caller };
	rest_exec_values(op->r, &q_create, 9, v, created, op);
}

/* GitLab's rule for deploy token usernames: letters, digits, '_', '-', '+', '.'. */
static bool
username_valid(const char *u)
{
	if (*u == '\0' || strlen(u) > 255)
		return false;
	for (const char *c = u; *c; c++)
		if (!isalnum((unsigned char)*c) && strchr(".+_-", *c) == NULL)
			return false;
	return true;
}

/* Validates the parameters of a new token, then makes it. */
static void
create(struct dt_op *op)
{
	unsigned bits;
	if (!pats_token_fields(op->r, SCOPE_READ_REGISTRY | SCOPE_WRITE_REGISTRY, "scopes is empty",
	                       &bits))
		return;
	const char *username = rest_str(op->r, "username");
	if (username != NULL && *username != '\0' && !username_valid(username)) {
		rest_fail_validation(op->r, "username",
		                     "can contain only letters, digits, '_', '-', '+', and '.'");
		return;
	}
	op->scopes = scopes_format(bits);
	secret_new(SECRET_DEPLOY, op->token, op->lookup);
	hash_make(op->token, HASH_TOKEN, token_hashed, op);
}

/* ---- access to the project or group -----------------------------------------------------------
 */

/* The project or group is known: check the caller's role, then act. */
static void
target_found(PGresult *res, void *arg)
{
	struct dt_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->r, res);
		return;
	}
	if (pg_rows(res) != 1 || !pg_get_bool(res, 0, "visible")) {
		rest_fail(op->r, 404, op->group ? "404 Group Not Found" : "404 Project Not Found");
		return;
	}
	/* Maintainers manage a project's tokens; a group's are listed by Maintainers and created
	 * or deleted by Owners, since they reach every project below the group. */
	int need = op->group && (op->action == DT_CREATE || op->action == DT_DELETE) ? 50 : 40;
	if (!op->r->actor.admin && pg_get_int(res, 0, "level") < need) {
		rest_fail(op->r, 403, "403 Forbidden");
		return;
	}
	snprintf(op->target_id, sizeof(op->target_id), "%s", pg_get(res, 0, "id"));
	switch (op->action) {
	case DT_LIST:
		list(op, false);
		break;
	case DT_CREATE:
		create(op);
		break;
	default:
		one(op);
		break;
	}
}

/* Looks up the project or group (by id or full path), then checks the caller's role. */
static void
start(struct rest_req *r, bool group, enum dt_action action)
{
	if (!rest_require_user(r))
		return;
	struct dt_op *op = op_new(r);
	op->group = group;
	op->action = action;
	const char *id = rest_param(r, "id");
	op->target = id ? id : "";
	op->token_id = rest_param(r, "token_id");
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)r->actor.user_id);
	const char *v[] = { op->target, uid, r->actor.admin ? "true" : "false" };
	struct pg_stmt *stmt =
	        op->group ? (rest_is_id(op->target) ? &q_group_by_id : &q_group_by_path)
	                  : (rest_is_id(op->target) ? &q_project_by_id : &q_project_by_path);
	rest_exec_values(op->r, stmt, 3, v, target_found, op);
}

/* One handler per (target, action): GET/POST /projects/:id/deploy_tokens and
 * GET/DELETE /projects/:id/deploy_tokens/:token_id, the same for groups. */
#define DT_HANDLER(fn, group, action)                                                              \
	void fn(struct rest_req *r)                                                                \
	{                                                                                          \
		start(r, group, action);                                                           \
	}

DT_HANDLER(deploy_project_list, false, DT_LIST)
DT_HANDLER(deploy_project_create, false, DT_CREATE)
DT_HANDLER(deploy_project_get, false, DT_GET)
DT_HANDLER(deploy_project_delete, false, DT_DELETE)
DT_HANDLER(deploy_group_list, true, DT_LIST)
DT_HANDLER(deploy_group_create, true, DT_CREATE)
DT_HANDLER(deploy_group_get, true, DT_GET)
DT_HANDLER(deploy_group_delete, true, DT_DELETE)

/* GET /deploy_tokens: every deploy token, for admins. */
void
deploy_all(struct rest_req *r)
{
	if (rest_require_admin(r))
		list(op_new(r), true);
}

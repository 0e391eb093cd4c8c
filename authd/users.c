/*
 * GitLab's users API: GET /user, GET/POST /users, GET/PUT/DELETE /users/:id and
 * POST /users/:id/block|unblock|ban|unban, with GitLab's entities (UserBasic for everyone, User
 * for one user, UserPublic for oneself, UserWithAdmin for admins), status codes and error bodies.
 *
 * A user owns a personal namespace whose path is the username: it is created with the user in
 * one statement, renamed with it (with the full_path of its projects), and deleted with it.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "pg.h"
#include "util.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 128

/* The columns every user entity is built from. */
#define USER_FIELDS(u)                                                                          \
	u ".id, " u ".username, " u ".name, " u ".email, " u ".state, " u ".is_admin, " u ".bio, " \
	u ".can_create_group, " u ".projects_limit, gl_time(" u ".created_at) AS created_at, "     \
	"gl_time(" u ".updated_at) AS updated_at, " u ".last_activity_on::text AS last_activity_on"
#define USER_NAMESPACE(u)                                                                       \
	"(SELECT n.id FROM namespaces n WHERE n.owner_id = " u ".id AND n.kind = 'user') "         \
	"AS namespace_id"

PG_STMT(q_get, "SELECT " USER_FIELDS("u") ", " USER_NAMESPACE("u") " FROM users u WHERE u.id = $1");

/* $1 username, $2 search, $3 search emails too, $4 active, $5 blocked, $6 admins, $7 order_by,
 * $8 sort, $9 limit, $10 offset. One row with the total even when the page is empty. */
PG_STMT(q_list,
        "WITH f AS (SELECT " USER_FIELDS("u") ", " USER_NAMESPACE("u") " FROM users u "
        "WHERE ($1::text IS NULL OR lower(u.username) = lower($1)) "
        "AND ($2::text IS NULL OR position(lower($2) IN lower(u.username || ' ' || u.name || "
        "CASE WHEN $3::boolean THEN ' ' || u.email ELSE '' END)) > 0) "
        "AND (NOT $4::boolean OR u.state = 'active') AND (NOT $5::boolean OR u.state = 'blocked') "
        "AND (NOT $6::boolean OR u.is_admin)) "
        "SELECT (SELECT count(*) FROM f) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "SELECT * FROM f ORDER BY "
        "CASE WHEN $8 = 'asc' THEN CASE $7 WHEN 'name' THEN f.name WHEN 'username' THEN f.username "
        "WHEN 'created_at' THEN f.created_at WHEN 'updated_at' THEN f.updated_at "
        "ELSE lpad(f.id::text, 20, '0') END END ASC, "
        "CASE WHEN $8 = 'desc' THEN CASE $7 WHEN 'name' THEN f.name WHEN 'username' THEN f.username "
        "WHEN 'created_at' THEN f.created_at WHEN 'updated_at' THEN f.updated_at "
        "ELSE lpad(f.id::text, 20, '0') END END DESC, f.id DESC "
        "LIMIT $9 OFFSET $10) p ON true");

/* Whether an email or a username (or a namespace path, which usernames share) is taken by
 * someone other than user $3. */
PG_STMT(q_taken,
        "SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1) AND id <> $3) AS email, "
        "(EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($2) AND id <> $3) OR "
        "EXISTS (SELECT 1 FROM namespaces WHERE lower(full_path) = lower($2) "
        "AND owner_id IS DISTINCT FROM $3)) AS username");

PG_STMT(q_create,
        "WITH u AS (INSERT INTO users (username, name, email, password_hash, is_admin, bio, "
        "can_create_group, projects_limit) VALUES ($1, $2, $3, $4, coalesce($5::boolean, false), "
        "coalesce($6, ''), coalesce($7::boolean, true), coalesce($8::integer, 100000)) RETURNING *), "
        "n AS (SELECT nextval(pg_get_serial_sequence('namespaces', 'id')) AS id), "
        "ns AS (INSERT INTO namespaces (id, kind, name, path, full_path, full_name, traversal_ids, "
        "owner_id) SELECT n.id, 'user', u.name, u.username, u.username, u.name, ARRAY[n.id], u.id "
        "FROM u, n RETURNING id) "
        "SELECT " USER_FIELDS("u") ", ns.id AS namespace_id FROM u, ns");

/* Updates user $1; a new username renames the personal namespace and its projects' paths. */
PG_STMT(q_update,
        "WITH old AS (SELECT id, username FROM users WHERE id = $1), "
        "u AS (UPDATE users SET username = coalesce($2, username), name = coalesce($3, name), "
        "email = coalesce($4, email), password_hash = coalesce($5, password_hash), "
        "is_admin = coalesce($6::boolean, is_admin), bio = coalesce($7, bio), "
        "can_create_group = coalesce($8::boolean, can_create_group), "
        "projects_limit = coalesce($9::integer, projects_limit), updated_at = now() "
        "WHERE id = $1 RETURNING *), "
        "ns AS (UPDATE namespaces n SET path = u.username, full_path = u.username, name = u.name, "
        "full_name = u.name FROM u WHERE n.owner_id = u.id AND n.kind = 'user' RETURNING n.id), "
        "pr AS (UPDATE projects p SET full_path = u.username || "
        "substr(p.full_path, length(old.username) + 1) FROM u, old, ns "
        "WHERE p.namespace_id = ns.id AND old.username <> u.username RETURNING p.id) "
        "SELECT " USER_FIELDS("u") ", (SELECT id FROM ns) AS namespace_id FROM u");

/* Deletes user $1 unless it is the last Owner of a group ($2: anyway). */
PG_STMT(q_delete,
        "WITH sole AS (SELECT 1 FROM group_members gm WHERE gm.user_id = $1 AND gm.access_level = 50 "
        "AND NOT EXISTS (SELECT 1 FROM group_members o WHERE o.namespace_id = gm.namespace_id "
        "AND o.access_level = 50 AND o.user_id <> $1) LIMIT 1), "
        "del AS (DELETE FROM users u WHERE u.id = $1 AND ($2::boolean OR NOT EXISTS "
        "(SELECT 1 FROM sole)) RETURNING u.id) "
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS found, "
        "(SELECT count(*) FROM del) AS deleted");

/* Blocks ($2 'blocked': an active user; a banned one is blocked already) or unblocks ($2
 * 'active': a blocked or banned one) user $1. */
PG_STMT(q_set_state,
        "WITH old AS (SELECT id, state FROM users WHERE id = $1), "
        "upd AS (UPDATE users SET state = $2, updated_at = now() WHERE id = $1 AND state <> $2 "
        "AND ($2 <> 'blocked' OR state = 'active') RETURNING id) "
        "SELECT old.state, (SELECT count(*) FROM upd) AS changed FROM old");

/* Moves user $1 from state $2 to $3 (ban: active to banned; unban: banned to active). */
PG_STMT(q_ban,
        "WITH old AS (SELECT id, state FROM users WHERE id = $1), "
        "upd AS (UPDATE users u SET state = $3, updated_at = now() FROM old "
        "WHERE u.id = old.id AND old.state = $2 RETURNING u.id) "
        "SELECT old.state, (SELECT count(*) FROM upd) AS changed FROM old");

enum user_view {
	UV_BASIC,  /* Entities::UserBasic */
	UV_DETAIL, /* Entities::User */
	UV_PUBLIC, /* Entities::UserPublic: oneself */
	UV_ADMIN,  /* Entities::UserWithAdmin */
};

struct user_op {
	struct http_txn *txn;
	struct actor actor;
	char *id;       /* :id */
	json_object *p; /* parameters */
	struct gl_page page;
	char *password; /* to hash */
	char *hash;
	bool creating;
	bool blocking;
	bool banning;
};

/* Frees a request's state, wiping a password not yet hashed. */
static void
op_free(void *arg)
{
	struct user_op *op = arg;
	free(op->id);
	json_object_put(op->p);
	if (op->password != NULL) {
		sodium_memzero(op->password, strlen(op->password));
		free(op->password);
	}
	free(op->hash);
	free(op);
}

/* A request's state: the caller and a copy of :id. */
static struct user_op *
op_new(struct http_txn *txn, const struct route_match *m)
{
	struct user_op *op = xcalloc(1, sizeof(*op));
	op->txn = txn;
	rest_actor(txn, &op->actor);
	const char *id = m ? route_param(m, "id") : NULL;
	op->id = id ? xstrdup(id) : NULL;
	return op;
}

/* A request's state for an admin's action on /users/:id; NULL once refused (401, 403, 404). */
static struct user_op *
admin_op(struct http_txn *txn, const struct route_match *m)
{
	struct user_op *op = op_new(txn, m);
	if (!rest_require_admin(txn, &op->actor) || !rest_require_id(txn, op->id)) {
		op_free(op);
		return NULL;
	}
	return op;
}

/* A text column as a JSON string, or null. */
static json_object *
str_or_null(const PGresult *res, int row, const char *col)
{
	return js_new_str_or_null(pg_get(res, row, col));
}

/* A user entity from a row of USER_FIELDS. */
static json_object *
user_json(struct http_txn *txn, const PGresult *res, int row, enum user_view view)
{
	json_object *o = json_object_new_object();
	const char *username = pg_get(res, row, "username");
	const char *email = pg_get(res, row, "email");
	json_object_object_add(o, "id", json_object_new_int64(pg_get_int(res, row, "id")));
	json_object_object_add(o, "username", json_object_new_string(username));
	json_object_object_add(o, "name", str_or_null(res, row, "name"));
	json_object_object_add(o, "state", str_or_null(res, row, "state"));
	json_object_object_add(o, "locked", json_object_new_boolean(0));
	json_object_object_add(o, "avatar_url", NULL);
	char *web = xasprintf("%s/%s", gl_external_url(txn), username);
	json_object_object_add(o, "web_url", json_object_new_string(web));
	free(web);
	if (view == UV_BASIC)
		return o;
	json_object_object_add(o, "created_at", str_or_null(res, row, "created_at"));
	json_object_object_add(o, "bio", str_or_null(res, row, "bio"));
	json_object_object_add(o, "location", NULL);
	json_object_object_add(o, "public_email", json_object_new_string(""));
	json_object_object_add(o, "skype", json_object_new_string(""));
	json_object_object_add(o, "linkedin", json_object_new_string(""));
	json_object_object_add(o, "twitter", json_object_new_string(""));
	json_object_object_add(o, "website_url", json_object_new_string(""));
	json_object_object_add(o, "organization", json_object_new_string(""));
	json_object_object_add(o, "job_title", json_object_new_string(""));
	json_object_object_add(o, "bot", json_object_new_boolean(0));
	if (view == UV_DETAIL)
		return o;
	json_object_object_add(o, "last_sign_in_at", NULL);
	json_object_object_add(o, "confirmed_at", str_or_null(res, row, "created_at"));
	json_object_object_add(o, "last_activity_on", str_or_null(res, row, "last_activity_on"));
	json_object_object_add(o, "email", js_new_str_or_null(email));
	json_object_object_add(o, "theme_id", json_object_new_int(1));
	json_object_object_add(o, "color_scheme_id", json_object_new_int(1));
	json_object_object_add(o, "projects_limit",
	                       json_object_new_int64(pg_get_int(res, row, "projects_limit")));
	json_object_object_add(o, "current_sign_in_at", NULL);
	json_object_object_add(o, "identities", json_object_new_array());
	json_object_object_add(o, "can_create_group",
	                       json_object_new_boolean(pg_get_bool(res, row, "can_create_group")));
	json_object_object_add(o, "can_create_project", json_object_new_boolean(1));
	json_object_object_add(o, "two_factor_enabled", json_object_new_boolean(0));
	json_object_object_add(o, "external", json_object_new_boolean(0));
	json_object_object_add(o, "private_profile", json_object_new_boolean(0));
	json_object_object_add(o, "commit_email", js_new_str_or_null(email));
	if (view == UV_PUBLIC)
		return o;
	json_object_object_add(o, "is_admin",
	                       json_object_new_boolean(pg_get_bool(res, row, "is_admin")));
	json_object_object_add(o, "note", NULL);
	const char *ns = pg_get(res, row, "namespace_id");
	json_object_object_add(o, "namespace_id",
	                       ns ? json_object_new_int64(strtoll(ns, NULL, 10)) : NULL);
	json_object_object_add(o, "created_by", NULL);
	return o;
}

/* A plausible email address: local@domain.tld, nothing a mail header would split. */
static bool
email_valid(const char *e)
{
	const char *at = strchr(e, '@');
	return at != NULL && at != e && at[1] != '\0' && strchr(at + 1, '@') == NULL &&
	       strpbrk(e, " \t\r\n<>,;\"") == NULL && strlen(e) <= 255 &&
	       strchr(at + 1, '.') != NULL;
}

/* Checks the values of the parameters a create or update sets; answers 400 on the first bad
 * one. */
static bool
params_valid(struct user_op *op)
{
	struct http_txn *txn = op->txn;
	const char *v;
	if ((v = gl_param_str(op->p, "username")) != NULL && !name_valid_path(v)) {
		error_gitlab_field(txn, "username",
		                 "can contain only letters, digits, '_', '-' and '.'. Cannot start "
		                 "with '-' or end in '.', '.git' or '.atom'.");
		return false;
	}
	if ((v = gl_param_str(op->p, "email")) != NULL && !email_valid(v)) {
		error_gitlab_field(txn, "email", "is invalid");
		return false;
	}
	if ((v = gl_param_str(op->p, "name")) != NULL && (*v == '\0' || strlen(v) > 255)) {
		error_gitlab_field(txn, "name", *v ? "is too long (maximum is 255 characters)"
		                                 : "can't be blank");
		return false;
	}
	if ((v = gl_param_str(op->p, "password")) != NULL) {
		if (strlen(v) < PASSWORD_MIN) {
			error_gitlab_field(txn, "password", "is too short (minimum is 8 characters)");
			return false;
		}
		if (strlen(v) > PASSWORD_MAX) {
			error_gitlab_field(txn, "password", "is too long (maximum is 128 characters)");
			return false;
		}
	}
	int64_t n;
	if ((v = gl_param_str(op->p, "projects_limit")) != NULL &&
	    str_to_i64(v, 0, INT32_MAX, &n) < 0) {
		error_gitlab_param(txn, "projects_limit is invalid");
		return false;
	}
	static const char *const bools[] = { "admin", "can_create_group" };
	for (size_t i = 0; i < nitems(bools); i++) {
		if (gl_param_bool(op->p, bools[i]) == -2) {
			char *msg = xasprintf("%s is invalid", bools[i]);
			error_gitlab_param(txn, msg);
			free(msg);
			return false;
		}
	}
	if ((v = gl_param_str(op->p, "bio")) != NULL && strlen(v) > 255) {
		error_gitlab_field(txn, "bio", "is too long (maximum is 255 characters)");
		return false;
	}
	return true;
}

/* "true"/"false" for a boolean parameter, or NULL when it is not given. */
static const char *
bool_param(json_object *p, const char *key)
{
	return rest_bool_arg(gl_param_bool(p, key));
}

/* The conflict GitLab reports for a unique violation, or NULL if it is none of ours. */
static const char *
conflict_message(const PGresult *res)
{
	if (!pg_is_unique_violation(res))
		return NULL;
	const char *c = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	if (c != NULL && strcmp(c, "users_email_key") == 0)
		return "Email has already been taken";
	return "Username has already been taken";
}

/* ---- GET /user, GET /users/:id ---------------------------------------------------------------- */

/* Answers one user, as the caller may see it. */
static void
user_got(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->txn, res, "user lookup");
	} else if (pg_rows(res) != 1) {
		error_gitlab(op->txn, 404, "404 User Not Found");
	} else {
		bool self = op->id == NULL;
		enum user_view view = op->actor.admin ? UV_ADMIN : self ? UV_PUBLIC : UV_DETAIL;
		js_respond(op->txn, 200, NULL, user_json(op->txn, res, 0, view));
	}
	op_free(op);
}

/* GET /user */
static void
h_current(struct http_txn *txn, const struct route_match *m)
{
	(void)m;
	struct user_op *op = op_new(txn, NULL);
	if (!rest_require_user(txn, &op->actor)) {
		op_free(op);
		return;
	}
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)op->actor.user_id);
	const char *v[] = { id };
	pg_exec(ad.db, &q_get, 1, v, user_got, op);
}

/* GET /users/:id */
static void
h_get(struct http_txn *txn, const struct route_match *m)
{
	struct user_op *op = op_new(txn, m);
	if (!actor_signed_in(&op->actor)) {
		error_gitlab(txn, 403, "403 Forbidden - Not authorized!");
		op_free(op);
		return;
	}
	if (!rest_require_id(txn, op->id)) {
		op_free(op);
		return;
	}
	const char *v[] = { op->id };
	pg_exec(ad.db, &q_get, 1, v, user_got, op);
}

/* ---- GET /users ------------------------------------------------------------------------------- */

/* One user of a list, as the caller may see it (a rest_row_fn). */
static json_object *
list_item(const PGresult *res, int row, void *arg)
{
	struct user_op *op = arg;
	return user_json(op->txn, res, row, op->actor.admin ? UV_ADMIN : UV_BASIC);
}

/* Answers a page of users. */
static void
list_got(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	rest_respond_page(op->txn, &op->page, res, "user list", list_item, op);
	op_free(op);
}

/* Lists users with GitLab's filters, order and pagination. */
static void
list_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct user_op *op = arg;
	op->p = json_object_get(p);
	const char *username = gl_param_str(p, "username");
	/* Anonymous callers may only look up one user by name, as in GitLab. */
	if (!actor_signed_in(&op->actor) && (username == NULL || *username == '\0')) {
		error_gitlab(txn, 403, "403 Forbidden - Not authorized to access /api/v4/users");
		op_free(op);
		return;
	}
	struct rest_window w;
	if (!rest_page(txn, &op->page, &w)) {
		op_free(op);
		return;
	}
	const char *order = gl_param_str(p, "order_by"), *sort = gl_param_str(p, "sort");
	static const char *const orders[] = { "id", "name", "username", "created_at", "updated_at" };
	bool order_ok = order == NULL;
	for (size_t i = 0; i < nitems(orders) && !order_ok; i++)
		order_ok = strcmp(order, orders[i]) == 0;
	if (!order_ok) {
		error_gitlab_param(txn, "order_by does not have a valid value");
		op_free(op);
		return;
	}
	if (sort != NULL && strcmp(sort, "asc") != 0 && strcmp(sort, "desc") != 0) {
		error_gitlab_param(txn, "sort does not have a valid value");
		op_free(op);
		return;
	}
	static const char *const flags[] = { "active", "blocked", "admins" };
	const char *fv[3];
	for (size_t i = 0; i < nitems(flags); i++) {
		int b = gl_param_bool(p, flags[i]);
		if (b == -2) {
			char *msg = xasprintf("%s is invalid", flags[i]);
			error_gitlab_param(txn, msg);
			free(msg);
			op_free(op);
			return;
		}
		/* Only admins may look for admins. */
		fv[i] = b == 1 && (i != 2 || op->actor.admin) ? "true" : "false";
	}
	const char *search = gl_param_str(p, "search");
	const char *v[] = { username && *username ? username : NULL,
		            search && *search ? search : NULL,
		            op->actor.admin ? "true" : "false",
		            fv[0],
		            fv[1],
		            fv[2],
		            order ? order : "id",
		            sort ? sort : "desc",
		            w.limit,
		            w.offset };
	pg_exec(ad.db, &q_list, 10, v, list_got, op);
}

/* GET /users */
static void
h_list(struct http_txn *txn, const struct route_match *m)
{
	params_read(txn, list_params, op_free, op_new(txn, m));
}

/* ---- POST /users, PUT /users/:id -------------------------------------------------------------- */

/* Answers a created or updated user, or the conflict. */
static void
written(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	const char *conflict = conflict_message(res);
	if (conflict != NULL) {
		error_gitlab(op->txn, 409, conflict);
	} else if (!pg_ok(res)) {
		rest_db_error(op->txn, res, op->creating ? "user creation" : "user update");
	} else if (pg_rows(res) != 1) {
		error_gitlab(op->txn, 404, "404 User Not Found");
	} else {
		if (op->creating)
			log_info("user %s created by %s", pg_get(res, 0, "username"),
			         op->actor.username);
		js_respond(op->txn, op->creating ? 201 : 200, NULL,
		           user_json(op->txn, res, 0, UV_ADMIN));
	}
	op_free(op);
}

/* Inserts or updates the user (with its namespace). */
static void
write_user(struct user_op *op)
{
	json_object *p = op->p;
	const char *limit = gl_param_str(p, "projects_limit");
	if (op->creating) {
		const char *v[] = { gl_param_str(p, "username"), gl_param_str(p, "name"),
			            gl_param_str(p, "email"), op->hash,
			            bool_param(p, "admin"), gl_param_str(p, "bio"),
			            bool_param(p, "can_create_group"), limit };
		pg_exec(ad.db, &q_create, 8, v, written, op);
	} else {
		const char *v[] = { op->id, gl_param_str(p, "username"), gl_param_str(p, "name"),
			            gl_param_str(p, "email"), op->hash,
			            bool_param(p, "admin"), gl_param_str(p, "bio"),
			            bool_param(p, "can_create_group"), limit };
		pg_exec(ad.db, &q_update, 9, v, written, op);
	}
}

/* The new password is hashed: write the user. */
static void
password_hashed(bool ok, const char *hash, void *arg)
{
	struct user_op *op = arg;
	if (!ok) {
		log_error("request %s: cannot hash a password", http_txn_id(op->txn));
		error_gitlab(op->txn, 500, "500 Internal Server Error");
		op_free(op);
		return;
	}
	op->hash = xstrdup(hash);
	write_user(op);
}

/* Email and username are free: hash the password, if any, then write. */
static void
taken_checked(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(op->txn, res, "user conflict check");
		op_free(op);
		return;
	}
	if (pg_get_bool(res, 0, "email")) {
		error_gitlab(op->txn, 409, "Email has already been taken");
		op_free(op);
		return;
	}
	if (pg_get_bool(res, 0, "username")) {
		error_gitlab(op->txn, 409, "Username has already been taken");
		op_free(op);
		return;
	}
	if (op->password != NULL)
		hash_make(op->password, HASH_PASSWORD, password_hashed, op);
	else
		write_user(op);
}

/* Checks that the email and username are free before hashing anything. */
static void
check_taken(struct user_op *op)
{
	const char *v[] = { gl_param_str(op->p, "email"), gl_param_str(op->p, "username"),
		            op->creating ? "0" : op->id };
	pg_exec(ad.db, &q_taken, 3, v, taken_checked, op);
}

/* Checks the parameters of a new user, as Grape and GitLab's model do. */
static void
create_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct user_op *op = arg;
	op->p = json_object_get(p);
	/* Grape's wording for missing parameters, in its order. */
	char *missing = xstrdup("");
	static const char *const required[] = { "email", "name", "username" };
	for (size_t i = 0; i < nitems(required); i++) {
		if (gl_param_str(p, required[i]) != NULL)
			continue;
		char *next = xasprintf("%s%s%s is missing", missing, *missing ? ", " : "",
		                       required[i]);
		free(missing);
		missing = next;
	}
	const char *password = gl_param_str(p, "password");
	bool random_password = gl_param_bool(p, "reset_password") == 1 ||
	                       gl_param_bool(p, "force_random_password") == 1;
	if (password == NULL && !random_password) {
		char *next = xasprintf("%s%spassword, reset_password, force_random_password are "
		                       "missing, at least one parameter must be provided",
		                       missing, *missing ? ", " : "");
		free(missing);
		missing = next;
	}
	if (*missing) {
		error_gitlab_param(txn, missing);
		free(missing);
		op_free(op);
		return;
	}
	free(missing);
	if (!params_valid(op)) {
		op_free(op);
		return;
	}
	if (password != NULL) {
		op->password = xstrdup(password);
	} else {
		/* No mail to send a reset link with: a random password nobody knows, until an admin
		 * sets one. */
		char pw[33];
		secret_password(pw, 32);
		op->password = xstrdup(pw);
		sodium_memzero(pw, sizeof(pw));
	}
	check_taken(op);
}

/* POST /users (admins) */
static void
h_create(struct http_txn *txn, const struct route_match *m)
{
	struct user_op *op = op_new(txn, m);
	if (!rest_require_admin(txn, &op->actor)) {
		op_free(op);
		return;
	}
	op->creating = true;
	params_read(txn, create_params, op_free, op);
}

/* Checks the parameters of an update. */
static void
update_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct user_op *op = arg;
	op->p = json_object_get(p);
	if (!params_valid(op)) {
		op_free(op);
		return;
	}
	const char *password = gl_param_str(p, "password");
	if (password != NULL)
		op->password = xstrdup(password);
	check_taken(op);
}

/* PUT /users/:id (admins) */
static void
h_update(struct http_txn *txn, const struct route_match *m)
{
	struct user_op *op = admin_op(txn, m);
	if (op != NULL)
		params_read(txn, update_params, op_free, op);
}

/* ---- DELETE /users/:id ------------------------------------------------------------------------ */

/* Answers a deletion. */
static void
deleted(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(op->txn, res, "user deletion");
	} else if (!pg_get_bool(res, 0, "found")) {
		error_gitlab(op->txn, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "deleted") == 0) {
		error_gitlab(op->txn, 409, "User cannot be removed while is the sole-owner of a group");
	} else {
		log_info("user %s deleted by %s", op->id, op->actor.username);
		rest_no_content(op->txn);
	}
	op_free(op);
}

/* Deletes the user (hard_delete: even a group's last owner). */
static void
delete_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct user_op *op = arg;
	int hard = gl_param_bool(p, "hard_delete");
	if (hard == -2) {
		error_gitlab_param(txn, "hard_delete is invalid");
		op_free(op);
		return;
	}
	const char *v[] = { op->id, hard == 1 ? "true" : "false" };
	pg_exec(ad.db, &q_delete, 2, v, deleted, op);
}

/* DELETE /users/:id (admins) */
static void
h_delete(struct http_txn *txn, const struct route_match *m)
{
	struct user_op *op = admin_op(txn, m);
	if (op != NULL)
		params_read(txn, delete_params, op_free, op);
}

/* ---- POST /users/:id/block, /unblock ---------------------------------------------------------- */

/* Answers block or unblock as GitLab does: true, or null/false when nothing changed. */
static void
state_set(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	bool blocking = op->blocking;
	if (!pg_ok(res)) {
		rest_db_error(op->txn, res, "user state change");
	} else if (pg_rows(res) != 1) {
		error_gitlab(op->txn, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "changed") > 0) {
		log_info("user %s %s by %s", op->id, blocking ? "blocked" : "unblocked",
		         op->actor.username);
		js_respond_text(op->txn, 201, "true");
	} else {
		/* GitLab: blocking a blocked user answers null, unblocking an active one false. */
		js_respond_text(op->txn, 201, blocking ? "null" : "false");
	}
	op_free(op);
}

/* Blocks or unblocks a user; nobody blocks themselves. */
static void
set_state(struct http_txn *txn, const struct route_match *m, bool block)
{
	struct user_op *op = admin_op(txn, m);
	if (op == NULL)
		return;
	op->blocking = block;
	int64_t id = 0;
	if (block && str_to_i64(op->id, 1, INT64_MAX, &id) == 0 && id == op->actor.user_id) {
		error_gitlab(txn, 403,
		             "403 Forbidden - The API initiating user cannot be blocked by the API");
		op_free(op);
		return;
	}
	const char *v[] = { op->id, block ? "blocked" : "active" };
	pg_exec(ad.db, &q_set_state, 2, v, state_set, op);
}

/* POST /users/:id/block (admins) */
static void
h_block(struct http_txn *txn, const struct route_match *m)
{
	set_state(txn, m, true);
}

/* POST /users/:id/unblock (admins) */
static void
h_unblock(struct http_txn *txn, const struct route_match *m)
{
	set_state(txn, m, false);
}

/* ---- POST /users/:id/ban, /unban ------------------------------------------------------------- */

/* Answers ban or unban as GitLab's Users::BanService does: true (201), or 403 naming the state
 * the user is in. */
static void
ban_set(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	const char *action = op->banning ? "ban" : "unban";
	if (!pg_ok(res)) {
		rest_db_error(op->txn, res, "user ban");
	} else if (pg_rows(res) != 1) {
		error_gitlab(op->txn, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "changed") > 0) {
		log_info("user %s %sned by %s", op->id, action, op->actor.username);
		js_respond_text(op->txn, 201, "true");
	} else {
		char *msg = xasprintf("You cannot %s %s users.", action, pg_get(res, 0, "state"));
		error_gitlab(op->txn, 403, msg);
		free(msg);
	}
	op_free(op);
}

/* Bans (only an active user) or unbans (only a banned one). */
static void
set_banned(struct http_txn *txn, const struct route_match *m, bool ban)
{
	struct user_op *op = admin_op(txn, m);
	if (op == NULL)
		return;
	op->banning = ban;
	const char *v[] = { op->id, ban ? "active" : "banned", ban ? "banned" : "active" };
	pg_exec(ad.db, &q_ban, 3, v, ban_set, op);
}

/* POST /users/:id/ban (admins) */
static void
h_ban(struct http_txn *txn, const struct route_match *m)
{
	set_banned(txn, m, true);
}

/* POST /users/:id/unban (admins) */
static void
h_unban(struct http_txn *txn, const struct route_match *m)
{
	set_banned(txn, m, false);
}

const struct route users_routes[] = {
	ROUTE_OWN("GET", "/api/v4/user", h_current, "api_user"),
	ROUTE_OWN("GET", "/api/v4/users", h_list, "api_users"),
	ROUTE_OWN("POST", "/api/v4/users", h_create, "api_users"),
	ROUTE_OWN("GET", "/api/v4/users/:id", h_get, "api_user_id"),
	ROUTE_OWN("PUT", "/api/v4/users/:id", h_update, "api_user_id"),
	ROUTE_OWN("DELETE", "/api/v4/users/:id", h_delete, "api_user_id"),
	ROUTE_OWN("POST", "/api/v4/users/:id/block", h_block, "api_user_block"),
	ROUTE_OWN("POST", "/api/v4/users/:id/unblock", h_unblock, "api_user_block"),
	ROUTE_OWN("POST", "/api/v4/users/:id/ban", h_ban, "api_user_ban"),
	ROUTE_OWN("POST", "/api/v4/users/:id/unban", h_unban, "api_user_ban"),
};
const size_t users_nroutes = nitems(users_routes);

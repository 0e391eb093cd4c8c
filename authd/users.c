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
#include "rest_db.h"
#include "util.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 128

/* The columns every user entity is built from. */
#define USER_FIELDS(u)                                                                             \
	u ".id, " u ".username, " u ".name, " u ".email, " u ".state, " u ".is_admin, " u          \
	  ".bio, " u ".can_create_group, " u ".projects_limit, gl_time(" u                         \
	  ".created_at) AS created_at, "                                                           \
	  "gl_time(" u ".updated_at) AS updated_at, " u                                            \
	  ".last_activity_on::text AS last_activity_on, coalesce(" u                               \
	  ".locked_until > now(), false) "                                                         \
	  "AS locked, (" u ".user_type = 'project_bot') AS bot"
#define USER_NAMESPACE(u)                                                                          \
	"(SELECT n.id FROM namespaces n WHERE n.owner_id = " u ".id AND n.kind = 'user') "         \
	"AS namespace_id"

PG_STMT_READ(q_get,
             "SELECT " USER_FIELDS("u") ", " USER_NAMESPACE("u") " FROM users u WHERE u.id = $1");

/* $1 username, $2 search, $3 search emails too, $4 active, $5 blocked, $6 admins, $7 order_by,
 * $8 sort, $9 limit, $10 offset, $11 humans only, $12 no bots (of access tokens). One row with the
 * total even when the page is empty. */
PG_STMT_READ(
        q_list,
        "WITH f AS (SELECT " USER_FIELDS("u") ", " USER_NAMESPACE(
                "u") " FROM users u "
                     "WHERE ($1::text IS NULL OR lower(u.username) = lower($1)) "
                     "AND ($2::text IS NULL OR position(lower($2) IN lower(u.username || ' ' || u.name || "
                     "CASE WHEN $3::boolean THEN ' ' || u.email ELSE '' END)) > 0) "
                     "AND (NOT $4::boolean OR u.state = 'active') AND (NOT $5::boolean OR u.state = 'blocked') "
                     "AND (NOT $6::boolean OR u.is_admin) "
                     "AND (NOT $11::boolean OR u.user_type = 'human') "
                     "AND (NOT $12::boolean OR u.user_type <> 'project_bot')) "
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
PG_STMT(q_ban, "WITH old AS (SELECT id, state FROM users WHERE id = $1), "
               "upd AS (UPDATE users u SET state = $3, updated_at = now() FROM old "
               "WHERE u.id = old.id AND old.state = $2 RETURNING u.id) "
               "SELECT old.state, (SELECT count(*) FROM upd) AS changed FROM old");

enum user_view {
	UV_BASIC,  /* Entities::UserBasic */
	UV_DETAIL, /* Entities::User */
	UV_PUBLIC, /* Entities::UserPublic: oneself */
	UV_ADMIN,  /* Entities::UserWithAdmin */
};

/* What a request learns on the way, kept with it (rest_state_new). */
struct user_op {
	struct rest_req *r;
	const char *id; /* :id, or NULL */
	char *password; /* to hash */
	char *hash;
	bool creating;
	bool blocking;
	bool banning;
};

/* Frees what a request holds, wiping a password not yet hashed. */
static void
op_clear(void *arg)
{
	struct user_op *op = arg;
	if (op->password != NULL) {
		sodium_memzero(op->password, strlen(op->password));
		free(op->password);
	}
	free(op->hash);
}

/* A request's state: its :id, if any. */
static struct user_op *
op_new(struct rest_req *r)
{
	struct user_op *op = rest_state_new(r, sizeof(*op), op_clear);
	op->r = r;
	op->id = rest_param(r, "id");
	return op;
}

/* A request's state for an admin's action on /users/:id; NULL once refused (401, 403, 404). */
static struct user_op *
admin_op(struct rest_req *r)
{
	if (!rest_require_admin(r) || !rest_require_id(r, rest_param(r, "id")))
		return NULL;
	return op_new(r);
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
	json_object_object_add(o, "locked",
	                       json_object_new_boolean(pg_get_bool(res, row, "locked")));
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
	json_object_object_add(o, "bot", json_object_new_boolean(pg_get_bool(res, row, "bot")));
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
params_valid(struct rest_req *r)
{
	const char *v;
	if ((v = rest_str(r, "username")) != NULL && !name_valid_path(v)) {
		rest_fail_validation(
		        r, "username",
		        "can contain only letters, digits, '_', '-' and '.'. Cannot start "
		        "with '-' or end in '.', '.git' or '.atom'.");
		return false;
	}
	if ((v = rest_str(r, "email")) != NULL && !email_valid(v)) {
		rest_fail_validation(r, "email", "is invalid");
		return false;
	}
	if ((v = rest_str(r, "name")) != NULL && (*v == '\0' || strlen(v) > 255)) {
		rest_fail_validation(r, "name",
		                     *v ? "is too long (maximum is 255 characters)"
		                        : "can't be blank");
		return false;
	}
	if ((v = rest_str(r, "password")) != NULL) {
		if (strlen(v) < PASSWORD_MIN) {
			rest_fail_validation(r, "password",
			                     "is too short (minimum is 8 characters)");
			return false;
		}
		if (strlen(v) > PASSWORD_MAX) {
			rest_fail_validation(r, "password",
			                     "is too long (maximum is 128 characters)");
			return false;
		}
	}
	int64_t n;
	if ((v = rest_str(r, "projects_limit")) != NULL && str_to_i64(v, 0, INT32_MAX, &n) < 0) {
		rest_fail_param(r, "projects_limit is invalid");
		return false;
	}
	static const char *const bools[] = { "admin", "can_create_group" };
	for (size_t i = 0; i < nitems(bools); i++) {
		if (gl_param_bool(r->params, bools[i]) == -2) {
			char *msg = xasprintf("%s is invalid", bools[i]);
			rest_fail_param(r, msg);
			free(msg);
			return false;
		}
	}
	if ((v = rest_str(r, "bio")) != NULL && strlen(v) > 255) {
		rest_fail_validation(r, "bio", "is too long (maximum is 255 characters)");
		return false;
	}
	return true;
}

/* "true"/"false" for a boolean parameter, or NULL when it is not given. */
static const char *
bool_param(struct rest_req *r, const char *key)
{
	return rest_bool_arg(gl_param_bool(r->params, key));
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

/* ---- GET /user, GET /users/:id ----------------------------------------------------------------
 */

/* Answers one user, as the caller may see it. */
static void
user_got(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	struct rest_req *r = op->r;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(r, 404, "404 User Not Found");
	} else {
		bool self = op->id == NULL;
		enum user_view view = r->actor.admin ? UV_ADMIN : self ? UV_PUBLIC : UV_DETAIL;
		rest_reply(r, 200, user_json(r->txn, res, 0, view));
	}
}

void
users_current(struct rest_req *r)
{
	if (!rest_require_user(r))
		return;
	struct user_op *op = op_new(r);
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)r->actor.user_id);
	const char *v[] = { id };
	rest_exec_values(op->r, &q_get, 1, v, user_got, op);
}

void
users_get(struct rest_req *r)
{
	if (!actor_signed_in(&r->actor)) {
		rest_fail(r, 403, "403 Forbidden - Not authorized!");
		return;
	}
	if (!rest_require_id(r, rest_param(r, "id")))
		return;
	struct user_op *op = op_new(r);
	const char *v[] = { op->id };
	rest_exec_values(op->r, &q_get, 1, v, user_got, op);
}

/* ---- GET /users -------------------------------------------------------------------------------
 */

/* One user of a list, as the caller may see it (a rest_row_fn). */
static json_object *
list_item(struct rest_req *r, const PGresult *res, int row)
{
	return user_json(r->txn, res, row, r->actor.admin ? UV_ADMIN : UV_BASIC);
}

/* Answers a page of users. */
static void
list_got(PGresult *res, void *arg)
{
	rest_reply_list(arg, res, list_item);
}

/* Lists users with GitLab's filters, order and pagination. */
void
users_list(struct rest_req *r)
{
	const char *username = rest_str(r, "username");
	/* Anonymous callers may only look up one user by name, as in GitLab. */
	if (!actor_signed_in(&r->actor) && (username == NULL || *username == '\0')) {
		rest_fail(r, 403, "403 Forbidden - Not authorized to access /api/v4/users");
		return;
	}
	if (rest_page(r) < 0)
		return;
	const char *order = rest_str(r, "order_by"), *sort = rest_str(r, "sort");
	static const char *const orders[] = { "id", "name", "username", "created_at",
		                              "updated_at" };
	bool order_ok = order == NULL;
	for (size_t i = 0; i < nitems(orders) && !order_ok; i++)
		order_ok = strcmp(order, orders[i]) == 0;
	if (!order_ok) {
		rest_fail_param(r, "order_by does not have a valid value");
		return;
	}
	if (sort != NULL && strcmp(sort, "asc") != 0 && strcmp(sort, "desc") != 0) {
		rest_fail_param(r, "sort does not have a valid value");
		return;
	}
	/* GitLab's humans and without_project_bots: both leave the bots of access tokens out
	 * (the registry has no other kind of non-human user) */
	static const char *const flags[] = { "active", "blocked", "admins", "humans",
		                             "without_project_bots" };
	const char *fv[5];
	for (size_t i = 0; i < nitems(flags); i++) {
		int b = gl_param_bool(r->params, flags[i]);
		if (b == -2) {
			char *msg = xasprintf("%s is invalid", flags[i]);
			rest_fail_param(r, msg);
			free(msg);
			return;
		}
		/* Only admins may look for admins. */
		fv[i] = b == 1 && (i != 2 || r->actor.admin) ? "true" : "false";
	}
	const char *search = rest_str(r, "search");
	rest_arg(r, username && *username ? username : NULL);
	rest_arg(r, search && *search ? search : NULL);
	rest_arg_bool(r, r->actor.admin);
	for (size_t i = 0; i < 3; i++)
		rest_arg(r, fv[i]);
	rest_arg(r, order ? order : "id");
	rest_arg(r, sort ? sort : "desc");
	rest_arg_page(r);
	rest_arg(r, fv[3]);
	rest_arg(r, fv[4]);
	rest_exec(r, &q_list, list_got, r);
}

/* ---- POST /users, PUT /users/:id --------------------------------------------------------------
 */

/* Answers a created or updated user, or the conflict. */
static void
written(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	struct rest_req *r = op->r;
	const char *conflict = conflict_message(res);
	if (conflict != NULL) {
		rest_fail(r, 409, conflict);
	} else if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(r, 404, "404 User Not Found");
	} else {
		if (op->creating)
			log_info("user %s created by %s", pg_get(res, 0, "username"),
			         r->actor.username);
		rest_reply(r, op->creating ? 201 : 200, user_json(r->txn, res, 0, UV_ADMIN));
	}
}

/* Inserts or updates the user (with its namespace). */
static void
write_user(struct user_op *op)
{
	struct rest_req *r = op->r;
	const char *limit = rest_str(r, "projects_limit");
	if (op->creating) {
		const char *v[] = { rest_str(r, "username"),
			            rest_str(r, "name"),
			            rest_str(r, "email"),
			            op->hash,
			            bool_param(r, "admin"),
			            rest_str(r, "bio"),
			            bool_param(r, "can_create_group"),
			            limit };
		rest_exec_values(op->r, &q_create, 8, v, written, op);
	} else {
		const char *v[] = { op->id,
			            rest_str(r, "username"),
			            rest_str(r, "name"),
			            rest_str(r, "email"),
			            op->hash,
			            bool_param(r, "admin"),
			            rest_str(r, "bio"),
			            bool_param(r, "can_create_group"),
			            limit };
		rest_exec_values(op->r, &q_update, 9, v, written, op);
	}
}

/* The new password is hashed: write the user. */
static void
password_hashed(bool ok, const char *hash, void *arg)
{
	struct user_op *op = arg;
	if (!ok) {
		log_error("request %s: cannot hash a password", http_txn_id(op->r->txn));
		rest_fail(op->r, 500, "500 Internal Server Error");
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
		rest_db_error(op->r, res);
		return;
	}
	if (pg_get_bool(res, 0, "email")) {
		rest_fail(op->r, 409, "Email has already been taken");
		return;
	}
	if (pg_get_bool(res, 0, "username")) {
		rest_fail(op->r, 409, "Username has already been taken");
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
	const char *v[] = { rest_str(op->r, "email"), rest_str(op->r, "username"),
		            op->creating ? "0" : op->id };
	rest_exec_values(op->r, &q_taken, 3, v, taken_checked, op);
}

/* POST /users (admins): checks the parameters of a new user, as Grape and GitLab's model do. */
void
users_create(struct rest_req *r)
{
	if (!rest_require_admin(r))
		return;
	/* Grape's wording for missing parameters, in its order. */
	char *missing = xstrdup("");
	static const char *const required[] = { "email", "name", "username" };
	for (size_t i = 0; i < nitems(required); i++) {
		if (rest_str(r, required[i]) != NULL)
			continue;
		char *next =
		        xasprintf("%s%s%s is missing", missing, *missing ? ", " : "", required[i]);
		free(missing);
		missing = next;
	}
	const char *password = rest_str(r, "password");
	bool random_password = gl_param_bool(r->params, "reset_password") == 1 ||
	                       gl_param_bool(r->params, "force_random_password") == 1;
	if (password == NULL && !random_password) {
		char *next = xasprintf("%s%spassword, reset_password, force_random_password are "
		                       "missing, at least one parameter must be provided",
		                       missing, *missing ? ", " : "");
		free(missing);
		missing = next;
	}
	if (*missing) {
		rest_fail_param(r, missing);
		free(missing);
		return;
	}
	free(missing);
	if (!params_valid(r))
		return;
	struct user_op *op = op_new(r);
	op->creating = true;
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

/* PUT /users/:id (admins) */
void
users_update(struct rest_req *r)
{
	struct user_op *op = admin_op(r);
	if (op == NULL || !params_valid(r))
		return;
	const char *password = rest_str(r, "password");
	if (password != NULL)
		op->password = xstrdup(password);
	check_taken(op);
}

/* ---- DELETE /users/:id ------------------------------------------------------------------------
 */

/* Answers a deletion. */
static void
deleted(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	struct rest_req *r = op->r;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(r, res);
	} else if (!pg_get_bool(res, 0, "found")) {
		rest_fail(r, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "deleted") == 0) {
		rest_fail(r, 409, "User cannot be removed while is the sole-owner of a group");
	} else {
		log_info("user %s deleted by %s", op->id, r->actor.username);
		rest_reply_empty(r, 204);
	}
}

/* DELETE /users/:id (admins; hard_delete: even a group's last owner) */
void
users_delete(struct rest_req *r)
{
	struct user_op *op = admin_op(r);
	if (op == NULL)
		return;
	int hard = gl_param_bool(r->params, "hard_delete");
	if (hard == -2) {
		rest_fail_param(r, "hard_delete is invalid");
		return;
	}
	const char *v[] = { op->id, hard == 1 ? "true" : "false" };
	rest_exec_values(op->r, &q_delete, 2, v, deleted, op);
}

/* ---- POST /users/:id/block, /unblock ----------------------------------------------------------
 */

/* Answers block or unblock as GitLab does: true, or null/false when nothing changed. */
static void
state_set(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	struct rest_req *r = op->r;
	bool blocking = op->blocking;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(r, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "changed") > 0) {
		log_info("user %s %s by %s", op->id, blocking ? "blocked" : "unblocked",
		         r->actor.username);
		js_respond_text(r->txn, 201, "true");
	} else {
		/* GitLab: blocking a blocked user answers null, unblocking an active one false. */
		js_respond_text(r->txn, 201, blocking ? "null" : "false");
	}
}

/* Blocks or unblocks a user; nobody blocks themselves. */
static void
set_state(struct rest_req *r, bool block)
{
	struct user_op *op = admin_op(r);
	if (op == NULL)
		return;
	op->blocking = block;
	int64_t id = 0;
	if (block && str_to_i64(op->id, 1, INT64_MAX, &id) == 0 && id == r->actor.user_id) {
		rest_fail(r, 403,
		          "403 Forbidden - The API initiating user cannot be blocked by the API");
		return;
	}
	const char *v[] = { op->id, block ? "blocked" : "active" };
	rest_exec_values(op->r, &q_set_state, 2, v, state_set, op);
}

/* POST /users/:id/block (admins) */
void
users_block(struct rest_req *r)
{
	set_state(r, true);
}

/* POST /users/:id/unblock (admins) */
void
users_unblock(struct rest_req *r)
{
	set_state(r, false);
}

/* ---- POST /users/:id/unlock ------------------------------------------------------------------ */

PG_STMT(q_unlock, "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS found, "
                  "coalesce((SELECT user_sign_in_reset($1)), false) AS changed");

/* Answers an unlock: true when a lock (or a count of failures) was lifted, false otherwise. */
static void
unlocked(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	struct rest_req *r = op->r;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (!pg_get_bool(res, 0, "found")) {
		rest_fail(r, 404, "404 User Not Found");
	} else if (pg_get_bool(res, 0, "changed")) {
		log_info("user %s unlocked by %s", op->id, r->actor.username);
		js_respond_text(r->txn, 201, "true");
	} else {
		js_respond_text(r->txn, 201, "false");
	}
}

/* POST /users/:id/unlock (admins): lifts the lock failed sign-ins put on an account, as GitLab's
 * Admin area does (an extension of the API, in the manner of /block). */
void
users_unlock(struct rest_req *r)
{
	struct user_op *op = admin_op(r);
	if (op == NULL)
		return;
	const char *v[] = { op->id };
	rest_exec_values(op->r, &q_unlock, 1, v, unlocked, op);
}

/* ---- POST /users/:id/ban, /unban ------------------------------------------------------------- */

/* Answers ban or unban as GitLab's Users::BanService does: true (201), or 403 naming the state
 * the user is in. */
static void
ban_set(PGresult *res, void *arg)
{
	struct user_op *op = arg;
	struct rest_req *r = op->r;
	const char *action = op->banning ? "ban" : "unban";
	if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(r, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "changed") > 0) {
		log_info("user %s %sned by %s", op->id, action, r->actor.username);
		js_respond_text(r->txn, 201, "true");
	} else {
		char *msg = xasprintf("You cannot %s %s users.", action, pg_get(res, 0, "state"));
		rest_fail(r, 403, msg);
		free(msg);
	}
}

/* Bans (only an active user) or unbans (only a banned one). */
static void
set_banned(struct rest_req *r, bool ban)
{
	struct user_op *op = admin_op(r);
	if (op == NULL)
		return;
	op->banning = ban;
	const char *v[] = { op->id, ban ? "active" : "banned", ban ? "banned" : "active" };
	rest_exec_values(op->r, &q_ban, 3, v, ban_set, op);
}

/* POST /users/:id/ban (admins) */
void
users_ban(struct rest_req *r)
{
	set_banned(r, true);
}

/* POST /users/:id/unban (admins) */
void
users_unban(struct rest_req *r)
{
	set_banned(r, false);
}

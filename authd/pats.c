/*
 * Personal access tokens, GitLab's API: admins create them (POST /users/:id/personal_access_tokens,
 * the token shown once in the answer, only its hash kept); everyone lists, reads and revokes
 * their own (/personal_access_tokens[/:id|/self]); admins see and revoke everyone's. Impersonation
 * tokens (imptokens.c) are made here too; their owners do not see or revoke them here.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "util.h"

PG_STMT(q_future, "SELECT $1::date > current_date AS future");
PG_STMT(q_create,
        "INSERT INTO personal_access_tokens AS t (user_id, name, scopes, token_lookup, "
        "token_hash, expires_at, impersonation) SELECT u.id, $2, string_to_array($3, ','), $4, "
        "$5, $6::date, $7::boolean FROM users u WHERE u.id = $1 RETURNING " PAT_FIELDS);
/* $1 user, $2 revoked, $3 state, $4 search, $5 limit, $6 offset, $7 impersonation tokens too
 * (admins) */
PG_STMT(q_list,
        "WITH f AS (SELECT " PAT_FIELDS " FROM personal_access_tokens t "
        "WHERE ($1::bigint IS NULL OR t.user_id = $1) AND ($7::boolean OR NOT t.impersonation) "
        "AND ($2::boolean IS NULL OR t.revoked = $2) "
        "AND ($3::text IS NULL OR ($3 = 'active') = "
        "(NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > current_date))) "
        "AND ($4::text IS NULL OR position(lower($4) IN lower(t.name)) > 0)) "
        "SELECT (SELECT count(*) FROM f) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "SELECT * FROM f ORDER BY f.id LIMIT $5 OFFSET $6) p ON true");
PG_STMT(q_get, "SELECT " PAT_FIELDS " FROM personal_access_tokens t WHERE t.id = $1");
PG_STMT(q_self,
        "SELECT " PAT_FIELDS " FROM personal_access_tokens t "
        "WHERE t.token_lookup = $1 AND t.user_id = $2");
/* Revokes token $1 if it is caller $2's (not an impersonation token) or the caller is an admin
 * ($3). */
PG_STMT(q_revoke,
        "WITH t AS (SELECT id, user_id, impersonation FROM personal_access_tokens WHERE id = $1), "
        "upd AS (UPDATE personal_access_tokens p SET revoked = true FROM t "
        "WHERE p.id = t.id AND ($3::boolean OR (t.user_id = $2 AND NOT t.impersonation)) "
        "RETURNING p.id) "
        "SELECT t.user_id, (SELECT count(*) FROM upd) AS revoked FROM t");

struct pat_op {
	struct http_txn *txn;
	struct actor actor;
	char *id;
	json_object *p;
	struct gl_page page;
	char *scopes; /* "api,read_api" */
	bool impersonation;
	char token[SECRET_MAX];
	char lookup[SECRET_LOOKUP_MAX + 1];
};

/* Frees a request's state, wiping a token not yet shown. */
static void
op_free(void *arg)
{
	struct pat_op *op = arg;
	free(op->id);
	json_object_put(op->p);
	free(op->scopes);
	sodium_memzero(op->token, sizeof(op->token));
	free(op);
}

/* A request's state: the caller and a copy of :id. */
static struct pat_op *
op_new(struct http_txn *txn, const struct route_match *m)
{
	struct pat_op *op = xcalloc(1, sizeof(*op));
	op->txn = txn;
	rest_actor(txn, &op->actor);
	const char *id = route_param(m, "id");
	op->id = id ? xstrdup(id) : NULL;
	return op;
}

json_object *
pats_json(const PGresult *res, int row, void *arg)
{
	(void)arg;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(pg_get_int(res, row, "id")));
	json_object_object_add(o, "name", json_object_new_string(pg_get(res, row, "name")));
	json_object_object_add(o, "revoked", json_object_new_boolean(pg_get_bool(res, row, "revoked")));
	json_object_object_add(o, "created_at", js_new_str_or_null(pg_get(res, row, "created_at")));
	json_object_object_add(o, "scopes", rest_str_array(pg_get(res, row, "scopes")));
	json_object_object_add(o, "user_id", json_object_new_int64(pg_get_int(res, row, "user_id")));
	json_object_object_add(o, "last_used_at",
	                       js_new_str_or_null(pg_get(res, row, "last_used_at")));
	json_object_object_add(o, "active", json_object_new_boolean(pg_get_bool(res, row, "active")));
	json_object_object_add(o, "expires_at", js_new_str_or_null(pg_get(res, row, "expires_at")));
	return o;
}

json_object *
pats_impersonation_json(const PGresult *res, int row, void *arg)
{
	json_object *o = pats_json(res, row, arg);
	json_object_object_add(o, "impersonation",
	                       json_object_new_boolean(pg_get_bool(res, row, "impersonation")));
	return o;
}

/* ---- POST /users/:id/personal_access_tokens --------------------------------------------------- */

/* Answers a new token with its secret, shown this once. */
static void
created(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->txn, res, "token creation");
	} else if (pg_rows(res) != 1) {
		error_gitlab(op->txn, 404, "404 User Not Found");
	} else {
		json_object *o = op->impersonation ? pats_impersonation_json(res, 0, NULL)
		                                   : pats_json(res, 0, NULL);
		json_object_object_add(o, "token", json_object_new_string(op->token));
		log_info("%s %lld (%s) for user %s created by %s",
		         op->impersonation ? "impersonation token" : "personal access token",
		         pg_get_int(res, 0, "id"), op->scopes, op->id, op->actor.username);
		js_respond(op->txn, 201, NULL, o);
	}
	op_free(op);
}

/* The new token is hashed: store it for the user. */
static void
token_hashed(bool ok, const char *hash, void *arg)
{
	struct pat_op *op = arg;
	if (!ok) {
		error_gitlab(op->txn, 500, "500 Internal Server Error");
		op_free(op);
		return;
	}
	const char *expires = gl_param_str(op->p, "expires_at");
	const char *v[] = { op->id, gl_param_str(op->p, "name"), op->scopes, op->lookup, hash,
		            expires && *expires ? expires : NULL, op->impersonation ? "true" : "false" };
	pg_exec(ad.db, &q_create, 7, v, created, op);
}

/* Makes the token and has it hashed. */
static void
make_token(struct pat_op *op)
{
	secret_new(SECRET_PAT, op->token, op->lookup);
	hash_make(op->token, HASH_TOKEN, token_hashed, op);
}

/* The expiry date is checked: it must be a real date after today. */
static void
future_checked(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		/* an impossible date such as 2030-02-30 */
		if (res != NULL && strncmp(pg_sqlstate(res), "22", 2) == 0)
			error_gitlab_param(op->txn, "expires_at is invalid");
		else
			rest_db_error(op->txn, res, "date check");
		op_free(op);
		return;
	}
	if (!pg_get_bool(res, 0, "future")) {
		error_gitlab(op->txn, 400, "400 Bad request - Expiration date must be in the future");
		op_free(op);
		return;
	}
	make_token(op);
}

/* Whether s looks like YYYY-MM-DD. */
static bool
date_shaped(const char *s)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

/* Validates the name, scopes and expiry of a new token. */
static void
create_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct pat_op *op = arg;
	op->p = json_object_get(p);
	unsigned bits;
	if (!rest_token_fields(txn, p, SCOPE_ALL, "scopes does not have a valid value", &bits)) {
		op_free(op);
		return;
	}
	op->scopes = scopes_format(bits);
	const char *expires = gl_param_str(p, "expires_at");
	if (expires != NULL && *expires != '\0') {
		if (!date_shaped(expires)) {
			error_gitlab_param(txn, "expires_at is invalid");
			op_free(op);
			return;
		}
		const char *v[] = { expires };
		pg_exec(ad.db, &q_future, 1, v, future_checked, op);
		return;
	}
	make_token(op);
}

void
pats_create(struct http_txn *txn, const struct route_match *m, bool impersonation)
{
	struct pat_op *op = op_new(txn, m);
	if (!rest_require_admin(txn, &op->actor) || !rest_require_id(txn, op->id)) {
		op_free(op);
		return;
	}
	op->impersonation = impersonation;
	params_read(txn, create_params, op_free, op);
}

/* POST /users/:id/personal_access_tokens (admins) */
static void
h_create(struct http_txn *txn, const struct route_match *m)
{
	pats_create(txn, m, false);
}

/* ---- GET /personal_access_tokens -------------------------------------------------------------- */

/* Answers a page of tokens. */
static void
list_got(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	rest_respond_page(op->txn, &op->page, res, "token list", pats_json, NULL);
	op_free(op);
}

/* Lists the caller's tokens (anyone's for admins), with GitLab's filters. */
static void
list_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct pat_op *op = arg;
	op->p = json_object_get(p);
	const char *user = gl_param_str(p, "user_id");
	char own[32];
	if (user != NULL && !rest_is_id(user)) {
		error_gitlab_param(txn, "user_id is invalid");
		op_free(op);
		return;
	}
	if (!op->actor.admin) {
		/* Non-admins see their own tokens; asking for someone else's is 401 in GitLab. */
		snprintf(own, sizeof(own), "%lld", (long long)op->actor.user_id);
		if (user != NULL && strcmp(user, own) != 0) {
			error_gitlab(txn, 401, "401 Unauthorized");
			op_free(op);
			return;
		}
		user = own;
	}
	int revoked = gl_param_bool(p, "revoked");
	const char *state = gl_param_str(p, "state");
	if (revoked == -2 || (state != NULL && strcmp(state, "active") != 0 &&
	                      strcmp(state, "inactive") != 0)) {
		error_gitlab_param(txn, revoked == -2 ? "revoked is invalid"
		                                      : "state does not have a valid value");
		op_free(op);
		return;
	}
	struct rest_window w;
	if (!rest_page(txn, &op->page, &w)) {
		op_free(op);
		return;
	}
	const char *search = gl_param_str(p, "search");
	const char *v[] = { user, rest_bool_arg(revoked), state, search && *search ? search : NULL,
		            w.limit, w.offset, op->actor.admin ? "true" : "false" };
	pg_exec(ad.db, &q_list, 7, v, list_got, op);
}

/* GET /personal_access_tokens */
static void
h_list(struct http_txn *txn, const struct route_match *m)
{
	struct pat_op *op = op_new(txn, m);
	if (!rest_require_user(txn, &op->actor)) {
		op_free(op);
		return;
	}
	params_read(txn, list_params, op_free, op);
}

/* ---- GET /personal_access_tokens/:id and /self ------------------------------------------------ */

/* Answers one token to its owner or an admin. */
static void
got(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->txn, res, "token lookup");
	} else if (pg_rows(res) == 1 &&
	           (op->actor.admin || (pg_get_int(res, 0, "user_id") == op->actor.user_id &&
	                                !pg_get_bool(res, 0, "impersonation")))) {
		js_respond(op->txn, 200, NULL, pats_json(res, 0, NULL));
	} else if (op->actor.admin) {
		error_gitlab(op->txn, 404, "404 Not Found");
	} else {
		/* GitLab does not tell others whether a token exists. */
		error_gitlab(op->txn, 401, "401 Unauthorized");
	}
	op_free(op);
}

/* A request's state for /personal_access_tokens/:id; NULL once refused (401, 404). */
static struct pat_op *
op_for_id(struct http_txn *txn, const struct route_match *m)
{
	struct pat_op *op = op_new(txn, m);
	if (!rest_require_user(txn, &op->actor) || !rest_require_id(txn, op->id)) {
		op_free(op);
		return NULL;
	}
	return op;
}

/* GET /personal_access_tokens/:id */
static void
h_get(struct http_txn *txn, const struct route_match *m)
{
	struct pat_op *op = op_for_id(txn, m);
	if (op == NULL)
		return;
	const char *v[] = { op->id };
	pg_exec(ad.db, &q_get, 1, v, got, op);
}

/* The lookup prefix of the personal access token this request was made with. */
static bool
own_token_lookup(struct http_txn *txn, char *lookup)
{
	const struct http_headers *h = &http_txn_request(txn)->headers;
	const char *t = headers_get(h, "PRIVATE-TOKEN");
	const char *auth = headers_get(h, "Authorization");
	if (t == NULL && auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		for (t = auth + 7; *t == ' '; t++)
			;
	return secret_parse(t, 1u << SECRET_PAT, lookup) == SECRET_PAT;
}

/* Answers the token the request came with. */
static void
self_got(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	if (!pg_ok(res))
		rest_db_error(op->txn, res, "token lookup");
	else if (pg_rows(res) != 1)
		error_gitlab(op->txn, 404, "404 Not Found");
	else
		js_respond(op->txn, 200, NULL, pats_json(res, 0, NULL));
	op_free(op);
}

/* Looks up the token the request came with, for GET and DELETE of /self: 404 unless the
 * caller signed in with a personal access token. */
static void
self_lookup(struct http_txn *txn, const struct route_match *m, pg_cb cb)
{
	struct pat_op *op = op_new(txn, m);
	if (!rest_require_user(txn, &op->actor)) {
		op_free(op);
		return;
	}
	if (op->actor.kind != AUTH_PERSONAL_ACCESS_TOKEN || !own_token_lookup(txn, op->lookup)) {
		error_gitlab(txn, 404, "404 Not Found");
		op_free(op);
		return;
	}
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)op->actor.user_id);
	const char *v[] = { op->lookup, uid };
	pg_exec(ad.db, &q_self, 2, v, cb, op);
}

/* GET /personal_access_tokens/self */
static void
h_self(struct http_txn *txn, const struct route_match *m)
{
	self_lookup(txn, m, self_got);
}

/* ---- DELETE /personal_access_tokens/:id and /self --------------------------------------------- */

/* Answers a revocation. */
static void
revoked(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->txn, res, "token revocation");
	} else if (pg_rows(res) != 1) {
		error_gitlab(op->txn, 404, "404 Not Found");
	} else if (pg_get_int(res, 0, "revoked") == 0) {
		error_gitlab(op->txn, 400, "400 Bad request");
	} else {
		log_info("personal access token %s revoked by %s", op->id, op->actor.username);
		rest_no_content(op->txn);
	}
	op_free(op);
}

/* Revokes op->id if it is the caller's (or the caller is an admin). */
static void
revoke(struct pat_op *op)
{
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)op->actor.user_id);
	const char *v[] = { op->id, uid, op->actor.admin ? "true" : "false" };
	pg_exec(ad.db, &q_revoke, 3, v, revoked, op);
}

/* DELETE /personal_access_tokens/:id */
static void
h_delete(struct http_txn *txn, const struct route_match *m)
{
	struct pat_op *op = op_for_id(txn, m);
	if (op != NULL)
		revoke(op);
}

/* The request's own token is found: revoke it. */
static void
self_found(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->txn, res, "token lookup");
		op_free(op);
	} else if (pg_rows(res) != 1) {
		error_gitlab(op->txn, 404, "404 Not Found");
		op_free(op);
	} else {
		op->id = xstrdup(pg_get(res, 0, "id"));
		revoke(op);
	}
}

/* DELETE /personal_access_tokens/self */
static void
h_delete_self(struct http_txn *txn, const struct route_match *m)
{
	self_lookup(txn, m, self_found);
}

const struct route pats_routes[] = {
	ROUTE_OWN("POST", "/api/v4/users/:id/personal_access_tokens", h_create, "api_user_pats"),
	ROUTE_OWN("GET", "/api/v4/personal_access_tokens", h_list, "api_pats"),
	ROUTE_OWN("GET", "/api/v4/personal_access_tokens/self", h_self, "api_pat_self"),
	ROUTE_OWN("DELETE", "/api/v4/personal_access_tokens/self", h_delete_self, "api_pat_self"),
	ROUTE_OWN("GET", "/api/v4/personal_access_tokens/:id", h_get, "api_pat"),
	ROUTE_OWN("DELETE", "/api/v4/personal_access_tokens/:id", h_delete, "api_pat"),
};
const size_t pats_nroutes = nitems(pats_routes);

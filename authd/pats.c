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
#include "rest_db.h"
#include "util.h"

PG_STMT(q_future, "SELECT $1::date > current_date AS future");
/* $8: the caller, the author of the audit event */
PG_STMT(q_create,
        "WITH t AS (INSERT INTO personal_access_tokens AS t (user_id, name, scopes, token_lookup, "
        "token_hash, expires_at, impersonation) SELECT u.id, $2, string_to_array($3, ','), $4, "
        "$5, $6::date, $7::boolean FROM users u WHERE u.id = $1 RETURNING " PAT_FIELDS "), "
        "a AS (SELECT audit_record($8::bigint, 'User', t.user_id, 'PersonalAccessToken', "
        "t.id::text, t.name, jsonb_build_object('custom_message', format('Created %s with id %s', "
        "CASE WHEN t.impersonation THEN 'impersonation token' ELSE 'personal access token' END, "
        "t.id))) FROM t) "
        "SELECT t.*, a.n AS audited FROM t, (SELECT count(*) AS n FROM a) a");
/* $1 user, $2 revoked, $3 state, $4 search, $5 limit, $6 offset, $7 impersonation tokens too
 * (admins) */
PG_STMT_READ(
        q_list,
        "WITH f AS (SELECT " PAT_FIELDS " FROM personal_access_tokens t "
        "WHERE ($1::bigint IS NULL OR t.user_id = $1) AND ($7::boolean OR NOT t.impersonation) "
        "AND ($2::boolean IS NULL OR t.revoked = $2) "
        "AND ($3::text IS NULL OR ($3 = 'active') = "
        "(NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > current_date))) "
        "AND ($4::text IS NULL OR position(lower($4) IN lower(t.name)) > 0)) "
        "SELECT (SELECT count(*) FROM f) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "SELECT * FROM f ORDER BY f.id LIMIT $5 OFFSET $6) p ON true");
PG_STMT_READ(q_get, "SELECT " PAT_FIELDS " FROM personal_access_tokens t WHERE t.id = $1");
PG_STMT_READ(q_self, "SELECT " PAT_FIELDS " FROM personal_access_tokens t "
                     "WHERE t.token_lookup = $1 AND t.user_id = $2");
/* Revokes token $1 if it is caller $2's (not an impersonation token) or the caller is an admin
 * ($3). */
PG_STMT(q_revoke,
        "WITH t AS (SELECT id, user_id, impersonation FROM personal_access_tokens WHERE id = $1), "
        "upd AS (UPDATE personal_access_tokens p SET revoked = true FROM t "
        "WHERE p.id = t.id AND ($3::boolean OR (t.user_id = $2 AND NOT t.impersonation)) "
        "RETURNING p.id, p.user_id, p.name), "
        "a AS (SELECT audit_record($2::bigint, 'User', upd.user_id, 'PersonalAccessToken', "
        "upd.id::text, upd.name, jsonb_build_object('custom_message', "
        "format('Revoked personal access token with id %s', upd.id))) FROM upd) "
        "SELECT t.user_id, (SELECT count(*) FROM upd) AS revoked, a.n AS audited "
        "FROM t, (SELECT count(*) AS n FROM a) a");

/* What a request learns on the way, kept with it (rest_state_new). */
struct pat_op {
	struct rest_req *r;
	const char *id; /* :id, or the token's own id for /self */
	char *own_id;   /* the latter, held */
	char *scopes;   /* "api,read_api" */
	bool impersonation;
	char token[SECRET_MAX];
	char lookup[SECRET_LOOKUP_MAX + 1];
};

/* Frees what a request holds, wiping a token not yet shown. */
static void
op_clear(void *arg)
{
	struct pat_op *op = arg;
	free(op->own_id);
	free(op->scopes);
	sodium_memzero(op->token, sizeof(op->token));
}

/* A request's state: its :id. */
static struct pat_op *
op_new(struct rest_req *r)
{
	struct pat_op *op = rest_state_new(r, sizeof(*op), op_clear);
	op->r = r;
	op->id = rest_param(r, "id");
	return op;
}

json_object *
pats_json(struct rest_req *r, const PGresult *res, int row)
{
	(void)r;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(pg_get_int(res, row, "id")));
	json_object_object_add(o, "name", json_object_new_string(pg_get(res, row, "name")));
	json_object_object_add(o, "revoked",
	                       json_object_new_boolean(pg_get_bool(res, row, "revoked")));
	json_object_object_add(o, "created_at", js_new_str_or_null(pg_get(res, row, "created_at")));
	json_object_object_add(o, "scopes", js_csv_array(pg_get(res, row, "scopes")));
	json_object_object_add(o, "user_id",
	                       json_object_new_int64(pg_get_int(res, row, "user_id")));
	json_object_object_add(o, "last_used_at",
	                       js_new_str_or_null(pg_get(res, row, "last_used_at")));
	json_object_object_add(o, "active",
	                       json_object_new_boolean(pg_get_bool(res, row, "active")));
	json_object_object_add(o, "expires_at", js_new_str_or_null(pg_get(res, row, "expires_at")));
	return o;
}

json_object *
pats_impersonation_json(struct rest_req *r, const PGresult *res, int row)
{
	json_object *o = pats_json(r, res, row);
	json_object_object_add(o, "impersonation",
	                       json_object_new_boolean(pg_get_bool(res, row, "impersonation")));
	return o;
}

bool
pats_token_fields(struct rest_req *r, unsigned allowed, const char *if_empty, unsigned *bits)
{
	const char *name = rest_str(r, "name");
	char **scopes = rest_list(r, "scopes");
	if (name == NULL || scopes == NULL) {
		rest_fail_param(r, name == NULL && scopes == NULL
		                           ? "name is missing, scopes is missing"
		                   : name == NULL ? "name is missing"
		                                  : "scopes is missing");
		strv_free(scopes);
		return false;
	}
	bool bad = false, empty = scopes[0] == NULL;
	*bits = 0;
	for (char **s = scopes; *s; s++) {
		unsigned b = scope_bit(*s);
		bad |= b == 0 || (b & ~allowed) != 0;
		*bits |= b;
	}
	strv_free(scopes);
	if (bad || empty) {
		rest_fail_param(r, bad ? "scopes does not have a valid value" : if_empty);
		return false;
	}
	if (*name == '\0' || strlen(name) > 255) {
		rest_fail(r, 400,
		          *name ? "400 Bad request - Name is too long"
		                : "400 Bad request - Name can't be blank");
		return false;
	}
	return true;
}

/* ---- POST /users/:id/personal_access_tokens ---------------------------------------------------
 */

/* Answers a new token with its secret, shown this once. */
static void
created(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	struct rest_req *r = op->r;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(r, 404, "404 User Not Found");
	} else {
		json_object *o = op->impersonation ? pats_impersonation_json(r, res, 0)
		                                   : pats_json(r, res, 0);
		json_object_object_add(o, "token", json_object_new_string(op->token));
		log_info("%s %lld (%s) for user %s created by %s",
		         op->impersonation ? "impersonation token" : "personal access token",
		         pg_get_int(res, 0, "id"), op->scopes, op->id, r->actor.username);
		rest_reply(r, 201, o);
	}
}

/* The new token is hashed: store it for the user. */
static void
token_hashed(bool ok, const char *hash, void *arg)
{
	struct pat_op *op = arg;
	struct rest_req *r = op->r;
	if (!ok) {
		rest_fail(r, 500, "500 Internal Server Error");
		return;
	}
	const char *expires = rest_str(r, "expires_at");
	char caller[32];
	snprintf(caller, sizeof(caller), "%lld", (long long)r->actor.user_id);
	const char *v[] = { op->id,
		            rest_str(r, "name"),
		            op->scopes,
		            op->lookup,
		            hash,
		            expires && *expires ? expires : NULL,
		            op->impersonation ? "true" : "false",
		            caller };
	rest_exec_values(op->r, &q_create, 8, v, created, op);
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
			rest_fail_param(op->r, "expires_at is invalid");
		else
			rest_db_error(op->r, res);
		return;
	}
	if (!pg_get_bool(res, 0, "future")) {
		rest_fail(op->r, 400, "400 Bad request - Expiration date must be in the future");
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

void
pats_create(struct rest_req *r, bool impersonation)
{
	if (!rest_require_admin(r) || !rest_require_id(r, rest_param(r, "id")))
		return;
	unsigned bits;
	if (!pats_token_fields(r, SCOPE_ALL, "scopes does not have a valid value", &bits))
		return;
	struct pat_op *op = op_new(r);
	op->impersonation = impersonation;
	op->scopes = scopes_format(bits);
	const char *expires = rest_str(r, "expires_at");
	if (expires != NULL && *expires != '\0') {
		if (!date_shaped(expires)) {
			rest_fail_param(r, "expires_at is invalid");
			return;
		}
		const char *v[] = { expires };
		rest_exec_values(op->r, &q_future, 1, v, future_checked, op);
		return;
	}
	make_token(op);
}

/* POST /users/:id/personal_access_tokens (admins) */
void
pats_create_for_user(struct rest_req *r)
{
	pats_create(r, false);
}

/* ---- GET /personal_access_tokens --------------------------------------------------------------
 */

/* Answers a page of tokens. */
static void
list_got(PGresult *res, void *arg)
{
	rest_reply_list(arg, res, pats_json);
}

/* Lists the caller's tokens (anyone's for admins), with GitLab's filters. */
void
pats_list(struct rest_req *r)
{
	if (!rest_require_user(r))
		return;
	const char *user = rest_str(r, "user_id");
	char own[32];
	if (user != NULL && !rest_is_id(user)) {
		rest_fail_param(r, "user_id is invalid");
		return;
	}
	if (!r->actor.admin) {
		/* Non-admins see their own tokens; asking for someone else's is 401 in GitLab. */
		snprintf(own, sizeof(own), "%lld", (long long)r->actor.user_id);
		if (user != NULL && strcmp(user, own) != 0) {
			rest_fail(r, 401, "401 Unauthorized");
			return;
		}
		user = own;
	}
	int revoked = gl_param_bool(r->params, "revoked");
	const char *state = rest_str(r, "state");
	if (revoked == -2 ||
	    (state != NULL && strcmp(state, "active") != 0 && strcmp(state, "inactive") != 0)) {
		rest_fail_param(r, revoked == -2 ? "revoked is invalid"
		                                 : "state does not have a valid value");
		return;
	}
	if (rest_page(r) < 0)
		return;
	const char *search = rest_str(r, "search");
	rest_arg(r, user);
	rest_arg(r, rest_bool_arg(revoked));
	rest_arg(r, state);
	rest_arg(r, search && *search ? search : NULL);
	rest_arg_page(r);
	rest_arg_bool(r, r->actor.admin);
	rest_exec(r, &q_list, list_got, r);
}

/* ---- GET /personal_access_tokens/:id and /self ------------------------------------------------
 */

/* Answers one token to its owner or an admin. */
static void
got(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	struct rest_req *r = op->r;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (pg_rows(res) == 1 &&
	           (r->actor.admin || (pg_get_int(res, 0, "user_id") == r->actor.user_id &&
	                               !pg_get_bool(res, 0, "impersonation")))) {
		rest_reply(r, 200, pats_json(r, res, 0));
	} else if (r->actor.admin) {
		rest_fail(r, 404, "404 Not Found");
	} else {
		/* GitLab does not tell others whether a token exists. */
		rest_fail(r, 401, "401 Unauthorized");
	}
}

/* A request's state for /personal_access_tokens/:id; NULL once refused (401, 404). */
static struct pat_op *
op_for_id(struct rest_req *r)
{
	if (!rest_require_user(r) || !rest_require_id(r, rest_param(r, "id")))
		return NULL;
	return op_new(r);
}

/* GET /personal_access_tokens/:id */
void
pats_get(struct rest_req *r)
{
	struct pat_op *op = op_for_id(r);
	if (op == NULL)
		return;
	const char *v[] = { op->id };
	rest_exec_values(op->r, &q_get, 1, v, got, op);
}

bool
pats_own_lookup(struct http_txn *txn, char *lookup)
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
		rest_db_error(op->r, res);
	else if (pg_rows(res) != 1)
		rest_fail(op->r, 404, "404 Not Found");
	else
		rest_reply(op->r, 200, pats_json(op->r, res, 0));
}

/* Looks up the token the request came with, for GET and DELETE of /self: 404 unless the
 * caller signed in with a personal access token. */
static void
self_lookup(struct rest_req *r, pg_cb cb)
{
	if (!rest_require_user(r))
		return;
	struct pat_op *op = op_new(r);
	if (r->actor.kind != AUTH_PERSONAL_ACCESS_TOKEN || !pats_own_lookup(r->txn, op->lookup)) {
		rest_fail(r, 404, "404 Not Found");
		return;
	}
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)r->actor.user_id);
	const char *v[] = { op->lookup, uid };
	rest_exec_values(op->r, &q_self, 2, v, cb, op);
}

/* GET /personal_access_tokens/self */
void
pats_self(struct rest_req *r)
{
	self_lookup(r, self_got);
}

/* ---- DELETE /personal_access_tokens/:id and /self ---------------------------------------------
 */

/* Answers a revocation. */
static void
revoked(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	struct rest_req *r = op->r;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(r, 404, "404 Not Found");
	} else if (pg_get_int(res, 0, "revoked") == 0) {
		rest_fail(r, 400, "400 Bad request");
	} else {
		log_info("personal access token %s revoked by %s", op->id, r->actor.username);
		rest_reply_empty(r, 204);
	}
}

/* Revokes op->id if it is the caller's (or the caller is an admin). */
static void
revoke(struct pat_op *op)
{
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)op->r->actor.user_id);
	const char *v[] = { op->id, uid, op->r->actor.admin ? "true" : "false" };
	rest_exec_values(op->r, &q_revoke, 3, v, revoked, op);
}

/* DELETE /personal_access_tokens/:id */
void
pats_revoke(struct rest_req *r)
{
	struct pat_op *op = op_for_id(r);
	if (op != NULL)
		revoke(op);
}

/* The request's own token is found: revoke it. */
static void
self_found(PGresult *res, void *arg)
{
	struct pat_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->r, res);
	} else if (pg_rows(res) != 1) {
		rest_fail(op->r, 404, "404 Not Found");
	} else {
		op->own_id = xstrdup(pg_get(res, 0, "id"));
		op->id = op->own_id;
		revoke(op);
	}
}

/* DELETE /personal_access_tokens/self */
void
pats_revoke_self(struct rest_req *r)
{
	self_lookup(r, self_found);
}

/*
 * Impersonation tokens, GitLab's API (admins only): personal access tokens an admin makes for a
 * user (POST /users/:id/impersonation_tokens, made by pats_create), which sign in to /api/v4 and
 * /jwt/auth as that user like the user's own; listed (state all, active, inactive), read and
 * revoked (DELETE) under /users/:id/impersonation_tokens. The user does not see them among their
 * personal access tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "util.h"

/* $1 user, $2 state (NULL: all), $3 limit, $4 offset; one row with user_found and total even
 * when the page is empty. */
PG_STMT(q_list,
        "WITH f AS (SELECT " PAT_FIELDS " FROM personal_access_tokens t "
        "WHERE t.user_id = $1 AND t.impersonation AND ($2::text IS NULL OR ($2 = 'active') = "
        "(NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > current_date)))) "
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS user_found, "
        "(SELECT count(*) FROM f) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
        "SELECT * FROM f ORDER BY f.id LIMIT $3 OFFSET $4) p ON true");
/* Token $2 of user $1; no row: no such user, a NULL id: no such token. */
PG_STMT(q_get,
        "SELECT p.* FROM users u LEFT JOIN LATERAL (SELECT " PAT_FIELDS
        " FROM personal_access_tokens t WHERE t.id = $2 AND t.user_id = u.id "
        "AND t.impersonation) p ON true WHERE u.id = $1");
PG_STMT(q_revoke,
        "WITH t AS (UPDATE personal_access_tokens SET revoked = true "
        "WHERE id = $2 AND user_id = $1 AND impersonation RETURNING id) "
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS user_found, "
        "(SELECT count(*) FROM t) AS revoked");

struct imp_op {
	struct http_txn *txn;
	struct actor actor;
	char *user; /* :id */
	char *token; /* :token_id */
	struct gl_page page;
};

/* Frees a request's state. */
static void
op_free(void *arg)
{
	struct imp_op *op = arg;
	free(op->user);
	free(op->token);
	free(op);
}

/* A request's state for an admin, with :id (and :token_id when the route has one) checked;
 * NULL once refused (401, 403, 404). */
static struct imp_op *
op_new(struct http_txn *txn, const struct route_match *m)
{
	struct imp_op *op = xcalloc(1, sizeof(*op));
	op->txn = txn;
	rest_actor(txn, &op->actor);
	const char *v = route_param(m, "id");
	op->user = v ? xstrdup(v) : NULL;
	v = route_param(m, "token_id");
	op->token = v ? xstrdup(v) : NULL;
	if (!rest_require_admin(txn, &op->actor) || !rest_require_id(txn, op->user) ||
	    (route_param(m, "token_id") != NULL && !rest_require_id(txn, op->token))) {
		op_free(op);
		return NULL;
	}
	return op;
}

/* POST /users/:id/impersonation_tokens (admins) */
static void
h_create(struct http_txn *txn, const struct route_match *m)
{
	pats_create(txn, m, true);
}

/* ---- GET /users/:id/impersonation_tokens -------------------------------------------------------- */

/* Answers a page of the user's impersonation tokens. */
static void
list_got(PGresult *res, void *arg)
{
	struct imp_op *op = arg;
	if (pg_ok(res) && pg_rows(res) >= 1 && !pg_get_bool(res, 0, "user_found"))
		error_gitlab(op->txn, 404, "404 User Not Found");
	else
		rest_respond_page(op->txn, &op->page, res, "impersonation token list",
		                  pats_impersonation_json, NULL);
	op_free(op);
}

/* Lists them, by state: all (the default), active, inactive. */
static void
list_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct imp_op *op = arg;
	const char *state = gl_param_str(p, "state");
	if (state != NULL && strcmp(state, "all") != 0 && strcmp(state, "active") != 0 &&
	    strcmp(state, "inactive") != 0) {
		error_gitlab_param(txn, "state does not have a valid value");
		op_free(op);
		return;
	}
	struct rest_window w;
	if (!rest_page(txn, &op->page, &w)) {
		op_free(op);
		return;
	}
	const char *v[] = { op->user, state && strcmp(state, "all") != 0 ? state : NULL, w.limit,
		            w.offset };
	pg_exec(ad.db, &q_list, 4, v, list_got, op);
}

/* GET /users/:id/impersonation_tokens (admins) */
static void
h_list(struct http_txn *txn, const struct route_match *m)
{
	struct imp_op *op = op_new(txn, m);
	if (op != NULL)
		params_read(txn, list_params, op_free, op);
}

/* ---- GET and DELETE /users/:id/impersonation_tokens/:token_id ------------------------------------ */

/* Answers one token. */
static void
got(PGresult *res, void *arg)
{
	struct imp_op *op = arg;
	if (!pg_ok(res))
		rest_db_error(op->txn, res, "impersonation token lookup");
	else if (pg_rows(res) != 1)
		error_gitlab(op->txn, 404, "404 User Not Found");
	else if (pg_get(res, 0, "id") == NULL)
		error_gitlab(op->txn, 404, "404 Impersonation Token Not Found");
	else
		js_respond(op->txn, 200, NULL, pats_impersonation_json(res, 0, NULL));
	op_free(op);
}

/* GET /users/:id/impersonation_tokens/:token_id (admins) */
static void
h_get(struct http_txn *txn, const struct route_match *m)
{
	struct imp_op *op = op_new(txn, m);
	if (op == NULL)
		return;
	const char *v[] = { op->user, op->token };
	pg_exec(ad.db, &q_get, 2, v, got, op);
}

/* Answers a revocation: 204, as GitLab's destroy. */
static void
revoked(PGresult *res, void *arg)
{
	struct imp_op *op = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(op->txn, res, "impersonation token revocation");
	} else if (!pg_get_bool(res, 0, "user_found")) {
		error_gitlab(op->txn, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "revoked") == 0) {
		error_gitlab(op->txn, 404, "404 Impersonation Token Not Found");
	} else {
		log_info("impersonation token %s of user %s revoked by %s", op->token, op->user,
		         op->actor.username);
		rest_no_content(op->txn);
	}
	op_free(op);
}

/* DELETE /users/:id/impersonation_tokens/:token_id (admins) */
static void
h_delete(struct http_txn *txn, const struct route_match *m)
{
	struct imp_op *op = op_new(txn, m);
	if (op == NULL)
		return;
	const char *v[] = { op->user, op->token };
	pg_exec(ad.db, &q_revoke, 2, v, revoked, op);
}

const struct route imptokens_routes[] = {
	ROUTE_OWN("GET", "/api/v4/users/:id/impersonation_tokens", h_list, "api_user_imptokens"),
	ROUTE_OWN("POST", "/api/v4/users/:id/impersonation_tokens", h_create, "api_user_imptokens"),
	ROUTE_OWN("GET", "/api/v4/users/:id/impersonation_tokens/:token_id", h_get, "api_user_imptoken"),
	ROUTE_OWN("DELETE", "/api/v4/users/:id/impersonation_tokens/:token_id", h_delete,
	  "api_user_imptoken"),
};
const size_t imptokens_nroutes = nitems(imptokens_routes);

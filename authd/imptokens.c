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
#include "rest_db.h"
#include "util.h"

/* $1 user, $2 state (NULL: all), $3 limit, $4 offset; one row with user_found and total even
 * when the page is empty. */
PG_STMT_READ(q_list,
             "WITH f AS (SELECT " PAT_FIELDS " FROM personal_access_tokens t "
             "WHERE t.user_id = $1 AND t.impersonation AND ($2::text IS NULL OR ($2 = 'active') = "
             "(NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > current_date)))) "
             "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS user_found, "
             "(SELECT count(*) FROM f) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
             "SELECT * FROM f ORDER BY f.id LIMIT $3 OFFSET $4) p ON true");
/* Token $2 of user $1; no row: no such user, a NULL id: no such token. */
PG_STMT_READ(q_get, "SELECT p.* FROM users u LEFT JOIN LATERAL (SELECT " PAT_FIELDS
                    " FROM personal_access_tokens t WHERE t.id = $2 AND t.user_id = u.id "
                    "AND t.impersonation) p ON true WHERE u.id = $1");
/* Revokes token $2 of user $1, an audit event of the admin $3 on the user. */
PG_STMT(q_revoke, "WITH t AS (UPDATE personal_access_tokens SET revoked = true "
                  "WHERE id = $2 AND user_id = $1 AND impersonation AND NOT revoked "
                  "RETURNING id, user_id, name), "
                  "a AS (SELECT audit_record($3::bigint, 'User', t.user_id, "
                  "'PersonalAccessToken', t.id::text, t.name, jsonb_build_object("
                  "'custom_message', format('Revoked impersonation token with id %s', t.id))) "
                  "FROM t), "
                  "was AS (SELECT 1 FROM personal_access_tokens WHERE id = $2 AND user_id = $1 "
                  "AND impersonation) "
                  "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1) AS user_found, "
                  "(SELECT count(*) FROM was) AS revoked, (SELECT count(*) FROM a) AS audited");

/* Whether an admin asks, with :id (and :token_id when the route has one) an id; false once
 * refused (401, 403, 404). */
static bool
admin_asks(struct rest_req *r)
{
	const char *token = rest_param(r, "token_id");
	return rest_require_admin(r) && rest_require_id(r, rest_param(r, "id")) &&
	       (token == NULL || rest_require_id(r, token));
}

/* POST /users/:id/impersonation_tokens (admins) */
void
imptokens_create(struct rest_req *r)
{
	pats_create(r, true);
}

/* ---- GET /users/:id/impersonation_tokens --------------------------------------------------------
 */

/* Answers a page of the user's impersonation tokens. */
static void
list_got(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (pg_ok(res) && pg_rows(res) >= 1 && !pg_get_bool(res, 0, "user_found"))
		rest_fail(r, 404, "404 User Not Found");
	else
		rest_reply_list(r, res, pats_impersonation_json);
}

/* GET /users/:id/impersonation_tokens (admins), by state: all (the default), active, inactive. */
void
imptokens_list(struct rest_req *r)
{
	if (!admin_asks(r))
		return;
	const char *state = rest_str(r, "state");
	if (state != NULL && strcmp(state, "all") != 0 && strcmp(state, "active") != 0 &&
	    strcmp(state, "inactive") != 0) {
		rest_fail_param(r, "state does not have a valid value");
		return;
	}
	if (rest_page(r) < 0)
		return;
	rest_arg(r, rest_param(r, "id"));
	rest_arg(r, state && strcmp(state, "all") != 0 ? state : NULL);
	rest_arg_page(r);
	rest_exec(r, &q_list, list_got, r);
}

/* ---- GET and DELETE /users/:id/impersonation_tokens/:token_id
 * ------------------------------------ */

/* Answers one token. */
static void
got(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res))
		rest_db_error(r, res);
	else if (pg_rows(res) != 1)
		rest_fail(r, 404, "404 User Not Found");
	else if (pg_get(res, 0, "id") == NULL)
		rest_fail(r, 404, "404 Impersonation Token Not Found");
	else
		rest_reply(r, 200, pats_impersonation_json(r, res, 0));
}

/* GET /users/:id/impersonation_tokens/:token_id (admins) */
void
imptokens_get(struct rest_req *r)
{
	if (!admin_asks(r))
		return;
	rest_arg(r, rest_param(r, "id"));
	rest_arg(r, rest_param(r, "token_id"));
	rest_exec(r, &q_get, got, r);
}

/* Answers a revocation: 204, as GitLab's destroy. */
static void
revoked(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(r, res);
	} else if (!pg_get_bool(res, 0, "user_found")) {
		rest_fail(r, 404, "404 User Not Found");
	} else if (pg_get_int(res, 0, "revoked") == 0) {
		rest_fail(r, 404, "404 Impersonation Token Not Found");
	} else {
		log_info("impersonation token %s of user %s revoked by %s",
		         rest_param(r, "token_id"), rest_param(r, "id"), r->actor.username);
		rest_reply_empty(r, 204);
	}
}

/* DELETE /users/:id/impersonation_tokens/:token_id (admins) */
void
imptokens_revoke(struct rest_req *r)
{
	if (!admin_asks(r))
		return;
	rest_arg(r, rest_param(r, "id"));
	rest_arg(r, rest_param(r, "token_id"));
	rest_arg_i64(r, r->actor.user_id);
	rest_exec(r, &q_revoke, revoked, r);
}

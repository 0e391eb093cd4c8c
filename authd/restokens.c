/*
 * Project and group access tokens, GitLab's API (/projects/:id/access_tokens and
 * /groups/:id/access_tokens: list, get, create, revoke, rotate, and a bot's rotation of its own
 * token, .../access_tokens/self/rotate). A token is a personal access token ("glpat-...") of a
 * bot user made for it, member of the project or group at the token's access level
 * (schema/functions/access_tokens.sql): it signs in wherever a personal access token does
 * (cred.c), its scopes narrow it as theirs do (access.c), and the bot's role decides the rest,
 * as anyone's. Maintainers manage a project's tokens, Owners a group's; nobody gives a token a
 * role above their own. The secret is shown once, in the answer that makes it.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "gitlab.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "rest_db.h"
#include "status.h"
#include "util.h"

/* The columns of a token's entity (the token as t, its bot as b): a personal access token's,
 * and the bot's role in its project or group. */
#define RAT_FIELDS PAT_FIELDS ", coalesce(pm.access_level, gm.access_level) AS access_level"
#define RAT_FROM                                                                                   \
	"FROM personal_access_tokens t JOIN users b ON b.id = t.user_id "                          \
	"LEFT JOIN project_members pm ON pm.user_id = b.id AND pm.project_id = b.bot_project_id "  \
	"LEFT JOIN group_members gm ON gm.user_id = b.id AND gm.namespace_id = b.bot_group_id "
/* the tokens of resource $2 (a group's when $1) */
#define RAT_OF "CASE WHEN $1::boolean THEN b.bot_group_id ELSE b.bot_project_id END = $2 "

PG_STMT_READ(q_resource, "SELECT * FROM access_token_resource($1, $2, $3, $4, $5)");
/* $1 group, $2 resource, $3 state, $4 limit, $5 offset */
PG_STMT_READ(q_list, "WITH f AS (SELECT " RAT_FIELDS " " RAT_FROM "WHERE " RAT_OF
                     "AND NOT t.impersonation) "
                     "SELECT (SELECT count(*) FROM f WHERE $3::text IS NULL OR f.active = "
                     "($3 = 'active')) AS total, p.* FROM (SELECT 1) one LEFT JOIN LATERAL ("
                     "SELECT * FROM f WHERE $3::text IS NULL OR f.active = ($3 = 'active') "
                     "ORDER BY f.id LIMIT $4 OFFSET $5) p ON true");
/* $1 group, $2 resource, $3 token */
PG_STMT_READ(q_get, "SELECT " RAT_FIELDS " " RAT_FROM "WHERE " RAT_OF
                    "AND NOT t.impersonation AND t.id = $3");
PG_STMT(q_create, "SELECT * FROM access_token_create($1, $2, $3, $4, $5, $6, "
                  "string_to_array($7, ','), $8, $9::date, $10, $11, $12, $13)");
PG_STMT(q_rotate,
        "SELECT * FROM access_token_rotate($1, $2, $3, $4, $5, $6, $7, $8::date, $9, $10)");
/* the token a write made (a statement of its own: the write's statement does not see it) */
PG_STMT(q_made, "SELECT " RAT_FIELDS " " RAT_FROM "WHERE t.id = $1");
PG_STMT(q_revoke, "SELECT * FROM access_token_revoke($1, $2, $3, $4, $5, $6)");

/* The scopes a resource's token may have here: GitLab's resource bot scopes the registry has
 * (read_user and sudo are not among GitLab's; repository, runner and other scopes have nothing
 * to act on here and are refused as unknown). */
#define RAT_SCOPES (SCOPE_API | SCOPE_READ_API | SCOPE_READ_REGISTRY | SCOPE_WRITE_REGISTRY)

enum rat_action { RAT_LIST, RAT_GET, RAT_CREATE, RAT_REVOKE, RAT_ROTATE, RAT_ROTATE_SELF };

/* What a request learns on the way, kept with it (rest_state_new). */
struct rat_op {
	struct rest_req *r;
	bool group; /* a group's tokens, else a project's */
	enum rat_action action;
	const char *token_id; /* :token_id */
	char *scopes;         /* "api,read_registry" */
	char *message;        /* a 404 naming the token */
	int level;            /* the new token's role */
	const char *expires;  /* the new token's expiry, or NULL */
	char token[SECRET_MAX];
	char lookup[SECRET_LOOKUP_MAX + 1];
	char own[SECRET_LOOKUP_MAX + 1]; /* self/rotate: the lookup of the token signed in with */
};

/* Frees what a request holds, wiping a token not yet shown. */
static void
op_clear(void *arg)
{
	struct rat_op *op = arg;
	free(op->scopes);
	free(op->message);
	sodium_memzero(op->token, sizeof(op->token));
}

/* The kind of the resource as GitLab's messages name it. */
static const char *
kind(const struct rat_op *op)
{
	return op->group ? "group" : "project";
}

/* Entities::ResourceAccessToken from a row of RAT_FIELDS (a rest_row_fn). */
static json_object *
rat_json(struct rest_req *r, const PGresult *res, int row)
{
	json_object *o = pats_json(r, res, row);
	const char *level = pg_get(res, row, "access_level");
	json_object_object_add(o, "access_level", level ? json_object_new_int(atoi(level)) : NULL);
	return o;
}

/* Answers 404 naming the token, as GitLab's find_token does. */
static void
token_not_found(struct rat_op *op)
{
	op->message = xasprintf("404 Could not find %s access token with token_id: %s Not Found",
	                        kind(op), op->token_id ? op->token_id : "");
	rest_fail(op->r, 404, op->message);
}

/* Answers a refusal of a write function (the resource's 404 names it). */
static void
refused(struct rat_op *op, const PGresult *res, enum status_word w)
{
	if (w == STATUS_token_not_found && op->action != RAT_ROTATE &&
	    op->action != RAT_ROTATE_SELF)
		token_not_found(op);
	else
		rest_status_answer(op->r, res, w);
}

/* ---- reads -------------------------------------------------------------------------------------
 */

/* Answers a page of tokens. */
static void
list_got(PGresult *res, void *arg)
{
	struct rat_op *op = arg;
	rest_reply_list(op->r, res, rat_json);
}

/* Answers one token. */
static void
one_got(PGresult *res, void *arg)
{
	struct rat_op *op = arg;
	if (!pg_ok(res))
		rest_db_error(op->r, res);
	else if (pg_rows(res) != 1)
		token_not_found(op);
	else
		rest_reply(op->r, 200, rat_json(op->r, res, 0));
}

/* The resource is known: a caller who manages its tokens reads them (GitLab: 401 to others). */
static void
resource_found(PGresult *res, void *arg)
{
	struct rat_op *op = arg;
	struct rest_req *r = op->r;
	enum status_word w = rest_status(r, res);
	if (w == STATUS_NONE)
		return;
	if (w != STATUS_ok) {
		rest_status_answer(r, res, w);
		return;
	}
	if (!pg_get_bool(res, 0, "manages")) {
		rest_fail(r, 401, "401 Unauthorized");
		return;
	}
	rest_arg_bool(r, op->group);
	rest_arg(r, pg_get(res, 0, "resource_id"));
	if (op->action == RAT_LIST) {
		rest_arg(r, rest_str(r, "state"));
		rest_arg_page(r);
		rest_exec(r, &q_list, list_got, op);
	} else if (!rest_is_id(op->token_id)) {
		token_not_found(op);
	} else {
		rest_arg(r, op->token_id);
		rest_exec(r, &q_get, one_got, op);
	}
}

/* ---- writes ------------------------------------------------------------------------------------
 */

/* Answers a token made (201) or rotated (200) with its secret, shown this once. */
static void
made_read(PGresult *res, void *arg)
{
	struct rat_op *op = arg;
	struct rest_req *r = op->r;
	if (!rest_found(r, res, NULL))
		return;
	json_object *o = rat_json(r, res, 0);
	json_object_object_add(o, "token", json_object_new_string(op->token));
	log_info("%s access token %s (%s) %s by %s", kind(op), pg_get(res, 0, "id"),
	         pg_get(res, 0, "scopes"), op->action == RAT_CREATE ? "created" : "rotated",
	         r->actor.username);
	rest_reply(r, op->action == RAT_CREATE ? 201 : 200, o);
}

/* The token is made (or a refusal answered): read it back. */
static void
made(PGresult *res, void *arg)
{
	struct rat_op *op = arg;
	enum status_word w = rest_status(op->r, res);
	if (w == STATUS_NONE)
		return;
	if (w != STATUS_ok) {
		refused(op, res, w);
		return;
	}
	rest_arg(op->r, pg_get(res, 0, "token_id"));
	rest_exec(op->r, &q_made, made_read, op);
}

/* The host of the registry's URL without its port: the domain of bots' addresses. */
static char *
email_host(struct rest_req *r)
{
	char *host = gl_registry_host(r->txn);
	char *end = host[0] == '[' ? strchr(host, ']') : strchr(host, ':');
	if (end != NULL)
		end[host[0] == '['] = '\0';
	return host;
}

/* The new secret is hashed: store the token (create or rotate, the rights checked there). */
static void
token_hashed(bool ok, const char *hash, void *arg)
{
	struct rat_op *op = arg;
	struct rest_req *r = op->r;
	if (!ok) {
		rest_fail(r, 500, "500 Internal Server Error");
		return;
	}
	rest_arg_actor(r);
	rest_arg_bool(r, op->group);
	rest_arg_ref(r, rest_param(r, "id"));
	if (op->action == RAT_ROTATE || op->action == RAT_ROTATE_SELF) {
		rest_arg(r, op->token_id);
		rest_arg(r, op->action == RAT_ROTATE_SELF ? op->own : NULL);
		rest_arg(r, op->expires);
		rest_arg(r, op->lookup);
		rest_arg(r, hash);
		rest_exec(r, &q_rotate, made, op);
		return;
	}
	unsigned char raw[16];
	char suffix[sizeof(raw) * 2 + 1];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(suffix, sizeof(suffix), raw, sizeof(raw));
	char *host = email_host(r);
	rest_arg(r, rest_str(r, "name"));
	rest_arg(r, op->scopes);
	rest_arg_i64(r, op->level);
	rest_arg(r, op->expires);
	rest_arg(r, op->lookup);
	rest_arg(r, hash);
	rest_arg(r, suffix);
	rest_arg(r, host);
	free(host);
	rest_exec(r, &q_create, made, op);
}

/* Answers a revocation. */
static void
revoked(PGresult *res, void *arg)
{
	struct rat_op *op = arg;
	enum status_word w = rest_status(op->r, res);
	if (w == STATUS_NONE)
		return;
	if (w != STATUS_ok) {
		refused(op, res, w);
		return;
	}
	log_info("%s access token %s revoked by %s", kind(op), op->token_id, op->r->actor.username);
	rest_reply_empty(op->r, 204);
}

/* Checks the parameters of a new token as GitLab's API declares them (400 on the first
 * problem); false once answered. */
static bool
create_params(struct rat_op *op)
{
	struct rest_req *r = op->r;
	unsigned bits;
	if (!pats_token_fields(r, RAT_SCOPES, "scopes is empty", &bits))
		return false;
	op->level = 40; /* GitLab's default: Maintainer */
	if (rest_access_level(r, "access_level", &op->level) < 0 ||
	    rest_date(r, "expires_at", &op->expires) < 0)
		return false;
	if (op->expires == NULL) {
		/* the registry asks every token for its expiry */
		rest_fail_param(r, "expires_at is missing");
		return false;
	}
	op->scopes = scopes_format(bits);
	return true;
}

/* Reads and checks the request, then acts. */
static void
start(struct rest_req *r, bool group, enum rat_action action)
{
	if (!rest_require_user(r))
		return;
	struct rat_op *op = rest_state_new(r, sizeof(*op), op_clear);
	op->r = r;
	op->group = group;
	op->action = action;
	op->token_id = rest_param(r, "token_id");
	r->what = group ? "Group" : "Project";
	switch (action) {
	case RAT_LIST:
	case RAT_GET:
		if (action == RAT_LIST) {
			static const char *const states[] = { "active", "inactive", NULL };
			const char *state;
			if (rest_enum(r, "state", states, &state) < 0 || rest_page(r) < 0)
				return;
		}
		rest_arg_actor(r);
		rest_arg_bool(r, group);
		rest_arg_ref(r, rest_param(r, "id"));
		rest_exec(r, &q_resource, resource_found, op);
		return;
	case RAT_CREATE:
		if (!create_params(op))
			return;
		break;
	case RAT_ROTATE:
		if (rest_date(r, "expires_at", &op->expires) < 0)
			return;
		if (!rest_is_id(op->token_id)) {
			/* no such token: GitLab tells admins only */
			if (r->actor.admin)
				rest_fail(r, 404, "404 Not Found");
			else
				rest_fail(r, 401, "401 Unauthorized");
			return;
		}
		break;
	case RAT_ROTATE_SELF:
		if (rest_date(r, "expires_at", &op->expires) < 0)
			return;
		/* GitLab: only a bot's personal access token rotates itself here */
		if (r->actor.kind != AUTH_PERSONAL_ACCESS_TOKEN ||
		    !pats_own_lookup(r->txn, op->own)) {
			rest_fail(r, 405, "405 Method Not Allowed");
			return;
		}
		break;
	case RAT_REVOKE:
		if (!rest_is_id(op->token_id)) {
			token_not_found(op);
			return;
		}
		rest_arg_actor(r);
		rest_arg_bool(r, group);
		rest_arg_ref(r, rest_param(r, "id"));
		rest_arg(r, op->token_id);
		rest_exec(r, &q_revoke, revoked, op);
		return;
	}
	secret_new(SECRET_PAT, op->token, op->lookup);
	hash_make(op->token, HASH_TOKEN, token_hashed, op);
}

/* One handler per (resource, action): the rows of routes.def. */
#define RAT_HANDLER(fn, group, action)                                                             \
	void fn(struct rest_req *r)                                                                \
	{                                                                                          \
		start(r, group, action);                                                           \
	}

RAT_HANDLER(restokens_project_list, false, RAT_LIST)
RAT_HANDLER(restokens_project_get, false, RAT_GET)
RAT_HANDLER(restokens_project_create, false, RAT_CREATE)
RAT_HANDLER(restokens_project_revoke, false, RAT_REVOKE)
RAT_HANDLER(restokens_project_rotate, false, RAT_ROTATE)
RAT_HANDLER(restokens_project_rotate_self, false, RAT_ROTATE_SELF)
RAT_HANDLER(restokens_group_list, true, RAT_LIST)
RAT_HANDLER(restokens_group_get, true, RAT_GET)
RAT_HANDLER(restokens_group_create, true, RAT_CREATE)
RAT_HANDLER(restokens_group_revoke, true, RAT_REVOKE)
RAT_HANDLER(restokens_group_rotate, true, RAT_ROTATE)
RAT_HANDLER(restokens_group_rotate_self, true, RAT_ROTATE_SELF)

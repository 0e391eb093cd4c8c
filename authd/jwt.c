/*
 * GET /jwt/auth: the Docker token service. Checks HTTP Basic credentials (a password, a personal
 * access token, a deploy token, or an OAuth token with the username "oauth2"), resolves each
 * requested repository to its project, grants what the caller's rights allow, and answers a
 * registry token the gateway verifies on every /v2 request.
 *
 * A signed-in caller always gets a token, possibly with an empty access list (the registry then
 * answers DENIED); bad credentials get 401; an anonymous caller granted nothing gets 403, as
 * GitLab answers.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "authd.h"
#include "cfg.h"
#include "headers.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "pg.h"
#include "url.h"
#include "util.h"

#define ACCESS_DENIED_MESSAGE                                                                      \
	"HTTP Basic: Access denied. The provided password or token is incorrect or your account "  \
	"has 2FA enabled and you must use a personal access token instead of a password."

/* What the caller may do with the repository at $1, of the actions $5 names (registry_access():
 * the path's project and the rules of rights, in SQL), and what the grant is made on: the
 * project and its path generation, read in the same snapshot. */
PG_STMT(q_access, "SELECT array_to_string(a.actions, ',') AS actions, a.project_id,"
                  " p.path_generation"
                  " FROM registry_access($1, $2, $3, $4, string_to_array($5, ',')) a"
                  " LEFT JOIN projects p ON p.id = a.project_id");

struct jwt_req {
	struct http_txn *txn;
	struct access_list want;
	unsigned *granted; /* per item of want */
	struct token_grant_on {
		int64_t project_id, generation;
	} * on; /* per item of want: what a repository grant is made on */
	size_t pending;
	bool db_failed;
	bool signed_in;
	struct cred_result who;
};

struct scope_query {
	struct jwt_req *jr;
	size_t idx;
};

/* An error in the token service's JSON shape, {"errors":[{"code","message"}]}. */
static void
jwt_error(struct http_txn *txn, int status, const char *code, const char *message, int retry_after)
{
	json_object *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	json_object *arr = json_object_new_array();
	json_object_array_add(arr, err);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "errors", arr);
	struct http_headers h;
	headers_init(&h);
	if (retry_after > 0)
		headers_set_int(&h, "Retry-After", retry_after);
	js_respond(txn, status, &h, o);
	headers_clear(&h);
}

/* Frees a token request. */
static void
jr_free(struct jwt_req *jr)
{
	access_list_clear(&jr->want);
	free(jr->granted);
	free(jr->on);
	free(jr);
}

/* Signs the token for what was granted and answers. */
static void
issue(struct jwt_req *jr)
{
	struct http_txn *txn = jr->txn;
	if (jr->db_failed) {
		jwt_error(txn, 503, "UNAVAILABLE", "service unavailable", 0);
		jr_free(jr);
		return;
	}
	const char *service = cfg_str(ad.cfg, CFG_GLOBAL_SERVICE);
	int64_t lifetime = cfg_int(ad.cfg, CFG_AUTHD_TOKEN_LIFETIME);
	int64_t now = now_unix();
	struct token_claims c;
	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < jr->want.n; i++)
		if (jr->granted[i] != 0)
			token_claims_add_access(&c, jr->want.items[i].type, jr->want.items[i].name,
			                        jr->granted[i], jr->on[i].project_id,
			                        jr->on[i].generation);
	if (!jr->signed_in && c.naccess == 0) {
		token_claims_clear(&c);
		jwt_error(txn, 403, "DENIED", "access forbidden", 0);
		jr_free(jr);
		return;
	}
	unsigned char raw[16];
	char jti[33];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(jti, sizeof(jti), raw, sizeof(raw));
	c.iss = xstrdup(TOKEN_ISSUER);
	c.sub = xstrdup(jr->signed_in ? jr->who.username : "");
	c.aud = xstrdup(service);
	c.jti = xstrdup(jti);
	c.iat = c.nbf = now;
	c.exp = now + lifetime;
	c.kind = jr->signed_in ? jr->who.kind : AUTH_ANONYMOUS;
	if (jr->signed_in && jr->who.kind == AUTH_DEPLOY_TOKEN) {
		c.deploy_token_id = jr->who.token_id;
	} else if (jr->signed_in) {
		c.user_id = jr->who.user_id;
		c.admin = jr->who.admin;
	}
	char *jwt = token_sign(&c, &ad.key);
	token_claims_clear(&c);

	char issued[32];
	time_t t = (time_t)now;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "token", json_object_new_string(jwt));
	json_object_object_add(o, "access_token", json_object_new_string(jwt));
	json_object_object_add(o, "expires_in", json_object_new_int64(lifetime));
	json_object_object_add(o, "issued_at", json_object_new_string(issued));
	free(jwt);
	js_respond(txn, 200, NULL, o);
	jr_free(jr);
}

/* One scope is decided; issue the token after the last. */
static void
scope_done(struct jwt_req *jr)
{
	if (--jr->pending == 0)
		issue(jr);
}

/* What the rules allow on a repository: grant it. */
static void
access_found(PGresult *res, void *arg)
{
	struct scope_query *q = arg;
	struct jwt_req *jr = q->jr;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		log_error("request %s: access lookup failed: %s", http_txn_id(jr->txn),
		          pg_error(res));
		jr->db_failed = true;
	} else if (pg_get(res, 0, "path_generation") != NULL) {
		/* a path without a project grants nothing; a grant is bound to its project */
		jr->granted[q->idx] =
		        actions_parse(pg_get(res, 0, "actions")) & jr->want.items[q->idx].actions;
		jr->on[q->idx].project_id = pg_get_int(res, 0, "project_id");
		jr->on[q->idx].generation = pg_get_int(res, 0, "path_generation");
	}
	free(q);
	scope_done(jr);
}

/* Asks SQL what each repository scope allows (a name of the registry's syntax only, and only
 * the actions the credential may be used for); other scopes are decided at once. */
static void
resolve(struct jwt_req *jr)
{
	jr->granted = xcalloc(jr->want.n ? jr->want.n : 1, sizeof(unsigned));
	jr->on = xcalloc(jr->want.n ? jr->want.n : 1, sizeof(*jr->on));
	jr->pending = 1; /* held until every query is sent */
	bool user = jr->signed_in && jr->who.kind != AUTH_DEPLOY_TOKEN;
	char uid[32], dtid[32];
	snprintf(uid, sizeof(uid), "%lld", user ? (long long)jr->who.user_id : 0LL);
	snprintf(dtid, sizeof(dtid), "%lld",
	         jr->signed_in && !user ? (long long)jr->who.token_id : 0LL);
	const char *admin = user && jr->who.admin ? "true" : "false";
	unsigned mask = access_credential_actions(jr->signed_in ? jr->who.kind : AUTH_ANONYMOUS,
	                                          jr->signed_in ? jr->who.scopes : 0);
	for (size_t i = 0; i < jr->want.n; i++) {
		struct access_item *it = &jr->want.items[i];
		if (strcmp(it->type, "registry") == 0) {
			/* The catalog: any signed-in user (metad lists only what each may see),
			 * with a registry or api scope for a personal access token. */
			bool scoped = jr->who.kind != AUTH_PERSONAL_ACCESS_TOKEN ||
			              (jr->who.scopes & (SCOPE_API | SCOPE_READ_REGISTRY));
			if (strcmp(it->name, "catalog") == 0 && user && scoped &&
			    (it->actions & ACT_STAR))
				jr->granted[i] = ACT_STAR;
			continue;
		}
		unsigned want = it->actions & mask;
		if (strcmp(it->type, "repository") != 0 || want == 0 ||
		    !name_valid_repository(it->name))
			continue;
		struct scope_query *q = xcalloc(1, sizeof(*q));
		q->jr = jr;
		q->idx = i;
		jr->pending++;
		char *wanted = actions_format(want);
		const char *v[] = { it->name, uid, admin, dtid, wanted };
		pg_exec(ad.db, &q_access, 5, v, access_found, q);
		free(wanted);
	}
	scope_done(jr);
}

/* The Basic credentials are checked: go on to the scopes, or refuse. */
static void
credentials_checked(const struct cred_result *r, void *arg)
{
	struct jwt_req *jr = arg;
	switch (r->status) {
	case CRED_OK:
		jr->who = *r;
		jr->signed_in = true;
		cred_name_actor(jr->txn, r);
		resolve(jr);
		return;
	case CRED_LIMITED:
		jwt_error(jr->txn, 429, "TOOMANYREQUESTS",
		          "too many failed sign-ins from this address, retry later",
		          r->retry_after);
		break;
	case CRED_ERROR:
		jwt_error(jr->txn, 503, "UNAVAILABLE", "service unavailable", 0);
		break;
	default:
		jwt_error(jr->txn, 401, "UNAUTHORIZED", ACCESS_DENIED_MESSAGE, 0);
		break;
	}
	jr_free(jr);
}

struct query_walk {
	struct jwt_req *jr;
	char *service;
	bool has_service;
};

/* Takes service (the first) and every scope parameter. */
static int
query_param(const char *name, const char *value, void *arg)
{
	struct query_walk *w = arg;
	if (strcmp(name, "service") == 0 && !w->has_service) {
		w->service = xstrdup(value);
		w->has_service = true;
	} else if (strcmp(name, "scope") == 0) {
		access_parse(&w->jr->want, value);
	}
	return 0;
}

/* GET /jwt/auth */
void
jwt_auth(struct rest_req *r)
{
	struct http_txn *txn = r->txn;
	struct jwt_req *jr = xcalloc(1, sizeof(*jr));
	jr->txn = txn;
	struct query_walk w = { .jr = jr };
	if (query_each(http_txn_request(txn)->query, query_param, &w) < 0) {
		jwt_error(txn, 400, "INVALID_REQUEST", "malformed query string", 0);
		free(w.service);
		jr_free(jr);
		return;
	}
	const char *service = cfg_str(ad.cfg, CFG_GLOBAL_SERVICE);
	if (w.service == NULL || strcmp(w.service, service) != 0) {
		char *msg = w.service == NULL ? xstrdup("the service parameter is missing")
		                              : xasprintf("unknown service \"%s\"", w.service);
		jwt_error(txn, 400, "INVALID_REQUEST", msg, 0);
		free(msg);
		free(w.service);
		jr_free(jr);
		return;
	}
	free(w.service);
	const char *auth = headers_get(&http_txn_request(txn)->headers, "Authorization");
	if (auth == NULL) {
		resolve(jr);
		return;
	}
	char *user = NULL, *password = NULL;
	if (!cred_parse_basic(auth, &user, &password)) {
		jwt_error(txn, 401, "UNAUTHORIZED", ACCESS_DENIED_MESSAGE, 0);
		jr_free(jr);
		return;
	}
	unsigned mask = (1u << SECRET_PAT) | (1u << SECRET_DEPLOY) | (1u << SECRET_OAUTH);
	cred_basic(cred_client(txn), user, password, mask, credentials_checked, jr);
	sodium_memzero(password, strlen(password));
	free(user);
	free(password);
}

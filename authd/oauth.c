/*
 * POST /oauth/token: GitLab's (Doorkeeper's) OAuth 2 token endpoint for the resource owner
 * password grant and the refresh token grant. The access token it answers works as
 * "Authorization: Bearer" on /api/v4 for two hours; the refresh token can be exchanged once for
 * a new pair, which revokes the old one.
 *
 * POST /oauth/revoke: Doorkeeper's RFC 7009 revocation endpoint. The token (access or refresh)
 * is its own credential: these tokens belong to no OAuth application, so Doorkeeper asks no
 * client authentication and anyone holding one may revoke it. The pair is marked revoked in
 * PostgreSQL, which every node reads; the answer is 200 {} whether the token was known or not.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "gitlab.h"
#include "headers.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "util.h"

#define OAUTH_LIFETIME 7200

PG_STMT(q_insert,
        "INSERT INTO oauth_access_tokens (user_id, token_lookup, token_hash, refresh_lookup, "
        "refresh_hash, scopes, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, '{api}', now() + interval '7200 seconds') "
        "RETURNING extract(epoch FROM created_at)::bigint AS created_at");
PG_STMT(q_token_kind, "SELECT token_lookup <> $1 AS refresh FROM oauth_access_tokens "
                      "WHERE token_lookup = $1 OR refresh_lookup = $1 "
                      "ORDER BY token_lookup = $1 DESC LIMIT 1");
PG_STMT(q_revoke,
        "UPDATE oauth_access_tokens SET revoked = true WHERE id = $1 AND NOT revoked RETURNING id");

struct oauth_req {
	struct http_txn *txn;
	int64_t user_id;
	int64_t old_id; /* the token pair a refresh replaces */
	char access[SECRET_MAX], access_lookup[SECRET_LOOKUP_MAX + 1];
	char refresh[SECRET_MAX], refresh_lookup[SECRET_LOOKUP_MAX + 1];
	char *access_hash;
};

/* A token request answering txn. */
static struct oauth_req *
or_new(struct http_txn *txn)
{
	struct oauth_req *o = xcalloc(1, sizeof(*o));
	o->txn = txn;
	return o;
}

/* Frees a token request, wiping the new secrets. */
static void
or_free(struct oauth_req *o)
{
	sodium_memzero(o->access, sizeof(o->access));
	sodium_memzero(o->refresh, sizeof(o->refresh));
	free(o->access_hash);
	free(o);
}

/* An error in OAuth 2's JSON shape. */
static void
oauth_error(struct http_txn *txn, int status, const char *error, const char *description,
            int retry_after)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string(error));
	json_object_object_add(o, "error_description", json_object_new_string(description));
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Cache-Control", "no-store");
	if (retry_after > 0)
		headers_set_int(&h, "Retry-After", retry_after);
	js_respond(txn, status, &h, o);
	headers_clear(&h);
}

/* Doorkeeper's answer to bad credentials or a spent refresh token. */
static void
invalid_grant(struct http_txn *txn)
{
	oauth_error(txn, 400, "invalid_grant",
	            "The provided authorization grant is invalid, expired, revoked, does not match "
	            "the redirection URI used in the authorization request, or was issued to "
	            "another client.",
	            0);
}

/* The database or hashing failed. */
static void
server_error(struct http_txn *txn, const PGresult *res)
{
	log_error("request %s: OAuth token: %s", http_txn_id(txn), pg_error(res));
	oauth_error(txn, res == NULL ? 503 : 500, "server_error",
	            "The authorization server encountered an unexpected condition.", 0);
}

/* The new pair is stored: answer it. */
static void
inserted(PGresult *res, void *arg)
{
	struct oauth_req *o = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		server_error(o->txn, res);
		or_free(o);
		return;
	}
	json_object *j = json_object_new_object();
	json_object_object_add(j, "access_token", json_object_new_string(o->access));
	json_object_object_add(j, "token_type", json_object_new_string("Bearer"));
	json_object_object_add(j, "expires_in", json_object_new_int(OAUTH_LIFETIME));
	json_object_object_add(j, "refresh_token", json_object_new_string(o->refresh));
	json_object_object_add(j, "scope", json_object_new_string("api"));
	json_object_object_add(j, "created_at",
	                       json_object_new_int64(pg_get_int(res, 0, "created_at")));
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Cache-Control", "no-store");
	js_respond(o->txn, 200, &h, j);
	headers_clear(&h);
	or_free(o);
}

/* Both secrets are hashed: store the pair. */
static void
refresh_hashed(bool ok, const char *hash, void *arg)
{
	struct oauth_req *o = arg;
	if (!ok) {
		server_error(o->txn, NULL);
		or_free(o);
		return;
	}
	char uid[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)o->user_id);
	const char *v[] = { uid, o->access_lookup, o->access_hash, o->refresh_lookup, hash };
	pg_exec(ad.db, &q_insert, 5, v, inserted, o);
}

/* The access token is hashed: hash the refresh token. */
static void
access_hashed(bool ok, const char *hash, void *arg)
{
	struct oauth_req *o = arg;
	if (!ok) {
		server_error(o->txn, NULL);
		or_free(o);
		return;
	}
	o->access_hash = xstrdup(hash);
	hash_make(o->refresh, HASH_TOKEN, refresh_hashed, o);
}

/* Makes a new access and refresh token for o->user_id. */
static void
issue_pair(struct oauth_req *o)
{
	secret_new(SECRET_OAUTH, o->access, o->access_lookup);
	secret_new(SECRET_REFRESH, o->refresh, o->refresh_lookup);
	hash_make(o->access, HASH_TOKEN, access_hashed, o);
}

/* Refused credentials, in OAuth's words. */
static void
refuse(struct http_txn *txn, const struct cred_result *r)
{
	if (r->status == CRED_LIMITED)
		oauth_error(txn, 429, "too_many_requests",
		            "Too many failed sign-ins from this address; retry later.",
		            r->retry_after);
	else if (r->status == CRED_ERROR)
		server_error(txn, NULL);
	else
		invalid_grant(txn);
}

/* Whether the credentials of a grant were accepted: then o->user_id is their user; else the
 * refusal is answered and o freed. */
static bool
accepted(struct oauth_req *o, const struct cred_result *r)
{
	if (r->status != CRED_OK) {
		refuse(o->txn, r);
		or_free(o);
		return false;
	}
	o->user_id = r->user_id;
	cred_name_actor(o->txn, r);
	return true;
}

/* The resource owner's password is checked: issue a pair, or refuse. */
static void
password_checked(const struct cred_result *r, void *arg)
{
	struct oauth_req *o = arg;
	if (accepted(o, r))
		issue_pair(o);
}

/* The refresh token's pair is retired: issue the new one. */
static void
old_revoked(PGresult *res, void *arg)
{
	struct oauth_req *o = arg;
	if (!pg_ok(res)) {
		server_error(o->txn, res);
		or_free(o);
		return;
	}
	if (pg_rows(res) != 1) {
		invalid_grant(o->txn); /* a concurrent exchange of the same refresh token won */
		or_free(o);
		return;
	}
	issue_pair(o);
}

/* The refresh token is checked: retire its pair, or refuse. */
static void
refresh_checked(const struct cred_result *r, void *arg)
{
	struct oauth_req *o = arg;
	if (!accepted(o, r))
		return;
	o->old_id = r->token_id;
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)o->old_id);
	const char *v[] = { id };
	pg_exec(ad.db, &q_revoke, 1, v, old_revoked, o);
}

/* Doorkeeper's answer to a revocation, done or not: 200 {}. */
static void
revoke_done(struct http_txn *txn)
{
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Cache-Control", "no-store");
	js_respond(txn, 200, &h, json_object_new_object());
	headers_clear(&h);
}

/* The pair is marked revoked (or was already): answer. */
static void
pair_revoked(PGresult *res, void *arg)
{
	struct http_txn *txn = arg;
	if (!pg_ok(res)) {
		server_error(txn, res);
		return;
	}
	revoke_done(txn);
}

/* A revocation under way: the token, until it is known whether it is an access or a refresh
 * token (both are 64 hex characters). */
struct revoke_req {
	struct http_txn *txn;
	char *token;
};

/* Frees a revocation, wiping the token. */
static void
rv_free(struct revoke_req *rv)
{
	sodium_memzero(rv->token, strlen(rv->token));
	free(rv->token);
	free(rv);
}

/* The token to revoke is checked: revoke its pair if it names one. */
static void
revoke_checked(const struct cred_result *r, void *arg)
{
	struct http_txn *txn = arg;
	switch (r->status) {
	case CRED_OK:
	case CRED_EXPIRED:
	case CRED_BLOCKED: {
		/* an expired token or a blocked user's is revoked too: its refresh token dies */
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)r->token_id);
		const char *v[] = { id };
		cred_name_actor(txn, r);
		pg_exec(ad.db, &q_revoke, 1, v, pair_revoked, txn);
		return;
	}
	case CRED_LIMITED:
	case CRED_ERROR:
		refuse(txn, r);
		return;
	default: /* unknown, a wrong secret, or revoked already: nothing to do, nothing said */
		revoke_done(txn);
		return;
	}
}

/* The kind of the token's row is known (none: an unknown token, checked as an access token so
 * that the failure counts against the client as any wrong token does): check the token. */
static void
kind_found(PGresult *res, void *arg)
{
	struct revoke_req *rv = arg;
	if (!pg_ok(res)) {
		server_error(rv->txn, res);
		rv_free(rv);
		return;
	}
	bool refresh = pg_rows(res) == 1 && pg_get_bool(res, 0, "refresh");
	cred_token(cred_client(rv->txn), rv->token, 1u << (refresh ? SECRET_REFRESH : SECRET_OAUTH),
	           revoke_checked, rv->txn);
	rv_free(rv);
}

/* Revokes the token parameter, an access or a refresh token: Doorkeeper finds either kind and
 * does not use token_type_hint. */
static void
revoke_params_ready(struct rest_req *r)
{
	const char *token = gl_param_str(r->params, "token");
	char lookup[SECRET_LOOKUP_MAX + 1];
	if (token == NULL || *token == '\0') {
		revoke_done(r->txn); /* Doorkeeper: a token it cannot find, 200 {} */
		return;
	}
	if (secret_parse(token, 1u << SECRET_OAUTH, lookup) == SECRET_NONE) {
		cred_token(cred_client(r->txn), token, 1u << SECRET_OAUTH, revoke_checked, r->txn);
		return;
	}
	struct revoke_req *rv = xcalloc(1, sizeof(*rv));
	rv->txn = r->txn;
	rv->token = xstrdup(token);
	const char *v[] = { lookup };
	pg_exec(ad.db, &q_token_kind, 1, v, kind_found, rv);
}

/* OAuth's answer to a missing parameter. */
static void
missing(struct http_txn *txn, const char *param)
{
	char *msg = xasprintf("Missing required parameter: %s.", param);
	oauth_error(txn, 400, "invalid_request", msg, 0);
	free(msg);
}

/* Dispatches on grant_type. */
static void
params_ready(struct rest_req *r)
{
	struct http_txn *txn = r->txn;
	json_object *p = r->params;
	const char *grant = gl_param_str(p, "grant_type");
	if (grant == NULL || *grant == '\0') {
		missing(txn, "grant_type");
		return;
	}
	if (strcmp(grant, "password") == 0) {
		const char *user = gl_param_str(p, "username");
		const char *pass = gl_param_str(p, "password");
		if (user == NULL || *user == '\0') {
			missing(txn, "username");
			return;
		}
		if (pass == NULL || *pass == '\0') {
			missing(txn, "password");
			return;
		}
		cred_password(cred_client(txn), user, pass, password_checked, or_new(txn));
	} else if (strcmp(grant, "refresh_token") == 0) {
		const char *token = gl_param_str(p, "refresh_token");
		if (token == NULL || *token == '\0') {
			missing(txn, "refresh_token");
			return;
		}
		cred_token(cred_client(txn), token, 1u << SECRET_REFRESH, refresh_checked,
		           or_new(txn));
	} else {
		oauth_error(txn, 400, "unsupported_grant_type",
		            "The authorization grant type is not supported by the authorization "
		            "server.",
		            0);
	}
}

/* POST /oauth/token */
void
oauth_token(struct rest_req *r)
{
	rest_params_read(r, params_ready);
}

/* POST /oauth/revoke */
void
oauth_revoke(struct rest_req *r)
{
	rest_params_read(r, revoke_params_ready);
}

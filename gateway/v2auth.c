/*
 * Authorization of /v2 requests. Every request carries a registry token (a JWT from
 * /jwt/auth); the gateway verifies it with authd's public keys (the one its kid names: two
 * during a key rotation), checks that it grants the actions the endpoint needs on the
 * repository, and forwards the caller's identity and what the grant was made on (project and
 * path generation, which metad checks against the path's project) to the backend. Anything
 * short of that gets the 401 challenge that sends clients to the token service.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actor.h"
#include "cfg.h"
#include "errors.h"
#include "gateway.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "routes.h"
#include "token.h"
#include "url.h"
#include "util.h"
#include "v2path.h"
#include "wire.h"

static struct token_key keys[TOKEN_KEYS_MAX];
static int nkeys;            /* 0: not loaded yet */
static int64_t keys_read_at; /* when key_dir was last read after an unknown kid */

/* Loads authd's public keys (token.pub, and token.next.pub during a rotation); retried on
 * demand while authd has not created them yet. */
static bool
keys_load(void)
{
	char *cause = NULL;
	struct token_key read[TOKEN_KEYS_MAX] = { 0 };
	int n = token_keys_load(cfg_str(gw.cfg, CFG_GLOBAL_KEY_DIR), read, &cause);
	if (n < 0) {
		log_error("token keys not loaded: %s", cause);
		free(cause);
		return false; /* the keys read before stay */
	}
	memcpy(keys, read, sizeof(keys));
	nkeys = n;
	return true;
}

/* The keys are loaded. */
static bool
keys_ready(void)
{
	return nkeys > 0 || keys_load();
}

/* A token names a key we do not hold: authd may have published its next key since we read the
 * folder (a rotation's first step), so read it again, at most once a second. */
static bool
keys_reread(int64_t now)
{
	if (now == keys_read_at)
		return false;
	keys_read_at = now;
	int before = nkeys;
	char before_kid[sizeof(keys[0].kid)];
	memcpy(before_kid, keys[nkeys - 1].kid, sizeof(before_kid));
	return keys_load() && (nkeys != before || strcmp(keys[nkeys - 1].kid, before_kid) != 0);
}

void
gw_v2auth_init(void)
{
	nkeys = 0;
	keys_read_at = 0;
	gw_token_forget_all();
	(void)keys_ready();
}

/* The value of a Bearer challenge (caller frees); scope, error and description are optional. */
static char *
challenge_value(struct http_txn *txn, const char *scope, const char *error, const char *description)
{
	char *base = gw_external_url(txn);
	char value[2048];
	int n = snprintf(value, sizeof(value), "Bearer realm=\"%s/jwt/auth\",service=\"%s\"", base,
	                 cfg_str(gw.cfg, CFG_GLOBAL_SERVICE));
	if (scope != NULL && n > 0 && (size_t)n < sizeof(value))
		n += snprintf(value + n, sizeof(value) - (size_t)n, ",scope=\"%s\"", scope);
	if (error != NULL && n > 0 && (size_t)n < sizeof(value))
		n += snprintf(value + n, sizeof(value) - (size_t)n, ",error=\"%s\"", error);
	if (description != NULL && n > 0 && (size_t)n < sizeof(value))
		snprintf(value + n, sizeof(value) - (size_t)n, ",error_description=\"%s\"",
		         description);
	free(base);
	return xstrdup(value);
}

/* 401 with a Bearer challenge; scope and error are optional. */
static void
challenge(struct http_txn *txn, const char *scope, const char *error, const char *description,
          const char *code)
{
	char *value = challenge_value(txn, scope, error, description);
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "WWW-Authenticate", value);
	error_oci(txn, 401, code, NULL, &h);
	headers_clear(&h);
	free(value);
}

/* The scopes a challenge names: the repository's, and for a cross-repository mount pull on
 * the source too, space-separated as the token spec allows in one scope parameter (a client
 * that follows the challenge then gets a token the mount can use, as with Distribution). */
static char *
scope_text(const char *name, unsigned needed, const char *from)
{
	/* Clients ask for push and pull together when pushing; so do we when we challenge. */
	const char *acts = needed & ACT_DELETE ? "delete"
	                   : needed & ACT_PUSH ? "push,pull"
	                                       : "pull";
	if (from != NULL && strcmp(from, name) != 0)
		return xasprintf("repository:%s:%s repository:%s:pull", name, acts, from);
	return xasprintf("repository:%s:%s", name, acts);
}

/* The source repository of a cross-repository mount (POST .../blobs/uploads/?from=), when it is
 * a valid name; NULL otherwise (an invalid one mounts nothing: blobd starts an upload). */
static char *
mount_source(struct http_txn *txn, const struct v2_path *vp)
{
	struct http_request *req = http_txn_request(txn);
	if (vp->kind != V2_UPLOAD || strcmp(req->method, "POST") != 0)
		return NULL;
	char *from = query_get(req->query, "from");
	if (from != NULL && !name_valid_repository(from)) {
		free(from);
		from = NULL;
	}
	return from;
}

/* The bearer token of the request, or NULL. */
static const char *
bearer(struct http_txn *txn)
{
	const char *auth = headers_get(&http_txn_request(txn)->headers, "Authorization");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	auth += 7;
	while (*auth == ' ')
		auth++;
	return *auth ? auth : NULL;
}

/* Who the caller is, as a verified token says, for the headers the backends trust. */
static void
actor_from_claims(struct actor *a, const struct token_claims *c)
{
	memset(a, 0, sizeof(*a));
	a->user_id = c->user_id;
	a->deploy_token_id = c->deploy_token_id;
	a->admin = c->admin;
	a->kind = c->kind;
	if (c->sub != NULL)
		snprintf(a->username, sizeof(a->username), "%s", c->sub);
}

/* Answers /v2/ to a valid token: the check clients make before they pull or push. */
static void
respond_base_ok(struct http_txn *txn)
{
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Content-Type", "application/json");
	headers_add(&h, "Docker-Distribution-API-Version", "registry/2.0");
	http_txn_respond(txn, 200, &h, "{}", 2);
	headers_clear(&h);
}

/* Verifies the request's token (or takes it from the cache) and runs the route's check; answers
 * the challenge otherwise. */
static void
authorise(struct http_txn *txn, const struct v2_path *vp, const struct route *row,
          const char *target)
{
	struct http_request *req = http_txn_request(txn);
	const char *jwt = bearer(txn);
	char *from = mount_source(txn, vp);
	char *scope = NULL;
	if (vp->name != NULL)
		scope = scope_text(vp->name, row->need, from);
	else if (row->need & ACT_STAR)
		scope = xstrdup("registry:catalog:*");
	if (jwt == NULL) {
		challenge(txn, scope, NULL, NULL, OCI_UNAUTHORIZED);
		goto out;
	}
	if (!keys_ready()) {
		error_oci(txn, 503, OCI_UNAVAILABLE, "token verification key unavailable", NULL);
		goto out;
	}
	struct token_claims fresh;
	int64_t now = now_unix();
	const struct token_claims *claims = gw_token_lookup(jwt, now);
	bool own = false;
	if (claims == NULL) {
		char *cause = NULL;
		const char *service = cfg_str(gw.cfg, CFG_GLOBAL_SERVICE);
		int rc = token_verify(jwt, keys, (size_t)nkeys, service, now, &fresh, &cause);
		if (rc == TOKEN_UNKNOWN_KEY && keys_reread(now)) {
			free(cause);
			cause = NULL;
			rc = token_verify(jwt, keys, (size_t)nkeys, service, now, &fresh, &cause);
		}
		if (rc < 0) {
			log_info("refused token: %s", cause);
			challenge(txn, scope, "invalid_token", cause, OCI_UNAUTHORIZED);
			free(cause);
			goto out;
		}
		claims = gw_token_remember(jwt, &fresh);
		if (claims == NULL) {
			claims = &fresh;
			own = true;
		}
	}
	struct actor actor;
	actor_from_claims(&actor, claims);
	http_txn_set_actor(txn, actor_log_name(&actor));
	if (vp->name != NULL) {
		struct token_grant g = token_grant(claims, "repository", vp->name);
		actor.actions = g.actions;
		actor.grant = (struct actor_grant){ g.project_id, g.generation };
	} else {
		actor.actions = token_grant(claims, "registry", "catalog").actions & ACT_STAR;
	}
	if ((actor.actions & row->need) != row->need) {
		challenge(txn, scope, "insufficient_scope", NULL, OCI_DENIED);
	} else if (row->owner == ROUTE_GATEWAY) {
		respond_base_ok(txn);
	} else {
		/* Without pull on the source the mount is not done: blobd starts an ordinary upload
		 * (202), which the spec allows, rather than a second challenge. */
		if (from != NULL) {
			struct token_grant g = token_grant(claims, "repository", from);
			actor.from_actions = g.actions;
			actor.from_grant = (struct actor_grant){ g.project_id, g.generation };
		}
		struct http_headers h;
		headers_init(&h);
		actor_to_headers(&actor, &h);
		if (vp->kind == V2_BLOB && strcmp(req->method, "GET") == 0)
			headers_set(&h, WIRE_WANT_FD, "1"); /* we serve the file with sendfile() */
		/* metad answers 401 when the path has changed hands since the grant was made */
		char *stale = challenge_value(txn, scope, "invalid_token",
		                              "the token was granted on another project");
		gw_proxy_to(txn, gw_backend_of(row->owner), target, &h, stale);
		free(stale);
		headers_clear(&h);
	}
	if (own)
		token_claims_clear(&fresh);
out:
	free(scope);
	free(from);
}

void
gw_v2(struct http_txn *txn)
{
	struct http_request *req = http_txn_request(txn);
	struct v2_path vp;
	if (v2_parse(req->path, &vp) < 0) {
		http_txn_set_route(txn, GR_NOT_FOUND);
		error_oci(txn, 404, OCI_NAME_UNKNOWN, "unknown endpoint", NULL);
		return;
	}
	char *target = v2_target(&vp, req->query);
	size_t plen = strcspn(target, "?");
	char *path = xstrndup(target, plen);
	struct route_match m;
	int status;
	const struct route *row =
	        router_match(routes_public, routes_npublic, req->method, path, &m, &status);
	free(path);
	if (row == NULL) {
		http_txn_set_route(txn, GR_NOT_FOUND);
		error_oci(txn, status, status == 405 ? OCI_UNSUPPORTED : OCI_NAME_UNKNOWN,
		          status == 405 ? NULL : "unknown endpoint", NULL);
	} else {
		route_match_clear(&m);
		http_txn_set_route(txn, metrics_route_id(row->metric));
		if (vp.name != NULL && !name_valid_repository(vp.name))
			error_oci(txn, 400, OCI_NAME_INVALID, NULL, NULL);
		else
			authorise(txn, &vp, row, target);
	}
	free(target);
	v2_path_clear(&vp);
}

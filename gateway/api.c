/*
 * Authentication of /api/v4 (GitLab REST) requests. A request with credentials (PRIVATE-TOKEN,
 * or Authorization: Bearer with a personal access token or an OAuth token) is authenticated by
 * authd; the gateway checks the token's scope against the method (api, or read_api for reads)
 * and forwards the caller's identity to the backend that owns the path. Without credentials the
 * request goes on as anonymous (public resources stay readable, as in GitLab).
 *
 * GitLab's sudo (the sudo parameter of the query, else the Sudo header) goes to authd with the
 * credentials; authd answers the identity of the user acted as, and the token's scope is then not
 * asked for again: the sudo scope is what allows it, as in GitLab.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actor.h"
#include "errors.h"
#include "gateway.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "url.h"
#include "util.h"
#include "wire.h"

/* Paths (after /api/v4) that authd serves: users, their tokens, deploy tokens. */
static bool
api_is_authd(const char *rest)
{
	if (strcmp(rest, "/user") == 0 || str_has_prefix(rest, "/user/") ||
	    strcmp(rest, "/users") == 0 || str_has_prefix(rest, "/users/") ||
	    strcmp(rest, "/personal_access_tokens") == 0 ||
	    str_has_prefix(rest, "/personal_access_tokens/") || strcmp(rest, "/deploy_tokens") == 0)
		return !(str_has_prefix(rest, "/users/") && str_has_suffix(rest, "/projects"));
	/* /projects/:id/deploy_tokens[/...] and /groups/:id/deploy_tokens[/...] */
	const char *kinds[] = { "/projects/", "/groups/" };
	for (size_t i = 0; i < nitems(kinds); i++) {
		if (!str_has_prefix(rest, kinds[i]))
			continue;
		const char *id_end = strchr(rest + strlen(kinds[i]), '/');
		if (id_end != NULL && (strcmp(id_end, "/deploy_tokens") == 0 ||
		                       str_has_prefix(id_end, "/deploy_tokens/")))
			return true;
	}
	return false;
}

static bool
has_credentials(const struct http_headers *h)
{
	return headers_get(h, "PRIVATE-TOKEN") != NULL || headers_get(h, "Authorization") != NULL;
}

static void
forward(struct http_txn *txn, const struct actor *actor)
{
	const char *rest = http_txn_request(txn)->path + strlen("/api/v4");
	struct http_headers h;
	headers_init(&h);
	actor_to_headers(actor, &h);
	gw_proxy(txn, api_is_authd(rest) ? GW_AUTHD : GW_METAD, &h);
	headers_clear(&h);
}

/* GitLab's scope rules for the REST API: api allows everything; read_api any read; read_user
 * reads of users only; any token may revoke itself. */
static bool
scope_allows(const struct actor *a, struct http_txn *txn)
{
	if (a->kind != AUTH_PERSONAL_ACCESS_TOKEN && a->kind != AUTH_OAUTH)
		return true;
	if (a->scopes & SCOPE_API)
		return true;
	struct http_request *req = http_txn_request(txn);
	const char *rest = req->path + strlen("/api/v4");
	if (strcmp(req->method, "DELETE") == 0 && strcmp(rest, "/personal_access_tokens/self") == 0)
		return true;
	bool read = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	if (!read)
		return false;
	if (a->scopes & SCOPE_READ_API)
		return true;
	bool user_path = strcmp(rest, "/user") == 0 || str_has_prefix(rest, "/user/") ||
	                 strcmp(rest, "/users") == 0 || str_has_prefix(rest, "/users/") ||
	                 strcmp(rest, "/personal_access_tokens/self") == 0;
	return (a->scopes & SCOPE_READ_USER) && user_path;
}

static void
authenticated(int status, struct http_headers *headers, struct evbuffer *body, void *arg)
{
	struct http_txn *txn = arg;
	if (status < 0) {
		gw_unavailable(txn, GW_AUTHD);
		return;
	}
	if (status != 200) {
		/* authd's own refusal (401, 403, 429) in GitLab's format: pass it on. */
		struct http_headers h;
		headers_init(&h);
		const char *ct = headers_get(headers, "Content-Type");
		headers_add(&h, "Content-Type", ct ? ct : "application/json");
		const char *ra = headers_get(headers, "Retry-After");
		if (ra != NULL)
			headers_add(&h, "Retry-After", ra);
		http_txn_respond_buf(txn, status, &h, body);
		headers_clear(&h);
		return;
	}
	char *cause = NULL;
	json_object *id = js_parse_buffer(body, &cause);
	struct actor actor;
	memset(&actor, 0, sizeof(actor));
	int64_t uid = 0;
	if (id == NULL || !js_int(id, "user_id", &uid) || uid <= 0) {
		log_error("bad identity from authd: %s", cause ? cause : "no user_id");
		free(cause);
		json_object_put(id);
		error_gitlab(txn, 500, "500 Internal Server Error");
		return;
	}
	actor.user_id = uid;
	const char *username = js_str(id, "username");
	snprintf(actor.username, sizeof(actor.username), "%s", username ? username : "");
	js_bool(id, "admin", &actor.admin);
	actor.kind = auth_kind_parse(js_str(id, "kind"));
	actor.scopes = scopes_parse(js_str(id, "scopes"), NULL);
	bool sudo = false;
	js_bool(id, "sudo", &sudo);
	json_object_put(id);
	if (!sudo && !scope_allows(&actor, txn)) {
		error_gitlab_scope(txn, "api read_api");
		return;
	}
	forward(txn, &actor);
}

/* Keeps the value of the last sudo parameter (as Rack keeps the last of a repeated name). */
static int
last_sudo(const char *name, const char *value, void *arg)
{
	char **out = arg;
	if (strcmp(name, "sudo") == 0) {
		free(*out);
		*out = xstrdup(value);
	}
	return 0;
}

/* The user a request asks to act as (GitLab's sudo): the query's sudo parameter, else the Sudo
 * header; NULL when neither is given. Caller frees. */
static char *
sudo_identifier(const struct http_request *req)
{
	char *q = NULL;
	if (query_each(req->query, last_sudo, &q) == 0 && q != NULL)
		return q;
	free(q);
	const char *h = headers_get(&req->headers, "Sudo");
	return h != NULL ? xstrdup(h) : NULL;
}

void
gw_api(struct http_txn *txn)
{
	struct http_request *req = http_txn_request(txn);
	char *sudo = sudo_identifier(req);
	if (!has_credentials(&req->headers)) {
		if (sudo != NULL) {
			free(sudo);
			error_gitlab(txn, 401, "401 Unauthorized"); /* nobody to act for */
			return;
		}
		struct actor anonymous;
		memset(&anonymous, 0, sizeof(anonymous));
		forward(txn, &anonymous);
		return;
	}
	struct http_headers h;
	headers_init(&h);
	static const char *const pass[] = { "PRIVATE-TOKEN", "Authorization" };
	for (size_t i = 0; i < nitems(pass); i++) {
		const char *v = headers_get(&req->headers, pass[i]);
		if (v != NULL)
			headers_add(&h, pass[i], v);
	}
	headers_add(&h, "X-Request-Id", http_txn_id(txn));
	char *client = gw_client_addr(txn);
	headers_add(&h, "X-Forwarded-For", client);
	free(client);
	json_object *body = NULL;
	if (sudo != NULL) {
		body = json_object_new_object();
		json_object_object_add(body, "sudo", json_object_new_string(sudo));
		headers_add(&h, "Content-Type", "application/json");
		free(sudo);
	}
	const char *text = body != NULL ? js_text(body) : NULL;
	httpc_call(gw.backends[GW_AUTHD], "POST", "/internal/authenticate", &h, text,
	           text != NULL ? strlen(text) : 0, authenticated, txn);
	json_object_put(body);
	headers_clear(&h);
}

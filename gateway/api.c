/*
 * Authentication of /api/v4 (GitLab REST) requests. A request with credentials (PRIVATE-TOKEN,
 * or Authorization: Bearer with a personal access token or an OAuth token) is authenticated by
 * authd; the gateway checks the token's scope against the scopes its route row allows
 * (common/routes.def) and forwards the caller's identity to the row's owner. Without credentials
 * the request goes on as anonymous (public resources stay readable, as in GitLab). A path no row
 * serves is answered 404 (405 for another method) once the credentials are checked.
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
#include "routes.h"
#include "url.h"
#include "util.h"
#include "wire.h"

/* Whether authd must check the request's credentials; without any it goes on as anonymous. */
static bool
has_credentials(const struct http_headers *h)
{
	return headers_get(h, "PRIVATE-TOKEN") != NULL || headers_get(h, "Authorization") != NULL;
}

/* The request as a REST API route: its row of routes.def (NULL: none, whose answer is status). */
struct api_req {
	struct http_txn *txn;
	const struct route *row;
	int status;
};

/* Forwards to the owner of the row with the caller's identity, or answers the 404 or 405 of a
 * request no row serves. */
static void
forward(struct api_req *a, const struct actor *actor)
{
	struct http_txn *txn = a->txn;
	if (a->row == NULL) {
		error_gitlab(txn, a->status,
		             a->status == 405 ? "405 Method Not Allowed" : "404 Not Found");
		return;
	}
	struct http_headers h;
	headers_init(&h);
	actor_to_headers(actor, &h);
	gw_proxy(txn, gw_backend_of(a->row->owner), &h);
	headers_clear(&h);
}

/* Whether the caller's token has a scope the row allows (GitLab's rules, routes.h); other
 * credentials than personal access and OAuth tokens have no scopes to check. */
static bool
scope_allows(const struct actor *a, const struct route *row)
{
	if (a->kind != AUTH_PERSONAL_ACCESS_TOKEN && a->kind != AUTH_OAUTH)
		return true;
	return row->need == API_ANY || (a->scopes & row->need) != 0;
}

/* authd's answer on the credentials: its refusal is passed on, else the scope is checked
 * and the request forwarded as the user it names. */
static void
authenticated(int status, struct http_headers *headers, struct evbuffer *body, void *arg)
{
	struct api_req a = *(struct api_req *)arg;
	free(arg);
	struct http_txn *txn = a.txn;
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
	http_txn_set_actor(txn, actor_log_name(&actor));
	if (!sudo && a.row != NULL && !scope_allows(&actor, a.row)) {
		error_gitlab_scope(txn, "api read_api");
		return;
	}
	forward(&a, &actor);
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
gw_api(struct http_txn *txn, const struct route *row, int status)
{
	struct http_request *req = http_txn_request(txn);
	struct api_req a = { txn, row, status };
	char *sudo = sudo_identifier(req);
	if (!has_credentials(&req->headers)) {
		if (sudo != NULL) {
			free(sudo);
			error_gitlab(txn, 401, "401 Unauthorized"); /* nobody to act for */
			return;
		}
		struct actor anonymous;
		memset(&anonymous, 0, sizeof(anonymous));
		forward(&a, &anonymous);
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
	headers_add(&h, WIRE_CLIENT_IP, client);
	free(client);
	json_object *body = NULL;
	if (sudo != NULL) {
		body = json_object_new_object();
		json_object_object_add(body, "sudo", json_object_new_string(sudo));
		headers_add(&h, "Content-Type", "application/json");
		free(sudo);
	}
	const char *text = body != NULL ? js_text(body) : NULL;
	struct api_req *pending = xmalloc(sizeof(*pending));
	*pending = a;
	httpc_call(gw.backends[GW_AUTHD], "POST", "/internal/authenticate", &h, text,
	           text != NULL ? strlen(text) : 0, authenticated, pending);
	json_object_put(body);
	headers_clear(&h);
}

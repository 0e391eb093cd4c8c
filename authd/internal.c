/*
 * POST /internal/authenticate: the gateway asks who the credentials of an /api/v4 request
 * belong to (PRIVATE-TOKEN, or Authorization: Bearer / Basic, forwarded as the client sent
 * them). 200 with the identity, or GitLab's refusal, which the gateway passes on unchanged.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"
#include "errors.h"
#include "headers.h"
#include "json.h"
#include "util.h"

/* GitLab's 401 for a token that exists but no longer works. */
static void
invalid_token(struct http_txn *txn, const char *description)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string("invalid_token"));
	json_object_object_add(o, "error_description", json_object_new_string(description));
	js_respond(txn, 401, NULL, o);
}

/* Answers the gateway with the identity, or GitLab's refusal. */
static void
authenticated(const struct cred_result *r, void *arg)
{
	struct http_txn *txn = arg;
	switch (r->status) {
	case CRED_OK: {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "user_id", json_object_new_int64(r->user_id));
		json_object_object_add(o, "username", json_object_new_string(r->username));
		json_object_object_add(o, "admin", json_object_new_boolean(r->admin));
		json_object_object_add(o, "kind", json_object_new_string(auth_kind_name(r->kind)));
		char *scopes = scopes_format(r->kind == AUTH_PASSWORD ? SCOPE_API : r->scopes);
		json_object_object_add(o, "scopes", json_object_new_string(scopes));
		free(scopes);
		if (r->kind != AUTH_PASSWORD)
			json_object_object_add(o, "token_id", json_object_new_int64(r->token_id));
		js_respond(txn, 200, NULL, o);
		break;
	}
	case CRED_REVOKED:
		invalid_token(txn, "Token was revoked. You have to re-authorize from the user.");
		break;
	case CRED_EXPIRED:
		invalid_token(txn, "Token has expired.");
		break;
	case CRED_BLOCKED:
		error_gitlab(txn, 403, "403 Forbidden - Your account has been blocked.");
		break;
	case CRED_LIMITED: {
		struct http_headers h;
		headers_init(&h);
		headers_set_int(&h, "Retry-After", r->retry_after);
		json_object *o = json_object_new_object();
		json_object_object_add(o, "message", json_object_new_string("429 Too Many Requests"));
		js_respond(txn, 429, &h, o);
		headers_clear(&h);
		break;
	}
	case CRED_ERROR:
		error_gitlab(txn, 503, "503 Service Unavailable");
		break;
	case CRED_INVALID:
	default:
		error_gitlab(txn, 401, "401 Unauthorized");
		break;
	}
}

/* POST /internal/authenticate: PRIVATE-TOKEN, Bearer or Basic credentials. */
static void
h_authenticate(struct http_txn *txn, const struct route_match *m)
{
	const struct http_headers *h = &http_txn_request(txn)->headers;
	const char *client = cred_client(txn);
	const char *private_token = headers_get(h, "PRIVATE-TOKEN");
	const char *auth = headers_get(h, "Authorization");
	(void)m;
	if (private_token != NULL) {
		cred_token(client, private_token, 1u << SECRET_PAT, authenticated, txn);
		return;
	}
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *token = auth + 7;
		while (*token == ' ')
			token++;
		cred_token(client, token, (1u << SECRET_PAT) | (1u << SECRET_OAUTH), authenticated,
		           txn);
		return;
	}
	char *user = NULL, *password = NULL;
	if (cred_parse_basic(auth, &user, &password)) {
		/* Basic on the API: a password, or a personal access token as the password. */
		cred_basic(client, user, password, 1u << SECRET_PAT, authenticated, txn);
		sodium_memzero(password, strlen(password));
		free(user);
		free(password);
		return;
	}
	error_gitlab(txn, 401, "401 Unauthorized");
}

const struct route internal_routes[] = {
	{ "POST", "/internal/authenticate", h_authenticate, "internal_authenticate" },
};
const size_t internal_nroutes = nitems(internal_routes);

/*
 * POST /internal/authenticate: the gateway asks who the credentials of an /api/v4 request
 * belong to (PRIVATE-TOKEN, or Authorization: Bearer / Basic, forwarded as the client sent
 * them). 200 with the identity, or GitLab's refusal, which the gateway passes on unchanged.
 *
 * A body {"sudo": "<user id or username>"} carries the request's Sudo header or sudo parameter:
 * GitLab's sudo. An admin's personal access (or OAuth) token with the sudo scope then acts as
 * that user, whose identity is answered (with "sudo": true when it is someone else), so every
 * backend and every rights check sees that user.
 */
#include <event2/buffer.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"
#include "errors.h"
#include "gl_params.h"
#include "headers.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

/* The body is one small JSON object. */
#define AUTHENTICATE_MAX_BODY 4096

PG_STMT(q_sudo_by_id, "SELECT id, username, is_admin FROM users WHERE id = $1");
PG_STMT(q_sudo_by_name,
        "SELECT id, username, is_admin FROM users WHERE lower(username) = lower($1)");

struct auth_op {
	struct rest_req *r;
	struct http_txn *txn;
	char *sudo; /* the identifier to act as, or NULL */
	struct cred_result who;
};

/* Frees a request's state. */
static void
op_free(struct auth_op *op)
{
	free(op->sudo);
	free(op);
}

/* GitLab's 401 for a token that exists but no longer works. */
static void
invalid_token(struct http_txn *txn, const char *description)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string("invalid_token"));
	json_object_object_add(o, "error_description", json_object_new_string(description));
	js_respond(txn, 401, NULL, o);
}

/* Answers the identity of r (the credentials' owner, or whom they act as). */
static void
respond_identity(struct http_txn *txn, const struct cred_result *r, bool sudo)
{
	cred_name_actor(txn, r);
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
	if (sudo)
		json_object_object_add(o, "sudo", json_object_new_boolean(1));
	js_respond(txn, 200, NULL, o);
}

/* GitLab's 404 for a sudo identifier that names nobody; one that is not text is shown with '?'
 * for its bytes outside printable ASCII. */
static void
sudo_not_found(struct http_txn *txn, const char *id)
{
	char *shown = xstrdup(id);
	if (!gl_params_is_text(shown, strlen(shown)))
		for (char *c = shown; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
	char *msg = xasprintf("404 User with ID or username '%s' Not Found", shown);
	error_gitlab(txn, 404, msg);
	free(msg);
	free(shown);
}

/* The user to act as is looked up: answer their identity. */
static void
sudo_found(PGresult *res, void *arg)
{
	struct auth_op *op = arg;
	if (!pg_ok(res)) {
		rest_db_error(op->r, res);
	} else if (pg_rows(res) != 1) {
		sudo_not_found(op->txn, op->sudo);
	} else {
		struct cred_result r = op->who;
		int64_t owner = r.user_id;
		r.user_id = pg_get_int(res, 0, "id");
		snprintf(r.username, sizeof(r.username), "%s", pg_get(res, 0, "username"));
		r.admin = pg_get_bool(res, 0, "is_admin");
		if (r.user_id != owner)
			log_info("request %s: %s acts as %s (sudo)", http_txn_id(op->txn),
			         op->who.username, r.username);
		respond_identity(op->txn, &r, r.user_id != owner);
	}
	op_free(op);
}

/* GitLab's sudo: only an admin's token with the sudo scope acts as another user, named by id
 * (digits) or username (any case). */
static void
sudo(struct auth_op *op)
{
	const struct cred_result *r = &op->who;
	if (!r->admin) {
		error_gitlab(op->txn, 403, "403 Forbidden - Must be admin to use sudo");
	} else if (r->kind == AUTH_PASSWORD) {
		error_gitlab(op->txn, 403,
		             "403 Forbidden - Must be authenticated using an OAuth or "
		             "Personal Access Token to use sudo");
	} else if (!(r->scopes & SCOPE_SUDO)) {
		error_gitlab_scope(op->txn, "sudo");
	} else {
		const char *id = op->sudo;
		bool digits = *id != '\0' && strspn(id, "0123456789") == strlen(id);
		int64_t n;
		if ((digits && str_to_i64(id, 1, INT64_MAX, &n) < 0) ||
		    !gl_params_is_text(id, strlen(id))) {
			sudo_not_found(op->txn, id);
		} else {
			const char *v[] = { id };
			pg_exec(ad.db, digits ? &q_sudo_by_id : &q_sudo_by_name, 1, v, sudo_found,
			        op);
			return;
		}
	}
	op_free(op);
}

/* Answers the gateway with the identity, or GitLab's refusal. */
static void
authenticated(const struct cred_result *r, void *arg)
{
	struct auth_op *op = arg;
	struct http_txn *txn = op->txn;
	switch (r->status) {
	case CRED_OK:
		if (op->sudo != NULL) {
			op->who = *r;
			sudo(op);
			return;
		}
		respond_identity(txn, r, false);
		break;
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
		json_object_object_add(o, "message",
		                       json_object_new_string("429 Too Many Requests"));
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
	op_free(op);
}

/* The body (the sudo identifier, if any) is in: check the credentials. */
static void
body_read(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct auth_op *op = arg;
	if (txn == NULL) {
		op_free(op); /* too large (413 answered), or the gateway left */
		return;
	}
	if (body != NULL && evbuffer_get_length(body) > 0) {
		char *cause = NULL;
		json_object *o = js_parse_buffer(body, &cause);
		const char *sudo = o != NULL ? js_str(o, "sudo") : NULL;
		op->sudo = sudo != NULL ? xstrdup(sudo) : NULL;
		json_object_put(o);
		if (sudo == NULL) {
			log_error("request %s: bad authenticate body: %s", http_txn_id(txn),
			          cause ? cause : "no sudo");
			free(cause);
			error_gitlab(txn, 400, "400 Bad request");
			op_free(op);
			return;
		}
	}
	const struct http_headers *h = &http_txn_request(txn)->headers;
	const char *client = cred_client(txn);
	const char *private_token = headers_get(h, "PRIVATE-TOKEN");
	const char *auth = headers_get(h, "Authorization");
	if (private_token != NULL) {
		cred_token(client, private_token, 1u << SECRET_PAT, authenticated, op);
		return;
	}
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *token = auth + 7;
		while (*token == ' ')
			token++;
		cred_token(client, token, (1u << SECRET_PAT) | (1u << SECRET_OAUTH), authenticated,
		           op);
		return;
	}
	char *user = NULL, *password = NULL;
	if (cred_parse_basic(auth, &user, &password)) {
		/* Basic on the API: a password, or a personal access token as the password. */
		cred_basic(client, user, password, 1u << SECRET_PAT, authenticated, op);
		sodium_memzero(password, strlen(password));
		free(user);
		free(password);
		return;
	}
	error_gitlab(txn, 401, "401 Unauthorized");
	op_free(op);
}

/* POST /internal/authenticate: PRIVATE-TOKEN, Bearer or Basic credentials, and sudo. */
static void
h_authenticate(struct rest_req *r)
{
	struct auth_op *op = xcalloc(1, sizeof(*op));
	op->r = r;
	op->txn = r->txn;
	http_txn_read_body(r->txn, AUTHENTICATE_MAX_BODY, body_read, op);
}

const struct route internal_routes[] = {
	ROUTE_OWN("POST", "/internal/authenticate", h_authenticate, "internal_authenticate"),
};
const size_t internal_nroutes = nitems(internal_routes);

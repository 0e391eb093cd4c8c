/* The REST layer's request object and dispatcher (rest.h). */
#include "rest.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "gl_params.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "util.h"
#include "v2path.h"
#include "wire.h"

/* Frees a request with its transaction. */
static void
req_free(void *arg)
{
	struct rest_req *r = arg;
	if (r->state != NULL) {
		if (r->state_clear != NULL)
			r->state_clear(r->state);
		free(r->state);
	}
	json_object_put(r->params);
	for (int i = 0; i < r->nargs; i++)
		free(r->args[i]);
	route_match_clear(&r->match);
	free(r);
}

bool
rest_grant_covers(const struct rest_req *r)
{
	if (r->route->check != ROUTE_CHECK_GRANT)
		return true;
	return (r->actor.actions & r->route->need) == r->route->need;
}

/* The parameters are in (txn NULL: the request is over, answered or abandoned). */
static void
params_in(struct http_txn *txn, json_object *params, void *arg)
{
	if (txn == NULL)
		return;
	struct rest_req *r = arg;
	r->params = json_object_get(params);
	r->next(r);
}

void
rest_params_read(struct rest_req *r, rest_step next)
{
	r->next = next;
	gl_params_read(r->txn, params_in, r);
}

/* Answers a request no row serves: 404, or 405 when a row serves its path for other methods. */
static void
unrouted(struct http_txn *txn, int status)
{
	if (v2_is_path(http_txn_request(txn)->path))
		error_oci(txn, status, status == 405 ? OCI_UNSUPPORTED : OCI_NAME_UNKNOWN, NULL,
		          NULL);
	else
		error_gitlab(txn, status,
		             status == 405 ? "405 Method Not Allowed" : "404 Not Found");
}

void
rest_dispatch(struct http_txn *txn, const struct route_table *tables, size_t ntables)
{
	struct http_request *req = http_txn_request(txn);
	struct rest_req *r = xcalloc(1, sizeof(*r));
	int status;
	r->route = router_match_tables(tables, ntables, req->method, req->path, &r->match, &status);
	if (r->route == NULL) {
		free(r);
		unrouted(txn, status);
		return;
	}
	r->txn = txn;
	http_txn_set_data(txn, r, req_free);
	http_txn_set_route(txn, metrics_route_id(r->route->metric));
	actor_from_headers(&r->actor, &req->headers);
	http_txn_set_actor(txn, actor_log_name(&r->actor));
	if (!rest_grant_covers(r))
		error_oci(txn, 403, OCI_DENIED, NULL, NULL);
	else if (r->route->check == ROUTE_CHECK_SCOPE)
		rest_params_read(r, r->route->handler);
	else
		r->route->handler(r);
}

const char *
rest_param(const struct rest_req *r, const char *name)
{
	return route_param(&r->match, name);
}

void *
rest_state_new(struct rest_req *r, size_t size, void (*clear)(void *state))
{
	if (r->state != NULL)
		fatal("a request's state was made twice");
	r->state = xcalloc(1, size);
	r->state_clear = clear;
	return r->state;
}

void *
rest_state(const struct rest_req *r)
{
	return r->state;
}

/* ---- answers --------------------------------------------------------------------------------- */

void
rest_reply(struct rest_req *r, int status, json_object *obj)
{
	js_respond(r->txn, status, NULL, obj);
}

void
rest_reply_empty(struct rest_req *r, int status)
{
	http_txn_respond(r->txn, status, NULL, NULL, 0);
}

void
rest_fail(struct rest_req *r, int status, const char *message)
{
	error_gitlab(r->txn, status, message);
}

void
rest_fail_param(struct rest_req *r, const char *message)
{
	error_gitlab_param(r->txn, message);
}

void
rest_fail_error(struct rest_req *r, int status, const char *message)
{
	error_gitlab_error(r->txn, status, message);
}

void
rest_fail_validation(struct rest_req *r, const char *key, const char *text)
{
	error_gitlab_field(r->txn, key, text);
}

void
rest_not_found(struct rest_req *r, const char *what)
{
	if (what == NULL)
		what = r->what;
	if (what == NULL) {
		rest_fail(r, 404, "404 Not Found");
		return;
	}
	char *msg = xasprintf("404 %s Not Found", what);
	rest_fail(r, 404, msg);
	free(msg);
}

bool
rest_require_user(struct rest_req *r)
{
	if (actor_signed_in(&r->actor))
		return true;
	rest_fail(r, 401, "401 Unauthorized");
	return false;
}

bool
rest_require_admin(struct rest_req *r)
{
	if (!rest_require_user(r))
		return false;
	if (r->actor.admin)
		return true;
	rest_fail(r, 403, "403 Forbidden");
	return false;
}

bool
rest_is_id(const char *s)
{
	int64_t n;
	return s != NULL && str_to_i64(s, 1, INT64_MAX, &n) == 0;
}

bool
rest_require_id(struct rest_req *r, const char *id)
{
	if (rest_is_id(id))
		return true;
	rest_fail(r, 404, "404 Not Found");
	return false;
}

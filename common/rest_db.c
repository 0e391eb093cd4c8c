/* The REST layer's database side (rest_db.h). */
#include "rest_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "gitlab.h"
#include "gl_params.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "lsn.h"
#include "pgread.h"
#include "status.h"
#include "util.h"
#include "v2reply.h"
#include "wire.h"

static struct pg_pool *pool;
static struct pgread *replica;

void
rest_db_use(struct pg_pool *db)
{
	pool = db;
}

void
rest_db_use_read(struct pgread *read)
{
	replica = read;
}

/* ---- SQL arguments --------------------------------------------------------------------------- */

void
rest_arg(struct rest_req *r, const char *v)
{
	if (r->nargs == REST_MAX_ARGS)
		fatal("too many SQL arguments");
	r->args[r->nargs++] = v ? xstrdup(v) : NULL;
}

void
rest_arg_i64(struct rest_req *r, int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	rest_arg(r, buf);
}

void
rest_arg_bool(struct rest_req *r, bool v)
{
	rest_arg(r, v ? "true" : "false");
}

void
rest_arg_i64_opt(struct rest_req *r, bool given, int64_t v)
{
	if (given)
		rest_arg_i64(r, v);
	else
		rest_arg(r, NULL);
}

void
rest_arg_actor(struct rest_req *r)
{
	rest_arg_i64(r, r->actor.user_id);
	rest_arg_bool(r, r->actor.admin && r->actor.user_id > 0);
}

void
rest_arg_grant(struct rest_req *r)
{
	rest_arg_i64(r, r->actor.grant.project_id);
	rest_arg_i64(r, r->actor.grant.generation);
}

void
rest_grant_text(const struct actor_grant *g, struct rest_grant_text *out)
{
	snprintf(out->project_id, sizeof(out->project_id), "%lld", (long long)g->project_id);
	snprintf(out->generation, sizeof(out->generation), "%lld", (long long)g->generation);
}

void
rest_arg_ref(struct rest_req *r, const char *ref)
{
	int64_t id;
	if (ref != NULL && ref[0] >= '0' && ref[0] <= '9' &&
	    str_to_i64(ref, 1, INT64_MAX, &id) == 0) {
		rest_arg_i64(r, id);
		rest_arg(r, NULL);
	} else {
		/* a path that is not text names nothing (404), rather than failing the query */
		rest_arg(r, NULL);
		rest_arg(r, ref != NULL && gl_params_is_text(ref, strlen(ref)) ? ref : NULL);
	}
}

void
rest_arg_page(struct rest_req *r)
{
	rest_arg_i64(r, r->page.per_page);
	rest_arg_i64(r, gl_page_offset(&r->page));
}

const char *
rest_bool_arg(int b)
{
	return b < 0 ? NULL : b ? "true" : "false";
}

/* A statement of a request that may write, on its way: where its answer goes. */
struct rest_write {
	struct rest_req *r;
	pg_cb cb;
	void *arg;
};

/* Whether the request only reads: GET or HEAD. */
static bool
rest_only_reads(const struct rest_req *r)
{
	const char *m = http_txn_request(r->txn)->method;
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* The WAL position the request's reads must see: the one it carries (X-Registry-Read-Lsn), or
 * once known the primary's when its first read came (0 until then: pgread_exec asks for it). */
static uint64_t *
rest_read_fence(struct rest_req *r)
{
	if (r->read_fence == 0) {
		const char *v = headers_get(&http_txn_request(r->txn)->headers, WIRE_READ_LSN);
		if (!lsn_parse(v, &r->read_fence))
			r->read_fence = 0;
	}
	return &r->read_fence;
}

/* A statement of a write request is done: its answer carries the furthest WAL position the
 * request's statements reached (the client's next reads must see it), then the handler goes on. */
static void
rest_write_done(PGresult *res, void *arg)
{
	struct rest_write *w = arg;
	uint64_t lsn = pg_result_lsn();
	if (lsn != 0 && w->r->txn != NULL) {
		char text[LSN_TEXT_MAX];
		if (lsn > w->r->lsn) {
			w->r->lsn = lsn;
			http_txn_set_header(w->r->txn, WIRE_LSN, lsn_format(lsn, text));
		}
	}
	w->cb(res, w->arg);
	free(w);
}

void
rest_exec_params(struct rest_req *r, struct pg_stmt *stmt, int nparams, const char *const *values,
                 const int *lengths, const int *formats, pg_cb cb, void *arg)
{
	/* the client's address, for the audit events a write records (audit_record) */
	const char *ip = headers_get(&http_txn_request(r->txn)->headers, WIRE_CLIENT_IP);
	if (replica == NULL) {
		pg_exec_from(pool, stmt, nparams, values, lengths, formats, false, ip, cb, arg);
	} else if (rest_only_reads(r)) {
		if (stmt->replica && lengths == NULL && formats == NULL)
			pgread_exec(replica, rest_read_fence(r), stmt, nparams, values, cb, arg);
		else
			pg_exec_from(pool, stmt, nparams, values, lengths, formats, false, ip, cb,
			             arg);
	} else {
		struct rest_write *w = xcalloc(1, sizeof(*w));
		w->r = r;
		w->cb = cb;
		w->arg = arg;
		pg_exec_from(pool, stmt, nparams, values, lengths, formats, true, ip,
		             rest_write_done, w);
	}
}

void
rest_exec_values(struct rest_req *r, struct pg_stmt *stmt, int nparams, const char *const *values,
                 pg_cb cb, void *arg)
{
	rest_exec_params(r, stmt, nparams, values, NULL, NULL, cb, arg);
}

void
rest_exec(struct rest_req *r, struct pg_stmt *stmt, pg_cb cb, void *arg)
{
	rest_exec_values(r, stmt, r->nargs, (const char *const *)r->args, cb, arg);
	for (int i = 0; i < r->nargs; i++) {
		free(r->args[i]);
		r->args[i] = NULL;
	}
	r->nargs = 0;
}

/* ---- answers from results -------------------------------------------------------------------- */

void
rest_db_error(struct rest_req *r, const PGresult *res)
{
	if (res != NULL && strcmp(pg_sqlstate(res), REST_STALE_GRANT) == 0) {
		/* the token's grant was made on another project than the path's now: 401, to which
		 * the gateway adds the challenge that sends the client for a new token */
		v2reply_error(r->txn, 401, OCI_UNAUTHORIZED,
		              "the token was granted on another project: ask for a new token",
		              NULL);
		return;
	}
	log_set_request_id(http_txn_id(r->txn));
	log_error("%s: %s", r->route->metric, res != NULL ? pg_error(res) : "database unreachable");
	log_set_request_id(NULL);
	if (r->route->dialect == ROUTE_OCI) {
		struct http_headers h;
		v2reply_headers_init(&h);
		headers_add(&h, "Retry-After", "5");
		error_oci(r->txn, 503, OCI_UNAVAILABLE, "metadata database unavailable", &h);
		headers_clear(&h);
	} else if (res == NULL) {
		rest_fail(r, 503, "503 Service Unavailable: the database is unreachable");
	} else {
		rest_fail(r, 500, "500 Internal Server Error");
	}
}

/* The status word of the result's first row; STATUS_NONE once answered with a 500 when the word is
 * not in status.def (logged). */
static enum status_word
first_row_status(struct rest_req *r, const PGresult *res)
{
	const char *word = pg_get(res, 0, "status");
	enum status_word w = status_parse(word);
	if (w == STATUS_NONE) {
		log_set_request_id(http_txn_id(r->txn));
		log_error("%s: no status word \"%s\" in status.def", r->route->metric,
		          word != NULL ? word : "(null)");
		log_set_request_id(NULL);
		if (r->route->dialect == ROUTE_OCI)
			v2reply_error(r->txn, 500, OCI_UNKNOWN, NULL, word);
		else
			rest_fail(r, 500, "500 Internal Server Error");
	}
	return w;
}

enum status_word
rest_status(struct rest_req *r, const PGresult *res)
{
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(r, res);
		return STATUS_NONE;
	}
	return first_row_status(r, res);
}

bool
rest_page_status_ok(struct rest_req *r, const PGresult *res)
{
	if (!pg_ok(res) || pg_rows(res) < 1) {
		rest_db_error(r, res);
		return false;
	}
	enum status_word w = first_row_status(r, res);
	if (w == STATUS_ok)
		return true;
	rest_status_answer(r, res, w);
	return false;
}

void
rest_status_answer(struct rest_req *r, const PGresult *res, enum status_word w)
{
	if (w == STATUS_NONE)
		return;
	const struct status_entry *e = status_entry(w);
	const char *detail = PQfnumber(res, "detail") >= 0 ? pg_get(res, 0, "detail") : NULL;
	if (w == STATUS_not_found) {
		rest_not_found(r, NULL);
		return;
	}
	char *text = status_text(w, detail);
	if (e->oci != NULL && e->field != NULL && strcmp(e->field, "message") == 0)
		v2reply_error(r->txn, e->http, e->oci, text, NULL);
	else if (e->oci != NULL)
		v2reply_error(r->txn, e->http, e->oci, NULL, text);
	else if (e->field != NULL)
		rest_fail_validation(r, e->field, text);
	else
		rest_fail(r, e->http, text);
	free(text);
}

void
rest_status_framed(struct rest_req *r, const PGresult *res, enum status_word w, const char *frame)
{
	const char *detail = PQfnumber(res, "detail") >= 0 ? pg_get(res, 0, "detail") : NULL;
	char *text = status_text(w, detail);
	const char *at = strstr(frame, "%s");
	char *msg = at == NULL ? xstrdup(frame)
	                       : xasprintf("%.*s%s%s", (int)(at - frame), frame, text ? text : "",
	                                   at + 2);
	rest_fail(r, status_entry(w)->http, msg);
	free(msg);
	free(text);
}

bool
rest_found(struct rest_req *r, const PGresult *res, const char *what)
{
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return false;
	}
	if (pg_rows(res) == 0) {
		rest_not_found(r, what);
		return false;
	}
	return true;
}

bool
rest_list_ok(struct rest_req *r, const PGresult *res)
{
	if (!rest_found(r, res, NULL))
		return false;
	if (PQfnumber(res, "ok") >= 0 && !pg_get_bool(res, 0, "ok")) {
		rest_not_found(r, NULL);
		return false;
	}
	return true;
}

void
rest_reply_list(struct rest_req *r, const PGresult *res, rest_row_fn build)
{
	if (!rest_list_ok(r, res))
		return;
	json_object *arr = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++)
		if (pg_get(res, i, "id") != NULL)
			json_object_array_add(arr, build(r, res, i));
	gl_page_respond(r->txn, &r->page, pg_get_int(res, 0, "total"), arr);
}

json_object *
rest_column_json(const PGresult *res, int row, const char *col)
{
	const char *text = pg_get(res, row, col);
	if (text == NULL)
		return NULL;
	char *cause = NULL;
	json_object *o = js_parse(text, strlen(text), &cause);
	free(cause);
	return o;
}

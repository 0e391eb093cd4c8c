/*
 * The internal endpoints of garbage collection that blobd calls (common/wire.h): which blob files
 * to delete (their rows are gone and committed), their acknowledgement once deleted, and the
 * orphans of blobd's placement journal. blobd never reads the database; metad decides here, with
 * the functions of schema/functions/gc.sql. Protocol: docs/INTERNALS.md, "Garbage collection".
 */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "names.h"
#include "pg.h"
#include "rest.h"
#include "rest_db.h"
#include "util.h"
#include "wire.h"

#define GC_MAX_BODY (WIRE_GC_MAX_DIGESTS * 160 + 4096)
#define GC_HOST_MAX 255
/* Seconds a claim is blobd's before another host may take it. */
#define GC_LEASE_SECONDS 30

PG_STMT(q_claim, "SELECT digest, size FROM gc_files_claim($1, $2, $3)");
PG_STMT(q_done, "SELECT gc_files_done($1, $2::text[]) AS acknowledged");
PG_STMT(q_orphans, "SELECT d AS digest FROM gc_files_orphans($1::text[]) d");

/* Parses a JSON object body; NULL after answering 400 (or when the client left: body NULL). */
static json_object *
gc_body(struct rest_req *r, struct evbuffer *body)
{
	if (body == NULL)
		return NULL;
	char *cause = NULL;
	json_object *o = js_parse_buffer(body, &cause);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		rest_fail(r, 400, cause ? cause : "a JSON object is expected");
		free(cause);
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The "host" of a body: printable, 1..255 bytes; NULL after answering 400. */
static const char *
gc_host(struct rest_req *r, json_object *o)
{
	const char *host = js_str(o, "host");
	size_t len = host != NULL ? strlen(host) : 0;
	bool ok = len > 0 && len <= GC_HOST_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = host[i] > ' ' && host[i] < 0x7f;
	if (!ok) {
		rest_fail(r, 400, "host must be 1 to 255 printable characters");
		return NULL;
	}
	return host;
}

/* The "digests" of a body as a text[] literal (caller frees); NULL after answering 400. */
static char *
gc_digests(struct rest_req *r, json_object *o)
{
	json_object *a;
	if (!json_object_object_get_ex(o, "digests", &a) ||
	    !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) > WIRE_GC_MAX_DIGESTS) {
		rest_fail(r, 400, "digests must be an array of at most 1000 digests");
		return NULL;
	}
	size_t n = json_object_array_length(a);
	const char **list = xcalloc(n + 1, sizeof(*list));
	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(a, i);
		list[i] =
		        json_object_is_type(d, json_type_string) ? json_object_get_string(d) : NULL;
		if (list[i] == NULL || !name_valid_digest(list[i])) {
			free(list);
			rest_fail(r, 400, "digests must be an array of at most 1000 digests");
			return NULL;
		}
	}
	/* valid digests need no quoting in an array literal */
	char *literal = v2params_digest_array(list, n);
	free(list);
	return literal;
}

/* ---- POST /internal/gc/files/claim {"host","limit"} ---------------------------------------- */

/* Answers the claimed files. */
static void
claim_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	json_object *files = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "digest",
		                       json_object_new_string(pg_get(res, i, "digest")));
		json_object_object_add(f, "size",
		                       pg_get(res, i, "size") == NULL
		                               ? NULL
		                               : json_object_new_int64(pg_get_int(res, i, "size")));
		json_object_array_add(files, f);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "files", files);
	json_object_object_add(o, "lease", json_object_new_int(GC_LEASE_SECONDS));
	rest_reply(r, 200, o);
}

/* The body of a claim. */
static void
claim_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct rest_req *r = arg;
	json_object *o = txn != NULL ? gc_body(r, body) : NULL;
	if (o == NULL)
		return;
	const char *host = gc_host(r, o);
	int64_t limit;
	if (host != NULL &&
	    (!js_int(o, "limit", &limit) || limit < 1 || limit > WIRE_GC_MAX_DIGESTS)) {
		rest_fail(r, 400, "limit must be 1 to 1000");
		host = NULL;
	}
	if (host != NULL) {
		rest_arg(r, host);
		rest_arg_i64(r, GC_LEASE_SECONDS);
		rest_arg_i64(r, limit);
		rest_exec(r, &q_claim, claim_done, r);
	}
	json_object_put(o);
}

/* POST /internal/gc/files/claim: blob files to delete, leased to the asking host. */
static void
h_claim(struct rest_req *r)
{
	http_txn_read_body(r->txn, GC_MAX_BODY, claim_body, r);
}

/* ---- POST /internal/gc/files/done {"host","digests"} --------------------------------------- */

/* Answers how many deletions were acknowledged. */
static void
done_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		rest_db_error(r, res);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "acknowledged",
	                       json_object_new_int64(pg_get_int(res, 0, "acknowledged")));
	rest_reply(r, 200, o);
}

/* The body of an acknowledgement. */
static void
done_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct rest_req *r = arg;
	json_object *o = txn != NULL ? gc_body(r, body) : NULL;
	if (o == NULL)
		return;
	const char *host = gc_host(r, o);
	char *digests = host != NULL ? gc_digests(r, o) : NULL;
	if (digests != NULL) {
		rest_arg(r, host);
		rest_arg(r, digests);
		rest_exec(r, &q_done, done_done, r);
	}
	free(digests);
	json_object_put(o);
}

/* POST /internal/gc/files/done: blobd deleted these files. */
static void
h_done(struct rest_req *r)
{
	http_txn_read_body(r->txn, GC_MAX_BODY, done_body, r);
}

/* ---- POST /internal/gc/orphans {"digests"} ------------------------------------------------- */

/* Answers the orphans queued for deletion. */
static void
orphans_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	json_object *queued = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++)
		json_object_array_add(queued, json_object_new_string(pg_get(res, i, "digest")));
	if (pg_rows(res) > 0)
		log_info("gc: %d orphan file%s queued for deletion", pg_rows(res),
		         pg_rows(res) == 1 ? "" : "s");
	json_object *o = json_object_new_object();
	json_object_object_add(o, "queued", queued);
	rest_reply(r, 200, o);
}

/* The body of an orphans question. */
static void
orphans_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct rest_req *r = arg;
	json_object *o = txn != NULL ? gc_body(r, body) : NULL;
	if (o == NULL)
		return;
	char *digests = gc_digests(r, o);
	if (digests != NULL) {
		rest_arg(r, digests);
		rest_exec(r, &q_orphans, orphans_done, r);
	}
	free(digests);
	json_object_put(o);
}

/* POST /internal/gc/orphans: files blobd placed without a link, past their grace. */
static void
h_orphans(struct rest_req *r)
{
	http_txn_read_body(r->txn, GC_MAX_BODY, orphans_body, r);
}

const struct route internal_gc_routes[] = {
	ROUTE_OWN("POST", WIRE_PATH_GC_CLAIM, h_claim, "internal_gc_claim"),
	ROUTE_OWN("POST", WIRE_PATH_GC_DONE, h_done, "internal_gc_done"),
	ROUTE_OWN("POST", WIRE_PATH_GC_ORPHANS, h_orphans, "internal_gc_orphans"),
};
const size_t internal_gc_nroutes = nitems(internal_gc_routes);

/*
 * Internal endpoints of upload sessions in the database, for blobd's S3 storage (any node
 * continues a session another one started): create, read, reserve part numbers, save progress,
 * delete, and list the stale ones. Every change is a compare-and-set on the session's version
 * (schema/functions/uploads.sql). Contract in common/wire.h and docs/INTERNALS.md.
 */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "names.h"
#include "pg.h"
#include "rest_db.h"
#include "url.h"
#include "util.h"
#include "wire.h"

#define UPLOADS_MAX_BODY (1 << 20)

PG_STMT(q_create, "SELECT status FROM upload_session_create($1, $2, $3::bigint, $4::bigint, $5,"
                  " $6, $7)");
PG_STMT(q_get, "SELECT id, repository, project_id, generation, algorithm, byte_count,"
               " hash_state, upload_id, parts::text AS parts, tail_name, tail_length, version,"
               " extract(epoch FROM now() - updated_at)::bigint AS idle"
               " FROM upload_sessions WHERE id = $1");
PG_STMT(q_reserve, "SELECT status, version, first_part FROM upload_session_reserve($1,"
                   " $2::bigint, $3::integer, $4)");
PG_STMT(q_save, "SELECT status, version, old_tail FROM upload_session_save($1, $2::bigint,"
                " $3::bigint, $4, $5::jsonb, $6, $7::bigint)");
PG_STMT(q_delete, "SELECT status FROM upload_session_delete($1, $2::bigint)");
PG_STMT(q_stale, "SELECT id, upload_id, tail_name, version FROM upload_sessions"
                 " WHERE updated_at < now() - make_interval(secs => $1::bigint)"
                 " ORDER BY updated_at LIMIT 100");

/* What a request on a session keeps. */
struct iu {
	struct rest_req *r;
	struct http_txn *txn;
};

/* The request's state. */
static struct iu *
iu_new(struct rest_req *r)
{
	struct iu *u = rest_state_new(r, sizeof(*u), NULL);
	u->r = r;
	u->txn = r->txn;
	return u;
}

/* Whether id has the form of blobd's ids (of sessions, and of their holders). */
static bool
upload_id_valid(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;
	bool ok = n == WIRE_UPLOAD_ID_LEN;
	for (size_t i = 0; ok && i < n; i++)
		ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
	return ok;
}

/* The :id of the URL, or NULL after answering 404 (not one of blobd's ids). */
static const char *
session_id(struct rest_req *r)
{
	const char *id = rest_param(r, "id");
	if (!upload_id_valid(id)) {
		v2reply_error(r->txn, 404, OCI_BLOB_UPLOAD_UNKNOWN, NULL, NULL);
		return NULL;
	}
	return id;
}

/* A word of a change: not_found is the session's 404, the others as status.def says. */
static void
answer_word(struct iu *u, PGresult *res, enum status_word s)
{
	if (s == STATUS_not_found)
		v2reply_error(u->txn, 404, OCI_BLOB_UPLOAD_UNKNOWN, NULL, NULL);
	else if (s != STATUS_NONE)
		rest_status_answer(u->r, res, s);
}

/* Parses a JSON object body; NULL after answering 400 (or when the client left). */
static json_object *
body_object(struct http_txn *txn, struct evbuffer *body)
{
	if (body == NULL)
		return NULL;
	char *cause = NULL;
	json_object *o = js_parse_buffer(body, &cause);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		v2reply_error(txn, 400, OCI_UNKNOWN, cause ? cause : "a JSON object is expected",
		              NULL);
		json_object_put(o);
		o = NULL;
	}
	free(cause);
	return o;
}

/* ---- POST /internal/upload-sessions {"id","repository","algorithm","hash","upload_id"} ------ */

/* Answers a creation. */
static void
create_done(PGresult *res, void *arg)
{
	struct iu *u = arg;
	enum status_word s = rest_status(u->r, res);
	if (s == STATUS_ok)
		http_txn_respond(u->txn, 201, NULL, NULL, 0);
	else
		answer_word(u, res, s);
}

/* Reads a new session and records it under the caller's grant. */
static void
create_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct rest_req *r = arg;
	json_object *o = body_object(txn, body);
	if (o == NULL)
		return;
	const char *id = js_str(o, "id"), *repo = js_str(o, "repository");
	const char *algo = js_str(o, "algorithm"), *hash = js_str(o, "hash");
	const char *upload_id = js_str(o, "upload_id");
	if (repo == NULL || !name_valid_repository(repo)) {
		v2reply_error(txn, 400, OCI_NAME_INVALID, NULL, NULL);
	} else if (id == NULL || strlen(id) != WIRE_UPLOAD_ID_LEN || algo == NULL || hash == NULL ||
	           upload_id == NULL || *upload_id == '\0') {
		v2reply_error(txn, 400, OCI_BLOB_UPLOAD_INVALID, NULL,
		              "id, algorithm, hash and upload_id are needed");
	} else {
		struct iu *u = iu_new(r);
		struct rest_grant_text grant;
		rest_grant_text(&r->actor.grant, &grant);
		const char *params[] = { id,   repo, grant.project_id, grant.generation,
			                 algo, hash, upload_id };
		pg_exec(md.db, &q_create, 7, params, create_done, u);
	}
	json_object_put(o);
}

/* POST /internal/upload-sessions */
static void
h_create(struct rest_req *r)
{
	http_txn_read_body(r->txn, UPLOADS_MAX_BODY, create_body, r);
}

/* ---- GET /internal/upload-sessions/:id ----------------------------------------------------- */

/* Answers the session's row as JSON. */
static void
get_done(PGresult *res, void *arg)
{
	struct iu *u = arg;
	if (!pg_ok(res)) {
		rest_db_error(u->r, res);
		return;
	}
	if (pg_rows(res) == 0) {
		v2reply_error(u->txn, 404, OCI_BLOB_UPLOAD_UNKNOWN, NULL, NULL);
		return;
	}
	json_object *o = json_object_new_object();
	static const char *const texts[] = { "id", "repository", "algorithm", "upload_id" };
	for (size_t i = 0; i < nitems(texts); i++)
		json_object_object_add(o, texts[i],
		                       json_object_new_string(pg_get(res, 0, texts[i])));
	json_object_object_add(o, "hash", json_object_new_string(pg_get(res, 0, "hash_state")));
	static const char *const ints[] = { "project_id",  "generation", "byte_count",
		                            "tail_length", "version",    "idle" };
	for (size_t i = 0; i < nitems(ints); i++)
		json_object_object_add(o, ints[i],
		                       json_object_new_int64(pg_get_int(res, 0, ints[i])));
	const char *tail = pg_get(res, 0, "tail_name");
	json_object_object_add(o, "tail_name", tail ? json_object_new_string(tail) : NULL);
	json_object *parts = json_tokener_parse(pg_get(res, 0, "parts"));
	json_object_object_add(o, "parts", parts ? parts : json_object_new_array());
	js_respond(u->txn, 200, NULL, o);
}

/* GET /internal/upload-sessions/:id */
static void
h_get(struct rest_req *r)
{
	const char *id = session_id(r);
	if (id == NULL)
		return;
	const char *params[] = { id };
	pg_exec(md.db, &q_get, 1, params, get_done, iu_new(r));
}

/* ---- POST /internal/upload-sessions/:id/reserve {"version","parts","holder"} --------------- */

/* Answers a reservation: the version it made and the first part number. */
static void
reserve_done(PGresult *res, void *arg)
{
	struct iu *u = arg;
	enum status_word s = rest_status(u->r, res);
	if (s != STATUS_ok) {
		answer_word(u, res, s);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int64(pg_get_int(res, 0, "version")));
	json_object_object_add(o, "first_part",
	                       json_object_new_int64(pg_get_int(res, 0, "first_part")));
	js_respond(u->txn, 200, NULL, o);
}

/* Reads a reservation. */
static void
reserve_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct rest_req *r = arg;
	json_object *o = body_object(txn, body);
	if (o == NULL)
		return;
	int64_t version, parts;
	const char *holder = js_str(o, "holder");
	if (!js_int(o, "version", &version) || !js_int(o, "parts", &parts) || parts < 0 ||
	    parts > WIRE_UPLOAD_PARTS_MAX || holder == NULL || !upload_id_valid(holder)) {
		v2reply_error(txn, 400, OCI_BLOB_UPLOAD_INVALID, NULL,
		              "version, parts (0 to 10000) and holder are needed");
	} else {
		char v[24], p[24];
		snprintf(v, sizeof(v), "%lld", (long long)version);
		snprintf(p, sizeof(p), "%lld", (long long)parts);
		const char *params[] = { rest_param(r, "id"), v, p, holder };
		pg_exec(md.db, &q_reserve, 4, params, reserve_done, iu_new(r));
	}
	json_object_put(o);
}

/* POST /internal/upload-sessions/:id/reserve */
static void
h_reserve(struct rest_req *r)
{
	if (session_id(r) != NULL)
		http_txn_read_body(r->txn, UPLOADS_MAX_BODY, reserve_body, r);
}

/* ---- POST /internal/upload-sessions/:id/save {...} ----------------------------------------- */

/* Answers a save: the new version, and the tail object the session no longer names. */
static void
save_done(PGresult *res, void *arg)
{
	struct iu *u = arg;
	enum status_word s = rest_status(u->r, res);
	if (s != STATUS_ok) {
		answer_word(u, res, s);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_int64(pg_get_int(res, 0, "version")));
	const char *old = pg_get(res, 0, "old_tail");
	json_object_object_add(o, "old_tail", old ? json_object_new_string(old) : NULL);
	js_respond(u->txn, 200, NULL, o);
}

/* Whether parts is an array of {"number": 1..10000, "etag": text}. */
static bool
parts_valid(json_object *parts)
{
	if (parts == NULL || !json_object_is_type(parts, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(parts); i++) {
		json_object *p = json_object_array_get_idx(parts, i);
		int64_t n;
		if (!json_object_is_type(p, json_type_object) || !js_int(p, "number", &n) ||
		    n < 1 || n > WIRE_UPLOAD_PARTS_MAX || js_str(p, "etag") == NULL)
			return false;
	}
	return true;
}

/* Reads a save. */
static void
save_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	struct rest_req *r = arg;
	json_object *o = body_object(txn, body);
	if (o == NULL)
		return;
	int64_t version, count, tail_len;
	json_object *parts = NULL;
	json_object_object_get_ex(o, "parts", &parts);
	const char *hash = js_str(o, "hash"), *tail = js_str(o, "tail_name");
	if (!js_int(o, "version", &version) || !js_int(o, "byte_count", &count) || count < 0 ||
	    !js_int(o, "tail_length", &tail_len) || tail_len < 0 || tail_len > count ||
	    hash == NULL || !parts_valid(parts) || (tail_len > 0 && tail == NULL)) {
		v2reply_error(
		        txn, 400, OCI_BLOB_UPLOAD_INVALID, NULL,
		        "version, byte_count, hash, parts, tail_name and tail_length are needed");
	} else {
		char v[24], c[24], t[24];
		snprintf(v, sizeof(v), "%lld", (long long)version);
		snprintf(c, sizeof(c), "%lld", (long long)count);
		snprintf(t, sizeof(t), "%lld", (long long)tail_len);
		const char *params[] = { rest_param(r, "id"),        v, c, hash, js_text(parts),
			                 tail_len > 0 ? tail : NULL, t };
		pg_exec(md.db, &q_save, 7, params, save_done, iu_new(r));
	}
	json_object_put(o);
}

/* POST /internal/upload-sessions/:id/save */
static void
h_save(struct rest_req *r)
{
	if (session_id(r) != NULL)
		http_txn_read_body(r->txn, UPLOADS_MAX_BODY, save_body, r);
}

/* ---- DELETE /internal/upload-sessions/:id[?version=] --------------------------------------- */

/* Answers a deletion. */
static void
delete_done(PGresult *res, void *arg)
{
	struct iu *u = arg;
	enum status_word s = rest_status(u->r, res);
	if (s == STATUS_ok)
		http_txn_respond(u->txn, 204, NULL, NULL, 0);
	else
		answer_word(u, res, s);
}

/* DELETE /internal/upload-sessions/:id */
static void
h_delete(struct rest_req *r)
{
	const char *id = session_id(r);
	if (id == NULL)
		return;
	char *version = query_get(http_txn_request(r->txn)->query, "version");
	int64_t v;
	if (version != NULL && str_to_i64(version, 1, INT64_MAX, &v) < 0) {
		free(version);
		v2reply_error(r->txn, 400, OCI_BLOB_UPLOAD_INVALID, NULL, "version");
		return;
	}
	const char *params[] = { id, version };
	pg_exec(md.db, &q_delete, 2, params, delete_done, iu_new(r));
	free(version);
}

/* ---- GET /internal/upload-sessions?older_than=<seconds> ------------------------------------ */

/* Answers {"sessions":[{"id","upload_id","tail_name","version"}]}. */
static void
stale_done(PGresult *res, void *arg)
{
	struct iu *u = arg;
	if (!pg_ok(res)) {
		rest_db_error(u->r, res);
		return;
	}
	json_object *list = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++) {
		json_object *s = json_object_new_object();
		json_object_object_add(s, "id", json_object_new_string(pg_get(res, i, "id")));
		json_object_object_add(s, "upload_id",
		                       json_object_new_string(pg_get(res, i, "upload_id")));
		const char *tail = pg_get(res, i, "tail_name");
		json_object_object_add(s, "tail_name", tail ? json_object_new_string(tail) : NULL);
		json_object_object_add(s, "version",
		                       json_object_new_int64(pg_get_int(res, i, "version")));
		json_object_array_add(list, s);
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "sessions", list);
	js_respond(u->txn, 200, NULL, o);
}

/* GET /internal/upload-sessions?older_than= */
static void
h_stale(struct rest_req *r)
{
	char *older = query_get(http_txn_request(r->txn)->query, "older_than");
	int64_t secs;
	if (older == NULL || str_to_i64(older, 0, INT32_MAX, &secs) < 0) {
		free(older);
		v2reply_error(r->txn, 400, OCI_UNKNOWN, NULL, "older_than (seconds) is needed");
		return;
	}
	const char *params[] = { older };
	pg_exec(md.db, &q_stale, 1, params, stale_done, iu_new(r));
	free(older);
}

const struct route internal_upload_routes[] = {
	ROUTE_OWN_OCI("POST", WIRE_PATH_UPLOAD_SESSIONS, h_create, "internal_upload_create"),
	ROUTE_OWN_OCI("GET", WIRE_PATH_UPLOAD_SESSIONS, h_stale, "internal_upload_stale"),
	ROUTE_OWN_OCI("GET", WIRE_PATH_UPLOAD_SESSIONS "/:id", h_get, "internal_upload_get"),
	ROUTE_OWN_OCI("DELETE", WIRE_PATH_UPLOAD_SESSIONS "/:id", h_delete,
	              "internal_upload_delete"),
	ROUTE_OWN_OCI("POST", WIRE_PATH_UPLOAD_SESSIONS "/:id/reserve", h_reserve,
	              "internal_upload_reserve"),
	ROUTE_OWN_OCI("POST", WIRE_PATH_UPLOAD_SESSIONS "/:id/save", h_save,
	              "internal_upload_save"),
};
const size_t internal_upload_nroutes = nitems(internal_upload_routes);

/*
 * Internal endpoints blobd calls over metad's socket (blobd has no database): whether a
 * repository links a blob, linking a verified blob (creating the repository on first push),
 * cross-repository mounts, unlinking, whether a push may start (the path, the storage limit
 * of its namespace), and the bytes a blob's file takes on disk after a compression. Contract in
 * docs/INTERNALS.md. Failures answer with an OCI error body that blobd passes on unchanged.
 */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "errors.h"
#include "headers.h"
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

#define INTERNAL_MAX_BODY 65536

PG_STMT(q_blob_get,
        "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.blob_digest"
        " WHERE rb.repository_id = registry_grant_repository_id($1, $3, $4) AND rb.blob_digest = $2");
PG_STMT(q_blob_link, "SELECT repository_id, status FROM registry_link_blob("
                     "registry_grant_path($1, $4, $5), $2, $3::bigint)");
PG_STMT(q_blob_unlink,
        "DELETE FROM repository_blobs"
        " WHERE repository_id = registry_grant_repository_id($1, $3, $4) AND blob_digest = $2"
        " RETURNING blob_digest");
/* the source's grant is checked when the token grants pull there (registry_mount_blob reads the
 * source by that grant; without it, by the caller's rights) */
PG_STMT(q_mount, "SELECT size, status FROM registry_mount_blob(registry_grant_path($1, $8, $9), $2,"
                 " CASE WHEN $4::boolean THEN registry_grant_path($3, $10, $11) ELSE $3 END,"
                 " $4::boolean, $5::bigint, $6::boolean, $7::bigint)");
PG_STMT(q_push_check, "SELECT status, detail FROM registry_upload_check("
                      "registry_grant_path($1, $2, $3))");
PG_STMT(q_stored, "SELECT status FROM usage_blob_stored_set($1, $2::bigint)");
PG_STMT(q_tally, "SELECT form, files, stored, original FROM blob_tally_read()");

/* What an internal request is about, kept with it. */
struct ib {
	struct rest_req *r;
	struct http_txn *txn;
	char *repository;
	char *digest;
};

/* Frees what an internal request holds. */
static void
ib_clear(void *state)
{
	struct ib *b = state;
	free(b->repository);
	free(b->digest);
}

/* The request's state: repository (and digest, which may be NULL), copied. */
static struct ib *
ib_new(struct rest_req *r, const char *repository, const char *digest)
{
	struct ib *b = rest_state_new(r, sizeof(*b), ib_clear);
	b->r = r;
	b->txn = r->txn;
	b->repository = xstrdup(repository);
	b->digest = digest ? xstrdup(digest) : NULL;
	return b;
}

/* Answers status with {"digest","size"} of a blob. */
static void
respond_blob(struct http_txn *txn, int status, const char *digest, int64_t size)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "digest", json_object_new_string(digest));
	json_object_object_add(o, "size", json_object_new_int64(size));
	js_respond(txn, status, NULL, o);
}

/* Checks the digest of /internal/blobs/<digest>?repository= and the repository, then runs stmt
 * ($1 repository, $2 digest); 400 when either is invalid. */
static void
blob_query(struct rest_req *r, struct pg_stmt *stmt, pg_cb cb)
{
	struct http_txn *txn = r->txn;
	const char *digest = rest_param(r, "digest");
	if (!name_valid_digest(digest)) {
		v2reply_error(txn, 400, OCI_DIGEST_INVALID, NULL, NULL);
		return;
	}
	char *repo = query_get(http_txn_request(txn)->query, "repository");
	if (repo == NULL || !name_valid_repository(repo)) {
		free(repo);
		v2reply_error(txn, 400, OCI_NAME_INVALID, NULL, NULL);
		return;
	}
	struct ib *b = ib_new(r, repo, digest);
	free(repo);
	struct rest_grant_text grant;
	rest_grant_text(&r->actor.grant, &grant);
	const char *params[] = { b->repository, b->digest, grant.project_id, grant.generation };
	pg_exec(md.db, stmt, 4, params, cb, b);
}

/* ---- GET /internal/blobs/<digest>?repository= ------------------------------------------------ */

/* Answers whether the repository links the blob. */
static void
get_done(PGresult *res, void *arg)
{
	struct ib *b = arg;
	if (!pg_ok(res)) {
		rest_db_error(b->r, res);
	} else if (pg_rows(res) == 0) {
		v2reply_error(b->txn, 404, OCI_BLOB_UNKNOWN, NULL, b->digest);
	} else {
		respond_blob(b->txn, 200, b->digest, pg_get_int(res, 0, "size"));
	}
}

/* GET /internal/blobs/<digest>?repository= */
static void
h_blob_get(struct rest_req *r)
{
	blob_query(r, &q_blob_get, get_done);
}

/* ---- DELETE /internal/blobs/<digest>?repository= --------------------------------------------- */

/* Answers a blob unlink. */
static void
unlink_done(PGresult *res, void *arg)
{
	struct ib *b = arg;
	if (!pg_ok(res)) {
		rest_db_error(b->r, res);
	} else if (pg_rows(res) == 0) {
		v2reply_error(b->txn, 404, OCI_BLOB_UNKNOWN, NULL, b->digest);
	} else {
		log_info("unlinked blob %s from %s", b->digest, b->repository);
		http_txn_respond(b->txn, 204, NULL, NULL, 0);
	}
}

/* DELETE /internal/blobs/<digest>?repository= */
static void
h_blob_delete(struct rest_req *r)
{
	blob_query(r, &q_blob_unlink, unlink_done);
}

/* ---- bodies ---------------------------------------------------------------------------------- */

/* Parses a JSON body and its "repository" (and "digest" when need_digest); NULL after answering
 * 400, or when the client left before the body was in (body NULL). */
static json_object *
body_parse(struct http_txn *txn, struct evbuffer *body, bool need_digest)
{
	if (body == NULL)
		return NULL;
	char *cause = NULL;
	json_object *o = js_parse_buffer(body, &cause);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		v2reply_error(txn, 400, OCI_UNKNOWN, cause ? cause : "a JSON object is expected",
		              NULL);
		free(cause);
		json_object_put(o);
		return NULL;
	}
	const char *repo = js_str(o, "repository"), *digest = js_str(o, "digest");
	if (repo == NULL || !name_valid_repository(repo)) {
		v2reply_error(txn, 400, OCI_NAME_INVALID, NULL, NULL);
		json_object_put(o);
		return NULL;
	}
	if (need_digest && (digest == NULL || !name_valid_digest(digest))) {
		v2reply_error(txn, 400, OCI_DIGEST_INVALID, NULL, NULL);
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- POST /internal/blobs {"repository","digest","size"} ------------------------------------ */

/* Answers a blob link: created, or why the path refuses pushes. */
static void
link_done(PGresult *res, void *arg)
{
	struct ib *b = arg;
	enum status_word s = rest_status(b->r, res);
	if (s != STATUS_ok) {
		rest_status_answer(b->r, res, s); /* why the path refuses pushes */
	} else {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "repository_id",
		                       json_object_new_int64(pg_get_int(res, 0, "repository_id")));
		js_respond(b->txn, 201, NULL, o);
	}
}

/* POST /internal/blobs: links a verified blob, creating the repository on first push. */
static void
link_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	json_object *o = body_parse(txn, body, true);
	if (o == NULL)
		return;
	struct rest_req *r = arg;
	int64_t size;
	if (!js_int(o, "size", &size) || size < 0) {
		v2reply_error(txn, 400, OCI_SIZE_INVALID, NULL, NULL);
		json_object_put(o);
		return;
	}
	struct ib *b = ib_new(r, js_str(o, "repository"), js_str(o, "digest"));
	char sz[32];
	snprintf(sz, sizeof(sz), "%lld", (long long)size);
	struct rest_grant_text grant;
	rest_grant_text(&r->actor.grant, &grant);
	const char *params[] = { b->repository, b->digest, sz, grant.project_id, grant.generation };
	pg_exec(md.db, &q_blob_link, 5, params, link_done, b);
	json_object_put(o);
}

/* Reads the body of POST /internal/blobs. */
static void
h_blob_link(struct rest_req *r)
{
	http_txn_read_body(r->txn, INTERNAL_MAX_BODY, link_body, r);
}

/* ---- POST /internal/mounts {"repository","digest","from"} ----------------------------------- */

/* Answers a mount: linked, nothing to mount, or refused. */
static void
mount_done(PGresult *res, void *arg)
{
	struct ib *b = arg;
	enum status_word s = rest_status(b->r, res);
	if (s != STATUS_ok) {
		rest_status_answer(b->r, res, s); /* why the path refuses pushes */
	} else if (pg_get(res, 0, "size") == NULL) {
		v2reply_error(b->txn, 404, OCI_BLOB_UNKNOWN, NULL, b->digest);
	} else {
		log_info("mounted blob %s into %s", b->digest, b->repository);
		respond_blob(b->txn, 201, b->digest, pg_get_int(res, 0, "size"));
	}
}

/* POST /internal/mounts: links a blob the caller may already read. */
static void
mount_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	json_object *o = body_parse(txn, body, true);
	if (o == NULL)
		return;
	struct rest_req *r = arg;
	const char *from = js_str(o, "from");
	if (from != NULL && !name_valid_repository(from)) {
		v2reply_error(txn, 400, OCI_NAME_INVALID, NULL, "from");
		json_object_put(o);
		return;
	}
	const struct actor *a = &r->actor;
	struct ib *b = ib_new(r, js_str(o, "repository"), js_str(o, "digest"));
	char uid[32], dtid[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)a->user_id);
	snprintf(dtid, sizeof(dtid), "%lld", (long long)a->deploy_token_id);
	struct rest_grant_text grant, from_grant;
	rest_grant_text(&a->grant, &grant);
	rest_grant_text(&a->from_grant, &from_grant);
	const char *params[] = { b->repository,
		                 b->digest,
		                 from,
		                 (a->from_actions & ACT_PULL) ? "true" : "false",
		                 uid,
		                 a->admin ? "true" : "false",
		                 dtid,
		                 grant.project_id,
		                 grant.generation,
		                 from_grant.project_id,
		                 from_grant.generation };
	pg_exec(md.db, &q_mount, 11, params, mount_done, b);
	json_object_put(o);
}

/* Reads the body of POST /internal/mounts. */
static void
h_mount(struct rest_req *r)
{
	http_txn_read_body(r->txn, INTERNAL_MAX_BODY, mount_body, r);
}

/* ---- POST /internal/uploads {"repository"}: may a push start here? -------------------------- */

/* Answers whether a push may start. */
static void
push_check_done(PGresult *res, void *arg)
{
	struct ib *b = arg;
	enum status_word s = rest_status(b->r, res);
	if (s == STATUS_ok)
		http_txn_respond(b->txn, 204, NULL, NULL, 0);
	else
		rest_status_answer(b->r, res, s); /* why the path refuses pushes, or the quota */
}

/* POST /internal/uploads: may a push start in this repository (its path, its namespace's
 * storage limit)? */
static void
push_check_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	json_object *o = body_parse(txn, body, false);
	if (o == NULL)
		return;
	struct rest_req *r = arg;
	struct ib *b = ib_new(r, js_str(o, "repository"), NULL);
	struct rest_grant_text grant;
	rest_grant_text(&r->actor.grant, &grant);
	const char *params[] = { b->repository, grant.project_id, grant.generation };
	pg_exec(md.db, &q_push_check, 3, params, push_check_done, b);
	json_object_put(o);
}

/* Reads the body of POST /internal/uploads. */
static void
h_push_check(struct rest_req *r)
{
	http_txn_read_body(r->txn, INTERNAL_MAX_BODY, push_check_body, r);
}

/* ---- POST /internal/blobs/stored {"digest","stored"}: the bytes a blob takes on disk ------- */

/* Answers a stored size: recorded, or no such blob any more. */
static void
stored_done(PGresult *res, void *arg)
{
	struct ib *b = arg;
	enum status_word s = rest_status(b->r, res);
	if (s == STATUS_ok)
		http_txn_respond(b->txn, 204, NULL, NULL, 0);
	else if (s == STATUS_not_found)
		v2reply_error(b->txn, 404, OCI_BLOB_UNKNOWN, NULL, b->digest);
	else if (s != STATUS_NONE)
		rest_status_answer(b->r, res, s);
}

/* POST /internal/blobs/stored: records the stored size of a blob (usage_blob_stored_set). */
static void
stored_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	if (body == NULL)
		return;
	char *cause = NULL;
	json_object *o = js_parse_buffer(body, &cause);
	const char *digest = o != NULL ? js_str(o, "digest") : NULL;
	int64_t stored;
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		v2reply_error(txn, 400, OCI_UNKNOWN, cause ? cause : "a JSON object is expected",
		              NULL);
	} else if (digest == NULL || !name_valid_digest(digest)) {
		v2reply_error(txn, 400, OCI_DIGEST_INVALID, NULL, NULL);
	} else if (!js_int(o, "stored", &stored) || stored < 0) {
		v2reply_error(txn, 400, OCI_SIZE_INVALID, NULL, "stored");
	} else {
		struct ib *b = ib_new(arg, "", digest);
		char sz[32];
		snprintf(sz, sizeof(sz), "%lld", (long long)stored);
		const char *params[] = { b->digest, sz };
		pg_exec(md.db, &q_stored, 2, params, stored_done, b);
	}
	free(cause);
	json_object_put(o);
}

/* Reads the body of POST /internal/blobs/stored. */
static void
h_stored(struct rest_req *r)
{
	http_txn_read_body(r->txn, INTERNAL_MAX_BODY, stored_body, r);
}

/* ---- GET /internal/blobs/tally: the storage gauges from the blob rows --------------------------
 */

/* Answers the sums of blob_tally by form. */
static void
tally_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	json_object *o = json_object_new_object();
	for (int i = 0; i < pg_rows(res); i++) {
		json_object *f = json_object_new_object();
		static const char *const cols[] = { "files", "stored", "original" };
		for (size_t c = 0; c < nitems(cols); c++)
			json_object_object_add(
			        f, cols[c],
			        json_object_new_int64(strtoll(pg_get(res, i, cols[c]), NULL, 10)));
		json_object_object_add(o, pg_get(res, i, "form"), f);
	}
	rest_reply(r, 200, o);
}

/* GET /internal/blobs/tally: the blobs the database names and their bytes, by form (blobd's
 * storage gauges with storage = s3: docs/S3.md). */
static void
h_tally(struct rest_req *r)
{
	rest_exec(r, &q_tally, tally_done, r);
}

const struct route internal_blob_routes[] = {
	ROUTE_OWN_OCI("GET", WIRE_PATH_BLOBS_TALLY, h_tally, "internal_blob_tally"),
	ROUTE_OWN_OCI("POST", WIRE_PATH_BLOBS_STORED, h_stored, "internal_blob_stored"),
	ROUTE_OWN_OCI("POST", WIRE_PATH_BLOBS, h_blob_link, "internal_blob_link"),
	ROUTE_OWN_OCI("GET", WIRE_PATH_BLOBS "/:digest", h_blob_get, "internal_blob_get"),
	ROUTE_OWN_OCI("DELETE", WIRE_PATH_BLOBS "/:digest", h_blob_delete, "internal_blob_unlink"),
	ROUTE_OWN_OCI("POST", WIRE_PATH_MOUNTS, h_mount, "internal_mount"),
	ROUTE_OWN_OCI("POST", WIRE_PATH_UPLOADS, h_push_check, "internal_push_check"),
};
const size_t internal_blob_nroutes = nitems(internal_blob_routes);

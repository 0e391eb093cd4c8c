/*
 * Manifests: GET/HEAD by tag or digest with Distribution's content negotiation, PUT (validated,
 * stored byte-exact, tagged) and DELETE (by digest: the manifest and its tags; by tag: the tag).
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "digest.h"
#include "errors.h"
#include "headers.h"
#include "http.h"
#include "log.h"
#include "manifest.h"
#include "metad.h"
#include "names.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

PG_STMT_READ(q_by_digest,
             "SELECT m.digest, m.media_type, m.payload FROM manifests m"
             " WHERE m.repository_id = registry_grant_repository_id($1, $3, $4) AND m.digest = $2");
PG_STMT_READ(
        q_by_tag,
        "SELECT m.digest, m.media_type, m.payload FROM tags t JOIN manifests m ON m.id = t.manifest_id"
        " WHERE t.repository_id = registry_grant_repository_id($1, $3, $4) AND t.name = $2");
PG_STMT(q_put, "SELECT manifest_id, status, detail FROM registry_put_manifest("
               " $1, $14::bigint, $15::bigint, $2, $3, $4, $5, $6, $7,"
               " $8::jsonb, $9::bytea, $10::text[], $11::bigint[], $12::text[], $13,"
               " $16::bigint, $17::boolean, $18::jsonb)");
/* $1 name, $2 tag, $3 digest (one of them NULL), $4 $5 the grant, $6 $7 the caller, $8 the
 * request's context (notify_request_json) */
PG_STMT(q_delete, "SELECT status, detail FROM registry_delete_reference("
                  " registry_grant_repository_id($1, $4, $5), $2, $3, $6, $7, $8::jsonb)");

static void get_done(PGresult *res, void *arg);

/* ---- GET / HEAD ------------------------------------------------------------------------------ */

/* Whether any Accept header of the request names media_type. */
static bool
request_accepts(struct http_txn *txn, const char *media_type)
{
	const struct http_headers *h = &http_txn_request(txn)->headers;
	for (size_t i = 0; i < h->hd_count; i++)
		if (str_eq_nocase(h->hd_list[i].name, "Accept") &&
		    manifest_accepts(h->hd_list[i].value, media_type))
			return true;
	return false;
}

/* If-None-Match naming the digest, quoted or not. */
static bool
etag_matches(struct http_txn *txn, const char *digest)
{
	const struct http_headers *h = &http_txn_request(txn)->headers;
	for (size_t i = 0; i < h->hd_count; i++) {
		if (!str_eq_nocase(h->hd_list[i].name, "If-None-Match"))
			continue;
		const char *v = h->hd_list[i].value;
		size_t len = strlen(v), dlen = strlen(digest);
		if (strcmp(v, digest) == 0 ||
		    (len == dlen + 2 && v[0] == '"' && v[len - 1] == '"' &&
		     strncmp(v + 1, digest, dlen) == 0))
			return true;
	}
	return false;
}

/* Answers a manifest (or 304 for a matching If-None-Match; headers only for HEAD). */
static void
respond_manifest(struct http_txn *txn, const char *digest, const char *media_type,
                 const unsigned char *payload, size_t len)
{
	struct http_headers h;
	v2reply_headers_init(&h);
	char etag[DIGEST_STR_MAX + 2];
	snprintf(etag, sizeof(etag), "\"%s\"", digest);
	headers_add(&h, "Docker-Content-Digest", digest);
	headers_add(&h, "Etag", etag);
	if (etag_matches(txn, digest)) {
		http_txn_respond(txn, 304, &h, NULL, 0);
	} else {
		headers_add(&h, "Content-Type", media_type);
		if (strcmp(http_txn_request(txn)->method, "HEAD") == 0) {
			http_txn_start_response(txn, 200, &h, (int64_t)len);
			http_txn_end_response(txn);
		} else {
			http_txn_respond(txn, 200, &h, payload, len);
		}
	}
	headers_clear(&h);
}

/* The reference a GET looks up: the URL's, or the digest of a manifest list's default-platform
 * entry it looks up again (kept as the request's state). */
static const char *
get_ref(const struct rest_req *r)
{
	const char *again = rest_state(r);
	return again != NULL ? again : rest_param(r, "reference");
}

/* Looks the manifest up again by digest (a manifest list's default-platform entry). */
static void
get_by_digest(struct rest_req *r, const char *digest)
{
	char *again = rest_state_new(r, strlen(digest) + 1, NULL);
	memcpy(again, digest, strlen(digest) + 1);
	rest_arg(r, rest_param(r, "name"));
	rest_arg(r, again);
	rest_arg_grant(r);
	rest_exec(r, &q_by_digest, get_done, r);
}

/* Serves the manifest found, after Distribution's Accept rules. */
static void
get_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	struct http_txn *txn = r->txn;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	if (pg_rows(res) == 0) {
		v2reply_error(txn, 404, OCI_MANIFEST_UNKNOWN, NULL, get_ref(r));
		return;
	}
	const char *digest = pg_get(res, 0, "digest"), *mt = pg_get(res, 0, "media_type");
	bool by_tag = !name_valid_digest(get_ref(r));
	if (strcmp(mt, MT_OCI_MANIFEST) == 0 && !request_accepts(txn, MT_OCI_MANIFEST)) {
		v2reply_error(
		        txn, 404, OCI_MANIFEST_UNKNOWN,
		        "OCI manifest found, but accept header does not support OCI manifests",
		        NULL);
		return;
	}
	if (strcmp(mt, MT_OCI_INDEX) == 0 && !request_accepts(txn, MT_OCI_INDEX)) {
		v2reply_error(txn, 404, OCI_MANIFEST_UNKNOWN,
		              "OCI index found, but accept header does not support OCI indexes",
		              NULL);
		return;
	}
	size_t len = 0;
	unsigned char *payload = PQunescapeBytea(
	        (const unsigned char *)PQgetvalue(res, 0, PQfnumber(res, "payload")), &len);
	if (payload == NULL) {
		log_error("manifest %s: cannot decode its payload", digest);
		rest_db_error(r, res);
		return;
	}
	if (by_tag && strcmp(mt, MT_DOCKER_LIST) == 0 && !request_accepts(txn, MT_DOCKER_LIST)) {
		/* An old client: serve the list's linux/amd64 image, as Distribution does. */
		char *child = manifest_list_default((const char *)payload, len);
		PQfreemem(payload);
		if (child == NULL) {
			v2reply_error(
			        txn, 404, OCI_MANIFEST_UNKNOWN, NULL,
			        "the manifest list has no linux/amd64 image for a client that does not "
			        "accept manifest lists");
			return;
		}
		get_by_digest(r, child);
		free(child);
		return;
	}
	respond_manifest(txn, digest, mt, payload, len);
	PQfreemem(payload);
}

void
manifests_get(struct rest_req *r)
{
	const char *ref = rest_param(r, "reference");
	bool is_digest = strchr(ref, ':') != NULL;
	if (is_digest ? !name_valid_digest(ref) : !name_valid_tag(ref)) {
		v2reply_error(r->txn, 404, OCI_MANIFEST_UNKNOWN, NULL, ref);
		return;
	}
	rest_arg(r, rest_param(r, "name"));
	rest_arg(r, ref);
	rest_arg_grant(r);
	rest_exec(r, is_digest ? &q_by_digest : &q_by_tag, get_done, r);
}

/* ---- PUT ------------------------------------------------------------------------------------- */

/* What a PUT learns on the way, kept with its request. */
struct put {
	char digest[DIGEST_STR_MAX];
	char *subject;
};

/* Frees what a PUT holds. */
static void
put_clear(void *state)
{
	struct put *p = state;
	free(p->subject);
}

/* Answers a manifest PUT from what registry_put_manifest() decided. */
static void
put_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	struct put *p = rest_state(r);
	struct http_txn *txn = r->txn;
	const char *name = rest_param(r, "name");
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok) {
		log_info("manifest %s pushed to %s", p->digest, name);
		struct http_headers h;
		v2reply_headers_init(&h);
		char *loc = xasprintf("/v2/%s/manifests/%s", name, p->digest);
		headers_add(&h, "Location", loc);
		headers_add(&h, "Docker-Content-Digest", p->digest);
		if (p->subject != NULL)
			headers_add(&h, "OCI-Subject", p->subject);
		http_txn_respond(txn, 201, &h, NULL, 0);
		headers_clear(&h);
		free(loc);
	} else if (s == STATUS_size_mismatch) {
		const char *detail = pg_get(res, 0, "detail");
		char *msg = xasprintf("the size of %s in the manifest is not the size of the blob",
		                      detail);
		v2reply_error(txn, 400, OCI_MANIFEST_INVALID, msg, detail);
		free(msg);
	} else {
		rest_status_answer(r, res, s); /* a path that refuses pushes, a reference unknown */
	}
}

/* Collects the digests and sizes of a manifest's blobs and children as array literals. */
static void
reference_arrays(const struct manifest_info *mi, char **blobs, char **sizes, char **children)
{
	const char **d = xcalloc(mi->nblobs + mi->nchildren + 1, sizeof(*d));
	struct evbuffer *sz = evbuffer_new();
	evbuffer_add(sz, "{", 1);
	for (size_t i = 0; i < mi->nblobs; i++) {
		d[i] = mi->blobs[i].digest;
		evbuffer_add_printf(sz, "%s%lld", i ? "," : "", (long long)mi->blobs[i].size);
	}
	evbuffer_add(sz, "}", 1);
	*blobs = v2params_digest_array(d, mi->nblobs);
	for (size_t i = 0; i < mi->nchildren; i++)
		d[i] = mi->children[i].digest;
	*children = v2params_digest_array(d, mi->nchildren);
	free(d);
	size_t len = evbuffer_get_length(sz);
	*sizes = xmalloc(len + 1);
	evbuffer_remove(sz, *sizes, len);
	(*sizes)[len] = '\0';
	evbuffer_free(sz);
}

/* The PUT body is read: validate, hash, and store it in one SQL call. */
static void
put_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	if (body == NULL)
		return; /* too large (answered already), or the client left */
	struct rest_req *r = arg;
	const char *name = rest_param(r, "name"), *ref = rest_param(r, "reference");
	struct http_request *req = http_txn_request(txn);
	size_t len = evbuffer_get_length(body);
	const char *payload = len ? (const char *)evbuffer_pullup(body, -1) : "";
	bool by_digest = strchr(ref, ':') != NULL;
	enum digest_algo algo = DIGEST_SHA256;
	const char *hex;
	struct manifest_info mi;
	enum manifest_error merr;
	char *cause = NULL;
	if (by_digest && !name_split_digest(ref, &algo, &hex)) {
		v2reply_error(txn, 400, OCI_DIGEST_INVALID, NULL,
		              "unsupported or malformed digest");
		return;
	}
	if (!by_digest && !name_valid_tag(ref)) {
		v2reply_error(txn, 400, OCI_TAG_INVALID, "invalid tag name", ref);
		return;
	}
	if (manifest_parse(headers_get(&req->headers, "Content-Type"), payload, len, &mi, &merr,
	                   &cause) < 0) {
		if (merr == MERR_DIGEST_INVALID)
			v2reply_error(txn, 400, OCI_DIGEST_INVALID, cause, NULL);
		else
			v2reply_error(txn, 400, OCI_MANIFEST_INVALID, cause, NULL);
		free(cause);
		return;
	}
	struct put *p = rest_state_new(r, sizeof(*p), put_clear);
	digest_buffer(algo, payload, len, p->digest);
	if (by_digest && strcmp(p->digest, ref) != 0) {
		v2reply_error(txn, 400, OCI_DIGEST_INVALID, NULL,
		              "the manifest's digest is not the one in the URL");
		manifest_info_clear(&mi);
		return;
	}
	p->subject = mi.subject ? xstrdup(mi.subject) : NULL;
	char *blobs, *sizes, *children;
	reference_arrays(&mi, &blobs, &sizes, &children);
	struct rest_grant_text grant;
	rest_grant_text(&r->actor.grant, &grant);
	char user[32];
	snprintf(user, sizeof(user), "%lld", (long long)r->actor.user_id);
	char *request = notify_request_json(r, by_digest ? NULL : ref);
	const char *params[18] = {
		name,
		p->digest,
		mi.media_type,
		mi.artifact_type,
		mi.config_digest,
		mi.config_media_type,
		mi.subject,
		mi.annotations,
		payload,
		blobs,
		sizes,
		children,
		by_digest ? NULL : ref,
		grant.project_id,
		grant.generation,
		user,
		r->actor.admin && r->actor.user_id > 0 ? "true" : "false",
		request,
	};
	int lengths[18] = { 0 };
	int formats[18] = { 0 };
	lengths[8] = (int)len;
	formats[8] = 1;
	rest_exec_params(r, &q_put, 18, params, lengths, formats, put_done, r);
	free(request);
	free(blobs);
	free(sizes);
	free(children);
	manifest_info_clear(&mi);
}

void
manifests_put(struct rest_req *r)
{
	struct http_txn *txn = r->txn;
	struct http_request *req = http_txn_request(txn);
	if (req->content_length > MANIFEST_MAX_SIZE) {
		http_txn_close_after(txn);
		v2reply_error(txn, 413, OCI_MANIFEST_INVALID, "manifest too large",
		              "a manifest may be at most 4 MiB");
		return;
	}
	http_txn_read_body(txn, MANIFEST_MAX_SIZE, put_body, r);
}

/* ---- DELETE ---------------------------------------------------------------------------------- */

/* Answers a manifest or tag DELETE: 202, 404, or a protection rule's refusal (tag_denied). */
static void
delete_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	const char *name = rest_param(r, "name"), *ref = rest_param(r, "reference");
	enum status_word s = rest_status(r, res);
	if (s == STATUS_NONE)
		return;
	if (s == STATUS_not_found) {
		v2reply_error(r->txn, 404, OCI_MANIFEST_UNKNOWN, NULL, ref);
	} else if (s != STATUS_ok) {
		rest_status_answer(r, res, s);
	} else {
		log_info("deleted %s %s from %s", name_valid_digest(ref) ? "manifest" : "tag", ref,
		         name);
		struct http_headers h;
		v2reply_headers_init(&h);
		http_txn_respond(r->txn, 202, &h, NULL, 0);
		headers_clear(&h);
	}
}

void
manifests_delete(struct rest_req *r)
{
	const char *ref = rest_param(r, "reference");
	bool is_digest = strchr(ref, ':') != NULL;
	if (is_digest ? !name_valid_digest(ref) : !name_valid_tag(ref)) {
		v2reply_error(r->txn, 400, is_digest ? OCI_DIGEST_INVALID : OCI_TAG_INVALID, NULL,
		              ref);
		return;
	}
	rest_arg(r, rest_param(r, "name"));
	rest_arg(r, is_digest ? NULL : ref);
	rest_arg(r, is_digest ? ref : NULL);
	rest_arg_grant(r);
	rest_arg_actor(r);
	char *request = notify_request_json(r, NULL);
	rest_arg(r, request);
	free(request);
	rest_exec(r, &q_delete, delete_done, r);
}

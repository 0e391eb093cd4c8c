/*
 * blobd's questions to metad, over metad's unix socket (the endpoints of metad/internal_blobs.c,
 * documented in docs/INTERNALS.md). The caller's identity headers (X-Registry-*) and request id
 * travel along, so metad decides with the same facts the gateway verified.
 */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blobd.h"
#include "errors.h"
#include "headers.h"
#include "httpc.h"
#include "json.h"
#include "log.h"
#include "url.h"
#include "util.h"
#include "wire.h"

struct meta_call {
	meta_cb cb;
	void *arg;
};

/* Parses metad's answer and hands it to the caller's callback. */
static void
meta_done(int status, struct http_headers *headers, struct evbuffer *body, void *arg)
{
	struct meta_call *mc = arg;
	json_object *obj = NULL;
	if (status > 0 && body != NULL && evbuffer_get_length(body) > 0) {
		char *cause = NULL;
		obj = js_parse_buffer(body, &cause);
		free(cause);
	}
	mc->cb(status, obj, body, mc->arg);
	json_object_put(obj);
	free(mc);
	(void)headers;
}

/* Sends one request to metad with the caller's identity (txn NULL: blobd's own background work,
 * garbage collection's and compression's, no caller); body may be NULL. */
static void
meta_call(struct http_txn *txn, const char *method, const char *target, json_object *body,
          meta_cb cb, void *arg)
{
	struct http_headers h;
	headers_init(&h);
	if (txn != NULL) {
		struct http_request *req = http_txn_request(txn);
		for (size_t i = 0; i < req->headers.hd_count; i++) {
			const char *n = req->headers.hd_list[i].name;
			if (strncasecmp(n, WIRE_PREFIX, strlen(WIRE_PREFIX)) == 0 &&
			    !str_eq_nocase(n, WIRE_WANT_FD))
				headers_add(&h, n, req->headers.hd_list[i].value);
		}
	}
	headers_set(&h, "X-Request-Id", txn != NULL ? http_txn_id(txn) : "gc");
	const char *text = NULL;
	if (body != NULL) {
		headers_set(&h, "Content-Type", "application/json");
		text = js_text(body);
	}
	struct meta_call *mc = xcalloc(1, sizeof(*mc));
	mc->cb = cb;
	mc->arg = arg;
	httpc_call(bd.metad, method, target, &h, text, text ? strlen(text) : 0, meta_done, mc);
	headers_clear(&h);
}

/* method /internal/blobs/<digest>?repository=<repo>: the GET and the DELETE. */
static void
blob_call(struct http_txn *txn, const char *method, const char *repo, const char *digest,
          meta_cb cb, void *arg)
{
	char *enc = url_encode(repo, false);
	char *target = xasprintf(WIRE_PATH_BLOBS "/%s?repository=%s", digest, enc);
	meta_call(txn, method, target, NULL, cb, arg);
	free(target);
	free(enc);
}

/* The body of the POSTs: {"repository"}, with "digest" unless it is NULL. */
static json_object *
repository_body(const char *repo, const char *digest)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "repository", json_object_new_string(repo));
	if (digest != NULL)
		json_object_object_add(o, "digest", json_object_new_string(digest));
	return o;
}

/* POSTs body (taken) to target. */
static void
post(struct http_txn *txn, const char *target, json_object *body, meta_cb cb, void *arg)
{
	meta_call(txn, "POST", target, body, cb, arg);
	json_object_put(body);
}

void
meta_blob_get(struct http_txn *txn, const char *repo, const char *digest, meta_cb cb, void *arg)
{
	blob_call(txn, "GET", repo, digest, cb, arg);
}

/* DELETE of a blob: asks metad to unlink it from the repository. */
void
meta_blob_unlink(struct http_txn *txn, const char *repo, const char *digest, meta_cb cb, void *arg)
{
	blob_call(txn, "DELETE", repo, digest, cb, arg);
}

/* A finished upload: asks metad to link the blob to the repository, creating it on first push. */
void
meta_blob_link(struct http_txn *txn, const char *repo, const char *digest, int64_t size, meta_cb cb,
               void *arg)
{
	json_object *o = repository_body(repo, digest);
	json_object_object_add(o, "size", json_object_new_int64(size));
	post(txn, WIRE_PATH_BLOBS, o, cb, arg);
}

/* A mount: asks metad to link a blob the caller may read elsewhere, without copying it. */
void
meta_mount(struct http_txn *txn, const char *repo, const char *digest, const char *from, meta_cb cb,
           void *arg)
{
	json_object *o = repository_body(repo, digest);
	json_object_object_add(o, "from", js_new_str_or_null(from));
	post(txn, WIRE_PATH_MOUNTS, o, cb, arg);
}

/* Asks metad whether the caller may push to the repository before an upload starts. */
void
meta_push_check(struct http_txn *txn, const char *repo, meta_cb cb, void *arg)
{
	post(txn, WIRE_PATH_UPLOADS, repository_body(repo, NULL), cb, arg);
}

void
meta_blob_stored(const char *digest, int64_t stored, meta_cb cb, void *arg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "digest", json_object_new_string(digest));
	json_object_object_add(o, "stored", json_object_new_int64(stored));
	post(NULL, WIRE_PATH_BLOBS_STORED, o, cb, arg);
}

void
meta_blob_tally(meta_cb cb, void *arg)
{
	meta_call(NULL, "GET", WIRE_PATH_BLOBS_TALLY, NULL, cb, arg);
}

/* A JSON array of digests (n of them). */
static json_object *
digest_array(char *const *digests, size_t n)
{
	json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(digests[i]));
	return a;
}

void
meta_gc_claim(const char *host, int limit, meta_cb cb, void *arg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "limit", json_object_new_int(limit));
	post(NULL, WIRE_PATH_GC_CLAIM, o, cb, arg);
}

void
meta_gc_done(const char *host, char *const *digests, size_t n, meta_cb cb, void *arg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "digests", digest_array(digests, n));
	post(NULL, WIRE_PATH_GC_DONE, o, cb, arg);
}

void
meta_gc_orphans(char *const *digests, size_t n, meta_cb cb, void *arg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "digests", digest_array(digests, n));
	post(NULL, WIRE_PATH_GC_ORPHANS, o, cb, arg);
}

void
meta_upload_create(struct http_txn *txn, json_object *body, meta_cb cb, void *arg)
{
	meta_call(txn, "POST", WIRE_PATH_UPLOAD_SESSIONS, body, cb, arg);
}

void
meta_upload_get(struct http_txn *txn, const char *id, meta_cb cb, void *arg)
{
	char *target = xasprintf(WIRE_PATH_UPLOAD_SESSIONS "/%s", id);
	meta_call(txn, "GET", target, NULL, cb, arg);
	free(target);
}

void
meta_upload_reserve(struct http_txn *txn, const char *id, const char *holder, int64_t version,
                    size_t parts, meta_cb cb, void *arg)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "holder", json_object_new_string(holder));
	json_object_object_add(o, "version", json_object_new_int64(version));
	json_object_object_add(o, "parts", json_object_new_int64((int64_t)parts));
	char *target = xasprintf(WIRE_PATH_UPLOAD_SESSIONS "/%s/reserve", id);
	post(txn, target, o, cb, arg);
	free(target);
}

void
meta_upload_save(struct http_txn *txn, const char *id, json_object *body, meta_cb cb, void *arg)
{
	char *target = xasprintf(WIRE_PATH_UPLOAD_SESSIONS "/%s/save", id);
	meta_call(txn, "POST", target, body, cb, arg);
	free(target);
}

void
meta_upload_delete(struct http_txn *txn, const char *id, int64_t version, meta_cb cb, void *arg)
{
	char *target = version > 0 ? xasprintf(WIRE_PATH_UPLOAD_SESSIONS "/%s?version=%lld", id,
	                                       (long long)version)
	                           : xasprintf(WIRE_PATH_UPLOAD_SESSIONS "/%s", id);
	meta_call(txn, "DELETE", target, NULL, cb, arg);
	free(target);
}

void
meta_upload_stale(int64_t older_than, meta_cb cb, void *arg)
{
	char *target =
	        xasprintf(WIRE_PATH_UPLOAD_SESSIONS "?older_than=%lld", (long long)older_than);
	meta_call(NULL, "GET", target, NULL, cb, arg);
	free(target);
}

void
meta_relay_error(struct http_txn *txn, int status, struct evbuffer *raw)
{
	struct http_headers h;
	v2reply_headers_init(&h);
	if (status < 0 || status >= 500 || raw == NULL || evbuffer_get_length(raw) == 0) {
		headers_add(&h, "Retry-After", "5");
		error_oci(txn, 503, OCI_UNAVAILABLE, "metadata service unavailable", &h);
	} else {
		headers_add(&h, "Content-Type", "application/json");
		http_txn_respond_buf(txn, status, &h, raw);
	}
	headers_clear(&h);
}

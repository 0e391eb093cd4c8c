/*
 * Blob reads and deletes. A read asks metad whether the repository links the blob (a digest
 * alone reads nothing), then opens it in the store (store_read) and, for the gateway, passes the
 * descriptor of a plain file so the gateway sendfile()s it (Range included); other callers,
 * every read of a compressed file (zstream.c) and of an S3 object get the bytes (or a range)
 * from blobd itself (store_send). With [blobd] redirect, a GET of a blob the repository links is
 * answered 307 to a pre-signed URL of its S3 object instead.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobd.h"
#include "rest.h"
#include "errors.h"
#include "headers.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "range.h"
#include "util.h"
#include "wire.h"

struct blob_req {
	struct http_txn *txn;
	char *name;
	char *digest;
	int64_t size; /* metad's */
};

/* Frees a blob request. */
static void
blob_req_free(struct blob_req *b)
{
	free(b->name);
	free(b->digest);
	free(b);
}

/* Serves the blob f (taken): headers only for HEAD; for the gateway, the descriptor of a plain
 * file; else the bytes or the requested range (decompressed from a compressed file, streamed
 * from an S3 object). */
static void
serve(struct blob_req *b, struct store_file *f)
{
	struct http_txn *txn = b->txn;
	struct http_request *req = http_txn_request(txn);
	int64_t size = f->size;
	struct http_headers h;
	v2reply_headers_init(&h);
	char etag[DIGEST_STR_MAX + 2];
	snprintf(etag, sizeof(etag), "\"%s\"", b->digest);
	headers_add(&h, "Content-Type", "application/octet-stream");
	headers_add(&h, "Docker-Content-Digest", b->digest);
	headers_add(&h, "Etag", etag);
	headers_add(&h, "Accept-Ranges", "bytes");
	/* content-addressed: the bytes behind a digest never change */
	headers_add(&h, "Cache-Control", "max-age=31536000");
	if (strcmp(req->method, "HEAD") == 0) {
		if (f->fd >= 0)
			close(f->fd);
		http_txn_start_response(txn, 200, &h, size);
		http_txn_end_response(txn);
	} else if (f->form == STORE_PLAIN && f->fd >= 0 &&
	           headers_get(&req->headers, WIRE_WANT_FD) != NULL) {
		headers_add(&h, WIRE_FD, "1");
		http_txn_respond_fd(txn, 200, &h, f->fd);
		close(f->fd);
	} else {
		int64_t start = 0, len = size;
		int status = 200;
		switch (range_parse(headers_get(&req->headers, "Range"), size, &start, &len)) {
		case RANGE_SATISFIABLE: {
			char cr[96];
			snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)start,
			         (long long)(start + len - 1), (long long)size);
			headers_add(&h, "Content-Range", cr);
			status = 206;
			break;
		}
		case RANGE_UNSATISFIABLE: {
			if (f->fd >= 0)
				close(f->fd);
			char cr[64];
			snprintf(cr, sizeof(cr), "bytes */%lld", (long long)size);
			headers_add(&h, "Content-Range", cr);
			error_oci(txn, 416, OCI_RANGE_INVALID, "requested range not satisfiable",
			          &h);
			headers_clear(&h);
			return;
		}
		case RANGE_NONE:
			break;
		}
		store_send(txn, b->digest, status, &h, f, start, len);
	}
	headers_clear(&h);
}

/* The store opened the blob: serve it, or say why not. */
static void
opened(int rc, int err, const char *cause, struct store_file *f, void *arg)
{
	struct blob_req *b = arg;
	if (rc < 0 && err == ENOENT) {
		/* metadata names a blob that is not stored: say so loudly, answer unknown */
		log_error("blob %s linked in %s but not stored: %s", b->digest, b->name,
		          cause != NULL ? cause : strerror(err));
		v2reply_error(b->txn, 404, OCI_BLOB_UNKNOWN, NULL, b->digest);
	} else if (rc < 0) {
		log_error("blob %s of %s unreadable: %s", b->digest, b->name,
		          cause != NULL ? cause : strerror(err));
		v2reply_error(b->txn, 503, OCI_UNAVAILABLE, "blob storage unavailable", b->digest);
	} else if (f->size != b->size) {
		if (f->fd >= 0)
			close(f->fd);
		log_error("blob %s holds %lld bytes in storage, %lld in the metadata", b->digest,
		          (long long)f->size, (long long)b->size);
		v2reply_error(b->txn, 500, OCI_UNKNOWN, "blob storage is inconsistent", b->digest);
	} else {
		serve(b, f);
	}
	blob_req_free(b);
}

/* Answers a GET with 307 to a URL of the blob that expires; false when the store has none. */
static bool
redirect(struct blob_req *b)
{
	char *url = store_url(b->digest, bd.redirect_expiry);
	if (url == NULL)
		return false;
	struct http_headers h;
	v2reply_headers_init(&h);
	headers_add(&h, "Location", url);
	headers_add(&h, "Docker-Content-Digest", b->digest);
	/* the URL expires: no cache may keep the answer */
	headers_add(&h, "Cache-Control", "no-store");
	http_txn_respond(b->txn, 307, &h, NULL, 0);
	headers_clear(&h);
	free(url);
	return true;
}

/* metad's answer to "does this repository link the blob": serve the blob (or redirect to it), or
 * the error. Only a linked blob is ever read or named by a URL. */
static void
looked_up(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct blob_req *b = arg;
	if (status != 200 || !js_int(body, "size", &b->size)) {
		meta_relay_error(b->txn, status == 200 ? -1 : status, raw);
		blob_req_free(b);
		return;
	}
	if (bd.redirect && strcmp(http_txn_request(b->txn)->method, "GET") == 0 && redirect(b)) {
		blob_req_free(b);
		return;
	}
	bool get = strcmp(http_txn_request(b->txn)->method, "GET") == 0;
	store_read(b->digest, b->size, !get, opened, b);
}

/* metad's answer to a blob DELETE. */
static void
unlinked(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct blob_req *b = arg;
	if (status == 204) {
		struct http_headers h;
		v2reply_headers_init(&h);
		headers_add(&h, "Docker-Content-Digest", b->digest);
		http_txn_respond(b->txn, 202, &h, NULL, 0);
		headers_clear(&h);
	} else {
		meta_relay_error(b->txn, status, raw);
	}
	blob_req_free(b);
	(void)body;
}

/* Starts a blob request on :name and :digest; NULL once answered (a bad digest). */
static struct blob_req *
blob_req_new(struct rest_req *r)
{
	struct http_txn *txn = r->txn;
	const char *digest = rest_param(r, "digest");
	if (!name_valid_digest(digest)) {
		v2reply_error(txn, 400, OCI_DIGEST_INVALID, NULL,
		              name_well_formed_digest(digest) ? "unsupported digest algorithm"
		                                              : "malformed digest");
		return NULL;
	}
	struct blob_req *b = xcalloc(1, sizeof(*b));
	b->txn = txn;
	b->name = xstrdup(rest_param(r, "name"));
	b->digest = xstrdup(digest);
	return b;
}

void
blobs_get(struct rest_req *r)
{
	struct blob_req *b = blob_req_new(r);
	if (b != NULL)
		meta_blob_get(r->txn, b->name, b->digest, looked_up, b);
}

void
blobs_delete(struct rest_req *r)
{
	struct blob_req *b = blob_req_new(r);
	if (b != NULL)
		meta_blob_unlink(r->txn, b->name, b->digest, unlinked, b);
}

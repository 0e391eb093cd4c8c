/*
 * Blob reads and deletes. A read asks metad whether the repository links the blob (a digest
 * alone reads nothing), opens the stored file and, for the gateway, passes the descriptor of a
 * plain file so the gateway sendfile()s it (Range included); other callers, and every read of a
 * compressed file (zstream.c), get the bytes (or a range) from blobd itself.
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
};

/* Frees a blob request. */
static void
blob_req_free(struct blob_req *b)
{
	free(b->name);
	free(b->digest);
	free(b);
}

/* Serves the blob file f (taken): headers only for HEAD; for the gateway, the descriptor of a
 * plain file; else the bytes or the requested range (decompressed from a compressed file). */
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
		close(f->fd);
		http_txn_start_response(txn, 200, &h, size);
		http_txn_end_response(txn);
	} else if (f->form == STORE_PLAIN && headers_get(&req->headers, WIRE_WANT_FD) != NULL) {
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
		if (f->form == STORE_ZSTD) {
			zstream_send(txn, b->digest, status, &h, f, start, len);
		} else {
			http_txn_start_response(txn, status, &h, len);
			http_txn_write_file(txn, f->fd, (off_t)start, (off_t)len);
			http_txn_end_response(txn);
		}
	}
	headers_clear(&h);
}

/* metad's answer to "does this repository link the blob": serve the file or the error. */
static void
looked_up(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct blob_req *b = arg;
	int64_t size;
	if (status != 200 || !js_int(body, "size", &size)) {
		meta_relay_error(b->txn, status == 200 ? -1 : status, raw);
		goto out;
	}
	struct store_file f;
	if (store_open(b->digest, &f) < 0) {
		/* metadata names a file that is not there: say so loudly, answer unknown */
		log_error("blob %s linked in %s but not stored: %s", b->digest, b->name,
		          strerror(errno));
		v2reply_error(b->txn, 404, OCI_BLOB_UNKNOWN, NULL, b->digest);
		goto out;
	}
	if (f.size != size) {
		close(f.fd);
		log_error("blob %s holds %lld bytes on disk, %lld in the metadata", b->digest,
		          (long long)f.size, (long long)size);
		v2reply_error(b->txn, 500, OCI_UNKNOWN, "blob storage is inconsistent", b->digest);
		goto out;
	}
	serve(b, &f);
out:
	blob_req_free(b);
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

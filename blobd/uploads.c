/*
 * Blob uploads, as the distribution spec describes them:
 *   POST   /v2/<name>/blobs/uploads/                 start a session (202)
 *   POST   ...?digest=<d>                            monolithic: the body is the blob (201)
 *   POST   ...?mount=<d>&from=<repo>                 link a blob readable elsewhere (201), or
 *                                                    start a session when that is not possible
 *   PATCH  /v2/<name>/blobs/uploads/<id>             append a chunk (Content-Range) or a stream
 *   PUT    /v2/<name>/blobs/uploads/<id>?digest=<d>  append the last bytes (optional), verify,
 *                                                    store, link (201)
 *   GET    /v2/<name>/blobs/uploads/<id>             progress (204 with Range)
 *   DELETE /v2/<name>/blobs/uploads/<id>             cancel (204)
 * Bytes are hashed as they arrive; the blob becomes visible only once its digest is verified and
 * it is durably in place, and then metad links it into the repository.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
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
#include "url.h"
#include "uploads.h"
#include "util.h"

/* Links refused because the blob's file was being deleted (409 blob_deleting) are made again,
 * storing the file again first, after 0.1, 0.2, 0.4 ... 2 s; past this many the client gets 503. */
#define LINK_ATTEMPTS 10

static void linked(int status, json_object *body, struct evbuffer *raw, void *arg);
static int place(struct upload_req *u);

/* Frees an upload request (not its session). */
void
upload_req_free(struct upload_req *u)
{
	free(u->name);
	free(u->id);
	free(u->digest);
	free(u->mount);
	free(u->from);
	free(u->cause);
	if (u->relink != NULL)
		event_free(u->relink);
	free(u);
}

/* ---- answers --------------------------------------------------------------------------------- */

/* Location, Range and Docker-Upload-UUID: where the session is and what it holds. */
static void
progress_headers(struct http_headers *h, const char *name, const struct session *s)
{
	char *loc = xasprintf("/v2/%s/blobs/uploads/%s", name, s->id);
	char range[48];
	snprintf(range, sizeof(range), "0-%lld", (long long)(s->offset > 0 ? s->offset - 1 : 0));
	headers_add(h, "Location", loc);
	headers_add(h, "Range", range);
	headers_add(h, "Docker-Upload-UUID", s->id);
	free(loc);
}

/* Answers status with where the session stands. */
void
upload_respond_progress(struct http_txn *txn, int status, const char *name, const struct session *s)
{
	struct http_headers h;
	v2reply_headers_init(&h);
	progress_headers(&h, name, s);
	http_txn_respond(txn, status, &h, NULL, 0);
	headers_clear(&h);
}

/* 201: the blob is in the repository. */
static void
respond_created(struct http_txn *txn, const char *name, const char *digest)
{
	struct http_headers h;
	v2reply_headers_init(&h);
	char *loc = xasprintf("/v2/%s/blobs/%s", name, digest);
	headers_add(&h, "Location", loc);
	headers_add(&h, "Docker-Content-Digest", digest);
	http_txn_respond(txn, 201, &h, NULL, 0);
	headers_clear(&h);
	free(loc);
}

/* A failure to store: 507 when the storage is full (err ENOSPC or EDQUOT), else 500 what. */
void
upload_respond_store_failure(struct http_txn *txn, int err, const char *what)
{
	if (store_no_space(err))
		v2reply_error(txn, 507, OCI_UNKNOWN, "storage is full", NULL);
	else
		v2reply_error(txn, 500, OCI_UNKNOWN, what, NULL);
}

/* Answers a session that could not be opened. */
void
upload_respond_session_status(struct http_txn *txn, enum session_status st)
{
	switch (st) {
	case SESSION_UNKNOWN:
		v2reply_error(txn, 404, OCI_BLOB_UPLOAD_UNKNOWN, NULL, NULL);
		break;
	case SESSION_BUSY:
		v2reply_error(txn, 400, OCI_BLOB_UPLOAD_INVALID,
		              "another request is writing to this upload", NULL);
		break;
	case SESSION_ERROR:
	case SESSION_OK:
		v2reply_error(txn, 500, OCI_UNKNOWN, "upload session unreadable", NULL);
		break;
	}
}

/* 416 RANGE_INVALID with where the session stands, so the client knows where to go on. */
static void
refuse_range(struct upload_req *u, const char *detail)
{
	struct http_headers h;
	v2reply_headers_init(&h);
	progress_headers(&h, u->name, u->s);
	headers_add(&h, "Content-Type", "application/json");
	char *body = error_oci_body(OCI_RANGE_INVALID, NULL, detail);
	http_txn_respond(u->txn, 416, &h, body, strlen(body));
	free(body);
	headers_clear(&h);
}

/* Checks a chunk's Content-Range against the session; sets *expect to the chunk's length (-1
 * without a range). -1 after answering. */
int
upload_check_range(struct upload_req *u, int64_t *expect)
{
	struct http_request *req = http_txn_request(u->txn);
	const char *cr = headers_get(&req->headers, "Content-Range");
	*expect = -1;
	if (cr == NULL)
		return 0;
	int64_t start, end;
	if (range_content_parse(cr, &start, &end) < 0) {
		refuse_range(
		        u, "Content-Range must be <start>-<end> with 0 <= start <= end < 2^63 - 1");
		return -1;
	}
	if (start != u->s->offset) {
		/* out of order: tell where the session stands */
		char *detail = xasprintf("the upload holds %lld bytes; a chunk must start there",
		                         (long long)u->s->offset);
		refuse_range(u, detail);
		free(detail);
		return -1;
	}
	/* end - start + 1 cannot overflow: 0 <= start <= end < INT64_MAX */
	int64_t len = end - start + 1;
	if (req->content_length >= 0 && req->content_length != len) {
		v2reply_error(u->txn, 400, OCI_SIZE_INVALID, NULL,
		              "Content-Length does not match Content-Range");
		return -1;
	}
	*expect = len;
	return 0;
}

/* ---- finishing: verify, store, link ---------------------------------------------------------- */

/* Pool thread: removes the session (and closes it). */
void
upload_job_destroy(void *arg)
{
	session_destroy(arg);
}

/* Pool thread: cuts the session back to what was acknowledged (and closes it). */
static void
job_rewind(void *arg)
{
	session_rewind(arg);
}

/* Pool thread: puts the verified upload in place as the blob's file (kept when it is there). */
static int
place(struct upload_req *u)
{
	bool created;
	if (u->s->remote)
		return rsession_place(u->s, u->digest, &created, &u->cause);
	char *src = session_data_path(u->s);
	int rc = store_commit(src, u->digest, bd.fsync, &created, &u->cause);
	free(src);
	return rc;
}

/* Pool thread: the final digest; on a match, fsync and put the file in place; on a mismatch,
 * throw the bytes away. */
void
upload_job_finish(void *arg)
{
	struct upload_req *u = arg;
	enum digest_algo algo;
	const char *hex;
	name_split_digest(u->digest, &algo, &hex);
	if (u->s->remote) {
		/* the last bytes go to S3; the digest matched already (remote_put) unless it is in
		 * another algorithm: then the bytes are read back; then in place */
		if (rsession_flush(u->s, true, &u->cause) < 0 ||
		    (u->rehash && rsession_digest(u->s, algo, u->computed, &u->cause) < 0)) {
			u->err = errno;
			return;
		}
		if (u->rehash && strcmp(u->computed, u->digest) != 0) {
			u->mismatch = true;
			return;
		}
		if (gc_placing(u->digest, bd.fsync, &u->cause) == 0 && place(u) == 0)
			u->verified = true;
		else
			u->err = errno;
		return;
	}
	if (session_digest(u->s, algo, u->computed, &u->cause) < 0) {
		u->err = errno;
		return;
	}
	if (strcmp(u->computed, u->digest) != 0) {
		session_destroy(u->s);
		u->s = NULL;
		return;
	}
	if (bd.fsync && fdatasync(u->s->fd) < 0) {
		u->err = errno;
		u->cause = xasprintf("fsync of upload %s: %s", u->s->id, strerror(u->err));
		return;
	}
	/* the placement journal first: a file whose link never comes is found and deleted */
	if (gc_placing(u->digest, bd.fsync, &u->cause) == 0 && place(u) == 0)
		u->verified = true;
	else
		u->err = errno;
}

/* Pool thread, once metad linked the blob: its file is there (a deletion of the digest's file,
 * claimed before the link made the row again, may have finished after it was placed: then it
 * is placed again, before anyone is told the blob exists), and its journal entry goes. */
static void
job_settle(void *arg)
{
	struct upload_req *u = arg;
	u->verified = place(u) == 0;
	if (u->verified)
		gc_placed(u->digest);
	else
		u->err = errno;
}

/* In the loop after job_settle: 201, and the session goes. */
static void
settled(void *arg)
{
	struct upload_req *u = arg;
	if (u->verified) {
		log_info("blob %s (%lld bytes) stored in %s", u->digest, (long long)u->s->offset,
		         u->name);
		respond_created(u->txn, u->name, u->digest);
		/* after the answer, in the background: the client does not wait for it (a file
		 * stored before, plain, is examined again: its compression may have been cut short)
		 */
		compress_blob(u->digest);
	} else {
		log_error("upload %s: %s", u->s->id, u->cause ? u->cause : "cannot store the blob");
		upload_respond_store_failure(u->txn, u->err, "cannot store the blob");
	}
	upload_drop_session(u->s);
	upload_req_free(u);
}

/* Timer: links the blob again (its file was being deleted). */
static void
relink(evutil_socket_t fd, short what, void *arg)
{
	struct upload_req *u = arg;
	meta_blob_link(u->txn, u->name, u->digest, u->s->offset, linked, u);
	(void)fd;
	(void)what;
}

/* The blob's file is being deleted: link again a little later (and store it again then). */
static void
link_later(struct upload_req *u)
{
	int ms = 100 << (u->link_attempts < 5 ? u->link_attempts : 5);
	if (ms > 2000)
		ms = 2000;
	u->link_attempts++;
	if (u->relink == NULL)
		u->relink = evtimer_new(bd.base, relink, u);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(u->relink, &tv);
}

/* In the loop after upload_job_finish(): answer a mismatch or an error, or have metad link the
 * blob. */
void
upload_finished(void *arg)
{
	struct upload_req *u = arg;
	if (u->s == NULL || u->mismatch) {
		log_info("upload to %s: digest %s, client said %s", u->name, u->computed,
		         u->digest);
		v2reply_error(u->txn, 400, OCI_DIGEST_INVALID, NULL, u->computed);
		if (u->s != NULL)
			upload_drop_session(
			        u->s); /* the session's objects go with it, as on a disk */
		upload_req_free(u);
		return;
	}
	if (!u->verified) {
		log_error("upload %s: %s", u->s->id, u->cause ? u->cause : "cannot store the blob");
		upload_respond_store_failure(u->txn, u->err, "cannot store the blob");
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	meta_blob_link(u->txn, u->name, u->digest, u->s->offset, linked, u);
}

/* metad's answer to linking the stored blob: 201 (once its file is surely there), a link again
 * later while the digest's file is being deleted, or the refusal; the session goes then. */
static void
linked(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	(void)body;
	if (status == 201) {
		jobs_submit(job_settle, settled, u);
		return;
	}
	if (status == 409 && u->link_attempts < LINK_ATTEMPTS) {
		link_later(u);
		return;
	}
	if (status == 409) {
		struct http_headers h;
		v2reply_headers_init(&h);
		headers_add(&h, "Retry-After", "5");
		error_oci(u->txn, 503, OCI_UNAVAILABLE,
		          "the blob's file is being deleted; push again", &h);
		headers_clear(&h);
	} else {
		meta_relay_error(u->txn, status, raw);
	}
	/* the blob file is in place (or was already): the session has served its purpose */
	upload_drop_session(u->s);
	upload_req_free(u);
}

/* Pool thread: saves the session's progress (a PATCH done, or cut short). */
static void
job_save(void *arg)
{
	struct upload_req *u = arg;
	if (session_save(u->s, bd.fsync, &u->cause) < 0) {
		u->err = errno;
		u->verified = false;
	} else
		u->verified = true;
}

/* In the loop after a PATCH's progress is saved: 202 with the new Range. */
static void
saved(void *arg)
{
	struct upload_req *u = arg;
	if (!u->verified) {
		log_error("upload %s: %s", u->s->id, u->cause);
		upload_respond_store_failure(u->txn, u->err, "cannot save the upload's progress");
	} else {
		upload_respond_progress(u->txn, 202, u->name, u->s);
	}
	session_close(u->s);
	upload_req_free(u);
}

/* The body of a PATCH, PUT or monolithic POST is written. */
static void
written(enum writer_result r, const char *cause, void *arg)
{
	struct upload_req *u = arg;
	switch (r) {
	case WRITER_OK:
		if (u->s->remote)
			u->op == OP_PATCH ? upload_remote_send(u) : upload_remote_put(u);
		else if (u->op == OP_PATCH)
			jobs_submit(job_save, saved, u);
		else
			jobs_submit(upload_job_finish, upload_finished, u);
		return;
	case WRITER_ABORTED:
		/* the bytes that arrived are good: keep them for a resumed upload (the answer goes
		 * nowhere) */
		if (u->op != OP_POST && u->s->remote) {
			upload_remote_send(u);
			return;
		}
		if (u->op != OP_POST) {
			jobs_submit(job_save, saved, u);
			return;
		}
		v2reply_error(u->txn, 400, OCI_BLOB_UPLOAD_INVALID, NULL, NULL);
		jobs_submit(upload_job_destroy, NULL, u->s);
		break;
	case WRITER_SIZE:
		v2reply_error(u->txn, 400, OCI_SIZE_INVALID, NULL,
		              "the body is not as long as announced");
		session_close(u->s);
		break;
	case WRITER_ANSWERED:
		session_close(u->s); /* refused by metad while streaming: nothing of it counts */
		break;
	case WRITER_IO_ERROR:
		log_error("upload %s: %s", u->s->id, cause);
		v2reply_error(u->txn, 500, OCI_UNKNOWN, "cannot write the upload", NULL);
		session_close(u->s);
		break;
	case WRITER_NO_SPACE:
		/* the bytes past the last saved state go, giving their room back: a monolithic
		 * upload's session entirely (no client can resume it), a PATCH's or PUT's back to
		 * what was acknowledged (the client may go on from there) */
		log_error("upload %s: %s", u->s->id, cause);
		upload_respond_store_failure(u->txn, ENOSPC, "cannot write the upload");
		jobs_submit(u->op == OP_POST ? upload_job_destroy : job_rewind, NULL, u->s);
		break;
	}
	upload_req_free(u);
}

/* ---- POST ------------------------------------------------------------------------------------ */

/* Creates the session of a POST; answers 202, or streams a monolithic body into it. */
static void
post_start(struct upload_req *u)
{
	enum digest_algo algo = DIGEST_SHA256;
	const char *hex;
	if (u->digest != NULL)
		name_split_digest(u->digest, &algo, &hex);
	if (bd.s3 != NULL && u->digest == NULL) {
		upload_remote_create(u); /* a session any node continues */
		return;
	}
	char *cause = NULL;
	u->s = session_create(u->name, &u->grant, algo, &cause);
	if (u->s == NULL) {
		int err = errno;
		log_error("%s", cause);
		free(cause);
		upload_respond_store_failure(u->txn, err, "cannot start an upload");
		upload_req_free(u);
		return;
	}
	if (u->digest == NULL) {
		upload_respond_progress(u->txn, 202, u->name, u->s);
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	struct http_request *req = http_txn_request(u->txn);
	writer_start(u->txn, u->s, req->content_length >= 0 ? req->content_length : -1, false,
	             written, u);
}

/* metad's answer to "may a push start here". */
static void
push_checked(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	if (status != 204) {
		meta_relay_error(u->txn, status, raw);
		upload_req_free(u);
		return;
	}
	post_start(u);
	(void)body;
}

/* metad's answer to a mount: 201, a refusal, or an ordinary upload instead. */
static void
mounted(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	if (status == 201) {
		respond_created(u->txn, u->name, u->mount);
		upload_req_free(u);
		return;
	}
	if (status == 403) {
		meta_relay_error(u->txn, status, raw);
		upload_req_free(u);
		return;
	}
	/* nothing to mount: an ordinary upload starts, as the spec asks */
	free(u->mount);
	u->mount = NULL;
	meta_push_check(u->txn, u->name, push_checked, u);
	(void)body;
}

/* POST: reads digest, mount and from, then mounts or starts an upload. */
static void
handle_post(struct upload_req *u)
{
	const char *query = http_txn_request(u->txn)->query;
	u->digest = query_get(query, "digest");
	u->mount = query_get(query, "mount");
	u->from = query_get(query, "from");
	if (u->digest != NULL && !name_valid_digest(u->digest)) {
		v2reply_error(u->txn, 400, OCI_DIGEST_INVALID, NULL, u->digest);
		upload_req_free(u);
		return;
	}
	if (u->from != NULL && !name_valid_repository(u->from)) {
		free(u->from);
		u->from = NULL;
		free(u->mount); /* a bad source mounts nothing */
		u->mount = NULL;
	}
	if (u->mount != NULL && name_valid_digest(u->mount) && u->digest == NULL) {
		meta_mount(u->txn, u->name, u->mount, u->from, mounted, u);
		return;
	}
	free(u->mount);
	u->mount = NULL;
	meta_push_check(u->txn, u->name, push_checked, u);
}

/* ---- requests on a session ------------------------------------------------------------------- */

/* PATCH: checks the chunk against the session and streams it in. */
void
upload_handle_patch(struct upload_req *u)
{
	int64_t expect;
	if (upload_check_range(u, &expect) < 0) {
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	/* a streamed PATCH (no range) saves its progress as it goes, so a cut one resumes (a
	 * session in S3 saves what arrived when the PATCH ends, cut short or not) */
	writer_start(u->txn, u->s, expect, expect < 0 && !u->s->remote, written, u);
}

/* PUT: streams the optional last chunk in, then verifies and stores. */
void
upload_handle_put(struct upload_req *u)
{
	int64_t expect;
	if (upload_check_range(u, &expect) < 0) {
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	writer_start(u->txn, u->s, expect, false, written, u);
}

/* In the loop after a cancelled session is removed: 204. */
void
upload_cancelled(void *arg)
{
	struct upload_req *u = arg;
	struct http_headers h;
	v2reply_headers_init(&h);
	http_txn_respond(u->txn, 204, &h, NULL, 0);
	headers_clear(&h);
	upload_req_free(u);
}

/* Pool thread: removes the cancelled session. */
static void
job_cancel(void *arg)
{
	struct upload_req *u = arg;
	session_destroy(u->s);
	u->s = NULL;
}

/* Starts an upload request of op on :name (and :uuid). */
static struct upload_req *
upload_req_new(struct rest_req *r, enum upload_op op)
{
	struct upload_req *u = xcalloc(1, sizeof(*u));
	u->txn = r->txn;
	u->op = op;
	u->name = xstrdup(rest_param(r, "name"));
	u->grant = r->actor.grant;
	const char *id = rest_param(r, "uuid");
	u->id = id != NULL ? xstrdup(id) : NULL;
	return u;
}

/* Opens the session of u (locked unless only its progress is asked) and runs op on it. */
static void
upload_resume(struct upload_req *u)
{
	struct http_txn *txn = u->txn;
	if (bd.s3 != NULL) {
		upload_remote_resume(u);
		return;
	}
	enum session_status st = session_open(u->id, u->name, &u->grant, u->op != OP_STATUS, &u->s);
	if (st != SESSION_OK) {
		upload_respond_session_status(txn, st);
		upload_req_free(u);
		return;
	}
	switch (u->op) {
	case OP_PATCH:
		upload_handle_patch(u);
		break;
	case OP_PUT:
		upload_handle_put(u);
		break;
	case OP_STATUS:
		upload_respond_progress(txn, 204, u->name, u->s);
		session_close(u->s);
		upload_req_free(u);
		break;
	case OP_CANCEL:
		jobs_submit(job_cancel, upload_cancelled, u);
		break;
	case OP_POST:
		fatal("unreachable upload op");
	}
}

void
uploads_start(struct rest_req *r)
{
	handle_post(upload_req_new(r, OP_POST));
}

void
uploads_progress(struct rest_req *r)
{
	upload_resume(upload_req_new(r, OP_STATUS));
}

void
uploads_append(struct rest_req *r)
{
	upload_resume(upload_req_new(r, OP_PATCH));
}

void
uploads_finish(struct rest_req *r)
{
	struct upload_req *u = upload_req_new(r, OP_PUT);
	u->digest = query_get(http_txn_request(r->txn)->query, "digest");
	if (u->digest == NULL || !name_valid_digest(u->digest)) {
		v2reply_error(r->txn, 400, OCI_DIGEST_INVALID, NULL,
		              u->digest == NULL ? "the digest parameter is missing"
		                                : "invalid or unsupported digest");
		upload_req_free(u);
		return;
	}
	upload_resume(u);
}

void
uploads_cancel(struct rest_req *r)
{
	upload_resume(upload_req_new(r, OP_CANCEL));
}

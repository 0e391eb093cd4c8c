/*
 * Blob upload sessions with storage = s3 (uploads.c has the requests): the session is a row in
 * the database behind metad and a multipart upload in S3 (rsession.c), so that any node goes on
 * with it. A POST makes both; a PATCH or PUT loads the row, reserves part numbers at the row's
 * version (a second writer of that version is refused before it reads a byte), streams its bytes
 * after the session's tail through a spool of about a part, each part sent as it fills (more
 * numbers reserved as the body grows), then its last parts and new tail, and saves the row if it
 * is still at its version (a request that took the session over since wins).
 */
#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "blobd.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "s3.h"
#include "uploads.h"
#include "util.h"

/* How many times a request asks again for a session another request holds, a second apart (the
 * hold of a writer that died lapses after 15 seconds). */
#define HOLD_TRIES 16

static void reserve_again(evutil_socket_t fd, short what, void *arg);

/* Pool thread: a finished or cancelled session's objects go. */
static void
job_discard(void *arg)
{
	rsession_discard(arg);
}

/* metad's answer to a deletion nobody waits for. */
static void
ignore_answer(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	(void)status;
	(void)body;
	(void)raw;
	(void)arg;
}

/* The session has served its purpose: its files, or its row and objects, go. */
void
upload_drop_session(struct session *s)
{
	if (!s->remote) {
		jobs_submit(upload_job_destroy, NULL, s);
		return;
	}
	meta_upload_delete(NULL, s->id, 0, ignore_answer, NULL);
	jobs_submit(job_discard, NULL, s);
}

/* The answer to an abort nobody waits for. */
static void
ignore_s3(const struct s3_result *r, void *arg)
{
	if (!r->ok)
		log_warn("%s (the purge aborts it later)", r->cause);
	free(arg);
}

/* metad's answer to recording a new session: 202, or the refusal (its multipart upload goes). */
static void
remote_recorded(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	(void)body;
	if (status == 201) {
		upload_respond_progress(u->txn, 202, u->name, u->s);
	} else {
		meta_relay_error(u->txn, status, raw);
		char *name = rsession_name(u->s->id, "data");
		s3_multipart_abort(bd.s3, name, u->s->upload_id, ignore_s3, name);
	}
	session_close(u->s);
	upload_req_free(u);
}

/* The session's multipart upload is made: its row next. */
static void
remote_mp_created(const struct s3_result *r, void *arg)
{
	struct upload_req *u = arg;
	if (!r->ok) {
		log_error("upload to %s: %s", u->name, r->cause);
		v2reply_error(u->txn, 503, OCI_UNAVAILABLE, "the blob store is unavailable", NULL);
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	u->s->upload_id = xstrdup(r->upload_id);
	json_object *o = rsession_create_body(u->s);
	meta_upload_create(u->txn, o, remote_recorded, u);
	json_object_put(o);
}

/* POST of a session in S3: its multipart upload, then its row. */
void
upload_remote_create(struct upload_req *u)
{
	u->s = rsession_new(u->name, &u->grant);
	char *name = rsession_name(u->s->id, "data");
	s3_multipart_create(bd.s3, name, remote_mp_created, u);
	free(name);
}

/* Pool thread: the request's spool, with the session's tail read back. */
static void
job_spool(void *arg)
{
	struct upload_req *u = arg;
	u->verified = rsession_spool(u->s, &u->cause) == 0;
	if (!u->verified)
		u->err = errno;
}

/* In the loop after the spool is ready: the PATCH or PUT goes on. */
static void
spooled(void *arg)
{
	struct upload_req *u = arg;
	if (!u->verified) {
		log_error("upload %s: %s", u->s->id, u->cause);
		upload_respond_store_failure(u->txn, u->err, "cannot read the upload back");
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	u->verified = false; /* from now on: whether the bytes are stored */
	if (u->op == OP_PATCH)
		upload_handle_patch(u);
	else
		upload_handle_put(u);
}

/* In the loop after a cancelled session's objects went: 204. */
static void
remote_cancelled(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	(void)body;
	if (status == 204) {
		jobs_submit(job_discard, NULL, u->s);
		upload_cancelled(u);
		return;
	}
	if (status == 404)
		upload_respond_session_status(u->txn, SESSION_UNKNOWN);
	else
		meta_relay_error(u->txn, status, raw);
	session_close(u->s);
	upload_req_free(u);
}

/* metad's answer to the hold a PATCH or PUT takes before its body: its spool next; while
 * another request holds the session (a writer streaming, or one that died whose hold has not
 * lapsed yet), it asks again every second for a while; or the refusal. */
static void
start_reserved(int status, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	if (status == 409 && u->hold_tries++ < HOLD_TRIES) {
		struct timeval second = { 1, 0 };
		event_base_once(bd.base, -1, EV_TIMEOUT, reserve_again, u, &second);
		return;
	}
	if (status != 200) {
		if (status == 409)
			upload_respond_session_status(u->txn, SESSION_BUSY);
		else
			rsession_refusal(u->txn, status, raw);
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	jobs_submit(job_spool, spooled, u);
}

/* The hold is asked for again (another request held the session). */
static void
reserve_again(evutil_socket_t fd, short what, void *arg)
{
	struct upload_req *u = arg;
	(void)fd;
	(void)what;
	rsession_reserve(u->txn, u->s, start_reserved, u);
}

/* metad's answer with the session's row: op runs on it. */
static void
remote_loaded(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	if (status == 404) {
		upload_respond_session_status(u->txn, SESSION_UNKNOWN);
		upload_req_free(u);
		return;
	}
	if (status != 200 || body == NULL) {
		meta_relay_error(u->txn, status, raw);
		upload_req_free(u);
		return;
	}
	enum session_status st = rsession_load(body, u->name, &u->grant, &u->s);
	if (st != SESSION_OK) {
		upload_respond_session_status(u->txn, st);
		upload_req_free(u);
		return;
	}
	switch (u->op) {
	case OP_STATUS:
		upload_respond_progress(u->txn, 204, u->name, u->s);
		session_close(u->s);
		upload_req_free(u);
		break;
	case OP_CANCEL:
		meta_upload_delete(u->txn, u->s->id, 0, remote_cancelled, u);
		break;
	case OP_PATCH:
	case OP_PUT: {
		int64_t expect;
		if (upload_check_range(u, &expect) < 0) { /* before the hold: nothing to hold */
			session_close(u->s);
			upload_req_free(u);
			break;
		}
		rsession_reserve(u->txn, u->s, start_reserved, u);
		break;
	}
	case OP_POST:
		fatal("unreachable upload op");
	}
}

/* A request on a session in S3: its row first. */
void
upload_remote_resume(struct upload_req *u)
{
	if (!session_id_valid(u->id)) {
		upload_respond_session_status(u->txn, SESSION_UNKNOWN);
		upload_req_free(u);
		return;
	}
	meta_upload_get(u->txn, u->id, remote_loaded, u);
}

/* Pool thread: a PATCH's full parts and its tail go to S3. */
static void
job_flush(void *arg)
{
	struct upload_req *u = arg;
	u->verified = rsession_flush(u->s, false, &u->cause) == 0;
	if (!u->verified)
		u->err = errno;
}

/* Pool thread: the tail object the row no longer names goes (the PATCH was saved). */
static void
job_drop_saved(void *arg)
{
	struct session *s = arg;
	rsession_drop_tail(s, true, s->tail_name);
}

/* Pool thread: the PATCH's own tail goes (it was not saved). */
static void
job_drop_unsaved(void *arg)
{
	rsession_drop_tail(arg, false, NULL);
}

/* metad's answer to saving a PATCH: 202 with the new Range, or the refusal (another request
 * moved the session first: nothing of this one counts). */
static void
remote_saved(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	(void)body;
	if (status == 200) {
		upload_respond_progress(u->txn, 202, u->name, u->s);
		jobs_submit(job_drop_saved, NULL, u->s);
	} else {
		if (status == 404)
			upload_respond_session_status(u->txn, SESSION_UNKNOWN);
		else
			meta_relay_error(u->txn, status, raw);
		jobs_submit(job_drop_unsaved, NULL, u->s);
	}
	upload_req_free(u);
}

/* In the loop after a PATCH's bytes are in S3: the row, if it is still at our version. */
static void
flushed(void *arg)
{
	struct upload_req *u = arg;
	if (!u->verified) {
		log_error("upload %s: %s", u->s->id, u->cause);
		upload_respond_store_failure(u->txn, u->err, "cannot save the upload's progress");
		jobs_submit(job_drop_unsaved, NULL, u->s);
		upload_req_free(u);
		return;
	}
	json_object *o = rsession_save_body(u->s);
	meta_upload_save(u->txn, u->s->id, o, remote_saved, u);
	json_object_put(o);
}

/* The request holds the session: its last bytes go (PATCH), or the PUT finishes. */
static void
send_rest(struct upload_req *u)
{
	if (u->op == OP_PUT)
		jobs_submit(upload_job_finish, upload_finished, u);
	else
		jobs_submit(job_flush, flushed, u);
}

/* metad's answer to the renewal of the hold: the last parts go; or the refusal (the hold had
 * lapsed and another request took the session over). */
static void
rest_reserved(int status, struct evbuffer *raw, void *arg)
{
	struct upload_req *u = arg;
	if (status != 200) {
		rsession_refusal(u->txn, status, raw);
		session_close(u->s);
		upload_req_free(u);
		return;
	}
	send_rest(u);
}

/* A PATCH's (or a PUT's) body is in: its last parts go, under a renewed hold when it is due. */
void
upload_remote_send(struct upload_req *u)
{
	if (!rsession_hold_due(u->s)) {
		send_rest(u);
		return;
	}
	rsession_reserve(u->txn, u->s, rest_reserved, u);
}

/* A PUT's bytes are in: the digest (from the running hash state), then the blob's object. A
 * mismatch removes the session, as on a filesystem. */
void
upload_remote_put(struct upload_req *u)
{
	enum digest_algo algo;
	const char *hex;
	name_split_digest(u->digest, &algo, &hex);
	if (algo != u->s->algo) {
		u->rehash = true; /* verified once the bytes are read back (job_finish) */
		upload_remote_send(u);
		return;
	}
	struct digest_ctx copy = u->s->hash;
	digest_final(&copy, u->computed);
	if (strcmp(u->computed, u->digest) != 0) {
		log_info("upload to %s: digest %s, client said %s", u->name, u->computed,
		         u->digest);
		v2reply_error(u->txn, 400, OCI_DIGEST_INVALID, NULL, u->computed);
		upload_drop_session(u->s);
		upload_req_free(u);
		return;
	}
	upload_remote_send(u);
}

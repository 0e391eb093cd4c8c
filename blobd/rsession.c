/*
 * Upload sessions of storage = s3, which any node continues (docs/S3.md, "Upload sessions"):
 * - the state is a row of the database, read and written through metad (meta_upload_*): the
 *   repository and grant, the byte count, the running hash state (digest_state_save), the
 *   multipart upload's id, its parts' numbers and ETags, the tail object and a version that every
 *   change compares and moves on;
 * - the bytes are the multipart upload <s3_prefix>/uploads/<id>/data, whose parts are
 *   s3_part_size bytes each, plus the tail: the bytes after the last full part, an object
 *   uploads/<id>/tail-<version> (S3 takes no part under 5 MiB but the last).
 * A request reads the row and takes the hold on the session at its version (which moves it on:
 * a second writer of the same version is refused before it sends a byte, and while the hold
 * lasts no other request takes the session over: parts it sent are in S3 whether or not a row
 * names them, and Ceph RGW refuses a completion that leaves one out). It spools the tail and its
 * own bytes in a scratch file under <storage_root>/tmp (unlinked at once: nothing stays on the
 * node), sends each full part as it fills (numbered by its place in the blob, the hold renewed
 * first when it is old) and gives its room in the spool back, then at the body's end the rest of
 * its parts and the new tail, and saves the row if it is still at the version it holds. A writer
 * that loses keeps nothing: its tail goes, and a retry of the same bytes replaces its parts.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blobd.h"
#include "errors.h"
#include "json.h"
#include "log.h"
#include "s3.h"
#include "util.h"

/* Seconds after which a writer renews its hold on the session before it sends a part (the hold
 * lapses after 15: upload_session_reserve), so that none of its parts can still be on its way
 * when another request takes the session over. */
#define RSESSION_RENEW_AFTER 5
/* S3's last part number */
#define S3_PART_NUMBER_MAX 10000

struct session *
rsession_new(const char *repository, const struct actor_grant *grant)
{
	struct session *s = xcalloc(1, sizeof(*s));
	session_new_id(s->id);
	s->repository = xstrdup(repository);
	s->grant = *grant;
	s->algo = DIGEST_SHA256;
	digest_init(&s->hash, s->algo);
	s->started_at = now_unix();
	s->fd = -1;
	s->remote = true;
	return s;
}

char *
rsession_name(const char *id, const char *what)
{
	return xasprintf("uploads/%s/%s", id, what);
}

json_object *
rsession_create_body(const struct session *s)
{
	json_object *o = json_object_new_object();
	char *hash = digest_state_save(&s->hash);
	json_object_object_add(o, "id", json_object_new_string(s->id));
	json_object_object_add(o, "repository", json_object_new_string(s->repository));
	json_object_object_add(o, "algorithm", json_object_new_string(digest_algo_name(s->algo)));
	json_object_object_add(o, "hash", json_object_new_string(hash));
	json_object_object_add(o, "upload_id", json_object_new_string(s->upload_id));
	free(hash);
	return o;
}

/* Reads the row's parts into s; -1 when they are not a list of {"number","etag"}. */
static int
load_parts(struct session *s, json_object *parts)
{
	if (parts == NULL || !json_object_is_type(parts, json_type_array))
		return -1;
	size_t n = json_object_array_length(parts);
	s->part_no = xcalloc(n + 1, sizeof(*s->part_no));
	s->part_etag = xcalloc(n + 1, sizeof(*s->part_etag));
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(parts, i);
		int64_t num;
		const char *etag = js_str(p, "etag");
		if (!js_int(p, "number", &num) || num < 1 || num > 10000 || etag == NULL ||
		    (i > 0 && num <= s->part_no[i - 1]))
			return -1;
		s->part_no[i] = (int)num;
		s->part_etag[i] = xstrdup(etag);
		s->nparts = i + 1;
	}
	return 0;
}

enum session_status
rsession_load(json_object *row, const char *repository, const struct actor_grant *grant,
              struct session **out)
{
	*out = NULL;
	struct session *s = xcalloc(1, sizeof(*s));
	s->fd = -1;
	s->remote = true;
	const char *id = js_str(row, "id"), *repo = js_str(row, "repository");
	const char *algo = js_str(row, "algorithm"), *hash = js_str(row, "hash");
	const char *upload_id = js_str(row, "upload_id"), *tail = js_str(row, "tail_name");
	json_object *parts = NULL;
	json_object_object_get_ex(row, "parts", &parts);
	if (id == NULL || !session_id_valid(id) || repo == NULL || upload_id == NULL ||
	    !digest_algo_parse(algo, &s->algo) || !js_int(row, "byte_count", &s->offset) ||
	    s->offset < 0 || !js_int(row, "tail_length", &s->tail_length) || s->tail_length < 0 ||
	    s->tail_length > s->offset || !js_int(row, "version", &s->version) ||
	    (s->tail_length > 0 && tail == NULL) || load_parts(s, parts) < 0 ||
	    digest_state_load(&s->hash, s->algo, hash, (uint64_t)s->offset) < 0) {
		log_error("upload session %s: its row is not one this build reads",
		          id != NULL ? id : "(no id)");
		session_close(s);
		return SESSION_ERROR;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->repository = xstrdup(repo);
	s->upload_id = xstrdup(upload_id);
	s->tail_name = tail != NULL ? xstrdup(tail) : NULL;
	js_int(row, "project_id", &s->grant.project_id);
	js_int(row, "generation", &s->grant.generation);
	s->base = s->offset - s->tail_length;
	s->saved = s->offset;
	/* another repository's session, or one started on a project that has given its path up
	 * since (registry_grant_check): unknown to this caller, as session_open says */
	if (strcmp(s->repository, repository) != 0 ||
	    (s->grant.project_id > 0 && (s->grant.project_id != grant->project_id ||
	                                 s->grant.generation != grant->generation))) {
		session_close(s);
		return SESSION_UNKNOWN;
	}
	*out = s;
	return SESSION_OK;
}

int
rsession_spool(struct session *s, char **cause)
{
	char *path = xasprintf("%s/tmp/upload-%s.XXXXXX", bd.root, s->id);
	s->fd = mkstemp(path);
	if (s->fd < 0) {
		*cause = xasprintf("cannot create %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	unlink(path); /* the spool is this request's alone, and goes with its descriptor */
	free(path);
	s->locked = true;
	if (s->tail_length > 0 && store_s3_get_fd(s->tail_name, s->fd, s->tail_length, cause) < 0) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Part numbers for len bytes from base: the full parts (last: every byte, unless the session
 * never sent a part and the bytes fit in one object, which goes as it is: rsession_place). */
size_t
rsession_parts_needed(const struct session *s, bool last)
{
	int64_t len = s->offset - s->base;
	if (!last)
		return (size_t)(len / bd.part_size);
	if (s->nparts == 0 && s->nnew == 0)
		return 0; /* never sent a part: the spool is the whole blob (rsession_place) */
	return (size_t)((len + bd.part_size - 1) / bd.part_size);
}

/* A reservation on its way to metad. */
struct reservation {
	struct session *s;
	void (*done)(int status, struct evbuffer *raw, void *arg);
	void *arg;
};

/* metad's answer to a reservation: the new version, held from now on. */
static void
reserved(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct reservation *r = arg;
	int64_t version;
	if (status == 200 && (body == NULL || !js_int(body, "version", &version)))
		status = 502;
	else if (status == 200) {
		r->s->version = version;
		r->s->held_at = now_unix();
	}
	r->done(status, raw, r->arg);
	free(r);
}

void
rsession_reserve(struct http_txn *txn, struct session *s,
                 void (*done)(int status, struct evbuffer *raw, void *arg), void *arg)
{
	struct reservation *r = xmalloc(sizeof(*r));
	*r = (struct reservation){ s, done, arg };
	if (s->holder[0] == '\0')
		session_new_id(s->holder);
	meta_upload_reserve(txn, s->id, s->holder, s->version, 0, reserved, r);
}

bool
rsession_hold_due(const struct session *s)
{
	return s->remote && s->held_at > 0 && now_unix() - s->held_at >= RSESSION_RENEW_AFTER;
}

void
rsession_refusal(struct http_txn *txn, int status, struct evbuffer *raw)
{
	if (status == 404)
		v2reply_error(txn, 404, OCI_BLOB_UPLOAD_UNKNOWN, NULL, NULL);
	else
		meta_relay_error(txn, status, raw);
}

/* Blocking: sends n parts of the spool from the request's part index at. A part's number is
 * its place in the blob (bytes [(number - 1) * s3_part_size, number * s3_part_size)): a retry
 * of the same bytes after a writer died sends the same parts again under the same numbers. */
static int
send_parts(struct session *s, size_t at, size_t n, int64_t len, char **cause)
{
	int64_t first = s->base / bd.part_size + 1 + (int64_t)at;
	if (first + (int64_t)n - 1 > S3_PART_NUMBER_MAX) {
		*cause = xasprintf("upload %s: more than %d parts of s3_part_size", s->id,
		                   S3_PART_NUMBER_MAX);
		errno = EFBIG;
		return -1;
	}
	s->first_part = (int)(s->base / bd.part_size + 1);
	s->new_etag = xrealloc(s->new_etag, (at + n) * sizeof(*s->new_etag));
	memset(s->new_etag + at, 0, n * sizeof(*s->new_etag));
	s->netag = at + n;
	char *name = rsession_name(s->id, "data");
	int rc = store_s3_parts(name, s->upload_id, s->fd, (int64_t)at * bd.part_size, len,
	                        (int)first, n, s->new_etag + at, cause);
	free(name);
	if (rc < 0) {
		errno = EIO;
		return -1;
	}
	s->nnew = at + n;
	return 0;
}

int
rsession_stream(struct session *s, char **cause)
{
	size_t full = (size_t)((s->offset - s->base) / bd.part_size);
	size_t n = full > s->nnew ? full - s->nnew : 0;
	/* a part goes only while the hold is fresh: none may still be on its way once another
	 * request could take the session over */
	s->renew_first = n > 0 && rsession_hold_due(s);
	if (n == 0 || s->renew_first)
		return 0;
	size_t at = s->nnew;
	if (send_parts(s, at, n, (int64_t)n * bd.part_size, cause) < 0)
		return -1;
	/* the sent bytes need no room on the node any more (where holes are not supported the
	 * spool keeps them until the request ends) */
	fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)at * bd.part_size,
	          (off_t)n * bd.part_size);
	return 0;
}

int
rsession_flush(struct session *s, bool last, char **cause)
{
	int64_t len = s->offset - s->base;
	size_t n = rsession_parts_needed(s, last);
	int64_t in_parts = last ? len : (int64_t)n * bd.part_size;
	if (n > s->nnew) {
		int64_t from = (int64_t)s->nnew * bd.part_size;
		if (send_parts(s, s->nnew, n - s->nnew, in_parts - from, cause) < 0)
			return -1;
	}
	s->new_tail_length = len - in_parts;
	if (s->new_tail_length > 0) {
		char what[40];
		snprintf(what, sizeof(what), "tail-%lld", (long long)s->version);
		s->new_tail = rsession_name(s->id, what);
		if (store_s3_put_fd(s->new_tail, s->fd, in_parts, s->new_tail_length, cause) < 0) {
			errno = EIO;
			return -1;
		}
	}
	return 0;
}

json_object *
rsession_save_body(const struct session *s)
{
	json_object *o = json_object_new_object();
	char *hash = digest_state_save(&s->hash);
	json_object_object_add(o, "version", json_object_new_int64(s->version));
	json_object_object_add(o, "byte_count", json_object_new_int64(s->offset));
	json_object_object_add(o, "hash", json_object_new_string(hash));
	json_object *parts = json_object_new_array();
	for (size_t i = 0; i < s->nnew; i++) {
		json_object *p = json_object_new_object();
		json_object_object_add(p, "number", json_object_new_int(s->first_part + (int)i));
		json_object_object_add(p, "etag", json_object_new_string(s->new_etag[i]));
		json_object_array_add(parts, p);
	}
	json_object_object_add(o, "parts", parts);
	json_object_object_add(o, "tail_name", js_new_str_or_null(s->new_tail));
	json_object_object_add(o, "tail_length", json_object_new_int64(s->new_tail_length));
	free(hash);
	return o;
}

/* Blocking: completes the multipart upload from the row's parts and this request's. */
static int
complete(struct session *s, char **cause)
{
	size_t n = s->nparts + s->nnew;
	int *numbers = xcalloc(n, sizeof(*numbers));
	char **etags = xcalloc(n, sizeof(*etags));
	for (size_t i = 0; i < s->nparts; i++) {
		numbers[i] = s->part_no[i];
		etags[i] = s->part_etag[i];
	}
	for (size_t i = 0; i < s->nnew; i++) {
		numbers[s->nparts + i] = s->first_part + (int)i;
		etags[s->nparts + i] = s->new_etag[i];
	}
	char *name = rsession_name(s->id, "data");
	int rc = store_s3_complete(name, s->upload_id, numbers, etags, n, cause);
	free(name);
	free(numbers);
	free(etags);
	if (rc == 0)
		s->completed = true;
	return rc;
}

int
rsession_digest(struct session *s, enum digest_algo algo, char out[DIGEST_STR_MAX], char **cause)
{
	if (s->nparts == 0 && s->nnew == 0) /* the spool holds every byte, from the first */
		return session_digest(s, algo, out, cause);
	if (!s->completed && complete(s, cause) < 0)
		return -1;
	char *name = rsession_name(s->id, "data");
	int rc = store_s3_digest(name, algo, s->offset, out, cause);
	free(name);
	return rc;
}

int
rsession_place(struct session *s, const char *digest, bool *created, char **cause)
{
	*created = false;
	if (s->nparts == 0 && s->nnew == 0) /* the spool holds the whole blob */
		return store_s3_commit_fd(s->fd, s->offset, digest, created, cause);
	if (!s->completed && complete(s, cause) < 0) {
		errno = EIO;
		return -1;
	}
	char *dst = store_blob_name(digest);
	int found = store_s3_head(dst, NULL, cause);
	int rc = found > 0 ? 0 : -1; /* stored before: one object per digest */
	if (found == 0) {
		char *src = rsession_name(s->id, "data");
		rc = store_s3_copy(src, dst, s->offset, cause);
		*created = rc == 0;
		free(src);
	}
	free(dst);
	if (rc < 0)
		errno = EIO;
	return rc;
}

void
rsession_discard(struct session *s)
{
	char *data = rsession_name(s->id, "data");
	if (s->completed)
		store_s3_remove(data);
	else
		store_s3_abort(data, s->upload_id);
	free(data);
	if (s->tail_name != NULL)
		store_s3_remove(s->tail_name);
	if (s->new_tail != NULL)
		store_s3_remove(s->new_tail);
	session_close(s);
}

void
rsession_drop_tail(struct session *s, bool saved, const char *old)
{
	if (!saved && s->new_tail != NULL)
		store_s3_remove(s->new_tail); /* the session never named it */
	else if (saved && old != NULL && (s->new_tail == NULL || strcmp(old, s->new_tail) != 0))
		store_s3_remove(old);
	session_close(s);
}

/* ---- purge rounds ---------------------------------------------------------------------------- */

/* A stale session the purge removes: its row first (at the version it listed, so a session
 * that moved meanwhile stays), then its objects. */
struct stale {
	char id[SESSION_ID_LEN + 1];
	char *upload_id;
	char *tail;
};

/* Pool thread: a stale session's objects go. */
static void
job_stale_objects(void *arg)
{
	struct stale *st = arg;
	char *data = rsession_name(st->id, "data");
	store_s3_abort(data, st->upload_id);
	free(data);
	if (st->tail != NULL)
		store_s3_remove(st->tail);
}

/* In the loop after the objects went. */
static void
stale_done(void *arg)
{
	struct stale *st = arg;
	log_info("purged abandoned upload %s", st->id);
	free(st->upload_id);
	free(st->tail);
	free(st);
}

/* metad's answer to a stale session's deletion: its objects go when the row went. */
static void
stale_deleted(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct stale *st = arg;
	(void)body;
	(void)raw;
	if (status == 204) {
		jobs_submit(job_stale_objects, stale_done, st);
		return;
	}
	free(st->upload_id);
	free(st->tail);
	free(st);
}

/* metad's list of stale sessions. */
static void
stale_listed(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	(void)raw;
	(void)arg;
	json_object *list = NULL;
	if (status != 200 || body == NULL || !json_object_object_get_ex(body, "sessions", &list) ||
	    !json_object_is_type(list, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *id = js_str(e, "id"), *upload_id = js_str(e, "upload_id");
		int64_t version;
		if (!session_id_valid(id) || upload_id == NULL || !js_int(e, "version", &version))
			continue;
		struct stale *st = xcalloc(1, sizeof(*st));
		snprintf(st->id, sizeof(st->id), "%s", id);
		st->upload_id = xstrdup(upload_id);
		const char *tail = js_str(e, "tail_name");
		st->tail = tail != NULL ? xstrdup(tail) : NULL;
		meta_upload_delete(NULL, st->id, version, stale_deleted, st);
	}
}

/* A multipart upload under uploads/ the sweep looks at: aborted when no session names it. */
struct orphan {
	char id[SESSION_ID_LEN + 1];
	char *key;
	char *upload_id;
};

/* The abort's answer. */
static void
orphan_aborted(const struct s3_result *r, void *arg)
{
	struct orphan *o = arg;
	if (r->ok)
		log_info("aborted the multipart upload of %s, which no upload session names",
		         o->key);
	else if (r->status != 404)
		log_warn("cannot abort the upload of %s: %s", o->key, r->cause);
	free(o->key);
	free(o->upload_id);
	free(o);
}

/* metad's answer to whether the upload's session exists: 404 aborts it. */
static void
orphan_checked(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct orphan *o = arg;
	(void)body;
	(void)raw;
	if (status == 404 && bd.s3 != NULL) {
		s3_multipart_abort(bd.s3, o->key, o->upload_id, orphan_aborted, o);
		return;
	}
	free(o->key);
	free(o->upload_id);
	free(o);
}

/* Seconds since an S3 time ("2026-12-06T14:00:00.000Z"); -1 when it is not one. */
static int64_t
age_of(const char *at)
{
	struct tm tm = { 0 };
	const char *end = at != NULL ? strptime(at, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (end == NULL)
		return -1;
	return now_unix() - (int64_t)timegm(&tm);
}

/* One page of ListMultipartUploads under uploads/. */
static void
uploads_listed(const struct s3_result *r, void *arg)
{
	int64_t older_than = *(int64_t *)arg;
	if (!r->ok) {
		log_warn("cannot list the multipart uploads: %s", r->cause);
		free(arg);
		return;
	}
	for (size_t i = 0; i < r->nuploads; i++) {
		const struct s3_upload *u = &r->uploads[i];
		/* uploads/<id>/data */
		const char *k = u->key;
		if (strncmp(k, "uploads/", 8) != 0 || strlen(k) != 8 + SESSION_ID_LEN + 5 ||
		    strcmp(k + 8 + SESSION_ID_LEN, "/data") != 0)
			continue;
		int64_t age = age_of(u->initiated);
		if (age < older_than)
			continue;
		struct orphan *o = xcalloc(1, sizeof(*o));
		memcpy(o->id, k + 8, SESSION_ID_LEN);
		if (!session_id_valid(o->id)) {
			free(o);
			continue;
		}
		o->key = xstrdup(k);
		o->upload_id = xstrdup(u->upload_id);
		meta_upload_get(NULL, o->id, orphan_checked, o);
	}
	if (r->truncated && bd.s3 != NULL)
		s3_multipart_list(bd.s3, "uploads/", r->next_key_marker, r->next_upload_id_marker,
		                  uploads_listed, arg);
	else
		free(arg);
}

void
rsession_purge(int64_t older_than)
{
	meta_upload_stale(older_than, stale_listed, NULL);
	int64_t *arg = xmalloc(sizeof(*arg));
	*arg = older_than;
	s3_multipart_list(bd.s3, "uploads/", NULL, NULL, uploads_listed, arg);
}

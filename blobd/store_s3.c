/*
 * The store's S3 driver (blobd.h, struct store_driver): blobs are objects
 * <s3_prefix>/blobs/<algo>/<2 hex>/<hex> of an S3-compatible store, one per digest for the
 * instance, written only from a verified upload (store_commit), deleted only on metad's word
 * (store_delete). docs/S3.md.
 *
 * Two ways to call the client (s3.h), which runs on a libevent loop:
 * - on the worker's loop (its client, bd.s3): reads, streamed into the HTTP answer with the
 *   client's back-pressure (the transfer pauses while the answer's output is full), HEADs, and
 *   pre-signed URLs;
 * - in the pool threads, whose calls are blocking by contract (store_commit, store_exists,
 *   store_delete): each thread keeps a client on a loop of its own and runs that loop until its
 *   request is done, so the worker's loop never waits.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blobd.h"
#include "errors.h"
#include "headers.h"
#include "log.h"
#include "s3.h"
#include "util.h"

/* Parts of a multipart upload in flight at once from one commit. */
#define S3_PARTS_IN_FLIGHT 4
/* Parts an S3 multipart upload may have. */
#define S3_PARTS_MAX 10000

/* ---- the pool threads' clients ----------------------------------------------------------- */

/* A pool thread's client on its own loop. */
struct s3_sync {
	struct event_base *base;
	struct s3 *s3;
};

static pthread_key_t sync_key;
static pthread_once_t sync_once = PTHREAD_ONCE_INIT;

/* Thread exit: its client and loop go. */
static void
sync_free(void *arg)
{
	struct s3_sync *c = arg;
	s3_free(c->s3);
	event_base_free(c->base);
	free(c);
}

/* Once per process: the key of the threads' clients. */
static void
sync_key_make(void)
{
	pthread_key_create(&sync_key, sync_free);
}

/* This thread's client, made on first use; NULL with *cause. */
static struct s3_sync *
sync_client(char **cause)
{
	pthread_once(&sync_once, sync_key_make);
	struct s3_sync *c = pthread_getspecific(sync_key);
	if (c != NULL)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->base = event_base_new();
	if (c->base == NULL) {
		*cause = xstrdup("cannot make an event loop for S3");
		free(c);
		return NULL;
	}
	c->s3 = s3_new(c->base, bd.s3c, cause);
	if (c->s3 == NULL) {
		event_base_free(c->base);
		free(c);
		return NULL;
	}
	pthread_setspecific(sync_key, c);
	return c;
}

/* What a blocking request came back with. */
struct s3_wait {
	bool done;
	bool ok;
	int status;
	int64_t size;
	char *cause;
	char *etag;
	char *upload_id;
};

/* A request's done: keeps its outcome for the waiting thread. */
static void
wait_done(const struct s3_result *r, void *arg)
{
	struct s3_wait *w = arg;
	w->done = true;
	w->ok = r->ok;
	w->status = r->status;
	w->size = r->size;
	w->cause = r->cause != NULL ? xstrdup(r->cause) : NULL;
	w->etag = r->etag != NULL ? xstrdup(r->etag) : NULL;
	w->upload_id = r->upload_id != NULL ? xstrdup(r->upload_id) : NULL;
}

/* Runs the thread's loop until every one of the n requests of w is done. */
static void
wait_all(struct s3_sync *c, struct s3_wait *w, size_t n)
{
	for (;;) {
		size_t left = 0;
		for (size_t i = 0; i < n; i++)
			left += !w[i].done;
		/* 1: nothing left to wait for, which a request in flight never is */
		if (left == 0 || event_base_loop(c->base, EVLOOP_ONCE) != 0)
			return;
	}
}

/* Frees what a wait kept. */
static void
wait_clear(struct s3_wait *w)
{
	free(w->cause);
	free(w->etag);
	free(w->upload_id);
	memset(w, 0, sizeof(*w));
}

/* Blocking HEAD of name: 1 when it is there (*size its bytes), 0 when not, -1 with *cause. */
static int
sync_head(struct s3_sync *c, const char *name, int64_t *size, char **cause)
{
	struct s3_wait w = { 0 };
	s3_head(c->s3, name, wait_done, &w);
	wait_all(c, &w, 1);
	int rc = w.ok ? 1 : w.status == 404 ? 0 : -1;
	if (rc == 1 && size != NULL)
		*size = w.size;
	if (rc < 0)
		*cause = xstrdup(w.done && w.cause != NULL ? w.cause : "S3 HEAD did not finish");
	wait_clear(&w);
	return rc;
}

/* Blocking HEADs of digest's plain object, then of its compressed one: 1 when one is there
 * (*form and *size: which, and its bytes), 0 when neither, -1 with *cause. */
static int
sync_head_either(struct s3_sync *c, const char *digest, enum store_form *form, int64_t *size,
                 char **cause)
{
	char *names[2] = { store_blob_name(digest), store_zst_name(digest) };
	int found = 0;
	for (int i = 0; i < 2 && found == 0; i++) {
		found = names[i] != NULL ? sync_head(c, names[i], size, cause) : 0;
		if (found > 0 && form != NULL)
			*form = i == 0 ? STORE_PLAIN : STORE_ZSTD;
	}
	free(names[0]);
	free(names[1]);
	return found;
}

/* Blocking multipart upload of the size bytes of fd as name, S3_PARTS_IN_FLIGHT parts of
 * bd.part_size (larger past S3_PARTS_MAX parts) at a time, each streamed from the file (memory:
 * libcurl's buffers); aborted on failure. -1 with *cause. */
static int
sync_multipart(struct s3_sync *c, const char *name, int fd, int64_t size, char **cause)
{
	struct s3_wait w = { 0 };
	s3_multipart_create(c->s3, name, wait_done, &w);
	wait_all(c, &w, 1);
	if (!w.ok) {
		*cause = xstrdup(w.cause != NULL ? w.cause : "S3 CreateMultipartUpload failed");
		wait_clear(&w);
		return -1;
	}
	char *upload_id = w.upload_id;
	w.upload_id = NULL;
	wait_clear(&w);
	/* S3 takes at most 10,000 parts: a blob larger than that many gets larger parts */
	int64_t part = bd.part_size;
	if ((size + part - 1) / part > S3_PARTS_MAX)
		part = ((size + S3_PARTS_MAX - 1) / S3_PARTS_MAX + (1 << 20) - 1) &
		       ~(int64_t)((1 << 20) - 1);
	size_t nparts = (size_t)((size + part - 1) / part);
	char **etags = xcalloc(nparts, sizeof(*etags));
	struct s3_wait parts[S3_PARTS_IN_FLIGHT];
	int rc = 0;
	for (size_t first = 0; first < nparts && rc == 0; first += S3_PARTS_IN_FLIGHT) {
		size_t n =
		        nparts - first < S3_PARTS_IN_FLIGHT ? nparts - first : S3_PARTS_IN_FLIGHT;
		memset(parts, 0, sizeof(parts));
		for (size_t i = 0; i < n; i++) {
			int64_t off = (int64_t)(first + i) * part;
			int64_t len = size - off < part ? size - off : part;
			struct s3_body body = S3_BODY_FD(fd, off, len);
			s3_multipart_part(c->s3, name, upload_id, (int)(first + i + 1), &body,
			                  wait_done, &parts[i]);
		}
		wait_all(c, parts, n);
		for (size_t i = 0; i < n; i++) {
			if (parts[i].ok && parts[i].etag != NULL) {
				etags[first + i] = parts[i].etag;
				parts[i].etag = NULL;
			} else if (rc == 0) {
				*cause = xstrdup(parts[i].cause != NULL ? parts[i].cause
				                                        : "S3 UploadPart failed");
				rc = -1;
			}
			wait_clear(&parts[i]);
		}
	}
	if (rc == 0) {
		s3_multipart_complete(c->s3, name, upload_id, (const char *const *)etags, nparts,
		                      wait_done, &w);
		wait_all(c, &w, 1);
		if (!w.ok) {
			*cause = xstrdup(w.cause != NULL ? w.cause
			                                 : "S3 CompleteMultipartUpload failed");
			rc = -1;
		}
		wait_clear(&w);
	}
	if (rc < 0) {
		/* nothing half-written is left behind: the parts go */
		s3_multipart_abort(c->s3, name, upload_id, wait_done, &w);
		wait_all(c, &w, 1);
		if (!w.ok)
			log_warn("cannot abort the upload of %s: %s", name, w.cause);
		wait_clear(&w);
	}
	for (size_t i = 0; i < nparts; i++)
		free(etags[i]);
	free(etags);
	free(upload_id);
	return rc;
}

/* ---- the blocking calls (pool threads) ----------------------------------------------------- */

/* Blocking: the size bytes of fd as name, in one PutObject or, above s3_part_size, a multipart
 * upload. -1 with *cause. */
static int
sync_put_fd(struct s3_sync *c, const char *name, int fd, int64_t size, char **cause)
{
	if (size > bd.part_size)
		return sync_multipart(c, name, fd, size, cause);
	struct s3_wait w = { 0 };
	struct s3_body body = S3_BODY_FD(fd, 0, size);
	s3_put(c->s3, name, &body, wait_done, &w);
	wait_all(c, &w, 1);
	int rc = w.ok ? 0 : -1;
	if (rc < 0)
		*cause = xstrdup(w.cause != NULL ? w.cause : "S3 PUT failed");
	wait_clear(&w);
	return rc;
}

int
store_s3_commit_fd(int fd, int64_t size, const char *digest, bool *created, char **cause)
{
	*created = false;
	char *name = store_blob_name(digest);
	if (name == NULL) {
		*cause = xasprintf("invalid digest %s", digest);
		errno = EINVAL;
		return -1;
	}
	int rc = -1;
	struct s3_sync *c = sync_client(cause);
	if (c != NULL) {
		int found = sync_head_either(c, digest, NULL, NULL, cause);
		if (found != 0)
			rc = found > 0 ? 0 : -1; /* stored before, in either form */
		else
			*created = (rc = sync_put_fd(c, name, fd, size, cause)) == 0;
	}
	free(name);
	if (rc < 0)
		errno = EIO;
	return rc;
}

/* S3 driver: puts the verified file src as the blob's object unless it is there (store_commit):
 * a HEAD, then one PutObject streamed from the file, or a multipart upload above s3_part_size.
 * Durable once S3 acknowledged it: sync changes nothing. */
static int
s3store_commit(const char *src, const char *digest, bool sync, bool *created, char **cause)
{
	(void)sync;
	*created = false;
	struct stat st;
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		*cause = xasprintf("cannot read %s: %s", src, strerror(errno));
		if (fd >= 0)
			close(fd);
		errno = EIO;
		return -1;
	}
	int rc = store_s3_commit_fd(fd, st.st_size, digest, created, cause);
	close(fd);
	return rc;
}

/* ---- upload sessions' objects (rsession.c; blocking, pool threads) -------------------------- */

/* A GET into a file: where the next bytes go, and the outcome. */
struct get_fd {
	struct s3_wait w;
	int fd;
	int64_t off;
	int err;
};

/* GET data: written to the file at the running offset. */
static enum s3_data
get_fd_data(const void *data, size_t len, void *arg)
{
	struct get_fd *g = arg;
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(g->fd, (const char *)data + done, len - done, g->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g->err = n < 0 ? errno : EIO;
			return S3_DATA_STOP;
		}
		done += (size_t)n;
		g->off += n;
	}
	return S3_DATA_OK;
}

/* GET done. */
static void
get_fd_done(const struct s3_result *r, void *arg)
{
	wait_done(r, &((struct get_fd *)arg)->w);
}

int
store_s3_get_fd(const char *name, int fd, int64_t len, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	if (c == NULL)
		return -1;
	struct get_fd g = { .fd = fd };
	s3_get(c->s3, name, -1, -1, get_fd_data, get_fd_done, &g);
	wait_all(c, &g.w, 1);
	int rc = 0;
	if (g.err != 0) {
		*cause = xasprintf("cannot write what S3 GET %s gave: %s", name, strerror(g.err));
		rc = -1;
	} else if (!g.w.ok) {
		*cause = xstrdup(g.w.cause != NULL ? g.w.cause : "S3 GET failed");
		rc = -1;
	} else if (g.off != len) {
		*cause = xasprintf("S3 GET %s gave %lld bytes, not %lld", name, (long long)g.off,
		                   (long long)len);
		rc = -1;
	}
	wait_clear(&g.w);
	return rc;
}

/* A ranged GET into a buffer. */
struct get_buf {
	struct s3_wait w;
	uint8_t *buf;
	size_t len, got;
};

/* GET data: copied into the buffer (never past its end). */
static enum s3_data
get_buf_data(const void *data, size_t len, void *arg)
{
	struct get_buf *g = arg;
	if (len > g->len - g->got)
		return S3_DATA_STOP;
	memcpy(g->buf + g->got, data, len);
	g->got += len;
	return S3_DATA_OK;
}

/* GET done. */
static void
get_buf_done(const struct s3_result *r, void *arg)
{
	wait_done(r, &((struct get_buf *)arg)->w);
}

/* Blocking: bytes [off, off + len) of name into buf, all of them; 0, or -1 with *cause and
 * errno (ENOENT: no such object). */
static int
sync_get_buf(struct s3_sync *c, const char *name, void *buf, size_t len, int64_t off, char **cause)
{
	struct get_buf g = { .buf = buf, .len = len };
	s3_get(c->s3, name, off, off + (int64_t)len - 1, get_buf_data, get_buf_done, &g);
	wait_all(c, &g.w, 1);
	int rc = g.w.ok && g.got == len ? 0 : -1;
	if (rc < 0) {
		*cause = g.w.ok ? xasprintf("S3 GET %s gave %zu bytes at %lld, not %zu", name,
		                            g.got, (long long)off, len)
		                : xstrdup(g.w.cause != NULL ? g.w.cause : "S3 GET failed");
		errno = g.w.status == 404 ? ENOENT : EIO;
	}
	wait_clear(&g.w);
	return rc;
}

int
store_s3_read(const char *name, void *buf, size_t len, int64_t off, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	return c != NULL ? sync_get_buf(c, name, buf, len, off, cause) : -1;
}

int
store_s3_put_object(const char *name, int fd, int64_t size, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	return c != NULL ? sync_put_fd(c, name, fd, size, cause) : -1;
}

/* A compressed reader's source: the digest whose compressed object is read (zst_read_fn). */
static int
zst_read_at(void *digest, void *buf, size_t len, int64_t off, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	char *name = store_zst_name(digest);
	int rc = c != NULL ? sync_get_buf(c, name, buf, len, off, cause) : -1;
	free(name);
	return rc;
}

/* S3 driver: a reader of the compressed object (store_zst_open): a HEAD when its size is not
 * known, a GET of its header, then the reads of its seek table and frames as ranged GETs. */
static struct zst_reader *
s3store_zst_open(const char *digest, struct store_file *f, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	char *name = store_zst_name(digest);
	struct zst_reader *r = NULL;
	uint8_t head[ZST_HEADER_MAX];
	int found = c != NULL && name != NULL
	                    ? (f->stored >= 0 ? 1 : sync_head(c, name, &f->stored, cause))
	                    : -1;
	if (found == 0) {
		*cause = xasprintf("%s is stored in neither form", digest);
		errno = ENOENT;
	} else if (found > 0) {
		size_t n = f->stored < ZST_HEADER_MAX ? (size_t)f->stored : ZST_HEADER_MAX;
		if (sync_get_buf(c, name, head, n, 0, cause) == 0) {
			if (!zst_header_parse(head, n, digest, &f->zh)) {
				*cause = xasprintf("%s is not the compressed form of %s", name,
				                   digest);
				errno = EIO;
			} else {
				f->size = f->zh.size;
				r = zst_reader_open_source(zst_read_at, (void *)digest, f->stored,
				                           &f->zh, cause);
				if (r == NULL)
					errno = EIO;
			}
		}
	}
	free(name);
	return r;
}

/* A GET hashed as it comes. */
struct get_hash {
	struct s3_wait w;
	struct digest_ctx d;
	int64_t len;
};

/* GET data: hashed. */
static enum s3_data
get_hash_data(const void *data, size_t len, void *arg)
{
	struct get_hash *g = arg;
	digest_update(&g->d, data, len);
	g->len += (int64_t)len;
	return S3_DATA_OK;
}

/* GET done. */
static void
get_hash_done(const struct s3_result *r, void *arg)
{
	wait_done(r, &((struct get_hash *)arg)->w);
}

int
store_s3_digest(const char *name, enum digest_algo algo, int64_t len, char out[DIGEST_STR_MAX],
                char **cause)
{
	struct s3_sync *c = sync_client(cause);
	if (c == NULL)
		return -1;
	struct get_hash g = { 0 };
	digest_init(&g.d, algo);
	s3_get(c->s3, name, -1, -1, get_hash_data, get_hash_done, &g);
	wait_all(c, &g.w, 1);
	int rc = 0;
	if (!g.w.ok) {
		*cause = xstrdup(g.w.cause != NULL ? g.w.cause : "S3 GET failed");
		rc = -1;
	} else if (g.len != len) {
		*cause = xasprintf("S3 GET %s gave %lld bytes, not %lld", name, (long long)g.len,
		                   (long long)len);
		rc = -1;
	} else {
		digest_final(&g.d, out);
	}
	wait_clear(&g.w);
	return rc;
}

int
store_s3_put_fd(const char *name, int fd, int64_t off, int64_t len, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	if (c == NULL)
		return -1;
	struct s3_wait w = { 0 };
	struct s3_body body = S3_BODY_FD(fd, off, len);
	s3_put(c->s3, name, &body, wait_done, &w);
	wait_all(c, &w, 1);
	int rc = w.ok ? 0 : -1;
	if (rc < 0)
		*cause = xstrdup(w.cause != NULL ? w.cause : "S3 PUT failed");
	wait_clear(&w);
	return rc;
}

int
store_s3_parts(const char *name, const char *upload_id, int fd, int64_t off, int64_t len, int first,
               size_t n, char **etags, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	if (c == NULL)
		return -1;
	struct s3_wait parts[S3_PARTS_IN_FLIGHT];
	int rc = 0;
	for (size_t at = 0; at < n && rc == 0; at += S3_PARTS_IN_FLIGHT) {
		size_t k = n - at < S3_PARTS_IN_FLIGHT ? n - at : S3_PARTS_IN_FLIGHT;
		memset(parts, 0, sizeof(parts));
		for (size_t i = 0; i < k; i++) {
			/* every part is bd.part_size bytes but the last, which has the rest */
			int64_t start = (int64_t)(at + i) * bd.part_size;
			int64_t plen = at + i + 1 == n ? len - start : bd.part_size;
			struct s3_body body = S3_BODY_FD(fd, off + start, plen);
			s3_multipart_part(c->s3, name, upload_id, first + (int)(at + i), &body,
			                  wait_done, &parts[i]);
		}
		wait_all(c, parts, k);
		for (size_t i = 0; i < k; i++) {
			if (parts[i].ok && parts[i].etag != NULL) {
				etags[at + i] = parts[i].etag;
				parts[i].etag = NULL;
			} else if (rc == 0) {
				*cause = xstrdup(parts[i].cause != NULL ? parts[i].cause
				                                        : "S3 UploadPart failed");
				rc = -1;
			}
			wait_clear(&parts[i]);
		}
	}
	return rc;
}

int
store_s3_complete(const char *name, const char *upload_id, const int *numbers, char *const *etags,
                  size_t n, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	if (c == NULL)
		return -1;
	struct s3_wait w = { 0 };
	s3_multipart_complete_parts(c->s3, name, upload_id, numbers, (const char *const *)etags, n,
	                            wait_done, &w);
	wait_all(c, &w, 1);
	int rc = w.ok ? 0 : -1;
	if (rc < 0)
		*cause = xstrdup(w.cause != NULL ? w.cause : "S3 CompleteMultipartUpload failed");
	wait_clear(&w);
	return rc;
}

/* CopyObject's limit: larger objects are copied as parts (UploadPartCopy). */
#define S3_COPY_MAX (5LL << 30)

int
store_s3_copy(const char *src, const char *dst, int64_t size, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	if (c == NULL)
		return -1;
	struct s3_wait w = { 0 };
	int rc = 0;
	if (size <= S3_COPY_MAX) {
		s3_copy(c->s3, src, dst, wait_done, &w);
		wait_all(c, &w, 1);
		if (!w.ok) {
			*cause = xstrdup(w.cause != NULL ? w.cause : "S3 CopyObject failed");
			rc = -1;
		}
		wait_clear(&w);
		return rc;
	}
	/* past 5 GiB: a multipart upload at dst whose parts are ranges of src, copied inside the
	 * store (parts of 1 GiB, at most S3_PARTS_IN_FLIGHT at once) */
	const int64_t part = 1LL << 30;
	s3_multipart_create(c->s3, dst, wait_done, &w);
	wait_all(c, &w, 1);
	if (!w.ok) {
		*cause = xstrdup(w.cause != NULL ? w.cause : "S3 CreateMultipartUpload failed");
		wait_clear(&w);
		return -1;
	}
	char *upload_id = w.upload_id;
	w.upload_id = NULL;
	wait_clear(&w);
	size_t n = (size_t)((size + part - 1) / part);
	char **etags = xcalloc(n, sizeof(*etags));
	struct s3_wait parts[S3_PARTS_IN_FLIGHT];
	for (size_t at = 0; at < n && rc == 0; at += S3_PARTS_IN_FLIGHT) {
		size_t k = n - at < S3_PARTS_IN_FLIGHT ? n - at : S3_PARTS_IN_FLIGHT;
		memset(parts, 0, sizeof(parts));
		for (size_t i = 0; i < k; i++) {
			int64_t first = (int64_t)(at + i) * part;
			int64_t last = first + part - 1 < size - 1 ? first + part - 1 : size - 1;
			s3_multipart_part_copy(c->s3, dst, upload_id, (int)(at + i + 1), src, first,
			                       last, wait_done, &parts[i]);
		}
		wait_all(c, parts, k);
		for (size_t i = 0; i < k; i++) {
			if (parts[i].ok && parts[i].etag != NULL) {
				etags[at + i] = parts[i].etag;
				parts[i].etag = NULL;
			} else if (rc == 0) {
				*cause = xstrdup(parts[i].cause != NULL
				                         ? parts[i].cause
				                         : "S3 UploadPartCopy failed");
				rc = -1;
			}
			wait_clear(&parts[i]);
		}
	}
	if (rc == 0)
		rc = store_s3_complete(dst, upload_id, NULL, etags, n, cause);
	if (rc < 0)
		store_s3_abort(dst, upload_id);
	for (size_t i = 0; i < n; i++)
		free(etags[i]);
	free(etags);
	free(upload_id);
	return rc;
}

void
store_s3_abort(const char *name, const char *upload_id)
{
	char *cause = NULL;
	struct s3_sync *c = sync_client(&cause);
	if (c != NULL) {
		struct s3_wait w = { 0 };
		s3_multipart_abort(c->s3, name, upload_id, wait_done, &w);
		wait_all(c, &w, 1);
		/* gone already (finished, or aborted by another node's purge): nothing to do */
		if (!w.ok && w.status != 404)
			log_warn("cannot abort the upload of %s: %s", name, w.cause);
		wait_clear(&w);
	}
	free(cause);
}

void
store_s3_remove(const char *name)
{
	char *cause = NULL;
	struct s3_sync *c = sync_client(&cause);
	if (c != NULL) {
		struct s3_wait w = { 0 };
		s3_delete(c->s3, name, wait_done, &w);
		wait_all(c, &w, 1);
		if (!w.ok)
			log_warn("cannot delete %s: %s", name, w.cause);
		wait_clear(&w);
	}
	free(cause);
}

int
store_s3_head(const char *name, int64_t *size, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	return c != NULL ? sync_head(c, name, size, cause) : -1;
}

/* S3 driver: whether the blob's object is there (a HEAD; a failure says no). */
static bool
s3store_exists(const char *digest)
{
	char *cause = NULL;
	struct s3_sync *c = sync_client(&cause);
	int found = c != NULL ? sync_head_either(c, digest, NULL, NULL, &cause) : -1;
	if (found < 0 && cause != NULL)
		log_warn("cannot tell whether %s is stored: %s", digest, cause);
	free(cause);
	return found > 0;
}

/* Blocking: deletes name if it is there, adding its bytes (a HEAD before) to *bytes. A missing
 * object is not an error; -1 with *cause. */
static int
sync_delete(struct s3_sync *c, const char *name, int64_t *bytes, char **cause)
{
	int64_t size = 0;
	int found = sync_head(c, name, &size, cause);
	if (found <= 0)
		return found;
	struct s3_wait w = { 0 };
	s3_delete(c->s3, name, wait_done, &w);
	wait_all(c, &w, 1);
	int rc = w.ok ? 0 : -1;
	if (w.ok)
		*bytes += size;
	else
		*cause = xstrdup(w.cause != NULL ? w.cause : "S3 DELETE failed");
	wait_clear(&w);
	return rc;
}

/* S3 driver: the bytes the blob's object takes, whichever form it has (store_stored_size). */
static int
s3store_stored_size(const char *digest, int64_t *stored, char **cause)
{
	struct s3_sync *c = sync_client(cause);
	if (c == NULL)
		return -1;
	/* the compressed form first: both are there only until the plain one goes */
	char *names[2] = { store_zst_name(digest), store_blob_name(digest) };
	int found = 0;
	for (int i = 0; i < 2 && found == 0; i++)
		found = names[i] != NULL ? sync_head(c, names[i], stored, cause) : 0;
	free(names[0]);
	free(names[1]);
	return found;
}

/* S3 driver: deletes the blob's objects, both forms (store_delete); *bytes what they held. */
static int
s3store_delete(const char *digest, int64_t *bytes, char **cause)
{
	*bytes = 0;
	char *names[2] = { store_blob_name(digest), store_zst_name(digest) };
	int rc = -1;
	struct s3_sync *c = names[0] != NULL ? sync_client(cause) : NULL;
	if (names[0] == NULL)
		*cause = xasprintf("invalid digest %s", digest);
	else if (c != NULL)
		rc = sync_delete(c, names[0], bytes, cause) < 0 ||
		                     sync_delete(c, names[1], bytes, cause) < 0
		             ? -1
		             : 0;
	free(names[0]);
	free(names[1]);
	return rc;
}

/* S3 driver: a deletion is durable once S3 acknowledged it. */
static void
s3store_sync_deleted(char *const *digests, bool *deleted, size_t n)
{
	(void)digests;
	(void)deleted;
	(void)n;
}

/* ---- reads (the worker's loop) --------------------------------------------------------------- */

struct s3_open {
	store_read_fn cb;
	void *arg;
	char digest[DIGEST_STR_MAX];
	int64_t size;  /* the metadata's */
	bool zst_next; /* the plain object was not there: the compressed one's HEAD is out */
};

/* The HEAD of a probe: the plain object's size, or the compressed object's, or why neither. */
static void
opened(const struct s3_result *r, void *arg)
{
	struct s3_open *o = arg;
	if (r->ok) {
		/* a plain object holds the verified bytes; a compressed one the metadata's size */
		struct store_file f = { .fd = -1,
			                .form = o->zst_next ? STORE_ZSTD : STORE_PLAIN,
			                .size = o->zst_next ? o->size : r->size,
			                .stored = r->size };
		o->cb(0, 0, NULL, &f, o->arg);
	} else if (r->status == 404 && !o->zst_next) {
		o->zst_next = true;
		char *name = store_zst_name(o->digest);
		s3_head(bd.s3, name, opened, o);
		free(name);
		return;
	} else {
		o->cb(-1, r->status == 404 ? ENOENT : EIO, r->cause, NULL, o->arg);
	}
	free(o);
}

/* S3 driver: a GET takes the metadata's size and form plain (its own request finds the object
 * missing and then tries the compressed one: store_send); a probe asks with HEADs. */
static void
s3store_read(const char *digest, int64_t size, bool probe, store_read_fn cb, void *arg)
{
	char *name = store_blob_name(digest);
	if (name == NULL) {
		cb(-1, EINVAL, "invalid digest", NULL, arg);
		return;
	}
	if (!probe) {
		struct store_file f = {
			.fd = -1, .form = STORE_PLAIN, .size = size, .stored = size
		};
		free(name);
		cb(0, 0, NULL, &f, arg);
		return;
	}
	struct s3_open *o = xcalloc(1, sizeof(*o));
	o->cb = cb;
	o->arg = arg;
	o->size = size;
	snprintf(o->digest, sizeof(o->digest), "%s", digest);
	s3_head(bd.s3, name, opened, o);
	free(name);
}

/* A GET streamed into an HTTP answer. */
struct s3_stream {
	struct http_txn *txn;
	struct s3_req *req; /* NULL once done */
	char digest[DIGEST_STR_MAX];
	int status;
	struct http_headers h; /* sent with the first bytes */
	int64_t start, len, sent;
	bool started; /* the answer's head is out */
	bool paused;  /* the transfer waits for the output to drain */
	bool aborted; /* the client left */
	bool in_data; /* inside the data callback (the request cannot be cancelled there) */
};

/* Ends the answer (whole, cut short, or an error before any byte) and frees the stream. */
static void
stream_finish(struct s3_stream *st, bool whole, const struct s3_result *r)
{
	struct http_txn *txn = st->txn;
	http_txn_on_abort(txn, NULL, NULL);
	http_txn_on_drain(txn, NULL, NULL);
	if (st->aborted) {
		if (st->started)
			http_txn_end_response(txn);
		else
			http_txn_respond(txn, 499, NULL, NULL, 0); /* goes nowhere: frees the txn */
	} else if (whole) {
		http_txn_end_response(txn);
	} else if (st->started) {
		/* a short answer, never wrong bytes */
		log_error("blob %s: S3 read cut at byte %lld of %lld: %s", st->digest,
		          (long long)st->sent, (long long)st->len,
		          r != NULL && r->cause != NULL ? r->cause : "short answer");
		http_txn_close_after(txn);
		http_txn_end_response(txn);
	} else if (r != NULL && r->status == 404) {
		/* not plain (any more): the compressed object, or 404 when that is missing too */
		struct store_file f = { .fd = -1, .form = STORE_ZSTD, .size = -1, .stored = -1 };
		zstream_send(txn, st->digest, st->status, &st->h, &f, st->start, st->len);
	} else {
		log_error("blob %s: S3 read failed: %s", st->digest,
		          r != NULL && r->cause != NULL ? r->cause : "no answer");
		v2reply_error(txn, 503, OCI_UNAVAILABLE, "blob storage unavailable", st->digest);
	}
	headers_clear(&st->h);
	free(st);
}

/* The GET's bytes: into the answer, or paused while its output is full. */
static enum s3_data
stream_data(const void *data, size_t len, void *arg)
{
	struct s3_stream *st = arg;
	if (st->aborted || st->sent + (int64_t)len > st->len)
		return S3_DATA_STOP;
	if (!st->started) {
		st->started = true;
		http_txn_start_response(st->txn, st->status, &st->h, st->len);
	} else if (http_txn_output_full(st->txn)) {
		st->paused = true;
		return S3_DATA_PAUSE;
	}
	st->in_data = true;
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, data, len);
	http_txn_write(st->txn, out);
	evbuffer_free(out);
	st->in_data = false;
	st->sent += (int64_t)len;
	return st->aborted ? S3_DATA_STOP : S3_DATA_OK;
}

/* The GET ended. */
static void
stream_done(const struct s3_result *r, void *arg)
{
	struct s3_stream *st = arg;
	st->req = NULL;
	stream_finish(st, r->ok && st->sent == st->len, r);
}

/* The output drained: let a paused transfer go on. */
static void
stream_drain(struct http_txn *txn, void *arg)
{
	struct s3_stream *st = arg;
	if (st->paused && st->req != NULL) {
		st->paused = false;
		s3_req_resume(st->req);
	}
	(void)txn;
}

/* The client left: the transfer stops (from its own callback, if we are in it). */
static void
stream_abort(struct http_txn *txn, void *arg)
{
	struct s3_stream *st = arg;
	st->aborted = true;
	if (st->in_data || st->req == NULL)
		return; /* the data callback stops it; stream_done finishes */
	s3_req_cancel(st->req);
	st->req = NULL;
	stream_finish(st, false, NULL);
	(void)txn;
}

/* S3 driver: a ranged GET streamed into the answer (store_send). */
static void
s3store_send(struct http_txn *txn, const char *digest, int status, const struct http_headers *h,
             struct store_file *f, int64_t start, int64_t len)
{
	if (f->form == STORE_ZSTD) {
		zstream_send(txn, digest, status, h, f, start, len);
		return;
	}
	char *name = store_blob_name(digest);
	if (len <= 0 || name == NULL) {
		free(name);
		http_txn_respond(txn, status, h, NULL, 0);
		return;
	}
	struct s3_stream *st = xcalloc(1, sizeof(*st));
	st->txn = txn;
	snprintf(st->digest, sizeof(st->digest), "%s", digest);
	st->status = status;
	headers_init(&st->h);
	headers_copy(&st->h, h);
	st->start = start;
	st->len = len;
	http_txn_on_abort(txn, stream_abort, st);
	http_txn_on_drain(txn, stream_drain, st);
	st->req = s3_get(bd.s3, name, start, start + len - 1, stream_data, stream_done, st);
	free(name);
}

/* S3 driver: a pre-signed GET of the blob's object. */
static char *
s3store_url(const char *digest, int64_t expires)
{
	char *name = store_blob_name(digest);
	char *url = name != NULL ? s3_presign_get(bd.s3, name, expires, time(NULL)) : NULL;
	free(name);
	return url;
}

const struct store_driver store_s3_driver = {
	.name = "s3",
	.commit = s3store_commit,
	.exists = s3store_exists,
	.stored_size = s3store_stored_size,
	.zst_open = s3store_zst_open,
	.delete = s3store_delete,
	.sync_deleted = s3store_sync_deleted,
	.read = s3store_read,
	.send = s3store_send,
	.url = s3store_url,
};

int
store_s3_start(const struct s3_config *c, char **cause)
{
	bd.s3 = s3_new(bd.base, c, cause);
	if (bd.s3 == NULL)
		return -1;
	bd.s3c = c;
	bd.store = &store_s3_driver;
	return 0;
}

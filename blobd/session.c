/*
 * Upload sessions on disk: <root>/uploads/<id>/data holds the bytes received so far and
 * <id>/state (replaced atomically) the repository, the byte count and the running hash state.
 * The data file may hold more bytes than the state counts (a worker died mid-write); whoever opens
 * the session next cuts it back. The data file is flock'ed by the request that writes to the
 * session, so two workers never write one session at once, and the kernel drops the lock when a
 * worker dies.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blobd.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define STATE_MAX 4096
#define IOV_BATCH 64
#define WRITEBACK_EVERY (4 * 1024 * 1024) /* start the disk writes of this many bytes at once */
#define REHASH_CHUNK (1024 * 1024)

/* Whether an id from a URL or a folder name has our form (lowercase hex): safe in a path. */
bool
session_id_valid(const char *id)
{
	if (id == NULL || strlen(id) != SESSION_ID_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void
session_new_id(char id[SESSION_ID_LEN + 1])
{
	unsigned char rnd[SESSION_ID_LEN / 2];
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(id, SESSION_ID_LEN + 1, rnd, sizeof(rnd));
}

/* The folder of session id (caller frees). */
static char *
session_dir(const char *id)
{
	return xasprintf("%s/uploads/%s", bd.root, id);
}

/* The file an upload's bytes gather in, made the blob's file once verified; caller frees. */
char *
session_data_path(const struct session *s)
{
	return xasprintf("%s/uploads/%s/data", bd.root, s->id);
}

/* Frees the memory of a session (its file is closed by the caller). */
static void
session_free(struct session *s)
{
	free(s->repository);
	free(s->upload_id);
	for (size_t i = 0; i < s->nparts; i++)
		free(s->part_etag[i]);
	free(s->part_etag);
	free(s->part_no);
	free(s->tail_name);
	for (size_t i = 0; i < s->netag; i++)
		free(s->new_etag[i]);
	free(s->new_etag);
	free(s->new_tail);
	free(s);
}

void
session_close(struct session *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd); /* drops the flock */
	session_free(s);
}

/* Writes the state file with write + rename; fsyncs data, file and folder when sync. */
int
session_save(struct session *s, bool sync, char **cause)
{
	return session_save_as(s, &s->hash, sync, cause);
}

int
session_save_as(struct session *s, const struct digest_ctx *state, bool sync, char **cause)
{
	if (sync && fdatasync(s->fd) < 0) {
		*cause = xasprintf("fsync of upload %s: %s", s->id, strerror(errno));
		return -1;
	}
	json_object *o = json_object_new_object();
	char *hash = digest_state_save(state);
	json_object_object_add(o, "repository", json_object_new_string(s->repository));
	json_object_object_add(o, "algorithm", json_object_new_string(digest_algo_name(s->algo)));
	json_object_object_add(o, "offset", json_object_new_int64(s->offset));
	json_object_object_add(o, "hash", json_object_new_string(hash));
	json_object_object_add(o, "started_at", json_object_new_int64(s->started_at));
	if (s->grant.project_id > 0) {
		json_object_object_add(o, "project_id", json_object_new_int64(s->grant.project_id));
		json_object_object_add(o, "generation", json_object_new_int64(s->grant.generation));
	}
	const char *text = js_text(o);
	char *dir = session_dir(s->id);
	char *tmp = xasprintf("%s/state.tmp", dir), *path = xasprintf("%s/state", dir);
	int rc = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || (sync && fsync(fd) < 0)) {
		*cause = xasprintf("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*cause = xasprintf("cannot rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (sync) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	s->saved = s->offset;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	json_object_put(o);
	free(hash);
	free(dir);
	free(tmp);
	free(path);
	return rc;
}

struct session *
session_create(const char *repository, const struct actor_grant *grant, enum digest_algo algo,
               char **cause)
{
	struct session *s = xcalloc(1, sizeof(*s));
	s->grant = *grant;
	s->fd = -1;
	session_new_id(s->id);
	s->repository = xstrdup(repository);
	s->algo = algo;
	s->started_at = now_unix();
	digest_init(&s->hash, algo);
	char *dir = session_dir(s->id);
	char *data = xasprintf("%s/data", dir);
	if (mkdir(dir, 0750) < 0) {
		*cause = xasprintf("cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	s->fd = open(data, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (s->fd < 0) {
		*cause = xasprintf("cannot create %s: %s", data, strerror(errno));
		goto fail;
	}
	if (flock(s->fd, LOCK_EX | LOCK_NB) < 0) {
		*cause = xasprintf("cannot lock %s: %s", data, strerror(errno));
		goto fail;
	}
	s->locked = true;
	if (session_save(s, false, cause) < 0)
		goto fail;
	free(dir);
	free(data);
	return s;
fail:;
	int err = errno; /* the caller tells a full disk by it */
	unlink(data);
	rmdir(dir);
	free(dir);
	free(data);
	session_close(s);
	errno = err;
	return NULL;
}

/* Reads the state file into s; -1 when it is missing or not one of ours. */
static int
state_load(struct session *s)
{
	char *path = xasprintf("%s/uploads/%s/state", bd.root, s->id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -1;
	char buf[STATE_MAX];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || n == (ssize_t)sizeof(buf))
		return -1;
	char *cause = NULL;
	json_object *o = js_parse(buf, (size_t)n, &cause);
	free(cause);
	if (o == NULL)
		return -1;
	int rc = -1;
	const char *repo = js_str(o, "repository"), *algo = js_str(o, "algorithm");
	const char *hash = js_str(o, "hash");
	if (repo == NULL || !digest_algo_parse(algo, &s->algo) ||
	    !js_int(o, "offset", &s->offset) || s->offset < 0 ||
	    !js_int(o, "started_at", &s->started_at) ||
	    digest_state_load(&s->hash, s->algo, hash, (uint64_t)s->offset) < 0)
		goto out;
	js_int(o, "project_id", &s->grant.project_id);
	js_int(o, "generation", &s->grant.generation);
	s->repository = xstrdup(repo);
	s->saved = s->offset;
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

enum session_status
session_open(const char *id, const char *repository, const struct actor_grant *grant, bool lock,
             struct session **out)
{
	*out = NULL;
	if (!session_id_valid(id))
		return SESSION_UNKNOWN;
	struct session *s = xcalloc(1, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	char *data = session_data_path(s);
	s->fd = open(data, (lock ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	free(data);
	if (s->fd < 0) {
		int err = errno;
		session_close(s);
		return err == ENOENT ? SESSION_UNKNOWN : SESSION_ERROR;
	}
	if (lock) {
		if (flock(s->fd, LOCK_EX | LOCK_NB) < 0) {
			int err = errno;
			session_close(s);
			return err == EWOULDBLOCK ? SESSION_BUSY : SESSION_ERROR;
		}
		s->locked = true;
	}
	struct stat st;
	if (state_load(s) < 0 || strcmp(s->repository, repository) != 0 ||
	    (s->grant.project_id > 0 && (s->grant.project_id != grant->project_id ||
	                                 s->grant.generation != grant->generation)) ||
	    fstat(s->fd, &st) < 0 || st.st_size < s->offset) {
		/* gone, someone else's (another repository's, or one started on a project that
		 * has given its path up since: registry_grant_check), or broken (bytes lost
		 * without fsync): unknown to this caller */
		session_close(s);
		return SESSION_UNKNOWN;
	}
	if (lock && st.st_size > s->offset && ftruncate(s->fd, s->offset) < 0) {
		log_error("cannot cut upload %s back to %lld bytes: %s", id, (long long)s->offset,
		          strerror(errno));
		session_close(s);
		return SESSION_ERROR;
	}
	*out = s;
	return SESSION_OK;
}

int
session_write(struct session *s, struct evbuffer *buf, char **cause)
{
	size_t total = evbuffer_get_length(buf), done = 0;
	while (done < total) {
		struct evbuffer_ptr pos;
		evbuffer_ptr_set(buf, &pos, done, EVBUFFER_PTR_SET);
		struct evbuffer_iovec v[IOV_BATCH];
		int n = evbuffer_peek(buf, -1, &pos, v, IOV_BATCH);
		if (n > IOV_BATCH)
			n = IOV_BATCH;
		struct iovec iov[IOV_BATCH];
		size_t batch = 0;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			batch += v[i].iov_len;
		}
		if (batch > total - done)
			batch = total - done; /* never past the buffer's end */
		/* write, retrying short writes */
		size_t written = 0;
		int first = 0;
		while (written < batch) {
			ssize_t w = pwritev(s->fd, iov + first, n - first,
			                    s->offset - s->base + (off_t)written);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				*cause =
				        xasprintf("write to upload %s: %s", s->id, strerror(errno));
				return -1;
			}
			written += (size_t)w;
			while (first < n && (size_t)w >= iov[first].iov_len) {
				w -= (ssize_t)iov[first].iov_len;
				first++;
			}
			if (first < n) {
				iov[first].iov_base = (char *)iov[first].iov_base + w;
				iov[first].iov_len -= (size_t)w;
			}
		}
		s->offset += (int64_t)batch;
		s->unflushed += (int64_t)batch;
		done += batch;
		/* Start the disk writes now (without waiting), a few MiB at a time: the fsync
		 * before the blob is acknowledged then waits for the last ones only, not for the
		 * whole blob, and the disk gets requests large enough to be cheap. */
		if (bd.fsync && s->unflushed >= WRITEBACK_EVERY) {
			(void)sync_file_range(s->fd, s->offset - s->base - s->unflushed,
			                      (off_t)s->unflushed, SYNC_FILE_RANGE_WRITE);
			s->unflushed = 0;
		}
	}
	return 0;
}

int
session_digest(struct session *s, enum digest_algo algo, char out[DIGEST_STR_MAX], char **cause)
{
	if (algo == s->algo) {
		struct digest_ctx copy = s->hash;
		digest_final(&copy, out);
		return 0;
	}
	/* The client names another algorithm than the one we hashed with: read the bytes again. */
	struct digest_ctx d;
	digest_init(&d, algo);
	unsigned char *buf = xmalloc(REHASH_CHUNK);
	int64_t off = 0;
	int rc = 0;
	while (off < s->offset) {
		size_t want =
		        s->offset - off < REHASH_CHUNK ? (size_t)(s->offset - off) : REHASH_CHUNK;
		ssize_t n = pread(s->fd, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*cause = xasprintf("read of upload %s: %s", s->id,
			                   n < 0 ? strerror(errno) : "short file");
			rc = -1;
			break;
		}
		digest_update(&d, buf, (size_t)n);
		off += n;
	}
	free(buf);
	if (rc == 0)
		digest_final(&d, out);
	return rc;
}

/* Removes a session folder's files and the folder. Runs in pool threads, so it does not log:
 * whatever it could not remove, the next purge retries. */
static void
remove_dir(const char *id)
{
	char *dir = session_dir(id);
	static const char *const files[] = { "data", "state", "state.tmp" };
	for (size_t i = 0; i < nitems(files); i++) {
		char *p = xasprintf("%s/%s", dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
	free(dir);
}

void
session_rewind(struct session *s)
{
	if (!s->remote && s->fd >= 0 && s->locked && ftruncate(s->fd, s->saved) < 0)
		log_error("cannot cut upload %s back to %lld bytes: %s", s->id, (long long)s->saved,
		          strerror(errno));
	session_close(s);
}

void
session_destroy(struct session *s)
{
	if (!s->remote)
		remove_dir(s->id);
	session_close(s);
}

/* Newest modification time among a session's files, or -1 when none can be read. */
static int64_t
session_mtime(const char *id)
{
	static const char *const files[] = { "", "/data", "/state" };
	int64_t newest = -1;
	for (size_t i = 0; i < nitems(files); i++) {
		char *p = xasprintf("%s/uploads/%s%s", bd.root, id, files[i]);
		struct stat st;
		if (stat(p, &st) == 0 && st.st_mtime > newest)
			newest = st.st_mtime;
		free(p);
	}
	return newest;
}

unsigned
session_purge(int64_t older_than)
{
	/* One worker at a time walks the folder; the others skip this round. */
	char *lock_path = xasprintf("%s/uploads/.purge.lock", bd.root);
	int lfd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	free(lock_path);
	if (lfd < 0)
		return 0;
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		close(lfd);
		return 0;
	}
	char *uploads = xasprintf("%s/uploads", bd.root);
	DIR *d = opendir(uploads);
	free(uploads);
	int64_t now = now_unix();
	unsigned removed = 0;
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (!session_id_valid(e->d_name))
			continue;
		int64_t mtime = session_mtime(e->d_name);
		if (mtime < 0 || now - mtime < older_than)
			continue;
		/* Skip a session some request holds right now. */
		char *data = xasprintf("%s/uploads/%s/data", bd.root, e->d_name);
		int fd = open(data, O_RDONLY | O_CLOEXEC);
		free(data);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			continue;
		}
		remove_dir(e->d_name);
		if (fd >= 0)
			close(fd);
		removed++;
	}
	if (d != NULL)
		closedir(d);
	close(lfd);
	return removed;
}

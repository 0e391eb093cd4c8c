/*
 * The store's one interface (blobd.h) and its filesystem driver.
 *
 * Content-addressed blob files: <root>/blobs/<algo>/<first two hex digits>/<hex>, one file per
 * digest for the whole instance. A file appears there only after its bytes were verified (and
 * fsync'd), by link() from the upload, so a reader never sees a partial blob. Compression at rest
 * (compress.c) later replaces it, under the same name, by its compressed form (zst.c), which its
 * first bytes tell apart. Whoever replaces or deletes a blob's file holds flock on it: a deletion
 * waits for a compression under way, and a compression gives up on a file deleted meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobd.h"
#include "log.h"
#include "names.h"
#include "util.h"

/* <top>/<algo>/<2 hex>/<hex> of digest (top: a folder or a key prefix); NULL for an invalid
 * digest. */
static char *
fanned_name(const char *top, const char *digest)
{
	enum digest_algo algo;
	const char *hex;
	if (!name_split_digest(digest, &algo, &hex))
		return NULL;
	return xasprintf("%s/%s/%.2s/%s", top, digest_algo_name(algo), hex, hex);
}

char *
store_blob_path(const char *digest)
{
	char *top = xasprintf("%s/blobs", bd.root);
	char *path = fanned_name(top, digest);
	free(top);
	return path;
}

char *
store_blob_name(const char *digest)
{
	return fanned_name("blobs", digest);
}

char *
store_zst_name(const char *digest)
{
	return fanned_name("blobs-zst", digest);
}

char *
store_journal_path(const char *journal, const char *digest)
{
	enum digest_algo algo;
	const char *hex;
	if (!name_split_digest(digest, &algo, &hex))
		return NULL;
	return xasprintf("%s/%s/%s-%s", bd.root, journal, digest_algo_name(algo), hex);
}

char *
store_journal_digest(const char *name)
{
	const char *dash = strchr(name, '-');
	if (name[0] == '.' || dash == NULL)
		return NULL;
	char *digest = xasprintf("%.*s:%s", (int)(dash - name), name, dash + 1);
	if (!name_valid_digest(digest)) {
		free(digest);
		return NULL;
	}
	return digest;
}

int
store_identify(int fd, const char *digest, struct store_file *f)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		errno = EIO;
		return -1;
	}
	f->fd = fd;
	f->form = STORE_PLAIN;
	f->size = f->stored = st.st_size;
	uint8_t head[ZST_HEADER_MAX];
	ssize_t n;
	while ((n = pread(fd, head, sizeof(head), 0)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -1;
	if (zst_header_parse(head, (size_t)n, digest, &f->zh)) {
		f->form = STORE_ZSTD;
		f->size = f->zh.size;
	}
	return 0;
}

int
store_open(const char *digest, struct store_file *f)
{
	char *path = store_blob_path(digest);
	if (path == NULL) {
		errno = EINVAL;
		return -1;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -1;
	if (store_identify(fd, digest, f) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Filesystem driver: whether the blob's file is there. */
static bool
fs_exists(const char *digest)
{
	char *path = store_blob_path(digest);
	bool found = path != NULL && access(path, F_OK) == 0;
	free(path);
	return found;
}

/* Filesystem driver: the bytes the blob's file takes (store_stored_size). */
static int
fs_stored_size(const char *digest, int64_t *stored, char **cause)
{
	struct store_file f;
	int fd = store_open(digest, &f);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*cause = xasprintf("cannot open %s: %s", digest, strerror(errno));
		return -1;
	}
	close(fd);
	*stored = f.stored;
	return 1;
}

/* Filesystem driver: a reader of the compressed file f (store_zst_open). */
static struct zst_reader *
fs_zst_open(const char *digest, struct store_file *f, char **cause)
{
	(void)digest;
	struct zst_reader *r = zst_reader_open(f->fd, f->stored, &f->zh, cause);
	if (r == NULL)
		errno = EIO;
	return r;
}

/* fsync of a folder, so that a new entry in it survives a crash. */
static int
sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int
store_journal_note(const char *journal, const char *digest, bool sync, char **cause)
{
	char *path = store_journal_path(journal, digest);
	if (path == NULL) {
		*cause = xasprintf("invalid digest %s", digest);
		return -1;
	}
	/* a new entry, or a fresh mtime for one left before */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = -1;
	char *dir = xasprintf("%s/%s", bd.root, journal);
	if (fd < 0 || futimens(fd, NULL) < 0)
		*cause = xasprintf("cannot write %s: %s", path, strerror(errno));
	else if (sync && sync_dir(dir) < 0)
		*cause = xasprintf("cannot sync %s: %s", dir, strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	free(dir);
	free(path);
	return rc;
}

void
store_journal_forget(const char *journal, const char *digest)
{
	char *path = store_journal_path(journal, digest);
	if (path != NULL && unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
	free(path);
}

/* mkdir that tolerates a concurrent creator; *created tells whether we made it. */
static int
make_dir(const char *path, bool *created)
{
	if (mkdir(path, 0750) == 0) {
		*created = true;
		return 0;
	}
	*created = false;
	return errno == EEXIST ? 0 : -1;
}

/* Filesystem driver: links the verified file src as the blob's (store_commit). */
static int
fs_commit(const char *src, const char *digest, bool sync, bool *created, char **cause)
{
	*created = false;
	enum digest_algo algo;
	const char *hex;
	if (!name_split_digest(digest, &algo, &hex)) {
		*cause = xasprintf("invalid digest %s", digest);
		return -1;
	}
	char *blobs = xasprintf("%s/blobs", bd.root);
	char *algo_dir = xasprintf("%s/%s", blobs, digest_algo_name(algo));
	char *fan_dir = xasprintf("%s/%.2s", algo_dir, hex);
	char *path = xasprintf("%s/%s", fan_dir, hex);
	int rc = -1;
	bool made_algo, made_fan;
	if (access(path, F_OK) == 0) {
		rc = 0; /* stored before: one copy per digest */
		goto out;
	}
	if (make_dir(algo_dir, &made_algo) < 0 || make_dir(fan_dir, &made_fan) < 0) {
		*cause = xasprintf("cannot create %s: %s", fan_dir, strerror(errno));
		goto out;
	}
	if (sync && ((made_algo && sync_dir(blobs) < 0) || (made_fan && sync_dir(algo_dir) < 0))) {
		*cause = xasprintf("cannot sync %s: %s", algo_dir, strerror(errno));
		goto out;
	}
	struct stat st;
	if (stat(src, &st) < 0) {
		*cause = xasprintf("cannot stat %s: %s", src, strerror(errno));
		goto out;
	}
	struct tally t;
	tally_begin(digest, &t);
	if (link(src, path) == 0) {
		*created = true;
		tally_add(&t, STORE_PLAIN, 1, st.st_size, st.st_size);
	} else if (errno != EEXIST) {
		*cause = xasprintf("cannot link %s: %s", path, strerror(errno));
		tally_end(&t);
		goto out;
	}
	tally_end(&t);
	if (sync && sync_dir(fan_dir) < 0) {
		*cause = xasprintf("cannot sync %s: %s", fan_dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(blobs);
	free(algo_dir);
	free(fan_dir);
	free(path);
	return rc;
}

int
store_replace(const char *digest, int held, const char *src, int64_t stored, char **cause)
{
	char *path = store_blob_path(digest);
	struct stat old, now;
	struct store_file f;
	int rc = -1;
	if (fstat(held, &old) < 0 || store_identify(held, digest, &f) < 0) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	struct tally t;
	tally_begin(digest, &t);
	if (stat(path, &now) < 0 || now.st_ino != old.st_ino || now.st_dev != old.st_dev) {
		rc = 1; /* deleted or replaced by someone who did not hold the file */
	} else if (rename(src, path) < 0) {
		*cause = xasprintf("cannot rename %s: %s", src, strerror(errno));
	} else {
		tally_add(&t, f.form, -1, -f.stored, -f.size);
		tally_add(&t, STORE_ZSTD, 1, stored, f.size);
		rc = 0;
	}
	tally_end(&t);
out:
	free(path);
	return rc;
}

/* Filesystem driver: unlinks the blob's file under its flock (store_delete). */
static int
fs_delete(const char *digest, int64_t *bytes, char **cause)
{
	*bytes = 0;
	char *path = store_blob_path(digest);
	if (path == NULL) {
		*cause = xasprintf("invalid digest %s", digest);
		return -1;
	}
	int rc = -1;
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				rc = 0;
			else
				*cause = xasprintf("cannot open %s: %s", path, strerror(errno));
			break;
		}
		/* wait for a compression of the file to place its result or give up */
		struct stat held, now;
		struct store_file f;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &held) < 0) {
			*cause = xasprintf("cannot lock %s: %s", path, strerror(errno));
			close(fd);
			break;
		}
		if (stat(path, &now) < 0 || now.st_ino != held.st_ino ||
		    now.st_dev != held.st_dev) {
			close(fd); /* replaced meanwhile: delete what is there now */
			continue;
		}
		if (store_identify(fd, digest, &f) < 0) {
			f.form = STORE_PLAIN;
			f.size = f.stored = held.st_size;
		}
		struct tally t;
		tally_begin(digest, &t);
		if (unlink(path) == 0) {
			tally_add(&t, f.form, -1, -f.stored, -f.size);
			*bytes = f.stored;
			rc = 0;
		} else if (errno == ENOENT) {
			rc = 0;
		} else {
			*cause = xasprintf("cannot remove %s: %s", path, strerror(errno));
		}
		tally_end(&t);
		close(fd);
		break;
	}
	free(path);
	return rc;
}

/* Filesystem driver: fsyncs the folders the deleted files were in (store_sync_deleted). */
static void
fs_sync_deleted(char *const *digests, bool *deleted, size_t n)
{
	if (!bd.fsync)
		return;
	char **dirs = xcalloc(n + 1, sizeof(*dirs));
	size_t ndirs = 0;
	for (size_t i = 0; i < n; i++) {
		char *path = deleted[i] ? store_blob_path(digests[i]) : NULL;
		char *slash = path != NULL ? strrchr(path, '/') : NULL;
		if (slash == NULL) {
			free(path);
			continue;
		}
		*slash = '\0';
		bool seen = false;
		for (size_t k = 0; k < ndirs && !seen; k++)
			seen = strcmp(dirs[k], path) == 0;
		if (seen)
			free(path);
		else
			dirs[ndirs++] = path;
	}
	for (size_t k = 0; k < ndirs; k++) {
		int fd = open(dirs[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0 && fsync(fd) < 0) {
			/* not durable: none of this folder's deletions is */
			log_warn("cannot sync %s: %s", dirs[k], strerror(errno));
			size_t len = strlen(dirs[k]);
			for (size_t i = 0; i < n; i++) {
				char *p = store_blob_path(digests[i]);
				if (p != NULL && strncmp(p, dirs[k], len) == 0 && p[len] == '/')
					deleted[i] = false;
				free(p);
			}
		}
		if (fd >= 0)
			close(fd);
		free(dirs[k]);
	}
	free(dirs);
}

/* Filesystem driver: opens the file, at once (store_read). */
static void
fs_read(const char *digest, int64_t size, bool probe, store_read_fn cb, void *arg)
{
	(void)size; /* opening the file tells its size and form as cheaply */
	(void)probe;
	struct store_file f;
	if (store_open(digest, &f) < 0) {
		int err = errno;
		cb(-1, err, strerror(err), NULL, arg);
		return;
	}
	cb(0, 0, NULL, &f, arg);
}

/* Filesystem driver: a plain file's range through the HTTP layer (sendfile), a compressed one
 * decompressed by zstream.c (store_send). */
static void
fs_send(struct http_txn *txn, const char *digest, int status, const struct http_headers *h,
        struct store_file *f, int64_t start, int64_t len)
{
	if (f->form == STORE_ZSTD) {
		zstream_send(txn, digest, status, h, f, start, len);
		return;
	}
	http_txn_start_response(txn, status, h, len);
	http_txn_write_file(txn, f->fd, (off_t)start, (off_t)len);
	http_txn_end_response(txn);
}

/* Filesystem driver: files have no URL of their own. */
static char *
fs_url(const char *digest, int64_t expires)
{
	(void)digest;
	(void)expires;
	return NULL;
}

const struct store_driver store_fs_driver = {
	.name = "filesystem",
	.commit = fs_commit,
	.exists = fs_exists,
	.stored_size = fs_stored_size,
	.zst_open = fs_zst_open,
	.delete = fs_delete,
	.sync_deleted = fs_sync_deleted,
	.read = fs_read,
	.send = fs_send,
	.url = fs_url,
};

/* The configured driver (the filesystem's until main.c says otherwise). */
static const struct store_driver *
driver(void)
{
	return bd.store != NULL ? bd.store : &store_fs_driver;
}

int
store_commit(const char *src, const char *digest, bool sync, bool *created, char **cause)
{
	return driver()->commit(src, digest, sync, created, cause);
}

bool
store_exists(const char *digest)
{
	return driver()->exists(digest);
}

int
store_delete(const char *digest, int64_t *bytes, char **cause)
{
	return driver()->delete (digest, bytes, cause);
}

struct zst_reader *
store_zst_open(const char *digest, struct store_file *f, char **cause)
{
	return driver()->zst_open(digest, f, cause);
}

int
store_stored_size(const char *digest, int64_t *stored, char **cause)
{
	return driver()->stored_size(digest, stored, cause);
}

void
store_sync_deleted(char *const *digests, bool *deleted, size_t n)
{
	driver()->sync_deleted(digests, deleted, n);
}

void
store_read(const char *digest, int64_t size, bool probe, store_read_fn cb, void *arg)
{
	driver()->read(digest, size, probe, cb, arg);
}

void
store_send(struct http_txn *txn, const char *digest, int status, const struct http_headers *h,
           struct store_file *f, int64_t start, int64_t len)
{
	driver()->send(txn, digest, status, h, f, start, len);
}

char *
store_url(const char *digest, int64_t expires)
{
	return driver()->url(digest, expires);
}

/* Whether a failure's errno says the storage is full. */
bool
store_no_space(int err)
{
	return err == ENOSPC || err == EDQUOT;
}

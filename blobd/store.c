/*
 * Content-addressed blob files: <root>/blobs/<algo>/<first two hex digits>/<hex>, one file per
 * digest for the whole instance. A file appears there only after its bytes were verified (and
 * fsync'd), by link() from the upload, so a reader never sees a partial blob.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobd.h"
#include "names.h"
#include "util.h"

char *
store_blob_path(const char *digest)
{
	enum digest_algo algo;
	const char *hex;
	if (!digest_split(digest, &algo, &hex))
		return NULL;
	return xasprintf("%s/blobs/%s/%.2s/%s", bd.root, digest_algo_name(algo), hex, hex);
}

int
store_open(const char *digest, int64_t *size)
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
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EIO;
		return -1;
	}
	*size = st.st_size;
	return fd;
}

bool
store_exists(const char *digest)
{
	char *path = store_blob_path(digest);
	bool found = path != NULL && access(path, F_OK) == 0;
	free(path);
	return found;
}

int
store_remove(const char *digest, int64_t *bytes)
{
	*bytes = 0;
	char *path = store_blob_path(digest);
	if (path == NULL) {
		errno = EINVAL;
		return -1;
	}
	struct stat st;
	int rc = 0;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		*bytes = (int64_t)st.st_size;
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			*bytes = 0;
		else
			rc = -1;
	}
	free(path);
	return rc;
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

int
store_commit(const char *src, const char *digest, bool sync, char **cause)
{
	enum digest_algo algo;
	const char *hex;
	if (!digest_split(digest, &algo, &hex)) {
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
	if (link(src, path) < 0 && errno != EEXIST) {
		*cause = xasprintf("cannot link %s: %s", path, strerror(errno));
		goto out;
	}
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

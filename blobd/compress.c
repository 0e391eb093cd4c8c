/*
 * Compression at rest. A blob is stored as it arrives (verified, fsync'd, acknowledged with 201);
 * then a background thread of the worker (jobs_submit_background, at a lower priority) decides
 * whether it is worth compressing and, if so, writes its compressed form (zst.c) in <root>/tmp,
 * checks it, makes it durable and renames it over the plain file (store_replace). Readers that
 * opened the plain file keep reading it; later opens find the compressed form.
 *
 * Why afterwards rather than while the upload streams: one core compresses a rootfs tar at about
 * 300 MB/s here (level 3; less under load) where an upload streams at about 900 MB/s, so
 * compressing in the upload's path would make the client wait for it (tests/bench/RESULTS.md).
 *
 * What stays plain, as it was stored (and keeps the gateway's sendfile() path): content that
 * starts with a compressor's magic number (gzip, zstd, xz, bzip2, lz4: most layers), content
 * whose first frame does not shrink to 7/8 of its size or less, and content whose compressed form
 * as a whole is not 7/8 of it or less. The bytes compressed are hashed on the way and must give
 * the blob's digest, and every frame is decompressed and compared before it is written.
 *
 * A worker that dies (or is retired by a reload) mid-way leaves a scratch file, which a later
 * purge round removes, and a blob that stays plain: reads never depend on a compression
 * finishing. A blob pushed again while its file is plain is examined again, which is also how
 * blobs stored before compression was turned on get compressed.
 *
 * metad keeps the bytes each blob takes on disk (administrators see them per namespace): before
 * a compression puts the compressed form in place it notes the blob in stored.c's journal, and
 * the worker then tells metad the file's size; a job that finds a blob's file compressed already
 * (pushed again, maybe after garbage collection made its row again) tells it too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "blobd.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define BACKGROUND_THREADS 1
#define BACKGROUND_NICE 10
#define SCRATCH_GRACE 60 /* seconds: a scratch file nobody holds that long is a dead worker's */
#define YIELD_QUIET_US 1000000 /* uploads stream while their bytes came this recently */
#define YIELD_MAX_US 10000000  /* the longest a frame waits for them */
#define YIELD_STEP_US 50000

enum outcome { OUT_NONE, OUT_COMPRESSED, OUT_PRECOMPRESSED, OUT_INCOMPRESSIBLE, OUT_FAILED };

struct compress_job {
	char *digest;
	enum outcome outcome;
	int64_t size, stored;
	int64_t report; /* the file's bytes on disk to tell metad; -1: nothing to tell */
	uint64_t started_us;
	char *cause;
};

/* Whether content starting with the n bytes at b is a compressor's output. */
static bool
precompressed(const uint8_t *b, size_t n)
{
	static const struct {
		size_t len;
		const char *magic;
	} magics[] = {
		{ 2, "\x1f\x8b" },                 /* gzip */
		{ 4, "\x28\xb5\x2f\xfd" },         /* zstd */
		{ 6, "\xfd\x37\x7a\x58\x5a\x00" }, /* xz */
		{ 3, "BZh" },                      /* bzip2 */
		{ 4, "\x04\x22\x4d\x18" },         /* lz4 */
	};
	for (size_t i = 0; i < nitems(magics); i++)
		if (n >= magics[i].len && memcmp(b, magics[i].magic, magics[i].len) == 0)
			return true;
	/* a zstd stream may start with a skippable frame (0x184D2A50..5F) */
	return n >= 4 && (b[0] & 0xf0) == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18;
}

/* Whether compressed bytes out of in original ones are worth keeping (7/8 or less). */
static bool
shrinks(int64_t out, int64_t in)
{
	return out <= in - in / 8;
}

/*
 * Waits while uploads stream at any worker, at most YIELD_MAX_US: the compressor then takes
 * neither CPU nor disk from a push. A nice value is not enough: the scheduler shares the CPU
 * between sessions (autogroups) or services (cgroups) first, and blobd's session competes with
 * the gateway's as a whole, background thread included. The bound keeps a registry that is never
 * idle compressing, one frame at a time.
 */
static void
yield_to_uploads(void)
{
	uint64_t start = now_monotonic_us(), now = start;
	while (now - metrics_blob_upload_last() < YIELD_QUIET_US && now - start < YIELD_MAX_US) {
		usleep(YIELD_STEP_US);
		now = now_monotonic_us();
	}
}

/* Reads exactly len bytes at off of fd; -1 with *cause. */
static int
read_at(int fd, uint8_t *buf, size_t len, int64_t off, char **cause)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + (int64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*cause = xasprintf("read at %lld: %s", (long long)(off + (int64_t)got),
			                   n < 0 ? strerror(errno) : "short file");
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* Writes the compressed form of the plain file fd (size bytes) into the scratch file out;
 * its size, 0 when it is not worth it, -1 with j->cause. */
static int64_t
write_compressed(struct compress_job *j, int fd, int64_t size, int out)
{
	enum digest_algo algo;
	const char *hex;
	name_split_digest(j->digest, &algo, &hex);
	struct digest_ctx hash;
	digest_init(&hash, algo);
	uint32_t frame = bd.frame_size;
	uint8_t *buf = xmalloc(frame);
	int64_t rc = -1;
	struct zst_writer *w =
	        zst_writer_new(out, j->digest, size, frame, bd.compress_level, &j->cause);
	if (w == NULL)
		goto out;
	for (int64_t off = 0; off < size;) {
		size_t n = size - off < frame ? (size_t)(size - off) : frame;
		yield_to_uploads();
		if (read_at(fd, buf, n, off, &j->cause) < 0)
			goto out;
		digest_update(&hash, buf, n);
		int64_t c = zst_writer_frame(w, buf, n, &j->cause);
		if (c < 0)
			goto out;
		if (off == 0 && !shrinks(c, (int64_t)n)) {
			j->outcome = OUT_INCOMPRESSIBLE; /* the sample says so: stop here */
			rc = 0;
			goto out;
		}
		off += (int64_t)n;
	}
	int64_t total = zst_writer_finish(w, &j->cause);
	if (total < 0)
		goto out;
	char computed[DIGEST_STR_MAX];
	digest_final(&hash, computed);
	if (strcmp(computed, j->digest) != 0) {
		j->cause = xasprintf("the stored file's digest is %s", computed);
		goto out;
	}
	if (!shrinks(total, size)) {
		j->outcome = OUT_INCOMPRESSIBLE;
		rc = 0;
		goto out;
	}
	rc = total;
out:
	zst_writer_free(w);
	free(buf);
	return rc;
}

/* Compresses the held plain file fd of j->digest (size bytes) through a scratch file and puts
 * the result in its place. */
static void
compress_held(struct compress_job *j, int fd, const struct stat *held)
{
	const char *hex = strchr(j->digest, ':') + 1;
	char *tmp = xasprintf("%s/tmp/%s.XXXXXX", bd.root, hex);
	int out = mkstemp(tmp);
	if (out < 0) {
		j->cause = xasprintf("cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return;
	}
	/* held while we write, so that a sweep of the scratch folder leaves it alone */
	(void)flock(out, LOCK_EX);
	(void)fchmod(out, held->st_mode & 0777);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	int64_t total = write_compressed(j, fd, held->st_size, out);
	if (total > 0)
		yield_to_uploads(); /* the fsync is the disk's too */
	if (total > 0 && bd.fsync && fsync(out) < 0) {
		j->cause = xasprintf("fsync of %s: %s", tmp, strerror(errno));
		total = -1;
	}
	if (total > 0 && stored_note(j->digest, &j->cause) < 0)
		total = -1;
	if (total > 0) {
		int r = store_replace(j->digest, fd, tmp, total, &j->cause);
		if (r == 0) {
			j->outcome = OUT_COMPRESSED;
			j->stored = j->report = total;
		} else if (r > 0) {
			j->outcome = OUT_NONE; /* deleted or replaced meanwhile */
		}
		if (r != 0)
			stored_forget(j->digest);
	}
	if (j->outcome != OUT_COMPRESSED)
		unlink(tmp);
	close(out);
	free(tmp);
}

/* Background thread: compresses j->digest's file if it is plain and worth it. */
static void
job_compress(void *arg)
{
	struct compress_job *j = arg;
	j->outcome = OUT_FAILED;
	char *path = store_blob_path(j->digest);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat held = { 0 };
	struct store_file f = { .form = STORE_PLAIN };
	if (fd < 0) {
		j->outcome = OUT_NONE; /* deleted before its turn */
		return;
	}
	/* the file may be deleted (store_delete) only once we are done with it */
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &held) < 0 || held.st_nlink == 0 ||
	    store_identify(fd, j->digest, &f) < 0 || f.form != STORE_PLAIN) {
		j->outcome = OUT_NONE; /* gone, or compressed already: metad hears its size again */
		char *cause = NULL;
		if (held.st_nlink > 0 && f.form == STORE_ZSTD) {
			if (stored_note(j->digest, &cause) < 0)
				log_warn("blob %s: %s", j->digest, cause);
			j->report = f.stored;
		}
		free(cause);
		close(fd);
		return;
	}
	j->size = held.st_size;
	uint8_t magic[8];
	size_t n = held.st_size < (off_t)sizeof(magic) ? (size_t)held.st_size : sizeof(magic);
	if (held.st_size == 0)
		j->outcome = OUT_INCOMPRESSIBLE;
	else if (read_at(fd, magic, n, 0, &j->cause) < 0)
		j->outcome = OUT_FAILED;
	else if (precompressed(magic, n))
		j->outcome = OUT_PRECOMPRESSED; /* most layers: known without a scratch file */
	else
		compress_held(j, fd, &held);
	if (j->outcome == OUT_FAILED && j->cause == NULL)
		j->cause = xstrdup("unknown error");
	close(fd);
}

/* A scratch file under <root>/tmp for digest, held (flock) so that a sweep leaves it alone;
 * -1 with *cause. *path is the caller's to free (and unlink). */
static int
scratch_open(const char *digest, char **path, char **cause)
{
	*path = xasprintf("%s/tmp/%s.XXXXXX", bd.root, strchr(digest, ':') + 1);
	int fd = mkstemp(*path);
	if (fd < 0) {
		*cause = xasprintf("cannot create %s: %s", *path, strerror(errno));
		return -1;
	}
	(void)flock(fd, LOCK_EX);
	return fd;
}

/* storage = s3: whether the object's first frame shrinks enough, asked before its whole is
 * fetched (noise stays plain for the price of one frame); sets j->outcome when it does not. */
static bool
sample_shrinks(struct compress_job *j, const char *plain, int64_t size)
{
	size_t n = size < (int64_t)bd.frame_size ? (size_t)size : bd.frame_size;
	size_t cap = ZSTD_compressBound(n);
	uint8_t *in = xmalloc(n), *out = xmalloc(cap);
	bool worth = false;
	if (store_s3_read(plain, in, n, 0, &j->cause) == 0) {
		size_t c = ZSTD_compress(out, cap, in, n, bd.compress_level);
		if (ZSTD_isError(c))
			j->cause = xasprintf("zstd: %s", ZSTD_getErrorName(c));
		else if (!(worth = shrinks((int64_t)c, (int64_t)n)))
			j->outcome = OUT_INCOMPRESSIBLE;
	}
	free(in);
	free(out);
	return worth;
}

/* storage = s3: compresses the plain object (size bytes) through two scratch files: the plain
 * bytes, then the compressed form, which goes up as the compressed object; metad hears its size;
 * then the plain object goes. A reader that finds the plain object gone reads the compressed one
 * (store_s3.c). */
static void
compress_object(struct compress_job *j, const char *plain, const char *zst, int64_t size)
{
	char *in_path = NULL, *out_path = NULL;
	int in = scratch_open(j->digest, &in_path, &j->cause);
	int out = in >= 0 ? scratch_open(j->digest, &out_path, &j->cause) : -1;
	int64_t total = -1;
	if (out >= 0 && store_s3_get_fd(plain, in, size, &j->cause) == 0)
		total = write_compressed(j, in, size, out);
	/* an object no row names (the blob collected meanwhile) is found by the orphan sweep */
	if (total > 0 && (store_journal_note("placing", j->digest, bd.fsync, &j->cause) < 0 ||
	                  stored_note(j->digest, &j->cause) < 0))
		total = -1;
	if (total > 0 && store_s3_put_object(zst, out, total, &j->cause) < 0) {
		stored_forget(j->digest);
		total = -1;
	}
	if (total > 0) {
		j->outcome = OUT_COMPRESSED;
		j->stored = j->report = total;
		store_s3_remove(plain);
	}
	for (int i = 0; i < 2; i++) {
		int fd = i == 0 ? in : out;
		char *path = i == 0 ? in_path : out_path;
		if (fd >= 0) {
			unlink(path);
			close(fd);
		}
		free(path);
	}
}

/* Background thread, storage = s3: compresses j->digest's plain object if it is worth it. A blob
 * held in both forms (pushed again while compressed, or a compression cut short before its
 * plain object went) keeps the compressed one. */
static void
job_compress_s3(void *arg)
{
	struct compress_job *j = arg;
	j->outcome = OUT_FAILED;
	char *plain = store_blob_name(j->digest), *zst = store_zst_name(j->digest);
	int64_t size = 0, stored = 0;
	uint8_t magic[8];
	int has_plain = store_s3_head(plain, &size, &j->cause);
	int has_zst = has_plain >= 0 ? store_s3_head(zst, &stored, &j->cause) : -1;
	if (has_plain < 0 || has_zst < 0) {
		j->outcome = OUT_FAILED;
	} else if (has_zst > 0) {
		j->outcome = OUT_NONE; /* metad hears the compressed size again */
		if (stored_note(j->digest, &j->cause) == 0)
			j->report = stored;
		if (has_plain > 0)
			store_s3_remove(plain);
	} else if (has_plain == 0) {
		j->outcome = OUT_NONE; /* deleted before its turn */
	} else {
		j->size = size;
		size_t n = size < (int64_t)sizeof(magic) ? (size_t)size : sizeof(magic);
		if (size == 0)
			j->outcome = OUT_INCOMPRESSIBLE;
		else if (store_s3_read(plain, magic, n, 0, &j->cause) < 0)
			j->outcome = OUT_FAILED;
		else if (precompressed(magic, n))
			j->outcome = OUT_PRECOMPRESSED;
		else if (sample_shrinks(j, plain, size))
			compress_object(j, plain, zst, size);
	}
	if (j->outcome == OUT_FAILED && j->cause == NULL)
		j->cause = xstrdup("unknown error");
	free(plain);
	free(zst);
}

/* In the loop after a compression: the log line and the counter. */
static void
compressed(void *arg)
{
	struct compress_job *j = arg;
	double secs = (double)(now_monotonic_us() - j->started_us) / 1e6;
	switch (j->outcome) {
	case OUT_COMPRESSED:
		metrics_blob_outcome(METRICS_BLOB_COMPRESSED);
		log_info("blob %s compressed: %lld bytes stored for %lld (%.1f%%) after %.1f s",
		         j->digest, (long long)j->stored, (long long)j->size,
		         100.0 * (double)j->stored / (double)j->size, secs);
		break;
	case OUT_PRECOMPRESSED:
		metrics_blob_outcome(METRICS_BLOB_PRECOMPRESSED);
		log_debug("blob %s stays plain: compressed content", j->digest);
		break;
	case OUT_INCOMPRESSIBLE:
		metrics_blob_outcome(METRICS_BLOB_INCOMPRESSIBLE);
		log_debug("blob %s stays plain: it does not shrink enough", j->digest);
		break;
	case OUT_FAILED:
		metrics_blob_outcome(METRICS_BLOB_FAILED);
		log_error("blob %s stays plain: compression failed: %s", j->digest, j->cause);
		break;
	case OUT_NONE:
		break;
	}
	if (j->report >= 0)
		stored_report(j->digest, j->report);
	free(j->digest);
	free(j->cause);
	free(j);
}

void
compress_blob(const char *digest)
{
	if (!bd.compress)
		return;
	struct compress_job *j = xcalloc(1, sizeof(*j));
	j->digest = xstrdup(digest);
	j->report = -1;
	j->started_us = now_monotonic_us();
	jobs_submit_background(bd.store == &store_s3_driver ? job_compress_s3 : job_compress,
	                       compressed, j);
}

/* Background thread: removes scratch files that no compression holds any more. */
static void
job_sweep(void *arg)
{
	char *dir = xasprintf("%s/tmp", bd.root);
	DIR *d = opendir(dir);
	int64_t now = now_unix();
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
		    S_ISREG(st.st_mode) && now - st.st_mtime >= SCRATCH_GRACE)
			unlinkat(dirfd(d), e->d_name, 0);
		if (fd >= 0)
			close(fd);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
	(void)arg;
}

void
compress_sweep(void)
{
	jobs_submit_background(job_sweep, NULL, NULL);
}

int
compress_start(char **cause)
{
	metrics_compress_enable();
	return jobs_init_background(BACKGROUND_THREADS, BACKGROUND_NICE, cause);
}

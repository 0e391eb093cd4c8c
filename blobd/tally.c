/*
 * The storage gauges (registry_blob_files, _stored_bytes, _original_bytes by form): what the blob
 * files take on disk and what they hold, exact at every moment once blobd has counted them.
 *
 * When a master starts, one of its workers counts every folder blobs/<algo>/<2 hex> in the
 * background; from then on every change (a blob placed, compressed, deleted) adds its difference.
 * The two never count a file twice or miss one: a change holds its folder's flock shared from
 * before it touches the folder until its difference is added, and adds it only when the folder
 * was counted already; the count holds the folder's flock exclusive while it reads the folder and
 * marks it counted. The marks and the sums live in the metrics' shared memory, so they outlive a
 * worker (a count cut short by a dead worker is finished by the next one) and restart with the
 * master.
 *
 * With storage = s3 the blobs are objects of a bucket that several nodes share, and no node sees
 * the others' changes: the gauges are then the database's, which every node shares (tally_s3.c).
 */
#include <dirent.h>
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
#include "metrics.h"
#include "util.h"

#define FANS 256

/* The folders' algorithms, in the order of enum digest_algo. */
static const enum digest_algo algos[] = { DIGEST_SHA256, DIGEST_SHA512 };
_Static_assert(nitems(algos) * FANS == METRICS_BLOB_FOLDERS, "a mark for every folder");

/* What the start-up count found, for its log line. */
struct count_run {
	int64_t files, stored, original;
	bool done; /* every folder is counted */
	uint64_t started_us;
};

static bool count(struct count_run *res);

/* The index of digest's folder among METRICS_BLOB_FOLDERS. */
static unsigned
folder_of(const char *digest)
{
	enum digest_algo algo;
	const char *hex;
	if (!name_split_digest(digest, &algo, &hex))
		return METRICS_BLOB_FOLDERS;
	unsigned fan;
	sscanf(hex, "%2x", &fan);
	return (unsigned)algo * FANS + fan;
}

/* The path of folder i. */
static char *
folder_path(unsigned i)
{
	return xasprintf("%s/blobs/%s/%02x", bd.root, digest_algo_name(algos[i / FANS]), i % FANS);
}

/* The gauges' form of a store form. */
static enum metrics_blob_form
gauge_form(enum store_form form)
{
	return form == STORE_ZSTD ? METRICS_BLOB_ZSTD : METRICS_BLOB_PLAIN;
}

void
tally_begin(const char *digest, struct tally *t)
{
	t->folder = folder_of(digest);
	t->dfd = -1;
	if (t->folder >= METRICS_BLOB_FOLDERS)
		return;
	char *path = folder_path(t->folder);
	t->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(path);
	/* Without the folder (a failed mkdir) nothing is placed in it either. */
	if (t->dfd >= 0 && flock(t->dfd, LOCK_SH) < 0) {
		close(t->dfd);
		t->dfd = -1;
	}
}

void
tally_add(struct tally *t, enum store_form form, int64_t files, int64_t stored, int64_t original)
{
	if (t->dfd >= 0 && metrics_blob_counted(t->folder))
		metrics_blob_add(gauge_form(form), files, stored, original);
}

void
tally_end(struct tally *t)
{
	if (t->dfd >= 0)
		close(t->dfd); /* releases the flock */
	t->dfd = -1;
}

/* Counts the blob files of folder i, which the caller holds exclusive, into the gauges. */
static void
count_folder(unsigned i, int dfd, struct count_run *res)
{
	int64_t files[METRICS_BLOB_FORMS] = { 0 }, stored[METRICS_BLOB_FORMS] = { 0 },
	        original[METRICS_BLOB_FORMS] = { 0 };
	int dup_fd = dup(dfd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (d == NULL && dup_fd >= 0)
		close(dup_fd);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char digest[DIGEST_STR_MAX];
		int n = snprintf(digest, sizeof(digest), "%s:%s", digest_algo_name(algos[i / FANS]),
		                 e->d_name);
		if (n < 0 || (size_t)n >= sizeof(digest) || folder_of(digest) != i)
			continue; /* not a blob's name */
		int fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct store_file f;
		if (fd >= 0 && store_identify(fd, digest, &f) == 0) {
			enum metrics_blob_form g = gauge_form(f.form);
			files[g]++;
			stored[g] += f.stored;
			original[g] += f.size;
		}
		if (fd >= 0)
			close(fd);
	}
	if (d != NULL)
		closedir(d);
	for (int g = 0; g < METRICS_BLOB_FORMS; g++) {
		metrics_blob_add((enum metrics_blob_form)g, files[g], stored[g], original[g]);
		res->files += files[g];
		res->stored += stored[g];
		res->original += original[g];
	}
}

bool
tally_count(int64_t *files, int64_t *stored, int64_t *original)
{
	struct count_run run = { 0 };
	bool done = count(&run);
	*files = run.files;
	*stored = run.stored;
	*original = run.original;
	return done;
}

/* Counts every folder not counted yet into res, unless another worker is at it; whether every
 * folder is counted now. */
static bool
count(struct count_run *res)
{
	char *lock_path = xasprintf("%s/tmp/.count.lock", bd.root);
	int lfd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock_path);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		if (lfd >= 0)
			close(lfd);
		return false;
	}
	bool all = true;
	for (unsigned i = 0; i < METRICS_BLOB_FOLDERS; i++) {
		if (metrics_blob_counted(i))
			continue;
		/* The folder is made if missing, so that a change racing with the count finds
		 * the count's lock on it. */
		char *algo_dir =
		        xasprintf("%s/blobs/%s", bd.root, digest_algo_name(algos[i / FANS]));
		char *path = folder_path(i);
		(void)mkdir(algo_dir, 0750);
		(void)mkdir(path, 0750);
		int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(algo_dir);
		free(path);
		if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
			all = false;
			if (dfd >= 0)
				close(dfd);
			continue;
		}
		count_folder(i, dfd, res);
		metrics_blob_set_counted(i);
		close(dfd);
	}
	close(lfd);
	return all;
}

/* Background thread: the count. */
static void
job_count(void *arg)
{
	struct count_run *res = arg;
	res->done = count(res);
}

/* In the loop after a count: one line for the log. */
static void
counted(void *arg)
{
	struct count_run *res = arg;
	if (res->done && res->started_us != 0)
		log_info("storage counted: %lld blob files, %lld bytes stored for %lld bytes of "
		         "blobs, in %.1f s",
		         (long long)res->files, (long long)res->stored, (long long)res->original,
		         (double)(now_monotonic_us() - res->started_us) / 1e6);
	free(res);
}

void
tally_start(void)
{
	metrics_blob_enable();
	if (bd.s3 != NULL)
		return; /* the database's figures, read at each scrape (tally_s3.c) */
	bool all = true;
	for (unsigned i = 0; i < METRICS_BLOB_FOLDERS && all; i++)
		all = metrics_blob_counted(i);
	if (all)
		return;
	struct count_run *res = xcalloc(1, sizeof(*res));
	res->started_us = now_monotonic_us();
	jobs_submit_background(job_count, counted, res);
}

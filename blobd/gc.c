/*
 * Online garbage collection, blobd's side. blobd has no database: metad decides what is garbage
 * (metad/gc.c) and blobd deletes a blob file only on metad's word (metad/internal_gc.c), once the
 * blob's row is gone and committed. Protocol: docs/INTERNALS.md, "Garbage collection".
 *
 * One worker of the storage does this: the first that takes the lock file (placing/.lock, flock)
 * keeps it for its life, and the others try again every second, so another takes over within a
 * second of its death; the claims of this host that are not acknowledged are then a dead
 * worker's, and the next round takes them again. Its round, every second while there is work
 * (the pause doubles up to [gc] interval while there is none):
 *   1. the placement journal: a file placing/<algo>-<hex> is written (durably) before a blob file
 *      is placed and removed once metad linked it; an entry older than [gc] orphan_grace is a file
 *      whose link never came (refused, or blobd died): metad queues it for deletion unless a blob
 *      row names it. Only the journal is read, never the store: its size is the uploads in flight
 *      and those that failed, not the number of blobs.
 *   2. files to delete: claimed from metad in batches (a lease per host), deleted (the folders
 *      fsync'd), then acknowledged; metad then forgets them.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobd.h"
#include "cfg.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "util.h"
#include "wire.h"

#define ROUND_SECONDS 1
#define CLAIM_LIMIT WIRE_GC_MAX_DIGESTS

enum gc_stage { GC_IDLE, GC_SWEEPING, GC_ORPHANS, GC_CLAIMING, GC_DELETING, GC_ACKING };

/* A claimed file and what deleting it did. */
struct gc_file {
	char *digest;
	int64_t bytes;
	bool deleted; /* gone: to acknowledge */
};

static struct {
	struct event *timer;
	enum gc_stage stage;
	bool stopping;
	bool locked; /* this worker holds placing/.lock: it is the storage's deleter */
	int lock_fd;
	char host[256];
	int64_t grace;
	int interval; /* [gc] interval: the longest pause between rounds */
	int pause;    /* seconds until the next round */
	bool busy;    /* the round found something to do */
	/* the round */
	uint64_t started_us;
	char **orphans;
	size_t norphans;
	struct gc_file *files;
	size_t nfiles;
	size_t deleted;
	int64_t bytes;
} g = { .lock_fd = -1 };

static void gc_claim(void);
static void gc_round_end(void);

int
gc_placing(const char *digest, bool sync, char **cause)
{
	if (store_exists(digest))
		return 0; /* nothing new is placed: the file has its rows, or its deletion */
	return store_journal_note("placing", digest, sync, cause);
}

void
gc_placed(const char *digest)
{
	store_journal_forget("placing", digest);
}

/* Frees what a round collected. */
static void
round_clear(void)
{
	for (size_t i = 0; i < g.norphans; i++)
		free(g.orphans[i]);
	free(g.orphans);
	g.orphans = NULL;
	g.norphans = 0;
	for (size_t i = 0; i < g.nfiles; i++)
		free(g.files[i].digest);
	free(g.files);
	g.files = NULL;
	g.nfiles = 0;
}

/* ---- 1. the placement journal -------------------------------------------------------------- */

/* Pool thread: lists the journal entries past their grace. */
static void
job_sweep(void *arg)
{
	(void)arg;
	char *dir = xasprintf("%s/placing", bd.root);
	DIR *d = opendir(dir);
	int64_t now = now_unix();
	struct dirent *e;
	size_t cap = 0;
	while (d != NULL && g.norphans < WIRE_GC_MAX_DIGESTS && (e = readdir(d)) != NULL) {
		char *digest = store_journal_digest(e->d_name);
		if (digest == NULL)
			continue;
		struct stat st;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		bool old = stat(path, &st) == 0 && now - (int64_t)st.st_mtime >= g.grace;
		free(path);
		if (!old) {
			free(digest);
			continue;
		}
		if (g.norphans == cap) {
			cap = cap ? cap * 2 : 16;
			g.orphans = xrealloc(g.orphans, cap * sizeof(*g.orphans));
		}
		g.orphans[g.norphans++] = digest;
	}
	if (d != NULL)
		closedir(d);
	free(dir);
}

/* Pool thread: metad has the orphans (queued for deletion, or named by a row): their journal
 * entries go, unless an upload wrote one again meanwhile (a fresh mtime). */
static void
job_forget_orphans(void *arg)
{
	(void)arg;
	int64_t now = now_unix();
	for (size_t i = 0; i < g.norphans; i++) {
		char *path = store_journal_path("placing", g.orphans[i]);
		struct stat st;
		if (path != NULL && stat(path, &st) == 0 && now - (int64_t)st.st_mtime >= g.grace &&
		    unlink(path) < 0 && errno != ENOENT)
			log_warn("gc: cannot remove %s: %s", path, strerror(errno));
		free(path);
	}
}

/* After the journal entries went: files to delete. */
static void
orphans_forgotten(void *arg)
{
	(void)arg;
	gc_claim();
}

/* metad's answer about the orphans. */
static void
orphans_answered(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	(void)raw;
	(void)arg;
	if (status != 200) {
		log_warn("gc: metad did not take the orphans (status %d); asking again later",
		         status);
		gc_claim();
		return;
	}
	json_object *queued;
	if (json_object_object_get_ex(body, "queued", &queued) && json_object_array_length(queued))
		log_info("gc: %zu file%s placed without a link queued for deletion",
		         json_object_array_length(queued),
		         json_object_array_length(queued) == 1 ? "" : "s");
	g.stage = GC_ORPHANS;
	jobs_submit(job_forget_orphans, orphans_forgotten, NULL);
}

/* In the loop after job_sweep: metad's word on the orphans, or files to delete. */
static void
swept(void *arg)
{
	(void)arg;
	if (g.norphans > 0 && !g.stopping) {
		g.busy = true;
		g.stage = GC_ORPHANS;
		meta_gc_orphans(g.orphans, g.norphans, orphans_answered, NULL);
		return;
	}
	gc_claim();
}

/* ---- 2. files to delete -------------------------------------------------------------------- */

/* Pool thread: deletes the claimed files, then makes the deletions durable (store_sync_deleted:
 * their folders, on the filesystem). */
static void
job_delete(void *arg)
{
	(void)arg;
	char **digests = xcalloc(g.nfiles + 1, sizeof(*digests));
	bool *deleted = xcalloc(g.nfiles + 1, sizeof(*deleted));
	for (size_t i = 0; i < g.nfiles; i++) {
		struct gc_file *f = &g.files[i];
		char *cause = NULL;
		digests[i] = f->digest;
		if (store_delete(f->digest, &f->bytes, &cause) < 0) {
			log_warn("gc: cannot delete the file of %s: %s", f->digest, cause);
			free(cause);
			continue;
		}
		deleted[i] = true;
	}
	/* not durable: not acknowledged, so claimed again */
	store_sync_deleted(digests, deleted, g.nfiles);
	for (size_t i = 0; i < g.nfiles; i++)
		g.files[i].deleted = deleted[i];
	free(digests);
	free(deleted);
}

/* metad forgot the acknowledged files: another batch when this one was full. */
static void
acked(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	(void)body;
	(void)raw;
	(void)arg;
	bool full = g.nfiles == CLAIM_LIMIT;
	if (status != 200) {
		log_warn("gc: metad did not take the acknowledgement (status %d); the files are "
		         "claimed again later",
		         status);
		gc_round_end();
		return;
	}
	for (size_t i = 0; i < g.nfiles; i++) {
		if (!g.files[i].deleted)
			continue;
		g.deleted++;
		g.bytes += g.files[i].bytes;
		metrics_add(METRICS_GC_DELETED_FILES, 1);
		metrics_add(METRICS_GC_FREED_BYTES, (uint64_t)g.files[i].bytes);
	}
	if (full && !g.stopping)
		gc_claim();
	else
		gc_round_end();
}

/* In the loop after job_delete: acknowledge what went. */
static void
deleted(void *arg)
{
	(void)arg;
	char **digests = xcalloc(g.nfiles + 1, sizeof(*digests));
	size_t n = 0;
	for (size_t i = 0; i < g.nfiles; i++)
		if (g.files[i].deleted)
			digests[n++] = g.files[i].digest;
	g.stage = GC_ACKING;
	if (n > 0)
		meta_gc_done(g.host, digests, n, acked, NULL);
	else
		gc_round_end();
	free(digests);
}

/* metad's answer to a claim: the files to delete. */
static void
claimed(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	(void)raw;
	(void)arg;
	json_object *files;
	if (status != 200 || !json_object_object_get_ex(body, "files", &files) ||
	    !json_object_is_type(files, json_type_array)) {
		if (status != 200)
			log_warn("gc: metad did not answer a claim (status %d)", status);
		gc_round_end();
		return;
	}
	round_clear();
	size_t n = json_object_array_length(files);
	g.files = xcalloc(n + 1, sizeof(*g.files));
	for (size_t i = 0; i < n; i++) {
		const char *d = js_str(json_object_array_get_idx(files, i), "digest");
		if (d != NULL && name_valid_digest(d))
			g.files[g.nfiles++].digest = xstrdup(d);
	}
	if (g.nfiles == 0) {
		gc_round_end();
		return;
	}
	g.busy = true;
	g.stage = GC_DELETING;
	jobs_submit(job_delete, deleted, NULL);
}

/* Asks metad for a batch of files to delete. */
static void
gc_claim(void)
{
	if (g.stopping) {
		gc_round_end();
		return;
	}
	g.stage = GC_CLAIMING;
	meta_gc_claim(g.host, CLAIM_LIMIT, claimed, NULL);
}

/* ---- rounds -------------------------------------------------------------------------------- */

/* The round is over: a line says what went; the next in a second after work, later (up to [gc]
 * interval) while there is none. */
static void
gc_round_end(void)
{
	if (g.deleted > 0)
		log_info("gc: deleted %zu blob file%s (%lld bytes) in %.3f s", g.deleted,
		         g.deleted == 1 ? "" : "s", (long long)g.bytes,
		         (double)(now_monotonic_us() - g.started_us) / 1e6);
	round_clear();
	g.stage = GC_IDLE;
	if (g.stopping) {
		if (g.lock_fd >= 0)
			close(g.lock_fd);
		g.lock_fd = -1;
		return;
	}
	g.pause = g.busy ? ROUND_SECONDS : g.pause * 2 < g.interval ? g.pause * 2 : g.interval;
	struct timeval tv = { g.pause, 0 };
	evtimer_add(g.timer, &tv);
}

/* Timer: a round starts in the worker that holds the storage's lock (taken when free: flock with
 * LOCK_NB never waits). */
static void
gc_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (g.stage != GC_IDLE || g.stopping)
		return;
	if (!g.locked && flock(g.lock_fd, LOCK_EX | LOCK_NB) == 0)
		g.locked = true;
	if (!g.locked) {
		struct timeval tv = { ROUND_SECONDS, 0 };
		evtimer_add(g.timer, &tv);
		return;
	}
	g.stage = GC_SWEEPING;
	g.started_us = now_monotonic_us();
	g.deleted = 0;
	g.bytes = 0;
	g.busy = false;
	jobs_submit(job_sweep, swept, NULL);
}

int
gc_start(char **cause)
{
	if (!cfg_bool(bd.cfg, CFG_GC_ENABLED))
		return 0;
	char *path = xasprintf("%s/placing/.lock", bd.root);
	g.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (g.lock_fd < 0) {
		*cause = xasprintf("cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	if (gethostname(g.host, sizeof(g.host) - 1) < 0 || g.host[0] == '\0')
		snprintf(g.host, sizeof(g.host), "localhost");
	g.grace = cfg_int(bd.cfg, CFG_GC_ORPHAN_GRACE);
	g.interval = (int)cfg_int(bd.cfg, CFG_GC_INTERVAL);
	g.pause = ROUND_SECONDS;
	metrics_add(METRICS_GC_DELETED_FILES, 0);
	metrics_add(METRICS_GC_FREED_BYTES, 0);
	g.timer = evtimer_new(bd.base, gc_tick, NULL);
	struct timeval tv = { ROUND_SECONDS, 0 };
	evtimer_add(g.timer, &tv);
	return 0;
}

void
gc_stop(void)
{
	g.stopping = true;
	if (g.timer != NULL) {
		event_free(g.timer);
		g.timer = NULL;
	}
	if (g.stage == GC_IDLE && g.lock_fd >= 0) {
		close(g.lock_fd);
		g.lock_fd = -1;
	}
}

/*
 * The bytes each blob's file takes on disk, told to metad (POST /internal/blobs/stored), which
 * keeps them per blob and sums them per namespace for administrators. A compression changes them
 * (compress.c); metad cannot see the files, so blobd tells it, and makes sure a figure it could
 * not tell is told later.
 *
 * The journal: stored/<algo>-<hex>, written (durably) by the compression before it puts the
 * compressed form in place, and removed once metad took the figure (or said the blob is gone).
 * The report is sent at once, fire-and-forget; an entry whose report was lost (metad down or
 * failing, the worker killed between the rename and the answer) is older than SWEEP_AGE the
 * next time a worker sweeps the journal (every SWEEP_SECONDS, one worker at a time), which then
 * reads the blob's current stored size (store_stored_size) and tells it again. Telling a figure
 * twice is harmless: metad sets it, and moves the namespaces by the difference only. Only the
 * journal is read, never the store: its size is the figures not told yet.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
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

#define SWEEP_SECONDS 5 /* between two sweeps of a worker */
#define SWEEP_AGE 10    /* seconds: an entry that old lost its report */
#define SWEEP_MAX 100   /* figures one sweep tells */

/* A figure being told. */
struct report {
	char *digest;
	int64_t stored;
};

/* What a sweep found: figures to tell again. */
struct sweep {
	struct report *found;
	size_t n;
};

static struct event *timer;
static bool sweeping;

int
stored_note(const char *digest, char **cause)
{
	return store_journal_note("stored", digest, bd.fsync, cause);
}

void
stored_forget(const char *digest)
{
	store_journal_forget("stored", digest);
}

/* Pool thread: metad has the figure; its journal entry goes. */
static void
job_forget(void *arg)
{
	stored_forget(arg);
}

/* Frees a report after its entry went. */
static void
forgotten(void *arg)
{
	free(arg);
}

/* metad's answer: taken (or the blob is gone): the entry goes; else a sweep tells it again. */
static void
answered(int status, struct json_object *body, struct evbuffer *raw, void *arg)
{
	char *digest = arg;
	if (status == 204 || status == 404) {
		jobs_submit(job_forget, forgotten, digest);
		return;
	}
	log_warn("blob %s: metad did not take its stored size (status %d); told again later",
	         digest, status);
	free(digest);
	(void)body;
	(void)raw;
}

void
stored_report(const char *digest, int64_t stored)
{
	meta_blob_stored(digest, stored, answered, xstrdup(digest));
}

/* Pool thread: the entries past SWEEP_AGE and their files' sizes now (one worker at a time); an
 * entry whose file is gone goes (the blob's row went first). */
static void
job_sweep(void *arg)
{
	struct sweep *s = arg;
	char *dir = xasprintf("%s/stored", bd.root);
	char *lock = xasprintf("%s/.lock", dir);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lock);
	DIR *d = NULL;
	if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) == 0)
		d = opendir(dir);
	int64_t now = now_unix();
	struct dirent *e;
	while (d != NULL && s->n < SWEEP_MAX && (e = readdir(d)) != NULL) {
		char *digest = store_journal_digest(e->d_name);
		struct stat st;
		if (digest == NULL || fstatat(dirfd(d), e->d_name, &st, 0) < 0 ||
		    now - (int64_t)st.st_mtime < SWEEP_AGE) {
			free(digest);
			continue;
		}
		int64_t stored = 0;
		char *cause = NULL;
		int found = store_stored_size(digest, &stored, &cause);
		if (found <= 0) {
			if (found == 0)
				unlinkat(dirfd(d), e->d_name, 0);
			else
				log_warn("blob %s: %s", digest, cause);
			free(cause);
			free(digest);
			continue;
		}
		if (s->found == NULL)
			s->found = xcalloc(SWEEP_MAX, sizeof(*s->found));
		s->found[s->n].digest = digest;
		s->found[s->n++].stored = stored;
	}
	if (d != NULL)
		closedir(d);
	if (lfd >= 0)
		close(lfd);
	free(dir);
}

/* In the loop after a sweep: the figures told again, the next sweep armed. */
static void
swept(void *arg)
{
	struct sweep *s = arg;
	for (size_t i = 0; i < s->n; i++) {
		if (timer != NULL)
			stored_report(s->found[i].digest, s->found[i].stored);
		free(s->found[i].digest);
	}
	if (s->n > 0)
		log_info("told metad %zu stored size%s again", s->n, s->n == 1 ? "" : "s");
	free(s->found);
	free(s);
	sweeping = false;
	if (timer != NULL) {
		struct timeval tv = { SWEEP_SECONDS, 0 };
		evtimer_add(timer, &tv);
	}
}

/* Timer: a sweep of the journal. */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	if (!sweeping) {
		sweeping = true;
		jobs_submit(job_sweep, swept, xcalloc(1, sizeof(struct sweep)));
	}
	(void)fd;
	(void)what;
	(void)arg;
}

void
stored_start(void)
{
	timer = evtimer_new(bd.base, tick, NULL);
	struct timeval tv = { SWEEP_SECONDS, 0 };
	evtimer_add(timer, &tv);
}

void
stored_stop(void)
{
	if (timer != NULL) {
		event_free(timer);
		timer = NULL;
	}
}

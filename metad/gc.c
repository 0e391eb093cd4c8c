/*
 * Online garbage collection, metad's side: every worker reviews what is due in the queues
 * (schema/functions/gc.sql) every [gc] interval seconds. A run is a series of short statements,
 * each one transaction: batches of manifest reviews until none is due, then of blob reviews, then
 * the queues' figures for the metrics. Entries are claimed FOR UPDATE SKIP LOCKED, so workers run
 * side by side without waiting on each other; a worker killed mid-run loses only the batch in
 * flight (rolled back, its entries free again), and the next run takes up where the data stands.
 * Blob files are blobd's to delete (internal_gc.c serves it). Protocol: docs/INTERNALS.md.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "cfg.h"
#include "log.h"
#include "metad.h"
#include "metrics.h"
#include "pg.h"
#include "util.h"

/* Entries a batch claims: a batch is one transaction holding their rows' locks, so pushes that
 * re-use one of them wait at most for a batch. */
#define GC_BATCH 100
#define FIRST_RUN_SECONDS 1

PG_STMT(q_set_delay, "SELECT gc_set_review_delay($1)");
PG_STMT(q_manifests, "SELECT claimed, reviewed, deleted FROM gc_review_manifests($1)");
PG_STMT(q_blobs, "SELECT claimed, reviewed, deleted, bytes FROM gc_review_blobs($1)");
PG_STMT(q_stats, "SELECT manifests, blobs, files, manifests_due_age, blobs_due_age, files_age"
                 " FROM gc_stats()");

enum gc_phase { GC_IDLE, GC_MANIFESTS, GC_BLOBS, GC_STATS };

static struct {
	struct event *timer;
	enum gc_phase phase;
	bool stopping;
	bool delay_set; /* gc_settings holds [gc] review_delay */
	int interval;
	int64_t review_delay;
	/* the run in progress */
	uint64_t started_us;
	long long reviewed_manifests, deleted_manifests;
	long long reviewed_blobs, deleted_blobs, bytes;
} gc;

static void gc_step(void);

/* Schedules the next run in seconds. */
static void
gc_arm(int seconds)
{
	if (gc.timer == NULL)
		return;
	struct timeval tv = { seconds, 0 };
	evtimer_add(gc.timer, &tv);
}

/* The run is over (done, failed or stopping): log what it did, wait for the next. */
static void
gc_run_end(const char *failure)
{
	if (failure != NULL)
		log_warn("gc: run stopped: %s", failure);
	if (gc.reviewed_manifests + gc.reviewed_blobs > 0)
		log_info(
		        "gc: reviewed %lld manifest%s and %lld blob%s, deleted %lld manifest%s and "
		        "%lld blob%s (%lld bytes) in %.3f s",
		        gc.reviewed_manifests, gc.reviewed_manifests == 1 ? "" : "s",
		        gc.reviewed_blobs, gc.reviewed_blobs == 1 ? "" : "s", gc.deleted_manifests,
		        gc.deleted_manifests == 1 ? "" : "s", gc.deleted_blobs,
		        gc.deleted_blobs == 1 ? "" : "s", gc.bytes,
		        (double)(now_monotonic_us() - gc.started_us) / 1e6);
	gc.phase = GC_IDLE;
	if (!gc.stopping)
		gc_arm(gc.interval);
}

/* Milliseconds of a column holding seconds. */
static uint64_t
ms_of(const PGresult *res, const char *col)
{
	const char *v = pg_get(res, 0, col);
	double s = v != NULL ? strtod(v, NULL) : 0;
	return s > 0 ? (uint64_t)(s * 1000) : 0;
}

/* The queues' figures are in: the gauges, and the end of the run. */
static void
gc_stats_done(PGresult *res, void *arg)
{
	if (pg_ok(res) && pg_rows(res) == 1) {
		metrics_set(METRICS_GC_QUEUE_MANIFESTS, (uint64_t)pg_get_int(res, 0, "manifests"));
		metrics_set(METRICS_GC_QUEUE_BLOBS, (uint64_t)pg_get_int(res, 0, "blobs"));
		metrics_set(METRICS_GC_QUEUE_FILES, (uint64_t)pg_get_int(res, 0, "files"));
		metrics_set(METRICS_GC_OLDEST_DUE_MANIFESTS, ms_of(res, "manifests_due_age"));
		metrics_set(METRICS_GC_OLDEST_DUE_BLOBS, ms_of(res, "blobs_due_age"));
		metrics_set(METRICS_GC_OLDEST_DUE_FILES, ms_of(res, "files_age"));
	}
	gc_run_end(pg_ok(res) ? NULL : pg_error(res));
	(void)arg;
}

/* A batch of manifest reviews is done: another while batches come back full. */
static void
gc_manifests_done(PGresult *res, void *arg)
{
	if (!pg_ok(res) || pg_rows(res) != 1) {
		gc_run_end(pg_error(res));
		return;
	}
	long long claimed = pg_get_int(res, 0, "claimed");
	long long reviewed = pg_get_int(res, 0, "reviewed");
	long long deleted = pg_get_int(res, 0, "deleted");
	gc.reviewed_manifests += reviewed;
	gc.deleted_manifests += deleted;
	metrics_add(METRICS_GC_REVIEWED_MANIFESTS, (uint64_t)reviewed);
	metrics_add(METRICS_GC_DELETED_MANIFESTS, (uint64_t)deleted);
	if (claimed < GC_BATCH)
		gc.phase = GC_BLOBS;
	gc_step();
	(void)arg;
}

/* A batch of blob reviews is done: another while batches come back full. */
static void
gc_blobs_done(PGresult *res, void *arg)
{
	if (!pg_ok(res) || pg_rows(res) != 1) {
		gc_run_end(pg_error(res));
		return;
	}
	long long claimed = pg_get_int(res, 0, "claimed");
	long long reviewed = pg_get_int(res, 0, "reviewed");
	long long deleted = pg_get_int(res, 0, "deleted");
	gc.reviewed_blobs += reviewed;
	gc.deleted_blobs += deleted;
	gc.bytes += pg_get_int(res, 0, "bytes");
	metrics_add(METRICS_GC_REVIEWED_BLOBS, (uint64_t)reviewed);
	metrics_add(METRICS_GC_DELETED_BLOBS, (uint64_t)deleted);
	if (claimed < GC_BATCH)
		gc.phase = GC_STATS;
	gc_step();
	(void)arg;
}

/* The next statement of the run, by its phase. */
static void
gc_step(void)
{
	if (gc.stopping) {
		gc_run_end(NULL);
		return;
	}
	char batch[16];
	snprintf(batch, sizeof(batch), "%d", GC_BATCH);
	const char *params[] = { batch };
	switch (gc.phase) {
	case GC_MANIFESTS:
		pg_exec(md.db, &q_manifests, 1, params, gc_manifests_done, NULL);
		break;
	case GC_BLOBS:
		pg_exec(md.db, &q_blobs, 1, params, gc_blobs_done, NULL);
		break;
	case GC_STATS:
		pg_exec(md.db, &q_stats, 0, NULL, gc_stats_done, NULL);
		break;
	case GC_IDLE:
		break;
	}
}

/* gc_settings holds the review delay: the run starts. */
static void
gc_delay_set(PGresult *res, void *arg)
{
	if (!pg_ok(res)) {
		gc_run_end(pg_error(res));
		return;
	}
	gc.delay_set = true;
	gc_step();
	(void)arg;
}

/* Timer: a run starts (after writing the review delay the triggers read, on the first). */
static void
gc_tick(evutil_socket_t fd, short what, void *arg)
{
	if (gc.phase != GC_IDLE || gc.stopping)
		return;
	gc.phase = GC_MANIFESTS;
	gc.started_us = now_monotonic_us();
	gc.reviewed_manifests = gc.deleted_manifests = 0;
	gc.reviewed_blobs = gc.deleted_blobs = gc.bytes = 0;
	if (gc.delay_set) {
		gc_step();
	} else {
		char delay[32];
		snprintf(delay, sizeof(delay), "%lld", (long long)gc.review_delay);
		const char *params[] = { delay };
		pg_exec(md.db, &q_set_delay, 1, params, gc_delay_set, NULL);
	}
	(void)fd;
	(void)what;
	(void)arg;
}

void
gc_start(void)
{
	gc.interval = (int)cfg_int(md.cfg, CFG_GC_INTERVAL);
	gc.review_delay = cfg_int(md.cfg, CFG_GC_REVIEW_DELAY);
	/* the counters are shown from the start, at 0 */
	metrics_add(METRICS_GC_REVIEWED_MANIFESTS, 0);
	metrics_add(METRICS_GC_REVIEWED_BLOBS, 0);
	metrics_add(METRICS_GC_DELETED_MANIFESTS, 0);
	metrics_add(METRICS_GC_DELETED_BLOBS, 0);
	if (!cfg_bool(md.cfg, CFG_GC_ENABLED)) {
		log_info("gc: disabled ([gc] enabled = false): nothing is deleted");
		return;
	}
	gc.timer = evtimer_new(md.base, gc_tick, NULL);
	gc_arm(FIRST_RUN_SECONDS);
}

void
gc_stop(void)
{
	gc.stopping = true;
	if (gc.timer != NULL) {
		event_free(gc.timer);
		gc.timer = NULL;
	}
}

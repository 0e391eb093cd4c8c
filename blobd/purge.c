/*
 * Purges upload sessions nobody touched for [blobd] upload_purge_after seconds, and the scratch
 * files of compressions whose worker died (compress.c). Every worker
 * runs the timer; a lock file lets one of them walk the folder at a time, and a session some
 * request holds (its flock) is never removed. The first round runs soon after a worker starts,
 * so a restart cleans up what a crash left behind.
 */
#include <event2/event.h>
#include <stdlib.h>

#include "blobd.h"
#include "log.h"
#include "util.h"

#define FIRST_ROUND_SECONDS 2
#define MIN_INTERVAL 5
#define MAX_INTERVAL 600

static struct event *timer;
static bool running;
static unsigned removed;

static void purge_arm(int seconds);

/* Pool thread. */
static void
job_purge(void *arg)
{
	removed = session_purge(bd.purge_after);
	(void)arg;
}

/* In the loop after a round: log what went, schedule the next round. */
static void
purged(void *arg)
{
	running = false;
	if (removed > 0)
		log_info("purged %u abandoned upload%s", removed, removed == 1 ? "" : "s");
	int64_t interval = bd.purge_after / 4;
	purge_arm((int)(interval < MIN_INTERVAL   ? MIN_INTERVAL
	                : interval > MAX_INTERVAL ? MAX_INTERVAL
	                                          : interval));
	(void)arg;
}

/* Timer: starts a round unless one still runs. */
static void
purge_tick(evutil_socket_t fd, short what, void *arg)
{
	if (!running) {
		running = true;
		jobs_submit(job_purge, purged, NULL);
		compress_sweep();
		if (bd.s3 != NULL)
			rsession_purge(
			        bd.purge_after); /* sessions in the database, uploads in S3 */
	}
	(void)fd;
	(void)what;
	(void)arg;
}

/* Schedules the next round in seconds. */
static void
purge_arm(int seconds)
{
	if (timer == NULL)
		return;
	struct timeval tv = { seconds, 0 };
	evtimer_add(timer, &tv);
}

void
purge_start(void)
{
	timer = evtimer_new(bd.base, purge_tick, NULL);
	purge_arm(FIRST_ROUND_SECONDS);
}

void
purge_stop(void)
{
	if (timer != NULL) {
		event_free(timer);
		timer = NULL;
	}
}

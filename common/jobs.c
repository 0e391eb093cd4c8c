/*
 * A small thread pool per worker process for work that would stall the loop (blobd's file work,
 * authd's Argon2id). The loop hands a job over; a pool thread runs its work function; the loop
 * runs its done function afterwards (woken through an eventfd). A job's argument belongs to the
 * job until done runs: the loop must not touch it meanwhile.
 *
 * Two lanes: the requests' jobs, and background work (blobd's compression at rest) queued apart
 * on threads of their own at a lower priority, so that a long background job never delays the
 * jobs a client waits for, in the queue or for the CPU.
 */
#include "jobs.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

/* One job, queued for a thread, then for the loop. */
struct job {
	job_work_fn work;
	job_done_fn done;
	void *arg;
	STAILQ_ENTRY(job) link;
};

STAILQ_HEAD(job_list, job);

/* A queue and the threads that serve it. */
struct lane {
	pthread_cond_t wake;
	struct job_list queued;
	int nice; /* the threads' priority (0: as the process) */
};

static struct {
	pthread_mutex_t lock;
	struct lane io, background;
	struct job_list finished;
	int efd;
	struct event *ev;
	unsigned pending; /* submitted, done not yet run */
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.io = { .wake = PTHREAD_COND_INITIALIZER },
	.background = { .wake = PTHREAD_COND_INITIALIZER },
	.efd = -1,
};

/* A pool thread of a lane: runs its jobs as they come and queues them for their done
 * function. */
static void *
job_thread(void *arg)
{
	struct lane *lane = arg;
	/* Linux gives each thread its own nice value. */
	if (lane->nice != 0)
		(void)setpriority(PRIO_PROCESS, (id_t)gettid(), lane->nice);
	for (;;) {
		pthread_mutex_lock(&pool.lock);
		while (STAILQ_EMPTY(&lane->queued))
			pthread_cond_wait(&lane->wake, &pool.lock);
		struct job *j = STAILQ_FIRST(&lane->queued);
		STAILQ_REMOVE_HEAD(&lane->queued, link);
		pthread_mutex_unlock(&pool.lock);

		j->work(j->arg);

		pthread_mutex_lock(&pool.lock);
		STAILQ_INSERT_TAIL(&pool.finished, j, link);
		pthread_mutex_unlock(&pool.lock);
		uint64_t one = 1;
		while (write(pool.efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	return NULL;
}

/* In the loop: runs the done functions of finished jobs. */
static void
jobs_wakeup(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	struct job_list done = STAILQ_HEAD_INITIALIZER(done);
	pthread_mutex_lock(&pool.lock);
	STAILQ_CONCAT(&done, &pool.finished);
	pthread_mutex_unlock(&pool.lock);
	struct job *j;
	while ((j = STAILQ_FIRST(&done)) != NULL) {
		STAILQ_REMOVE_HEAD(&done, link);
		pool.pending--;
		if (j->done != NULL)
			j->done(j->arg);
		free(j);
	}
	(void)what;
	(void)arg;
}

/* Starts nthreads threads serving lane. */
static int
lane_start(struct lane *lane, int nthreads, char **cause)
{
	/* Signals stay with the loop's thread: pool threads block them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, job_thread, lane);
		if (err != 0) {
			*cause = xasprintf("pthread_create: %s", strerror(err));
			rc = -1;
			break;
		}
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int
jobs_init(struct event_base *base, int nthreads, char **cause)
{
	STAILQ_INIT(&pool.io.queued);
	STAILQ_INIT(&pool.background.queued);
	STAILQ_INIT(&pool.finished);
	pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.efd < 0) {
		*cause = xasprintf("eventfd: %s", strerror(errno));
		return -1;
	}
	pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST, jobs_wakeup, NULL);
	event_add(pool.ev, NULL);
	return lane_start(&pool.io, nthreads, cause);
}

int
jobs_init_background(int nthreads, int nice, char **cause)
{
	pool.background.nice = nice;
	return lane_start(&pool.background, nthreads, cause);
}

/* Queues a job on lane. */
static void
submit(struct lane *lane, job_work_fn work, job_done_fn done, void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->work = work;
	j->done = done;
	j->arg = arg;
	pool.pending++;
	pthread_mutex_lock(&pool.lock);
	STAILQ_INSERT_TAIL(&lane->queued, j, link);
	pthread_cond_signal(&lane->wake);
	pthread_mutex_unlock(&pool.lock);
}

void
jobs_submit(job_work_fn work, job_done_fn done, void *arg)
{
	submit(&pool.io, work, done, arg);
}

void
jobs_submit_background(job_work_fn work, job_done_fn done, void *arg)
{
	submit(&pool.background, work, done, arg);
}

unsigned
jobs_pending(void)
{
	return pool.pending;
}

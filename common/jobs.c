/*
 * A small thread pool per worker process for work that would stall the loop (blobd's file work,
 * authd's Argon2id). The loop hands a job over; a pool thread runs its work function; the loop
 * runs its done function afterwards (woken through an eventfd). A job's argument belongs to the
 * job until done runs: the loop must not touch it meanwhile.
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

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job_list queued;
	struct job_list finished;
	int efd;
	struct event *ev;
	unsigned pending; /* submitted, done not yet run */
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.efd = -1,
};

/* A pool thread: runs jobs as they come and queues them for their done function. */
static void *
job_thread(void *unused)
{
	for (;;) {
		pthread_mutex_lock(&pool.lock);
		while (STAILQ_EMPTY(&pool.queued))
			pthread_cond_wait(&pool.wake, &pool.lock);
		struct job *j = STAILQ_FIRST(&pool.queued);
		STAILQ_REMOVE_HEAD(&pool.queued, link);
		pthread_mutex_unlock(&pool.lock);

		j->work(j->arg);

		pthread_mutex_lock(&pool.lock);
		STAILQ_INSERT_TAIL(&pool.finished, j, link);
		pthread_mutex_unlock(&pool.lock);
		uint64_t one = 1;
		while (write(pool.efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	(void)unused;
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

int
jobs_init(struct event_base *base, int nthreads, char **cause)
{
	STAILQ_INIT(&pool.queued);
	STAILQ_INIT(&pool.finished);
	pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.efd < 0) {
		*cause = xasprintf("eventfd: %s", strerror(errno));
		return -1;
	}
	pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST, jobs_wakeup, NULL);
	event_add(pool.ev, NULL);
	/* Signals stay with the loop's thread: pool threads block them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, job_thread, NULL);
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

void
jobs_submit(job_work_fn work, job_done_fn done, void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->work = work;
	j->done = done;
	j->arg = arg;
	pool.pending++;
	pthread_mutex_lock(&pool.lock);
	STAILQ_INSERT_TAIL(&pool.queued, j, link);
	pthread_cond_signal(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
}

unsigned
jobs_pending(void)
{
	return pool.pending;
}

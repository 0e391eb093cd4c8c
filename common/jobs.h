/* A thread pool per worker process for work that would stall the event loop. */
#ifndef REGISTRY_JOBS_H
#define REGISTRY_JOBS_H

struct event_base;

typedef void (*job_work_fn)(void *arg); /* runs in a pool thread */
typedef void (*job_done_fn)(void *arg); /* runs in the loop afterwards (may be NULL) */

/* Starts nthreads threads whose jobs finish on base's loop; once per process. */
int jobs_init(struct event_base *base, int nthreads, char **cause);
/* Starts nthreads threads for background jobs, at nice (higher: lower priority); after
 * jobs_init(). */
int jobs_init_background(int nthreads, int nice, char **cause);
/* Queues work(arg) for a pool thread, then done(arg) in the loop. */
void jobs_submit(job_work_fn work, job_done_fn done, void *arg);
/* The same on the background threads: queued apart, run at their priority. */
void jobs_submit_background(job_work_fn work, job_done_fn done, void *arg);
/* Jobs submitted whose done function has not run yet. */
unsigned jobs_pending(void);

#endif

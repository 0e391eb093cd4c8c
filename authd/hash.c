/*
 * Argon2id (libsodium) off the event loop. One password hash takes tens of milliseconds and
 * 64 MiB, far too long to run on a loop that serves every other request of the worker: a few
 * threads take jobs from a queue, and an eventfd wakes the loop to run the callbacks there.
 *
 * Costs. Passwords are chosen by people and can be guessed, so they get libsodium's
 * "interactive" limits (2 passes over 64 MiB). Tokens are 166+ bits drawn from the CSPRNG: no
 * amount of hashing work changes how hopeless it is to guess one from a stolen hash, so they get
 * Argon2id's minimum cost (1 pass, 8 KiB, microseconds): the hash still only has to be one-way,
 * and one stored format serves every secret.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "authd.h"
#include "log.h"
#include "util.h"

/* Password checks beyond this many waiting in a worker are refused (503) rather than queued:
 * at ~60 ms a hash on two threads that is several seconds of backlog already. */
#define HASH_QUEUE_MAX 128

enum hash_op { HASH_OP_MAKE, HASH_OP_VERIFY };

struct hash_job {
	enum hash_op op;
	enum hash_cost cost;
	char *secret;         /* wiped before it is freed */
	size_t secret_len;
	char hash[crypto_pwhash_argon2id_STRBYTES];
	bool ok;
	hash_cb cb;
	void *arg;
	struct hash_job *next;
};

struct hash_queue {
	struct hash_job *head, *tail;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hash_queue todo, done;
	unsigned queued; /* jobs not yet finished */
	int efd;
	struct event *ev;
	bool started;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .efd = -1 };

static char dummy[crypto_pwhash_argon2id_STRBYTES];

/* Appends a job to a queue (under pool.mu). */
static void
queue_push(struct hash_queue *q, struct hash_job *j)
{
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

/* The limits of a cost class. */
static void
cost_limits(enum hash_cost cost, unsigned long long *ops, size_t *mem)
{
	if (cost == HASH_PASSWORD) {
		/* OWASP's Argon2id recommendation (19 MiB, 2 passes, 1 lane) rather than libsodium's
		 * "interactive" 64 MiB: every concurrent sign-in holds this much memory, and a worker
		 * runs two. Hashes keep their parameters, so older ones still verify. */
		*ops = 2;
		*mem = 19 * 1024 * 1024;
	} else {
		*ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
		*mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
	}
}

/* Argon2id of secret at a cost class into out. */
static bool
make_hash(char out[crypto_pwhash_argon2id_STRBYTES], const char *secret, size_t len,
          enum hash_cost cost)
{
	unsigned long long ops;
	size_t mem;
	cost_limits(cost, &ops, &mem);
	return crypto_pwhash_argon2id_str(out, secret, len, ops, mem) == 0;
}

/* Runs one job (in a pool thread). */
static void
job_run(struct hash_job *j)
{
	if (j->op == HASH_OP_MAKE) {
		j->ok = make_hash(j->hash, j->secret, j->secret_len, j->cost);
	} else {
		/* Only our own Argon2id strings are accepted; anything else never matches. */
		j->ok = strncmp(j->hash, "$argon2id$", 10) == 0 &&
		        crypto_pwhash_argon2id_str_verify(j->hash, j->secret, j->secret_len) == 0;
	}
	sodium_memzero(j->secret, j->secret_len);
}

/* A pool thread: takes jobs, runs them, queues the results and wakes the loop. */
static void *
worker_thread(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&pool.mu);
		while (pool.todo.head == NULL)
			pthread_cond_wait(&pool.cv, &pool.mu);
		struct hash_job *j = pool.todo.head;
		pool.todo.head = j->next;
		if (pool.todo.head == NULL)
			pool.todo.tail = NULL;
		pthread_mutex_unlock(&pool.mu);

		job_run(j);

		pthread_mutex_lock(&pool.mu);
		queue_push(&pool.done, j);
		pthread_mutex_unlock(&pool.mu);
		uint64_t one = 1;
		while (write(pool.efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
	(void)arg;
	return NULL;
}

/* Frees a job, wiping its secret. */
static void
job_free(struct hash_job *j)
{
	sodium_memzero(j->secret, j->secret_len);
	free(j->secret);
	free(j);
}

/* The loop's side: runs the callbacks of finished jobs. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("hash pool eventfd: %s", strerror(errno));
	pthread_mutex_lock(&pool.mu);
	struct hash_job *j = pool.done.head;
	pool.done.head = pool.done.tail = NULL;
	for (struct hash_job *k = j; k != NULL; k = k->next)
		pool.queued--;
	pthread_mutex_unlock(&pool.mu);
	while (j != NULL) {
		struct hash_job *next = j->next;
		j->cb(j->ok, j->ok && j->op == HASH_OP_MAKE ? j->hash : NULL, j->arg);
		job_free(j);
		j = next;
	}
	(void)what;
	(void)arg;
}

int
hash_pool_start(struct event_base *base, int nthreads, char **cause)
{
	if (pool.started)
		return 0;
	pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (pool.efd < 0) {
		*cause = xasprintf("eventfd: %s", strerror(errno));
		return -1;
	}
	pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST, on_done, NULL);
	event_add(pool.ev, NULL);
	/* Signals belong to the loop's thread: the pool threads block them all. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < nthreads; i++) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, worker_thread, NULL);
		if (rc != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			*cause = xasprintf("pthread_create: %s", strerror(rc));
			return -1;
		}
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pool.started = true;
	/* Made once so that a check of an unknown user costs what a real one does. */
	char pw[33];
	secret_password(pw, 32);
	if (!make_hash(dummy, pw, strlen(pw), HASH_PASSWORD)) {
		*cause = xstrdup("cannot hash a password (out of memory?)");
		return -1;
	}
	sodium_memzero(pw, sizeof(pw));
	return 0;
}

/* Queues a job for the pool threads. */
static void
submit(enum hash_op op, enum hash_cost cost, const char *hash, const char *secret, hash_cb cb,
       void *arg)
{
	struct hash_job *j = xcalloc(1, sizeof(*j));
	j->op = op;
	j->cost = cost;
	j->secret_len = strlen(secret);
	j->secret = xstrndup(secret, j->secret_len);
	if (hash != NULL)
		snprintf(j->hash, sizeof(j->hash), "%s", hash);
	j->cb = cb;
	j->arg = arg;
	pthread_mutex_lock(&pool.mu);
	queue_push(&pool.todo, j);
	pool.queued++;
	pthread_cond_signal(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

void
hash_make(const char *secret, enum hash_cost cost, hash_cb cb, void *arg)
{
	submit(HASH_OP_MAKE, cost, NULL, secret, cb, arg);
}

void
hash_verify(const char *hash, const char *secret, hash_cb cb, void *arg)
{
	submit(HASH_OP_VERIFY, HASH_TOKEN, hash, secret, cb, arg);
}

char *
hash_make_now(const char *secret, enum hash_cost cost)
{
	char out[crypto_pwhash_argon2id_STRBYTES];
	if (!make_hash(out, secret, strlen(secret), cost))
		return NULL;
	return xstrdup(out);
}

bool
hash_busy(void)
{
	pthread_mutex_lock(&pool.mu);
	bool busy = pool.queued >= HASH_QUEUE_MAX;
	pthread_mutex_unlock(&pool.mu);
	return busy;
}

const char *
hash_dummy(void)
{
	return dummy;
}

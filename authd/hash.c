/*
 * Argon2id (libsodium) off the event loop. One password hash takes tens of milliseconds and
 * 19 MiB, far too long to run on a loop that serves every other request of the worker: the jobs
 * pool (common/jobs.c) runs them on its threads and the callbacks back on the loop.
 *
 * Costs. Passwords are chosen by people and can be guessed, so they get OWASP's Argon2id
 * parameters (2 passes over 19 MiB, see cost_limits). Tokens are 166+ bits drawn from the CSPRNG:
 * no amount of hashing work changes how hopeless it is to guess one from a stolen hash, so they get
 * Argon2id's minimum cost (1 pass, 8 KiB, microseconds): the hash still only has to be one-way,
 * and one stored format serves every secret.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "jobs.h"
#include "util.h"

/* Password checks beyond this many waiting in a worker are refused (503) rather than queued:
 * at ~60 ms a hash on two threads that is several seconds of backlog already. */
#define HASH_QUEUE_MAX 128

enum hash_op { HASH_OP_MAKE, HASH_OP_VERIFY };

/* One hash to make or check: owned by the pool from submit() until its callback has run. */
struct hash_job {
	enum hash_op op;
	enum hash_cost cost;
	char *secret; /* wiped before it is freed */
	size_t secret_len;
	char hash[crypto_pwhash_argon2id_STRBYTES];
	bool ok;
	hash_cb cb;
	void *arg;
};

static char dummy[crypto_pwhash_argon2id_STRBYTES];

/* The limits of a cost class. */
static void
cost_limits(enum hash_cost cost, unsigned long long *ops, size_t *mem)
{
	if (cost == HASH_PASSWORD) {
		/* OWASP's Argon2id recommendation (19 MiB, 2 passes, 1 lane) rather than
		 * libsodium's "interactive" 64 MiB: every concurrent sign-in holds this much
		 * memory, and a worker runs two. Hashes keep their parameters, so older ones still
		 * verify. */
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
job_run(void *arg)
{
	struct hash_job *j = arg;
	if (j->op == HASH_OP_MAKE) {
		j->ok = make_hash(j->hash, j->secret, j->secret_len, j->cost);
	} else {
		/* Only our own Argon2id strings are accepted; anything else never matches. */
		j->ok = strncmp(j->hash, "$argon2id$", 10) == 0 &&
		        crypto_pwhash_argon2id_str_verify(j->hash, j->secret, j->secret_len) == 0;
	}
	sodium_memzero(j->secret, j->secret_len);
}

/* The loop's side: runs the job's callback, then frees it, wiping its secret. */
static void
job_done(void *arg)
{
	struct hash_job *j = arg;
	j->cb(j->ok, j->ok && j->op == HASH_OP_MAKE ? j->hash : NULL, j->arg);
	sodium_memzero(j->secret, j->secret_len);
	free(j->secret);
	free(j);
}

int
hash_pool_start(struct event_base *base, int nthreads, char **cause)
{
	if (jobs_init(base, nthreads, cause) < 0)
		return -1;
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
	jobs_submit(job_run, job_done, j);
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
	return jobs_pending() >= HASH_QUEUE_MAX;
}

const char *
hash_dummy(void)
{
	return dummy;
}

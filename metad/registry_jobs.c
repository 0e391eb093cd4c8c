/*
 * Background jobs of the Container Registry API: deleting repositories and deleting tags in bulk
 * (asked over the API, or queued by a project's cleanup policy when its time comes).
 *
 * Jobs are rows of registry_jobs (schema/migrations/020_registry_api.sql), worked by the functions
 * of schema/functions/registry_jobs.sql. Every worker runs one job at a time from a libevent
 * timer: it claims the oldest runnable job with FOR UPDATE SKIP LOCKED and a lease of
 * LEASE_SECONDS, and renews the lease at every step. Steps are short statements
 * (BATCH rows each), so a 10,000-tag repository never holds long locks and requests keep being
 * served between them. A worker that dies leaves its lease to expire and another worker takes
 * the job again from where the data stands (every step is idempotent); a job that fails
 * MAX_ATTEMPTS times is given up (a repository deletion then shows status delete_failed).
 */
#include <event2/event.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "pg.h"
#include "util.h"

#define LEASE_SECONDS 30
#define MAX_ATTEMPTS 5
#define BATCH 1000
#define PAGE 5000
#define RETRY_SECONDS 10
#define FIRST_TICK_SECONDS 1

PG_STMT(q_claim, "SELECT job_id, kind, repository_id, params::text AS params, policy, attempts"
                 " FROM registry_job_claim($1, $2, $3)");
PG_STMT(q_delete_step, "SELECT registry_job_delete_step($1, $2, $3, $4) AS result");
/* A page of the repository's tags, newest manifest first, after the cursor ($5, $6: the last
 * row of the previous page), with the lease renewed in the same statement: no row means the
 * lease was lost; a status means the repository is being deleted; protected: a protection rule
 * keeps the tag from this job (registry_tag_refusal). Deleting the tags of a page does not move
 * the next one. */
PG_STMT(q_cleanup_tags,
        "WITH j AS (SELECT registry_job_renew($1, $2, $3) AS repository_id,"
        "  registry_job_level($1) AS level)"
        " SELECT j.repository_id, r.status, x.id, x.name, x.manifest_id, x.old_enough, x.at,"
        "  x.protected"
        " FROM j JOIN repositories r ON r.id = j.repository_id"
        " LEFT JOIN LATERAL (SELECT t.id, t.name, t.manifest_id,"
        "   registry_tag_refusal(r.project_id, t.name, 'delete', j.level, false) IS NOT NULL"
        "     AS protected,"
        "   ($4::bigint IS NULL OR m.created_at < now() - make_interval(secs => $4::bigint))"
        "     AS old_enough, m.created_at::text AS at"
        "   FROM tags t JOIN manifests m ON m.id = t.manifest_id"
        "  WHERE t.repository_id = j.repository_id"
        "    AND ($5::timestamptz IS NULL OR (m.created_at, t.id) < ($5::timestamptz, $6::bigint))"
        "  ORDER BY m.created_at DESC, t.id DESC LIMIT $7) x ON r.status IS NULL");
PG_STMT(q_delete_tags,
        "SELECT registry_job_delete_tags($1, $2, $3, $4::bigint[], $5::bigint[]) AS deleted");
PG_STMT(q_finish, "SELECT registry_job_finish($1, $2)");
PG_STMT(q_release, "SELECT registry_job_release($1, $2, $3, $4)");

enum rj_state { RJ_IDLE, RJ_CLAIMING, RJ_RUNNING };

static struct {
	struct event *timer;
	enum rj_state state;
	bool stopping;
	bool again; /* kicked while claiming: look once more */
	char worker[96];
	int interval;
	/* the job being run */
	int64_t job;
	int64_t repo;
	int attempt;
	bool cleanup;
	char *params;
	uint64_t started_us;
	/* cleanup: the rules, the page cursor, the doomed tags of the page and their manifests */
	struct cleanup_rules rules;
	pcre2_code *delete_re, *keep_re;
	int64_t older_than; /* seconds, -1: none */
	char *cursor_at;
	int64_t cursor_id;
	bool more; /* the page was full: there may be another */
	size_t kept, seen, protected;
	int64_t *ids;
	int64_t *mids;
	size_t ndoomed, next, deleted;
} rj;

static void claim(void);
static void list_page(void);

/* Text of a bigint parameter. */
static void
i64(char *buf, size_t len, int64_t v)
{
	snprintf(buf, len, "%lld", (long long)v);
}

/* Schedules the next look for work in seconds. */
static void
arm(int seconds)
{
	if (rj.timer == NULL)
		return;
	struct timeval tv = { seconds, 0 };
	evtimer_add(rj.timer, &tv);
}

/* The job is over (done, lost or given back): forget it and look for the next one. */
static void
job_end(void)
{
	free(rj.params);
	free(rj.ids);
	free(rj.mids);
	free(rj.cursor_at);
	pcre2_code_free(rj.delete_re);
	pcre2_code_free(rj.keep_re);
	rj.params = rj.cursor_at = NULL;
	rj.ids = rj.mids = NULL;
	rj.delete_re = rj.keep_re = NULL;
	rj.ndoomed = rj.next = rj.deleted = rj.kept = rj.seen = rj.protected = 0;
	rj.more = false;
	rj.state = RJ_IDLE;
	if (!rj.stopping)
		claim();
}

/* The lease went back (a failure, or this worker stopping). */
static void
released(PGresult *res, void *arg)
{
	if (!pg_ok(res))
		log_warn("registry job %lld: giving it back failed: %s", (long long)rj.job,
		         pg_error(res));
	job_end();
	(void)arg;
}

/* Gives the job back: why NULL for a stopping worker (not an attempt), else retried later. */
static void
job_release(const char *why)
{
	char job[32], lease[32];
	i64(job, sizeof(job), rj.job);
	i64(lease, sizeof(lease), why ? (int64_t)RETRY_SECONDS * rj.attempt : 0);
	if (why != NULL)
		log_warn("registry job %lld (attempt %d of %d): %s", (long long)rj.job, rj.attempt,
		         MAX_ATTEMPTS, why);
	const char *params[] = { job, rj.worker, why, lease };
	pg_exec(md.db, &q_release, 4, params, released, NULL);
}

/* Another worker holds the job now (this one stalled past its lease). */
static void
job_lost(void)
{
	log_warn("registry job %lld: lease lost; another worker carries on", (long long)rj.job);
	job_end();
}

/* The job's row is gone: it is done. */
static void
finished(PGresult *res, void *arg)
{
	if (!pg_ok(res)) {
		job_release(pg_error(res));
		return;
	}
	double secs = (double)(now_monotonic_us() - rj.started_us) / 1e6;
	if (rj.cleanup)
		log_info("registry job %lld: %zu of %zu tag%s of repository %lld deleted in %.3f s"
		         " (%zu protected kept)",
		         (long long)rj.job, rj.deleted, rj.seen, rj.seen == 1 ? "" : "s",
		         (long long)rj.repo, secs, rj.protected);
	job_end();
	(void)arg;
}

/* Ends the job: its row goes (and a policy run's cleanup_policy_started_at). */
static void
job_finish(void)
{
	char job[32];
	i64(job, sizeof(job), rj.job);
	const char *params[] = { job, rj.worker };
	pg_exec(md.db, &q_finish, 2, params, finished, NULL);
}

/* ---- deleting a repository ----------------------------------------------------------------------
 */

static void delete_step(void);

/* One step done: another, or the end. */
static void
delete_stepped(PGresult *res, void *arg)
{
	if (!pg_ok(res) || pg_rows(res) != 1) {
		job_release(pg_error(res));
		return;
	}
	const char *result = pg_get(res, 0, "result");
	if (strcmp(result, "lost") == 0) {
		job_lost();
	} else if (strcmp(result, "done") == 0) {
		/* the repository row went, and its job row with it */
		log_info("registry job %lld: repository %lld deleted in %.3f s", (long long)rj.job,
		         (long long)rj.repo, (double)(now_monotonic_us() - rj.started_us) / 1e6);
		job_end();
	} else if (rj.stopping) {
		job_release(NULL);
	} else {
		delete_step();
	}
	(void)arg;
}

/* Deletes the next batch of the repository's tags, manifests or blob links. */
static void
delete_step(void)
{
	char job[32], lease[32], batch[32];
	i64(job, sizeof(job), rj.job);
	i64(lease, sizeof(lease), LEASE_SECONDS);
	i64(batch, sizeof(batch), BATCH);
	const char *params[] = { job, rj.worker, lease, batch };
	pg_exec(md.db, &q_delete_step, 4, params, delete_stepped, NULL);
}

/* ---- deleting tags in bulk ----------------------------------------------------------------------
 */

static void delete_batch(void);

/* A PostgreSQL array literal of n numbers (caller frees). */
static char *
array_literal(const int64_t *v, size_t n)
{
	char *out = xmalloc(n * 21 + 3);
	size_t len = 0;
	out[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%s%lld", i ? "," : "", (long long)v[i]);
	out[len++] = '}';
	out[len] = '\0';
	return out;
}

/* A batch went: the next one. */
static void
batch_done(PGresult *res, void *arg)
{
	if (!pg_ok(res) || pg_rows(res) != 1) {
		job_release(pg_error(res));
		return;
	}
	long long n = pg_get_int(res, 0, "deleted");
	if (n < 0) {
		job_lost();
		return;
	}
	rj.deleted += (size_t)n;
	rj.next += BATCH;
	if (rj.stopping)
		job_release(NULL);
	else
		delete_batch();
	(void)arg;
}

/* Deletes the next BATCH doomed tags of the page, then goes to the next page or ends the job. */
static void
delete_batch(void)
{
	if (rj.next >= rj.ndoomed) {
		if (rj.more)
			list_page();
		else
			job_finish();
		return;
	}
	size_t n = rj.ndoomed - rj.next < BATCH ? rj.ndoomed - rj.next : BATCH;
	char job[32], lease[32];
	i64(job, sizeof(job), rj.job);
	i64(lease, sizeof(lease), LEASE_SECONDS);
	char *ids = array_literal(rj.ids + rj.next, n);
	char *mids = array_literal(rj.mids + rj.next, n);
	const char *params[] = { job, rj.worker, lease, ids, mids };
	pg_exec(md.db, &q_delete_tags, 5, params, batch_done, NULL);
	free(ids);
	free(mids);
}

/* Compiles the job's rules into rj; -1 (with *why) when they do not compile. */
static int
rules_of(json_object *params, char **why)
{
	const char *d = js_str(params, "name_regex_delete");
	const char *k = js_str(params, "name_regex_keep");
	if ((rj.delete_re = cleanup_regex_compile(d ? d : "", why)) == NULL)
		return -1;
	if (k != NULL && *k != '\0' && (rj.keep_re = cleanup_regex_compile(k, why)) == NULL)
		return -1;
	int64_t n;
	rj.rules.delete_re = rj.delete_re;
	rj.rules.keep_re = rj.keep_re;
	rj.rules.keep_n = js_int(params, "keep_n", &n) ? n : -1;
	rj.older_than = js_int(params, "older_than", &n) && n >= 0 ? n : -1;
	return 0;
}

/* A page of tags is in: choose its doomed ones, then delete them in batches. */
static void
page_listed(PGresult *res, void *arg)
{
	if (!pg_ok(res)) {
		job_release(pg_error(res));
		return;
	}
	if (pg_rows(res) == 0 || pg_get(res, 0, "repository_id") == NULL) {
		job_lost();
		return;
	}
	if (pg_get(res, 0, "status") != NULL) {
		/* being deleted: nothing to clean up */
		job_finish();
		return;
	}
	int rows = pg_rows(res);
	struct cleanup_tag *tags = xcalloc((size_t)rows, sizeof(*tags));
	size_t n = 0;
	for (int i = 0; i < rows; i++) {
		if (pg_get(res, i, "id") == NULL)
			continue;
		tags[n].name = pg_get(res, i, "name");
		tags[n].old_enough = pg_get_bool(res, i, "old_enough");
		n++;
	}
	size_t doomed = cleanup_select(&rj.rules, tags, n, &rj.kept);
	free(rj.ids);
	free(rj.mids);
	rj.ids = xcalloc(doomed + 1, sizeof(*rj.ids));
	rj.mids = xcalloc(doomed + 1, sizeof(*rj.mids));
	rj.ndoomed = rj.next = 0;
	for (int i = 0, t = 0; i < rows; i++) {
		if (pg_get(res, i, "id") == NULL)
			continue;
		bool doomed_here = tags[t++].doomed;
		if (doomed_here && pg_get_bool(res, i, "protected")) {
			rj.protected ++; /* a protection rule keeps it: skipped, counted */
		} else if (doomed_here) {
			rj.ids[rj.ndoomed] = pg_get_int(res, i, "id");
			rj.mids[rj.ndoomed++] = pg_get_int(res, i, "manifest_id");
		}
		free(rj.cursor_at);
		rj.cursor_at = xstrdup(pg_get(res, i, "at"));
		rj.cursor_id = pg_get_int(res, i, "id");
	}
	free(tags);
	rj.seen += n;
	rj.more = n == PAGE;
	delete_batch();
	(void)arg;
}

/* Reads the next page of the repository's tags. */
static void
list_page(void)
{
	char job[32], lease[32], older_than[32], cursor_id[32], page[32];
	i64(job, sizeof(job), rj.job);
	i64(lease, sizeof(lease), LEASE_SECONDS);
	i64(older_than, sizeof(older_than), rj.older_than);
	i64(cursor_id, sizeof(cursor_id), rj.cursor_id);
	i64(page, sizeof(page), PAGE);
	const char *values[] = { job,          rj.worker,
		                 lease,        rj.older_than >= 0 ? older_than : NULL,
		                 rj.cursor_at, rj.cursor_at ? cursor_id : NULL,
		                 page };
	pg_exec(md.db, &q_cleanup_tags, 7, values, page_listed, NULL);
}

/* Compiles the cleanup's rules, then reads its first page. */
static void
cleanup_start(void)
{
	char *cause = NULL, *why = NULL;
	json_object *params = js_parse(rj.params, strlen(rj.params), &cause);
	if (params == NULL || rules_of(params, &why) < 0) {
		/* validated when asked for: only a changed rule could get here; retrying cannot
		 * help */
		log_error("registry job %lld: bad parameters (%s); dropped", (long long)rj.job,
		          cause ? cause : why);
		free(cause);
		free(why);
		json_object_put(params);
		job_finish();
		return;
	}
	json_object_put(params);
	list_page();
}

/* ---- claiming -----------------------------------------------------------------------------------
 */

/* A job, or nothing to do until the next tick. */
static void
claimed(PGresult *res, void *arg)
{
	rj.state = RJ_IDLE;
	if (!pg_ok(res)) {
		log_warn("registry jobs: cannot claim: %s", pg_error(res));
		arm(rj.interval);
		return;
	}
	if (pg_rows(res) == 0) {
		if (rj.again && !rj.stopping)
			claim();
		else
			arm(rj.interval);
		return;
	}
	rj.state = RJ_RUNNING;
	rj.job = pg_get_int(res, 0, "job_id");
	rj.repo = pg_get_int(res, 0, "repository_id");
	rj.attempt = (int)pg_get_int(res, 0, "attempts");
	rj.cleanup = strcmp(pg_get(res, 0, "kind"), "cleanup_tags") == 0;
	rj.params = xstrdup(pg_get(res, 0, "params"));
	rj.started_us = now_monotonic_us();
	log_info("registry job %lld: %s%s of repository %lld (attempt %d)", (long long)rj.job,
	         pg_get_bool(res, 0, "policy") ? "cleanup policy " : "", pg_get(res, 0, "kind"),
	         (long long)rj.repo, rj.attempt);
	if (rj.stopping)
		job_release(NULL);
	else if (rj.cleanup)
		cleanup_start();
	else
		delete_step();
	(void)arg;
}

/* Asks for the next job (and queues the cleanup policies that are due). */
static void
claim(void)
{
	if (rj.timer != NULL)
		evtimer_del(rj.timer);
	rj.state = RJ_CLAIMING;
	rj.again = false;
	char lease[32], attempts[32];
	i64(lease, sizeof(lease), LEASE_SECONDS);
	i64(attempts, sizeof(attempts), MAX_ATTEMPTS);
	const char *params[] = { rj.worker, lease, attempts };
	pg_exec(md.db, &q_claim, 3, params, claimed, NULL);
}

/* Timer: look for work unless a job runs. */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	if (rj.state == RJ_IDLE && !rj.stopping)
		claim();
	(void)fd;
	(void)what;
	(void)arg;
}

void
regjobs_start(void)
{
	char host[64] = "";
	gethostname(host, sizeof(host) - 1);
	snprintf(rj.worker, sizeof(rj.worker), "%s:%d:%08x", host, (int)getpid(),
	         randombytes_random());
	rj.interval = (int)cfg_int(md.cfg, CFG_METAD_JOBS_INTERVAL);
	rj.timer = evtimer_new(md.base, tick, NULL);
	arm(FIRST_TICK_SECONDS);
}

void
regjobs_kick(void)
{
	if (rj.stopping || rj.timer == NULL)
		return;
	if (rj.state == RJ_IDLE)
		claim();
	else
		rj.again = true;
}

void
regjobs_stop(void)
{
	rj.stopping = true;
	if (rj.timer != NULL) {
		event_free(rj.timer);
		rj.timer = NULL;
	}
}

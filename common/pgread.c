/* Reads served by a streaming replica, with read-your-writes (pgread.h). */
#include "pgread.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "lsn.h"
#include "metrics.h"
#include "util.h"

#define PGREAD_TICK_MS 1000 /* between checks of both servers */
#define PGREAD_POLL_MS 2    /* between questions to a replica behind a read's fence */
#define PGREAD_SAMPLES 64   /* the primary's positions kept, one a check: the lag's measure */

PG_STMT(q_primary_lsn, "SELECT wal_written_lsn() AS lsn");
PG_STMT(q_replayed, "SELECT pg_last_wal_replay_lsn() AS lsn");
PG_STMT(q_standby, "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn() AS lsn");

/* A read on its way: the statement and copies of its parameters. */
struct pgread_read {
	struct pgread *g;
	struct pg_stmt *stmt;
	int nparams;
	char **values;
	pg_cb cb;
	void *arg;
	uint64_t fence;
	uint64_t *learned; /* where the caller keeps the primary's position asked for it */
	uint64_t deadline_us;
	TAILQ_ENTRY(pgread_read) link;
};
TAILQ_HEAD(pgread_list, pgread_read);

struct pgread {
	struct event_base *base;
	struct pg_pool *primary, *replica;
	uint64_t max_lag_us, wait_us;
	enum pgread_state state;
	/* the replica's replay position, as last answered on a connection not lost since */
	uint64_t replayed;
	unsigned replayed_losses;
	struct pgread_list need_lsn; /* waiting for a question to the primary to start */
	struct pgread_list asking;   /* waiting for the one under way */
	struct pgread_list waiting;  /* waiting for the replica to replay their fence */
	bool lsn_asked, polling;
	struct event *poll_timer, *tick;
	/* the periodic check: both answers, then the verdict */
	int check_pending;
	bool check_primary_ok, check_replica_ok, check_standby;
	uint64_t check_primary, check_replay;
	struct {
		uint64_t t_us, lsn;
	} samples[PGREAD_SAMPLES];
	int nsamples, next_sample;
};

static void pgread_poll(struct pgread *g);

/* A read's own copy of what it runs. */
static struct pgread_read *
read_new(struct pgread *g, struct pg_stmt *stmt, int nparams, const char *const *values, pg_cb cb,
         void *arg)
{
	struct pgread_read *r = xcalloc(1, sizeof(*r));
	r->g = g;
	r->stmt = stmt;
	r->nparams = nparams;
	r->values = xcalloc((size_t)(nparams ? nparams : 1), sizeof(char *));
	for (int i = 0; i < nparams; i++)
		r->values[i] = values[i] != NULL ? xstrdup(values[i]) : NULL;
	r->cb = cb;
	r->arg = arg;
	return r;
}

/* Frees a read once it is handed to a pool. */
static void
read_free(struct pgread_read *r)
{
	for (int i = 0; i < r->nparams; i++)
		free(r->values[i]);
	free(r->values);
	free(r);
}

/* The primary answers the read. */
static void
read_on_primary(struct pgread_read *r)
{
	metrics_add(METRICS_DB_READS_PRIMARY, 1);
	pg_exec(r->g->primary, r->stmt, r->nparams, (const char *const *)r->values, r->cb, r->arg);
	read_free(r);
}

/* The replica's answer: the read's, or a failure the primary makes up for. */
static void
replica_done(PGresult *res, void *arg)
{
	struct pgread_read *r = arg;
	if (!pg_ok(res)) {
		log_warn("replica: %s: the primary answers instead",
		         res != NULL ? pg_error(res) : "connection lost");
		read_on_primary(r);
		return;
	}
	metrics_add(METRICS_DB_READS_REPLICA, 1);
	r->cb(res, r->arg);
	read_free(r);
}

/* The replica answers the read (it has replayed the read's fence). */
static void
read_on_replica(struct pgread_read *r)
{
	pg_exec(r->g->replica, r->stmt, r->nparams, (const char *const *)r->values, replica_done,
	        r);
}

/* The replica's replay position as far as it is known (0: not known). */
static uint64_t
known_replayed(const struct pgread *g)
{
	return g->replayed_losses == pg_pool_losses(g->replica) ? g->replayed : 0;
}

/* Learns a replay position the replica answered just now. */
static void
learn_replayed(struct pgread *g, uint64_t lsn)
{
	unsigned losses = pg_pool_losses(g->replica);
	if (g->replayed_losses != losses || lsn > g->replayed)
		g->replayed = lsn;
	g->replayed_losses = losses;
}

/* Sends a read with its fence where it may go: the replica if it has replayed the fence,
 * else it waits for it (up to wait_us), or the primary. */
static void
read_route(struct pgread_read *r)
{
	struct pgread *g = r->g;
	if (g->state != PGREAD_UP) {
		read_on_primary(r);
	} else if (known_replayed(g) >= r->fence) {
		read_on_replica(r);
	} else if (g->wait_us == 0) {
		read_on_primary(r);
	} else {
		r->deadline_us = now_monotonic_us() + g->wait_us;
		TAILQ_INSERT_TAIL(&g->waiting, r, link);
		pgread_poll(g);
	}
}

/* The replica said where it is: reads whose fence it has replayed go to it, those whose wait
 * is over to the primary; the others wait for the next question. */
static void
poll_done(PGresult *res, void *arg)
{
	struct pgread *g = arg;
	g->polling = false;
	uint64_t lsn = 0;
	bool ok = pg_ok(res) && pg_rows(res) == 1 && lsn_parse(pg_get(res, 0, "lsn"), &lsn);
	if (ok)
		learn_replayed(g, lsn);
	uint64_t now = now_monotonic_us();
	struct pgread_read *next;
	for (struct pgread_read *r = TAILQ_FIRST(&g->waiting); r != NULL; r = next) {
		next = TAILQ_NEXT(r, link);
		if (ok && g->state == PGREAD_UP && lsn >= r->fence) {
			TAILQ_REMOVE(&g->waiting, r, link);
			read_on_replica(r);
		} else if (!ok || g->state != PGREAD_UP || now >= r->deadline_us) {
			TAILQ_REMOVE(&g->waiting, r, link);
			read_on_primary(r);
		}
	}
	if (!TAILQ_EMPTY(&g->waiting)) {
		struct timeval tv = { 0, PGREAD_POLL_MS * 1000 };
		evtimer_add(g->poll_timer, &tv);
	}
}

/* Asks the replica where it is, unless a question is under way. */
static void
pgread_poll(struct pgread *g)
{
	if (g->polling || evtimer_pending(g->poll_timer, NULL))
		return;
	g->polling = true;
	pg_exec(g->replica, &q_replayed, 0, NULL, poll_done, g);
}

/* The pause between two questions to the replica is over. */
static void
poll_timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct pgread *g = arg;
	if (!g->polling) {
		g->polling = true;
		pg_exec(g->replica, &q_replayed, 0, NULL, poll_done, g);
	}
	(void)fd;
	(void)what;
}

static void ask_primary(struct pgread *g);

/* The primary's position came back: it is the fence of every read that waited for it (the
 * primary answers them all when it could not say). */
static void
primary_lsn_done(PGresult *res, void *arg)
{
	struct pgread *g = arg;
	g->lsn_asked = false;
	uint64_t lsn = 0;
	bool ok = pg_ok(res) && pg_rows(res) == 1 && lsn_parse(pg_get(res, 0, "lsn"), &lsn);
	struct pgread_read *r;
	while ((r = TAILQ_FIRST(&g->asking)) != NULL) {
		TAILQ_REMOVE(&g->asking, r, link);
		r->fence = lsn;
		if (ok && r->learned != NULL && *r->learned == 0)
			*r->learned = lsn;
		if (ok)
			read_route(r);
		else
			read_on_primary(r);
	}
	ask_primary(g);
}

/* Asks the primary its position for the reads that came after the question under way (an
 * earlier answer may predate a write they must see). */
static void
ask_primary(struct pgread *g)
{
	if (g->lsn_asked || TAILQ_EMPTY(&g->need_lsn))
		return;
	TAILQ_CONCAT(&g->asking, &g->need_lsn, link);
	g->lsn_asked = true;
	pg_exec(g->primary, &q_primary_lsn, 0, NULL, primary_lsn_done, g);
}

void
pgread_exec(struct pgread *g, uint64_t *fence, struct pg_stmt *stmt, int nparams,
            const char *const *values, pg_cb cb, void *arg)
{
	struct pgread_read *r = read_new(g, stmt, nparams, values, cb, arg);
	if (g->state != PGREAD_UP) {
		read_on_primary(r);
	} else if (*fence == 0) {
		r->learned = fence;
		TAILQ_INSERT_TAIL(&g->need_lsn, r, link);
		ask_primary(g);
	} else {
		r->fence = *fence;
		read_route(r);
	}
}

/* ---- the periodic check ------------------------------------------------------------------- */

/* How long the replica has been behind: since the oldest position of the primary it has not
 * replayed (0 when it has them all). */
static uint64_t
lag_us(const struct pgread *g, uint64_t replayed, uint64_t now)
{
	uint64_t oldest = now;
	for (int i = 0; i < g->nsamples; i++)
		if (g->samples[i].lsn > replayed && g->samples[i].t_us < oldest)
			oldest = g->samples[i].t_us;
	return now - oldest;
}

static const char *const state_texts[] = {
	[PGREAD_STARTING] = "primary (replica not checked yet)",
	[PGREAD_UP] = "replica",
	[PGREAD_DOWN] = "primary (replica unreachable)",
	[PGREAD_LAGGING] = "primary (replica lagging)",
	[PGREAD_NOT_STANDBY] = "primary (replica not in recovery)",
};

/* Both servers answered the check (or failed to): where reads go until the next one. */
static void
check_verdict(struct pgread *g)
{
	uint64_t now = now_monotonic_us();
	if (g->check_primary_ok) {
		g->samples[g->next_sample].t_us = now;
		g->samples[g->next_sample].lsn = g->check_primary;
		g->next_sample = (g->next_sample + 1) % PGREAD_SAMPLES;
		if (g->nsamples < PGREAD_SAMPLES)
			g->nsamples++;
	}
	enum pgread_state state;
	uint64_t lag = 0;
	if (!g->check_replica_ok) {
		state = PGREAD_DOWN;
	} else if (!g->check_standby) {
		state = PGREAD_NOT_STANDBY;
	} else {
		learn_replayed(g, g->check_replay);
		lag = lag_us(g, g->check_replay, now);
		state = lag > g->max_lag_us ? PGREAD_LAGGING : PGREAD_UP;
	}
	if (state != g->state) {
		if (state == PGREAD_UP)
			log_info("database reads: replica");
		else
			log_warn("database reads: %s", state_texts[state]);
		g->state = state;
	}
	metrics_set(METRICS_DB_REPLICA_USABLE, state == PGREAD_UP);
	metrics_set(METRICS_DB_REPLICA_LAG, lag / 1000);
	if (state != PGREAD_UP && !TAILQ_EMPTY(&g->waiting))
		pgread_poll(g); /* the waiting reads move to the primary on its answer */
}

/* One answer of the check; the verdict comes with the second. */
static void
check_answer(struct pgread *g)
{
	if (--g->check_pending == 0)
		check_verdict(g);
}

/* The primary's part of the check. */
static void
check_primary_done(PGresult *res, void *arg)
{
	struct pgread *g = arg;
	g->check_primary_ok = pg_ok(res) && pg_rows(res) == 1 &&
	                      lsn_parse(pg_get(res, 0, "lsn"), &g->check_primary);
	check_answer(g);
}

/* The replica's part: in recovery, and how far it has replayed. */
static void
check_replica_done(PGresult *res, void *arg)
{
	struct pgread *g = arg;
	g->check_replica_ok = pg_ok(res) && pg_rows(res) == 1;
	g->check_standby = g->check_replica_ok && pg_get_bool(res, 0, "standby");
	if (g->check_standby && !lsn_parse(pg_get(res, 0, "lsn"), &g->check_replay))
		g->check_replica_ok = false;
	check_answer(g);
}

/* Every second: asks both servers where they are (unless the last check is still out). */
static void
check_tick(evutil_socket_t fd, short what, void *arg)
{
	struct pgread *g = arg;
	if (g->check_pending == 0) {
		g->check_pending = 2;
		pg_exec(g->primary, &q_primary_lsn, 0, NULL, check_primary_done, g);
		pg_exec(g->replica, &q_standby, 0, NULL, check_replica_done, g);
	}
	(void)fd;
	(void)what;
}

struct pgread *
pgread_new(struct event_base *base, struct pg_pool *primary, const char *conninfo, int nconns,
           int idle_s, int max_lag_s, int wait_ms)
{
	struct pgread *g = xcalloc(1, sizeof(*g));
	g->base = base;
	g->primary = primary;
	g->replica = pg_pool_new(base, conninfo, nconns, idle_s);
	g->max_lag_us = (uint64_t)max_lag_s * 1000000;
	g->wait_us = (uint64_t)wait_ms * 1000;
	g->state = PGREAD_STARTING;
	TAILQ_INIT(&g->need_lsn);
	TAILQ_INIT(&g->asking);
	TAILQ_INIT(&g->waiting);
	g->poll_timer = evtimer_new(base, poll_timer_fired, g);
	g->tick = event_new(base, -1, EV_PERSIST, check_tick, g);
	struct timeval tv = { PGREAD_TICK_MS / 1000, (PGREAD_TICK_MS % 1000) * 1000 };
	event_add(g->tick, &tv);
	check_tick(-1, 0, g); /* the first verdict as soon as both answer */
	return g;
}

enum pgread_state
pgread_state(const struct pgread *g)
{
	return g->state;
}

const char *
pgread_state_text(const struct pgread *g)
{
	return state_texts[g->state];
}

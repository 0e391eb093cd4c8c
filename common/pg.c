/*
 * Non-blocking PostgreSQL pool: PQconnectStart/PQconnectPoll to connect, PQsendPrepare and
 * PQsendQueryPrepared to query, PQconsumeInput/PQisBusy/PQgetResult on read events, PQflush on
 * write events. A broken connection fails its query (callback with NULL) and reconnects with
 * back-off; queued queries wait for a live connection.
 *
 * The pool opens one connection at start and more, one at a time up to its size, only while
 * queries queue (GROW_DELAY_US) with every connection in use busy; a connection idle for the
 * pool's idle timeout is closed unless it is the last one open. Each server backend holds megabytes
 * of its own (catalog caches, plans), so a pool holds as many as its load needs, not its size.
 */
#include "pg.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "log.h"
#include "lsn.h"
#include "util.h"

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
#define CONNECT_TIMEOUT_DEFAULT_S 10 /* without connect_timeout in the connection string */
#define CONNECT_TIMEOUT_MIN_S 2      /* libpq's own floor for connect_timeout */
/* How long queries must have queued, every warm connection busy, before a cold one takes them or
 * one more is opened: a handful issued at once (a background job's tick, a few commits waiting
 * on the WAL flush) drains sooner on the connections in use, so that the others stay unused and
 * are closed once idle_s is over; under sustained load a pool reaches its size within tens of
 * milliseconds. */
#define GROW_DELAY_US 10000
/* A connection idle longer than this is cold: it takes a query only after the grow delay, or
 * when no other connection is busy. Under load every connection in use is warm. */
#define WARM_US 500000

enum pgc_state {
	PGC_OFF, /* not opened, or closed after idling: nothing to retry */
	PGC_DOWN,
	PGC_CONNECTING,
	PGC_IDLE,
	PGC_CLIENT,
	PGC_PREPARING,
	PGC_QUERYING,
	PGC_LSN
};

struct pg_query {
	struct pg_stmt *stmt;
	int nparams;
	char **values;
	int *lengths;
	int *formats;
	pg_cb cb;
	void *arg;
	bool want_lsn;   /* pg_exec_lsn: read the WAL position after the statement */
	uint64_t lsn;    /* what it read */
	char *client_ip; /* the setting registry.client_ip it runs under ("": none) */
	TAILQ_ENTRY(pg_query) link;
};

struct pgc {
	struct pg_pool *pool;
	PGconn *conn;
	enum pgc_state state;
	struct event *ev; /* socket readiness */
	/* reconnect back-off; while connecting, the attempt's deadline; while idle, the idle
	 * timeout */
	struct event *timer;
	int sock;
	short want; /* EV_READ / EV_WRITE currently waited for */
	unsigned backoff_ms;
	bool *prepared; /* by statement id */
	int nprepared;
	struct pg_query *q;
	PGresult *result; /* last result of the running query */
	PGresult *held;   /* the statement's result while its WAL position is read (PGC_LSN) */
	char *client_ip;  /* the session's registry.client_ip (NULL: never set, as "") */
	uint64_t idle_at; /* when it last became idle (now_monotonic_us) */
	uint64_t down_at; /* when it last broke or failed to connect (now_monotonic_us) */
};

struct pg_pool {
	struct event_base *base;
	char *conninfo;
	int connect_timeout_s; /* an attempt that has not connected by then is given up */
	int idle_s;            /* a connection idle that long is closed (0: never) */
	int nconns;            /* slots: the most connections open at once */
	struct pgc *conns;
	TAILQ_HEAD(, pg_query) queue;
	struct event *fail_ev; /* fails the queue from the loop while every connection is down */
	struct event *grow_ev; /* opens one more connection (pool_grow) */
	unsigned losses;       /* connections lost so far */
};

/* TCP keepalives unless the connection string says otherwise: a database host that vanished
 * (packets dropped, no reset) ends its connections after about a minute, not the kernel's two
 * hours; and "registry-<daemon>" as application_name, which pg_stat_activity shows, unless the
 * string names one. The connection string comes last (expanded from dbname), so its own values
 * win. */
static const char *const connect_keywords[] = { "keepalives_idle",  "keepalives_interval",
	                                        "keepalives_count", "fallback_application_name",
	                                        "dbname",           NULL };
#define CONNECT_DEFAULTS "30", "10", "3", application_name()

static int next_stmt_id;
static char app_name[48];
/* The WAL position of the pg_exec_lsn query whose callback runs (pg_result_lsn). */
static uint64_t callback_lsn;

static void pgc_connect(struct pgc *c);
static void pgc_event(evutil_socket_t fd, short what, void *arg);
static void pgc_retry(evutil_socket_t fd, short what, void *arg);
static void pgc_dispatch(struct pgc *c);
static void pool_kick(struct pg_pool *pool);
static void pool_fail_queued(evutil_socket_t fd, short what, void *arg);
static bool pool_trying(const struct pg_pool *pool);
static void pool_grow(struct pg_pool *pool);
static void pool_grow_now(evutil_socket_t fd, short what, void *arg);
static void pgc_send_lsn(struct pgc *c);
static void pgc_take_lsn(struct pgc *c);

/* The application_name the daemon's connections give: "registry-metad", ... */
static const char *
application_name(void)
{
	snprintf(app_name, sizeof(app_name), "registry-%s", log_role());
	return app_name;
}

/* The connection string's connect_timeout in seconds (libpq leaves it to the application when it
 * connects without blocking, as the pool does), or the default. */
static int
conninfo_connect_timeout(const char *conninfo)
{
	int seconds = CONNECT_TIMEOUT_DEFAULT_S;
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val != NULL &&
		    atoi(o->val) > 0) {
			seconds = atoi(o->val) < CONNECT_TIMEOUT_MIN_S ? CONNECT_TIMEOUT_MIN_S
			                                               : atoi(o->val);
		}
	}
	PQconninfoFree(opts);
	return seconds;
}

/* A pool of up to nconns database connections; the first is opened now, in the background, and
 * queries queue until it is up. */
struct pg_pool *
pg_pool_new(struct event_base *base, const char *conninfo, int nconns, int idle_s)
{
	struct pg_pool *pool = xcalloc(1, sizeof(*pool));
	pool->base = base;
	pool->conninfo = xstrdup(conninfo);
	pool->connect_timeout_s = conninfo_connect_timeout(conninfo);
	pool->idle_s = idle_s;
	pool->nconns = nconns;
	pool->conns = xcalloc((size_t)nconns, sizeof(*pool->conns));
	TAILQ_INIT(&pool->queue);
	pool->fail_ev = evtimer_new(base, pool_fail_queued, pool);
	pool->grow_ev = evtimer_new(base, pool_grow_now, pool);
	for (int i = 0; i < nconns; i++) {
		struct pgc *c = &pool->conns[i];
		c->pool = pool;
		c->sock = -1;
		c->timer = evtimer_new(base, pgc_retry, c);
	}
	pgc_connect(&pool->conns[0]); /* a wrong connection string shows in the log at once */
	return pool;
}

/* Frees a query and the copies of its parameters it was queued with. */
static void
query_free(struct pg_query *q)
{
	for (int i = 0; i < q->nparams; i++)
		free(q->values[i]);
	free(q->values);
	free(q->lengths);
	free(q->formats);
	free(q->client_ip);
	free(q);
}

/* Closes every connection and drops queued queries without calling their callbacks. */
void
pg_pool_free(struct pg_pool *pool)
{
	for (int i = 0; i < pool->nconns; i++) {
		struct pgc *c = &pool->conns[i];
		if (c->ev != NULL)
			event_free(c->ev);
		event_free(c->timer);
		if (c->conn != NULL)
			PQfinish(c->conn);
		if (c->result != NULL)
			PQclear(c->result);
		if (c->held != NULL)
			PQclear(c->held);
		if (c->q != NULL)
			query_free(c->q);
		free(c->prepared);
		free(c->client_ip);
	}
	struct pg_query *q;
	while ((q = TAILQ_FIRST(&pool->queue)) != NULL) {
		TAILQ_REMOVE(&pool->queue, q, link);
		query_free(q);
	}
	event_free(pool->fail_ev);
	event_free(pool->grow_ev);
	free(pool->conns);
	free(pool->conninfo);
	free(pool);
}

unsigned
pg_pool_losses(const struct pg_pool *pool)
{
	return pool->losses;
}

uint64_t
pg_result_lsn(void)
{
	return callback_lsn;
}

bool
pg_pool_connected(const struct pg_pool *pool)
{
	for (int i = 0; i < pool->nconns; i++)
		if (pool->conns[i].state >= PGC_IDLE)
			return true;
	return false;
}

/* Waits for the socket to become readable and/or writable. */
static void
pgc_wait(struct pgc *c, short what)
{
	int sock = PQsocket(c->conn);
	if (c->ev != NULL && (sock != c->sock || what != c->want)) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->ev == NULL) {
		c->sock = sock;
		c->want = what;
		c->ev = event_new(c->pool->base, sock, what | EV_PERSIST, pgc_event, c);
		event_add(c->ev, NULL);
	}
}

/* Closes the connection's session: its socket, its last result, what the session held (the
 * client address, the prepared statements). */
static void
pgc_close(struct pgc *c)
{
	if (c->ev != NULL) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->conn != NULL) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
	if (c->result != NULL) {
		PQclear(c->result);
		c->result = NULL;
	}
	free(c->client_ip); /* a new session starts without the setting */
	c->client_ip = NULL;
	if (c->nprepared > 0) /* no statement prepared yet: nothing to forget (prepared is NULL) */
		memset(c->prepared, 0, (size_t)c->nprepared * sizeof(bool));
}

/* The connection broke: fail its query, and try again after a pause. */
static void
pgc_down(struct pgc *c, const char *why)
{
	if (c->state != PGC_DOWN && c->state != PGC_OFF) {
		log_error("database connection lost: %s", why);
		c->pool->losses++;
	}
	pgc_close(c);
	c->down_at = now_monotonic_us();
	bool lsn_lost = c->state == PGC_LSN;
	PGresult *held = c->held;
	c->held = NULL;
	c->state = PGC_DOWN;
	struct pg_query *q = c->q;
	c->q = NULL;
	/* The first loss since the connection was made is tried again at once: the server may be
	 * there (a session ended by an administrator or a pooler, a restart); later ones wait. */
	bool first = c->backoff_ms == 0;
	c->backoff_ms = first ? RECONNECT_MIN_MS
	                      : (c->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS
	                                                              : c->backoff_ms * 2);
	if (!first) {
		struct timeval tv = { c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000 };
		evtimer_add(c->timer, &tv);
	}
	if (q != NULL) {
		/* a statement that succeeded before its position could be read keeps its result:
		 * what it wrote is committed */
		q->cb(lsn_lost ? held : NULL, q->arg);
		query_free(q);
	}
	if (held != NULL)
		PQclear(held);
	if (first)
		pgc_connect(c); /* a refusal comes back here, and waits */
	/* With no connection up or on its way, queued queries fail now rather than hang. */
	if (!pool_trying(c->pool))
		pool_fail_queued(-1, 0, c->pool);
}

/* Whether a connection is up or on its way up (not every one waiting out its back-off). */
static bool
pool_trying(const struct pg_pool *pool)
{
	for (int i = 0; i < pool->nconns; i++)
		if (pool->conns[i].state != PGC_DOWN && pool->conns[i].state != PGC_OFF)
			return true;
	return false;
}

/* The connection pool_grow would give queued queries to: an idle (cold) one, else a closed one to
 * open, when queries queue and none is on its way up, and one at least is up (a database that is
 * down is retried by the connections already open, not by more of them); else NULL. */
static struct pgc *
pool_spare(struct pg_pool *pool)
{
	if (TAILQ_EMPTY(&pool->queue) || !pg_pool_connected(pool))
		return NULL;
	struct pgc *off = NULL;
	for (int i = 0; i < pool->nconns; i++) {
		struct pgc *c = &pool->conns[i];
		if (c->state == PGC_IDLE)
			return c;
		if (c->state == PGC_CONNECTING)
			return NULL;
		if (c->state == PGC_OFF && off == NULL)
			off = c;
	}
	return off;
}

/* Gives queued queries to a cold connection, or opens one more, if they still queue
 * GROW_DELAY_US from now. */
static void
pool_grow(struct pg_pool *pool)
{
	if (pool_spare(pool) != NULL && !evtimer_pending(pool->grow_ev, NULL)) {
		struct timeval tv = { 0, GROW_DELAY_US };
		evtimer_add(pool->grow_ev, &tv);
	}
}

/* The grow delay is over: a cold connection takes the queue's head, or one more is opened. */
static void
pool_grow_now(evutil_socket_t fd, short what, void *arg)
{
	struct pg_pool *pool = arg;
	struct pgc *c = pool_spare(pool);
	if (c != NULL && c->state == PGC_IDLE)
		pgc_dispatch(c);
	else if (c != NULL)
		pgc_connect(c);
	pool_grow(pool); /* more still queued: the next after another delay */
	(void)fd;
	(void)what;
}

/* Whether another connection than c is open (up, on its way up, or waiting to retry). */
static bool
pool_others_open(const struct pg_pool *pool, const struct pgc *c)
{
	for (int i = 0; i < pool->nconns; i++)
		if (&pool->conns[i] != c && pool->conns[i].state != PGC_OFF)
			return true;
	return false;
}

/* With every connection waiting out its back-off, starts the attempt of one whose pause has run
 * RECONNECT_MIN_MS, for queries that would fail otherwise: the database may be back, and the
 * back-off's next attempt may be seconds away. Whether an attempt is on its way now. */
static bool
pool_retry_early(struct pg_pool *pool)
{
	uint64_t now = now_monotonic_us();
	for (int i = 0; i < pool->nconns; i++) {
		struct pgc *c = &pool->conns[i];
		if (c->state == PGC_DOWN && now - c->down_at >= RECONNECT_MIN_MS * 1000ULL) {
			evtimer_del(c->timer);
			pgc_connect(c); /* a refusal comes back through pgc_down, here again */
			return pool_trying(pool);
		}
	}
	return false;
}

/* Fails the queued queries (their callbacks get NULL) unless a connection came up meanwhile, or
 * one is on its way up (they wait for it). */
static void
pool_fail_queued(evutil_socket_t fd, short what, void *arg)
{
	struct pg_pool *pool = arg;
	if (pg_pool_connected(pool) || TAILQ_EMPTY(&pool->queue))
		return;
	if (pool_trying(pool) || pool_retry_early(pool))
		return;
	struct pg_query *w;
	while ((w = TAILQ_FIRST(&pool->queue)) != NULL) {
		TAILQ_REMOVE(&pool->queue, w, link);
		w->cb(NULL, w->arg);
		query_free(w);
	}
	(void)fd;
	(void)what;
}

/* The back-off pause is over: tries to connect again; or an attempt ran out of time (a server
 * that accepts and never answers, packets dropped on the way): gives it up; or the connection
 * sat idle for the pool's idle timeout: closes it, unless it is the pool's last one open. */
static void
pgc_retry(evutil_socket_t fd, short what, void *arg)
{
	struct pgc *c = arg;
	if (c->state == PGC_CONNECTING) {
		char why[96];
		snprintf(why, sizeof(why), "no connection within %d s (connect_timeout)",
		         c->pool->connect_timeout_s);
		pgc_down(c, why);
	} else if (c->state == PGC_IDLE) {
		if (pool_others_open(c->pool, c)) {
			pgc_close(c);
			c->state = PGC_OFF;
		}
	} else if (c->state == PGC_DOWN) {
		pgc_connect(c);
	}
	(void)fd;
	(void)what;
}

/* Starts connecting without blocking; the socket's events drive it on (pgc_connect_step). */
static void
pgc_connect(struct pgc *c)
{
	const char *const values[] = { CONNECT_DEFAULTS, c->pool->conninfo, NULL };
	c->conn = PQconnectStartParams(connect_keywords, values, 1);
	if (c->conn == NULL || PQstatus(c->conn) == CONNECTION_BAD) {
		pgc_down(c, c->conn ? PQerrorMessage(c->conn) : "out of memory");
		return;
	}
	PQsetnonblocking(c->conn, 1);
	PQsetNoticeReceiver(c->conn, log_pg_notice, NULL); /* a log line, never raw stderr */
	c->state = PGC_CONNECTING;
	struct timeval deadline = { c->pool->connect_timeout_s, 0 };
	evtimer_add(c->timer, &deadline);
	pgc_wait(c, EV_WRITE);
}

/* Advances a connection attempt; once up, the connection takes the next queued query. */
static void
pgc_connect_step(struct pgc *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		pgc_wait(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		pgc_wait(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		evtimer_del(c->timer);
		if (c->backoff_ms != 0)
			log_info("database connection restored");
		c->backoff_ms = 0;
		c->state = PGC_IDLE;
		c->idle_at = now_monotonic_us();
		pgc_wait(c, EV_READ);
		pgc_dispatch(c);
		pool_grow(c->pool);
		break;
	default: {
		char *why = xstrdup(PQerrorMessage(c->conn));
		why[strcspn(why, "\n")] = '\0';
		pgc_down(c, why);
		free(why);
		break;
	}
	}
}

/* Sends what libpq still holds, waiting for writability while the socket is full. */
static void
pgc_flush(struct pgc *c)
{
	int rc = PQflush(c->conn);
	if (rc < 0)
		pgc_down(c, PQerrorMessage(c->conn));
	else
		pgc_wait(c, rc == 1 ? (EV_READ | EV_WRITE) : EV_READ);
}

/* The server-side name of a prepared statement, the same on every connection. */
static char *
stmt_name(const struct pg_stmt *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "s%d", stmt->id);
	return buf;
}

/* Sends the connection's query: first the client address it runs under when the session holds
 * another (registry.client_ip, which audit_record() reads), then its statement, prepared first
 * on this connection if needed. */
static void
pgc_send(struct pgc *c)
{
	struct pg_query *q = c->q;
	char name[16];
	if (strcmp(q->client_ip, c->client_ip != NULL ? c->client_ip : "") != 0) {
		const char *v[] = { q->client_ip };
		if (!PQsendQueryParams(c->conn,
		                       "SELECT set_config('registry.client_ip', $1, false)", 1,
		                       NULL, v, NULL, NULL, 0)) {
			pgc_down(c, PQerrorMessage(c->conn));
			return;
		}
		c->state = PGC_CLIENT;
	} else if (q->stmt->id >= c->nprepared || !c->prepared[q->stmt->id]) {
		if (!PQsendPrepare(c->conn, stmt_name(q->stmt, name, sizeof(name)), q->stmt->sql, 0,
		                   NULL)) {
			pgc_down(c, PQerrorMessage(c->conn));
			return;
		}
		c->state = PGC_PREPARING;
	} else {
		if (!PQsendQueryPrepared(c->conn, stmt_name(q->stmt, name, sizeof(name)),
		                         q->nparams, (const char *const *)q->values, q->lengths,
		                         q->formats, 0)) {
			pgc_down(c, PQerrorMessage(c->conn));
			return;
		}
		c->state = PGC_QUERYING;
	}
	pgc_flush(c);
}

/* The statement of a pg_exec_lsn query succeeded: keeps its result and asks, on the same
 * connection, the WAL position the server has reached since. */
static void
pgc_send_lsn(struct pgc *c)
{
	c->held = c->result;
	c->result = NULL;
	if (!PQsendQueryParams(c->conn, "SELECT wal_written_lsn()", 0, NULL, NULL, NULL, NULL, 0)) {
		c->state = PGC_LSN;
		pgc_down(c, PQerrorMessage(c->conn));
		return;
	}
	c->state = PGC_LSN;
	pgc_flush(c);
}

/* The position came back (or not): the statement's own result becomes the query's again. */
static void
pgc_take_lsn(struct pgc *c)
{
	uint64_t lsn;
	if (pg_ok(c->result) && pg_rows(c->result) == 1 &&
	    lsn_parse(PQgetvalue(c->result, 0, 0), &lsn))
		c->q->lsn = lsn;
	else
		log_warn("cannot read the WAL position after a write: %s", pg_error(c->result));
	if (c->result != NULL)
		PQclear(c->result);
	c->result = c->held;
	c->held = NULL;
}

/* Takes the next queued query if this connection is free; with none, the connection's idle
 * time starts. */
static void
pgc_dispatch(struct pgc *c)
{
	if (c->state != PGC_IDLE)
		return;
	struct pg_query *q = TAILQ_FIRST(&c->pool->queue);
	if (q == NULL) {
		if (c->pool->idle_s > 0 && !evtimer_pending(c->timer, NULL)) {
			struct timeval tv = { c->pool->idle_s, 0 };
			evtimer_add(c->timer, &tv);
		}
		return;
	}
	evtimer_del(c->timer);
	TAILQ_REMOVE(&c->pool->queue, q, link);
	c->q = q;
	pgc_send(c);
}

/* Hands the result (or the error) to the query's caller, then takes the next queued query. */
static void
pgc_finish_query(struct pgc *c)
{
	struct pg_query *q = c->q;
	PGresult *res = c->result;
	c->q = NULL;
	c->result = NULL;
	c->state = PGC_IDLE;
	c->idle_at = now_monotonic_us();
	callback_lsn = q->lsn;
	q->cb(res, q->arg);
	callback_lsn = 0;
	if (res != NULL)
		PQclear(res);
	query_free(q);
	pgc_dispatch(c);
}

/* Reads what the server answered; after a prepare the query itself is sent, else it ends. */
static void
pgc_read_results(struct pgc *c)
{
	if (!PQconsumeInput(c->conn)) {
		pgc_down(c, PQerrorMessage(c->conn));
		return;
	}
	while (c->state == PGC_CLIENT || c->state == PGC_PREPARING || c->state == PGC_QUERYING ||
	       c->state == PGC_LSN) {
		if (PQisBusy(c->conn))
			return;
		PGresult *res = PQgetResult(c->conn);
		if (res != NULL) {
			/* keep the first error, else the last result */
			if (c->result == NULL || PQresultStatus(c->result) != PGRES_FATAL_ERROR) {
				if (c->result != NULL)
					PQclear(c->result);
				c->result = res;
			} else {
				PQclear(res);
			}
			continue;
		}
		if (c->state == PGC_CLIENT) {
			if (!pg_ok(c->result)) {
				log_error("cannot set the client address: %s", pg_error(c->result));
				pgc_finish_query(c);
				return;
			}
			PQclear(c->result);
			c->result = NULL;
			free(c->client_ip);
			c->client_ip = xstrdup(c->q->client_ip);
			pgc_send(c);
			continue;
		}
		if (c->state == PGC_PREPARING) {
			bool ok =
			        c->result != NULL && PQresultStatus(c->result) == PGRES_COMMAND_OK;
			if (!ok) {
				log_error("cannot prepare statement: %s\n%s",
				          c->result ? PQresultErrorMessage(c->result) : "no result",
				          c->q->stmt->sql);
				pgc_finish_query(c);
				return;
			}
			PQclear(c->result);
			c->result = NULL;
			int id = c->q->stmt->id;
			if (id >= c->nprepared) {
				c->prepared =
				        xrealloc(c->prepared, (size_t)(id + 1) * sizeof(bool));
				memset(c->prepared + c->nprepared, 0,
				       (size_t)(id + 1 - c->nprepared) * sizeof(bool));
				c->nprepared = id + 1;
			}
			c->prepared[id] = true;
			pgc_send(c);
			continue;
		}
		if (c->state == PGC_QUERYING && c->q->want_lsn && pg_ok(c->result)) {
			pgc_send_lsn(c);
			continue;
		}
		if (c->state == PGC_LSN)
			pgc_take_lsn(c);
		pgc_finish_query(c);
		return;
	}
	/* Idle: drain notices; a closed server connection shows up here. */
	if (c->state != PGC_DOWN && PQstatus(c->conn) == CONNECTION_BAD)
		pgc_down(c, "server closed the connection");
}

/* The socket is ready: goes on connecting, sending or reading, as the state requires. */
static void
pgc_event(evutil_socket_t fd, short what, void *arg)
{
	struct pgc *c = arg;
	if (c->state == PGC_CONNECTING) {
		pgc_connect_step(c);
		return;
	}
	if (what & EV_WRITE) {
		pgc_flush(c);
		if (c->state == PGC_DOWN)
			return;
	}
	if (what & EV_READ)
		pgc_read_results(c);
	(void)fd;
}

/* Gives queued queries to the warm idle connections, the first open one first; to a cold one
 * when no connection is busy (none would free up for them); the rest wait (pool_grow). */
static void
pool_kick(struct pg_pool *pool)
{
	uint64_t now = now_monotonic_us();
	bool busy = false;
	struct pgc *cold = NULL;
	for (int i = 0; i < pool->nconns && !TAILQ_EMPTY(&pool->queue); i++) {
		struct pgc *c = &pool->conns[i];
		if (c->state == PGC_IDLE && now - c->idle_at < WARM_US)
			pgc_dispatch(c);
		else if (c->state == PGC_IDLE && cold == NULL)
			cold = c;
		busy = busy || c->state >= PGC_CLIENT;
	}
	if (!busy && cold != NULL)
		pgc_dispatch(cold);
}

/* Queues a query (pg_exec_params), reading the WAL position after it when want_lsn, run under
 * the client address client_ip (NULL: none). */
static void
pool_exec(struct pg_pool *pool, struct pg_stmt *stmt, int nparams, const char *const *values,
          const int *lengths, const int *formats, bool want_lsn, const char *client_ip, pg_cb cb,
          void *arg)
{
	if (stmt->id == 0)
		stmt->id = ++next_stmt_id;
	struct pg_query *q = xcalloc(1, sizeof(*q));
	q->stmt = stmt;
	q->nparams = nparams;
	q->values = xcalloc((size_t)(nparams ? nparams : 1), sizeof(char *));
	for (int i = 0; i < nparams; i++) {
		if (values[i] == NULL)
			continue;
		size_t len =
		        lengths && formats && formats[i] ? (size_t)lengths[i] : strlen(values[i]);
		q->values[i] = xmalloc(len + 1);
		memcpy(q->values[i], values[i], len);
		q->values[i][len] = '\0';
	}
	if (lengths != NULL) {
		q->lengths = xcalloc((size_t)nparams, sizeof(int));
		memcpy(q->lengths, lengths, (size_t)nparams * sizeof(int));
	}
	if (formats != NULL) {
		q->formats = xcalloc((size_t)nparams, sizeof(int));
		memcpy(q->formats, formats, (size_t)nparams * sizeof(int));
	}
	q->cb = cb;
	q->arg = arg;
	q->want_lsn = want_lsn;
	q->client_ip = xstrdup(client_ip != NULL ? client_ip : "");
	/* Always queued, never answered on the caller's stack. With a connection on its way up
	 * the query waits for it (the attempt fails the queue if it fails); with every connection
	 * waiting out its back-off (the database is down), at the loop's next turn it starts an
	 * attempt at once (a database still down refuses it at once, and the query fails) rather
	 * than waiting up to RECONNECT_MAX_MS for the next one. */
	TAILQ_INSERT_TAIL(&pool->queue, q, link);
	pool_kick(pool);
	pool_grow(pool);
	if (!pool_trying(pool)) {
		struct timeval now = { 0, 0 };
		evtimer_add(pool->fail_ev, &now);
	}
}

void
pg_exec_params(struct pg_pool *pool, struct pg_stmt *stmt, int nparams, const char *const *values,
               const int *lengths, const int *formats, pg_cb cb, void *arg)
{
	pool_exec(pool, stmt, nparams, values, lengths, formats, false, NULL, cb, arg);
}

void
pg_exec(struct pg_pool *pool, struct pg_stmt *stmt, int nparams, const char *const *values,
        pg_cb cb, void *arg)
{
	pool_exec(pool, stmt, nparams, values, NULL, NULL, false, NULL, cb, arg);
}

void
pg_exec_lsn(struct pg_pool *pool, struct pg_stmt *stmt, int nparams, const char *const *values,
            const int *lengths, const int *formats, pg_cb cb, void *arg)
{
	pool_exec(pool, stmt, nparams, values, lengths, formats, true, NULL, cb, arg);
}

void
pg_exec_from(struct pg_pool *pool, struct pg_stmt *stmt, int nparams, const char *const *values,
             const int *lengths, const int *formats, bool want_lsn, const char *client_ip, pg_cb cb,
             void *arg)
{
	pool_exec(pool, stmt, nparams, values, lengths, formats, want_lsn, client_ip, cb, arg);
}

bool
pg_ok(const PGresult *res)
{
	if (res == NULL)
		return false;
	ExecStatusType st = PQresultStatus(res);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

const char *
pg_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

const char *
pg_error(const PGresult *res)
{
	if (res == NULL)
		return "database connection lost";
	/* The primary message only: DETAIL may quote a row ("Failing row contains (...)", hashes
	 * included) or a key's value, which have no place in a log. */
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	return primary != NULL ? primary : PQresultErrorMessage(res);
}

bool
pg_is_unique_violation(const PGresult *res)
{
	return strcmp(pg_sqlstate(res), "23505") == 0;
}

int
pg_rows(const PGresult *res)
{
	return res ? PQntuples(res) : 0;
}

const char *
pg_get(const PGresult *res, int row, const char *col)
{
	int c = PQfnumber(res, col);
	if (c < 0)
		fatal("query result has no column \"%s\"", col);
	if (row >= PQntuples(res) || PQgetisnull(res, row, c))
		return NULL;
	return PQgetvalue(res, row, c);
}

long long
pg_get_int(const PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	return v ? strtoll(v, NULL, 10) : 0;
}

bool
pg_get_bool(const PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	return v != NULL && v[0] == 't';
}

PGconn *
pg_connect_blocking(const char *conninfo, char **cause)
{
	const char *const values[] = { CONNECT_DEFAULTS, conninfo, NULL };
	PGconn *conn = PQconnectdbParams(connect_keywords, values, 1);
	if (PQstatus(conn) != CONNECTION_OK) {
		*cause = xasprintf("cannot connect to the database: %s", PQerrorMessage(conn));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQfinish(conn);
		return NULL;
	}
	/* "... does not exist, skipping" and other notices: log lines, not libpq's stderr */
	PQsetNoticeReceiver(conn, log_pg_notice, NULL);
	return conn;
}

/*
 * PostgreSQL from a libevent loop without blocking it: libpq's non-blocking API driven by the
 * connection socket's events (the pgbouncer asynctest model). Each worker keeps a small pool of
 * connections, opened as queries queue and closed when idle; queries queue until one is free.
 * Statements are prepared once per connection. Every query is parameterised.
 */
#ifndef REGISTRY_PG_H
#define REGISTRY_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct pg_pool;

/* A statement known at build time; declare with PG_STMT and pass its address. */
struct pg_stmt {
	const char *sql;
	int id;       /* assigned on first use */
	bool replica; /* it only reads: a replica may serve it (PG_STMT_READ, common/pgread.h) */
};
#define PG_STMT(var, text) static struct pg_stmt var = { .sql = (text), .id = 0 }
/* A statement that only reads, which a request that only reads (GET, HEAD) may have a streaming
 * replica answer (rest_exec, [*] database_read). */
#define PG_STMT_READ(var, text)                                                                    \
	static struct pg_stmt var = { .sql = (text), .id = 0, .replica = true }

/* res is NULL when the connection failed; it is freed when the callback returns. */
typedef void (*pg_cb)(PGresult *res, void *arg);

/* Up to nconns connections to conninfo: one opened at once, more only while queries queue with
 * every open one busy; one idle for idle_s seconds is closed unless it is the last one open
 * (idle_s 0: an opened connection stays open). */
struct pg_pool *pg_pool_new(struct event_base *base, const char *conninfo, int nconns, int idle_s);
void pg_pool_free(struct pg_pool *pool);
/* Whether at least one connection is up. */
bool pg_pool_connected(const struct pg_pool *pool);
/* How many times a connection of the pool was lost: what was read on an earlier connection may
 * not hold on the next (a replica restarted may have replayed less than before). */
unsigned pg_pool_losses(const struct pg_pool *pool);

/* Runs stmt with text parameters (NULL values are SQL NULL). */
void pg_exec(struct pg_pool *pool, struct pg_stmt *stmt, int nparams, const char *const *values,
             pg_cb cb, void *arg);
/* Same, with lengths and formats (1 = binary) for bytea and the like. */
void pg_exec_params(struct pg_pool *pool, struct pg_stmt *stmt, int nparams,
                    const char *const *values, const int *lengths, const int *formats, pg_cb cb,
                    void *arg);

/* Same as pg_exec_params, and once the statement succeeded the WAL position the server reached
 * after it (wal_written_lsn() of schema/functions/common.sql, asked on the same connection, so past
 * the statement's commit) is read before the callback runs, which finds it in pg_result_lsn(). When
 * that question fails, the callback still gets the statement's result, and no position. */
void pg_exec_lsn(struct pg_pool *pool, struct pg_stmt *stmt, int nparams, const char *const *values,
                 const int *lengths, const int *formats, pg_cb cb, void *arg);
/* Same as pg_exec_params (or pg_exec_lsn when want_lsn), run with the session's setting
 * registry.client_ip holding client_ip (NULL or "": none), the address of the client a backend
 * acts for (X-Registry-Client-Ip), which audit_record() of schema/functions/audit.sql records.
 * Every other query runs with the setting empty: an address never outlives its request. */
void pg_exec_from(struct pg_pool *pool, struct pg_stmt *stmt, int nparams,
                  const char *const *values, const int *lengths, const int *formats, bool want_lsn,
                  const char *client_ip, pg_cb cb, void *arg);
/* In the callback of pg_exec_lsn: the position read (0: none); 0 in any other callback. */
uint64_t pg_result_lsn(void);

/* Helpers on results. */
bool pg_ok(const PGresult *res);              /* a command or query that succeeded */
const char *pg_sqlstate(const PGresult *res); /* "23505", ... or "" */
/* What went wrong, for a log line: the server's primary message (never its DETAIL, which may
 * quote row values), or libpq's own message. */
const char *pg_error(const PGresult *res);
bool pg_is_unique_violation(const PGresult *res);
int pg_rows(const PGresult *res);
/* Column by name: text value (NULL when SQL NULL), or integer / boolean. */
const char *pg_get(const PGresult *res, int row, const char *col);
long long pg_get_int(const PGresult *res, int row, const char *col);
bool pg_get_bool(const PGresult *res, int row, const char *col);

/* Blocking connection for one-time work in a master (migrations, bootstrap). */
PGconn *pg_connect_blocking(const char *conninfo, char **cause);

#endif

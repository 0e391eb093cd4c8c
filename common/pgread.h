/*
 * Reads served by a streaming replica of the primary ([*] database_read), with read-your-writes.
 *
 * A read (a PG_STMT_READ statement of a request that only reads) goes to the replica once the
 * replica has replayed the WAL position it must see (its fence), else to the primary:
 *   - the fence is the position of the client's last write, which the client carries (the
 *     gateway's cookie, forwarded as X-Registry-Read-Lsn); a client that carries none gets the
 *     primary's current position (one small question to the primary, shared by the reads that
 *     arrive while it is asked), so that nobody reads from the past of a write it saw answered;
 *   - the replica's replay position is known from its last answer on a live connection; when it
 *     is behind the fence it is asked again every 2 ms for up to [global] database_read_wait
 *     milliseconds, then the primary answers;
 *   - every second each worker asks both servers where they are: a replica that does not answer,
 *     is not in recovery (promoted), or has not replayed what the primary had
 *     [global] database_read_max_lag seconds ago serves no read until it is back (readiness and
 *     the metrics registry_db_replica_usable, registry_db_replica_lag_seconds say so);
 *   - a read the replica fails (its connection lost, a conflict with recovery, anything) is run
 *     again on the primary.
 * Nothing here is kept per client or per node: the fence travels with the request.
 */
#ifndef REGISTRY_PGREAD_H
#define REGISTRY_PGREAD_H

#include <stdint.h>

#include "pg.h"

struct event_base;
struct pgread;

enum pgread_state {
	PGREAD_STARTING,    /* not checked yet: the primary reads */
	PGREAD_UP,          /* the replica reads */
	PGREAD_DOWN,        /* unreachable: the primary reads */
	PGREAD_LAGGING,     /* behind by more than max_lag: the primary reads */
	PGREAD_NOT_STANDBY, /* not in recovery (promoted?): the primary reads */
};

/* A replica (conninfo) of primary's database with up to nconns connections (closed after idle_s
 * seconds idle, as pg_pool_new's), checked every second;
 * reads wait up to wait_ms for it to replay their fence, and it serves none while it lags more
 * than max_lag_s seconds. */
struct pgread *pgread_new(struct event_base *base, struct pg_pool *primary, const char *conninfo,
                          int nconns, int idle_s, int max_lag_s, int wait_ms);
/* Runs a read that must see the WAL position *fence on the replica if it has replayed it in
 * time, else on the primary; cb as pg_exec's. *fence 0: the primary's position now, which is
 * written to *fence once known (it must stay valid until cb runs), so that the request's next
 * reads need not ask again. */
void pgread_exec(struct pgread *g, uint64_t *fence, struct pg_stmt *stmt, int nparams,
                 const char *const *values, pg_cb cb, void *arg);
enum pgread_state pgread_state(const struct pgread *g);
/* Where reads go now, for readiness: "replica", or "primary (replica <why>)". */
const char *pgread_state_text(const struct pgread *g);

#endif

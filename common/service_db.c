/* Readiness of a daemon that needs PostgreSQL: it is ready when a query comes back. */
#include "pg.h"
#include "rest.h"
#include "service.h"

PG_STMT(q_ping, "SELECT 1");

/* The readiness probe's answer: ready when the database answered the ping. */
static void
ping_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (pg_ok(res))
		service_ready(r);
	else
		service_not_ready(r, "database unreachable");
}

void
service_db_readiness(struct rest_req *r, struct pg_pool *db)
{
	pg_exec(db, &q_ping, 0, NULL, ping_done, r);
}

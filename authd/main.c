/* registry-authd: authdata in PostgreSQL; applies the schema migrations at start. */
#include <stdlib.h>

#include "cfg.h"
#include "authd.h"
#include "migrate.h"
#include "pg.h"
#include "proc.h"
#include "service.h"
#include "util.h"

struct authd ad;

static const char *const route_names[AR_COUNT] = {
	[AR_HEALTH] = "health",
	[AR_READINESS] = "readiness",
	[AR_METRICS] = "metrics",
};

static void
h_health(struct http_txn *txn, const struct route_match *m)
{
	service_health(txn);
	(void)m;
}

static void
h_readiness(struct http_txn *txn, const struct route_match *m)
{
	service_readiness(txn, ad.db);
	(void)m;
}

static void
h_metrics(struct http_txn *txn, const struct route_match *m)
{
	service_metrics(txn);
	(void)m;
}

static const struct route routes[] = {
	{ "GET", "/-/health", h_health, AR_HEALTH },
	{ "GET", "/-/readiness", h_readiness, AR_READINESS },
	{ "GET", "/-/metrics", h_metrics, AR_METRICS },
};

static void
authd_handle(struct http_txn *txn, void *arg)
{
	int rc = router_dispatch(routes, nitems(routes), txn);
	if (rc != 0)
		service_not_routed(txn, rc);
	(void)arg;
}

static int
authd_master_init(const struct cfg *cfg, char **cause)
{
	PGconn *conn = pg_connect_blocking(cfg_database(cfg, "authd"), cause);
	if (conn == NULL)
		return -1;
	int rc = migrate_apply(conn, cause);
	PQfinish(conn);
	return rc;
}

static int
authd_worker_init(struct proc_worker *w, char **cause)
{
	ad.base = w->base;
	ad.cfg = w->cfg;
	ad.db = pg_pool_new(w->base, cfg_database(w->cfg, "authd"),
	                    (int)cfg_int(w->cfg, CFG_AUTHD_DB_CONNECTIONS));
	(void)cause;
	return 0;
}

static const struct proc_role authd_role = {
	.name = "authd",
	.routes = route_names,
	.nroutes = AR_COUNT,
	.master_init = authd_master_init,
	.worker_init = authd_worker_init,
	.handler = authd_handle,
};

int
main(int argc, char **argv)
{
	proc_main(&authd_role, argc, argv);
}

/* registry-metad: metadata in PostgreSQL; applies the schema (migrations and functions) at start. */
#include <stdlib.h>
#include <string.h>

#include "api_registry.h"
#include "cfg.h"
#include "errors.h"
#include "metad.h"
#include "schema.h"
#include "pg.h"
#include "proc.h"
#include "registry.h"
#include "routes.h"
#include "service.h"
#include "tenancy.h"
#include "util.h"

struct metad md;

/* GET /-/readiness: the database answers. */
static void
h_readiness(struct http_txn *txn, const struct route_match *m)
{
	service_db_readiness(txn, md.db);
	(void)m;
}

static const struct route service_routes[] = { SERVICE_ROUTES(h_readiness) };
static const size_t service_nroutes = nitems(service_routes);

/* metad's rows of the public route table. */
#define ROUTES_HANDLER(h) h
#define ROUTES_KEEP_GATEWAY(...)
#define ROUTES_KEEP_AUTHD(...)
#define ROUTES_KEEP_METAD(...) __VA_ARGS__
#define ROUTES_KEEP_BLOBD(...)
static const struct route public_routes[] = {
#include "routes.def"
};
static const size_t public_nroutes = nitems(public_routes);

/* Every module's table, tried in order. */
static const struct route_table tables[] = {
	{ service_routes, &service_nroutes },
	{ public_routes, &public_nroutes },
	{ tn_group_routes, &tn_group_nroutes },
	{ tn_project_routes, &tn_project_nroutes },
	{ tn_member_routes, &tn_member_nroutes },
	{ tn_namespace_routes, &tn_namespace_nroutes },
	{ tn_share_routes, &tn_share_nroutes },
	{ rg_routes, &rg_nroutes },
	{ internal_blob_routes, &internal_blob_nroutes },
};

/* Every request: the first matching route of the module tables. */
static void
metad_handle(struct http_txn *txn, void *arg)
{
	service_dispatch(txn, tables, nitems(tables));
	(void)arg;
}

/* Once, in the master: the schema (schema.h). */
static int
metad_master_init(const struct cfg *cfg, char **cause)
{
	PGconn *conn = pg_connect_blocking(cfg_database(cfg, "metad"), cause);
	if (conn == NULL)
		return -1;
	int rc = schema_apply(conn, cause);
	PQfinish(conn);
	return rc;
}

/* Per worker: database pool and the background jobs. */
static int
metad_worker_init(struct proc_worker *w, char **cause)
{
	md.base = w->base;
	md.cfg = w->cfg;
	md.db = pg_pool_new(w->base, cfg_database(w->cfg, "metad"),
	                    (int)cfg_int(w->cfg, CFG_METAD_DB_CONNECTIONS));
	regjobs_start();
	(void)cause;
	return 0;
}

/* TERM: no new background job; one in progress gives its lease back at its next step. */
static void
metad_worker_drain(void)
{
	regjobs_stop();
}

static const struct proc_role metad_role = {
	.name = "metad",
	.master_init = metad_master_init,
	.worker_init = metad_worker_init,
	.worker_drain = metad_worker_drain,
	.error_body = error_server_body,
	.handler = metad_handle,
};

int
main(int argc, char **argv)
{
	proc_main(&metad_role, argc, argv);
}

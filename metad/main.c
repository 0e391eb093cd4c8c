/* registry-metad: metadata in PostgreSQL; at start it applies the schema when its role owns it (one
 * role for both), else waits for authd to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "errors.h"
#include "metad.h"
#include "schema.h"
#include "pg.h"
#include "pgread.h"
#include "privsep.h"
#include "proc.h"
#include "rest_db.h"
#include "routes.h"
#include "service.h"
#include "util.h"
#include "v2path.h"

struct metad md;

/* GET /-/readiness: the database answers. */
static void
h_readiness(struct rest_req *r)
{
	service_db_readiness(r, md.db, md.read);
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

/* Every table, tried in order: the service rows, metad's public rows, its internal ones. */
static const struct route_table tables[] = {
	{ service_routes, &service_nroutes },
	{ public_routes, &public_nroutes },
	{ internal_blob_routes, &internal_blob_nroutes },
	{ internal_upload_routes, &internal_upload_nroutes },
	{ internal_gc_routes, &internal_gc_nroutes },
};

/* What blobd's user may call: the internal endpoints, never the API or /v2 on its own. */
static const struct route_table blobd_tables[] = {
	{ internal_blob_routes, &internal_blob_nroutes },
	{ internal_upload_routes, &internal_upload_nroutes },
	{ internal_gc_routes, &internal_gc_nroutes },
};

/* The answer to blobd's user asking for anything but an internal endpoint, in the path's dialect.
 */
static void
refuse_peer(struct http_txn *txn)
{
	if (v2_is_path(http_txn_request(txn)->target))
		error_oci(txn, 403, OCI_DENIED, "this peer may use internal endpoints only", NULL);
	else
		error_gitlab(txn, 403, "403 Forbidden - this peer may use internal endpoints only");
}

/* Every request: the first matching route of the module tables the peer may use. */
static void
metad_handle(struct http_txn *txn, void *arg)
{
	if (privsep_from_gateway(txn))
		rest_dispatch(txn, tables, nitems(tables));
	else if (strncmp(http_txn_request(txn)->path, "/internal/", 10) == 0)
		rest_dispatch(txn, blobd_tables, nitems(blobd_tables));
	else
		refuse_peer(txn);
	(void)arg;
}

/* Writes [gc] review_delay where the garbage collection's triggers read it, before the first
 * request can queue anything (workers write it again after a reload). A role of its own gets the
 * right to from authd's grants, which may follow the schema by a moment: it waits for them, as
 * for the schema (up to a minute). */
static int
gc_settings_write(PGconn *conn, const struct cfg *cfg, char **cause)
{
	char delay[32];
	snprintf(delay, sizeof(delay), "%lld", (long long)cfg_int(cfg, CFG_GC_REVIEW_DELAY));
	const char *params[] = { delay };
	for (int tries = 0;; tries++) {
		PGresult *res = PQexecParams(conn, "SELECT gc_set_review_delay($1)", 1, NULL,
		                             params, NULL, NULL, 0);
		bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		bool denied = state != NULL && strcmp(state, "42501") == 0;
		if (!ok && (!denied || tries == 120))
			*cause = xasprintf("cannot write the review delay: %s",
			                   PQresultErrorMessage(res));
		PQclear(res);
		if (ok)
			return 0;
		if (!denied || tries == 120)
			return -1;
		usleep(500 * 1000);
	}
}

/* Once, in the master: the schema (schema.h), the settings garbage collection reads, and the
 * notification endpoints (notify.c). */
static int
metad_master_init(const struct cfg *cfg, char **cause)
{
	PGconn *conn = pg_connect_blocking(cfg_database(cfg, "metad"), cause);
	if (conn == NULL)
		return -1;
	int rc = schema_apply(conn, cfg_str(cfg, CFG_AUTHD_METAD_ROLE), cause);
	if (rc == 0)
		rc = gc_settings_write(conn, cfg, cause);
	if (rc == 0)
		rc = notify_endpoints_sync(conn, cfg, cause);
	PQfinish(conn);
	return rc;
}

/* Per worker: database pool, the default storage limit of new top-level namespaces, and the
 * background jobs. */
static int
metad_worker_init(struct proc_worker *w, char **cause)
{
	md.base = w->base;
	md.cfg = w->cfg;
	md.db = pg_pool_new(w->base, cfg_database(w->cfg, "metad"),
	                    (int)cfg_int(w->cfg, CFG_METAD_DB_CONNECTIONS),
	                    (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_IDLE_TIMEOUT));
	rest_db_use(md.db);
	const char *replica = cfg_database_read(w->cfg, "metad");
	if (replica[0] != '\0') {
		md.read = pgread_new(w->base, md.db, replica,
		                     (int)cfg_int(w->cfg, CFG_METAD_DB_CONNECTIONS),
		                     (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_IDLE_TIMEOUT),
		                     (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_READ_MAX_LAG),
		                     (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_READ_WAIT));
		rest_db_use_read(md.read);
	}
	namespaces_default_limit_write();
	regjobs_start();
	gc_start();
	return hooks_deliver_start(cause);
}

/* TERM: no new background job; one in progress gives its lease back at its next step; a garbage
 * collection run stops after its statement in flight. */
static void
metad_worker_drain(void)
{
	regjobs_stop();
	gc_stop();
	hooks_deliver_stop();
}

static const struct proc_role metad_role = {
	.name = "metad",
	.master_init = metad_master_init,
	.worker_init = metad_worker_init,
	.worker_drain = metad_worker_drain,
	.error_body = error_server_body,
	.handler = metad_handle,
};

/* Runs metad under the common supervisor: master, workers, signals. */
int
main(int argc, char **argv)
{
	proc_main(&metad_role, argc, argv);
}

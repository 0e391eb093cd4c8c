/* registry-authd: credentials and the token service. Its role owns the schema, which it applies
 * (grants to metad's role included), and on first start it creates the signing key and the admin.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "authd.h"
#include "cfg.h"
#include "errors.h"
#include "log.h"
#include "schema.h"
#include "pg.h"
#include "pgread.h"
#include "proc.h"
#include "rest_db.h"
#include "routes.h"
#include "service.h"
#include "util.h"

struct authd ad;

/* GET /-/readiness: the database answers. */
static void
h_readiness(struct rest_req *r)
{
	service_db_readiness(r, ad.db, ad.read);
}

static const struct route service_routes[] = { SERVICE_ROUTES(h_readiness) };
static const size_t service_nroutes = nitems(service_routes);

/* authd's rows of the public route table. */
#define ROUTES_HANDLER(h) h
#define ROUTES_KEEP_GATEWAY(...)
#define ROUTES_KEEP_AUTHD(...) __VA_ARGS__
#define ROUTES_KEEP_METAD(...)
#define ROUTES_KEEP_BLOBD(...)
static const struct route public_routes[] = {
#include "routes.def"
};
static const size_t public_nroutes = nitems(public_routes);

/* Every table, tried in order: the service rows, authd's own, its public rows. */
static const struct route_table tables[] = {
	{ service_routes, &service_nroutes },
	{ internal_routes, &internal_nroutes },
	{ public_routes, &public_nroutes },
};

/* Hashing threads per worker: Argon2id is single-threaded and memory-bound. */
#define HASH_THREADS 1
/* Seconds between purges of old rate-limit rows and spent OAuth tokens (worker 0 only). */
#define PURGE_INTERVAL 600

/* Every request: the first matching route of the module tables. */
static void
authd_handle(struct http_txn *txn, void *arg)
{
	rest_dispatch(txn, tables, nitems(tables));
	(void)arg;
}

/* Whether the start must be refused: no token.key where the nodes of a cluster must each have
 * the one key they share ([authd] create_token_key false), rather than a key of this node's own
 * whose tokens the other nodes' gateways would refuse. */
static bool
signing_key_missing(const struct cfg *cfg, char **cause)
{
	if (cfg_bool(cfg, CFG_AUTHD_CREATE_TOKEN_KEY))
		return false;
	char *path = xasprintf("%s/token.key", cfg_str(cfg, CFG_GLOBAL_KEY_DIR));
	bool missing = access(path, F_OK) != 0;
	if (missing)
		*cause =
		        xasprintf("%s is missing and [authd] create_token_key is false: copy the "
		                  "signing key the other nodes use (token.key and token.pub) there "
		                  "(docs/SCALING.md)",
		                  path);
	free(path);
	return missing;
}

/* Once, in the master: signing key, the schema, the admin root. */
static int
authd_master_init(const struct cfg *cfg, char **cause)
{
	if (signing_key_missing(cfg, cause) ||
	    token_key_ensure(cfg_str(cfg, CFG_GLOBAL_KEY_DIR), cause) < 0)
		return -1;
	PGconn *conn = pg_connect_blocking(cfg_database(cfg, "authd"), cause);
	if (conn == NULL)
		return -1;
	int rc = schema_apply(conn, cfg_str(cfg, CFG_AUTHD_METAD_ROLE), cause);
	if (rc == 0)
		rc = bootstrap_run(conn, cfg, cause);
	PQfinish(conn);
	return rc;
}

/* Periodic clean-up of rate-limit rows and spent OAuth tokens. */
static void
purge_tick(evutil_socket_t fd, short what, void *arg)
{
	ratelimit_purge();
	(void)fd;
	(void)what;
	(void)arg;
}

/* Per worker: signing key, database pool, hashing threads, cache. */
static int
authd_worker_init(struct proc_worker *w, char **cause)
{
	ad.base = w->base;
	ad.cfg = w->cfg;
	if (token_key_load(cfg_str(w->cfg, CFG_GLOBAL_KEY_DIR), true, &ad.key, cause) < 0)
		return -1;
	ad.db = pg_pool_new(w->base, cfg_database(w->cfg, "authd"),
	                    (int)cfg_int(w->cfg, CFG_AUTHD_DB_CONNECTIONS),
	                    (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_IDLE_TIMEOUT));
	rest_db_use(ad.db);
	const char *replica = cfg_database_read(w->cfg, "authd");
	if (replica[0] != '\0') {
		ad.read = pgread_new(w->base, ad.db, replica,
		                     (int)cfg_int(w->cfg, CFG_AUTHD_DB_CONNECTIONS),
		                     (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_IDLE_TIMEOUT),
		                     (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_READ_MAX_LAG),
		                     (int)cfg_int(w->cfg, CFG_GLOBAL_DATABASE_READ_WAIT));
		rest_db_use_read(ad.read);
	}
	ad.worker = w->index;
	secret_cache_init();
	if (hash_pool_start(w->base, HASH_THREADS, cause) < 0)
		return -1;
	if (w->index == 0) {
		struct event *ev = event_new(w->base, -1, EV_PERSIST, purge_tick, NULL);
		struct timeval tv = { PURGE_INTERVAL, 0 };
		event_add(ev, &tv);
	}
	return 0;
}

static const struct proc_role authd_role = {
	.name = "authd",
	.master_init = authd_master_init,
	.worker_init = authd_worker_init,
	.error_body = error_server_body,
	.handler = authd_handle,
};

/* Runs authd under the common supervisor: master, workers, signals. */
/* registry-authd --public-key FILE: prints the public key of a signing key file in token.pub's
 * format, so that a next key's public half can reach every node's key_dir before any authd signs
 * with it (README.md, "Rotating the token signing key"). */
static int
print_public_key(const char *path)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "registry-authd: libsodium cannot start\n");
		return 1;
	}
	char *cause = NULL;
	char *pub = token_public_key_of(path, &cause);
	if (pub == NULL) {
		fprintf(stderr, "registry-authd: %s\n", cause);
		free(cause);
		return 1;
	}
	printf("%s\n", pub);
	free(pub);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--public-key") == 0)
		return print_public_key(argv[2]);
	proc_main(&authd_role, argc, argv);
}

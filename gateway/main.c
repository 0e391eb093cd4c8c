/* registry-gateway: the public HTTP listener. */
#include <sodium.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "cfg.h"
#include "errors.h"
#include "gateway.h"
#include "httpc.h"
#include "log.h"
#include "proc.h"
#include "util.h"

struct gw gw;

/* Sets up a worker: proxy trust, the /v2 token checks, the web interface's files and a
 * connection pool per backend. */
static int
gateway_worker_init(struct proc_worker *w, char **cause)
{
	gw.base = w->base;
	gw.cfg = w->cfg;
	gw.splice_bodies = cfg_bool(w->cfg, CFG_GATEWAY_SPLICE_BODIES);
	gw_forwarded_init(w->cfg);
	gw_v2auth_init();
	gw_static_init(w->cfg);
	for (int i = 0; i < GW_NBACKENDS; i++) {
		char *path = proc_socket_path(w->cfg, gw_backend_names[i]);
		gw.backends[i] = httpc_pool_new(w->base, path);
		httpc_pool_set_timeout(gw.backends[i],
		                       (int)cfg_int(w->cfg, CFG_GATEWAY_BACKEND_TIMEOUT));
		httpc_pool_set_max_open(gw.backends[i],
		                        (unsigned)cfg_int(w->cfg, CFG_GATEWAY_BACKEND_CONNECTIONS));
		free(path);
	}
	(void)cause;
	return 0;
}

/* [gateway] max_connections, or when 0 what the descriptor limit holds: each client may take
 * two descriptors (its socket, and a blob's file being sent), beside the connections to the
 * three backends and a reserve (log, listener, signals, key files). */
static int
gateway_max_connections(const struct cfg *cfg)
{
	int64_t set = cfg_int(cfg, CFG_GATEWAY_MAX_CONNECTIONS);
	if (set > 0)
		return (int)set;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	int64_t backends = 3 * cfg_int(cfg, CFG_GATEWAY_BACKEND_CONNECTIONS);
	int64_t n = ((int64_t)rl.rlim_cur - backends - 64) / 2;
	if (n > 1000000)
		n = 1000000;
	return n < 16 ? 16 : (int)n;
}

/* The public listener's limits on requests, from [gateway] (backends keep their own). */
static void
gateway_limits(const struct cfg *cfg, struct http_limits *l)
{
	l->max_target = (size_t)cfg_int(cfg, CFG_GATEWAY_MAX_REQUEST_LINE);
	l->max_header_size = (size_t)cfg_int(cfg, CFG_GATEWAY_MAX_HEADER_SIZE);
	l->max_headers = (size_t)cfg_int(cfg, CFG_GATEWAY_MAX_HEADERS);
	l->header_timeout = (int)cfg_int(cfg, CFG_GATEWAY_HEADER_TIMEOUT);
	l->idle_timeout = (int)cfg_int(cfg, CFG_GATEWAY_IDLE_TIMEOUT);
	l->body_timeout = (int)cfg_int(cfg, CFG_GATEWAY_BODY_TIMEOUT);
	l->max_connections = gateway_max_connections(cfg);
	log_info("serving at most %d client connections per worker", l->max_connections);
}

static const struct proc_role gateway_role = {
	.name = "gateway",
	.tcp = true,
	.routes = gw_route_names,
	.nroutes = GR_COUNT,
	.check = gw_check_config,
	.worker_init = gateway_worker_init,
	.limits = gateway_limits,
	.error_body = error_server_body,
	.handler = gw_handle,
};

/* Runs the gateway under the common supervisor: master, workers, signals. */
int
main(int argc, char **argv)
{
	proc_main(&gateway_role, argc, argv);
}

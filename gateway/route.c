/*
 * The gateway's top-level handler: classifies each request, answers what it owns (/v2/ base,
 * health, metrics) and hands the rest to the backend that owns it.
 */
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "errors.h"
#include "gateway.h"
#include "metrics.h"
#include "routes.h"
#include "util.h"
#include "v2path.h"

const char *const gw_route_names[GR_COUNT] = {
	[GR_V2_BASE] = "v2_base",
	[GR_V2_CATALOG] = "v2_catalog",
	[GR_V2_BLOB] = "v2_blob",
	[GR_V2_UPLOAD] = "v2_upload",
	[GR_V2_MANIFEST] = "v2_manifest",
	[GR_V2_TAGS] = "v2_tags",
	[GR_V2_REFERRERS] = "v2_referrers",
	[GR_JWT_AUTH] = "jwt_auth",
	[GR_OAUTH] = "oauth",
	[GR_API] = "api",
	[GR_HEALTH] = "health",
	[GR_READINESS] = "readiness",
	[GR_METRICS] = "metrics",
	[GR_UI] = "ui",
	[GR_NOT_FOUND] = "not_found",
};

const char *const gw_backend_names[GW_NBACKENDS] = {
	[GW_AUTHD] = "authd",
	[GW_METAD] = "metad",
	[GW_BLOBD] = "blobd",
};

/* A request of the REST API or the token services: the route table says who serves it and what
 * the gateway checks first. */
static void
handle_routed(struct http_txn *txn)
{
	struct http_request *req = http_txn_request(txn);
	struct route_match m;
	int status;
	const struct route *row =
	        router_match(routes_public, routes_npublic, req->method, req->path, &m, &status);
	if (row != NULL)
		route_match_clear(&m);
	if (row != NULL && row->check == ROUTE_CHECK_NONE) {
		http_txn_set_route(txn, metrics_route_id(row->metric));
		gw_proxy(txn, gw_backend_of(row->owner), NULL);
	} else if (row != NULL || str_has_prefix(req->path, "/api/v4/")) {
		http_txn_set_route(txn, GR_API);
		gw_api(txn, row, status);
	} else if (status == 404 && gw_static_is_page(req->path)) {
		/* no API serves it: a page of the web interface, when it is one */
		http_txn_set_route(txn, GR_UI);
		gw_static_page(txn);
	} else {
		http_txn_set_route(txn, GR_NOT_FOUND);
		error_gitlab(txn, status,
		             status == 405 ? "405 Method Not Allowed" : "404 Not Found");
	}
}

void
gw_handle(struct http_txn *txn, void *arg)
{
	const char *path = http_txn_request(txn)->path;
	if (v2_is_path(path)) {
		gw_v2(txn);
	} else if (strcmp(path, "/-/health") == 0) {
		http_txn_set_route(txn, GR_HEALTH);
		gw_health(txn);
	} else if (strcmp(path, "/-/readiness") == 0) {
		http_txn_set_route(txn, GR_READINESS);
		gw_readiness(txn);
	} else if (strcmp(path, "/metrics") == 0) {
		http_txn_set_route(txn, GR_METRICS);
		if (gw_monitoring_allowed(txn))
			gw_metrics(txn);
		else
			error_gitlab(txn, 404, "404 Not Found");
	} else if (gw_static_is_asset(path)) {
		http_txn_set_route(txn, GR_UI);
		gw_static_asset(txn);
	} else {
		handle_routed(txn);
	}
	(void)arg;
}

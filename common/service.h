/* Endpoints every backend answers on its unix socket: health, readiness, metric samples. */
#ifndef REGISTRY_SERVICE_H
#define REGISTRY_SERVICE_H

#include <stddef.h>

#include "router.h"

struct rest_req;
struct pg_pool;
struct pgread;

/* The rows of GET /-/health, /-/readiness (readiness: the daemon's own check, a route handler)
 * and /-/metrics, at the head of a daemon's route table. */
#define SERVICE_ROUTES(readiness) SERVICE_ROUTES_METRICS(readiness, service_metrics)
/* The same with a handler of its own for GET /-/metrics (one that gathers figures first). */
#define SERVICE_ROUTES_METRICS(readiness, metrics)                                                 \
	ROUTE_OWN("GET", "/-/health", service_health, "health"),                                   \
	        ROUTE_OWN("GET", "/-/readiness", (readiness), "readiness"),                        \
	        ROUTE_OWN("GET", "/-/metrics", (metrics), "metrics")

/* GET /-/health: 200 {"status":"ok"}, the process is alive. */
void service_health(struct rest_req *r);
/* 200 {"status":"ok"}, or 503 {"status":"<why>"}. */
void service_ready(struct rest_req *r);
void service_not_ready(struct rest_req *r, const char *why);
/* service_db.c (kept apart so daemons without a database do not link libpq): 200 when the
 * database answers, else 503; with a replica (read, may be NULL) "database_read" says where reads
 * go ("replica", or "primary (replica <why>)"). */
void service_db_readiness(struct rest_req *r, struct pg_pool *db, struct pgread *read);
/* GET /-/metrics: this daemon's metric sample lines. */
void service_metrics(struct rest_req *r);

#endif

/* Endpoints every backend answers on its unix socket: health, readiness, metric samples. */
#ifndef REGISTRY_SERVICE_H
#define REGISTRY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "router.h"

struct http_txn;
struct pg_pool;

/* The rows of GET /-/health, /-/readiness (readiness: the daemon's own check, a route handler)
 * and /-/metrics, at the head of a daemon's route table. */
#define SERVICE_ROUTES(readiness)                                  \
	ROUTE_OWN("GET", "/-/health", service_health, "health"),          \
	ROUTE_OWN("GET", "/-/readiness", (readiness), "readiness"),       \
	ROUTE_OWN("GET", "/-/metrics", service_metrics, "metrics")

/* GET /-/health: 200 {"status":"ok"}, the process is alive. */
void service_health(struct http_txn *txn, const struct route_match *m);
/* 200 {"status":"ok"}, or 503 {"status":"<why>"}. */
void service_ready(struct http_txn *txn);
void service_not_ready(struct http_txn *txn, const char *why);
/* service_db.c (kept apart so daemons without a database do not link libpq): 200 when the
 * database answers, else 503. */
void service_db_readiness(struct http_txn *txn, struct pg_pool *db);
/* GET /-/metrics: this daemon's metric sample lines. */
void service_metrics(struct http_txn *txn, const struct route_match *m);
/* Whether the actions the gateway granted (X-Registry-Actions) cover what a /v2 row needs: the
 * one place a backend checks them again (true for other rows). */
bool service_grant_covers(const struct route *row, struct http_txn *txn);
/* A daemon's request handler: the first matching route of its tables, its grant checked, or
 * 404 / 405 in the dialect of the path. */
void service_dispatch(struct http_txn *txn, const struct route_table *tables, size_t ntables);

#endif

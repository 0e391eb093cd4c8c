/* Endpoints every backend answers on its unix socket: health, readiness, metric samples. */
#ifndef REGISTRY_SERVICE_H
#define REGISTRY_SERVICE_H

struct http_txn;
struct pg_pool;

/* 200 {"status":"ok"}: the process is alive. */
void service_health(struct http_txn *txn);
/* 200 when the database answers (db may be NULL for daemons without one), else 503. */
void service_readiness(struct http_txn *txn, struct pg_pool *db);
/* This daemon's metric sample lines. */
void service_metrics(struct http_txn *txn);
/* 404 / 405 for an unrouted request, in the dialect of its path. */
void service_not_routed(struct http_txn *txn, int status);

#endif

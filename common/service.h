/* Endpoints every backend answers on its unix socket: health, readiness, metric samples. */
#ifndef REGISTRY_SERVICE_H
#define REGISTRY_SERVICE_H

struct http_txn;
struct pg_pool;

/* 200 {"status":"ok"}: the process is alive. */
void service_health(struct http_txn *txn);
/* 200 {"status":"ok"}, or 503 {"status":"<why>"}. */
void service_ready(struct http_txn *txn);
void service_not_ready(struct http_txn *txn, const char *why);
/* service_db.c (kept apart so daemons without a database do not link libpq): 200 when the
 * database answers, else 503. */
void service_db_readiness(struct http_txn *txn, struct pg_pool *db);
/* This daemon's metric sample lines. */
void service_metrics(struct http_txn *txn);
/* 404 / 405 for an unrouted request, in the dialect of its path. */
void service_not_routed(struct http_txn *txn, int status);

#endif

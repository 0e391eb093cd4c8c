/*
 * Route tables: each daemon lists {method, pattern, handler, metric route} rows. A pattern is a
 * path of literal segments and ":name" placeholders (one percent-decoded segment each, so
 * GitLab's URL-encoded "group%2Fproject" ids arrive as "group/project"); a final "*name" takes the
 * rest of the path undecoded.
 */
#ifndef REGISTRY_ROUTER_H
#define REGISTRY_ROUTER_H

#include <stddef.h>

struct http_txn;

#define ROUTE_MAX_PARAMS 8

struct route_match {
	int n;
	const char *names[ROUTE_MAX_PARAMS];
	char *values[ROUTE_MAX_PARAMS];
};

struct route {
	const char *method; /* "GET", ... or "*" */
	const char *pattern;
	void (*handler)(struct http_txn *txn, const struct route_match *m);
	const char *metric; /* label in registry_http_requests_total{route=...} */
};

/* Runs the first matching row of each table in turn. 0 when one ran; 404 when no pattern matched the path, 405 when
 * one did but not for this method (the caller answers those in its dialect). */
int router_dispatch(const struct route *table, size_t n, struct http_txn *txn);
/* The same over several tables (e.g. one per module of a daemon). */
struct route_table {
	const struct route *rows;
	const size_t *n;
};
int router_dispatch_tables(const struct route_table *tables, size_t ntables, struct http_txn *txn);
/* A placeholder's value, or NULL. Values live only while the handler runs: copy what an
 * asynchronous handler keeps. */
const char *route_param(const struct route_match *m, const char *name);

#endif

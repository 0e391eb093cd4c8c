/*
 * Route tables and matching. A row is {method, pattern, handler, metric label} and, for the
 * public routes the gateway routes by (routes.def), who serves it, which error dialect it speaks
 * and what the caller's credentials must grant. A pattern is a path of literal segments and
 * ":name" placeholders (one percent-decoded segment each, so GitLab's URL-encoded
 * "group%2Fproject" ids and the gateway's normalised /v2 repository names arrive as
 * "group/project"); a final "*name" takes the rest of the path undecoded.
 */
#ifndef REGISTRY_ROUTER_H
#define REGISTRY_ROUTER_H

#include <stddef.h>

struct rest_req;

#define ROUTE_MAX_PARAMS 8

struct route_match {
	int n;
	const char *names[ROUTE_MAX_PARAMS];
	char *values[ROUTE_MAX_PARAMS];
};

/* The process that serves a row. */
enum route_owner { ROUTE_GATEWAY, ROUTE_AUTHD, ROUTE_METAD, ROUTE_BLOBD };

/* The error bodies a row answers with: GitLab's {"message": ...}, or OCI's {"errors": [...]}. */
enum route_dialect { ROUTE_GITLAB, ROUTE_OCI };

/* What the gateway checks before forwarding, and the owner checks again on what it forwarded. */
enum route_check {
	ROUTE_CHECK_NONE,  /* nothing: the owner checks credentials itself (/jwt/auth) */
	ROUTE_CHECK_GRANT, /* /v2: a registry token granting `need` (ACT_* bits) on :name, or on
	                    * registry:catalog (ACT_STAR) for a row without :name */
	ROUTE_CHECK_SCOPE, /* /api/v4: personal access and OAuth tokens need one of `need` (SCOPE_*
	                    * bits; 0: any token) */
};

struct route {
	const char *method; /* "GET" (which HEAD takes too), ... or "*" */
	const char *pattern;
	void (*handler)(struct rest_req *r); /* rest.h */
	const char *metric;                  /* label in registry_http_requests_total{route=...} */
	enum route_owner owner;
	enum route_dialect dialect;
	enum route_check check;
	unsigned need;
};

/* A daemon's own row (its service and internal endpoints): no check, GitLab's error dialect. */
#define ROUTE_OWN(method, pattern, handler, metric)                                                \
	{                                                                                          \
		method, pattern, handler, metric, ROUTE_GATEWAY, ROUTE_GITLAB, ROUTE_CHECK_NONE, 0 \
	}
/* The same for a row that answers OCI errors (metad's internal blob endpoints). */
#define ROUTE_OWN_OCI(method, pattern, handler, metric)                                            \
	{                                                                                          \
		method, pattern, handler, metric, ROUTE_GATEWAY, ROUTE_OCI, ROUTE_CHECK_NONE, 0    \
	}

/* The first row of rows[0..n) whose pattern matches path and whose method is method's, with its
 * placeholders in *m (route_match_clear() frees them); NULL when none, *status then 404 (no
 * pattern matched the path) or 405 (one did, for other methods). */
const struct route *router_match(const struct route *rows, size_t n, const char *method,
                                 const char *path, struct route_match *m, int *status);
/* The same over several tables in turn (e.g. a daemon's shared rows, then its own). */
struct route_table {
	const struct route *rows;
	const size_t *n;
};
const struct route *router_match_tables(const struct route_table *tables, size_t ntables,
                                        const char *method, const char *path, struct route_match *m,
                                        int *status);
void route_match_clear(struct route_match *m);
/* A placeholder's value, or NULL. */
const char *route_param(const struct route_match *m, const char *name);

#endif

/* metad: namespaces, projects, repositories, manifests and tags, kept in PostgreSQL. */
#ifndef REGISTRY_METAD_H
#define REGISTRY_METAD_H

#include "http.h"
#include "router.h"

struct cfg;
struct event_base;
struct pg_pool;

/* Metric route labels. */
enum metad_route { MR_HEALTH, MR_READINESS, MR_METRICS, MR_COUNT };

struct metad {
	struct event_base *base;
	const struct cfg *cfg;
	struct pg_pool *db;
};

extern struct metad md;

#endif

/*
 * metad: namespaces, projects, members, repositories, manifests and tags, kept in PostgreSQL.
 * Private header: the worker's state and each module's entry points, grouped by file.
 */
#ifndef REGISTRY_METAD_H
#define REGISTRY_METAD_H

#include <stddef.h>

#include "http.h"
#include "router.h"

struct cfg;
struct event_base;
struct pg_pool;

struct metad {
	struct event_base *base;
	const struct cfg *cfg;
	struct pg_pool *db;
};

extern struct metad md;

#endif

/* authd: users, credentials and registry tokens; holds the token signing key. */
#ifndef REGISTRY_METAD_H
#define REGISTRY_METAD_H

#include "http.h"
#include "router.h"

struct cfg;
struct event_base;
struct pg_pool;

/* Metric route labels. */
enum authd_route { AR_HEALTH, AR_READINESS, AR_METRICS, AR_COUNT };

struct authd {
	struct event_base *base;
	const struct cfg *cfg;
	struct pg_pool *db;
};

extern struct authd ad;

#endif

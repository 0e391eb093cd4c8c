/*
 * authd: users, credentials (passwords, personal access tokens, deploy tokens, OAuth tokens)
 * and the token service; the only process holding the token signing key.
 * Private header: the worker's state and each module's entry points, grouped by file.
 */
#ifndef REGISTRY_AUTHD_H
#define REGISTRY_AUTHD_H

#include <stddef.h>

#include "http.h"
#include "router.h"
#include "token.h"

struct cfg;
struct event_base;
struct pg_pool;

struct authd {
	struct event_base *base;
	const struct cfg *cfg;
	struct pg_pool *db;
	struct token_key key;
};

extern struct authd ad;

#endif

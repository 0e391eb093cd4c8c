/*
 * The public route table (routes.def), expanded. The gateway routes by routes_public[] (every
 * row, no handlers); a backend expands routes.def itself, keeping the rows it owns with their
 * handlers:
 *
 *   #define ROUTES_HANDLER(h) h
 *   #define ROUTES_KEEP_GATEWAY(...)
 *   #define ROUTES_KEEP_AUTHD(...)
 *   #define ROUTES_KEEP_METAD(...) __VA_ARGS__
 *   #define ROUTES_KEEP_BLOBD(...)
 *   static const struct route metad_public[] = {
 *   #include "routes.def"
 *   };
 *
 * so a backend links the handlers of its own rows only, and a missing one fails the build.
 */
#ifndef REGISTRY_ROUTES_H
#define REGISTRY_ROUTES_H

#include <stddef.h>

#include "actor.h"
#include "router.h"

#define ROUTE_V2(owner, method, pattern, actions, handler, metric)                                 \
	ROUTES_KEEP_##owner({ method, pattern, ROUTES_HANDLER(handler), metric, ROUTE_##owner,     \
	                      ROUTE_OCI, ROUTE_CHECK_GRANT, actions }, )

#define ROUTE_API(owner, method, pattern, scopes, handler, metric)                                 \
	ROUTES_KEEP_##owner({ method, pattern, ROUTES_HANDLER(handler), metric, ROUTE_##owner,     \
	                      ROUTE_GITLAB, ROUTE_CHECK_SCOPE, scopes }, )
#define ROUTE_OPEN(owner, method, pattern, handler, metric)                                        \
	ROUTES_KEEP_##owner({ method, pattern, ROUTES_HANDLER(handler), metric, ROUTE_##owner,     \
	                      ROUTE_GITLAB, ROUTE_CHECK_NONE, 0 }, )

/* The scopes of a personal access or OAuth token that allow a REST API row (GitLab's rules):
 * api allows everything, read_api any read, read_user the reads of users, and any token may
 * revoke itself. */
#define API_WRITE SCOPE_API
#define API_READ (SCOPE_API | SCOPE_READ_API)
#define API_READ_USER (SCOPE_API | SCOPE_READ_API | SCOPE_READ_USER)
#define API_ANY 0

/* Every public row, in order; handlers are NULL (the gateway forwards, it does not serve). */
extern const struct route routes_public[];
extern const size_t routes_npublic;

#endif

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

#define ROUTE_V2(owner, method, pattern, actions, handler, metric)                        \
	ROUTES_KEEP_##owner({ method, pattern, ROUTES_HANDLER(handler), metric,            \
	                      ROUTE_##owner, ROUTE_OCI, ROUTE_CHECK_GRANT, actions }, )

/* Every public row, in order; handlers are NULL (the gateway forwards, it does not serve). */
extern const struct route routes_public[];
extern const size_t routes_npublic;

#endif

/* The public route table as the gateway sees it: every row of routes.def, no handlers. */
#include "routes.h"

#include "util.h"

#define ROUTES_HANDLER(h) NULL
#define ROUTES_KEEP_GATEWAY(...) __VA_ARGS__
#define ROUTES_KEEP_AUTHD(...) __VA_ARGS__
#define ROUTES_KEEP_METAD(...) __VA_ARGS__
#define ROUTES_KEEP_BLOBD(...) __VA_ARGS__

const struct route routes_public[] = {
#include "routes.def"
};
const size_t routes_npublic = nitems(routes_public);

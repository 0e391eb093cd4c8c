/* blobd: upload sessions, digest verification and content-addressed blob storage. */
#ifndef REGISTRY_BLOBD_H
#define REGISTRY_BLOBD_H

#include "http.h"
#include "router.h"

struct cfg;
struct event_base;

struct blobd {
	struct event_base *base;
	const struct cfg *cfg;
	const char *root; /* storage root */
};

extern struct blobd bd;

#endif

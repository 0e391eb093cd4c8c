/*
 * The shape of a /v2 request path: which endpoint, which repository name, which reference.
 * Names may contain slashes, so the endpoint is read from the last segments
 * (".../manifests/<ref>", ".../blobs/uploads/<id>", ".../tags/list", ...).
 */
#ifndef REGISTRY_V2PATH_H
#define REGISTRY_V2PATH_H

#include <stdbool.h>

enum v2_kind {
	V2_BASE,      /* /v2/ */
	V2_CATALOG,   /* /v2/_catalog */
	V2_BLOB,      /* /v2/<name>/blobs/<digest> */
	V2_UPLOAD,    /* /v2/<name>/blobs/uploads/ (ref "") or .../uploads/<id> */
	V2_MANIFEST,  /* /v2/<name>/manifests/<reference> */
	V2_TAGS,      /* /v2/<name>/tags/list */
	V2_REFERRERS, /* /v2/<name>/referrers/<digest> */
};

struct v2_path {
	enum v2_kind kind;
	char *name; /* NULL for base and catalog */
	char *ref;  /* digest, tag, upload id or "" */
};

/* Whether a request target (a path, with or without its query) is the registry API's: "/v2" or
 * below "/v2/". The one place that decides it. */
bool v2_is_path(const char *target);
/* Parses a raw /v2 path; -1 when it is none of the endpoints above. */
int v2_parse(const char *path, struct v2_path *out);
void v2_path_clear(struct v2_path *p);
/* The normalised target the gateway forwards for a parsed path, which the rows of routes.def
 * match: the repository name and the reference percent-encoded as one segment each (a backend's
 * router decodes them back to what the client sent), the query as it came:
 * "/v2/acme%2Fweb/manifests/latest?x=1". Caller frees. */
char *v2_target(const struct v2_path *vp, const char *query);

#endif

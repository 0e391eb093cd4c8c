/*
 * The shape of a /v2 request path: which endpoint, which repository name, which reference.
 * Names may contain slashes, so the endpoint is read from the last segments
 * (".../manifests/<ref>", ".../blobs/uploads/<id>", ".../tags/list", ...).
 */
#ifndef REGISTRY_V2PATH_H
#define REGISTRY_V2PATH_H

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

/* The actions (ACT_* of actor.h) an endpoint needs on its repository: pull to read a blob, a
 * manifest, tags or referrers; push to write one or to use an upload; delete to delete. 0 for
 * the base and the catalog (which needs registry:catalog:*). The gateway challenges with it and
 * metad and blobd check the granted actions against it. */
unsigned v2_needed_actions(enum v2_kind kind, const char *method);
/* Parses a raw /v2 path; -1 when it is none of the endpoints above. */
int v2_parse(const char *path, struct v2_path *out);
void v2_path_clear(struct v2_path *p);

#endif

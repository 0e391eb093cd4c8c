/*
 * metad's registry side: the distribution API's manifests, tags, referrers and catalog over
 * PostgreSQL, and the internal blob endpoints blobd calls (blobd has no database). Private to
 * metad; prototypes grouped by file.
 */
#ifndef REGISTRY_METAD_REGISTRY_H
#define REGISTRY_METAD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "router.h"
#include "v2reply.h"

struct http_headers;
struct http_txn;
struct rest_req;

/* v2.c: what the /v2 handlers share. */
/* The raw (percent-decoded, '+' kept) value of a query parameter, or NULL. */
char *v2_query_raw(const char *query, const char *name);
/* Reads n (default dflt, at most max) and last; -1 after answering PAGINATION_NUMBER_INVALID. */
int v2_page_parse(struct http_txn *txn, long long dflt, long long max, long long *n, char **last);
/* A text[] literal of digests ("{sha256:..,sha256:..}"); digests need no quoting. */
char *v2_digest_array(const char *const *digests, size_t n);

/* v2_manifests.c: GET (and HEAD), PUT, DELETE /v2/:name/manifests/:reference */
void v2_manifest_get(struct rest_req *r);
void v2_manifest_put(struct rest_req *r);
void v2_manifest_delete(struct rest_req *r);

/* v2_tags.c: GET /v2/:name/tags/list */
void v2_tags_list(struct rest_req *r);

/* tags_cache.c: tags/list answers per worker, valid while the repository's tags_version is. */
struct tags_page {
	int64_t repo;    /* the repository's id... */
	int64_t version; /* ...and tags_version when the answer was built */
	char *body;      /* the JSON answer */
	char *link;      /* the Link header to the next page, or NULL */
};
/* Copies the entry for exactly this name, n and last into out (free with tags_page_clear). */
bool tags_cache_get(const char *name, long long n, const char *last, struct tags_page *out);
/* Keeps a copy of page for this name, n and last (unless the body is large). */
void tags_cache_put(const char *name, long long n, const char *last, const struct tags_page *page);
void tags_page_clear(struct tags_page *p);

/* v2_referrers.c: GET /v2/:name/referrers/:digest */
void v2_referrers(struct rest_req *r);

/* v2_catalog.c: GET /v2/_catalog */
void v2_catalog(struct rest_req *r);

/* internal_blobs.c: /internal/blobs, /internal/mounts, /internal/uploads for blobd. */
extern const struct route internal_blob_routes[];
extern const size_t internal_blob_nroutes;

/* internal_gc.c: /internal/gc/... for blobd: blob files to delete, their acknowledgement, orphans
 * of the placement journal. */
extern const struct route internal_gc_routes[];
extern const size_t internal_gc_nroutes;

/* gc.c: the garbage collection runs of every worker ([gc]). */
void gc_start(void);
/* Draining: no new run; one in progress ends after its statement in flight. */
void gc_stop(void);

#endif

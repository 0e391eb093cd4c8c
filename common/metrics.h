/*
 * Prometheus metrics of one daemon, shared by its master and workers through an anonymous shared
 * mapping made before the first fork (atomic adds, no locks). Each daemon renders its samples;
 * the gateway gathers every daemon's samples and renders one exposition grouped by family.
 */
#ifndef REGISTRY_METRICS_H
#define REGISTRY_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/*
 * Values besides the HTTP layer's, one row each: X(id, family, labels, scale). A counter grows
 * with metrics_add, a gauge is set with metrics_set; a daemon shows the values it touched (so
 * the gateway's exposition carries each under the daemon that keeps it). A value is kept as an
 * integer and shown divided by scale (1000: milliseconds shown as seconds). The families' HELP
 * and TYPE are in metrics.c.
 */
#define METRICS_VALUES(X)                                                                          \
	X(GC_REVIEWED_MANIFESTS, "registry_gc_reviewed_total", "object=\"manifest\"", 1)           \
	X(GC_REVIEWED_BLOBS, "registry_gc_reviewed_total", "object=\"blob\"", 1)                   \
	X(GC_DELETED_MANIFESTS, "registry_gc_deleted_total", "object=\"manifest\"", 1)             \
	X(GC_DELETED_BLOBS, "registry_gc_deleted_total", "object=\"blob\"", 1)                     \
	X(GC_DELETED_FILES, "registry_gc_deleted_total", "object=\"file\"", 1)                     \
	X(GC_FREED_BYTES, "registry_gc_freed_bytes_total", "", 1)                                  \
	X(GC_QUEUE_MANIFESTS, "registry_gc_queue_depth", "queue=\"manifest\"", 1)                  \
	X(GC_QUEUE_BLOBS, "registry_gc_queue_depth", "queue=\"blob\"", 1)                          \
	X(GC_QUEUE_FILES, "registry_gc_queue_depth", "queue=\"file\"", 1)                          \
	X(GC_OLDEST_DUE_MANIFESTS, "registry_gc_oldest_due_seconds", "queue=\"manifest\"", 1000)   \
	X(GC_OLDEST_DUE_BLOBS, "registry_gc_oldest_due_seconds", "queue=\"blob\"", 1000)           \
	X(GC_OLDEST_DUE_FILES, "registry_gc_oldest_due_seconds", "queue=\"file\"", 1000)

enum metrics_value {
#define METRICS_ENUM(id, ...) METRICS_##id,
	METRICS_VALUES(METRICS_ENUM)
#undef METRICS_ENUM
	        METRICS_NVALUES
};

/* Master only, before forking. route_names (may be NULL) are registered first, in order, so that
 * their ids are their indexes. */
void metrics_init(const char *daemon, const char *const *route_names, size_t nroutes);
/* The id of a route label for http_txn_set_route(), registered on first use (all workers share
 * the table). -1 when the table is full. */
int metrics_route_id(const char *name);
void metrics_observe(int route, int status, uint64_t duration_us, uint64_t bytes_in,
                     uint64_t bytes_out);
void metrics_worker_restart(void);
void metrics_set_workers(unsigned n);
/* A counter grows by n; a gauge becomes v (in the value's units: see METRICS_VALUES). */
void metrics_add(enum metrics_value id, uint64_t n);
void metrics_set(enum metrics_value id, uint64_t v);
/* This daemon's sample lines (no HELP/TYPE), labelled daemon="<name>". */
void metrics_write_samples(struct evbuffer *out);
/* One exposition from the sample lines of several daemons (each a NUL-terminated string). */
void metrics_render(struct evbuffer *out, const char *const *samples, size_t n);

#endif

/*
 * Prometheus metrics of one daemon, shared by its master and workers through an anonymous shared
 * mapping made before the first fork (atomic adds, no locks). Each daemon renders its samples;
 * the gateway gathers every daemon's samples and renders one exposition grouped by family.
 */
#ifndef REGISTRY_METRICS_H
#define REGISTRY_METRICS_H

#include <stdbool.h>
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
	X(GC_OLDEST_DUE_FILES, "registry_gc_oldest_due_seconds", "queue=\"file\"", 1000)           \
	X(DB_READS_REPLICA, "registry_db_reads_total", "served_by=\"replica\"", 1)                 \
	X(DB_READS_PRIMARY, "registry_db_reads_total", "served_by=\"primary\"", 1)                 \
	X(DB_REPLICA_USABLE, "registry_db_replica_usable", "", 1)                                  \
	X(DB_REPLICA_LAG, "registry_db_replica_lag_seconds", "", 1000)                             \
	X(S3_PUT, "registry_s3_requests_total", "operation=\"PutObject\"", 1)                      \
	X(S3_GET, "registry_s3_requests_total", "operation=\"GetObject\"", 1)                      \
	X(S3_HEAD, "registry_s3_requests_total", "operation=\"HeadObject\"", 1)                    \
	X(S3_DELETE, "registry_s3_requests_total", "operation=\"DeleteObject\"", 1)                \
	X(S3_COPY, "registry_s3_requests_total", "operation=\"CopyObject\"", 1)                    \
	X(S3_MP_CREATE, "registry_s3_requests_total", "operation=\"CreateMultipartUpload\"", 1)    \
	X(S3_MP_PART, "registry_s3_requests_total", "operation=\"UploadPart\"", 1)                 \
	X(S3_MP_COMPLETE, "registry_s3_requests_total", "operation=\"CompleteMultipartUpload\"",   \
	  1)                                                                                       \
	X(S3_MP_ABORT, "registry_s3_requests_total", "operation=\"AbortMultipartUpload\"", 1)      \
	X(S3_MP_LIST, "registry_s3_requests_total", "operation=\"ListMultipartUploads\"", 1)       \
	X(S3_OTHER, "registry_s3_requests_total", "operation=\"other\"", 1)                        \
	X(S3_FAILED, "registry_s3_failed_total", "", 1)                                            \
	X(GATEWAY_SPLICED_BYTES, "registry_gateway_spliced_bytes_total", "", 1)

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
/* blobd's storage: gauges of its blob files by form, kept exact by blobd (blobd/tally.c), which
 * counts each of its METRICS_BLOB_FOLDERS folders once when it starts. */
#define METRICS_BLOB_FOLDERS 512
enum metrics_blob_form { METRICS_BLOB_PLAIN, METRICS_BLOB_ZSTD, METRICS_BLOB_FORMS };
/* What became of a blob examined for compression at rest. */
enum metrics_blob_outcome {
	METRICS_BLOB_COMPRESSED,     /* stored compressed */
	METRICS_BLOB_PRECOMPRESSED,  /* its content is compressed already (gzip, zstd, ...) */
	METRICS_BLOB_INCOMPRESSIBLE, /* it did not shrink enough */
	METRICS_BLOB_FAILED,         /* an error: it stays plain */
	METRICS_BLOB_OUTCOMES
};
/* blobd's samples appear from this call on. */
void metrics_blob_enable(void);
/* Shows blobd's registry_blob_compressions_total (whatever the storage). */
void metrics_compress_enable(void);
void metrics_blob_add(enum metrics_blob_form form, int64_t files, int64_t stored, int64_t original);
/* The gauges of form become these figures (storage = s3: the database's, read at each scrape). */
void metrics_blob_set(enum metrics_blob_form form, int64_t files, int64_t stored, int64_t original);
bool metrics_blob_counted(unsigned folder);
void metrics_blob_set_counted(unsigned folder);
void metrics_blob_outcome(enum metrics_blob_outcome outcome);
/* When an upload's bytes last arrived at any blobd worker (now_monotonic_us), so that
 * background work can yield to pushes. */
void metrics_blob_upload_seen(void);
uint64_t metrics_blob_upload_last(void);
/* A counter grows by n; a gauge becomes v (in the value's units: see METRICS_VALUES). */
void metrics_add(enum metrics_value id, uint64_t n);
void metrics_set(enum metrics_value id, uint64_t v);
/* This daemon's sample lines (no HELP/TYPE), labelled daemon="<name>". */
void metrics_write_samples(struct evbuffer *out);
/* One exposition from the sample lines of several daemons (each a NUL-terminated string). */
void metrics_render(struct evbuffer *out, const char *const *samples, size_t n);

#endif

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
void metrics_blob_add(enum metrics_blob_form form, int64_t files, int64_t stored, int64_t original);
bool metrics_blob_counted(unsigned folder);
void metrics_blob_set_counted(unsigned folder);
void metrics_blob_outcome(enum metrics_blob_outcome outcome);
/* When an upload's bytes last arrived at any blobd worker (now_monotonic_us), so that
 * background work can yield to pushes. */
void metrics_blob_upload_seen(void);
uint64_t metrics_blob_upload_last(void);
/* This daemon's sample lines (no HELP/TYPE), labelled daemon="<name>". */
void metrics_write_samples(struct evbuffer *out);
/* One exposition from the sample lines of several daemons (each a NUL-terminated string). */
void metrics_render(struct evbuffer *out, const char *const *samples, size_t n);

#endif

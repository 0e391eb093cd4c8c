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
/* This daemon's sample lines (no HELP/TYPE), labelled daemon="<name>". */
void metrics_write_samples(struct evbuffer *out);
/* One exposition from the sample lines of several daemons (each a NUL-terminated string). */
void metrics_render(struct evbuffer *out, const char *const *samples, size_t n);

#endif

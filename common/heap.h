/*
 * A worker's heap: glibc malloc tuned for streamed bodies, and its free memory given back to the
 * system once the worker has been idle a while (10 s), or has received no large body for as long.
 */
#ifndef REGISTRY_HEAP_H
#define REGISTRY_HEAP_H

#include <event2/event.h>
#include <stdint.h>

/* Tunes malloc for bodies streamed through short-lived buffers (before anything allocates). */
void heap_tune(void);
/* Arms the worker's idle trim on its loop. */
void heap_idle_init(struct event_base *base);
/* Notes a finished request and the body bytes it received: the free heap goes back once none has
 * finished for a while, or none received a large body for as long (uploads stream through heap
 * buffers; downloads go by sendfile or through small ones). */
void heap_request_done(uint64_t body_bytes);

#endif

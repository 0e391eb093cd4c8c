/*
 * A worker's heap: glibc malloc tuned for streamed bodies, and its free memory given back to the
 * system once the worker has been idle a while (10 s).
 */
#ifndef REGISTRY_HEAP_H
#define REGISTRY_HEAP_H

#include <event2/event.h>

/* Tunes malloc for bodies streamed through short-lived buffers (before anything allocates). */
void heap_tune(void);
/* Arms the worker's idle trim on its loop. */
void heap_idle_init(struct event_base *base);
/* Notes a finished request: the free heap goes back once none has finished for a while. */
void heap_request_done(void);

#endif

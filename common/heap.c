/*
 * Bodies stream through buffers of a few hundred KiB that are freed as soon as they are written.
 * With glibc's defaults each such buffer is an mmap() (or heap top given back by a trim) whose
 * pages fault in afresh: a quarter of an upload's CPU went to page faults. Keeping up to 16 MiB
 * free in the heap lets the next buffer reuse warm pages (a 2 MiB threshold measured 1.40 ->
 * 1.92 s of CPU per GiB uploaded).
 *
 * What a burst leaves free would then stay with the worker until the next burst reused it (eight
 * concurrent uploads left blobd's worker 9 MiB it did not use). So a worker that has finished no
 * request for IDLE_TRIM_MS gives its free pages back (malloc_trim: the heap's top and whole free
 * pages inside it), and a worker at rest holds what it uses. The next burst faults its buffers in
 * again, which on this kind of VM is dear (a 1 s idle time cost eight concurrent uploads 7-20%
 * more CPU per GiB in two A/B runs, the trim falling in the bench's pauses between them), so the
 * trim waits for a pause longer than those of a stream of pushes. Small requests do not need those
 * buffers: a worker that has received no large body for IDLE_TRIM_MS trims at its next request
 * even while small ones go on (after the uploads, blobd's workers kept 28 MiB free through the
 * bench's downloads and 1 KiB GETs). Downloads do not count: they go by sendfile, or through
 * buffers of a fixed size.
 */
#include "heap.h"

#include <malloc.h>
#include <stdbool.h>

#include "util.h"

/* a worker that has finished no request, or received no large body, for this long trims its heap */
#define IDLE_TRIM_MS 10000
/* a request body this large streamed through heap buffers */
#define STREAM_BYTES (1024 * 1024)

static struct event *idle_trim;
static uint64_t last_stream_ms; /* when the last large request body finished */
static bool stream_left;        /* what it left free has not been trimmed yet */

void
heap_tune(void)
{
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
}

/* The worker has been idle: its free heap goes back to the system. */
static void
heap_trim_now(evutil_socket_t fd, short what, void *arg)
{
	stream_left = false;
	malloc_trim(0);
	(void)fd;
	(void)what;
	(void)arg;
}

void
heap_idle_init(struct event_base *base)
{
	idle_trim = evtimer_new(base, heap_trim_now, NULL);
}

void
heap_request_done(uint64_t body_bytes)
{
	static const struct timeval after = { IDLE_TRIM_MS / 1000, (IDLE_TRIM_MS % 1000) * 1000 };
	if (idle_trim == NULL)
		return;
	uint64_t now = now_monotonic_us() / 1000;
	if (body_bytes >= STREAM_BYTES) {
		last_stream_ms = now;
		stream_left = true;
	} else if (stream_left && now - last_stream_ms >= IDLE_TRIM_MS) {
		stream_left = false;
		malloc_trim(0);
	}
	evtimer_add(idle_trim, &after);
}

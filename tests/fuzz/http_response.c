/*
 * libFuzzer target of the HTTP client (common/httpc.c) the gateway and blobd talk to the
 * backends with: the parser of answers and what it hands over.
 *
 * Input: what a backend answers on one connection (the seeds are the registry's real answers:
 * manifests, blobs, ranges, errors, chunked and HEAD answers). Each input answers three
 * requests: a GET taken whole (httpc_call), the same GET streamed with back-pressure (the owner
 * pauses after every piece of body and resumes from the loop) and sent cut where the input's
 * last bytes say, and a HEAD. Both GETs must end the same way (status, headers, body, or a
 * failure), exactly one of on_end and on_error runs, an answer has a final status (not 1xx), and
 * a HEAD answer has no body.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "httpc.h"
#include "util.h"

struct outcome {
	bool done;
	int status; /* -1: failed */
	struct fuzz_digest d;
	size_t body;
	unsigned ends; /* on_end and on_error calls */
	bool head_only;
	struct httpc_req *req;
	struct event *resume;
};

static size_t input_len;

/* Notes an answer's status and headers. */
static void
note_head(struct outcome *o, int status, const struct http_headers *h)
{
	if (status < 200 || status > 999)
		fuzz_fail("answer status %d handed over", status);
	o->status = status;
	fuzz_digest_int(&o->d, status);
	for (size_t i = 0; i < h->hd_count; i++) {
		if (!fuzz_bounded(h->hd_list[i].name, input_len) ||
		    !fuzz_bounded(h->hd_list[i].value, input_len))
			fuzz_fail("a header longer than the answer");
		fuzz_digest_str(&o->d, h->hd_list[i].name);
		fuzz_digest_str(&o->d, h->hd_list[i].value);
	}
}

/* Notes body bytes (draining them). */
static void
note_body(struct outcome *o, struct evbuffer *data)
{
	size_t len = evbuffer_get_length(data);
	fuzz_digest_add(&o->d, evbuffer_pullup(data, (ssize_t)len), len);
	o->body += len;
	if (o->body > input_len)
		fuzz_fail("%zu body bytes from an answer of %zu", o->body, input_len);
	if (o->head_only && len > 0)
		fuzz_fail("a body for HEAD");
	evbuffer_drain(data, len);
}

/* The request is over: once, and only once. */
static void
note_end(struct outcome *o, bool ok)
{
	if (++o->ends != 1)
		fuzz_fail("on_end/on_error ran %u times", o->ends);
	if (!ok)
		o->status = -1;
	o->done = true;
}

/* ---- a whole answer (httpc_call) ------------------------------------------------------------ */

/* The whole answer, or -1. */
static void
call_done(int status, struct http_headers *headers, struct evbuffer *body, void *arg)
{
	struct outcome *o = arg;
	if (status >= 0) {
		note_head(o, status, headers);
		note_body(o, body);
	}
	note_end(o, status >= 0);
}

/* ---- a streamed answer (httpc_start) -------------------------------------------------------- */

/* Notes a streamed answer's head. */
static void
stream_head(struct httpc_req *req, int status, struct http_headers *headers, void *arg)
{
	note_head(arg, status, headers);
	(void)req;
}

/* The owner's sink drained: more body. */
static void
stream_resume(evutil_socket_t fd, short what, void *arg)
{
	struct outcome *o = arg;
	if (!o->done)
		httpc_pause(o->req, false);
	(void)fd;
	(void)what;
}

/* Takes a piece of body, then pauses until the loop comes round. */
static void
stream_body(struct httpc_req *req, struct evbuffer *data, void *arg)
{
	struct outcome *o = arg;
	note_body(o, data);
	httpc_pause(req, true);
	event_active(o->resume, EV_TIMEOUT, 0);
}

/* A streamed answer ended well. */
static void
stream_end(struct httpc_req *req, void *arg)
{
	note_end(arg, true);
	(void)req;
}

/* A streamed answer was refused or broke off: with a reason. */
static void
stream_error(struct httpc_req *req, const char *why, void *arg)
{
	if (why == NULL)
		fuzz_fail("on_error without a reason");
	note_end(arg, false);
	(void)req;
}

static const struct httpc_handlers stream_handlers = {
	.on_head = stream_head,
	.on_body = stream_body,
	.on_end = stream_end,
	.on_error = stream_error,
};

/* Whether the request is over. */
static bool
finished(void *arg)
{
	return ((struct outcome *)arg)->done;
}

/* Asks for method /x on a new pool and answers with the input, cut at cuts[]. */
static void
exchange(struct outcome *o, const char *method, bool whole, const uint8_t *data, size_t len,
         const size_t *cuts, size_t ncuts)
{
	memset(o, 0, sizeof(*o));
	fuzz_digest_init(&o->d);
	o->head_only = strcmp(method, "HEAD") == 0;
	struct httpc_pool *pool = httpc_pool_new(fuzz_base(), fuzz_backend_path());
	if (whole) {
		httpc_call(pool, method, "/x", NULL, NULL, 0, call_done, o);
	} else {
		o->resume = event_new(fuzz_base(), -1, 0, stream_resume, o);
		o->req = httpc_start(pool, method, "/x", NULL, 0, &stream_handlers, o);
	}
	fuzz_backend_answer(data, len, cuts, ncuts, finished, o);
	if (o->resume != NULL)
		event_free(o->resume);
	httpc_pool_free(pool);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_backend_path();
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	input_len = size;
	struct outcome whole, streamed, head;
	exchange(&whole, "GET", true, data, size, NULL, 0);
	size_t cuts[4];
	size_t ncuts = fuzz_cuts(data, size, cuts, 4);
	exchange(&streamed, "GET", false, data, size, cuts, ncuts);
	if (whole.status != streamed.status ||
	    (whole.status >= 0 && (whole.d.h != streamed.d.h || whole.body != streamed.body)))
		fuzz_fail("an answer taken whole (%d, %zu bytes) and streamed in %zu pieces (%d, "
		          "%zu bytes) differ",
		          whole.status, whole.body, ncuts + 1, streamed.status, streamed.body);
	exchange(&head, "HEAD", false, data, size, NULL, 0);
	return 0;
}

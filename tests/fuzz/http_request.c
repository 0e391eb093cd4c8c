/*
 * libFuzzer target of the HTTP server (common/http_server.c, http_txn.c) with the public
 * listener's limits (http_limits_default: the gateway's defaults).
 *
 * Input: what a client sends on one connection (the seeds are requests curl, skopeo, podman and
 * python-gitlab sent to the registry). The harness sends it over a unix socket, whole, then
 * again cut where the input's last bytes say, and the handler takes each request the way the
 * daemons do, chosen by its target: an answer before the body, the whole body
 * (http_txn_read_body), or the body streamed with back-pressure (pauses resumed from the loop),
 * answered whole or streamed chunked. Both runs must see the same requests, bodies and answers.
 * Every request a handler gets is within the limits: target, header count and sizes, HTTP/1.x,
 * a path that starts with '/', body framing that adds up.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

#define READ_MAX 4096 /* http_txn_read_body's limit (413 past it) */

enum mode { ANSWER_FIRST, READ_WHOLE, STREAM, STREAM_ECHO };

struct run {
	struct fuzz_digest d;
	size_t body_bytes;
};

/* A streamed request's state, freed with its transaction. */
struct stream {
	struct http_txn *txn;
	enum mode mode;
	struct event *resume;
	struct evbuffer *echo;
	int64_t expect; /* Content-Length, or -1 */
	int64_t got;
	/* The bytes taken, noted in the run once the body ended: how much of a body that then
	 * turns out malformed reached the handler first depends on how it was cut. */
	struct fuzz_digest body;
};

static struct run run;
static struct http_limits limits;

/* Which way the handler takes a request: a hash of its target. */
static enum mode
mode_of(const char *target)
{
	struct fuzz_digest d;
	fuzz_digest_init(&d);
	fuzz_digest_str(&d, target);
	return (enum mode)(d.h % 4);
}

/* Checks what the server hands a handler against its limits, and notes the request. */
static void
check_request(const struct http_request *req)
{
	if (req->method == NULL || req->target == NULL || req->path == NULL)
		fuzz_fail("a request without method, target or path");
	if (!fuzz_bounded(req->target, limits.max_target))
		fuzz_fail("a target past max_target");
	if (req->path[0] != '/' || strlen(req->path) > strlen(req->target))
		fuzz_fail("path \"%s\" of target \"%s\"", req->path, req->target);
	if (req->query != NULL && strlen(req->path) + strlen(req->query) >= strlen(req->target))
		fuzz_fail("query longer than the target");
	if (req->http_major != 1)
		fuzz_fail("HTTP/%d dispatched", req->http_major);
	if (req->headers.hd_count > limits.max_headers)
		fuzz_fail("%zu headers dispatched", req->headers.hd_count);
	size_t head = strlen(req->target);
	for (size_t i = 0; i < req->headers.hd_count; i++) {
		const struct http_header *h = &req->headers.hd_list[i];
		if (!fuzz_bounded(h->name, limits.max_header_size) ||
		    !fuzz_bounded(h->value, limits.max_header_size))
			fuzz_fail("a header past max_header_size");
		head += strlen(h->name) + strlen(h->value);
	}
	if (head > limits.max_header_size)
		fuzz_fail("a head of %zu bytes dispatched", head);
	if (req->content_length < -1 || (req->chunked && req->content_length != -1) ||
	    req->has_body != (req->chunked || req->content_length > 0))
		fuzz_fail("body framing: length %lld, chunked %d, has_body %d",
		          (long long)req->content_length, req->chunked, req->has_body);
	fuzz_digest_str(&run.d, req->method);
	fuzz_digest_str(&run.d, req->target);
	fuzz_digest_str(&run.d, req->path);
	fuzz_digest_str(&run.d, req->query);
	fuzz_digest_int(&run.d, req->http_minor);
	for (size_t i = 0; i < req->headers.hd_count; i++) {
		fuzz_digest_str(&run.d, req->headers.hd_list[i].name);
		fuzz_digest_str(&run.d, req->headers.hd_list[i].value);
	}
	fuzz_digest_int(&run.d, req->content_length);
	fuzz_digest_int(&run.d, req->chunked);
}

/* Notes body bytes a handler took in d. */
static void
take_body(struct fuzz_digest *d, struct evbuffer *buf, size_t len)
{
	unsigned char *p = evbuffer_pullup(buf, (ssize_t)len);
	fuzz_digest_add(d, p, len);
	run.body_bytes += len;
}

/* The whole body arrived (or not: NULLs, the transaction is gone). */
static void
whole_body(struct http_txn *txn, struct evbuffer *body, void *arg)
{
	if (txn == NULL) {
		fuzz_digest_add(&run.d, "gone", 4);
		return;
	}
	size_t len = evbuffer_get_length(body);
	if (len > READ_MAX)
		fuzz_fail("read_body handed over %zu bytes, more than its limit", len);
	int64_t cl = http_txn_request(txn)->content_length;
	if (cl >= 0 && (int64_t)len != cl)
		fuzz_fail("a whole body of %zu bytes for Content-Length %lld", len, (long long)cl);
	take_body(&run.d, body, len);
	http_txn_respond(txn, 201, NULL, "read", 4);
	(void)arg;
}

/* Frees a streamed request's state with its transaction. */
static void
stream_free(void *data)
{
	struct stream *s = data;
	event_free(s->resume);
	evbuffer_free(s->echo);
	free(s);
}

/* The sink drained: take more body (what blobd does once a write finished). */
static void
stream_resume(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	http_txn_pause_body(s->txn, false);
	(void)fd;
	(void)what;
}

/* Body bytes: take them all, then pause until the loop comes round again. */
static void
stream_data(struct http_txn *txn, struct evbuffer *buf, void *arg)
{
	struct stream *s = arg;
	size_t len = evbuffer_get_length(buf);
	if (len == 0)
		fuzz_fail("on_data without bytes");
	s->got += (int64_t)len;
	if (s->expect >= 0 && s->got > s->expect)
		fuzz_fail("%lld body bytes for Content-Length %lld", (long long)s->got,
		          (long long)s->expect);
	take_body(&s->body, buf, len);
	if (s->mode == STREAM_ECHO)
		evbuffer_add_buffer(s->echo, buf);
	else
		evbuffer_drain(buf, len);
	http_txn_pause_body(txn, true);
	event_active(s->resume, EV_TIMEOUT, 0);
}

/* The body ended: answer, whole or streamed in slices. */
static void
stream_end(struct http_txn *txn, void *arg)
{
	struct stream *s = arg;
	if (s->expect >= 0 && s->got != s->expect)
		fuzz_fail("the body ended after %lld bytes of %lld", (long long)s->got,
		          (long long)s->expect);
	fuzz_digest_int(&run.d, (int64_t)s->body.h);
	if (s->mode == STREAM) {
		http_txn_respond(txn, 201, NULL, "streamed", 8);
		return;
	}
	http_txn_start_response(txn, 200, NULL, -1);
	struct evbuffer *slice = evbuffer_new();
	while (evbuffer_get_length(s->echo) > 0) {
		evbuffer_remove_buffer(s->echo, slice, 1000);
		http_txn_write(txn, slice);
	}
	evbuffer_free(slice);
	http_txn_end_response(txn);
}

/* The client left mid-body: finishing the answer frees the transaction. */
static void
stream_abort(struct http_txn *txn, void *arg)
{
	fuzz_digest_add(&run.d, "abort", 5);
	http_txn_respond(txn, 499, NULL, NULL, 0);
	(void)arg;
}

/* The daemons' handler, in one of its ways. */
static void
handle(struct http_txn *txn, void *arg)
{
	struct http_request *req = http_txn_request(txn);
	check_request(req);
	enum mode mode = mode_of(req->target);
	if (mode == ANSWER_FIRST) {
		http_txn_respond(txn, 401, NULL, "first", 5);
	} else if (mode == READ_WHOLE) {
		http_txn_read_body(txn, READ_MAX, whole_body, NULL);
	} else {
		struct stream *s = xcalloc(1, sizeof(*s));
		s->txn = txn;
		s->mode = mode;
		s->resume = event_new(fuzz_base(), -1, 0, stream_resume, s);
		s->echo = evbuffer_new();
		fuzz_digest_init(&s->body);
		s->expect = req->chunked ? -1 : req->content_length < 0 ? 0 : req->content_length;
		http_txn_set_data(txn, s, stream_free);
		http_txn_on_abort(txn, stream_abort, s);
		http_txn_read_stream(txn, stream_data, stream_end, s);
	}
	(void)arg;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	http_limits_default(&limits);
	fuzz_server_start(handle, NULL, &limits);
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&run, 0, sizeof(run));
	fuzz_digest_init(&run.d);
	size_t answered = fuzz_server_exchange(data, size, NULL, 0);
	struct run whole = run;
	if (whole.body_bytes > size)
		fuzz_fail("handlers took %zu body bytes of %zu sent", whole.body_bytes, size);

	size_t cuts[4];
	size_t ncuts = fuzz_cuts(data, size, cuts, 4);
	memset(&run, 0, sizeof(run));
	fuzz_digest_init(&run.d);
	size_t answered_cut = fuzz_server_exchange(data, size, cuts, ncuts);
	if (run.d.h != whole.d.h || answered_cut != answered)
		fuzz_fail("sent whole and in %zu pieces, the server saw different requests or "
		          "answered %zu and %zu bytes",
		          ncuts + 1, answered, answered_cut);
	return 0;
}

/*
 * libFuzzer target of chunked bodies (Transfer-Encoding: chunked) as both HTTP sides of the
 * daemons take them: the server (common/http_server.c) reading a request body that a handler
 * streams with back-pressure, and the client (common/httpc.c) reading an answer's body.
 *
 * Input: a chunked body (the seeds are bodies clients and the registry sent chunked: chunk
 * sizes with extensions, trailers). The server gets it after a PUT head, cut where the input's
 * last bytes say; the client gets it after a 200 head. Both must agree: the body ends (with the
 * same bytes, and the same ones the other read) or it is refused.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "httpc.h"
#include "util.h"

static const char request_head[] = "PUT /v2/acme/web/blobs/uploads/0123 HTTP/1.1\r\n"
                                   "Host: registry\r\nTransfer-Encoding: chunked\r\n\r\n";
static const char answer_head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

struct side {
	bool ended; /* the body ended well */
	bool done;  /* and the exchange is over */
	struct fuzz_digest d;
	size_t len;
	struct event *resume;
	struct httpc_req *req;
	struct http_txn *txn;
};

static struct side server_side; /* the request the server's handler reads */

/* ---- the server reading a request body ------------------------------------------------------ */

/* The handler's sink drained: more body. */
static void
server_resume(evutil_socket_t fd, short what, void *arg)
{
	struct side *s = arg;
	if (s->txn != NULL)
		http_txn_pause_body(s->txn, false);
	(void)fd;
	(void)what;
}

/* Takes a piece of the request body, then pauses until the loop comes round. */
static void
server_data(struct http_txn *txn, struct evbuffer *buf, void *arg)
{
	struct side *s = arg;
	size_t len = evbuffer_get_length(buf);
	fuzz_digest_add(&s->d, evbuffer_pullup(buf, (ssize_t)len), len);
	s->len += len;
	evbuffer_drain(buf, len);
	http_txn_pause_body(txn, true);
	event_active(s->resume, EV_TIMEOUT, 0);
}

/* The request body ended well: answer. */
static void
server_end(struct http_txn *txn, void *arg)
{
	struct side *s = arg;
	s->ended = true;
	s->txn = NULL;
	http_txn_respond(txn, 201, NULL, NULL, 0);
}

/* The body broke off or was refused: finishing the answer frees the transaction. */
static void
server_abort(struct http_txn *txn, void *arg)
{
	struct side *s = arg;
	s->txn = NULL;
	http_txn_respond(txn, 499, NULL, NULL, 0);
}

/* Streams the body of the first request; a second one (bytes after the body) is refused. */
static void
handle(struct http_txn *txn, void *arg)
{
	struct side *s = &server_side;
	if (s->txn != NULL || s->ended || s->len > 0) {
		http_txn_respond(txn, 400, NULL, NULL, 0);
		return;
	}
	s->txn = txn;
	http_txn_on_abort(txn, server_abort, s);
	http_txn_read_stream(txn, server_data, server_end, s);
	(void)arg;
}

/* ---- the client reading an answer's body ---------------------------------------------------- */

/* The owner's sink drained: more answer body. */
static void
client_resume(evutil_socket_t fd, short what, void *arg)
{
	struct side *s = arg;
	if (!s->done)
		httpc_pause(s->req, false);
	(void)fd;
	(void)what;
}

/* Takes a piece of the answer body, then pauses until the loop comes round. */
static void
client_body(struct httpc_req *req, struct evbuffer *data, void *arg)
{
	struct side *s = arg;
	size_t len = evbuffer_get_length(data);
	fuzz_digest_add(&s->d, evbuffer_pullup(data, (ssize_t)len), len);
	s->len += len;
	evbuffer_drain(data, len);
	httpc_pause(req, true);
	event_active(s->resume, EV_TIMEOUT, 0);
}

/* The answer ended well. */
static void
client_end(struct httpc_req *req, void *arg)
{
	struct side *s = arg;
	s->ended = s->done = true;
	(void)req;
}

/* The answer was refused or broke off. */
static void
client_error(struct httpc_req *req, const char *why, void *arg)
{
	struct side *s = arg;
	s->done = true;
	(void)req;
	(void)why;
}

static const struct httpc_handlers client_handlers = {
	.on_body = client_body,
	.on_end = client_end,
	.on_error = client_error,
};

/* Whether the request is over. */
static bool
client_done(void *arg)
{
	return ((struct side *)arg)->done;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_limits limits;
	http_limits_default(&limits);
	fuzz_server_start(handle, NULL, &limits);
	fuzz_backend_path();
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t head = sizeof(request_head) - 1;
	uint8_t *msg = xmalloc(head + size);
	memcpy(msg, request_head, head);
	memcpy(msg + head, data, size);
	size_t cuts[4];
	size_t ncuts = fuzz_cuts(data, size, cuts, 4);
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] += head;
	struct side *s = &server_side;
	memset(s, 0, sizeof(*s));
	fuzz_digest_init(&s->d);
	s->resume = event_new(fuzz_base(), -1, 0, server_resume, s);
	fuzz_server_exchange(msg, head + size, cuts, ncuts);
	event_free(s->resume);
	free(msg);

	head = sizeof(answer_head) - 1;
	msg = xmalloc(head + size);
	memcpy(msg, answer_head, head);
	memcpy(msg + head, data, size);
	struct side c;
	memset(&c, 0, sizeof(c));
	fuzz_digest_init(&c.d);
	c.resume = event_new(fuzz_base(), -1, 0, client_resume, &c);
	struct httpc_pool *pool = httpc_pool_new(fuzz_base(), fuzz_backend_path());
	c.req = httpc_start(pool, "GET", "/blob", NULL, 0, &client_handlers, &c);
	fuzz_backend_answer(msg, head + size, NULL, 0, client_done, &c);
	event_free(c.resume);
	httpc_pool_free(pool);
	free(msg);

	if (s->ended != c.ended || (s->ended && (s->d.h != c.d.h || s->len != c.len)))
		fuzz_fail("the server %s the body (%zu bytes), the client %s it (%zu bytes)",
		          s->ended ? "took" : "refused", s->len, c.ended ? "took" : "refused",
		          c.len);
	if (s->len > size)
		fuzz_fail("a body of %zu bytes from %zu", s->len, size);
	return 0;
}

/*
 * Streaming reverse proxy to the backends. The request body flows client -> backend and the
 * answer backend -> client, each direction paused while the other side's buffer is full, so a
 * worker's memory does not grow with body size. A backend may answer a blob read with a file
 * descriptor instead of bytes; the gateway then serves the file itself with sendfile(), Range
 * included.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "gateway.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "range.h"
#include "util.h"
#include "v2path.h"
#include "wire.h"

#define SPLICE_MIN (1024 * 1024) /* bodies with less left than this are not worth a pipe */

struct proxy {
	struct http_txn *txn;   /* NULL once our answer is finished */
	struct httpc_req *breq; /* NULL once the backend's answer is finished */
	enum gw_backend backend;
	bool started;    /* answer head sent to the client */
	bool splicing;   /* the client's body goes to the backend past the process (splice) */
	char *challenge; /* /v2: the WWW-Authenticate of a 401 the backend answers without one */
};

static void proxy_maybe_free(struct proxy *p);

/* Frees the proxy once both sides, client and backend, are done with it. */
static void
proxy_maybe_free(struct proxy *p)
{
	if (p->txn == NULL && p->breq == NULL) {
		free(p->challenge);
		free(p);
	}
}

/* Finishes our answer to the client. */
static void
proxy_end_client(struct proxy *p)
{
	struct http_txn *txn = p->txn;
	if (txn == NULL)
		return;
	p->txn = NULL;
	http_txn_end_response(txn);
}

enum gw_backend
gw_backend_of(enum route_owner owner)
{
	switch (owner) {
	case ROUTE_AUTHD:
		return GW_AUTHD;
	case ROUTE_METAD:
		return GW_METAD;
	case ROUTE_BLOBD:
		return GW_BLOBD;
	case ROUTE_GATEWAY:
		break;
	}
	fatal("no backend serves the gateway's own routes");
}

void
gw_unavailable(struct http_txn *txn, enum gw_backend backend)
{
	char *msg = xasprintf("%s is unavailable", gw_backend_names[backend]);
	if (v2_is_path(http_txn_request(txn)->path)) {
		struct http_headers h;
		headers_init(&h);
		headers_add(&h, "Retry-After", "5");
		error_oci(txn, 503, OCI_UNAVAILABLE, msg, &h);
		headers_clear(&h);
	} else {
		char *full = xasprintf("503 Service Unavailable: %s", msg);
		error_gitlab(txn, 503, full);
		free(full);
	}
	free(msg);
}

/* ---- client side ----------------------------------------------------------------------------- */

/* A splice of the client's body ended: httpc counts what reached the backend; what is left comes
 * through client_data (after a failed splice too: the backend's failure then shows there). */
static void
splice_done(struct http_txn *txn, uint64_t moved, int err, void *arg)
{
	struct proxy *p = arg;
	p->splicing = false;
	metrics_add(METRICS_GATEWAY_SPLICED_BYTES, moved);
	if (p->breq != NULL)
		httpc_body_written(p->breq, moved);
	if (err != 0)
		log_warn("%s: body splice: %s", gw_backend_names[p->backend], strerror(err));
	(void)txn;
}

/* Hands the rest of a large request body to the backend's socket by splice() once the bytes
 * read so far are out on both sides ([gateway] splice_bodies). */
static void
proxy_try_splice(struct proxy *p)
{
	if (!gw.splice_bodies || p->splicing || p->txn == NULL || p->breq == NULL || p->started ||
	    !http_txn_splice_ready(p->txn, SPLICE_MIN))
		return;
	int fd = httpc_body_fd(p->breq);
	if (fd < 0)
		return;
	p->splicing = true;
	if (!http_txn_splice_body(p->txn, fd, SPLICE_MIN, splice_done, p))
		p->splicing = false;
}

/* Stops a splice whose backend answered or went: nothing may write to its socket any more. */
static void
proxy_stop_splice(struct proxy *p)
{
	if (p->txn != NULL)
		http_txn_splice_stop(p->txn);
	p->splicing = false;
}

/* Passes request body bytes on to the backend, pausing the client while the backend is full. */
static void
client_data(struct http_txn *txn, struct evbuffer *buf, void *arg)
{
	struct proxy *p = arg;
	if (p->breq == NULL) {
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (httpc_write(p->breq, buf))
		http_txn_pause_body(txn, true);
}

/* The client's body is complete: so is the request to the backend. */
static void
client_end(struct http_txn *txn, void *arg)
{
	struct proxy *p = arg;
	if (p->breq != NULL)
		httpc_end(p->breq);
	(void)txn;
}

/* The client took the answer sent so far: the backend's answer may flow again. */
static void
client_drain(struct http_txn *txn, void *arg)
{
	struct proxy *p = arg;
	if (p->breq != NULL)
		httpc_pause(p->breq, false);
	(void)txn;
}

/* The client left: the backend request is cancelled, nobody waits for its answer. */
static void
client_abort(struct http_txn *txn, void *arg)
{
	struct proxy *p = arg;
	proxy_stop_splice(p);
	if (p->breq != NULL) {
		httpc_cancel(p->breq);
		p->breq = NULL;
	}
	proxy_end_client(p);
	proxy_maybe_free(p);
	(void)txn;
}

/* ---- backend side ---------------------------------------------------------------------------- */

/* The backend took the body sent so far: the client's body may flow again. */
static void
backend_drain(struct httpc_req *req, void *arg)
{
	struct proxy *p = arg;
	if (p->txn != NULL)
		http_txn_pause_body(p->txn, false);
	proxy_try_splice(p);
	(void)req;
}

/* Serves the passed blob file: whole, or the one byte range the client asked for. */
static void
serve_fd(struct proxy *p, int fd, struct http_headers *out)
{
	struct http_txn *txn = p->txn;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		error_oci(txn, 500, OCI_UNKNOWN, "blob file unreadable", NULL);
		p->txn = NULL;
		return;
	}
	int64_t size = st.st_size, start = 0, len = size;
	int status = 200;
	const char *range = headers_get(&http_txn_request(txn)->headers, "Range");
	headers_set(out, "Accept-Ranges", "bytes");
	switch (range_parse(range, size, &start, &len)) {
	case RANGE_SATISFIABLE: {
		status = 206;
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", (long long)start,
		         (long long)(start + len - 1), (long long)size);
		headers_set(out, "Content-Range", cr);
		break;
	}
	case RANGE_UNSATISFIABLE: {
		close(fd);
		char cr[64];
		snprintf(cr, sizeof(cr), "bytes */%lld", (long long)size);
		struct http_headers h;
		headers_init(&h);
		headers_add(&h, "Content-Range", cr);
		error_oci(txn, 416, OCI_RANGE_INVALID, "requested range not satisfiable", &h);
		headers_clear(&h);
		p->txn = NULL;
		return;
	}
	case RANGE_NONE:
		break;
	}
	http_txn_start_response(txn, status, out, len);
	http_txn_write_file(txn, fd, (off_t)start, (off_t)len);
	proxy_end_client(p);
}

/* Passes the backend's answer head on, minus hop-by-hop and internal headers, with absolute
 * Locations; a passed blob descriptor is served here instead. */
static void
backend_head(struct httpc_req *req, int status, struct http_headers *headers, void *arg)
{
	struct proxy *p = arg;
	proxy_stop_splice(p); /* an answer before the body's end: the backend may read no more */
	if (p->txn == NULL)
		return;
	struct http_headers out;
	headers_init(&out);
	int64_t clen = -1;
	bool pass_fd = false;
	for (size_t i = 0; i < headers->hd_count; i++) {
		const char *n = headers->hd_list[i].name, *v = headers->hd_list[i].value;
		if (headers_is_hop_by_hop(n) || str_eq_nocase(n, "Date") ||
		    str_eq_nocase(n, "X-Request-Id"))
			continue;
		if (str_eq_nocase(n, WIRE_FD)) {
			pass_fd = true;
			continue;
		}
		if (str_eq_nocase(n, WIRE_LSN) && p->backend != GW_BLOBD) {
			gw_fence_answer(p->txn, v, &out);
			continue;
		}
		if (strncasecmp(n, WIRE_PREFIX, strlen(WIRE_PREFIX)) == 0)
			continue;
		if (str_eq_nocase(n, "Content-Length")) {
			int64_t v64;
			if (str_to_i64(v, 0, INT64_MAX, &v64) == 0)
				clen = v64;
			continue;
		}
		if (str_eq_nocase(n, "Location") && v[0] == '/') {
			char *base = gw_external_url(p->txn);
			char *abs = xasprintf("%s%s", base, v);
			headers_add(&out, n, abs);
			free(base);
			free(abs);
			continue;
		}
		headers_add(&out, n, v);
	}
	/* metad refused the token's grant (the path changed hands since it was made): the client
	 * is sent for a new token */
	if (status == 401 && p->challenge != NULL && headers_get(&out, "WWW-Authenticate") == NULL)
		headers_add(&out, "WWW-Authenticate", p->challenge);
	int fd = pass_fd ? httpc_take_fd(req) : -1;
	if (pass_fd && status == 200) {
		if (fd < 0) {
			log_error("%s promised a descriptor and sent none",
			          gw_backend_names[p->backend]);
			error_oci(p->txn, 500, OCI_UNKNOWN, "blob not served", NULL);
			p->txn = NULL;
		} else {
			serve_fd(p, fd, &out);
		}
		headers_clear(&out);
		return;
	}
	if (fd >= 0)
		close(fd);
	p->started = true;
	http_txn_start_response(p->txn, status, &out, clen);
	headers_clear(&out);
}

/* Passes answer bytes on to the client, pausing the backend while the client is slow. */
static void
backend_body(struct httpc_req *req, struct evbuffer *data, void *arg)
{
	struct proxy *p = arg;
	if (p->txn == NULL) {
		evbuffer_drain(data, evbuffer_get_length(data));
		return;
	}
	if (http_txn_write(p->txn, data))
		httpc_pause(req, true);
}

/* The backend's answer is complete: so is ours. */
static void
backend_end(struct httpc_req *req, void *arg)
{
	struct proxy *p = arg;
	proxy_stop_splice(p);
	p->breq = NULL;
	proxy_end_client(p);
	proxy_maybe_free(p);
	(void)req;
}

/* The backend failed: 503 if the client has no answer yet, else a cut connection. */
static void
backend_error(struct httpc_req *req, const char *why, void *arg)
{
	struct proxy *p = arg;
	proxy_stop_splice(p);
	p->breq = NULL;
	log_warn("%s: %s", gw_backend_names[p->backend], why);
	if (p->txn != NULL) {
		if (!p->started) {
			struct http_txn *txn = p->txn;
			p->txn = NULL;
			gw_unavailable(txn, p->backend);
		} else {
			/* Mid-answer: the client must see a broken answer, not a short one. */
			http_txn_close_after(p->txn);
			proxy_end_client(p);
		}
	}
	proxy_maybe_free(p);
	(void)req;
}

static const struct httpc_handlers backend_handlers = {
	.on_head = backend_head,
	.on_body = backend_body,
	.on_end = backend_end,
	.on_error = backend_error,
	.on_drain = backend_drain,
};

void
gw_proxy(struct http_txn *txn, enum gw_backend backend, const struct http_headers *extra)
{
	gw_proxy_to(txn, backend, http_txn_request(txn)->target, extra, NULL);
}

void
gw_proxy_to(struct http_txn *txn, enum gw_backend backend, const char *target,
            const struct http_headers *extra, const char *challenge)
{
	struct http_request *req = http_txn_request(txn);
	if (http_txn_aborted(txn)) {
		/* The client left while an earlier step (authentication) ran: forwarding now would
		 * leave the backend waiting for a body that never comes. Finishing frees it. */
		http_txn_respond(txn, 499, NULL, NULL, 0);
		return;
	}
	struct http_headers h;
	headers_init(&h);
	for (size_t i = 0; i < req->headers.hd_count; i++) {
		const char *n = req->headers.hd_list[i].name;
		/* Identity headers come from us alone; a client's copies are dropped. */
		if (strncasecmp(n, WIRE_PREFIX, strlen(WIRE_PREFIX)) == 0 ||
		    str_eq_nocase(n, "X-Request-Id") || str_eq_nocase(n, "X-Forwarded-For"))
			continue;
		headers_add(&h, n, req->headers.hd_list[i].value);
	}
	if (extra != NULL)
		headers_copy(&h, extra);
	headers_set(&h, "X-Request-Id", http_txn_id(txn));
	char *client = gw_client_addr(txn);
	headers_set(&h, "X-Forwarded-For", client);
	headers_set(&h, WIRE_CLIENT_IP, client);
	free(client);
	char *base = gw_external_url(txn);
	headers_set(&h, WIRE_EXTERNAL_URL, base);
	free(base);
	if (backend != GW_BLOBD)
		gw_fence_forward(txn, &h);

	int64_t body = req->chunked ? -1 : (req->content_length > 0 ? req->content_length : 0);
	struct proxy *p = xcalloc(1, sizeof(*p));
	p->txn = txn;
	p->backend = backend;
	p->challenge = challenge != NULL ? xstrdup(challenge) : NULL;
	http_txn_on_abort(txn, client_abort, p);
	http_txn_on_drain(txn, client_drain, p);
	p->breq = httpc_start(gw.backends[backend], req->method, target, &h, body,
	                      &backend_handlers, p);
	headers_clear(&h);
	if (req->has_body) {
		if (gw.splice_bodies && body > 2 * SPLICE_MIN)
			http_txn_splice_prepare(txn, SPLICE_MIN);
		http_txn_read_stream(txn, client_data, client_end, p);
	}
}

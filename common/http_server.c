/*
 * HTTP/1.1 server connections: accepting, reading, parsing with http-parser, timers, and the
 * state machine that moves each connection's transactions along (conn_process). The transaction
 * API that handlers use is in http_txn.c; http.h has the ownership rules.
 */
#include "http_internal.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void conn_readable(evutil_socket_t fd, short what, void *arg);
static void conn_resume_reading(struct http_conn *c);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_resume_cb(evutil_socket_t fd, short what, void *arg);
static void conn_process(struct http_conn *c);
static void conn_free(struct http_conn *c);
static void conn_close_after_flush(struct http_conn *c);
static void conn_fail(struct http_conn *c, int status, const char *message);
static void conn_fail_headers(struct http_conn *c, int status, const char *message,
                              const char *extra);
static void conn_set_timer(struct http_conn *c, enum timer_kind kind, int seconds);
static void txn_orphan(struct http_txn *txn);
static void txn_complete(struct http_conn *c);
static void txn_deliver_body(struct http_txn *txn);

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* The limits a public listener starts from; backends widen them, a role's hook adjusts them. */
void
http_limits_default(struct http_limits *l)
{
	l->max_target = 8192;
	l->max_header_size = 65536;
	l->max_headers = 100;
	l->header_timeout = 30;
	l->idle_timeout = 60;
	l->body_timeout = 60;
	l->max_connections = 0;
}

/* ---- server ---------------------------------------------------------------------------------- */

/* Takes a new connection: notes its peer (and uid on a unix socket), then waits for a request. */
static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct http_server *srv = arg;
	if (srv->draining) {
		close(fd);
		return;
	}
	/* Past the cap, a few more connections are taken only to tell their clients so (503,
	 * Retry-After, close: conn_dispatch), briefly; past those, they are closed at once. */
	unsigned cap = srv->limits.max_connections > 0 ? (unsigned)srv->limits.max_connections : 0;
	bool over_cap = cap > 0 && srv->nconns >= cap;
	if (over_cap && srv->nconns >= cap + OVER_CAP_ANSWERED) {
		if (!srv->cap_warned)
			log_warn("%u connections: closing new ones at once", srv->nconns);
		srv->cap_warned = true;
		close(fd);
		return;
	}
	if (!over_cap)
		srv->cap_warned = false;
	struct http_conn *c = xcalloc(1, sizeof(*c));
	c->over_cap = over_cap;
	c->srv = srv;
	c->peer_uid = (uid_t)-1;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->peer,
		          sizeof(c->peer));
	} else {
		snprintf(c->peer, sizeof(c->peer), "unix");
		c->peer_unix = true;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			c->peer_uid = cred.uid;
	}
	if (!c->peer_unix) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->timer = evtimer_new(srv->base, conn_timer_cb, c);
	c->resume = event_new(srv->base, -1, 0, conn_resume_cb, c);
	/* The bufferevent writes; reading is ours (conn_readable). */
	bufferevent_setcb(c->bev, NULL, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_LWM, 0);
	bufferevent_set_max_single_write(c->bev, WRITE_MAX);
	c->in = evbuffer_new();
	c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_readable, c);
	c->rcvlowat = 1;
	http_conn_watch(c);
	struct timeval wt = { srv->limits.body_timeout, 0 };
	bufferevent_set_timeouts(c->bev, NULL, &wt);
	bufferevent_enable(c->bev, EV_WRITE);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->state = CS_IDLE;
	conn_set_timer(c, TK_IDLE,
	               over_cap && srv->limits.idle_timeout > OVER_CAP_WAIT_SECONDS
	                       ? OVER_CAP_WAIT_SECONDS
	                       : srv->limits.idle_timeout);
	TAILQ_INSERT_TAIL(&srv->conns, c, link);
	srv->nconns++;
	(void)lev;
	(void)salen;
}

/* Logs a failed accept (out of descriptors, ...) and keeps listening. */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	log_warn("accept: %s", evutil_socket_error_to_string(err));
	(void)lev;
	(void)arg;
}

struct http_server *
http_server_new(struct event_base *base, int listen_fd, const struct http_limits *limits,
                http_handler handler, void *arg)
{
	struct http_server *srv = xcalloc(1, sizeof(*srv));
	srv->base = base;
	srv->limits = *limits;
	srv->handler = handler;
	srv->handler_arg = arg;
	TAILQ_INIT(&srv->conns);
	srv->listener =
	        evconnlistener_new(base, accept_cb, srv, LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd);
	if (srv->listener == NULL)
		fatal("cannot listen on inherited socket %d", listen_fd);
	evconnlistener_set_error_cb(srv->listener, accept_error_cb);
	return srv;
}

void
http_server_peer_filter(struct http_server *srv, bool (*allow)(uid_t uid))
{
	srv->peer_allowed = allow;
}

/* Sets the body maker of the errors the server answers itself. */
void
http_server_set_error_body(struct http_server *srv, http_error_body_fn fn)
{
	srv->error_body = fn;
}

void
http_server_trust_request_id(struct http_server *srv, bool trust)
{
	srv->trust_request_id = trust;
}

void
http_server_on_complete(struct http_server *srv, http_txn_cb cb, void *arg)
{
	srv->on_complete = cb;
	srv->complete_arg = arg;
}

unsigned
http_server_connections(const struct http_server *srv)
{
	return srv->nconns;
}

/* Tells the drain's caller once the last connection of a draining server is gone. */
static void
server_check_drained(struct http_server *srv)
{
	if (srv->draining && srv->nconns == 0 && srv->drained != NULL) {
		void (*done)(void *) = srv->drained;
		srv->drained = NULL;
		done(srv->drained_arg);
	}
}

/* Whether the client sent bytes not processed yet: a request on its way. */
static bool
conn_has_input(struct http_conn *c)
{
	if (evbuffer_get_length(c->in) > 0)
		return true;
	char byte;
	return recv(bufferevent_getfd(c->bev), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void
http_server_drain(struct http_server *srv, void (*done)(void *), void *arg)
{
	srv->draining = true;
	srv->drained = done;
	srv->drained_arg = arg;
	if (srv->listener != NULL) {
		evconnlistener_free(srv->listener);
		srv->listener = NULL;
	}
	struct http_conn *c, *next;
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state != CS_IDLE) {
			c->close_after = true;
			continue;
		}
		/* A kept-alive connection with nothing sent is closed (clients retry that race),
		 * once the last answer, which may still sit in its output, is written. A
		 * connection just accepted, or one whose next request is already on its way, is
		 * a request we took: serve it, then close. */
		if (c->served > 0 && !conn_has_input(c)) {
			conn_close_after_flush(c);
			continue;
		}
		c->close_after = true;
		int wait = srv->limits.idle_timeout < DRAIN_WAIT_SECONDS ? srv->limits.idle_timeout
		                                                         : DRAIN_WAIT_SECONDS;
		conn_set_timer(c, TK_IDLE, wait);
		http_conn_schedule(c);
	}
	server_check_drained(srv);
}

void
http_server_free(struct http_server *srv)
{
	struct http_conn *c;
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_free(c);
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	free(srv);
}

/* ---- connection ------------------------------------------------------------------------------ */

/* Arms the one timer of a connection for what it now waits on, or stops it (TK_NONE). */
static void
conn_set_timer(struct http_conn *c, enum timer_kind kind, int seconds)
{
	c->timer_kind = kind;
	if (kind == TK_NONE) {
		evtimer_del(c->timer);
		return;
	}
	struct timeval tv = { seconds, 0 };
	evtimer_add(c->timer, &tv);
}

void
http_conn_schedule(struct http_conn *c)
{
	if (c != NULL && !c->resume_scheduled) {
		c->resume_scheduled = true;
		event_active(c->resume, EV_TIMEOUT, 0);
	}
}

/* Forgets the header being read and the count of head bytes: the head is dispatched or failed. */
static void
conn_free_head_state(struct http_conn *c)
{
	header_parts_clear(&c->field);
	c->head_bytes = 0;
}

/* Closes a connection; its transaction is finished, freed or left to its handler as orphan. */
static void
conn_free(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	http_conn_splice_stop(c);
	if (c->txn != NULL) {
		struct http_txn *txn = c->txn;
		c->txn = NULL;
		if (txn->resp_done && srv->on_complete != NULL)
			srv->on_complete(txn, srv->complete_arg);
		if (c->state == CS_HEAD || txn->resp_done)
			http_txn_destroy(txn);
		else
			txn_orphan(txn);
	}
	conn_free_head_state(c);
	TAILQ_REMOVE(&srv->conns, c, link);
	srv->nconns--;
	event_free(c->timer);
	event_free(c->resume);
	event_free(c->rev);
	evbuffer_free(c->in);
	bufferevent_free(c->bev);
	free(c);
	server_check_drained(srv);
}

void
http_conn_close(struct http_conn *c)
{
	conn_free(c);
}

void
http_conn_body_progress(struct http_conn *c)
{
	conn_set_timer(c, TK_BODY, c->srv->limits.body_timeout);
}

/* Closes once the output is written; used after an answer that ends the connection. */
static void
conn_close_after_flush(struct http_conn *c)
{
	http_conn_splice_stop(c);
	c->state = CS_CLOSING;
	conn_set_timer(c, TK_LINGER, c->srv->limits.body_timeout);
	event_del(c->rev);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

/* Starts a lingering close: the answer is out, the client may still be sending a body we
 * refused; read and discard it for a moment so the client sees our answer, not a reset. */
static void
conn_linger(struct http_conn *c)
{
	http_conn_splice_stop(c);
	c->state = CS_LINGER;
	conn_set_timer(c, TK_LINGER, LINGER_SECONDS);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
	conn_resume_reading(c);
}

/* The reason phrase of a status code, for status lines. */
const char *
http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* Answers a protocol error the handler never saw (or could not answer), then closes. */
static void
conn_fail(struct http_conn *c, int status, const char *message)
{
	conn_fail_headers(c, status, message, "");
}

/* conn_fail() with extra header lines (each ending in CRLF). */
static void
conn_fail_headers(struct http_conn *c, int status, const char *message, const char *extra)
{
	struct http_txn *txn = c->txn;
	bool can_answer = txn == NULL || !txn->resp_started;
	/* A target cut short by the error says nothing of the dialect: whether its first bytes
	 * arrived before the error depends on how the client's bytes were segmented. */
	const char *target = txn != NULL && c->target_read ? txn->req.target : NULL;
	char *body = c->srv->error_body != NULL ? c->srv->error_body(target, status, message)
	                                        : xasprintf("%d %s\n", status, message);
	const char *type = c->srv->error_body != NULL ? "application/json" : "text/plain";
	if (txn != NULL && c->state == CS_DISPATCHED) {
		c->txn = NULL;
		txn_orphan(txn);
	} else if (txn != NULL) {
		c->txn = NULL;
		http_txn_destroy(txn);
	}
	if (status > 0 && can_answer) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		evbuffer_add_printf(out,
		                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s"
		                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		                    status, http_status_text(status), type, extra, strlen(body),
		                    body);
		log_info("closing connection from %s: %d %s", c->peer, status, message);
	}
	free(body);
	conn_free_head_state(c);
	conn_close_after_flush(c);
}

/* Watches the socket again once the parser has taken input below the high-water mark. */
static void
conn_resume_reading(struct http_conn *c)
{
	if (c->read_stopped && evbuffer_get_length(c->in) < INPUT_HWM && c->splice == NULL &&
	    (c->txn == NULL || !c->txn->splice_wanted)) {
		c->read_stopped = false;
		http_conn_watch(c);
	}
}

/*
 * Reads what the socket holds, up to READ_CHUNK at once, into the connection's input. Reading is
 * not left to the bufferevent: libevent 2.1 reads at most 4 KiB per call, which made a 256 MiB
 * upload cost 65,000 trips through the loop. Reading stops while the input is full
 * (back-pressure) and resumes when the parser drains it.
 */
static void
conn_readable(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = c->in;
	if (c->splice != NULL || (c->txn != NULL && c->txn->splice_wanted)) {
		event_del(c->rev); /* the body's rest is a splice's to take */
		return;
	}
	if (evbuffer_get_length(in) >= INPUT_HWM) {
		event_del(c->rev);
		c->read_stopped = true;
		return;
	}
	struct evbuffer_iovec v[2];
	int nv = evbuffer_reserve_space(in, READ_CHUNK, v, 2);
	struct iovec iov[2];
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	ssize_t n = readv(fd, iov, nv);
	if (n <= 0) {
		evbuffer_commit_space(in, v, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0 && c->state != CS_IDLE && c->state != CS_LINGER)
			log_debug("connection from %s: %s", c->peer, strerror(errno));
		conn_free(c); /* end of stream or error: as the bufferevent's EOF did */
		return;
	}
	size_t got = (size_t)n;
	for (int i = 0; i < nv; i++) {
		size_t take = got < v[i].iov_len ? got : v[i].iov_len;
		v[i].iov_len = take;
		got -= take;
	}
	evbuffer_commit_space(in, v, nv);
	http_conn_pace_body(c, fd);
	if (c->state == CS_DISPATCHED && c->timer_kind == TK_BODY)
		conn_set_timer(c, TK_BODY, c->srv->limits.body_timeout);
	conn_process(c);
	(void)what;
}

/* Output written: finishes a closing connection, or lets a streaming answer send more. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
	if (c->state == CS_CLOSING) {
		if (pending == 0)
			conn_free(c);
		return;
	}
	if (c->state == CS_LINGER) {
		if (pending == 0)
			shutdown(bufferevent_getfd(bev), SHUT_WR);
		return;
	}
	struct http_txn *txn = c->txn;
	if (txn != NULL && txn->resp_started && !txn->resp_done && txn->on_drain != NULL)
		txn->on_drain(txn, txn->drain_arg);
}

/* A write failed or stalled past the timeout: closes the connection. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT)
		log_info("connection from %s: write timeout", c->peer);
	else if ((what & BEV_EVENT_ERROR) && c->state != CS_IDLE && c->state != CS_LINGER)
		log_debug("connection from %s: %s", c->peer,
		          evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	conn_free(c);
	(void)bev;
}

/* A wait ran out: idle and lingering connections close, a slow head or body gets 408. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	enum timer_kind kind = c->timer_kind;
	c->timer_kind = TK_NONE;
	switch (kind) {
	case TK_IDLE:
	case TK_LINGER:
	case TK_NONE:
		conn_free(c);
		break;
	case TK_HEAD:
		conn_fail(c, 408, "request headers not received in time");
		break;
	case TK_BODY:
		log_info("connection from %s: request body stalled", c->peer);
		conn_fail(c, 408, "request body not received in time");
		break;
	}
	(void)fd;
	(void)what;
}

/* Runs conn_process from the loop, so a handler's call never re-enters it. */
static void
conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	c->resume_scheduled = false;
	conn_process(c);
	(void)fd;
	(void)what;
}

/* The message a client gets for what http-parser refused, in plainer words. */
static const char *
parser_error_message(enum http_errno err)
{
	switch (err) {
	case HPE_INVALID_CHUNK_SIZE:
		return "invalid chunk size";
	case HPE_INVALID_CONTENT_LENGTH:
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return "invalid Content-Length";
	case HPE_INVALID_TRANSFER_ENCODING:
		return "invalid Transfer-Encoding";
	case HPE_INVALID_METHOD:
		return "invalid method";
	case HPE_INVALID_URL:
		return "invalid request target";
	case HPE_INVALID_VERSION:
		return "invalid HTTP version";
	case HPE_HEADER_OVERFLOW:
		return "request header too large";
	default:
		return http_errno_description(err);
	}
}

/* Whether the parser may be fed more input now. */
static bool
conn_wants_input(struct http_conn *c)
{
	switch (c->state) {
	case CS_IDLE:
	case CS_HEAD:
		return !c->head_ready;
	case CS_DISPATCHED: {
		struct http_txn *txn = c->txn;
		if (txn == NULL || txn->body_done || !txn->req.has_body || txn->resp_done)
			return false;
		if (txn->body_mode == BODY_UNREAD || txn->body_paused)
			return false;
		return evbuffer_get_length(txn->body) < BODY_HWM;
	}
	case CS_LINGER:
	case CS_CLOSING:
		return false;
	}
	return false;
}

/* Gives the transaction its request id: the gateway's when trusted, else a random one. */
static void
txn_set_id(struct http_txn *txn, struct http_server *srv)
{
	const char *given =
	        srv->trust_request_id ? headers_get(&txn->req.headers, "X-Request-Id") : NULL;
	if (given != NULL && strlen(given) < sizeof(txn->id)) {
		snprintf(txn->id, sizeof(txn->id), "%s", given);
		return;
	}
	unsigned char rnd[8];
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(txn->id, sizeof(txn->id), rnd, sizeof(rnd));
}

/* Splits the target into path and query; false for a target we do not serve. */
static bool
request_split_target(struct http_request *req)
{
	const char *t = req->target;
	if (strncmp(t, "http://", 7) == 0 || strncmp(t, "https://", 8) == 0) {
		/* absolute form: the path starts after the authority ("http://" alone has none) */
		t = strchr(t + (t[4] == 's' ? 8 : 7), '/');
		if (t == NULL)
			t = "/";
	}
	if (t[0] != '/')
		return false;
	const char *q = strchr(t, '?');
	if (q != NULL) {
		req->path = xstrndup(t, (size_t)(q - t));
		req->query = xstrdup(q + 1);
	} else {
		req->path = xstrdup(t);
	}
	return true;
}

/* A head is read: checks what the handler must not see (target, version, peer), then calls it. */
static void
conn_dispatch(struct http_conn *c)
{
	struct http_txn *txn = c->txn;
	c->head_ready = false;
	conn_free_head_state(c);
	if (!request_split_target(&txn->req)) {
		conn_fail(c, 400, "invalid request target");
		return;
	}
	if (txn->req.http_major != 1) {
		conn_fail(c, 505, "only HTTP/1.x is served");
		return;
	}
	if (c->over_cap) {
		conn_fail_headers(c, 503, "too many connections; try again later",
		                  "Retry-After: 1\r\n");
		return;
	}
	if (c->srv->peer_allowed != NULL && !c->srv->peer_allowed(c->peer_uid)) {
		log_warn("refusing a connection from uid %d: not a peer of this daemon",
		         (int)c->peer_uid);
		conn_fail(c, 403, "the peer's user may not use this socket");
		return;
	}
	txn_set_id(txn, c->srv);
	c->state = CS_DISPATCHED;
	conn_set_timer(c, TK_NONE, 0);
	if (!http_should_keep_alive(&c->parser) || c->srv->draining)
		c->close_after = true;
	txn->head_only = strcmp(txn->req.method, "HEAD") == 0;
	log_set_request_id(txn->id);
	c->srv->handler(txn, c->srv->handler_arg);
	log_set_request_id(NULL);
}

/* Feeds input to the parser and moves transactions along; the one place a connection's state
 * advances from. */
static void
conn_process(struct http_conn *c)
{
	for (;;) {
		if (c->state == CS_LINGER) {
			struct evbuffer *in = c->in;
			evbuffer_drain(in, evbuffer_get_length(in));
			conn_resume_reading(c);
			return;
		}
		if (c->state == CS_CLOSING)
			return;
		struct http_txn *txn = c->txn;
		if (c->state == CS_DISPATCHED && txn != NULL) {
			if (txn->resp_done) {
				http_conn_splice_stop(c); /* answered before its body was all in */
				txn_complete(c);
				return; /* txn_complete reschedules when it keeps the connection */
			}
			txn_deliver_body(txn);
			if (c->txn != txn || txn->resp_done) {
				http_conn_schedule(c);
				return;
			}
			if (txn->body_mode != BODY_UNREAD && !txn->body_done && !txn->body_paused &&
			    evbuffer_get_length(txn->body) < BODY_HWM) {
				if (c->timer_kind != TK_BODY)
					conn_set_timer(c, TK_BODY, c->srv->limits.body_timeout);
			} else if (c->timer_kind == TK_BODY) {
				conn_set_timer(c, TK_NONE, 0);
			}
		}
		if (c->splice != NULL || !conn_wants_input(c))
			return;
		struct evbuffer *in = c->in;
		struct evbuffer_iovec iov;
		if (evbuffer_peek(in, -1, NULL, &iov, 1) < 1 || iov.iov_len == 0)
			return;
		size_t len = iov.iov_len < FEED_MAX ? iov.iov_len : FEED_MAX;
		c->feed_start = iov.iov_base;
		c->feed_end = (const char *)iov.iov_base + len;
		c->feed_taken = 0;
		if (c->state == CS_IDLE) {
			c->state = CS_HEAD;
			conn_set_timer(c, TK_HEAD, c->srv->limits.header_timeout);
		}
		size_t n = http_parser_execute(&c->parser, &parser_settings, iov.iov_base, len);
		enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
		if (c->txn != NULL && c->state == CS_DISPATCHED)
			c->txn->bytes_in += n;
		evbuffer_drain(in, n - c->feed_taken);
		conn_resume_reading(c);
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
		} else if (err != HPE_OK) {
			int status = 400;
			const char *msg = parser_error_message(err);
			if (err >= HPE_CB_message_begin && err <= HPE_CB_chunk_complete) {
				/* our own callbacks refused: they left the status in the txn */
				status = c->txn != NULL && c->txn->status ? c->txn->status : 400;
				msg = status == 414   ? "request target too long"
				      : status == 431 ? "request header fields too large"
				      : status == 413 ? "request body too large"
				                      : "bad request";
			} else if (err == HPE_HEADER_OVERFLOW) {
				status = 431;
			}
			conn_fail(c, status, msg);
			return;
		}
		if (c->head_ready) {
			conn_dispatch(c);
			if (c->state != CS_DISPATCHED)
				return;
		}
	}
}

/* ---- parser callbacks ------------------------------------------------------------------------ */

/* Starts the transaction of the request whose head is about to be read. */
static int
on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;
	c->target_read = false;
	if (c->state != CS_HEAD)
		return 0;
	struct http_txn *txn = xcalloc(1, sizeof(*txn));
	txn->conn = c;
	txn->route = -1;
	txn->start_us = now_monotonic_us();
	txn->body = evbuffer_new();
	txn->req.content_length = -1;
	headers_init(&txn->req.headers);
	headers_init(&txn->resp_extra);
	snprintf(txn->peer, sizeof(txn->peer), "%s", c->peer);
	txn->peer_unix = c->peer_unix;
	txn->peer_uid = c->peer_uid;
	c->txn = txn;
	return 0;
}

/* Counts bytes of the request head; false (431) past the limit on its size. */
static bool
head_grow(struct http_conn *c, size_t len)
{
	c->head_bytes += len;
	if (c->head_bytes > c->srv->limits.max_header_size) {
		c->txn->status = 431;
		return false;
	}
	return true;
}

/* Collects the request target, which may arrive in pieces (a piece that ends the input being
 * parsed may go on in the next); 414 past its limit. */
static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_txn *txn = c->txn;
	size_t old = txn->req.target ? strlen(txn->req.target) : 0;
	if (old + len > c->srv->limits.max_target) {
		txn->status = 414;
		return -1;
	}
	if (!head_grow(c, len))
		return -1;
	txn->req.target = xrealloc(txn->req.target, old + len + 1);
	memcpy(txn->req.target + old, at, len);
	txn->req.target[old + len] = '\0';
	c->target_read = at + len < c->feed_end;
	return 0;
}

/* Adds the header just read to the request; false (431) past the limit on their number. */
static bool
commit_header(struct http_conn *c)
{
	struct http_headers *h = &c->txn->req.headers;
	if (c->field.name != NULL && h->hd_count >= c->srv->limits.max_headers) {
		c->txn->status = 431;
		return false;
	}
	header_parts_commit(&c->field, h);
	return true;
}

/* Collects a header name, storing the previous header once its value is complete. */
static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (c->state != CS_HEAD)
		return 0; /* trailer fields of a chunked body: ignored */
	if (header_parts_done(&c->field) && !commit_header(c))
		return -1;
	if (!head_grow(c, len + 4))
		return -1;
	header_parts_name(&c->field, at, len);
	return 0;
}

/* Collects a header value, which may arrive in pieces. */
static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (c->state != CS_HEAD)
		return 0;
	if (!head_grow(c, len))
		return -1;
	header_parts_value(&c->field, at, len);
	return 0;
}

/* Records method, version and body framing, and pauses the parser to dispatch before the body. */
static int
on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	if (c->state != CS_HEAD)
		return 0;
	if (!commit_header(c))
		return -1;
	struct http_txn *txn = c->txn;
	struct http_request *req = &txn->req;
	if (req->target == NULL) {
		txn->status = 400;
		return -1;
	}
	req->method_id = p->method;
	req->method = http_method_str(p->method);
	req->http_major = p->http_major;
	req->http_minor = p->http_minor;
	req->chunked = (p->flags & F_CHUNKED) != 0;
	if (!req->chunked && p->content_length != ULLONG_MAX) {
		if (p->content_length > (uint64_t)INT64_MAX) {
			txn->status = 400;
			return -1;
		}
		req->content_length = (int64_t)p->content_length;
	}
	req->has_body = req->chunked || req->content_length > 0;
	c->head_ready = true;
	if (req->has_body)
		http_parser_pause(p, 1);
	return 0;
}

/* Queues body bytes for the handler: 413 past a buffered body's limit, a pause when it lags. */
static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_txn *txn = c->txn;
	if (txn == NULL)
		return 0;
	/* The bytes move from the input to the body: what the parser read before them goes, then
	 * they go over whole (a chain they end is moved, not copied). The memory stays where it is
	 * until the handler takes the body, after this call, so the parser may read on. */
	size_t before = (size_t)(at - c->feed_start) - c->feed_taken;
	evbuffer_drain(c->in, before);
	evbuffer_remove_buffer(c->in, txn->body, len);
	c->feed_taken += before + len;
	if (txn->body_mode == BODY_BUFFER && evbuffer_get_length(txn->body) > txn->read_max) {
		txn->status = 413;
		return -1;
	}
	if (evbuffer_get_length(txn->body) >= BODY_HWM)
		http_parser_pause(p, 1);
	return 0;
}

/* Marks the body complete and pauses, so the next request waits for this answer. */
static int
on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	if (c->txn != NULL)
		c->txn->body_done = true;
	http_conn_pace_off(c, bufferevent_getfd(c->bev));
	http_parser_pause(p, 1);
	return 0;
}

/* ---- transactions ---------------------------------------------------------------------------- */

void
http_txn_destroy(struct http_txn *txn)
{
	if (txn->data_free != NULL)
		txn->data_free(txn->data);
	free(txn->actor);
	free(txn->req.target);
	free(txn->req.path);
	free(txn->req.query);
	headers_clear(&txn->req.headers);
	headers_clear(&txn->resp_extra);
	if (txn->body != NULL)
		evbuffer_free(txn->body);
	free(txn);
}

/* The connection is gone: tell the handler, and free what nobody else holds. */
static void
txn_orphan(struct http_txn *txn)
{
	txn->conn = NULL;
	if (txn->resp_done) {
		http_txn_destroy(txn);
		return;
	}
	if (txn->body_mode == BODY_BUFFER && !txn->body_done) {
		/* The handler waits for a body that will not come: let it free what it holds. */
		http_read_cb done = txn->read_done;
		void *arg = txn->body_arg;
		http_txn_destroy(txn);
		if (done != NULL)
			done(NULL, NULL, arg);
		return;
	}
	if (txn->on_abort != NULL) {
		http_txn_cb cb = txn->on_abort;
		txn->on_abort = NULL;
		cb(txn, txn->abort_arg);
	}
}

/* The answer is complete: log it, free it, and go on with the connection. */
static void
txn_complete(struct http_conn *c)
{
	struct http_txn *txn = c->txn;
	bool body_left = txn->req.has_body && !txn->body_done;
	if (c->srv->on_complete != NULL)
		c->srv->on_complete(txn, c->srv->complete_arg);
	c->txn = NULL;
	c->served++;
	http_txn_destroy(txn);
	if (body_left) {
		conn_linger(c);
		return;
	}
	if (c->close_after || c->srv->draining) {
		conn_close_after_flush(c);
		return;
	}
	c->state = CS_IDLE;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	conn_set_timer(c, TK_IDLE, c->srv->limits.idle_timeout);
	if (evbuffer_get_length(c->in) > 0)
		http_conn_schedule(c);
}

/* Hands parsed body bytes to the handler the way it asked for them. */
static void
txn_deliver_body(struct http_txn *txn)
{
	switch (txn->body_mode) {
	case BODY_UNREAD:
		return;
	case BODY_STREAM:
		if (!txn->body_paused && evbuffer_get_length(txn->body) > 0) {
			txn->on_data(txn, txn->body, txn->body_arg);
			if (txn->resp_done || txn->conn == NULL)
				return;
		}
		if (txn->body_done && !txn->body_end_sent && evbuffer_get_length(txn->body) == 0 &&
		    !txn->body_paused) {
			txn->body_end_sent = true;
			if (txn->on_end != NULL)
				txn->on_end(txn, txn->body_arg);
		}
		return;
	case BODY_BUFFER:
		if (txn->body_done && !txn->body_end_sent) {
			txn->body_end_sent = true;
			txn->read_done(txn, txn->body, txn->body_arg);
		}
		return;
	}
}

/*
 * HTTP/1.1 client over unix sockets with keep-alive pools, streamed bodies and descriptor
 * passing. Reads use recvmsg() (not a bufferevent) so SCM_RIGHTS descriptors are not lost.
 */
#include "httpc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define READ_CHUNK (128 * 1024)
#define BODY_HWM (512 * 1024) /* stop reading beyond this much unconsumed response body */
#define OUT_FULL (512 * 1024) /* httpc_write() reports "full" beyond this */
#define OUT_LWM (128 * 1024)  /* on_drain below this */
#define MAX_IDLE 32
#define DEFAULT_MAX_OPEN 64
#define RETRY_FIRST_MS 2 /* a full listen backlog: the first wait before connecting again */
#define RETRY_MAX_MS 50
#define MAX_FDS 4
#define CALL_MAX_BODY (16 * 1024 * 1024)

struct hconn {
	struct httpc_pool *pool;
	int fd;
	struct event *rev, *wev, *timer, *kick;
	struct evbuffer *in, *out;
	http_parser parser;
	struct httpc_req *req;
	int fds[MAX_FDS];
	int nfds;
	bool reused;
	bool got_bytes; /* any answer byte for the current request */
	bool eof;
	bool kicked;
	bool waiting;   /* no connection yet: queued in the pool until one is free */
	char *fail_why; /* failure to report from the loop */
	TAILQ_ENTRY(hconn) link;
};

struct httpc_pool {
	struct event_base *base;
	char *path;
	int timeout;
	unsigned nidle;
	TAILQ_HEAD(, hconn) idle;
	unsigned nopen;    /* connected sockets, idle or busy */
	unsigned max_open; /* beyond this, requests wait for a connection */
	int retry_ms;      /* the wait before connecting again after a full backlog */
	struct event *retry;
	TAILQ_HEAD(, hconn) waiting; /* requests without a connection, oldest first */
};

struct httpc_req {
	struct hconn *conn;
	struct httpc_handlers h;
	void *arg;
	bool head_only;
	bool no_body; /* the head is all the request sends */
	bool chunked_out;
	int64_t body_left; /* Content-Length bytes still to write; -1 chunked */
	bool body_ended;
	struct evbuffer *head_copy; /* for one retry on a stale kept-alive connection */
	/* answer */
	int status;
	struct http_headers headers;
	struct header_parts field;
	bool head_ready, head_delivered;
	bool complete, keep_alive;
	bool paused;
	bool cancelled;
	int in_cb;
	struct evbuffer *body;
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_kick_cb(evutil_socket_t fd, short what, void *arg);
static void conn_process(struct hconn *c);
static void pool_retry_cb(evutil_socket_t fd, short what, void *arg);
static void pool_serve_waiting(struct httpc_pool *pool);
static void conn_close(struct hconn *c);
static void req_fail(struct hconn *c, const char *why);

static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings parser_settings = {
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* A pool of kept-alive connections to one backend's unix socket, opened as requests need them. */
struct httpc_pool *
httpc_pool_new(struct event_base *base, const char *unix_path)
{
	struct httpc_pool *pool = xcalloc(1, sizeof(*pool));
	pool->base = base;
	pool->path = xstrdup(unix_path);
	pool->timeout = 300;
	pool->max_open = DEFAULT_MAX_OPEN;
	TAILQ_INIT(&pool->idle);
	TAILQ_INIT(&pool->waiting);
	pool->retry = evtimer_new(base, pool_retry_cb, pool);
	return pool;
}

void
httpc_pool_set_max_open(struct httpc_pool *pool, unsigned n)
{
	pool->max_open = n > 0 ? n : 1;
}

void
httpc_pool_set_timeout(struct httpc_pool *pool, int seconds)
{
	pool->timeout = seconds;
}

const char *
httpc_pool_path(const struct httpc_pool *pool)
{
	return pool->path;
}

void
httpc_pool_free(struct httpc_pool *pool)
{
	struct hconn *c;
	while ((c = TAILQ_FIRST(&pool->idle)) != NULL)
		conn_close(c);
	event_free(pool->retry);
	free(pool->path);
	free(pool);
}

/* ---- connections ----------------------------------------------------------------------------- */

/* Arms the wait for the backend's answer, or stops it (seconds <= 0) while we hold it up. */
static void
conn_set_timer(struct hconn *c, int seconds)
{
	if (seconds <= 0) {
		evtimer_del(c->timer);
		return;
	}
	struct timeval tv = { seconds, 0 };
	evtimer_add(c->timer, &tv);
}

/* Connects to the pool's socket without blocking; NULL with *why when that fails at once (with
 * *busy set when only because the backend's listen backlog is full: worth a retry). */
static struct hconn *
conn_open(struct httpc_pool *pool, char **why, bool *busy)
{
	*busy = false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = xasprintf("socket: %s", strerror(errno));
		return NULL;
	}
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", pool->path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
		*busy = errno == EAGAIN;
		*why = xasprintf("cannot connect to %s: %s", pool->path, strerror(errno));
		close(fd);
		return NULL;
	}
	pool->nopen++;
	struct hconn *c = xcalloc(1, sizeof(*c));
	c->pool = pool;
	c->fd = fd;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(pool->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
	c->wev = event_new(pool->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
	c->timer = evtimer_new(pool->base, conn_timer_cb, c);
	c->kick = event_new(pool->base, -1, 0, conn_kick_cb, c);
	event_add(c->rev, NULL);
	return c;
}

/* A connection-less stand-in for a request: it keeps what the request writes until a
 * connection takes it over (waiting), or reports why none can be had (fail_why). */
static struct hconn *
conn_placeholder(struct httpc_pool *pool)
{
	struct hconn *c = xcalloc(1, sizeof(*c));
	c->pool = pool;
	c->fd = -1;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rev = event_new(pool->base, -1, 0, conn_read_cb, c);
	c->wev = event_new(pool->base, -1, 0, conn_write_cb, c);
	c->timer = evtimer_new(pool->base, conn_timer_cb, c);
	c->kick = event_new(pool->base, -1, 0, conn_kick_cb, c);
	return c;
}

/* Closes the descriptors the backend passed that the request's owner did not take. */
static void
conn_close_fds(struct hconn *c)
{
	for (int i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
}

/* Closes a connection for good, taking it off the idle list when it was there. */
static void
conn_close(struct hconn *c)
{
	if (c->req == NULL && c->pool != NULL) {
		struct hconn *it;
		TAILQ_FOREACH(it, &c->pool->idle, link)
		{
			if (it == c) {
				TAILQ_REMOVE(&c->pool->idle, c, link);
				c->pool->nidle--;
				break;
			}
		}
	}
	if (c->waiting) {
		TAILQ_REMOVE(&c->pool->waiting, c, link);
		c->waiting = false;
	}
	struct httpc_pool *pool = c->pool;
	bool was_open = c->fd >= 0;
	conn_close_fds(c);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->timer);
	event_free(c->kick);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	free(c->fail_why);
	if (was_open)
		close(c->fd);
	free(c);
	if (was_open && pool != NULL) {
		pool->nopen--;
		pool_serve_waiting(pool);
	}
}

/* Frees a request's answer state; the connection it used is the caller's to keep or close. */
static void
req_free(struct httpc_req *req)
{
	headers_clear(&req->headers);
	header_parts_clear(&req->field);
	if (req->body != NULL)
		evbuffer_free(req->body);
	if (req->head_copy != NULL)
		evbuffer_free(req->head_copy);
	free(req);
}

/* The answer is complete: hand the connection back to the pool or close it. */
static void
conn_release(struct hconn *c)
{
	struct httpc_req *req = c->req;
	bool reusable = req->keep_alive && req->body_ended && !req->cancelled && !c->eof &&
	                evbuffer_get_length(c->in) == 0 && evbuffer_get_length(c->out) == 0 &&
	                c->pool->nidle < MAX_IDLE;
	c->req = NULL;
	req_free(req);
	conn_close_fds(c);
	if (!reusable) {
		conn_close(c);
		return;
	}
	conn_set_timer(c, 0);
	event_del(c->wev);
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->reused = true;
	c->got_bytes = false;
	TAILQ_INSERT_HEAD(&c->pool->idle, c, link);
	c->pool->nidle++;
	pool_serve_waiting(c->pool);
}

/* Runs the connection from the loop soon, so a caller's call never re-enters its callbacks. */
static void
conn_kick(struct hconn *c)
{
	if (!c->kicked) {
		c->kicked = true;
		event_active(c->kick, EV_TIMEOUT, 0);
	}
}

/* The deferred run: reports a failure noted earlier, or moves the answer along. */
static void
conn_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	c->kicked = false;
	if (c->fail_why != NULL) {
		char *why = c->fail_why;
		c->fail_why = NULL;
		req_fail(c, why);
		free(why);
		return;
	}
	conn_process(c);
	(void)fd;
	(void)what;
}

/* Sends the request head again on a fresh connection after a kept-alive one turned out stale. */
static bool
req_retry(struct hconn *c)
{
	struct httpc_req *req = c->req;
	if (!c->reused || c->got_bytes || req->head_copy == NULL || !req->body_ended ||
	    req->in_cb > 0)
		return false;
	char *why = NULL;
	bool busy;
	struct hconn *fresh = conn_open(c->pool, &why, &busy);
	if (fresh == NULL) {
		free(why);
		return false;
	}
	c->req = NULL;
	conn_close(c);
	fresh->req = req;
	req->conn = fresh;
	http_parser_init(&fresh->parser, HTTP_RESPONSE);
	fresh->parser.data = req;
	evbuffer_add_buffer(fresh->out, req->head_copy);
	evbuffer_free(req->head_copy);
	req->head_copy = NULL;
	event_add(fresh->wev, NULL);
	conn_set_timer(fresh, fresh->pool->timeout);
	return true;
}

/* Reports a failure to the request's owner and frees both. */
static void
req_fail(struct hconn *c, const char *why)
{
	struct httpc_req *req = c->req;
	if (req == NULL) {
		conn_close(c);
		return;
	}
	if (req_retry(c))
		return;
	if (!req->cancelled && req->h.on_error != NULL) {
		req->in_cb++;
		req->h.on_error(req, why, req->arg);
		req->in_cb--;
	}
	c->req = NULL;
	req_free(req);
	conn_close(c);
}

/* Reading stops while the owner has not taken what was read (back-pressure). */
static bool
conn_wants_read(const struct hconn *c)
{
	const struct httpc_req *req = c->req;
	if (req == NULL)
		return true; /* idle: notice the backend closing */
	return !req->paused && evbuffer_get_length(req->body) < BODY_HWM &&
	       evbuffer_get_length(c->in) < BODY_HWM;
}

/* Watches the socket only while the answer may grow (back-pressure from the owner). */
static void
conn_update_read(struct hconn *c)
{
	if (c->fd < 0)
		return;
	if (conn_wants_read(c))
		event_add(c->rev, NULL);
	else
		event_del(c->rev);
}

/* Reads the answer with recvmsg(), keeping any descriptors passed with it (SCM_RIGHTS). */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	if (!conn_wants_read(c)) {
		event_del(c->rev);
		return;
	}
	struct evbuffer_iovec v[2];
	int nv = evbuffer_reserve_space(c->in, READ_CHUNK, v, 2);
	struct iovec iov[2];
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = iov,
		              .msg_iovlen = (size_t)nv,
		              .msg_control = ctl.buf,
		              .msg_controllen = sizeof(ctl.buf) };
	ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0) {
		evbuffer_commit_space(c->in, v, 0);
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (c->req == NULL) {
			conn_close(c);
			return;
		}
		char *why = xasprintf("read from %s: %s", c->pool->path, strerror(errno));
		req_fail(c, why);
		free(why);
		return;
	}
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int passed;
			memcpy(&passed, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nfds < MAX_FDS && c->req != NULL)
				c->fds[c->nfds++] = passed;
			else
				close(passed);
		}
	}
	size_t got = (size_t)n;
	for (int i = 0; i < nv; i++) {
		size_t take = got < v[i].iov_len ? got : v[i].iov_len;
		v[i].iov_len = take;
		got -= take;
	}
	evbuffer_commit_space(c->in, v, nv);
	if (c->req == NULL) {
		/* An idle connection closed (the backend drained or restarted), or sent garbage. */
		conn_close(c);
		return;
	}
	if (n == 0)
		c->eof = true;
	else
		c->got_bytes = true;
	if (c->req->body_ended && !c->req->paused)
		conn_set_timer(c, c->pool->timeout);
	conn_process(c);
	(void)what;
}

/* Writes the queued request; once below the low-water mark, asks the owner for more body. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	int n = evbuffer_write(c->out, fd);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		char *why = xasprintf("write to %s: %s", c->pool->path, strerror(errno));
		req_fail(c, why);
		free(why);
		return;
	}
	size_t left = evbuffer_get_length(c->out);
	if (left == 0)
		event_del(c->wev);
	struct httpc_req *req = c->req;
	if (req != NULL && left <= OUT_LWM && !req->body_ended && req->h.on_drain != NULL &&
	    !req->cancelled) {
		req->in_cb++;
		req->h.on_drain(req, req->arg);
		req->in_cb--;
		if (req->cancelled && req->in_cb == 0) {
			c->req = NULL;
			req_free(req);
			conn_close(c);
		}
	}
	(void)what;
}

/* The backend did not answer in time: the request fails. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	char *why = c->waiting ? xasprintf("no connection to %s within %d s (the backend is busy)",
	                                   c->pool->path, c->pool->timeout)
	                       : xasprintf("%s did not answer in time", c->pool->path);
	req_fail(c, why);
	free(why);
	(void)fd;
	(void)what;
}

/* Parses what arrived and hands it to the request's owner; the one place answers advance. */
static void
conn_process(struct hconn *c)
{
	for (;;) {
		struct httpc_req *req = c->req;
		if (req == NULL)
			return;
		if (req->cancelled) {
			if (req->in_cb == 0) {
				c->req = NULL;
				req_free(req);
				conn_close(c);
			}
			return;
		}
		if (req->head_ready && !req->head_delivered) {
			req->head_delivered = true;
			conn_set_timer(c, req->paused ? 0 : c->pool->timeout);
			if (req->h.on_head != NULL) {
				req->in_cb++;
				req->h.on_head(req, req->status, &req->headers, req->arg);
				req->in_cb--;
			}
			continue;
		}
		if (req->head_delivered && !req->paused && evbuffer_get_length(req->body) > 0) {
			size_t before = evbuffer_get_length(req->body);
			if (req->h.on_body != NULL) {
				req->in_cb++;
				req->h.on_body(req, req->body, req->arg);
				req->in_cb--;
			} else {
				evbuffer_drain(req->body, before);
			}
			if (req->cancelled)
				continue;
			if (evbuffer_get_length(req->body) == before && !req->complete &&
			    evbuffer_get_length(c->in) == 0) {
				conn_update_read(c);
				return;
			}
		}
		if (req->complete && evbuffer_get_length(req->body) == 0 && req->head_delivered) {
			if (!req->body_ended) {
				/* The backend answered before taking the whole body: the answer
				 * wins. */
				req->keep_alive = false;
			}
			if (req->h.on_end != NULL) {
				req->in_cb++;
				req->h.on_end(req, req->arg);
				req->in_cb--;
			}
			conn_release(c);
			return;
		}
		if (req->paused || evbuffer_get_length(req->body) >= BODY_HWM || req->complete) {
			conn_update_read(c);
			return;
		}
		size_t avail = evbuffer_get_length(c->in);
		if (avail == 0) {
			if (c->eof) {
				/* an answer delimited by the end of the connection */
				http_parser_execute(&c->parser, &parser_settings, NULL, 0);
				if (!req->complete) {
					char *why = xasprintf("%s closed the connection mid-answer",
					                      c->pool->path);
					req_fail(c, why);
					free(why);
					return;
				}
				continue;
			}
			conn_update_read(c);
			return;
		}
		struct evbuffer_iovec iov;
		evbuffer_peek(c->in, -1, NULL, &iov, 1);
		size_t n = http_parser_execute(&c->parser, &parser_settings, iov.iov_base,
		                               iov.iov_len);
		evbuffer_drain(c->in, n);
		enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
		} else if (err != HPE_OK) {
			char *why = xasprintf("bad answer from %s: %s", c->pool->path,
			                      http_errno_description(err));
			req_fail(c, why);
			free(why);
			return;
		}
	}
}

/* ---- parser callbacks ------------------------------------------------------------------------ */

/* Collects an answer header name, storing the previous header once its value is complete. */
static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct httpc_req *req = p->data;
	if (req->head_ready)
		return 0; /* trailers */
	if (header_parts_done(&req->field))
		header_parts_commit(&req->field, &req->headers);
	header_parts_name(&req->field, at, len);
	return 0;
}

/* Collects an answer header value, which may arrive in pieces. */
static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct httpc_req *req = p->data;
	if (req->head_ready)
		return 0;
	header_parts_value(&req->field, at, len);
	return 0;
}

/* Notes status and keep-alive of the final (not 1xx) answer, and pauses to deliver its head. A
 * status of fewer than three digits, which http-parser lets through, makes a bad answer. */
static int
on_headers_complete(http_parser *p)
{
	struct httpc_req *req = p->data;
	if (p->status_code < 100)
		return -1;
	header_parts_commit(&req->field, &req->headers);
	if (p->status_code >= 100 && p->status_code < 200) {
		headers_clear(&req->headers); /* an interim answer: the real one follows */
		return 0;
	}
	req->status = p->status_code;
	req->keep_alive = http_should_keep_alive(p);
	req->head_ready = true;
	http_parser_pause(p, 1);
	return req->head_only ? 1 : 0;
}

/* Queues answer body bytes, pausing the parser when the owner falls behind. */
static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct httpc_req *req = p->data;
	evbuffer_add(req->body, at, len);
	if (evbuffer_get_length(req->body) >= BODY_HWM)
		http_parser_pause(p, 1);
	return 0;
}

/* Marks the answer complete, and whether its connection may serve another request. */
static int
on_message_complete(http_parser *p)
{
	struct httpc_req *req = p->data;
	if (!req->head_ready)
		return 0; /* end of an interim 1xx answer */
	req->complete = true;
	req->keep_alive = req->keep_alive && http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

/* ---- requests waiting for a connection ------------------------------------------------------ */

/* Tries again after a full listen backlog, waiting twice as long each time (up to RETRY_MAX_MS). */
static void
pool_retry_later(struct httpc_pool *pool)
{
	pool->retry_ms = pool->retry_ms == 0              ? RETRY_FIRST_MS
	                 : pool->retry_ms >= RETRY_MAX_MS ? RETRY_MAX_MS
	                                                  : pool->retry_ms * 2;
	struct timeval tv = { 0, pool->retry_ms * 1000 };
	evtimer_add(pool->retry, &tv);
}

/* The retry timer: connect for the waiting requests again. */
static void
pool_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	pool_serve_waiting(arg);
	(void)fd;
	(void)what;
}

/* Hands live connection c to the request waiting in placeholder ph, which goes. */
static void
conn_adopt(struct hconn *c, struct hconn *ph)
{
	struct httpc_req *req = ph->req;
	TAILQ_REMOVE(&ph->pool->waiting, ph, link);
	ph->waiting = false;
	ph->req = NULL;
	c->req = req;
	req->conn = c;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = req;
	if (c->reused && req->no_body) {
		req->head_copy = evbuffer_new();
		evbuffer_add(req->head_copy, evbuffer_pullup(ph->out, -1),
		             evbuffer_get_length(ph->out));
	}
	evbuffer_add_buffer(c->out, ph->out);
	conn_close(ph);
	event_add(c->wev, NULL);
	if (req->body_ended && !req->paused)
		conn_set_timer(c, c->pool->timeout);
}

/* Gives the oldest waiting requests the connections there are: idle ones, or new ones while
 * fewer than max_open are open; a full backlog is tried again soon. */
static void
pool_serve_waiting(struct httpc_pool *pool)
{
	struct hconn *ph;
	while ((ph = TAILQ_FIRST(&pool->waiting)) != NULL) {
		struct hconn *c = TAILQ_FIRST(&pool->idle);
		if (c != NULL) {
			TAILQ_REMOVE(&pool->idle, c, link);
			pool->nidle--;
		} else if (pool->nopen < pool->max_open) {
			char *why = NULL;
			bool busy;
			c = conn_open(pool, &why, &busy);
			if (c == NULL && busy) {
				free(why);
				if (!evtimer_pending(pool->retry, NULL))
					pool_retry_later(pool);
				return;
			}
			if (c == NULL) {
				/* the backend is gone: the request fails now, from the loop */
				TAILQ_REMOVE(&pool->waiting, ph, link);
				ph->waiting = false;
				conn_set_timer(ph, 0);
				ph->fail_why = why;
				conn_kick(ph);
				continue;
			}
			pool->retry_ms = 0;
		} else {
			return; /* every connection is busy: the next release serves the queue */
		}
		conn_adopt(c, ph);
	}
}

/* ---- requests -------------------------------------------------------------------------------- */

struct httpc_req *
httpc_start(struct httpc_pool *pool, const char *method, const char *target,
            const struct http_headers *headers, int64_t body_length,
            const struct httpc_handlers *handlers, void *arg)
{
	struct httpc_req *req = xcalloc(1, sizeof(*req));
	req->h = *handlers;
	req->arg = arg;
	req->head_only = strcmp(method, "HEAD") == 0;
	req->body = evbuffer_new();
	headers_init(&req->headers);
	req->chunked_out = body_length < 0;
	req->body_left = body_length;
	req->body_ended = body_length == 0;

	req->no_body = body_length == 0;
	struct hconn *c = TAILQ_FIRST(&pool->idle);
	if (c != NULL && TAILQ_EMPTY(&pool->waiting)) {
		TAILQ_REMOVE(&pool->idle, c, link);
		pool->nidle--;
	} else {
		char *why = NULL;
		bool busy = true;
		c = NULL;
		if (pool->nopen < pool->max_open && TAILQ_EMPTY(&pool->waiting))
			c = conn_open(pool, &why, &busy);
		if (c == NULL) {
			struct hconn *ph = conn_placeholder(pool);
			ph->req = req;
			req->conn = ph;
			if (busy) {
				/* no connection free, or the backlog full: wait for one, at most
				 * the pool's timeout */
				free(why);
				ph->waiting = true;
				TAILQ_INSERT_TAIL(&pool->waiting, ph, link);
				conn_set_timer(ph, pool->timeout);
				if (pool->nopen < pool->max_open &&
				    !evtimer_pending(pool->retry, NULL))
					pool_retry_later(pool);
				c = ph;
			} else {
				/* Report from the loop, like every other failure. */
				ph->fail_why = why;
				conn_kick(ph);
				return req;
			}
		}
	}
	c->req = req;
	req->conn = c;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = req;

	struct evbuffer *head = evbuffer_new();
	evbuffer_add_printf(head, "%s %s HTTP/1.1\r\nHost: localhost\r\n", method, target);
	if (headers != NULL) {
		for (size_t i = 0; i < headers->hd_count; i++) {
			const char *n = headers->hd_list[i].name;
			if (headers_is_hop_by_hop(n) || str_eq_nocase(n, "Content-Length") ||
			    str_eq_nocase(n, "Host") || str_eq_nocase(n, "Expect"))
				continue;
			evbuffer_add_printf(head, "%s: %s\r\n", n, headers->hd_list[i].value);
		}
	}
	if (body_length > 0 ||
	    (body_length == 0 && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	                          strcmp(method, "PATCH") == 0)))
		evbuffer_add_printf(head, "Content-Length: %lld\r\n", (long long)body_length);
	else if (body_length < 0)
		evbuffer_add(head, "Transfer-Encoding: chunked\r\n", 28);
	evbuffer_add(head, "\r\n", 2);
	if (body_length == 0 && c->reused) {
		req->head_copy = evbuffer_new();
		evbuffer_add(req->head_copy, evbuffer_pullup(head, -1), evbuffer_get_length(head));
	}
	evbuffer_add_buffer(c->out, head);
	evbuffer_free(head);
	if (c->waiting)
		return req;
	event_add(c->wev, NULL);
	/* The answer timer runs once the request is out; a long upload is not a slow backend. */
	if (req->body_ended)
		conn_set_timer(c, pool->timeout);
	return req;
}

bool
httpc_write(struct httpc_req *req, struct evbuffer *data)
{
	struct hconn *c = req->conn;
	size_t len = evbuffer_get_length(data);
	if (len == 0 || req->body_ended) {
		evbuffer_drain(data, len);
		return false;
	}
	if (!req->chunked_out) {
		if ((int64_t)len > req->body_left) {
			log_error(
			        "request body longer than its Content-Length; extra bytes dropped");
			evbuffer_drain(data, len - (size_t)req->body_left);
			len = (size_t)req->body_left;
		}
		req->body_left -= (int64_t)len;
	} else {
		evbuffer_add_printf(c->out, "%zx\r\n", len);
	}
	evbuffer_remove_buffer(data, c->out, len);
	if (req->chunked_out)
		evbuffer_add(c->out, "\r\n", 2);
	if (c->fd >= 0)
		event_add(c->wev, NULL);
	return evbuffer_get_length(c->out) >= OUT_FULL;
}

int
httpc_body_fd(struct httpc_req *req)
{
	struct hconn *c = req->conn;
	if (c == NULL || c->fd < 0 || c->waiting || req->chunked_out || req->body_ended ||
	    req->cancelled || req->body_left <= 0 || evbuffer_get_length(c->out) != 0)
		return -1;
	return c->fd;
}

void
httpc_body_written(struct httpc_req *req, uint64_t n)
{
	req->body_left -= (int64_t)n;
}

void
httpc_end(struct httpc_req *req)
{
	if (req->body_ended)
		return;
	req->body_ended = true;
	if (req->conn->fd >= 0 && !req->paused && !req->conn->waiting)
		conn_set_timer(req->conn, req->conn->pool->timeout);
	if (req->chunked_out) {
		evbuffer_add(req->conn->out, "0\r\n\r\n", 5);
		if (req->conn->fd >= 0)
			event_add(req->conn->wev, NULL);
	} else if (req->body_left > 0) {
		req->keep_alive = false; /* a short body leaves the backend waiting: never reuse */
	}
}

void
httpc_pause(struct httpc_req *req, bool paused)
{
	if (req->paused == paused)
		return;
	req->paused = paused;
	struct hconn *c = req->conn;
	if (c->waiting)
		return; /* nothing was read yet; its deadline stands */
	conn_set_timer(c, paused || !req->body_ended ? 0 : c->pool->timeout);
	if (!paused)
		conn_kick(c);
}

void
httpc_cancel(struct httpc_req *req)
{
	struct hconn *c = req->conn;
	req->cancelled = true;
	if (req->in_cb > 0)
		return; /* freed when the callback returns */
	c->req = NULL;
	req_free(req);
	conn_close(c);
}

int
httpc_take_fd(struct httpc_req *req)
{
	struct hconn *c = req->conn;
	if (c->nfds == 0)
		return -1;
	int fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (size_t)(c->nfds - 1) * sizeof(int));
	c->nfds--;
	return fd;
}

/* ---- whole-answer calls ---------------------------------------------------------------------- */

struct call {
	httpc_done_cb done;
	void *arg;
	int status;
	struct http_headers headers;
	struct evbuffer *body;
	bool too_big;
};

/* Keeps the status and headers of an answer the caller gets whole. */
static void
call_head(struct httpc_req *req, int status, struct http_headers *headers, void *arg)
{
	struct call *call = arg;
	call->status = status;
	headers_copy(&call->headers, headers);
	(void)req;
}

/* Gathers the body of a whole answer, noting when it grows past CALL_MAX_BODY. */
static void
call_body(struct httpc_req *req, struct evbuffer *data, void *arg)
{
	struct call *call = arg;
	if (evbuffer_get_length(call->body) + evbuffer_get_length(data) > CALL_MAX_BODY) {
		call->too_big = true;
		evbuffer_drain(data, evbuffer_get_length(data));
		return;
	}
	evbuffer_add_buffer(call->body, data);
	(void)req;
}

/* Frees what a whole-answer call gathered. */
static void
call_free(struct call *call)
{
	headers_clear(&call->headers);
	evbuffer_free(call->body);
	free(call);
}

/* The answer is complete: hands it to the caller (-1 when it was too large). */
static void
call_end(struct httpc_req *req, void *arg)
{
	struct call *call = arg;
	if (call->too_big) {
		log_error("answer from %s larger than %d bytes", req->conn->pool->path,
		          CALL_MAX_BODY);
		call->done(-1, NULL, NULL, call->arg);
	} else {
		call->done(call->status, &call->headers, call->body, call->arg);
	}
	call_free(call);
}

/* The backend failed: logs why and tells the caller with status -1. */
static void
call_error(struct httpc_req *req, const char *why, void *arg)
{
	struct call *call = arg;
	log_warn("%s", why);
	call->done(-1, NULL, NULL, call->arg);
	call_free(call);
	(void)req;
}

/* Sends a request with a small body and calls done with the whole answer (see httpc.h). */
void
httpc_call(struct httpc_pool *pool, const char *method, const char *target,
           const struct http_headers *headers, const void *body, size_t len, httpc_done_cb done,
           void *arg)
{
	static const struct httpc_handlers handlers = {
		.on_head = call_head,
		.on_body = call_body,
		.on_end = call_end,
		.on_error = call_error,
	};
	struct call *call = xcalloc(1, sizeof(*call));
	call->done = done;
	call->arg = arg;
	call->body = evbuffer_new();
	headers_init(&call->headers);
	struct httpc_req *req =
	        httpc_start(pool, method, target, headers, (int64_t)len, &handlers, call);
	if (len > 0) {
		struct evbuffer *b = evbuffer_new();
		evbuffer_add(b, body, len);
		httpc_write(req, b);
		evbuffer_free(b);
	}
	httpc_end(req);
}

/*
 * A request body passed on without entering the process: the bytes go from the client's socket
 * into a pipe and from the pipe into another socket (a backend's) with splice(), which moves page
 * references instead of copying through user space. Only the middle of a Content-Length body is
 * spliced: what came with the head was read and parsed already, and the last byte is left to the
 * parser so that the request ends as any other (its body callback, then its end), keeping the
 * connection's state and keep-alive exactly as without splicing.
 *
 * While a splice runs, the connection's own reading is stopped; each byte taken from the client
 * renews the body timer, as reading does. The client leaving ends the connection as usual (the
 * handler's abort); the destination failing stops the splice, reports the error, and the rest of
 * the body is read and handed over by the normal path (the connection closes after the answer).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_internal.h"
#include "log.h"
#include "util.h"

#define SPLICE_PIPE_SIZE (1024 * 1024) /* asked of the pipe; the kernel may give less */

struct http_splice {
	struct http_conn *conn;
	int dest;
	int pipe[2];
	size_t cap;        /* the pipe's capacity */
	size_t piped;      /* bytes in the pipe */
	uint64_t left;     /* bytes still to take from the client */
	uint64_t moved;    /* bytes taken from the client */
	struct event *in;  /* the client readable */
	struct event *out; /* the destination writable */
	http_splice_cb done;
	void *arg;
};

static void splice_pump(struct http_splice *s);
static bool splice_fits(const struct http_conn *c, const struct http_txn *txn, uint64_t min);

/* Whether the body of txn may be spliced now: a Content-Length body read as a stream, nothing
 * of it buffered, and more than min bytes (and the last one) still in the socket. */
bool
http_txn_splice_ready(const struct http_txn *txn, uint64_t min)
{
	struct http_conn *c = txn->conn;
	return splice_fits(c, txn, min) && c->splice == NULL && txn->body_mode == BODY_STREAM &&
	       !txn->body_paused && evbuffer_get_length(c->in) == 0 &&
	       evbuffer_get_length(txn->body) == 0;
}

/* Whether the body left of txn, a Content-Length one read as a stream, is more than min. */
static bool
splice_fits(const struct http_conn *c, const struct http_txn *txn, uint64_t min)
{
	return c != NULL && c->txn == txn && c->state == CS_DISPATCHED && !txn->body_done &&
	       !txn->resp_done && !(c->parser.flags & F_CHUNKED) &&
	       c->parser.content_length != ULLONG_MAX && c->parser.content_length > min + 1;
}

void
http_txn_splice_prepare(struct http_txn *txn, uint64_t min)
{
	struct http_conn *c = txn->conn;
	if (!splice_fits(c, txn, min))
		return;
	txn->splice_wanted = true;
	event_del(c->rev);
}

/* The connection reads its socket again: a splice is done, stopped, or will not come. */
static void
splice_reading_on(struct http_conn *c)
{
	if (c->txn != NULL)
		c->txn->splice_wanted = false;
	c->read_stopped = false;
	http_conn_pace_body(c, bufferevent_getfd(c->bev));
	http_conn_watch(c);
}

/* Frees the splice's events and pipe; the connection reads by itself again. */
static void
splice_free(struct http_splice *s)
{
	struct http_conn *c = s->conn;
	c->splice = NULL;
	event_free(s->in);
	event_free(s->out);
	close(s->pipe[0]);
	close(s->pipe[1]);
	free(s);
}

/* Ends a splice: the parser and counters learn of the bytes that went past them, the splice's
 * events and pipe go, and the connection reads its socket again. Bytes left in the pipe never
 * reach the destination: the body is cut, so the connection cannot carry another request. */
static void
splice_end(struct http_splice *s)
{
	struct http_conn *c = s->conn;
	if (s->piped > 0)
		c->close_after = true;
	c->parser.content_length -= s->moved;
	if (c->txn != NULL)
		c->txn->bytes_in += s->moved;
	splice_free(s);
	splice_reading_on(c);
}

/* Ends the splice (splice_end) and tells the handler how it went (err 0: all moved; else the
 * destination's errno). */
static void
splice_finish(struct http_splice *s, int err)
{
	struct http_conn *c = s->conn;
	struct http_txn *txn = c->txn;
	uint64_t moved = s->moved - s->piped; /* what reached the destination */
	http_splice_cb done = s->done;
	void *arg = s->arg;
	splice_end(s);
	http_conn_schedule(c);
	done(txn, moved, err, arg);
}

/* Readable client or writable destination: moves what can move. */
static void
splice_event(evutil_socket_t fd, short what, void *arg)
{
	splice_pump(arg);
	(void)fd;
	(void)what;
}

/* Moves bytes client -> pipe -> destination until one side would block, then waits for it. */
static void
splice_pump(struct http_splice *s)
{
	struct http_conn *c = s->conn;
	int client = bufferevent_getfd(c->bev);
	bool want_in = false, want_out = false;
	for (;;) {
		bool moved = false;
		want_in = want_out = false;
		if (s->left > 0 && s->piped < s->cap) {
			size_t ask = s->cap - s->piped;
			if ((uint64_t)ask > s->left)
				ask = (size_t)s->left;
			ssize_t n = splice(client, NULL, s->pipe[1], NULL, ask,
			                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				s->left -= (uint64_t)n;
				s->moved += (uint64_t)n;
				s->piped += (size_t)n;
				moved = true;
				http_conn_body_progress(c);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* the client left: the connection ends, its handler hears it */
				http_conn_close(c);
				return;
			} else {
				want_in = true;
			}
		}
		if (s->piped > 0) {
			ssize_t n = splice(s->pipe[0], NULL, s->dest, NULL, s->piped,
			                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				s->piped -= (size_t)n;
				moved = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				splice_finish(s, errno);
				return;
			} else {
				want_out = true;
			}
		}
		if (s->left == 0 && s->piped == 0) {
			splice_finish(s, 0);
			return;
		}
		if (!moved)
			break;
	}
	if (want_in)
		event_add(s->in, NULL);
	else
		event_del(s->in);
	if (want_out)
		event_add(s->out, NULL);
	else
		event_del(s->out);
}

bool
http_txn_splice_body(struct http_txn *txn, int dest, uint64_t min, http_splice_cb done, void *arg)
{
	if (!http_txn_splice_ready(txn, min))
		return false;
	struct http_conn *c = txn->conn;
	struct http_splice *s = xcalloc(1, sizeof(*s));
	if (pipe2(s->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		log_warn("splice: pipe: %s", strerror(errno));
		free(s);
		return false;
	}
	int cap = fcntl(s->pipe[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
	if (cap < 0)
		cap = fcntl(s->pipe[1], F_GETPIPE_SZ);
	s->cap = cap > 0 ? (size_t)cap : 65536;
	s->conn = c;
	s->dest = dest;
	s->left = c->parser.content_length - 1; /* the last byte goes through the parser */
	s->done = done;
	s->arg = arg;
	struct event_base *base = c->srv->base;
	s->in = event_new(base, bufferevent_getfd(c->bev), EV_READ | EV_PERSIST, splice_event, s);
	s->out = event_new(base, dest, EV_WRITE | EV_PERSIST, splice_event, s);
	c->splice = s;
	event_del(c->rev);
	/* not paced: each of its wake-ups moves up to a pipe's worth */
	http_conn_pace_off(c, bufferevent_getfd(c->bev));
	splice_pump(s);
	return true;
}

void
http_txn_splice_stop(struct http_txn *txn)
{
	if (txn->conn != NULL && txn->conn->txn == txn)
		http_conn_splice_stop(txn->conn);
}

void
http_conn_splice_stop(struct http_conn *c)
{
	if (c->splice == NULL) {
		if (c->txn != NULL && c->txn->splice_wanted)
			splice_reading_on(c);
		return;
	}
	splice_end(c->splice);
}

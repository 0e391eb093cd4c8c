/*
 * Pacing of a request body's reads. While a body streams in over TCP, the socket wakes the worker
 * only once PACE_BYTES have arrived (SO_RCVLOWAT), or PACE_WAKE_MS after it was last read, so a
 * client that sends 32 KiB chunks (docker, skopeo and podman do) costs one read, one write to the
 * backend and one wake-up of each per quarter MiB instead of per chunk. What is on the socket is
 * still read whole when the worker wakes (a non-blocking read does not wait for the mark).
 *
 * The timer keeps the body moving when the client sends less than the mark and then waits (the
 * end of a chunked body, a slow client): the mark is never raised without it. A Content-Length
 * body's mark is capped at the bytes still to come, so its end wakes the worker at once. The mark
 * falls back to one byte as soon as the body is complete: the next request's head is not paced.
 * A body is paced from its second quarter MiB on: a small one (a manifest, an API call's JSON)
 * never waits for the timer. A spliced body (http_splice.c) is not paced: each of its wake-ups
 * moves up to a pipe's worth already, and marks on its socket measured 7% more CPU per GiB. Unix
 * sockets are left alone: only the gateway's clients send bodies this way.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <sys/socket.h>

#include "http_internal.h"

#define PACE_BYTES READ_CHUNK /* what one read takes: wake when that much is there */
#define PACE_WAKE_MS 2        /* the longest a paced body's bytes wait to be read */

/* Sets the socket's low-water mark to bytes (1: every byte wakes), if it is not that already. */
static void
pace_mark(struct http_conn *c, int fd, size_t bytes)
{
	int mark = bytes < 1 ? 1 : bytes > PACE_BYTES ? PACE_BYTES : (int)bytes;
	if (c->peer_unix || mark == c->rcvlowat)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof(mark)) == 0)
		c->rcvlowat = mark;
}

/* The timer of a watch of the socket: NULL while the mark is one byte. */
static const struct timeval *
pace_wake(const struct http_conn *c)
{
	static const struct timeval wake = { 0, PACE_WAKE_MS * 1000 };
	return c->rcvlowat > 1 ? &wake : NULL;
}

void
http_conn_watch(struct http_conn *c)
{
	event_add(c->rev, pace_wake(c));
}

/* Re-arms the socket's watch with or without the timer when the mark crossed one byte, if it is
 * watched at all (a stopped, spliced or closing connection is not). */
static void
pace_rearm(struct http_conn *c, int before)
{
	if ((before > 1) != (c->rcvlowat > 1) && event_pending(c->rev, EV_READ, NULL))
		http_conn_watch(c);
}

void
http_conn_pace_body(struct http_conn *c, int fd)
{
	struct http_txn *txn = c->txn;
	int before = c->rcvlowat;
	if (c->state != CS_DISPATCHED || txn == NULL || txn->body_done || !txn->req.has_body ||
	    txn->bytes_in < PACE_BYTES) {
		pace_mark(c, fd, 1); /* no body, or one not large so far: every byte wakes */
	} else if (txn->req.chunked) {
		pace_mark(c, fd, PACE_BYTES);
	} else {
		/* content_length: what the parser has not taken yet, some of it in the input */
		uint64_t unparsed = evbuffer_get_length(c->in);
		uint64_t left = c->parser.content_length;
		pace_mark(c, fd, left > unparsed ? (size_t)(left - unparsed) : 1);
	}
	pace_rearm(c, before);
}

void
http_conn_pace_off(struct http_conn *c, int fd)
{
	int before = c->rcvlowat;
	pace_mark(c, fd, 1);
	pace_rearm(c, before);
}

/*
 * The HTTP server (common/http_server.c, http_txn.c) and client (common/httpc.c) of the daemons,
 * driven by the fuzz targets over real unix sockets in one libevent loop: the harness is the
 * client of the server and the backend of the client, and sends each input as the bytes a peer
 * would. "Settling" runs the loop until nothing moves (no event active, every byte sent taken,
 * nothing more answered), so that the pieces an input is cut into reach the code under test
 * one by one, as slow peers send them.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"
#include "fuzz.h"
#include "log.h"
#include "util.h"

/* Loop passes without movement that count as settled, and the most passes a wait may take. */
#define QUIET_PASSES 2
#define MAX_PASSES 100000

static struct event_base *base;
static struct http_server *server;
static char *server_path, *backend_path;
static int backend_fd = -1;
static bool trace; /* FUZZ_TRACE set: the bytes sent and answered go to stderr */

struct event_base *
fuzz_base(void)
{
	if (base == NULL) {
		log_set_level(LOG_ERROR);
		trace = getenv("FUZZ_TRACE") != NULL;
		base = event_base_new();
		if (base == NULL)
			fuzz_fail("event_base_new failed");
	}
	return base;
}

/* A listening unix socket at path, non-blocking. */
static int
listen_unix(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 64) < 0)
		fuzz_fail("cannot listen on %s: %s", path, strerror(errno));
	return fd;
}

/* Bytes written to fd that its peer has not read yet. */
static int
unread(int fd)
{
	int n = 0;
	if (ioctl(fd, SIOCOUTQ, &n) < 0)
		fuzz_fail("SIOCOUTQ: %s", strerror(errno));
	return n;
}

/* Reads what fd holds without blocking, counting it in *got; true at the end of its stream. */
static bool
drain(int fd, size_t *got)
{
	char buf[16384];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			*got += (size_t)n;
			if (trace)
				fprintf(stderr, "<<< %.*s\n", (int)n, buf);
			continue;
		}
		if (n == 0)
			return true;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return false;
		return true; /* reset: the peer is gone */
	}
}

/* Runs the loop until nothing moves: no active event, fd's peer took no more of what we sent
 * and sent nothing more (counted in *got); fd -1: the events alone. */
static void
settle(int fd, size_t *got)
{
	int quiet = 0, last = -1;
	for (int i = 0; i < MAX_PASSES && quiet < QUIET_PASSES; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		size_t before = *got;
		int left = -1;
		if (fd >= 0) {
			drain(fd, got);
			left = unread(fd);
		}
		bool moved = *got != before || left != last ||
		             event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) > 0;
		last = left;
		quiet = moved ? 0 : quiet + 1;
	}
}

/* Sends data in pieces cut at cuts[] over fd, settling after each piece. */
static void
send_pieces(int fd, const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts, size_t *got)
{
	size_t at = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		if (trace)
			fprintf(stderr, ">>> %.*s\n", (int)(end - at), data + at);
		while (at < end) {
			ssize_t n = send(fd, data + at, end - at, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0) {
				at += (size_t)n;
			} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				int before = unread(fd);
				settle(fd, got); /* the socket is full: let the peer read */
				if (unread(fd) == before)
					return; /* it reads no more: the rest is not sent */
			} else if (n < 0 && errno != EINTR) {
				return; /* the peer closed the connection */
			}
		}
		settle(fd, got);
	}
}

void
fuzz_server_start(http_handler handler, void *arg, const struct http_limits *limits)
{
	server_path = xasprintf("%s/server.sock", fuzz_dir());
	int fd = listen_unix(server_path);
	server = http_server_new(fuzz_base(), fd, limits, handler, arg);
	http_server_set_error_body(server, error_server_body);
}

size_t
fuzz_server_exchange(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", server_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fuzz_fail("cannot connect to %s: %s", server_path, strerror(errno));
	size_t got = 0;
	settle(fd, &got); /* accepted */
	send_pieces(fd, data, len, cuts, ncuts, &got);
	shutdown(fd, SHUT_WR);
	bool eof = false;
	for (int i = 0; i < MAX_PASSES && (http_server_connections(server) > 0 || !eof); i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		eof = drain(fd, &got) || eof;
	}
	if (http_server_connections(server) > 0)
		fuzz_fail("the server kept a connection its client closed");
	close(fd);
	/* What the handlers scheduled after the connection went (none should be left). */
	settle(-1, &got);
	return got;
}

const char *
fuzz_backend_path(void)
{
	if (backend_path == NULL) {
		backend_path = xasprintf("%s/backend.sock", fuzz_dir());
		backend_fd = listen_unix(backend_path);
	}
	return backend_path;
}

void
fuzz_backend_answer(const uint8_t *data, size_t len, const size_t *cuts, size_t ncuts,
                    bool (*finished)(void *arg), void *arg)
{
	fuzz_backend_path();
	int fd = accept4(backend_fd, NULL, NULL, SOCK_CLOEXEC);
	size_t got = 0;
	if (fd >= 0) {
		send_pieces(fd, data, len, cuts, ncuts, &got);
		shutdown(fd, SHUT_WR);
	}
	/* The client may fail before it connects (then there is nothing to accept). */
	for (int i = 0; i < MAX_PASSES && !finished(arg); i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (fd >= 0)
			drain(fd, &got);
	}
	if (!finished(arg))
		fuzz_fail("the client never finished its request");
	if (fd >= 0)
		close(fd);
}

/*
 * The server and the client reserve 256 KiB (128 KiB) of buffer for every read. ASan maps each
 * allocation above 128 KiB afresh and unmaps it when freed, which made every connection cost
 * milliseconds; the targets are linked with --wrap=evbuffer_reserve_space so that a read
 * reserves at most READ_CAP instead. The inputs are smaller than that, so a read still takes
 * whatever the socket holds, as it would with the full reservation.
 */
#define READ_CAP (32 * 1024)

int __real_evbuffer_reserve_space(struct evbuffer *buf, ev_ssize_t size, struct evbuffer_iovec *vec,
                                  int n_vec);
int __wrap_evbuffer_reserve_space(struct evbuffer *buf, ev_ssize_t size, struct evbuffer_iovec *vec,
                                  int n_vec);

int
__wrap_evbuffer_reserve_space(struct evbuffer *buf, ev_ssize_t size, struct evbuffer_iovec *vec,
                              int n_vec)
{
	return __real_evbuffer_reserve_space(buf, size < READ_CAP ? size : READ_CAP, vec, n_vec);
}

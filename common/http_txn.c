/*
 * The transaction API handlers use: reading request bodies (streamed or whole), answering
 * (whole, streamed, from a file with sendfile(), or with a passed descriptor), back-pressure
 * callbacks. Connections and parsing are in http_server.c; http.h has the ownership rules.
 */
#include "http_internal.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct http_request *
http_txn_request(struct http_txn *txn)
{
	return &txn->req;
}

const char *
http_txn_id(const struct http_txn *txn)
{
	return txn->id;
}

const char *
http_txn_peer(const struct http_txn *txn)
{
	return txn->peer;
}

bool
http_txn_peer_is_unix(const struct http_txn *txn)
{
	return txn->peer_unix;
}

uid_t
http_txn_peer_uid(const struct http_txn *txn)
{
	return txn->peer_uid;
}

bool
http_txn_aborted(const struct http_txn *txn)
{
	return txn->conn == NULL;
}

void
http_txn_set_data(struct http_txn *txn, void *data, void (*free_fn)(void *data))
{
	txn->data = data;
	txn->data_free = free_fn;
}

void *
http_txn_data(const struct http_txn *txn)
{
	return txn->data;
}

void
http_txn_set_route(struct http_txn *txn, int route)
{
	txn->route = route;
}

int
http_txn_route(const struct http_txn *txn)
{
	return txn->route;
}

void
http_txn_set_actor(struct http_txn *txn, const char *name)
{
	free(txn->actor);
	txn->actor = name != NULL && *name != '\0' ? xstrdup(name) : NULL;
}

const char *
http_txn_actor(const struct http_txn *txn)
{
	return txn->actor;
}

int
http_txn_status(const struct http_txn *txn)
{
	return txn->status;
}

uint64_t
http_txn_bytes_in(const struct http_txn *txn)
{
	return txn->bytes_in;
}

uint64_t
http_txn_bytes_out(const struct http_txn *txn)
{
	return txn->bytes_out;
}

uint64_t
http_txn_duration_us(const struct http_txn *txn)
{
	return now_monotonic_us() - txn->start_us;
}

/* Sends "100 Continue" once, when a client waits for it before sending the body we now read. */
static void
send_continue(struct http_txn *txn)
{
	if (txn->continue_sent || txn->resp_started || txn->conn == NULL)
		return;
	txn->continue_sent = true;
	if (txn->req.http_minor >= 1 &&
	    headers_has_token(&txn->req.headers, "Expect", "100-continue"))
		evbuffer_add(bufferevent_get_output(txn->conn->bev),
		             "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

void
http_txn_read_stream(struct http_txn *txn, http_body_cb on_data, http_txn_cb on_end, void *arg)
{
	txn->body_mode = BODY_STREAM;
	txn->on_data = on_data;
	txn->on_end = on_end;
	txn->body_arg = arg;
	send_continue(txn);
	http_conn_schedule(txn->conn);
}

void
http_txn_pause_body(struct http_txn *txn, bool paused)
{
	if (txn->body_paused == paused)
		return;
	txn->body_paused = paused;
	if (!paused)
		http_conn_schedule(txn->conn);
}

void
http_txn_read_body(struct http_txn *txn, size_t max, http_read_cb done, void *arg)
{
	if (txn->req.content_length > 0 && (uint64_t)txn->req.content_length > max) {
		http_txn_close_after(txn);
		http_txn_respond(txn, 413, NULL, NULL, 0);
		done(NULL, NULL, arg);
		return;
	}
	txn->body_mode = BODY_BUFFER;
	txn->read_max = max;
	txn->read_done = done;
	txn->body_arg = arg;
	if (!txn->req.has_body)
		txn->body_done = true;
	send_continue(txn);
	http_conn_schedule(txn->conn);
}

void
http_txn_on_abort(struct http_txn *txn, http_txn_cb cb, void *arg)
{
	txn->on_abort = cb;
	txn->abort_arg = arg;
}

void
http_txn_on_drain(struct http_txn *txn, http_txn_cb cb, void *arg)
{
	txn->on_drain = cb;
	txn->drain_arg = arg;
}

void
http_txn_close_after(struct http_txn *txn)
{
	if (txn->conn != NULL)
		txn->conn->close_after = true;
}

/* The Date header's value, formatted once per second rather than per answer. */
static const char *
http_date(void)
{
	static char buf[64];
	static time_t cached;
	time_t now = time(NULL);
	if (now != cached) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cached = now;
	}
	return buf;
}

/* Writes the status line and headers; chooses the body's framing and whether to close after. */
static void
txn_write_head(struct http_txn *txn, int status, const struct http_headers *headers,
               int64_t content_length)
{
	struct http_conn *c = txn->conn;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	txn->status = status;
	txn->resp_started = true;
	txn->no_body_status = status == 204 || status == 304 || (status >= 100 && status < 200);
	if (txn->req.has_body && !txn->body_done)
		c->close_after = true; /* the unread rest of the body is discarded, then we close */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	if (headers != NULL) {
		for (size_t i = 0; i < headers->hd_count; i++) {
			const char *n = headers->hd_list[i].name;
			if (str_eq_nocase(n, "Content-Length") ||
			    str_eq_nocase(n, "Transfer-Encoding") || str_eq_nocase(n, "Connection"))
				continue;
			evbuffer_add_printf(out, "%s: %s\r\n", n, headers->hd_list[i].value);
		}
	}
	if (!txn->no_body_status) {
		if (content_length >= 0) {
			evbuffer_add_printf(out, "Content-Length: %lld\r\n",
			                    (long long)content_length);
			txn->resp_remaining = content_length;
		} else if (txn->req.http_minor == 0) {
			c->close_after = true; /* HTTP/1.0: the end of the body is the end of the
			                          connection */
			txn->resp_remaining = -1;
		} else {
			evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
			txn->resp_chunked = true;
			txn->resp_remaining = -1;
		}
	}
	for (size_t i = 0; i < txn->resp_extra.hd_count; i++)
		if (headers == NULL ||
		    headers_get(headers, txn->resp_extra.hd_list[i].name) == NULL)
			evbuffer_add_printf(out, "%s: %s\r\n", txn->resp_extra.hd_list[i].name,
			                    txn->resp_extra.hd_list[i].value);
	if (headers == NULL || headers_get(headers, "X-Request-Id") == NULL)
		evbuffer_add_printf(out, "X-Request-Id: %s\r\n", txn->id);
	evbuffer_add_printf(out, "Date: %s\r\n", http_date());
	if (c->close_after || c->srv->draining)
		evbuffer_add(out, "Connection: close\r\n", 19);
	else if (txn->req.http_minor == 0)
		evbuffer_add(out, "Connection: keep-alive\r\n", 24);
	evbuffer_add(out, "\r\n", 2);
}

void
http_txn_set_header(struct http_txn *txn, const char *name, const char *value)
{
	headers_set(&txn->resp_extra, name, value);
}

void
http_txn_start_response(struct http_txn *txn, int status, const struct http_headers *headers,
                        int64_t content_length)
{
	if (txn->resp_started)
		fatal("response started twice for %s %s", txn->req.method, txn->req.target);
	txn->status = status;
	if (txn->conn == NULL) {
		txn->resp_started = true;
		return;
	}
	txn_write_head(txn, status, headers, content_length);
}

bool
http_txn_write(struct http_txn *txn, struct evbuffer *data)
{
	size_t len = evbuffer_get_length(data);
	if (txn->conn == NULL || txn->head_only || txn->no_body_status || len == 0) {
		evbuffer_drain(data, len);
		return false;
	}
	struct evbuffer *out = bufferevent_get_output(txn->conn->bev);
	if (txn->resp_remaining >= 0) {
		if ((int64_t)len > txn->resp_remaining) {
			log_error("handler wrote %zu bytes past Content-Length",
			          len - (size_t)txn->resp_remaining);
			evbuffer_drain(data, len - (size_t)txn->resp_remaining);
			len = (size_t)txn->resp_remaining;
		}
		txn->resp_remaining -= (int64_t)len;
	}
	if (txn->resp_chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_remove_buffer(data, out, len);
	if (txn->resp_chunked)
		evbuffer_add(out, "\r\n", 2);
	txn->bytes_out += len;
	return evbuffer_get_length(out) >= OUTPUT_FULL;
}

void
http_txn_write_file(struct http_txn *txn, int fd, off_t offset, off_t len)
{
	if (txn->conn == NULL || txn->head_only || txn->no_body_status || len == 0) {
		close(fd);
		return;
	}
	struct evbuffer *out = bufferevent_get_output(txn->conn->bev);
	if (txn->resp_remaining >= 0) {
		if (len > txn->resp_remaining)
			len = txn->resp_remaining;
		txn->resp_remaining -= len;
	}
	if (txn->resp_chunked)
		evbuffer_add_printf(out, "%llx\r\n", (unsigned long long)len);
	if (evbuffer_add_file(out, fd, offset, len) < 0) {
		/* the answer comes out short; http_txn_end_response() then closes the connection */
		log_error("evbuffer_add_file failed");
		close(fd);
		return;
	}
	if (txn->resp_chunked)
		evbuffer_add(out, "\r\n", 2);
	txn->bytes_out += (uint64_t)len;
}

bool
http_txn_output_full(const struct http_txn *txn)
{
	if (txn->conn == NULL)
		return false;
	return evbuffer_get_length(bufferevent_get_output(txn->conn->bev)) >= OUTPUT_FULL;
}

void
http_txn_end_response(struct http_txn *txn)
{
	if (txn->resp_done)
		fatal("response ended twice");
	txn->resp_done = true;
	struct http_conn *c = txn->conn;
	if (c == NULL) {
		http_txn_destroy(txn);
		return;
	}
	if (txn->resp_chunked)
		evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
	else if (txn->resp_remaining > 0 && !txn->head_only)
		c->close_after = true; /* short body: the client must not reuse this connection */
	http_conn_schedule(c);
}

void
http_txn_respond_buf(struct http_txn *txn, int status, const struct http_headers *headers,
                     struct evbuffer *buf)
{
	size_t len = buf ? evbuffer_get_length(buf) : 0;
	http_txn_start_response(txn, status, headers, (int64_t)len);
	if (buf != NULL)
		http_txn_write(txn, buf);
	http_txn_end_response(txn);
}

void
http_txn_respond(struct http_txn *txn, int status, const struct http_headers *headers,
                 const void *body, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	if (len > 0)
		evbuffer_add(buf, body, len);
	http_txn_respond_buf(txn, status, headers, buf);
	evbuffer_free(buf);
}

/* Drops bytes we sent ourselves from a bufferevent's output. A socket bufferevent freezes the
 * start of its output buffer (only its own writes may remove bytes), so evbuffer_drain() alone
 * would fail and the bytes would go out a second time. */
static void
output_drain(struct evbuffer *out, size_t len)
{
	evbuffer_unfreeze(out, 1);
	evbuffer_drain(out, len);
	evbuffer_freeze(out, 1);
}

int
http_txn_respond_fd(struct http_txn *txn, int status, const struct http_headers *headers, int fd)
{
	struct http_conn *c = txn->conn;
	if (c == NULL) {
		http_txn_start_response(txn, status, headers, 0);
		http_txn_end_response(txn);
		return -1;
	}
	struct evbuffer *out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) != 0) {
		/* The descriptor must ride on the head's first byte; bytes queued before it would
		 * separate them. The client reads whole answers before asking again, so this is a
		 * bug. */
		log_error("cannot pass a descriptor behind %zu queued bytes",
		          evbuffer_get_length(out));
		http_txn_close_after(txn);
		http_txn_respond(txn, 503, NULL, NULL, 0);
		return -1;
	}
	http_txn_start_response(txn, status, headers, 0);
	size_t len = evbuffer_get_length(out);
	unsigned char *head = evbuffer_pullup(out, (ssize_t)len);
	struct iovec iov = { .iov_base = head, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr msg = { .msg_iov = &iov,
		              .msg_iovlen = 1,
		              .msg_control = ctl.buf,
		              .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ssize_t n;
	do {
		n = sendmsg(bufferevent_getfd(c->bev), &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		log_error("sendmsg with descriptor: %s", n < 0 ? strerror(errno) : "nothing sent");
		output_drain(out, len);
		http_txn_close_after(txn);
		http_txn_end_response(txn);
		return -1;
	}
	output_drain(out, (size_t)n); /* whatever sendmsg did not take goes out the usual way */
	http_txn_end_response(txn);
	return 0;
}

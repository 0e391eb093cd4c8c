/*
 * HTTP/1.1 server on libevent bufferevents and http-parser, shared by all four daemons.
 *
 * One connection handles one transaction (request + response) at a time; keep-alive and
 * pipelining follow. Bodies stream both ways with back-pressure: the server stops reading the
 * socket while the handler has not taken what was already read, and tells the handler when its
 * output has drained. Limits (request target, header block, header count) and timeouts (header
 * deadline, idle keep-alive, body inactivity) protect the worker from slow or hostile clients.
 *
 * Ownership: the handler owns the transaction from dispatch until it finishes the response
 * (http_txn_respond*, or http_txn_end_response after http_txn_start_response). If the client goes
 * away first, the transaction is "orphaned": the abort callback runs, response calls become no-ops,
 * and finishing the response frees it. A handler that only waits in http_txn_read_body() needs no
 * abort callback: an aborted or oversized read frees the transaction and calls back with NULLs.
 */
#ifndef REGISTRY_HTTP_H
#define REGISTRY_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "headers.h"

struct event_base;
struct evbuffer;
struct http_server;
struct http_txn;

struct http_limits {
	size_t max_target;      /* request target bytes: 414 beyond */
	size_t max_header_size; /* request line + header block bytes: 431 beyond */
	size_t max_headers;     /* header fields: 431 beyond */
	int header_timeout;     /* seconds from a request's first byte to the end of its headers */
	int idle_timeout;       /* seconds a kept-alive connection may wait for the next request */
	int body_timeout;       /* seconds without progress reading a body or writing a response */
	int max_connections;    /* connections served at once (0: no cap); past it, 503 and close */
};

struct http_request {
	const char *method; /* "GET", ... */
	int method_id;      /* http-parser's enum http_method */
	char *target;       /* raw request target: path and query */
	char *path;         /* raw path (still percent-encoded), without the query */
	char *query;        /* raw query without '?', or NULL */
	int http_major, http_minor;
	struct http_headers headers;
	int64_t content_length; /* -1 when absent */
	bool chunked;
	bool has_body; /* Content-Length > 0 or chunked */
};

typedef void (*http_handler)(struct http_txn *txn, void *arg);
typedef void (*http_txn_cb)(struct http_txn *txn, void *arg);
/* Body bytes are in buf; take what you can (drain it), leave the rest for the next call. */
typedef void (*http_body_cb)(struct http_txn *txn, struct evbuffer *buf, void *arg);
/* The whole body; or txn and body NULL when there is none to come (larger than the limit, 413
 * already sent, or the client left): free what the handler holds, there is nobody to answer. */
typedef void (*http_read_cb)(struct http_txn *txn, struct evbuffer *body, void *arg);
/* The JSON body of an error the server answers itself (a malformed request, a timeout, a body too
 * large), in the dialect of the request target (NULL when none was read); caller frees. */
typedef char *(*http_error_body_fn)(const char *target, int status, const char *message);

void http_limits_default(struct http_limits *l);

/* Serves connections accepted on listen_fd (TCP or unix) with handler. */
struct http_server *http_server_new(struct event_base *base, int listen_fd,
                                    const struct http_limits *limits, http_handler handler,
                                    void *arg);
/* Serves a connection on a unix socket only when allow(uid of its peer, SO_PEERCRED) says so;
 * another peer's first request gets 403 and the connection closes. */
void http_server_peer_filter(struct http_server *srv, bool (*allow)(uid_t uid));
/* Whose error bodies the server answers protocol errors with (the daemon's dialects); without
 * one they are plain text. */
void http_server_set_error_body(struct http_server *srv, http_error_body_fn fn);
/* Backends take the gateway's X-Request-Id instead of making one. */
void http_server_trust_request_id(struct http_server *srv, bool trust);
/* Called once per finished transaction (access log, metrics) before it is freed. */
void http_server_on_complete(struct http_server *srv, http_txn_cb cb, void *arg);
/* Stops accepting; idle connections close at once, busy ones after their current answer.
 * done runs when none is left. */
void http_server_drain(struct http_server *srv, void (*done)(void *), void *arg);
unsigned http_server_connections(const struct http_server *srv);
void http_server_free(struct http_server *srv);

/* The request; valid for the transaction's life. */
struct http_request *http_txn_request(struct http_txn *txn);
const char *http_txn_id(const struct http_txn *txn);
const char *http_txn_peer(const struct http_txn *txn);
/* Peer IP address as text ("unix" for unix sockets). */
bool http_txn_peer_is_unix(const struct http_txn *txn);
/* The user of the process at the other end of a unix socket (SO_PEERCRED); (uid_t)-1 for TCP. */
uid_t http_txn_peer_uid(const struct http_txn *txn);
bool http_txn_aborted(const struct http_txn *txn);
/* Data that lives as long as the transaction: free_fn (may be NULL) runs on it when the
 * transaction is freed. */
void http_txn_set_data(struct http_txn *txn, void *data, void (*free_fn)(void *data));
void *http_txn_data(const struct http_txn *txn);
/* Labels the transaction for metrics ("route" index defined by the daemon). */
void http_txn_set_route(struct http_txn *txn, int route);
int http_txn_route(const struct http_txn *txn);
/* Who the request is from, as its access line names them (a username, or a token kind: see
 * actor_log_name()); NULL or "": nobody known. */
void http_txn_set_actor(struct http_txn *txn, const char *name);
const char *http_txn_actor(const struct http_txn *txn);
int http_txn_status(const struct http_txn *txn);
uint64_t http_txn_bytes_in(const struct http_txn *txn);
uint64_t http_txn_bytes_out(const struct http_txn *txn);
uint64_t http_txn_duration_us(const struct http_txn *txn);

/* Streams the request body: on_data as bytes arrive, on_end once at its end. */
void http_txn_read_stream(struct http_txn *txn, http_body_cb on_data, http_txn_cb on_end,
                          void *arg);
/* Stops (true) or resumes (false) delivering body bytes: back-pressure. */
void http_txn_pause_body(struct http_txn *txn, bool paused);
/* How a splice went: moved bytes reached the destination; err 0, or the destination's errno. */
typedef void (*http_splice_cb)(struct http_txn *txn, uint64_t moved, int err, void *arg);
/* Readies txn's body for a splice: the socket is read no further, so that once what was read is
 * handed over the rest can be spliced (a Content-Length body of more than min bytes left). */
void http_txn_splice_prepare(struct http_txn *txn, uint64_t min);
/* Whether the body of txn may be spliced now (http_txn_splice_body): a Content-Length body read
 * as a stream, nothing of it buffered, more than min bytes still in the socket. */
bool http_txn_splice_ready(const struct http_txn *txn, uint64_t min);
/* Passes the rest of the body but its last byte to dest (a socket nothing else writes to
 * meanwhile) with splice(), past this process; done runs when it is there or dest failed, and the
 * last byte then comes through on_data as usual. false: not now (http_txn_splice_ready). */
bool http_txn_splice_body(struct http_txn *txn, int dest, uint64_t min, http_splice_cb done,
                          void *arg);
/* Stops a splice without its done callback (its destination answered or went); the rest of the
 * body comes through on_data. */
void http_txn_splice_stop(struct http_txn *txn);
/* Reads the whole body (at most max bytes, else 413 and the transaction ends). */
void http_txn_read_body(struct http_txn *txn, size_t max, http_read_cb done, void *arg);
/* Runs when the client goes away before the handler finished. */
void http_txn_on_abort(struct http_txn *txn, http_txn_cb cb, void *arg);

/* A header the answer carries, whichever way the handler answers (unless it sets one of that
 * name itself); set again, it replaces the value. Before the answer starts. */
void http_txn_set_header(struct http_txn *txn, const char *name, const char *value);
/* A complete answer. headers may be NULL; Content-Length is added. */
void http_txn_respond(struct http_txn *txn, int status, const struct http_headers *headers,
                      const void *body, size_t len);
/* Same, taking the body from buf (drained; buf stays the caller's). */
void http_txn_respond_buf(struct http_txn *txn, int status, const struct http_headers *headers,
                          struct evbuffer *buf);
/* A streamed answer: content_length bytes follow, or chunked when -1. */
void http_txn_start_response(struct http_txn *txn, int status, const struct http_headers *headers,
                             int64_t content_length);
/* Moves data into the response; true when the output is full (wait for on_drain). */
bool http_txn_write(struct http_txn *txn, struct evbuffer *data);
/* Sends len bytes of fd from offset with sendfile(); takes ownership of fd. */
void http_txn_write_file(struct http_txn *txn, int fd, off_t offset, off_t len);
/* Runs each time the output falls below its low-water mark. */
void http_txn_on_drain(struct http_txn *txn, http_txn_cb cb, void *arg);
bool http_txn_output_full(const struct http_txn *txn);
/* Ends a streamed answer and frees the transaction when the request is done too. */
void http_txn_end_response(struct http_txn *txn);
/* Answers with no body but a file descriptor passed along (SCM_RIGHTS), for a client that
 * asked for one (the gateway's blob reads). fd stays the caller's. -1 if it could not be sent. */
int http_txn_respond_fd(struct http_txn *txn, int status, const struct http_headers *headers,
                        int fd);
/* Marks the connection to close after this answer. */
void http_txn_close_after(struct http_txn *txn);

/* The reason phrase of a status code ("Not Found"). */
const char *http_status_text(int status);

#endif

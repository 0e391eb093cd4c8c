/*
 * HTTP/1.1 client over unix sockets: how the gateway talks to the backends, and backends to each
 * other. Each pool keeps idle keep-alive connections to one socket. Request and response bodies
 * stream with back-pressure. A backend may pass a file descriptor with its answer (SCM_RIGHTS);
 * the client receives it with recvmsg() and hands it out with httpc_take_fd().
 *
 * After on_end or on_error the request is freed by the client; httpc_cancel() abandons a request
 * (its connection is closed, no callback follows).
 */
#ifndef REGISTRY_HTTPC_H
#define REGISTRY_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "headers.h"

struct event_base;
struct evbuffer;
struct httpc_pool;
struct httpc_req;

struct httpc_handlers {
	void (*on_head)(struct httpc_req *req, int status, struct http_headers *headers, void *arg);
	/* Response body bytes; take what you can. */
	void (*on_body)(struct httpc_req *req, struct evbuffer *data, void *arg);
	void (*on_end)(struct httpc_req *req, void *arg);
	/* Connection refused, reset or timed out; nothing more follows. */
	void (*on_error)(struct httpc_req *req, const char *why, void *arg);
	/* The request body written so far has drained: write more. */
	void (*on_drain)(struct httpc_req *req, void *arg);
};

struct httpc_pool *httpc_pool_new(struct event_base *base, const char *unix_path);
/* At most n connections open at once (default 64): past them, and while the backend's listen
 * backlog is full, a request waits for a connection (at most the pool's timeout) instead of
 * failing. */
void httpc_pool_set_max_open(struct httpc_pool *pool, unsigned n);
/* Seconds to wait for an answer's head or further body bytes (default 300). */
void httpc_pool_set_timeout(struct httpc_pool *pool, int seconds);
const char *httpc_pool_path(const struct httpc_pool *pool);
void httpc_pool_free(struct httpc_pool *pool);

/* Starts a request; body_length 0 = no body, -1 = chunked, else Content-Length. */
struct httpc_req *httpc_start(struct httpc_pool *pool, const char *method, const char *target,
                              const struct http_headers *headers, int64_t body_length,
                              const struct httpc_handlers *handlers, void *arg);
/* Moves request body bytes out of data; true when the output is full (wait for on_drain). */
bool httpc_write(struct httpc_req *req, struct evbuffer *data);
void httpc_end(struct httpc_req *req);
/* The backend's socket, for body bytes a caller writes past httpc (splice) when the head and the
 * body so far are out and the body has a Content-Length; -1 otherwise. httpc_body_written then
 * counts the n bytes that reached it. */
int httpc_body_fd(struct httpc_req *req);
void httpc_body_written(struct httpc_req *req, uint64_t n);
/* Response body back-pressure. */
void httpc_pause(struct httpc_req *req, bool paused);
void httpc_cancel(struct httpc_req *req);
/* A descriptor the backend passed with the answer (caller owns it), or -1. */
int httpc_take_fd(struct httpc_req *req);

/* A request with a small body, answered as a whole (answers above 16 MiB are an error).
 * status -1 means the backend could not be reached or failed; headers/body are then NULL. */
typedef void (*httpc_done_cb)(int status, struct http_headers *headers, struct evbuffer *body,
                              void *arg);
void httpc_call(struct httpc_pool *pool, const char *method, const char *target,
                const struct http_headers *headers, const void *body, size_t len,
                httpc_done_cb done, void *arg);

#endif

/*
 * Private to the HTTP server (http_server.c: connections and parsing; http_txn.c: the
 * transaction API handlers use). Not for other modules: they see http.h.
 */
#ifndef REGISTRY_HTTP_INTERNAL_H
#define REGISTRY_HTTP_INTERNAL_H

#include <arpa/inet.h>
#include <http_parser.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "http.h"

#define INPUT_HWM (256 * 1024)   /* stop reading the socket beyond this much unparsed input */
#define BODY_HWM (512 * 1024)    /* stop parsing beyond this much body the handler did not take */
#define OUTPUT_FULL (512 * 1024) /* http_txn_write() reports "full" beyond this */
#define OUTPUT_LWM (128 * 1024)  /* on_drain runs when the output falls to this */
#define FEED_MAX (256 * 1024)    /* bytes handed to the parser at once */
#define READ_CHUNK (256 * 1024)  /* bytes asked of the socket at once */
#define WRITE_MAX (8 * 1024 * 1024) /* bytes given to one write or sendfile (libevent: 16 KiB) */
#define LINGER_SECONDS 2
#define DRAIN_WAIT_SECONDS 5 /* how long a draining worker waits for a new connection's request */
#define OVER_CAP_ANSWERED 64 /* connections past max_connections taken only to answer 503 */
#define OVER_CAP_WAIT_SECONDS 5 /* how long such a connection may take to send its request */

enum conn_state {
	CS_IDLE,       /* waiting for the first byte of a request */
	CS_HEAD,       /* reading the request line and headers */
	CS_DISPATCHED, /* the handler owns the transaction */
	CS_LINGER,     /* answered; discarding what the client still sends, then closing */
	CS_CLOSING,    /* flushing the output, then closing */
};

enum timer_kind { TK_NONE, TK_IDLE, TK_HEAD, TK_BODY, TK_LINGER };

enum body_mode { BODY_UNREAD, BODY_STREAM, BODY_BUFFER };

struct http_server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct http_limits limits;
	http_handler handler;
	void *handler_arg;
	http_txn_cb on_complete;
	void *complete_arg;
	http_error_body_fn
	        error_body; /* JSON bodies of the errors conn_fail() answers; NULL: text */
	bool trust_request_id;
	bool (*peer_allowed)(uid_t uid); /* NULL: every peer */
	bool draining;
	bool cap_warned; /* the closing of connections past the cap is logged once a burst */
	void (*drained)(void *);
	void *drained_arg;
	unsigned nconns;
	TAILQ_HEAD(, http_conn) conns;
};

struct http_conn {
	struct http_server *srv;
	struct bufferevent *bev;
	struct event *timer;
	struct event *resume; /* runs conn_process() from the loop, never from a handler's stack */
	struct event *rev;   /* readable socket: we read, not the bufferevent (see conn_readable) */
	int rcvlowat;        /* the socket's SO_RCVLOWAT (http_pace.c); 1: the kernel's default */
	bool read_stopped;   /* input full: the socket is not watched until the parser drains it */
	struct evbuffer *in; /* read, not yet parsed */
	enum conn_state state;
	enum timer_kind timer_kind;
	http_parser parser;
	struct http_txn *txn;
	char peer[INET6_ADDRSTRLEN];
	bool peer_unix;
	uid_t peer_uid;   /* unix sockets: SO_PEERCRED; (uid_t)-1 otherwise */
	bool head_ready;  /* headers parsed, dispatch pending */
	bool close_after; /* close once the current answer is out */
	bool resume_scheduled;
	const char *feed_end;   /* end of the input being parsed: a target cut there may go on */
	const char *feed_start; /* its start, where `in` began when the parser was called */
	size_t feed_taken;      /* bytes of it on_body moved out of `in` during that call */
	bool target_read;       /* the request's target is read whole: it names the error dialect */
	bool over_cap;          /* accepted past max_connections: its request is refused with 503 */
	unsigned served;        /* transactions completed on this connection */
	struct http_splice *splice; /* the body being spliced past the process (http_splice.c) */
	/* header accumulation while parsing */
	struct header_parts field;
	size_t head_bytes;
	TAILQ_ENTRY(http_conn) link;
};

struct http_txn {
	struct http_conn *conn; /* NULL once orphaned */
	struct http_request req;
	char id[40];
	char peer[INET6_ADDRSTRLEN];
	bool peer_unix;
	uid_t peer_uid;
	void *data;
	void (*data_free)(void *data);
	int route;
	char *actor; /* who the access line names; NULL: nobody known */
	/* request body */
	enum body_mode body_mode;
	struct evbuffer *body;
	bool body_done;
	bool body_end_sent;
	bool body_paused;
	bool continue_sent;
	bool splice_wanted; /* http_txn_splice_prepare: the socket is not read, a splice will */
	size_t read_max;
	http_body_cb on_data;
	http_txn_cb on_end;
	http_read_cb read_done;
	void *body_arg;
	http_txn_cb on_abort;
	void *abort_arg;
	http_txn_cb on_drain;
	void *drain_arg;
	/* response */
	struct http_headers resp_extra; /* http_txn_set_header: on whatever answer goes out */
	int status;
	bool resp_started;
	bool resp_done;
	bool resp_chunked;
	bool head_only;
	bool no_body_status;
	int64_t resp_remaining;
	uint64_t bytes_in, bytes_out;
	uint64_t start_us;
};

/* http_splice.c: stops a running splice (the connection answers or closes meanwhile). */
void http_conn_splice_stop(struct http_conn *c);

/* http_server.c */
/* Closes the connection at once, as a client leaving does. */
void http_conn_close(struct http_conn *c);
/* Body bytes arrived: the body timer starts again. */
void http_conn_body_progress(struct http_conn *c);
/* Runs the connection's state machine from the loop soon (never on the caller's stack). */
void http_conn_schedule(struct http_conn *c);
/* Watches the connection's socket for input, with the pacing timer while a body is paced. */
void http_conn_watch(struct http_conn *c);
/* Paces the socket's reads for the transaction's body, or stops pacing when none is coming. */
void http_conn_pace_body(struct http_conn *c, int fd);
/* Stops pacing: the body is complete, the next request's head wakes the worker at once. */
void http_conn_pace_off(struct http_conn *c, int fd);
/* Frees a transaction the connection no longer holds. */
void http_txn_destroy(struct http_txn *txn);

#endif

/*
 * The supervisor every daemon runs under (the nginx / OpenBSD httpd model).
 *
 * The master parses the configuration, does the role's one-time setup, binds the listening socket
 * and forks `workers` workers; it does no request work. It respawns a worker that dies (with
 * back-off), and handles signals from a signalfd in its own poll loop:
 *   TERM      drain: workers stop accepting, finish in-flight requests and exit; after
 *             shutdown_timeout the rest are killed; then the master exits 0.
 *   INT, QUIT exit now.
 *   HUP       reload the configuration; a bad one is logged and the old one kept. A good one
 *             starts a new generation of workers, then drains the old one (no request refused).
 *   USR1      reopen the log file (master and workers).
 * Each worker is one single-threaded libevent loop serving HTTP on the inherited socket.
 */
#ifndef REGISTRY_PROC_H
#define REGISTRY_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct cfg;
struct event_base;

/* What a worker's init receives; valid for the worker's life. */
struct proc_worker {
	struct event_base *base;
	const struct cfg *cfg;
	int index;
	struct http_server *server;
};

struct proc_role {
	const char *name; /* "gateway", "authd", "metad", "blobd" */
	bool tcp;         /* listen on [gateway] listen rather than <socket_dir>/<name>.sock */
	/* Route labels for metrics; handlers pass their index to http_txn_set_route(). */
	const char *const *routes;
	size_t nroutes;
	/* Extra validation of a configuration (start, -n, reload); may be NULL. */
	int (*check)(const struct cfg *cfg, char **cause);
	/* One-time setup in the master before the first workers (migrations, keys); may be NULL. */
	int (*master_init)(const struct cfg *cfg, char **cause);
	/* Per-worker setup after fork; -1 makes the worker exit (and be respawned). */
	int (*worker_init)(struct proc_worker *w, char **cause);
	/* TERM in a worker: stop background work; the loop ends when no connection is left. */
	void (*worker_drain)(void);
	/* Fills the HTTP limits from the configuration; NULL keeps the defaults. */
	void (*limits)(const struct cfg *cfg, struct http_limits *l);
	/* The body of the errors the HTTP server answers itself, in the daemon's dialects. */
	http_error_body_fn error_body;
	http_handler handler;
};

/* Runs the daemon: parses argv (-c FILE, -n, -p PIDFILE), and never returns. */
int proc_main(const struct proc_role *role, int argc, char **argv) __attribute__((noreturn));

/* The unix socket path of a daemon: <socket_dir>/<name>.sock (caller frees). */
char *proc_socket_path(const struct cfg *cfg, const char *name);

#endif

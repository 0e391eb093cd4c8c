/*
 * One logging API for all four daemons. Every line carries the time, the role
 * ("gateway", "authd", ...), the worker number ("master" or "w3") and, while a request is
 * being handled, its request id. One access line per request. Lines are text
 * ("<time> <role>/<worker> <LEVEL> [req=<id> ]<message>") or, with [global] log_format = json,
 * one JSON object each (log_format_line).
 */
#ifndef REGISTRY_LOG_H
#define REGISTRY_LOG_H

#include <stdint.h>

#include "util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

void log_init(const char *role);
/* The role log_init was given ("registry" before). */
const char *log_role(void);
/* Sends lines to path (appending), or to stderr when path is NULL or empty; -1 on error. */
int log_open(const char *path);
/* Reopens the current log file (after rotation); -1 on error, the old file is kept. */
int log_reopen(void);
void log_set_level(enum log_level level);
/* "debug", "info", "warn", "error"; -1 if unknown. */
int log_parse_level(const char *name);
void log_set_format(enum log_format format);
/* "text", "json"; -1 if unknown. */
int log_parse_format(const char *name);
/* -1 marks the master. */
void log_set_worker(int worker);
/* The request whose work is being done; NULL when none. The string must outlive the call. */
void log_set_request_id(const char *id);

void log_debug(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* For broken invariants only: logs and exits(1). Never for a client's bad input. */
void fatal(const char *fmt, ...) PRINTF_LIKE(1, 2) __attribute__((noreturn));

struct pg_result;
/* A PostgreSQL notice as a log line (a libpq PQnoticeReceiver: PQsetNoticeReceiver(conn,
 * log_pg_notice, NULL)): its severity and primary message only, never its DETAIL (which may
 * quote a row), instead of libpq's default print to standard error. */
void log_pg_notice(void *arg, const struct pg_result *res);

/* What the access line of a finished request says. */
struct log_access {
	const char *request_id;
	const char *peer; /* the remote address; NULL: unknown */
	const char *method;
	const char *target; /* shown through url_redact(): no secret values */
	int status;
	uint64_t bytes_in, bytes_out;
	uint64_t duration_us;
	const char *actor; /* a username or a token kind; NULL: nobody known */
};

/* One access line per finished request. */
void log_access(const struct log_access *a);

/* One line as it is written. */
struct log_record {
	int64_t unix_ms;
	enum log_level level;
	const char *daemon;
	int worker;                      /* -1: the master */
	const char *request_id;          /* NULL: no request */
	const char *message;             /* the access line's is "access" */
	const struct log_access *access; /* NULL: not an access line */
};

/* Formats a record as one line ending in '\n', *len its length (caller frees): text with
 * control characters replaced by '?', or a JSON object built with json-c (every string made
 * valid UTF-8, control characters escaped); the access line's target through url_redact(). */
char *log_format_line(enum log_format format, const struct log_record *rec, size_t *len);

#endif

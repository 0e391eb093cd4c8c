/*
 * One logging API for all four daemons. Every line carries the time, the role
 * ("gateway", "authd", ...), the worker number ("master" or "w3") and, while a request is
 * being handled, its request id. One access line per request.
 */
#ifndef REGISTRY_LOG_H
#define REGISTRY_LOG_H

#include <stdint.h>

#include "util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *role);
/* Sends lines to path (appending), or to stderr when path is NULL or empty; -1 on error. */
int log_open(const char *path);
/* Reopens the current log file (after rotation); -1 on error, the old file is kept. */
int log_reopen(void);
void log_set_level(enum log_level level);
/* "debug", "info", "warn", "error"; -1 if unknown. */
int log_parse_level(const char *name);
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

/* One line per finished request; the target as url_redact() shows it (no secret values). */
void log_access(const char *request_id, const char *peer, const char *method, const char *target,
                int status, uint64_t bytes_in, uint64_t bytes_out, uint64_t duration_us);

#endif

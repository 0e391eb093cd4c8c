/* Logging with role, worker and request id on every line; one write(2) per line. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "url.h"

static char log_role_name[32] = "registry";
static int log_worker = -1;
static enum log_level log_min = LOG_INFO;
static int log_fd = STDERR_FILENO;
static char *log_path;
static const char *log_request_id;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

static void log_line(enum log_level level, const char *request_id, const char *fmt, va_list ap)
        PRINTF_LIKE(3, 0);

/* Names the process's role (gateway, authd, ...) that every line of it starts with. */
void
log_init(const char *role)
{
	snprintf(log_role_name, sizeof(log_role_name), "%s", role);
}

int
log_open(const char *path)
{
	if (path == NULL || *path == '\0') {
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = STDERR_FILENO;
		free(log_path);
		log_path = NULL;
		return 0;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	if (log_path != path) {
		free(log_path);
		log_path = xstrdup(path);
	}
	return 0;
}

int
log_reopen(void)
{
	if (log_path == NULL)
		return 0;
	char *path = xstrdup(log_path);
	int rc = log_open(path);
	free(path);
	return rc;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_parse_level(const char *name)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	for (size_t i = 0; i < nitems(names); i++)
		if (str_eq_nocase(name, names[i]))
			return (int)i;
	return -1;
}

void
log_set_worker(int worker)
{
	log_worker = worker;
}

void
log_set_request_id(const char *id)
{
	log_request_id = id;
}

/* Formats one line and writes it with a single write(2) so workers never interleave. */
static void
log_line(enum log_level level, const char *request_id, const char *fmt, va_list ap)
{
	char line[4096];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	char ts[40];
	format_iso8601(ts, sizeof(ts), (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
	char who[48];
	if (log_worker < 0)
		snprintf(who, sizeof(who), "%s/master", log_role_name);
	else
		snprintf(who, sizeof(who), "%s/w%d", log_role_name, log_worker);
	int n;
	if (request_id != NULL)
		n = snprintf(line, sizeof(line), "%s %s %s req=%s ", ts, who, level_names[level],
		             request_id);
	else
		n = snprintf(line, sizeof(line), "%s %s %s ", ts, who, level_names[level]);
	if (n < 0)
		return;
	size_t used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	if (m > 0)
		used += (size_t)m < sizeof(line) - used ? (size_t)m : sizeof(line) - used - 1;
	if (used >= sizeof(line) - 1)
		used = sizeof(line) - 2;
	/* Control characters from request data would forge lines: replace them. */
	for (size_t i = 0; i < used; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	line[used++] = '\n';
	(void)write_all(log_fd, line, used);
}

#define LOG_FN(fn, lvl)                                                                            \
	void fn(const char *fmt, ...)                                                              \
	{                                                                                          \
		if ((lvl) < log_min)                                                               \
			return;                                                                    \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_line((lvl), log_request_id, fmt, ap);                                          \
		va_end(ap);                                                                        \
	}

LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARN)
LOG_FN(log_error, LOG_ERROR)

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(LOG_ERROR, log_request_id, fmt, ap);
	va_end(ap);
	exit(1);
}

static void access_line(const char *request_id, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Logs an access line with the id of the request it is about, set or not as the current one. */
static void
access_line(const char *request_id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line(LOG_INFO, request_id, fmt, ap);
	va_end(ap);
}

void
log_access(const char *request_id, const char *peer, const char *method, const char *target,
           int status, uint64_t bytes_in, uint64_t bytes_out, uint64_t duration_us)
{
	if (LOG_INFO < log_min)
		return;
	char *shown = url_redact(target);
	access_line(request_id, "access %s \"%s %.1024s\" %d in=%llu out=%llu %.3fms",
	            peer ? peer : "-", method, shown, status, (unsigned long long)bytes_in,
	            (unsigned long long)bytes_out, (double)duration_us / 1000.0);
	free(shown);
}

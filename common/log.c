/* Logging with role, worker and request id on every line, as text or JSON; one write(2) per
 * line. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "url.h"

static char log_role_name[32] = "registry";
static int log_worker = -1;
static enum log_level log_min = LOG_INFO;
static int log_fd = STDERR_FILENO;
static char *log_path;
static const char *log_request_id;
static enum log_format log_fmt = LOG_TEXT;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

static void log_line(enum log_level level, const char *request_id, const char *fmt, va_list ap)
        PRINTF_LIKE(3, 0);

/* Names the process's role (gateway, authd, ...) that every line of it starts with. */
void
log_init(const char *role)
{
	snprintf(log_role_name, sizeof(log_role_name), "%s", role);
}

const char *
log_role(void)
{
	return log_role_name;
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
log_set_format(enum log_format format)
{
	log_fmt = format;
}

int
log_parse_format(const char *name)
{
	static const char *const names[] = { "text", "json" };
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

#define LOG_LINE_MAX 4096   /* bytes of a text line; a JSON line's message is cut there too */
#define LOG_TARGET_MAX 1024 /* bytes of a target an access line shows */

/* "access <peer> "<method> <target>" <status> in=<n> out=<n> <ms>ms": the text access line's
 * message (caller frees). */
static char *
text_access_message(const struct log_access *a)
{
	char *shown = url_redact(a->target);
	char *msg = xasprintf("access %s \"%s %.*s\" %d in=%llu out=%llu %.3fms",
	                      a->peer ? a->peer : "-", a->method, LOG_TARGET_MAX, shown, a->status,
	                      (unsigned long long)a->bytes_in, (unsigned long long)a->bytes_out,
	                      (double)a->duration_us / 1000.0);
	free(shown);
	return msg;
}

/* The text form: "<time> <role>/<worker> <LEVEL> [req=<id> ]<message>\n", at most
 * LOG_LINE_MAX bytes, control characters (which would forge lines) replaced by '?'. */
static char *
text_line(const struct log_record *rec, const char *ts, size_t *len)
{
	char *line = xmalloc(LOG_LINE_MAX);
	char who[48];
	if (rec->worker < 0)
		snprintf(who, sizeof(who), "%s/master", rec->daemon);
	else
		snprintf(who, sizeof(who), "%s/w%d", rec->daemon, rec->worker);
	char *access = rec->access != NULL ? text_access_message(rec->access) : NULL;
	const char *msg = access != NULL ? access : rec->message;
	int n;
	if (rec->request_id != NULL)
		n = snprintf(line, LOG_LINE_MAX, "%s %s %s req=%s %s", ts, who,
		             level_names[rec->level], rec->request_id, msg);
	else
		n = snprintf(line, LOG_LINE_MAX, "%s %s %s %s", ts, who, level_names[rec->level],
		             msg);
	free(access);
	size_t used = n < 0 ? 0 : (size_t)n;
	if (used > LOG_LINE_MAX - 2)
		used = LOG_LINE_MAX - 2;
	for (size_t i = 0; i < used; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	line[used++] = '\n';
	line[used] = '\0';
	*len = used;
	return line;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes: RFC 3629, no overlong form, no
 * surrogate, nothing past U+10FFFF); 0 when the bytes there are none. */
static size_t
utf8_sequence(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF; /* the bounds of the second byte */
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		if (s[0] == 0xE0)
			lo = 0xA0; /* overlong */
		else if (s[0] == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		if (s[0] == 0xF0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xF4)
			hi = 0x8F; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* A JSON string of the first max bytes of s: each byte that starts no valid UTF-8 sequence
 * becomes U+FFFD, so that the line is valid JSON text whatever a client sent; json-c escapes
 * quotes, backslashes and control characters. */
static json_object *
json_text(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *out = xmalloc(n * 3 + 1); /* U+FFFD takes 3 bytes for 1 */
	size_t o = 0;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t len = utf8_sequence(u + i, n - i);
		if (len == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		}
	}
	json_object *j = json_object_new_string_len(out, (int)o);
	free(out);
	return j;
}

/* Adds the access line's fields to its JSON object. */
static void
json_access_fields(json_object *o, const struct log_access *a)
{
	char *shown = url_redact(a->target);
	json_object_object_add(o, "method", json_text(a->method, 64));
	json_object_object_add(o, "path", json_text(shown, LOG_TARGET_MAX));
	free(shown);
	json_object_object_add(o, "status", json_object_new_int(a->status));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)a->bytes_out));
	json_object_object_add(o, "bytes_in", json_object_new_int64((int64_t)a->bytes_in));
	char ms[32];
	double duration = (double)a->duration_us / 1000.0;
	snprintf(ms, sizeof(ms), "%.3f", duration);
	json_object_object_add(o, "duration_ms", json_object_new_double_s(duration, ms));
	json_object_object_add(o, "actor",
	                       a->actor != NULL && *a->actor ? json_text(a->actor, 256) : NULL);
	json_object_object_add(o, "remote_addr", a->peer != NULL ? json_text(a->peer, 64) : NULL);
}

/* The JSON form: {"time", "level", "daemon", "worker", "request_id"?, "message", access
 * fields...} on one line. */
static char *
json_line(const struct log_record *rec, const char *ts, size_t *len)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	json_object *o = json_object_new_object();
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "level", json_object_new_string(levels[rec->level]));
	json_object_object_add(o, "daemon", json_text(rec->daemon, 32));
	json_object_object_add(o, "worker",
	                       rec->worker < 0 ? json_object_new_string("master")
	                                       : json_object_new_int(rec->worker));
	if (rec->request_id != NULL)
		json_object_object_add(o, "request_id", json_text(rec->request_id, 64));
	json_object_object_add(o, "message", json_text(rec->message, LOG_LINE_MAX));
	if (rec->access != NULL)
		json_access_fields(o, rec->access);
	size_t n;
	const char *text = json_object_to_json_string_length(
	        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *line = xmalloc(n + 2);
	memcpy(line, text, n);
	line[n++] = '\n';
	line[n] = '\0';
	json_object_put(o);
	*len = n;
	return line;
}

char *
log_format_line(enum log_format format, const struct log_record *rec, size_t *len)
{
	char ts[40];
	format_iso8601(ts, sizeof(ts), rec->unix_ms);
	return format == LOG_JSON ? json_line(rec, ts, len) : text_line(rec, ts, len);
}

/* Writes one record with a single write(2), so that workers never interleave. */
static void
log_write(enum log_level level, const char *request_id, const char *message,
          const struct log_access *access)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct log_record rec = {
		.unix_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000,
		.level = level,
		.daemon = log_role_name,
		.worker = log_worker,
		.request_id = request_id,
		.message = message,
		.access = access,
	};
	/* Out of memory, formatting a line would call fatal() again: the bare message goes. */
	static __thread bool busy;
	if (busy) {
		(void)write_all(log_fd, message, strlen(message));
		(void)write_all(log_fd, "\n", 1);
		return;
	}
	busy = true;
	size_t len;
	char *line = log_format_line(log_fmt, &rec, &len);
	(void)write_all(log_fd, line, len);
	free(line);
	busy = false;
}

/* Formats a message and logs it. */
static void
log_line(enum log_level level, const char *request_id, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_write(level, request_id, msg, NULL);
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

void
log_pg_notice(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (severity == NULL)
		severity = "NOTICE";
	enum log_level level = strcmp(severity, "WARNING") == 0     ? LOG_WARN
	                       : strncmp(severity, "DEBUG", 5) == 0 ? LOG_DEBUG
	                                                            : LOG_INFO;
	if (level >= log_min) {
		char msg[LOG_LINE_MAX];
		snprintf(msg, sizeof(msg), "PostgreSQL %s: %s", severity, primary ? primary : "");
		log_write(level, log_request_id, msg, NULL);
	}
	(void)arg;
}

void
log_access(const struct log_access *a)
{
	if (LOG_INFO < log_min)
		return;
	log_write(LOG_INFO, a->request_id, "access", a);
}

/* Small helpers every module uses: allocation that cannot fail quietly, strings, time. */
#ifndef REGISTRY_UTIL_H
#define REGISTRY_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);

/* Frees a NULL-terminated array of strings and its strings; NULL is fine. */
void strv_free(char **v);

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
bool str_eq_nocase(const char *a, const char *b);
/* Characters (not bytes) of UTF-8 text, as GitLab's length limits count them. */
size_t str_chars(const char *s);
/* What str_to_count made of a number a client sent. */
enum count_result {
	COUNT_OK,      /* *out is the value, at most max */
	COUNT_OVER,    /* digits naming a number above max (however long): *out is max */
	COUNT_INVALID, /* empty, or anything but ASCII digits: *out is untouched */
};
/* The one reader of decimal numbers from clients (sizes, offsets, counts, ids): the len bytes
 * at s must be ASCII digits only (no sign, '+' included, no space, no hex), and the value is
 * compared with max (>= 0) without ever overflowing. */
enum count_result str_to_count(const char *s, size_t len, int64_t max, int64_t *out);
/* A whole decimal string into [min, max], on str_to_count's rules plus a leading '-' when min
 * is negative; -1 when it is not one. */
int str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Monotonic and wall clocks in microseconds / seconds. */
uint64_t now_monotonic_us(void);
int64_t now_unix(void);
/* ISO 8601 UTC with milliseconds, e.g. 2026-11-28T10:00:00.123Z, into buf (>= 32 bytes). */
void format_iso8601(char *buf, size_t len, int64_t unix_ms);

/* A keyed hash (SipHash, a random key per process) for in-memory tables that untrusted input
 * fills: nobody can aim their entries at one slot. */
uint64_t shorthash(const void *data, size_t len);

/* Writes a whole buffer to a file descriptor, retrying short writes; -1 on error. */
int write_all(int fd, const void *buf, size_t len);

#endif

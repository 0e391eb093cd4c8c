/* Small helpers every module uses. */
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* malloc that never returns NULL: running out of memory is fatal; 0 bytes is still a pointer. */
void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		fatal("out of memory (%zu bytes)", n);
	return p;
}

/* Zeroed memory for n items that never returns NULL; how structs here start out. */
void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		fatal("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

/* Resizes an allocation, never returning NULL; the old pointer must not be used again. */
void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		fatal("out of memory (%zu bytes)", n);
	return q;
}

/* A copy of a string, for the caller to free; never NULL. */
char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* A NUL-terminated copy of the first n bytes of s (which needs no NUL); never NULL. */
char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* xasprintf for functions that take their own variable arguments. */
char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory (vasprintf)");
	return s;
}

/* A formatted string for the caller to free, never NULL: how messages and paths are built. */
char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Whether s starts with prefix, byte for byte. */
bool
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether s ends with suffix, byte for byte. */
bool
str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

/* Whether two strings are equal ignoring ASCII case, as header names and HTTP tokens compare. */
bool
str_eq_nocase(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

enum count_result
str_to_count(const char *s, size_t len, int64_t max, int64_t *out)
{
	if (s == NULL || len == 0 || max < 0)
		return COUNT_INVALID;
	int64_t v = 0;
	bool over = false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return COUNT_INVALID;
		int d = s[i] - '0';
		/* v * 10 + d > max, asked without computing it */
		if (!over && (v > max / 10 || (v == max / 10 && d > max % 10)))
			over = true;
		if (!over)
			v = v * 10 + d;
	}
	*out = over ? max : v;
	return over ? COUNT_OVER : COUNT_OK;
}

size_t
str_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

int
str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (s == NULL || min > max)
		return -1;
	bool neg = s[0] == '-';
	if (neg && min >= 0)
		return -1;
	/* the magnitude of a negative value is at most -min (INT64_MIN itself is out of reach) */
	int64_t bound = neg ? (min == INT64_MIN ? INT64_MAX : -min) : (max < 0 ? 0 : max);
	int64_t v;
	if (str_to_count(s + neg, strlen(s + neg), bound, &v) != COUNT_OK)
		return -1;
	v = neg ? -v : v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

uint64_t
now_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t
now_unix(void)
{
	return (int64_t)time(NULL);
}

void
format_iso8601(char *buf, size_t len, int64_t unix_ms)
{
	time_t secs = (time_t)(unix_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char base[24];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", base, (int)(unix_ms % 1000));
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

uint64_t
shorthash(const void *data, size_t len)
{
	static unsigned char key[crypto_shorthash_KEYBYTES];
	static bool keyed;
	if (!keyed) {
		crypto_shorthash_keygen(key);
		keyed = true;
	}
	unsigned char h[crypto_shorthash_BYTES];
	crypto_shorthash(h, data, len, key);
	uint64_t v;
	memcpy(&v, h, sizeof(v));
	return v;
}

/* Range and Content-Range header parsing. */
#include "range.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Reads a run of digits with str_to_count; false if there is none. A number too large for
 * int64 is INT64_MAX: past the end of any representation, which is what it means (RFC 9110
 * 14.1.2: a last-pos at or past the length means the rest, a suffix longer than it the whole). */
static bool
read_num(const char **p, int64_t *out)
{
	size_t n = strspn(*p, "0123456789");
	if (str_to_count(*p, n, INT64_MAX, out) == COUNT_INVALID)
		return false;
	*p += n;
	return true;
}

/* Which bytes of a size-byte blob a GET's Range header asks for: all, one range, or 416. */
enum range_result
range_parse(const char *header, int64_t size, int64_t *start, int64_t *len)
{
	if (header == NULL || strncmp(header, "bytes=", 6) != 0 || strchr(header, ',') != NULL)
		return RANGE_NONE;
	const char *p = header + 6;
	while (*p == ' ')
		p++;
	int64_t a, b;
	if (*p == '-') {
		p++;
		if (!read_num(&p, &b) || *p != '\0')
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return RANGE_SATISFIABLE;
	}
	if (!read_num(&p, &a) || *p != '-')
		return RANGE_NONE;
	p++;
	if (*p == '\0') {
		b = size - 1;
	} else {
		if (!read_num(&p, &b) || *p != '\0' || b < a)
			return RANGE_NONE;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	*start = a;
	*len = b - a + 1;
	return RANGE_SATISFIABLE;
}

/* Reads one bound of a Content-Range: digits, at most INT64_MAX - 1 so that the byte after it is
 * a size an int64 holds; false otherwise. */
static bool
content_bound(const char *s, size_t len, int64_t *out)
{
	return str_to_count(s, len, INT64_MAX - 1, out) == COUNT_OK;
}

int
range_content_parse(const char *v, int64_t *start, int64_t *end)
{
	if (strncmp(v, "bytes", 5) == 0) {
		v += 5;
		if (*v != ' ' && *v != '=')
			return -1;
		v++;
	}
	const char *dash = strchr(v, '-');
	if (dash == NULL)
		return -1;
	const char *b = dash + 1;
	size_t blen = strcspn(b, "/");
	if (b[blen] == '/') {
		const char *total = b + blen + 1;
		int64_t ignored;
		if (strcmp(total, "*") != 0 && !content_bound(total, strlen(total), &ignored))
			return -1;
	}
	if (!content_bound(v, (size_t)(dash - v), start) || !content_bound(b, blen, end) ||
	    *end < *start)
		return -1;
	return 0;
}

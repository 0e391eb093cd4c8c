/* Range header parsing. */
#include "range.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Reads a run of digits; false if none or too large. */
static bool
read_num(const char **p, int64_t *out)
{
	const char *s = *p;
	int64_t v = 0;
	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*s - '0');
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

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

/* PostgreSQL WAL positions in text form (lsn.h). */
#include "lsn.h"

#include <stdio.h>

/* The value of one hex digit, or -1. */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads one to eight hex digits up to stop; the position after them, or NULL. */
static const char *
hex_part(const char *s, char stop, uint32_t *out)
{
	uint32_t v = 0;
	int n = 0;
	for (; *s != stop; s++, n++) {
		int d = hex_value(*s);
		if (d < 0 || n == 8)
			return NULL;
		v = v << 4 | (uint32_t)d;
	}
	if (n == 0)
		return NULL;
	*out = v;
	return s;
}

bool
lsn_parse(const char *s, uint64_t *out)
{
	uint32_t hi, lo;
	if (s == NULL || (s = hex_part(s, '/', &hi)) == NULL || hex_part(s + 1, '\0', &lo) == NULL)
		return false;
	*out = (uint64_t)hi << 32 | lo;
	return true;
}

char *
lsn_format(uint64_t lsn, char *buf)
{
	snprintf(buf, LSN_TEXT_MAX, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
	return buf;
}

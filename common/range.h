/* HTTP Range requests (RFC 9110 14.2), single byte ranges only. */
#ifndef REGISTRY_RANGE_H
#define REGISTRY_RANGE_H

#include <stdint.h>

enum range_result {
	RANGE_NONE,          /* no Range, or one we ignore (several ranges, bad syntax): send all */
	RANGE_SATISFIABLE,   /* *start and *len are set: send 206 */
	RANGE_UNSATISFIABLE, /* send 416 */
};

enum range_result range_parse(const char *header, int64_t size, int64_t *start, int64_t *len);

#endif

/* HTTP Range requests (RFC 9110 14.2), single byte ranges only, and the Content-Range of an
 * upload's chunk. */
#ifndef REGISTRY_RANGE_H
#define REGISTRY_RANGE_H

#include <stdint.h>

enum range_result {
	RANGE_NONE,          /* no Range, or one we ignore (several ranges, bad syntax): send all */
	RANGE_SATISFIABLE,   /* *start and *len are set: send 206 */
	RANGE_UNSATISFIABLE, /* send 416 */
};

enum range_result range_parse(const char *header, int64_t size, int64_t *start, int64_t *len);
/* Parses a chunk's Content-Range: "<start>-<end>", also with a "bytes " (or "bytes=") prefix and
 * a "/<total>" suffix (the total a count or a star); -1 when malformed or impossible (end
 * before start, or past what an int64 counts). Then 0 <= start <= end < INT64_MAX. */
int range_content_parse(const char *value, int64_t *start, int64_t *end);

#endif

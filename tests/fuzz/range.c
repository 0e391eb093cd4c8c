/*
 * libFuzzer target of Range (the gateway's and blobd's blob GETs) and Content-Range (an upload
 * chunk's PATCH) parsing, common/range.c.
 *
 * Input: a header value (the seeds are the Range and Content-Range values curl, skopeo and
 * podman sent). It is read as the Range of blobs of several sizes, edges included, and as a
 * chunk's Content-Range. A satisfiable range lies inside the blob and is not empty; a
 * Content-Range that parses has 0 <= start <= end < INT64_MAX, so its length cannot overflow.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "range.h"

static const int64_t sizes[] = { 0, 1, 2, 1000, 1 << 20, INT64_MAX - 1, INT64_MAX };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = fuzz_strndup(data, size);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int64_t start = -1, len = -1;
		enum range_result r = range_parse(value, sizes[i], &start, &len);
		if (r == RANGE_SATISFIABLE &&
		    (start < 0 || len < 1 || start >= sizes[i] || len > sizes[i] - start))
			fuzz_fail("range %lld+%lld of a blob of %lld", (long long)start,
			          (long long)len, (long long)sizes[i]);
		if (r != RANGE_NONE && r != RANGE_SATISFIABLE && r != RANGE_UNSATISFIABLE)
			fuzz_fail("range_parse answered %d", r);
	}
	int64_t start = -1, end = -1;
	if (range_content_parse(value, &start, &end) == 0 &&
	    (start < 0 || end < start || end == INT64_MAX))
		fuzz_fail("Content-Range %lld-%lld", (long long)start, (long long)end);
	free(value);
	return 0;
}

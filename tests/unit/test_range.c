/* range.c: single byte ranges, suffixes, and what is ignored or unsatisfiable; the Content-Range
 * of an upload chunk. */
#include "unit.h"

#include "range.h"

static void
expect(const char *h, int64_t size, enum range_result want, int64_t want_start, int64_t want_len)
{
	int64_t start = -7, len = -7;
	enum range_result r = range_parse(h, size, &start, &len);
	if (r != want)
		fail_msg("\"%s\" of %lld: got %d, want %d", h ? h : "(null)", (long long)size, r,
		         want);
	if (want == RANGE_SATISFIABLE) {
		assert_int_equal(start, want_start);
		assert_int_equal(len, want_len);
	}
}

static void
satisfiable(void **state)
{
	expect("bytes=0-99", 1000, RANGE_SATISFIABLE, 0, 100);
	expect("bytes=100-", 1000, RANGE_SATISFIABLE, 100, 900);
	expect("bytes=999-999", 1000, RANGE_SATISFIABLE, 999, 1);
	expect("bytes=-10", 1000, RANGE_SATISFIABLE, 990, 10);
	/* an end past the size is clipped; so is a suffix longer than the file */
	expect("bytes=500-5000", 1000, RANGE_SATISFIABLE, 500, 500);
	expect("bytes=-5000", 1000, RANGE_SATISFIABLE, 0, 1000);
	expect("bytes= 1-2", 10, RANGE_SATISFIABLE, 1, 2);
	/* numbers past int64 are past any end: the rest, or the whole */
	expect("bytes=10-99999999999999999999", 1000, RANGE_SATISFIABLE, 10, 990);
	expect("bytes=0-9223372036854775807", 1000, RANGE_SATISFIABLE, 0, 1000);
	expect("bytes=-99999999999999999999", 1000, RANGE_SATISFIABLE, 0, 1000);
	expect("bytes=9223372036854775806-", INT64_MAX, RANGE_SATISFIABLE, INT64_MAX - 1, 1);
	expect("bytes=0-", INT64_MAX, RANGE_SATISFIABLE, 0, INT64_MAX);
	(void)state;
}

static void
unsatisfiable(void **state)
{
	expect("bytes=1000-", 1000, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=1000-1001", 1000, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=-0", 1000, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=0-", 0, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=-5", 0, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=99999999999999999999-", 1000, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=9223372036854775807-", 1000, RANGE_UNSATISFIABLE, 0, 0);
	expect("bytes=99999999999999999999-99999999999999999999", 1000, RANGE_UNSATISFIABLE, 0, 0);
	(void)state;
}

static void
ignored(void **state)
{
	expect(NULL, 1000, RANGE_NONE, 0, 0);
	expect("", 1000, RANGE_NONE, 0, 0);
	expect("items=0-1", 1000, RANGE_NONE, 0, 0);
	expect("bytes=0-1,5-6", 1000, RANGE_NONE, 0, 0); /* several ranges: whole answer */
	expect("bytes=5-1", 1000, RANGE_NONE, 0, 0);
	expect("bytes=a-b", 1000, RANGE_NONE, 0, 0);
	expect("bytes=-", 1000, RANGE_NONE, 0, 0);
	expect("bytes=1-2x", 1000, RANGE_NONE, 0, 0);
	expect("bytes=--1", 1000, RANGE_NONE, 0, 0);
	expect("bytes=+1-2", 1000, RANGE_NONE, 0, 0);
	expect("bytes=1-+2", 1000, RANGE_NONE, 0, 0);
	expect("bytes=1 -2", 1000, RANGE_NONE, 0, 0);
	expect("bytes=1- 2", 1000, RANGE_NONE, 0, 0);
	expect("bytes=0x1-2", 1000, RANGE_NONE, 0, 0);
	expect("bytes=-+1", 1000, RANGE_NONE, 0, 0);
	(void)state;
}

/* A chunk's Content-Range: start and end, or -1. */
static void
expect_content(const char *v, int want, int64_t want_start, int64_t want_end)
{
	int64_t start = -7, end = -7;
	int rc = range_content_parse(v, &start, &end);
	if (rc != want)
		fail_msg("\"%s\": got %d, want %d", v, rc, want);
	if (want == 0) {
		assert_int_equal(start, want_start);
		assert_int_equal(end, want_end);
	}
}

static void
content_range(void **state)
{
	expect_content("0-99", 0, 0, 99);
	expect_content("bytes 100-199", 0, 100, 199);
	expect_content("bytes=100-199", 0, 100, 199);
	expect_content("0-0/1", 0, 0, 0);
	expect_content("5-9/*", 0, 5, 9);
	expect_content("0-9223372036854775806", 0, 0, INT64_MAX - 1);
	/* malformed or impossible */
	expect_content("", -1, 0, 0);
	expect_content("bytes", -1, 0, 0);
	expect_content("bytes:0-1", -1, 0, 0);
	expect_content("5-4", -1, 0, 0);
	expect_content("-5", -1, 0, 0);
	expect_content("5-", -1, 0, 0);
	expect_content("0-9223372036854775807", -1, 0, 0);
	expect_content("0-1/x", -1, 0, 0);
	expect_content("0-1/", -1, 0, 0);
	expect_content("+0-1", -1, 0, 0);
	expect_content("0 -1", -1, 0, 0);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(satisfiable),
		cmocka_unit_test(unsatisfiable),
		cmocka_unit_test(ignored),
		cmocka_unit_test(content_range),
	};
	return cmocka_run_group_tests_name("range", tests, NULL, NULL);
}

/* util.c: the one reader of numbers clients send, at its limits. */
#include "unit.h"

#include "util.h"

/* str_to_count of the whole string s. */
static enum count_result
count(const char *s, int64_t max, int64_t *out)
{
	return str_to_count(s, strlen(s), max, out);
}

static void
counts_in_range(void **state)
{
	int64_t v = -1;
	assert_int_equal(count("0", INT64_MAX, &v), COUNT_OK);
	assert_int_equal(v, 0);
	assert_int_equal(count("000", INT64_MAX, &v), COUNT_OK);
	assert_int_equal(v, 0);
	assert_int_equal(count("42", 100, &v), COUNT_OK);
	assert_int_equal(v, 42);
	assert_int_equal(count("100", 100, &v), COUNT_OK);
	assert_int_equal(v, 100);
	assert_int_equal(count("9223372036854775807", INT64_MAX, &v), COUNT_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(count("00009223372036854775807", INT64_MAX, &v), COUNT_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(count("9223372036854775806", INT64_MAX - 1, &v), COUNT_OK);
	assert_true(v == INT64_MAX - 1);
	assert_int_equal(count("0", 0, &v), COUNT_OK);
	assert_int_equal(v, 0);
	/* len bytes only: a number inside a header */
	assert_int_equal(str_to_count("123-456", 3, INT64_MAX, &v), COUNT_OK);
	assert_int_equal(v, 123);
	(void)state;
}

static void
counts_over_the_bound(void **state)
{
	int64_t v = -1;
	assert_int_equal(count("101", 100, &v), COUNT_OVER);
	assert_int_equal(v, 100);
	assert_int_equal(count("1000", 100, &v), COUNT_OVER);
	assert_int_equal(v, 100);
	assert_int_equal(count("1", 0, &v), COUNT_OVER);
	assert_int_equal(v, 0);
	/* 2^63, 2^64 and far beyond: never wraps */
	assert_int_equal(count("9223372036854775808", INT64_MAX, &v), COUNT_OVER);
	assert_true(v == INT64_MAX);
	assert_int_equal(count("18446744073709551616", INT64_MAX, &v), COUNT_OVER);
	assert_true(v == INT64_MAX);
	assert_int_equal(count("99999999999999999999999999999999999999", INT64_MAX, &v),
	                 COUNT_OVER);
	assert_true(v == INT64_MAX);
	assert_int_equal(count("9223372036854775807", INT64_MAX - 1, &v), COUNT_OVER);
	assert_true(v == INT64_MAX - 1);
	(void)state;
}

static void
counts_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"-1",
		"-0",
		"+1",
		"+0",
		" 1",
		"1 ",
		"\t1",
		"1\n",
		"0x10",
		"1e3",
		"1.0",
		"1,000",
		"1_000",
		"abc",
		"12a",
		"a12",
		"-",
		"+",
		"--1",
		"\xd9\xa1", /* Arabic-Indic one */
		"-9223372036854775808",
		"99999999999999999999x",
	};
	for (size_t i = 0; i < nitems(bad); i++) {
		int64_t v = 77;
		if (count(bad[i], INT64_MAX, &v) != COUNT_INVALID)
			fail_msg("\"%s\" was taken as a number", bad[i]);
		assert_int_equal(v, 77);
	}
	int64_t v = 77;
	assert_int_equal(str_to_count(NULL, 0, INT64_MAX, &v), COUNT_INVALID);
	assert_int_equal(str_to_count("12", 0, INT64_MAX, &v), COUNT_INVALID);
	assert_int_equal(str_to_count("1\0002", 3, INT64_MAX, &v), COUNT_INVALID);
	assert_int_equal(count("5", -1, &v), COUNT_INVALID); /* no negative bound */
	(void)state;
}

static void
signed_values(void **state)
{
	int64_t v = 0;
	assert_int_equal(str_to_i64("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(str_to_i64("-9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == -INT64_MAX);
	assert_int_equal(str_to_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(str_to_i64("-0", -1, 1, &v), 0);
	assert_int_equal(v, 0);
	static const char *const bad[] = { "-11",
		                           "11",
		                           "+5",
		                           " 5",
		                           "5 ",
		                           "-",
		                           "",
		                           "--5",
		                           "-+5",
		                           "- 5",
		                           "99999999999999999999",
		                           "-99999999999999999999" };
	for (size_t i = 0; i < nitems(bad); i++)
		if (str_to_i64(bad[i], -10, 10, &v) == 0)
			fail_msg("\"%s\" was taken as a number in [-10, 10]", bad[i]);
	/* no sign at all where negative values are out of range */
	assert_int_equal(str_to_i64("-0", 0, 10, &v), -1);
	assert_int_equal(str_to_i64("-1", 1, INT64_MAX, &v), -1);
	assert_int_equal(str_to_i64(NULL, 0, 10, &v), -1);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_in_range),
		cmocka_unit_test(counts_over_the_bound),
		cmocka_unit_test(counts_refused),
		cmocka_unit_test(signed_values),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}

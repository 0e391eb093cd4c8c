/* lsn.c: PostgreSQL WAL positions in text form. */
#include "unit.h"

#include <string.h>

#include "lsn.h"

static void
parse_postgresql_forms(void **state)
{
	uint64_t v = 7;
	assert_true(lsn_parse("0/0", &v));
	assert_int_equal(v, 0);
	assert_true(lsn_parse("16/B374D848", &v));
	assert_int_equal(v, 0x16B374D848ull);
	assert_true(lsn_parse("ffffffff/FFFFFFFF", &v));
	assert_int_equal(v, UINT64_MAX);
	(void)state;
}

static void
parse_refuses_the_rest(void **state)
{
	const char *bad[] = { "",      "/",           "0/",          "/0",    "0",
		              "0/0/0", "123456789/0", "0/1FFFFFFFF", "0x1/2", " 0/0",
		              "0/0 ",  "g/0",         "0/-1",        "0/+1",  NULL };
	for (int i = 0; bad[i] != NULL; i++) {
		uint64_t v = 7;
		assert_false(lsn_parse(bad[i], &v));
		assert_int_equal(v, 7);
	}
	uint64_t v = 7;
	assert_false(lsn_parse(NULL, &v));
	(void)state;
}

static void
format_round_trip(void **state)
{
	char buf[LSN_TEXT_MAX];
	uint64_t values[] = { 0, 1, 0x16B374D848ull, 0xffffffffull, 0x100000000ull, UINT64_MAX };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint64_t back;
		assert_true(lsn_parse(lsn_format(values[i], buf), &back));
		assert_int_equal(back, values[i]);
	}
	assert_string_equal(lsn_format(UINT64_MAX, buf), "FFFFFFFF/FFFFFFFF");
	assert_string_equal(lsn_format(0x16B374D848ull, buf), "16/B374D848");
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_postgresql_forms),
		cmocka_unit_test(parse_refuses_the_rest),
		cmocka_unit_test(format_round_trip),
	};
	return cmocka_run_group_tests_name("lsn", tests, NULL, NULL);
}

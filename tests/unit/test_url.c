/* url.c: percent-decoding, encoding and query strings. */
#include "unit.h"

#include "url.h"

static void
decode_plain_and_escapes(void **state)
{
	assert_str_free(url_decode("abc", 3, false), "abc");
	assert_str_free(url_decode("a%2Fb", 5, false), "a/b");
	assert_str_free(url_decode("%41%62", 6, false), "Ab");
	assert_str_free(url_decode("a+b", 3, false), "a+b");
	assert_str_free(url_decode("a+b", 3, true), "a b");
	/* only len bytes are read */
	assert_str_free(url_decode("abc%2F", 3, false), "abc");
	assert_str_free(url_decode("", 0, false), "");
	(void)state;
}

static void
decode_rejects_bad_escapes(void **state)
{
	assert_null(url_decode("%", 1, false));
	assert_null(url_decode("%4", 2, false));
	assert_null(url_decode("a%4", 3, false));
	assert_null(url_decode("%zz", 3, false));
	assert_null(url_decode("%g1", 3, false));
	/* a NUL byte would cut the string short: refused */
	assert_null(url_decode("a%00b", 5, false));
	(void)state;
}

static void
encode_round_trip(void **state)
{
	assert_str_free(url_encode("group/project", false), "group%2Fproject");
	assert_str_free(url_encode("group/project", true), "group/project");
	assert_str_free(url_encode("a b&c=d~e.f_g-h", false), "a%20b%26c%3Dd~e.f_g-h");
	assert_str_free(url_encode("\xc3\xa9", false), "%C3%A9");
	char *enc = url_encode("x/y z%", false);
	char *dec = url_decode(enc, strlen(enc), false);
	assert_string_equal(dec, "x/y z%");
	free(enc);
	free(dec);
	(void)state;
}

static void
query_get_values(void **state)
{
	const char *q = "service=container_registry&scope=repository%3Aa%2Fb%3Apull&n=&flag&x=1+2";
	assert_str_free(query_get(q, "service"), "container_registry");
	assert_str_free(query_get(q, "scope"), "repository:a/b:pull");
	assert_str_free(query_get(q, "n"), "");
	assert_str_free(query_get(q, "flag"), "");
	assert_str_free(query_get(q, "x"), "1 2");
	assert_str_free(query_get(q, "missing"), NULL);
	assert_str_free(query_get(NULL, "x"), NULL);
	/* the first of repeated names wins */
	assert_str_free(query_get("a=1&a=2", "a"), "1");
	/* empty pairs are skipped */
	assert_str_free(query_get("&&a=1&", "a"), "1");
	/* a bad escape anywhere makes the query unreadable */
	assert_str_free(query_get("a=1&b=%zz", "a"), NULL);
	(void)state;
}

struct collect {
	int n;
	char seen[256];
};

static int
collect_cb(const char *name, const char *value, void *arg)
{
	struct collect *c = arg;
	c->n++;
	strncat(c->seen, name, sizeof(c->seen) - strlen(c->seen) - 1);
	strncat(c->seen, "=", sizeof(c->seen) - strlen(c->seen) - 1);
	strncat(c->seen, value, sizeof(c->seen) - strlen(c->seen) - 1);
	strncat(c->seen, ";", sizeof(c->seen) - strlen(c->seen) - 1);
	return strcmp(name, "stop") == 0 ? -1 : 0;
}

static void
query_each_pairs(void **state)
{
	struct collect c = { 0 };
	assert_int_equal(query_each("scope=a&scope=b%20c&last", collect_cb, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.seen, "scope=a;scope=b c;last=;");
	memset(&c, 0, sizeof(c));
	assert_int_equal(query_each("a=1&stop=1&b=2", collect_cb, &c), -1);
	assert_int_equal(c.n, 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(query_each("a=%2", collect_cb, &c), -1);
	assert_int_equal(c.n, 0);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_plain_and_escapes),
		cmocka_unit_test(decode_rejects_bad_escapes),
		cmocka_unit_test(encode_round_trip),
		cmocka_unit_test(query_get_values),
		cmocka_unit_test(query_each_pairs),
	};
	return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}

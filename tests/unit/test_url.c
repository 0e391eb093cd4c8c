/* url.c: percent-decoding, encoding and query strings. */
#include "unit.h"

#include "url.h"
#include "util.h"

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

static void
secret_names(void **state)
{
	static const char *const secret[] = {
		"password",
		"token",
		"private_token",
		"access_token",
		"refresh_token",
		"client_secret",
		"secret",
		"a_token",
		"PASSWORD",
		"Private_Token",
		"new_password",
		"password_confirmation",
		"user[password]",
		"user[private_token]",
		"private_token[]",
		"x[y][job_token]",
		"shared_secret",
		"TOKEN",
		"code",
		"CODE",
		"X-Amz-Signature",
		"x-amz-credential",
		"a[code]",
		"X-Amz-Security-Token",
	};
	static const char *const plain[] = {
		"",
		"username",
		"scope",
		"service",
		"grant_type",
		"tokens",
		"token_id",
		"name",
		"pass",
		"scopes[]",
		"user[name]",
		"passwor",
		"expires_at",
		"codes",
		"postcode",
		"X-Amz-Date",
		"X-Amz-Algorithm",
		"X-Amz-Expires",
		"X-Amz-SignedHeaders",
	};
	for (size_t i = 0; i < nitems(secret); i++)
		if (!query_name_secret(secret[i]))
			fail_msg("\"%s\" should name a secret", secret[i]);
	for (size_t i = 0; i < nitems(plain); i++)
		if (query_name_secret(plain[i]))
			fail_msg("\"%s\" should not name a secret", plain[i]);
	(void)state;
}

static void
redact_targets(void **state)
{
	/* nothing to hide */
	assert_str_free(url_redact("/v2/"), "/v2/");
	assert_str_free(url_redact("/a?"), "/a?");
	assert_str_free(url_redact("/a?n=10&last=x"), "/a?n=10&last=x");
	assert_str_free(url_redact(NULL), "");
	/* the request */
	assert_str_free(url_redact("/oauth/token?grant_type=password&username=root&password=Leak1"),
	                "/oauth/token?grant_type=password&username=root&password=[FILTERED]");
	/* every spelling of a name, every time it comes */
	assert_str_free(url_redact("/x?pass%77ord=s1&PASSWORD=s2&a_token=s3&private%5Ftoken=s4"),
	                "/x?pass%77ord=[FILTERED]&PASSWORD=[FILTERED]&a_token=[FILTERED]"
	                "&private%5Ftoken=[FILTERED]");
	assert_str_free(url_redact("/x?token=a&token=b&n=1&token=c"),
	                "/x?token=[FILTERED]&token=[FILTERED]&n=1&token=[FILTERED]");
	assert_str_free(url_redact("/x?user%5Bpassword%5D=s&user[name]=bob"),
	                "/x?user%5Bpassword%5D=[FILTERED]&user[name]=bob");
	assert_str_free(url_redact("/x?client_secret=s&refresh_token=r&access_token=t&secret=u"),
	                "/x?client_secret=[FILTERED]&refresh_token=[FILTERED]"
	                "&access_token=[FILTERED]&secret=[FILTERED]");
	/* names without values, empty values, empty pairs */
	assert_str_free(url_redact("/x?password&token=&&n="), "/x?password&token=[FILTERED]&&n=");
	assert_str_free(url_redact("/x?=s&password=a=b"), "/x?=s&password=[FILTERED]");
	/* a name that does not decode may be anything: its value goes */
	assert_str_free(url_redact("/x?pass%zzword=s&%=t&n=%zz"),
	                "/x?pass%zzword=[FILTERED]&%=[FILTERED]&n=%zz");
	/* '+' is a space in a name: "pass word" is no secret, "pass+word" as sent stays */
	assert_str_free(url_redact("/x?pass+word=s"), "/x?pass+word=s");
	/* the worst case of growth: many empty secret values */
	assert_str_free(url_redact("/x?%=&%=&%="), "/x?%=[FILTERED]&%=[FILTERED]&%=[FILTERED]");
	/* an OAuth authorization code, a presigned S3 URL: its signature and credential go */
	assert_str_free(url_redact("/oauth/token?grant_type=authorization_code&code=c0de&state=s"),
	                "/oauth/token?grant_type=authorization_code&code=[FILTERED]&state=s");
	assert_str_free(url_redact("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F"
	                           "20261206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261206T0"
	                           "00000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-"
	                           "Signature=abcdef"),
	                "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[FILTERED]&X-Amz-"
	                "Date=20261206T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-"
	                "Signature=[FILTERED]");
	/* only the query: a path is shown as it is */
	assert_str_free(url_redact("/password=x/y?a=1"), "/password=x/y?a=1");
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
		cmocka_unit_test(secret_names),
		cmocka_unit_test(redact_targets),
	};
	return cmocka_run_group_tests_name("url", tests, NULL, NULL);
}

/* Unit tests of authd/secret.c: token formats, lookup prefixes and the verification cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "authd.h"

#define ALL_KINDS ((1u << SECRET_PAT) | (1u << SECRET_DEPLOY) | (1u << SECRET_OAUTH))

static void
test_pat_format(void **state)
{
	(void)state;
	char token[SECRET_MAX], lookup[SECRET_LOOKUP_MAX + 1], parsed[SECRET_LOOKUP_MAX + 1];
	secret_new(SECRET_PAT, token, lookup);
	assert_int_equal(strlen(token), 6 + 40);
	assert_memory_equal(token, "glpat-", 6);
	assert_int_equal(strlen(lookup), 12);
	assert_memory_equal(token + 6, lookup, 12);
	static const char base62[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	for (const char *p = token + 6; *p; p++)
		assert_non_null(strchr(base62, *p));
	assert_int_equal(secret_parse(token, ALL_KINDS, parsed), SECRET_PAT);
	assert_string_equal(parsed, lookup);
	/* not accepted where only deploy tokens are */
	assert_int_equal(secret_parse(token, 1u << SECRET_DEPLOY, parsed), SECRET_NONE);
}

static void
test_deploy_format(void **state)
{
	(void)state;
	char token[SECRET_MAX], lookup[SECRET_LOOKUP_MAX + 1], parsed[SECRET_LOOKUP_MAX + 1];
	secret_new(SECRET_DEPLOY, token, lookup);
	assert_int_equal(strlen(token), 5 + 40);
	assert_memory_equal(token, "gldt-", 5);
	assert_int_equal(secret_parse(token, ALL_KINDS, parsed), SECRET_DEPLOY);
	assert_string_equal(parsed, lookup);
}

static void
test_oauth_format(void **state)
{
	(void)state;
	char token[SECRET_MAX], lookup[SECRET_LOOKUP_MAX + 1], parsed[SECRET_LOOKUP_MAX + 1];
	secret_new(SECRET_OAUTH, token, lookup);
	assert_int_equal(strlen(token), 64);
	assert_int_equal(strlen(lookup), 16);
	for (const char *p = token; *p; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	assert_int_equal(secret_parse(token, ALL_KINDS, parsed), SECRET_OAUTH);
	assert_string_equal(parsed, lookup);
	assert_int_equal(secret_parse(token, 1u << SECRET_REFRESH, parsed), SECRET_REFRESH);
	assert_int_equal(secret_parse(token, 1u << SECRET_PAT, parsed), SECRET_NONE);
}

static void
test_malformed(void **state)
{
	(void)state;
	char lookup[SECRET_LOOKUP_MAX + 1];
	static const char *const bad[] = {
		"",
		"glpat-",
		"glpat-short",
		"glpat-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"glpat-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
		"gldt-AAAA",
		"GLPAT-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
		"password123",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(secret_parse(bad[i], ALL_KINDS, lookup), SECRET_NONE);
	assert_int_equal(secret_parse(NULL, ALL_KINDS, lookup), SECRET_NONE);
}

static void
test_tokens_differ(void **state)
{
	(void)state;
	char a[SECRET_MAX], b[SECRET_MAX], la[SECRET_LOOKUP_MAX + 1], lb[SECRET_LOOKUP_MAX + 1];
	secret_new(SECRET_PAT, a, la);
	secret_new(SECRET_PAT, b, lb);
	assert_string_not_equal(a, b);
	assert_string_not_equal(la, lb);
	char pw[25];
	secret_password(pw, 24);
	assert_int_equal(strlen(pw), 24);
}

static void
test_looks_like(void **state)
{
	(void)state;
	char token[SECRET_MAX], lookup[SECRET_LOOKUP_MAX + 1];
	static const enum secret_kind kinds[] = { SECRET_PAT, SECRET_DEPLOY, SECRET_OAUTH };
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		secret_new(kinds[i], token, lookup);
		assert_true(secret_looks_like(token));
	}
	/* cut or damaged tokens of ours still are not for a log */
	assert_true(secret_looks_like("glpat-"));
	assert_true(secret_looks_like("glpat-short"));
	assert_true(secret_looks_like("gldt-AAAA!"));
	static const char *const logins[] = { "root", "alice", "oauth2", "gitlab+deploy-token-1",
		                              "glpa", "" };
	for (size_t i = 0; i < sizeof(logins) / sizeof(logins[0]); i++)
		assert_false(secret_looks_like(logins[i]));
	assert_false(secret_looks_like(NULL));
}

static void
test_cache(void **state)
{
	(void)state;
	secret_cache_init();
	char token[SECRET_MAX], lookup[SECRET_LOOKUP_MAX + 1];
	secret_new(SECRET_PAT, token, lookup);
	assert_false(secret_cache_hit(token, "stored", SECRET_PAT, 7));
	secret_cache_put(token, "stored", SECRET_PAT, 7);
	assert_true(secret_cache_hit(token, "stored", SECRET_PAT, 7));
	assert_false(secret_cache_hit(token, "stored", SECRET_PAT, 8));    /* another row */
	assert_false(secret_cache_hit(token, "stored", SECRET_DEPLOY, 7)); /* another kind */
	assert_false(secret_cache_hit(token, "rehashed", SECRET_PAT, 7));  /* another stored hash */
	token[10] ^= 1;
	assert_false(secret_cache_hit(token, "stored", SECRET_PAT, 7)); /* another secret */
	/* a new key (a new worker) forgets everything */
	token[10] ^= 1;
	secret_cache_init();
	assert_false(secret_cache_hit(token, "stored", SECRET_PAT, 7));
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pat_format),    cmocka_unit_test(test_deploy_format),
		cmocka_unit_test(test_oauth_format),  cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_tokens_differ), cmocka_unit_test(test_cache),
		cmocka_unit_test(test_looks_like),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

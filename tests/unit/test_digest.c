/* Unit tests of common/digest.c: known answers, incremental hashing, saved states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "digest.h"

static void
test_known_answers(void **state)
{
	char out[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, "", 0, out);
	assert_string_equal(
	        out, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_buffer(DIGEST_SHA256, "abc", 3, out);
	assert_string_equal(
	        out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	digest_buffer(DIGEST_SHA512, "abc", 3, out);
	assert_string_equal(
	        out, "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	assert_true(name_valid_digest(out));
	(void)state;
}

static void
test_incremental_equals_whole(void **state)
{
	unsigned char buf[10000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	for (int a = 0; a < 2; a++) {
		enum digest_algo algo = a ? DIGEST_SHA512 : DIGEST_SHA256;
		char whole[DIGEST_STR_MAX], parts[DIGEST_STR_MAX];
		digest_buffer(algo, buf, sizeof(buf), whole);
		struct digest_ctx d;
		digest_init(&d, algo);
		for (size_t off = 0; off < sizeof(buf); off += 333)
			digest_update(&d, buf + off,
			              sizeof(buf) - off < 333 ? sizeof(buf) - off : 333);
		digest_final(&d, parts);
		assert_string_equal(whole, parts);
	}
	(void)state;
}

/* A state saved halfway and loaded elsewhere finishes with the same digest. */
static void
test_state_round_trip(void **state)
{
	const char *text = "the quick brown fox jumps over the lazy dog, again and again";
	size_t half = strlen(text) / 2;
	for (int a = 0; a < 2; a++) {
		enum digest_algo algo = a ? DIGEST_SHA512 : DIGEST_SHA256;
		struct digest_ctx d, restored;
		digest_init(&d, algo);
		digest_update(&d, text, half);
		char *saved = digest_state_save(&d);
		assert_int_equal(digest_state_load(&restored, algo, saved, half), 0);
		digest_update(&restored, text + half, strlen(text) - half);
		char got[DIGEST_STR_MAX], want[DIGEST_STR_MAX];
		digest_final(&restored, got);
		digest_buffer(algo, text, strlen(text), want);
		assert_string_equal(got, want);
		/* a state of the other algorithm, or damaged text, is refused */
		assert_int_equal(digest_state_load(&restored, a ? DIGEST_SHA256 : DIGEST_SHA512,
		                                   saved, half),
		                 -1);
		/* a state of another length than the upload's offset */
		assert_int_equal(digest_state_load(&restored, algo, saved, half + 1), -1);
		assert_int_equal(digest_state_load(&restored, algo, saved, half + 64), -1);
		saved[2] = 'z';
		assert_int_equal(digest_state_load(&restored, algo, saved, half), -1);
		saved[0] = 'f'; /* a wrong version byte */
		assert_int_equal(digest_state_load(&restored, algo, saved, half), -1);
		free(saved);
	}
	assert_int_equal(digest_state_load(&(struct digest_ctx){ 0 }, DIGEST_SHA256, "00", 0), -1);
	assert_int_equal(digest_state_load(&(struct digest_ctx){ 0 }, DIGEST_SHA256, NULL, 0), -1);
	(void)state;
}

/* A state whose fields libcrypto would use as indexes is refused when they are out of range,
 * even with the right length and version. */
static void
test_state_fields_validated(void **state)
{
	for (int a = 0; a < 2; a++) {
		enum digest_algo algo = a ? DIGEST_SHA512 : DIGEST_SHA256;
		struct digest_ctx d, restored;
		digest_init(&d, algo);
		digest_update(&d, "abc", 3);
		struct digest_ctx bad = d;
		if (a)
			bad.u.sha512.num = 4096;
		else
			bad.u.sha256.num = 4096;
		char *saved = digest_state_save(&bad);
		assert_int_equal(digest_state_load(&restored, algo, saved, 3), -1);
		free(saved);
		bad = d;
		if (a)
			bad.u.sha512.md_len = 1000;
		else
			bad.u.sha256.md_len = 1000;
		saved = digest_state_save(&bad);
		assert_int_equal(digest_state_load(&restored, algo, saved, 3), -1);
		free(saved);
		saved = digest_state_save(&d);
		assert_int_equal(digest_state_load(&restored, algo, saved, 3), 0);
		free(saved);
	}
	(void)state;
}

static void
test_algorithm_names(void **state)
{
	enum digest_algo a;
	assert_true(digest_algo_parse("sha256", &a) && a == DIGEST_SHA256);
	assert_true(digest_algo_parse("sha512", &a) && a == DIGEST_SHA512);
	assert_false(digest_algo_parse("md5", &a));
	assert_false(digest_algo_parse(NULL, &a));
	assert_string_equal(digest_algo_name(DIGEST_SHA512), "sha512");
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_incremental_equals_whole),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_fields_validated),
		cmocka_unit_test(test_algorithm_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

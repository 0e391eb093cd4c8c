/* Unit tests of metad/tags_cache.c: an answer is found again only for exactly the same
 * repository path, n and last, as an independent copy, large answers are not kept, and the kept
 * answers stay within their budget. */
#include "unit.h"

#include "metad.h"

#include <sodium.h>

static struct tags_page
page(int64_t repo, int64_t version, const char *body, const char *link)
{
	struct tags_page p = { repo, version, (char *)body, (char *)link };
	return p;
}

static void
test_found_again_as_a_copy(void **state)
{
	struct tags_page in =
	        page(7, 3, "{\"name\":\"g/p\",\"tags\":[\"a\"]}", "</v2/g/p/tags/list?n=1&last=a>");
	tags_cache_put("g/p", 1, NULL, &in);
	struct tags_page out = { 0 };
	assert_true(tags_cache_get("g/p", 1, NULL, &out));
	assert_int_equal(out.repo, 7);
	assert_int_equal(out.version, 3);
	assert_string_equal(out.body, in.body);
	assert_string_equal(out.link, in.link);
	assert_ptr_not_equal(out.body, in.body);
	tags_page_clear(&out);
	assert_null(out.body);
	/* the copy outlives the entry it came from */
	assert_true(tags_cache_get("g/p", 1, NULL, &out));
	struct tags_page newer = page(7, 4, "{\"name\":\"g/p\",\"tags\":[]}", NULL);
	tags_cache_put("g/p", 1, NULL, &newer);
	assert_string_equal(out.body, in.body);
	tags_page_clear(&out);
	assert_true(tags_cache_get("g/p", 1, NULL, &out));
	assert_int_equal(out.version, 4);
	assert_null(out.link);
	tags_page_clear(&out);
	(void)state;
}

static void
test_only_the_same_path_n_and_last(void **state)
{
	struct tags_page in = page(1, 1, "{}", NULL);
	tags_cache_put("g/q", -1, NULL, &in);
	tags_cache_put("g/r", 2, "", &in);
	struct tags_page out = { 0 };
	assert_false(tags_cache_get("g/q", 0, NULL, &out));
	assert_false(tags_cache_get("g/q", -1, "", &out)); /* last="" is not no last */
	assert_false(tags_cache_get("g/q/a", -1, NULL, &out));
	assert_false(tags_cache_get("g/r", 2, NULL, &out));
	assert_false(tags_cache_get("g/r", 2, "\n", &out));
	assert_null(out.body);
	assert_true(tags_cache_get("g/r", 2, "", &out));
	tags_page_clear(&out);
	(void)state;
}

static void
test_large_answers_are_not_kept(void **state)
{
	size_t len = 1024 * 1024 + 1;
	char *big = malloc(len + 1);
	memset(big, 'x', len);
	big[len] = '\0';
	struct tags_page in = page(2, 1, big, NULL);
	tags_cache_put("g/big", -1, NULL, &in);
	struct tags_page out = { 0 };
	assert_false(tags_cache_get("g/big", -1, NULL, &out));
	big[len - 1] = '\0'; /* 1 MiB exactly is kept */
	tags_cache_put("g/big", -1, NULL, &in);
	assert_true(tags_cache_get("g/big", -1, NULL, &out));
	assert_int_equal(strlen(out.body), 1024 * 1024);
	tags_page_clear(&out);
	free(big);
	(void)state;
}

static void
test_kept_answers_stay_within_the_budget(void **state)
{
	size_t len = 1024 * 1024;
	char *big = malloc(len + 1);
	memset(big, 'y', len);
	big[len] = '\0';
	struct tags_page in = page(3, 1, big, NULL);
	char name[32];
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "g/many%d", i);
		tags_cache_put(name, -1, NULL, &in);
	}
	/* 20 MiB offered, at most 8 kept; the newest always is */
	int kept = 0;
	struct tags_page out = { 0 };
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "g/many%d", i);
		if (tags_cache_get(name, -1, NULL, &out)) {
			kept++;
			tags_page_clear(&out);
		}
	}
	assert_true(kept >= 1 && kept <= 8);
	assert_true(tags_cache_get("g/many19", -1, NULL, &out));
	tags_page_clear(&out);
	free(big);
	(void)state;
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_again_as_a_copy),
		cmocka_unit_test(test_only_the_same_path_n_and_last),
		cmocka_unit_test(test_large_answers_are_not_kept),
		cmocka_unit_test(test_kept_answers_stay_within_the_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

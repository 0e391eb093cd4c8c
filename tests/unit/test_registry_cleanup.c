/* Unit tests of metad/registry_cleanup.c: untrusted patterns, durations, and which tags a bulk
 * deletion or cleanup policy removes. */
#include "unit.h"

#include "metad.h"

/* Compiles a pattern that must compile. */
static pcre2_code *
re(const char *pattern)
{
	char *why = NULL;
	pcre2_code *code = cleanup_regex_compile(pattern, &why);
	if (code == NULL)
		fail_msg("%s: %s", pattern, why);
	return code;
}

/* The compile error of a pattern that must not compile (caller frees). */
static char *
bad(const char *pattern)
{
	char *why = NULL;
	pcre2_code *code = cleanup_regex_compile(pattern, &why);
	assert_null(code);
	assert_non_null(why);
	return why;
}

static void
test_anchored_both_ends(void **state)
{
	pcre2_code *v = re("v.+");
	assert_int_equal(cleanup_regex_match(v, "v1"), 1);
	assert_int_equal(cleanup_regex_match(v, "av1"), 0);
	assert_int_equal(cleanup_regex_match(v, "v"), 0);
	pcre2_code_free(v);
	/* an alternative that matches a prefix must not count: the whole name has to match */
	pcre2_code *alt = re("a|ab");
	assert_int_equal(cleanup_regex_match(alt, "ab"), 1);
	assert_int_equal(cleanup_regex_match(alt, "abc"), 0);
	pcre2_code_free(alt);
	/* closing the pattern early cannot escape the anchors */
	char *why = bad("x)|(.*");
	free(why);
	pcre2_code *sha = re("[0-9a-z]{40}");
	assert_int_equal(cleanup_regex_match(sha, "0123456789abcdef0123456789abcdef01234567"), 1);
	assert_int_equal(cleanup_regex_match(sha, "0123456789abcdef0123456789abcdef012345678"), 0);
	pcre2_code_free(sha);
	pcre2_code *empty = re("");
	assert_int_equal(cleanup_regex_match(empty, "v1"), 0);
	pcre2_code_free(empty);
	(void)state;
}

/* Protection rules' patterns are searched (GitLab's untrusted regexps): anchors only where the
 * pattern writes them, with the same refusals. */
static void
test_search_unanchored(void **state)
{
	char *why = NULL;
	pcre2_code *v = cleanup_regex_compile_search("^v", &why);
	assert_non_null(v);
	assert_int_equal(cleanup_regex_match(v, "v1.0"), 1);
	assert_int_equal(cleanup_regex_match(v, "dev"), 0);
	pcre2_code_free(v);
	pcre2_code *stable = cleanup_regex_compile_search("stable|release", &why);
	assert_int_equal(cleanup_regex_match(stable, "1.0-stable"), 1);
	assert_int_equal(cleanup_regex_match(stable, "main"), 0);
	pcre2_code_free(stable);
	assert_null(cleanup_regex_compile_search("(a)\\1", &why));
	assert_string_equal(why, "backreferences are not supported");
	free(why);
	why = NULL;
	assert_null(cleanup_regex_compile_search("[", &why));
	assert_non_null(strstr(why, "missing terminating ]"));
	free(why);
	(void)state;
}

static void
test_bad_patterns(void **state)
{
	char *why = bad("(unclosed");
	assert_non_null(strstr(why, "missing closing parenthesis"));
	free(why);
	why = bad("[z-a]");
	free(why);
	/* RE2 has no backreferences, and they are what makes matching slow */
	why = bad("(a)\\1");
	assert_string_equal(why, "backreferences are not supported");
	free(why);
	char *long_pattern = malloc(2001);
	memset(long_pattern, 'a', 2000);
	long_pattern[2000] = '\0';
	why = bad(long_pattern);
	free(why);
	free(long_pattern);
	(void)state;
}

static void
test_match_limit(void **state)
{
	/* catastrophic backtracking stops at the limit instead of burning the worker */
	pcre2_code *evil = re("(a+)+b");
	/* the 'b' is there (PCRE2 would give up at once otherwise), just not where it fits */
	char name[64];
	memset(name, 'a', 60);
	strcpy(name + 60, "cb");
	assert_int_equal(cleanup_regex_match(evil, name), -1);
	pcre2_code_free(evil);
	(void)state;
}

static void
test_durations(void **state)
{
	assert_int_equal(cleanup_duration("1h"), 3600);
	assert_int_equal(cleanup_duration("1d"), 86400);
	assert_int_equal(cleanup_duration("7d"), 7 * 86400);
	assert_int_equal(cleanup_duration("1month"), 30 * 86400);
	assert_int_equal(cleanup_duration("2 weeks"), 14 * 86400);
	assert_int_equal(cleanup_duration("1h30m"), 5400);
	assert_int_equal(cleanup_duration("1m"), 60);
	assert_int_equal(cleanup_duration("90"), 90);
	assert_int_equal(cleanup_duration("1 day, 2 hours"), 93600);
	assert_int_equal(cleanup_duration(""), -1);
	assert_int_equal(cleanup_duration("soon"), -1);
	assert_int_equal(cleanup_duration("1 fortnight"), -1);
	assert_int_equal(cleanup_duration("-1d"), -1);
	assert_int_equal(cleanup_duration("99999999999999999999d"), -1);
	assert_int_equal(cleanup_duration("1000000y"), -1);
	(void)state;
}

/* Runs the selection over names (newest first) and returns the doomed ones as "a,b,c". */
static char *
doomed(const char *delete_pattern, const char *keep_pattern, int64_t keep_n, const char **names,
       const bool *old)
{
	struct cleanup_tag tags[32];
	size_t n = 0;
	for (; names[n] != NULL; n++) {
		tags[n].name = names[n];
		tags[n].old_enough = old ? old[n] : true;
	}
	pcre2_code *del = re(delete_pattern);
	pcre2_code *keep = keep_pattern ? re(keep_pattern) : NULL;
	struct cleanup_rules rules = { del, keep, keep_n };
	size_t kept = 0;
	size_t count = cleanup_select(&rules, tags, n, &kept);
	char *out = calloc(1, 512);
	size_t seen = 0;
	for (size_t i = 0; i < n; i++) {
		if (!tags[i].doomed)
			continue;
		seen++;
		if (*out)
			strcat(out, ",");
		strcat(out, tags[i].name);
	}
	assert_int_equal(seen, count);
	pcre2_code_free(del);
	pcre2_code_free(keep);
	return out;
}

static void
test_selection(void **state)
{
	const char *names[] = {
		"v5", "latest", "v4", "stable-2", "v3", "stable-1", "v2", "v1", NULL
	};
	/* everything but latest */
	assert_str_free(doomed(".*", NULL, -1, names, NULL), "v5,v4,stable-2,v3,stable-1,v2,v1");
	/* the newest matching ones are kept; latest never counts */
	assert_str_free(doomed(".*", NULL, 2, names, NULL), "stable-2,v3,stable-1,v2,v1");
	assert_str_free(doomed("v.+", NULL, 2, names, NULL), "v3,v2,v1");
	/* name_regex_keep wins over name_regex_delete, and its tags do not count in keep_n */
	assert_str_free(doomed(".*", "stable-.*", 1, names, NULL), "v4,v3,v2,v1");
	assert_str_free(doomed(".*", ".*", -1, names, NULL), "");
	/* keep_n 0 keeps none */
	assert_str_free(doomed("v[12]", NULL, 0, names, NULL), "v2,v1");
	/* older_than: the keep_n newest are chosen first, then only old ones go */
	const bool old[] = { false, true, false, false, true, true, true, true };
	assert_str_free(doomed(".*", NULL, 1, names, old), "v3,stable-1,v2,v1");
	assert_str_free(doomed(".*", NULL, 4, names, old), "stable-1,v2,v1");
	(void)state;
}

static void
test_selection_in_pages(void **state)
{
	/* the same choice, whatever the pages: keep_n counts across them */
	const char *names[] = { "v9", "v8", "latest", "v7", "v6", "v5", "v4", "v3" };
	pcre2_code *del = re("v.*");
	struct cleanup_rules rules = { del, NULL, 4 };
	for (size_t page = 1; page <= 8; page++) {
		struct cleanup_tag tags[8];
		for (size_t i = 0; i < 8; i++) {
			tags[i].name = names[i];
			tags[i].old_enough = true;
		}
		size_t kept = 0, doomed = 0;
		for (size_t at = 0; at < 8; at += page)
			doomed += cleanup_select(&rules, tags + at, at + page > 8 ? 8 - at : page,
			                         &kept);
		assert_int_equal(kept, 4);
		assert_int_equal(doomed, 3);
		for (size_t i = 0; i < 8; i++)
			assert_int_equal(tags[i].doomed, i >= 5);
	}
	pcre2_code_free(del);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anchored_both_ends), cmocka_unit_test(test_search_unanchored),
		cmocka_unit_test(test_bad_patterns),       cmocka_unit_test(test_match_limit),
		cmocka_unit_test(test_durations),          cmocka_unit_test(test_selection),
		cmocka_unit_test(test_selection_in_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * libFuzzer target of the rules of bulk tag deletion and cleanup policies
 * (metad/registry_cleanup.c): tenants' name_regex_delete / name_regex_keep patterns, compiled
 * and matched with limits, and older_than durations.
 *
 * Input: lines: name_regex_delete, name_regex_keep (an empty line: none), older_than, keep_n,
 * then tag names (the seeds are the patterns and durations of GitLab's documentation and
 * python-gitlab's requests, and the tags of the test images). A pattern compiles or is refused
 * with a reason, a match never runs away (the input timeout catches one that would), a duration
 * is -1 or within a century, and the selection never dooms "latest", a kept tag or a tag that
 * does not match, and counts what it dooms.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "metad.h"
#include "util.h"

#define MAX_TAGS 64

/* Compiles a pattern: the code, or NULL after checking the reason. */
static pcre2_code *
compile(const char *pattern)
{
	char *why = NULL;
	pcre2_code *re = cleanup_regex_compile(pattern, &why);
	if (re == NULL) {
		if (!fuzz_bounded(why, 512))
			fuzz_fail("pattern %s refused without a short reason", pattern);
		free(why);
	}
	return re;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *delete_p = NULL, *keep_p = NULL, *older = NULL, *keep_n = NULL;
	if (!fuzz_take_line(&data, &size, 1100, &delete_p) ||
	    !fuzz_take_line(&data, &size, 1100, &keep_p) ||
	    !fuzz_take_line(&data, &size, 200, &older) ||
	    !fuzz_take_line(&data, &size, 30, &keep_n))
		goto out;
	int64_t seconds = cleanup_duration(older);
	if (seconds != -1 && (seconds < 0 || seconds > 100LL * 31536000))
		fuzz_fail("older_than %s is %lld seconds", older, (long long)seconds);
	pcre2_code *del = compile(delete_p);
	pcre2_code *keep = keep_p[0] != '\0' ? compile(keep_p) : NULL;
	if (del == NULL) {
		pcre2_code_free(keep);
		goto out;
	}
	struct cleanup_tag tags[MAX_TAGS];
	size_t n = 0;
	char *names = fuzz_strndup(data, size);
	char *save = NULL;
	for (char *t = strtok_r(names, "\n", &save); t != NULL && n < MAX_TAGS;
	     t = strtok_r(NULL, "\n", &save)) {
		tags[n].name = t;
		tags[n].old_enough = (t[0] & 1) != 0 || seconds <= 0;
		n++;
	}
	int64_t kn = strtoll(keep_n, NULL, 10) % 100;
	struct cleanup_rules rules = { del, keep, kn };
	size_t kept = 0;
	size_t doomed = cleanup_select(&rules, tags, n, &kept);
	size_t counted = 0;
	for (size_t i = 0; i < n; i++) {
		if (!tags[i].doomed)
			continue;
		counted++;
		if (strcmp(tags[i].name, "latest") == 0 || !tags[i].old_enough ||
		    cleanup_regex_match(del, tags[i].name) != 1 ||
		    (keep != NULL && cleanup_regex_match(keep, tags[i].name) != 0))
			fuzz_fail("tag %s doomed against the rules", tags[i].name);
	}
	if (counted != doomed || (kn > 0 ? kept > (size_t)kn : kept != 0))
		fuzz_fail("%zu doomed, %zu counted, %zu kept of keep_n %lld", doomed, counted, kept,
		          (long long)kn);
	free(names);
	pcre2_code_free(del);
	pcre2_code_free(keep);
out:
	free(delete_p);
	free(keep_p);
	free(older);
	free(keep_n);
	return 0;
}

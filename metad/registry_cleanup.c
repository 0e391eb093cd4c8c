/*
 * The rules of bulk tag deletion and cleanup policies, as GitLab's CleanupTagsService applies
 * them: tag names matching name_regex_delete (anchored at both ends) and not name_regex_keep,
 * never "latest", ordered newest manifest first, the keep_n newest of them kept, the rest
 * deleted when older than older_than.
 *
 * Patterns come from tenants, so they are compiled and matched with limits: a pattern may not be
 * longer than PATTERN_MAX or nest deeper than NEST_MAX, and a match that backtracks more than
 * MATCH_LIMIT times stops (the tag is then neither deleted nor, for a keep pattern, given up).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metad.h"
#include "util.h"

#define PATTERN_MAX 1024
#define NEST_MAX 64
#define MATCH_LIMIT 200000
#define DEPTH_LIMIT 5000

static pcre2_compile_context *compile_ctx;
static pcre2_match_context *match_ctx;

/* The limits every untrusted pattern is compiled and matched with (made once per process). */
static void
contexts_init(void)
{
	if (compile_ctx != NULL)
		return;
	compile_ctx = pcre2_compile_context_create(NULL);
	pcre2_set_max_pattern_length(compile_ctx, PATTERN_MAX);
	pcre2_set_parens_nest_limit(compile_ctx, NEST_MAX);
	match_ctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(match_ctx, MATCH_LIMIT);
	pcre2_set_depth_limit(match_ctx, DEPTH_LIMIT);
}

/* Compiles an untrusted pattern with the limits and RE2's restrictions, and options. */
static pcre2_code *
regex_compile(const char *pattern, uint32_t options, char **why)
{
	contexts_init();
	int err;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	                               PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | options, &err, &off,
	                               compile_ctx);
	if (re == NULL) {
		PCRE2_UCHAR msg[256];
		if (pcre2_get_error_message(err, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", err);
		*why = xasprintf("%s at offset %zu", (const char *)msg, (size_t)off);
		return NULL;
	}
	uint32_t backrefs = 0;
	pcre2_pattern_info(re, PCRE2_INFO_BACKREFMAX, &backrefs);
	if (backrefs > 0) {
		/* RE2, which GitLab validates with, has none; they are also what makes matching
		 * slow */
		pcre2_code_free(re);
		*why = xstrdup("backreferences are not supported");
		return NULL;
	}
	return re;
}

pcre2_code *
cleanup_regex_compile(const char *pattern, char **why)
{
	/* ANCHORED and ENDANCHORED rather than "\A(?:" pattern ")\z": a pattern cannot close the
	 * group early and escape the anchors */
	return regex_compile(pattern, PCRE2_ANCHORED | PCRE2_ENDANCHORED, why);
}

pcre2_code *
cleanup_regex_compile_search(const char *pattern, char **why)
{
	return regex_compile(pattern, 0, why);
}

int
cleanup_regex_match(const pcre2_code *re, const char *name)
{
	contexts_init();
	pcre2_match_data *m = pcre2_match_data_create(1, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, m, match_ctx);
	pcre2_match_data_free(m);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* Seconds in a unit of a duration, 0 for an unknown unit. */
static int64_t
unit_seconds(const char *unit, size_t len)
{
	static const struct {
		const char *name;
		int64_t seconds;
	} units[] = {
		{ "s", 1 },
		{ "sec", 1 },
		{ "secs", 1 },
		{ "second", 1 },
		{ "seconds", 1 },
		{ "m", 60 },
		{ "min", 60 },
		{ "mins", 60 },
		{ "minute", 60 },
		{ "minutes", 60 },
		{ "h", 3600 },
		{ "hr", 3600 },
		{ "hrs", 3600 },
		{ "hour", 3600 },
		{ "hours", 3600 },
		{ "d", 86400 },
		{ "day", 86400 },
		{ "days", 86400 },
		{ "w", 604800 },
		{ "wk", 604800 },
		{ "wks", 604800 },
		{ "week", 604800 },
		{ "weeks", 604800 },
		{ "mo", 2592000 },
		{ "mon", 2592000 },
		{ "mos", 2592000 },
		{ "month", 2592000 },
		{ "months", 2592000 },
		{ "y", 31536000 },
		{ "yr", 31536000 },
		{ "yrs", 31536000 },
		{ "year", 31536000 },
		{ "years", 31536000 },
	};
	for (size_t i = 0; i < nitems(units); i++)
		if (strlen(units[i].name) == len && strncasecmp(units[i].name, unit, len) == 0)
			return units[i].seconds;
	return 0;
}

int64_t
cleanup_duration(const char *text)
{
	/* a century is more than any registry keeps a tag; it also keeps the sum from overflowing
	 */
	const int64_t max = 100LL * 31536000;
	const char *p = text;
	int64_t total = 0;
	bool any = false;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		size_t digits = strspn(p, "0123456789");
		int64_t n;
		if (str_to_count(p, digits, max, &n) != COUNT_OK)
			return -1;
		p += digits;
		while (*p == ' ')
			p++;
		const char *unit = p;
		while (isalpha((unsigned char)*p))
			p++;
		/* a bare number is seconds, as ChronicDuration reads it */
		int64_t seconds = p == unit ? 1 : unit_seconds(unit, (size_t)(p - unit));
		if (seconds == 0 || n > max / seconds || total + n * seconds > max)
			return -1;
		total += n * seconds;
		any = true;
	}
	return any ? total : -1;
}

size_t
cleanup_select(const struct cleanup_rules *rules, struct cleanup_tag *tags, size_t n, size_t *kept)
{
	size_t doomed = 0;
	for (size_t i = 0; i < n; i++) {
		struct cleanup_tag *t = &tags[i];
		t->doomed = false;
		if (strcmp(t->name, "latest") == 0)
			continue;
		/* a match cut short by the limit deletes nothing and keeps what it may keep */
		if (cleanup_regex_match(rules->delete_re, t->name) != 1)
			continue;
		if (rules->keep_re != NULL && cleanup_regex_match(rules->keep_re, t->name) != 0)
			continue;
		if (rules->keep_n > 0 && *kept < (size_t)rules->keep_n) {
			(*kept)++;
			continue;
		}
		if (!t->old_enough)
			continue;
		t->doomed = true;
		doomed++;
	}
	return doomed;
}

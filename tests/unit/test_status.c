/* status.c: the status words' table (status.def), by which every write function's answer is
 * given to a client. */
#include "unit.h"

#include <string.h>

#include "errors.h"
#include "status.h"

static void
words_round_trip(void **state)
{
	for (int w = 0; w < STATUS_COUNT; w++) {
		const struct status_entry *e = status_entry((enum status_word)w);
		assert_int_equal(status_parse(e->word), w);
		assert_true(e->http >= 200 && e->http < 600);
		/* a word answers either GitLab (maybe about a field) or OCI (its text the detail,
		 * or the message clients print when the field says "message") */
		assert_true(e->oci == NULL || e->field == NULL || strcmp(e->field, "message") == 0);
	}
	assert_int_equal(status_parse("ok"), STATUS_ok);
	assert_int_equal(status_parse("no_such_word"), STATUS_NONE);
	assert_int_equal(status_parse(NULL), STATUS_NONE);
	(void)state;
}

static void
texts_quote_values(void **state)
{
	char *t =
	        status_text(STATUS_below_inherited, "Developer inherited membership from group g");
	assert_string_equal(t, "should be greater than or equal to Developer inherited membership "
	                       "from group g");
	free(t);
	t = status_text(STATUS_blob_unknown, "sha256:ab");
	assert_string_equal(t, "sha256:ab");
	free(t);
	t = status_text(STATUS_no_project, "ignored");
	assert_string_equal(t, "no project at this path");
	free(t);
	t = status_text(STATUS_limit_reached, NULL);
	assert_string_equal(t, "Your project limit is  projects! Please contact your administrator "
	                       "to increase it");
	free(t);
	assert_null(status_text(STATUS_ok, "x"));
	assert_null(status_text(STATUS_not_found, "x"));
	assert_string_equal(status_entry(STATUS_no_project)->oci, OCI_DENIED);
	assert_string_equal(status_entry(STATUS_path_taken)->field, "path");
	t = status_text(STATUS_quota_exceeded, "namespace g uses 2 bytes of its limit of 1 bytes");
	assert_string_equal(t,
	                    "container registry storage quota exceeded: namespace g uses 2 bytes "
	                    "of its limit of 1 bytes");
	free(t);
	assert_string_equal(status_entry(STATUS_quota_exceeded)->field, "message");
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(words_round_trip),
		cmocka_unit_test(texts_quote_values),
	};
	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}

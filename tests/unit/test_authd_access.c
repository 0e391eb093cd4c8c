/* Unit tests of authd/access.c: scope parsing and what a credential may be used for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "util.h"

/* The actions parsed for type:name, or -1 when absent. */
static int
actions_of(const struct access_list *l, const char *type, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].type, type) == 0 && strcmp(l->items[i].name, name) == 0)
			return (int)l->items[i].actions;
	return -1;
}

static void
test_parse_basic(void **state)
{
	(void)state;
	struct access_list l = { 0 };
	access_parse(&l, "repository:acme/web/app:pull,push");
	assert_int_equal(l.n, 1);
	assert_int_equal(actions_of(&l, "repository", "acme/web/app"), ACT_PULL | ACT_PUSH);
	access_list_clear(&l);
	assert_int_equal(l.n, 0);
}

static void
test_parse_several_and_merge(void **state)
{
	(void)state;
	struct access_list l = { 0 };
	access_parse(&l, "repository:a/b:pull  repository:c/d:push registry:catalog:*");
	access_parse(&l, "repository:a/b:delete");
	assert_int_equal(l.n, 3);
	assert_int_equal(actions_of(&l, "repository", "a/b"), ACT_PULL | ACT_DELETE);
	assert_int_equal(actions_of(&l, "repository", "c/d"), ACT_PUSH);
	assert_int_equal(actions_of(&l, "registry", "catalog"), ACT_STAR);
	access_list_clear(&l);
}

static void
test_parse_port_in_name(void **state)
{
	(void)state;
	struct access_list l = { 0 };
	access_parse(&l, "repository:localhost:5000/foo/bar:pull,push");
	assert_int_equal(actions_of(&l, "repository", "localhost:5000/foo/bar"),
	                 ACT_PULL | ACT_PUSH);
	access_list_clear(&l);
}

static void
test_parse_malformed(void **state)
{
	(void)state;
	struct access_list l = { 0 };
	access_parse(&l, "garbage repository:onlyname :x:pull repository::pull");
	access_parse(&l, NULL);
	access_parse(&l, "");
	assert_int_equal(l.n, 0);
	access_parse(&l, "repository:a/b:frob,pull,");
	assert_int_equal(actions_of(&l, "repository", "a/b"), ACT_PULL);
	access_parse(&l, "repository:c/d:");
	assert_int_equal(actions_of(&l, "repository", "c/d"), 0);
	access_list_clear(&l);
}

static void
test_parse_bounded(void **state)
{
	(void)state;
	struct access_list l = { 0 };
	char scope[64];
	for (int i = 0; i < 100; i++) {
		snprintf(scope, sizeof(scope), "repository:g/p%d:pull", i);
		access_parse(&l, scope);
	}
	assert_true(l.n <= 32);
	access_list_clear(&l);
}

static const unsigned ALL = ACT_PULL | ACT_PUSH | ACT_DELETE;

static void
test_credential_actions(void **state)
{
	(void)state;
	/* a personal access token by its scopes */
	assert_int_equal(access_credential_actions(AUTH_PERSONAL_ACCESS_TOKEN, SCOPE_READ_REGISTRY),
	                 ACT_PULL);
	assert_int_equal(
	        access_credential_actions(AUTH_PERSONAL_ACCESS_TOKEN, SCOPE_WRITE_REGISTRY),
	        ACT_PUSH);
	assert_int_equal(access_credential_actions(AUTH_PERSONAL_ACCESS_TOKEN,
	                                           SCOPE_READ_REGISTRY | SCOPE_WRITE_REGISTRY),
	                 ACT_PULL | ACT_PUSH);
	assert_int_equal(access_credential_actions(AUTH_PERSONAL_ACCESS_TOKEN, SCOPE_API), ALL);
	assert_int_equal(access_credential_actions(AUTH_PERSONAL_ACCESS_TOKEN,
	                                           SCOPE_READ_API | SCOPE_READ_USER | SCOPE_SUDO),
	                 0);
	/* every other credential, and nobody, by its rights alone (registry_access in SQL) */
	assert_int_equal(access_credential_actions(AUTH_PASSWORD, 0), ALL);
	assert_int_equal(access_credential_actions(AUTH_OAUTH, SCOPE_API), ALL);
	assert_int_equal(access_credential_actions(AUTH_DEPLOY_TOKEN, SCOPE_READ_REGISTRY), ALL);
	assert_int_equal(access_credential_actions(AUTH_ANONYMOUS, 0), ALL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_parse_several_and_merge),
		cmocka_unit_test(test_parse_port_in_name),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_bounded),
		cmocka_unit_test(test_credential_actions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

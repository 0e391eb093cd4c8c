/* Unit tests of authd/access.c: scope parsing, project path candidates and rights. */
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
	assert_int_equal(actions_of(&l, "repository", "localhost:5000/foo/bar"), ACT_PULL | ACT_PUSH);
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

/* Joins the candidates with '|' for easy comparison. */
static char *
joined(char **v)
{
	static char buf[512];
	buf[0] = '\0';
	for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
		if (i)
			strcat(buf, "|");
		strcat(buf, v[i]);
	}
	return buf;
}

static void
test_prefixes(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		const char *want;
	} cases[] = {
		{ "a/b", "a/b" },
		{ "a/b/c", "a/b/c|a/b" },
		{ "a/b/c/d", "a/b/c/d|a/b/c|a/b" },
		{ "a/b/c/d/e", "a/b/c/d/e|a/b/c/d|a/b/c" },
		{ "g/s/t/p/x/y", "g/s/t/p/x/y|g/s/t/p/x|g/s/t/p" },
		{ "single", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char **v = access_prefixes(cases[i].name);
		assert_non_null(v);
		assert_string_equal(joined(v), cases[i].want);
		strv_free(v);
	}
	assert_null(access_prefixes("Upper/Case"));
	assert_null(access_prefixes("localhost:5000/x"));
	assert_null(access_prefixes("a//b"));
	assert_null(access_prefixes(NULL));
	char **v = access_prefixes("a/b/c");
	char *arr = access_prefixes_array(v);
	assert_string_equal(arr, "{\"a/b/c\",\"a/b\"}");
	free(arr);
	strv_free(v);
}

static const unsigned ALL = ACT_PULL | ACT_PUSH | ACT_DELETE;

static void
test_grant_users(void **state)
{
	(void)state;
	struct access_subject s = { .kind = AUTH_PASSWORD, .registry = "enabled" };
	s.level = 20;
	s.can_pull = true;
	assert_int_equal(access_grant(&s, ALL), ACT_PULL);
	s.level = 30;
	assert_int_equal(access_grant(&s, ALL), ACT_PULL | ACT_PUSH);
	s.level = 40;
	assert_int_equal(access_grant(&s, ALL), ALL);
	assert_int_equal(access_grant(&s, ACT_PUSH | ACT_STAR), ACT_PUSH);
	s.level = 0;
	s.can_pull = false;
	assert_int_equal(access_grant(&s, ALL), 0);
	s.admin = true;
	assert_int_equal(access_grant(&s, ALL), ACT_PUSH | ACT_DELETE); /* pull: can_pull decides */
	s.can_pull = true;
	assert_int_equal(access_grant(&s, ALL), ALL);
	s.registry = "disabled";
	assert_int_equal(access_grant(&s, ALL), 0);
	s.registry = NULL;
	assert_int_equal(access_grant(&s, ALL), 0);
}

static void
test_grant_pat_scopes(void **state)
{
	(void)state;
	struct access_subject s = { .kind = AUTH_PERSONAL_ACCESS_TOKEN, .registry = "enabled",
		                    .level = 50, .can_pull = true };
	s.scopes = SCOPE_READ_REGISTRY;
	assert_int_equal(access_grant(&s, ALL), ACT_PULL);
	s.scopes = SCOPE_WRITE_REGISTRY;
	assert_int_equal(access_grant(&s, ALL), ACT_PUSH);
	s.scopes = SCOPE_API;
	assert_int_equal(access_grant(&s, ALL), ALL);
	s.scopes = SCOPE_READ_API | SCOPE_READ_USER | SCOPE_SUDO;
	assert_int_equal(access_grant(&s, ALL), 0);
	s.scopes = SCOPE_API;
	s.level = 30;
	assert_int_equal(access_grant(&s, ALL), ACT_PULL | ACT_PUSH);
}

static void
test_grant_deploy_and_anonymous(void **state)
{
	(void)state;
	struct access_subject s = { .kind = AUTH_DEPLOY_TOKEN, .registry = "private",
		                    .covered = true, .scopes = SCOPE_READ_REGISTRY };
	assert_int_equal(access_grant(&s, ALL), ACT_PULL);
	s.scopes = SCOPE_WRITE_REGISTRY;
	assert_int_equal(access_grant(&s, ALL), ACT_PUSH);
	s.scopes = SCOPE_READ_REGISTRY | SCOPE_WRITE_REGISTRY | SCOPE_API;
	assert_int_equal(access_grant(&s, ALL), ACT_PULL | ACT_PUSH); /* never delete */
	s.covered = false;
	assert_int_equal(access_grant(&s, ALL), 0);
	s.can_pull = true; /* a public project anybody may pull */
	assert_int_equal(access_grant(&s, ALL), ACT_PULL);
	s.registry = "disabled";
	assert_int_equal(access_grant(&s, ALL), 0);

	struct access_subject a = { .kind = AUTH_ANONYMOUS, .registry = "enabled", .level = 50,
		                    .admin = true };
	assert_int_equal(access_grant(&a, ALL), 0);
	a.can_pull = true;
	assert_int_equal(access_grant(&a, ALL), ACT_PULL);
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
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_grant_users),
		cmocka_unit_test(test_grant_pat_scopes),
		cmocka_unit_test(test_grant_deploy_and_anonymous),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

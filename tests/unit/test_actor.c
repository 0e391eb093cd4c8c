/* actor.c: the identity headers between gateway and backends, scopes and actions. */
#include "unit.h"

#include "actor.h"
#include "headers.h"
#include "wire.h"

static void
round_trip(void **state)
{
	struct actor a, b;
	memset(&a, 0, sizeof(a));
	a.user_id = 42;
	snprintf(a.username, sizeof(a.username), "alice");
	a.admin = true;
	a.kind = AUTH_PERSONAL_ACCESS_TOKEN;
	a.scopes = SCOPE_API | SCOPE_READ_REGISTRY;
	a.deploy_token_id = 7;
	a.actions = ACT_PULL | ACT_PUSH;
	a.from_actions = ACT_PULL;
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, WIRE_USER_ID, "999"); /* replaced, never duplicated */
	actor_to_headers(&a, &h);
	assert_string_equal(headers_get(&h, WIRE_USER_ID), "42");
	assert_string_equal(headers_get(&h, WIRE_SCOPES), "api,read_registry");
	assert_string_equal(headers_get(&h, WIRE_ACTIONS), "pull,push");
	actor_from_headers(&b, &h);
	assert_int_equal(b.user_id, 42);
	assert_string_equal(b.username, "alice");
	assert_true(b.admin);
	assert_int_equal(b.kind, AUTH_PERSONAL_ACCESS_TOKEN);
	assert_int_equal(b.scopes, SCOPE_API | SCOPE_READ_REGISTRY);
	assert_int_equal(b.deploy_token_id, 7);
	assert_int_equal(b.actions, ACT_PULL | ACT_PUSH);
	assert_int_equal(b.from_actions, ACT_PULL);
	assert_true(actor_signed_in(&b));
	headers_clear(&h);
	(void)state;
}

static void
anonymous_and_garbage(void **state)
{
	struct actor a;
	struct http_headers h;
	headers_init(&h);
	actor_from_headers(&a, &h);
	assert_int_equal(a.user_id, 0);
	assert_false(actor_signed_in(&a));
	assert_int_equal(a.kind, AUTH_ANONYMOUS);
	headers_add(&h, WIRE_USER_ID, "-5");
	headers_add(&h, WIRE_ADMIN, "yes");
	headers_add(&h, WIRE_AUTH_KIND, "root");
	headers_add(&h, WIRE_DEPLOY_TOKEN_ID, "12abc");
	actor_from_headers(&a, &h);
	assert_int_equal(a.user_id, 0);
	assert_false(a.admin);
	assert_int_equal(a.kind, AUTH_ANONYMOUS);
	assert_int_equal(a.deploy_token_id, 0);
	headers_clear(&h);
	/* an anonymous actor sends only its kind */
	memset(&a, 0, sizeof(a));
	actor_to_headers(&a, &h);
	assert_int_equal(h.hd_count, 1);
	assert_string_equal(headers_get(&h, WIRE_AUTH_KIND), "anonymous");
	headers_clear(&h);
	(void)state;
}

static void
scopes_and_actions(void **state)
{
	bool bad = false;
	assert_int_equal(scopes_parse("api read_api,read_user", &bad),
	                 SCOPE_API | SCOPE_READ_API | SCOPE_READ_USER);
	assert_false(bad);
	assert_int_equal(scopes_parse("api,bogus", &bad), SCOPE_API);
	assert_true(bad);
	assert_int_equal(scopes_parse(NULL, NULL), 0);
	assert_int_equal(scope_bit("write_registry"), SCOPE_WRITE_REGISTRY);
	assert_int_equal(scope_bit("nope"), 0);
	assert_str_free(scopes_format(SCOPE_ALL), "api,read_api,read_user,read_registry,"
	                                          "write_registry,sudo");
	assert_str_free(scopes_format(0), "");
	assert_int_equal(actions_parse("pull,push"), ACT_PULL | ACT_PUSH);
	assert_int_equal(actions_parse("*"), ACT_STAR);
	assert_int_equal(actions_parse("pull,fly"), ACT_PULL); /* unknown actions are ignored */
	assert_int_equal(actions_parse(""), 0);
	assert_str_free(actions_format(ACT_PULL | ACT_DELETE), "pull,delete");
	for (int k = AUTH_ANONYMOUS; k <= AUTH_DEPLOY_TOKEN; k++)
		assert_int_equal(auth_kind_parse(auth_kind_name((enum auth_kind)k)), k);
	assert_int_equal(auth_kind_parse(NULL), AUTH_ANONYMOUS);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(anonymous_and_garbage),
		cmocka_unit_test(scopes_and_actions),
	};
	return cmocka_run_group_tests_name("actor", tests, NULL, NULL);
}

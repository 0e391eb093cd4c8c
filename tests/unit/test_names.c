/* names.c: repository names, tags, GitLab path segments and digests. */
#include "unit.h"

#include "names.h"

static void
repositories(void **state)
{
	const char *good[] = { "a",     "acme/web", "acme/devops/my/image", "a0/b-c/d.e/f_g/h__i",
		               "x---y", "1/2" };
	const char *bad[] = { "",          "A",   "acme/Web", "/acme", "acme/",
		              "acme//web", "-a",  "a-",       "a..b",  "a._b",
		              "a___b",     "a b", "a/b:c",    "a@b",   "a_-b" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!name_valid_repository(good[i]))
			fail_msg("\"%s\" should be valid", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (name_valid_repository(bad[i]))
			fail_msg("\"%s\" should be invalid", bad[i]);
	char longname[NAME_MAX_LEN + 2];
	memset(longname, 'a', sizeof(longname));
	longname[NAME_MAX_LEN] = '\0';
	assert_true(name_valid_repository(longname));
	longname[NAME_MAX_LEN] = 'a';
	longname[NAME_MAX_LEN + 1] = '\0';
	assert_false(name_valid_repository(longname));
	(void)state;
}

static void
tags(void **state)
{
	assert_true(name_valid_tag("latest"));
	assert_true(name_valid_tag("v1.2.3-rc_1"));
	assert_true(name_valid_tag("_x"));
	assert_true(name_valid_tag("UPPER"));
	assert_false(name_valid_tag(""));
	assert_false(name_valid_tag(".x"));
	assert_false(name_valid_tag("-x"));
	assert_false(name_valid_tag("a/b"));
	assert_false(name_valid_tag("a:b"));
	assert_false(name_valid_tag("a b"));
	char t[TAG_MAX_LEN + 2];
	memset(t, 'a', sizeof(t));
	t[TAG_MAX_LEN] = '\0';
	assert_true(name_valid_tag(t));
	t[TAG_MAX_LEN] = 'a';
	t[TAG_MAX_LEN + 1] = '\0';
	assert_false(name_valid_tag(t));
	(void)state;
}

static void
paths(void **state)
{
	assert_true(name_valid_path("acme"));
	assert_true(name_valid_path("My-Group.v2"));
	assert_true(name_valid_path("_private"));
	assert_false(name_valid_path(""));
	assert_false(name_valid_path("-x"));
	assert_false(name_valid_path(".x"));
	assert_false(name_valid_path("x."));
	assert_false(name_valid_path("repo.git"));
	assert_false(name_valid_path("feed.atom"));
	assert_false(name_valid_path("a/b"));
	assert_false(name_valid_path("a b"));
	(void)state;
}

static void
digests(void **state)
{
	const char *h64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	char d[300];
	snprintf(d, sizeof(d), "sha256:%s", h64);
	assert_true(name_valid_digest(d));
	enum digest_algo algo;
	const char *hex;
	assert_true(name_split_digest(d, &algo, &hex));
	assert_int_equal(algo, DIGEST_SHA256);
	assert_ptr_equal(hex, d + 7);
	snprintf(d, sizeof(d), "sha512:%s%s", h64, h64);
	assert_true(name_split_digest(d, &algo, &hex));
	assert_int_equal(algo, DIGEST_SHA512);
	snprintf(d, sizeof(d), "sha256:%s", h64);
	d[10] = 'A'; /* uppercase hex */
	assert_false(name_valid_digest(d));
	snprintf(d, sizeof(d), "sha256:%.63s", h64);
	assert_false(name_valid_digest(d));
	snprintf(d, sizeof(d), "sha256:%s0", h64);
	assert_false(name_valid_digest(d));
	snprintf(d, sizeof(d), "sha512:%s", h64);
	assert_false(name_valid_digest(d));
	assert_false(name_valid_digest("md5:d41d8cd98f00b204e9800998ecf8427e"));
	assert_false(name_valid_digest(""));
	/* well-formed but unsupported, and malformed */
	assert_true(name_well_formed_digest("md5:d41d8cd98f00b204e9800998ecf8427e"));
	assert_true(name_well_formed_digest(
	        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"));
	assert_false(name_well_formed_digest("nocolon"));
	assert_false(name_well_formed_digest(":abc"));
	assert_false(name_well_formed_digest("sha256:"));
	assert_false(name_well_formed_digest("SHA256:abc"));
	assert_false(name_well_formed_digest("sha256:ab/cd"));
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(repositories),
		cmocka_unit_test(tags),
		cmocka_unit_test(paths),
		cmocka_unit_test(digests),
	};
	return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}

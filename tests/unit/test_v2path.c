/* v2path.c: which /v2 endpoint a path names, with names that contain slashes. */
#include "unit.h"

#include "actor.h"
#include "v2path.h"

static void
expect(const char *path, enum v2_kind kind, const char *name, const char *ref)
{
	struct v2_path vp;
	if (v2_parse(path, &vp) < 0)
		fail_msg("%s: not parsed", path);
	if (vp.kind != kind)
		fail_msg("%s: kind %d, want %d", path, vp.kind, kind);
	if (name == NULL)
		assert_null(vp.name);
	else
		assert_string_equal(vp.name, name);
	if (ref == NULL)
		assert_null(vp.ref);
	else
		assert_string_equal(vp.ref, ref);
	v2_path_clear(&vp);
}

static void
reject(const char *path)
{
	struct v2_path vp;
	if (v2_parse(path, &vp) == 0) {
		v2_path_clear(&vp);
		fail_msg("%s: parsed, want refused", path);
	}
}

static void
endpoints(void **state)
{
	expect("/v2/", V2_BASE, NULL, NULL);
	expect("/v2", V2_BASE, NULL, NULL);
	expect("/v2/_catalog", V2_CATALOG, NULL, NULL);
	expect("/v2/acme/web/manifests/latest", V2_MANIFEST, "acme/web", "latest");
	expect("/v2/acme/web/manifests/sha256:abc", V2_MANIFEST, "acme/web", "sha256:abc");
	expect("/v2/acme/web/blobs/sha256:abc", V2_BLOB, "acme/web", "sha256:abc");
	expect("/v2/acme/web/blobs/uploads/", V2_UPLOAD, "acme/web", "");
	expect("/v2/acme/web/blobs/uploads", V2_UPLOAD, "acme/web", "");
	expect("/v2/acme/web/blobs/uploads/5f2a-11", V2_UPLOAD, "acme/web", "5f2a-11");
	expect("/v2/acme/web/tags/list", V2_TAGS, "acme/web", "");
	expect("/v2/acme/web/referrers/sha256:abc", V2_REFERRERS, "acme/web", "sha256:abc");
	(void)state;
}

static void
names_with_keywords(void **state)
{
	/* Segments named like endpoints inside a name: the last ones decide. */
	expect("/v2/acme/devops/my/image/manifests/1.0", V2_MANIFEST, "acme/devops/my/image", "1.0");
	expect("/v2/a/manifests/b/manifests/c", V2_MANIFEST, "a/manifests/b", "c");
	expect("/v2/blobs/blobs/x", V2_BLOB, "blobs", "x");
	expect("/v2/tags/tags/list", V2_TAGS, "tags", "");
	expect("/v2/a/blobs/uploads/blobs/uploads/u1", V2_UPLOAD, "a/blobs/uploads", "u1");
	(void)state;
}

static void
refused(void **state)
{
	reject("/v3/");
	reject("/v2x/a/manifests/b");
	reject("/v2/a");
	reject("/v2/a/b");
	reject("/v2/manifests/latest"); /* no name */
	reject("/v2//manifests/latest");
	reject("/v2/a/unknown/x");
	reject("/v2/a/uploads/x"); /* uploads without blobs */
	reject("/v2/a/tags/other");
	reject("/v2/blobs/uploads/");
	reject("/v2/a/manifests/");
	reject("/v2/a/blobs/");
	reject("/v2/a/referrers/");
	(void)state;
}

/* What each endpoint needs: the gateway challenges with it, metad and blobd check it. */
static void
needed_actions(void **state)
{
	assert_int_equal(v2_needed_actions(V2_BLOB, "GET"), ACT_PULL);
	assert_int_equal(v2_needed_actions(V2_BLOB, "HEAD"), ACT_PULL);
	assert_int_equal(v2_needed_actions(V2_BLOB, "DELETE"), ACT_DELETE);
	assert_int_equal(v2_needed_actions(V2_MANIFEST, "PUT"), ACT_PUSH);
	assert_int_equal(v2_needed_actions(V2_MANIFEST, "DELETE"), ACT_DELETE);
	/* any use of an upload, its status included, is a push */
	assert_int_equal(v2_needed_actions(V2_UPLOAD, "GET"), ACT_PUSH);
	assert_int_equal(v2_needed_actions(V2_UPLOAD, "DELETE"), ACT_PUSH);
	assert_int_equal(v2_needed_actions(V2_UPLOAD, "PATCH"), ACT_PUSH);
	assert_int_equal(v2_needed_actions(V2_TAGS, "GET"), ACT_PULL);
	assert_int_equal(v2_needed_actions(V2_REFERRERS, "GET"), ACT_PULL);
	assert_int_equal(v2_needed_actions(V2_CATALOG, "GET"), 0);
	assert_int_equal(v2_needed_actions(V2_BASE, "GET"), 0);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(endpoints),
		cmocka_unit_test(names_with_keywords),
		cmocka_unit_test(refused),
		cmocka_unit_test(needed_actions),
	};
	return cmocka_run_group_tests_name("v2path", tests, NULL, NULL);
}

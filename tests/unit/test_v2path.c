/* v2path.c: which /v2 endpoint a path names, with names that contain slashes. */
#include "unit.h"

#include "actor.h"
#include "routes.h"
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
	expect("/v2/acme/devops/my/image/manifests/1.0", V2_MANIFEST, "acme/devops/my/image",
	       "1.0");
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
	reject("/v2//blobs/uploads"); /* an empty name: found by the names fuzz target */
	reject("/v2//blobs/uploads/");
	reject("/v2/a/manifests/");
	reject("/v2/a/blobs/");
	reject("/v2/a/referrers/");
	(void)state;
}

/* The gateway's normalised target of path (query kept), and the row of routes.def it matches
 * for method: its metric label, and :name and the reference as the owner will see them. */
static void
routed(const char *method, const char *path, const char *query, const char *target,
       const char *metric, const char *name, const char *ref_param, const char *ref)
{
	struct v2_path vp;
	if (v2_parse(path, &vp) < 0)
		fail_msg("%s: not parsed", path);
	char *t = v2_target(&vp, query);
	assert_string_equal(t, target);
	t[strcspn(t, "?")] = '\0';
	struct route_match m;
	int status;
	const struct route *row =
	        router_match(routes_public, routes_npublic, method, t, &m, &status);
	if (row == NULL)
		fail_msg("%s %s: no row (%d)", method, t, status);
	assert_string_equal(row->metric, metric);
	assert_int_equal(row->check, ROUTE_CHECK_GRANT);
	assert_int_equal(row->dialect, ROUTE_OCI);
	if (name == NULL)
		assert_null(route_param(&m, "name"));
	else
		assert_string_equal(route_param(&m, "name"), name);
	if (ref_param != NULL)
		assert_string_equal(route_param(&m, ref_param), ref);
	route_match_clear(&m);
	free(t);
	v2_path_clear(&vp);
}

static void
normalised_targets_match_their_rows(void **state)
{
	routed("GET", "/v2/", NULL, "/v2/", "v2_base", NULL, NULL, NULL);
	routed("PUT", "/v2", NULL, "/v2/", "v2_base", NULL, NULL, NULL);
	routed("GET", "/v2/_catalog", "n=10", "/v2/_catalog?n=10", "v2_catalog", NULL, NULL, NULL);
	routed("HEAD", "/v2/acme/web/manifests/latest", NULL, "/v2/acme%2Fweb/manifests/latest",
	       "v2_manifest", "acme/web", "reference", "latest");
	routed("PUT", "/v2/a/manifests/b/manifests/sha256:ab", NULL,
	       "/v2/a%2Fmanifests%2Fb/manifests/sha256%3Aab", "v2_manifest", "a/manifests/b",
	       "reference", "sha256:ab");
	/* a reference is passed on as the client wrote it, escapes and all */
	routed("GET", "/v2/a/manifests/x%2541", NULL, "/v2/a/manifests/x%252541", "v2_manifest",
	       "a", "reference", "x%2541");
	routed("GET", "/v2/a/b/blobs/sha256:ab", NULL, "/v2/a%2Fb/blobs/sha256%3Aab", "v2_blob",
	       "a/b", "digest", "sha256:ab");
	routed("POST", "/v2/a/blobs/uploads", "from=b&mount=sha256:ab",
	       "/v2/a/blobs/uploads/?from=b&mount=sha256:ab", "v2_upload", "a", NULL, NULL);
	routed("PATCH", "/v2/a/blobs/uploads/blobs/uploads/u1", NULL,
	       "/v2/a%2Fblobs%2Fuploads/blobs/uploads/u1", "v2_upload", "a/blobs/uploads", "uuid",
	       "u1");
	routed("GET", "/v2/tags/tags/list", "n=2", "/v2/tags/tags/list?n=2", "v2_tags", "tags",
	       NULL, NULL);
	routed("GET", "/v2/a/referrers/sha256:ab", NULL, "/v2/a/referrers/sha256%3Aab",
	       "v2_referrers", "a", "digest", "sha256:ab");
	(void)state;
}

/* Methods no row of a /v2 endpoint serves. */
static void
other_methods_have_no_row(void **state)
{
	static const char *const cases[][2] = {
		{ "POST", "/v2/a/manifests/latest" }, { "PUT", "/v2/a/blobs/sha256:ab" },
		{ "GET", "/v2/a/blobs/uploads/" },    { "POST", "/v2/a/blobs/uploads/u1" },
		{ "DELETE", "/v2/a/tags/list" },      { "DELETE", "/v2/_catalog" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct v2_path vp;
		assert_int_equal(v2_parse(cases[i][1], &vp), 0);
		char *t = v2_target(&vp, NULL);
		struct route_match m;
		int status = 0;
		if (router_match(routes_public, routes_npublic, cases[i][0], t, &m, &status) !=
		    NULL)
			fail_msg("%s %s: routed", cases[i][0], cases[i][1]);
		assert_int_equal(status, 405);
		free(t);
		v2_path_clear(&vp);
	}
	(void)state;
}

/* The actions each /v2 row needs: pull to read, push to write or to use an upload (its status
 * included), delete to delete; the catalog needs registry:catalog:*. */
static unsigned
need_of(const char *method, const char *target)
{
	struct route_match m;
	int status;
	const struct route *row =
	        router_match(routes_public, routes_npublic, method, target, &m, &status);
	if (row == NULL)
		fail_msg("%s %s: no row (%d)", method, target, status);
	route_match_clear(&m);
	return row->need;
}

static void
rows_need_actions(void **state)
{
	assert_int_equal(need_of("GET", "/v2/a/blobs/sha256%3Aab"), ACT_PULL);
	assert_int_equal(need_of("HEAD", "/v2/a/blobs/sha256%3Aab"), ACT_PULL);
	assert_int_equal(need_of("DELETE", "/v2/a/blobs/sha256%3Aab"), ACT_DELETE);
	assert_int_equal(need_of("GET", "/v2/a/manifests/t"), ACT_PULL);
	assert_int_equal(need_of("PUT", "/v2/a/manifests/t"), ACT_PUSH);
	assert_int_equal(need_of("DELETE", "/v2/a/manifests/t"), ACT_DELETE);
	assert_int_equal(need_of("POST", "/v2/a/blobs/uploads/"), ACT_PUSH);
	assert_int_equal(need_of("GET", "/v2/a/blobs/uploads/u1"), ACT_PUSH);
	assert_int_equal(need_of("PATCH", "/v2/a/blobs/uploads/u1"), ACT_PUSH);
	assert_int_equal(need_of("DELETE", "/v2/a/blobs/uploads/u1"), ACT_PUSH);
	assert_int_equal(need_of("GET", "/v2/a/tags/list"), ACT_PULL);
	assert_int_equal(need_of("GET", "/v2/a/referrers/sha256%3Aab"), ACT_PULL);
	assert_int_equal(need_of("GET", "/v2/_catalog"), ACT_STAR);
	assert_int_equal(need_of("GET", "/v2/"), 0);
	(void)state;
}

static void
is_path(void **state)
{
	assert_true(v2_is_path("/v2"));
	assert_true(v2_is_path("/v2/"));
	assert_true(v2_is_path("/v2?n=1"));
	assert_true(v2_is_path("/v2/a/tags/list"));
	assert_false(v2_is_path("/v2x"));
	assert_false(v2_is_path("/v2x/a/manifests/b"));
	assert_false(v2_is_path("/api/v4/v2"));
	assert_false(v2_is_path(NULL));
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(endpoints),
		cmocka_unit_test(names_with_keywords),
		cmocka_unit_test(refused),
		cmocka_unit_test(normalised_targets_match_their_rows),
		cmocka_unit_test(other_methods_have_no_row),
		cmocka_unit_test(rows_need_actions),
		cmocka_unit_test(is_path),
	};
	return cmocka_run_group_tests_name("v2path", tests, NULL, NULL);
}

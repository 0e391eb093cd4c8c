/* Unit tests of metad/manifest.c: which manifests are accepted, what they reference, and how
 * Accept headers are read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static int
parse(const char *ct, const char *body, struct manifest_info *m, enum manifest_error *err,
      char **cause)
{
	*cause = NULL;
	return manifest_parse(ct, body, strlen(body), m, err, cause);
}

/* Expects a refusal of kind want whose message contains needle. */
static void
refused(const char *ct, const char *body, enum manifest_error want, const char *needle)
{
	struct manifest_info m;
	enum manifest_error err;
	char *cause;
	assert_int_equal(parse(ct, body, &m, &err, &cause), -1);
	assert_int_equal(err, want);
	assert_non_null(cause);
	if (strstr(cause, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", cause, needle);
	free(cause);
}

static void
test_oci_image(void **state)
{
	struct manifest_info m;
	enum manifest_error err;
	char *cause;
	const char *body =
	        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
	        "\"artifactType\":\"application/vnd.example\","
	        "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"" D1
	        "\",\"size\":2},"
	        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2
	        "\",\"size\":10},"
	        "{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar\",\"digest\":\"" D3
	        "\",\"size\":5,\"urls\":[\"https://example.com/x\"]}],"
	        "\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D3
	        "\",\"size\":7},"
	        "\"annotations\":{\"a\":\"b\"}}";
	assert_int_equal(parse(MT_OCI_MANIFEST, body, &m, &err, &cause), 0);
	assert_int_equal(m.kind, MANIFEST_IMAGE);
	assert_string_equal(m.media_type, MT_OCI_MANIFEST);
	assert_string_equal(m.artifact_type, "application/vnd.example");
	assert_string_equal(m.config_digest, D1);
	assert_string_equal(m.subject, D3);
	assert_string_equal(m.annotations, "{\"a\":\"b\"}");
	/* config and the one distributable layer; the foreign layer need not be in the registry */
	assert_int_equal(m.nblobs, 2);
	assert_string_equal(m.blobs[0].digest, D1);
	assert_int_equal(m.blobs[1].size, 10);
	assert_int_equal(m.nchildren, 0);
	manifest_info_clear(&m);
	/* the kind is read from the body when Content-Type says nothing */
	assert_int_equal(parse("application/json; charset=utf-8", body, &m, &err, &cause), 0);
	assert_string_equal(m.media_type, MT_OCI_MANIFEST);
	manifest_info_clear(&m);
	(void)state;
}

static void
test_docker_list_and_oci_index(void **state)
{
	struct manifest_info m;
	enum manifest_error err;
	char *cause;
	const char *list =
	        "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
	        "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":5,"
	        "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
	        "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":6,"
	        "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";
	assert_int_equal(parse(MT_DOCKER_LIST, list, &m, &err, &cause), 0);
	assert_int_equal(m.kind, MANIFEST_INDEX);
	assert_int_equal(m.nchildren, 2);
	assert_int_equal(m.nblobs, 0);
	assert_string_equal(m.children[1].arch, "amd64");
	manifest_info_clear(&m);
	char *def = manifest_list_default(list, strlen(list));
	assert_string_equal(def, D2);
	free(def);
	assert_int_equal(parse(NULL, "{\"schemaVersion\":2,\"manifests\":[]}", &m, &err, &cause),
	                 0);
	assert_string_equal(m.media_type, MT_OCI_INDEX);
	manifest_info_clear(&m);
	(void)state;
}

static void
test_refusals(void **state)
{
	refused(MT_DOCKER_V1_SIGNED, "{\"schemaVersion\":1,\"fsLayers\":[]}", MERR_INVALID,
	        "schema 1");
	refused("application/json", "{\"schemaVersion\":1}", MERR_INVALID, "schema 1");
	refused(MT_OCI_MANIFEST, "{not json", MERR_INVALID, "invalid JSON");
	refused(MT_OCI_MANIFEST, "[1,2]", MERR_INVALID, "JSON object");
	refused(MT_OCI_MANIFEST, "{\"schemaVersion\":3}", MERR_INVALID, "schemaVersion 3");
	refused(MT_OCI_MANIFEST, "{\"mediaType\":\"x\"}", MERR_INVALID, "schemaVersion is missing");
	refused(MT_OCI_MANIFEST,
	        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":[]}",
	        MERR_INVALID, "does not match");
	refused("application/vnd.example+json", "{\"schemaVersion\":2}", MERR_INVALID,
	        "not supported");
	refused(MT_DOCKER_MANIFEST, "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}",
	        MERR_INVALID, "must carry its mediaType");
	refused(MT_OCI_MANIFEST, "{\"schemaVersion\":2,\"layers\":[]}", MERR_INVALID, "config");
	refused(MT_OCI_MANIFEST,
	        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1
	        "\",\"size\":-1},\"layers\":[]}",
	        MERR_INVALID, "size");
	refused(MT_OCI_MANIFEST,
	        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"sha256:abc\",\"size\":1},\"layers\":[]}",
	        MERR_DIGEST_INVALID, "digest");
	refused(MT_OCI_INDEX,
	        "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a\",\"size\":1}]}",
	        MERR_INVALID, "no digest");
	refused(MT_OCI_INDEX, "{\"schemaVersion\":2,\"manifests\":[],\"annotations\":{\"a\":1}}",
	        MERR_INVALID, "annotation");
	refused(NULL, "{\"schemaVersion\":2}", MERR_INVALID, "cannot tell");
	(void)state;
}

static void
test_accept(void **state)
{
	assert_true(manifest_accepts(MT_OCI_MANIFEST, MT_OCI_MANIFEST));
	assert_true(manifest_accepts("text/html, " MT_OCI_INDEX ";q=0.5", MT_OCI_INDEX));
	assert_true(
	        manifest_accepts(" Application/Vnd.Oci.Image.Manifest.V1+Json ", MT_OCI_MANIFEST));
	assert_false(manifest_accepts("*/*", MT_OCI_MANIFEST));
	assert_false(manifest_accepts(MT_OCI_MANIFEST "x", MT_OCI_MANIFEST));
	assert_false(manifest_accepts(NULL, MT_OCI_MANIFEST));
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_image),
		cmocka_unit_test(test_docker_list_and_oci_index),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_accept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

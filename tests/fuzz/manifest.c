/*
 * libFuzzer target of the manifest and index validator (metad/manifest.c): what metad decides
 * about every pushed manifest, and the media types of Accept and Content-Type values.
 *
 * Input: a Content-Type line (empty: none), then the manifest body (the seeds are the OCI and
 * Docker manifests and indexes of the test images, as skopeo, podman and the image builders
 * pushed them). A manifest that validates has a known media type, a kind that agrees with it,
 * the config first among the blobs of an image (none for an index), valid digests and sizes
 * everywhere, JSON annotations; the same manifest written again by json-c validates to the same
 * result. A refusal has a short reason.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "manifest.h"
#include "names.h"
#include "util.h"

static const char *const types[] = { MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST,
	                             MT_DOCKER_LIST };

/* A descriptor of a manifest that validated. */
static void
check_desc(const struct manifest_desc *d)
{
	if (d->media_type == NULL || d->media_type[0] == '\0' || d->digest == NULL ||
	    !name_valid_digest(d->digest) || d->size < 0)
		fuzz_fail("descriptor %s %s %lld", d->media_type, d->digest, (long long)d->size);
}

/* What a manifest that validated must be. */
static void
check_info(const struct manifest_info *m)
{
	bool known = false;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		known = known || strcmp(m->media_type, types[i]) == 0;
	if (!known)
		fuzz_fail("media type %s", m->media_type);
	bool index = strcmp(m->media_type, types[1]) == 0 || strcmp(m->media_type, types[3]) == 0;
	if (index != (m->kind == MANIFEST_INDEX))
		fuzz_fail("kind %d for %s", m->kind, m->media_type);
	if (index && (m->nblobs != 0 || m->config_digest != NULL))
		fuzz_fail("an index with blobs");
	if (!index && (m->nchildren != 0 || m->nblobs < 1 || m->config_digest == NULL ||
	               strcmp(m->config_digest, m->blobs[0].digest) != 0 ||
	               strcmp(m->config_media_type, m->blobs[0].media_type) != 0))
		fuzz_fail("an image without its config first");
	for (size_t i = 0; i < m->nblobs; i++)
		check_desc(&m->blobs[i]);
	for (size_t i = 0; i < m->nchildren; i++)
		check_desc(&m->children[i]);
	if (m->subject != NULL && !name_valid_digest(m->subject))
		fuzz_fail("subject %s", m->subject);
	if (m->annotations != NULL) {
		char *cause = NULL;
		json_object *a = js_parse(m->annotations, strlen(m->annotations), &cause);
		if (a == NULL || !json_object_is_type(a, json_type_object))
			fuzz_fail("annotations %s", m->annotations);
		json_object_put(a);
	}
}

/* Whether two validated manifests are the same. */
static bool
info_equal(const struct manifest_info *a, const struct manifest_info *b)
{
	if (strcmp(a->media_type, b->media_type) != 0 || a->nblobs != b->nblobs ||
	    a->nchildren != b->nchildren || (a->subject == NULL) != (b->subject == NULL) ||
	    (a->subject != NULL && strcmp(a->subject, b->subject) != 0) ||
	    (a->artifact_type == NULL) != (b->artifact_type == NULL) ||
	    (a->artifact_type != NULL && strcmp(a->artifact_type, b->artifact_type) != 0))
		return false;
	for (size_t i = 0; i < a->nblobs; i++)
		if (strcmp(a->blobs[i].digest, b->blobs[i].digest) != 0 ||
		    a->blobs[i].size != b->blobs[i].size)
			return false;
	for (size_t i = 0; i < a->nchildren; i++)
		if (strcmp(a->children[i].digest, b->children[i].digest) != 0 ||
		    a->children[i].size != b->children[i].size)
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *ct = NULL;
	if (!fuzz_take_line(&data, &size, 256, &ct))
		return 0;
	const char *content_type = ct[0] != '\0' ? ct : NULL;
	char *body = fuzz_strndup(data, size);

	char *mt = manifest_media_type_of(ct, strlen(ct));
	if (strpbrk(mt, ";,") != NULL)
		fuzz_fail("media type %s keeps its parameters", mt);
	free(mt);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		(void)manifest_accepts(ct, types[i]);
	char *dflt = manifest_list_default(body, size);
	if (dflt != NULL && !fuzz_bounded(dflt, size))
		fuzz_fail("a default longer than the list");
	free(dflt);

	struct manifest_info m;
	enum manifest_error err;
	char *cause = NULL;
	if (manifest_parse(content_type, body, size, &m, &err, &cause) < 0) {
		if (!fuzz_bounded(cause, 1024) ||
		    (err != MERR_INVALID && err != MERR_DIGEST_INVALID))
			fuzz_fail("a refusal without a short reason");
		if (m.blobs != NULL || m.children != NULL || m.annotations != NULL)
			fuzz_fail("a refused manifest keeps what it held");
		free(cause);
		goto out;
	}
	check_info(&m);
	/* The same JSON written again by json-c validates the same way. */
	json_object *root = js_parse(body, size, &cause);
	if (root == NULL)
		fuzz_fail("a manifest that validated does not parse");
	const char *text = js_text(root);
	struct manifest_info again;
	if (manifest_parse(content_type, text, strlen(text), &again, &err, &cause) < 0)
		fuzz_fail("the manifest written again is refused: %s", cause);
	if (!info_equal(&m, &again))
		fuzz_fail("the manifest written again validates otherwise");
	manifest_info_clear(&again);
	json_object_put(root);
	manifest_info_clear(&m);
out:
	free(body);
	free(ct);
	return 0;
}

/* Manifest validation, after the OCI image spec and Docker's image manifest v2 schema 2. */
#include "manifest.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "names.h"
#include "util.h"

/* Layers clients fetch from their own URLs: they need not be in the registry. */
static const char *const foreign_layer_types[] = {
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
};

/* Frees what a descriptor holds. */
static void
desc_clear(struct manifest_desc *d)
{
	free(d->media_type);
	free(d->digest);
	free(d->os);
	free(d->arch);
}

/* Frees what a parsed manifest holds (descriptors, subject, annotations) and empties it. */
void
manifest_info_clear(struct manifest_info *m)
{
	free(m->artifact_type);
	free(m->config_media_type);
	free(m->config_digest);
	free(m->subject);
	free(m->annotations);
	for (size_t i = 0; i < m->nblobs; i++)
		desc_clear(&m->blobs[i]);
	free(m->blobs);
	for (size_t i = 0; i < m->nchildren; i++)
		desc_clear(&m->children[i]);
	free(m->children);
	memset(m, 0, sizeof(*m));
}

char *
manifest_media_type_of(const char *value, size_t len)
{
	while (len > 0 && isspace((unsigned char)*value)) {
		value++;
		len--;
	}
	size_t n = 0;
	while (n < len && value[n] != ';' && value[n] != ',')
		n++;
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		n--;
	char *out = xstrndup(value, n);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

bool
manifest_accepts(const char *accept, const char *media_type)
{
	if (accept == NULL)
		return false;
	const char *p = accept;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *mt = manifest_media_type_of(p, len);
		bool match = strcmp(mt, media_type) == 0;
		free(mt);
		if (match)
			return true;
		if (comma == NULL)
			return false;
		p = comma + 1;
	}
}

/* Sets *cause and returns -1; a helper for the many refusals below. */
static int fail(char **cause, enum manifest_error *err, enum manifest_error kind, const char *fmt,
                ...) PRINTF_LIKE(4, 5);

/* Records why a manifest is refused, and which error it is, for the refusals below. */
static int
fail(char **cause, enum manifest_error *err, enum manifest_error kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*cause = xvasprintf(fmt, ap);
	va_end(ap);
	*err = kind;
	return -1;
}

/* Reads a descriptor object: mediaType, digest, size (and platform for index entries). */
static int
desc_parse(json_object *o, const char *what, struct manifest_desc *d, enum manifest_error *err,
           char **cause)
{
	memset(d, 0, sizeof(*d));
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return fail(cause, err, MERR_INVALID, "%s is not a descriptor object", what);
	const char *mt = js_str(o, "mediaType"), *digest = js_str(o, "digest");
	json_object *size;
	if (mt == NULL || *mt == '\0')
		return fail(cause, err, MERR_INVALID, "%s has no mediaType", what);
	if (digest == NULL)
		return fail(cause, err, MERR_INVALID, "%s has no digest", what);
	if (!name_valid_digest(digest))
		return fail(cause, err, MERR_DIGEST_INVALID,
		            "%s has an invalid or unsupported digest %.80s", what, digest);
	if (!json_object_object_get_ex(o, "size", &size) ||
	    !json_object_is_type(size, json_type_int) || json_object_get_int64(size) < 0)
		return fail(cause, err, MERR_INVALID, "%s has no valid size", what);
	d->media_type = xstrdup(mt);
	d->digest = xstrdup(digest);
	d->size = json_object_get_int64(size);
	json_object *platform;
	if (json_object_object_get_ex(o, "platform", &platform) &&
	    json_object_is_type(platform, json_type_object)) {
		const char *os = js_str(platform, "os"), *arch = js_str(platform, "architecture");
		d->os = os ? xstrdup(os) : NULL;
		d->arch = arch ? xstrdup(arch) : NULL;
	}
	return 0;
}

/* Whether a layer is a foreign (non-distributable) one with URLs to fetch it from. */
static bool
is_foreign(json_object *layer, const char *media_type)
{
	json_object *urls;
	if (!json_object_object_get_ex(layer, "urls", &urls) ||
	    !json_object_is_type(urls, json_type_array) || json_object_array_length(urls) == 0)
		return false;
	for (size_t i = 0; i < nitems(foreign_layer_types); i++)
		if (strcmp(media_type, foreign_layer_types[i]) == 0)
			return true;
	return false;
}

/* The OCI-only members shared by manifests and indexes: artifactType, subject, annotations. */
static int
parse_oci_extras(json_object *root, struct manifest_info *m, enum manifest_error *err, char **cause)
{
	json_object *v;
	if (json_object_object_get_ex(root, "artifactType", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string) || *json_object_get_string(v) == '\0')
			return fail(cause, err, MERR_INVALID, "artifactType must be a media type");
		m->artifact_type = xstrdup(json_object_get_string(v));
	}
	if (json_object_object_get_ex(root, "subject", &v) && v != NULL) {
		struct manifest_desc d;
		int rc = desc_parse(v, "subject", &d, err, cause);
		if (rc == 0)
			m->subject = xstrdup(d.digest);
		desc_clear(&d);
		if (rc < 0)
			return -1;
	}
	if (json_object_object_get_ex(root, "annotations", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_object))
			return fail(cause, err, MERR_INVALID, "annotations must be an object");
		json_object_object_foreach(v, key, val)
		{
			if (!json_object_is_type(val, json_type_string))
				return fail(cause, err, MERR_INVALID,
				            "annotation %.80s is not a string", key);
		}
		m->annotations = xstrdup(js_text(v));
	}
	return 0;
}

/* An image manifest: config and layers (foreign layers excepted) are its blobs. */
static int
parse_image(json_object *root, bool oci, struct manifest_info *m, enum manifest_error *err,
            char **cause)
{
	json_object *config, *layers;
	if (!json_object_object_get_ex(root, "config", &config))
		return fail(cause, err, MERR_INVALID,
		            "an image manifest needs a config descriptor");
	if (!json_object_object_get_ex(root, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return fail(cause, err, MERR_INVALID, "an image manifest needs a layers array");
	if (json_object_object_get_ex(root, "manifests", NULL))
		return fail(cause, err, MERR_INVALID, "an image manifest has no manifests member");
	size_t nlayers = json_object_array_length(layers);
	m->blobs = xcalloc(nlayers + 1, sizeof(*m->blobs));
	if (desc_parse(config, "config", &m->blobs[0], err, cause) < 0)
		return -1;
	m->nblobs = 1;
	m->config_media_type = xstrdup(m->blobs[0].media_type);
	m->config_digest = xstrdup(m->blobs[0].digest);
	for (size_t i = 0; i < nlayers; i++) {
		json_object *layer = json_object_array_get_idx(layers, i);
		char what[32];
		snprintf(what, sizeof(what), "layer %zu", i);
		struct manifest_desc d;
		if (desc_parse(layer, what, &d, err, cause) < 0) {
			desc_clear(&d);
			return -1;
		}
		if (is_foreign(layer, d.media_type)) {
			desc_clear(&d);
			continue;
		}
		m->blobs[m->nblobs++] = d;
	}
	return oci ? parse_oci_extras(root, m, err, cause) : 0;
}

/* An index or manifest list: its entries are manifests of the same repository. */
static int
parse_index(json_object *root, bool oci, struct manifest_info *m, enum manifest_error *err,
            char **cause)
{
	json_object *manifests;
	if (!json_object_object_get_ex(root, "manifests", &manifests) ||
	    !json_object_is_type(manifests, json_type_array))
		return fail(cause, err, MERR_INVALID, "an index needs a manifests array");
	if (json_object_object_get_ex(root, "layers", NULL) ||
	    json_object_object_get_ex(root, "config", NULL))
		return fail(cause, err, MERR_INVALID, "an index has no config or layers");
	size_t n = json_object_array_length(manifests);
	m->children = xcalloc(n ? n : 1, sizeof(*m->children));
	for (size_t i = 0; i < n; i++) {
		char what[32];
		snprintf(what, sizeof(what), "manifest %zu", i);
		if (desc_parse(json_object_array_get_idx(manifests, i), what, &m->children[i], err,
		               cause) < 0) {
			desc_clear(&m->children[i]);
			return -1;
		}
		m->nchildren++;
	}
	return oci ? parse_oci_extras(root, m, err, cause) : 0;
}

/* A Content-Type that says nothing about the manifest's kind. */
static bool
generic_type(const char *ct)
{
	return ct == NULL || *ct == '\0' || strcmp(ct, "application/json") == 0 ||
	       strcmp(ct, "application/octet-stream") == 0 || strcmp(ct, "text/plain") == 0;
}

/* The MT_ constant equal to mt, or NULL for a media type we do not store. */
static const char *
known_type(const char *mt)
{
	static const char *const types[] = { MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST,
		                             MT_DOCKER_LIST };
	for (size_t i = 0; i < nitems(types); i++)
		if (mt != NULL && strcmp(mt, types[i]) == 0)
			return types[i];
	return NULL;
}

/* Whether mt names Docker schema 1, which is refused. */
static bool
schema1_type(const char *mt)
{
	return mt != NULL &&
	       (strcmp(mt, MT_DOCKER_V1) == 0 || strcmp(mt, MT_DOCKER_V1_SIGNED) == 0);
}

#define SCHEMA1_REFUSED                                                                            \
	"Docker image manifest v2 schema 1 is not supported: push a schema 2 or OCI manifest "     \
	"(current Docker, Podman, Buildah and Skopeo do so)"

/* Works out which media type the manifest is, from its body and the request's Content-Type. */
static int
decide_type(json_object *root, const char *ct, struct manifest_info *m, enum manifest_error *err,
            char **cause)
{
	json_object *v;
	if (!json_object_object_get_ex(root, "schemaVersion", &v) ||
	    !json_object_is_type(v, json_type_int))
		return fail(cause, err, MERR_INVALID, "schemaVersion is missing");
	int64_t version = json_object_get_int64(v);
	if (version == 1 || schema1_type(ct))
		return fail(cause, err, MERR_INVALID, SCHEMA1_REFUSED);
	if (version != 2)
		return fail(cause, err, MERR_INVALID, "schemaVersion %lld is not supported",
		            (long long)version);
	const char *body_mt = NULL;
	if (json_object_object_get_ex(root, "mediaType", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_string))
			return fail(cause, err, MERR_INVALID, "mediaType must be a string");
		body_mt = json_object_get_string(v);
		if (schema1_type(body_mt))
			return fail(cause, err, MERR_INVALID, SCHEMA1_REFUSED);
	}
	const char *type;
	if (!generic_type(ct)) {
		type = known_type(ct);
		if (type == NULL)
			return fail(cause, err, MERR_INVALID,
			            "manifest media type %.100s is not supported", ct);
		if (body_mt != NULL && strcmp(body_mt, type) != 0)
			return fail(
			        cause, err, MERR_INVALID,
			        "mediaType %.100s in the manifest does not match Content-Type %.100s",
			        body_mt, ct);
		if (body_mt == NULL &&
		    (strcmp(type, MT_DOCKER_MANIFEST) == 0 || strcmp(type, MT_DOCKER_LIST) == 0))
			return fail(cause, err, MERR_INVALID,
			            "a Docker manifest must carry its mediaType");
	} else if (body_mt != NULL) {
		type = known_type(body_mt);
		if (type == NULL)
			return fail(cause, err, MERR_INVALID,
			            "manifest media type %.100s is not supported", body_mt);
	} else if (json_object_object_get_ex(root, "manifests", NULL)) {
		type = MT_OCI_INDEX;
	} else if (json_object_object_get_ex(root, "config", NULL)) {
		type = MT_OCI_MANIFEST;
	} else {
		return fail(cause, err, MERR_INVALID, "cannot tell what kind of manifest this is");
	}
	m->media_type = type;
	m->kind = strcmp(type, MT_OCI_INDEX) == 0 || strcmp(type, MT_DOCKER_LIST) == 0
	                  ? MANIFEST_INDEX
	                  : MANIFEST_IMAGE;
	return 0;
}

int
manifest_parse(const char *content_type, const char *body, size_t len, struct manifest_info *out,
               enum manifest_error *err, char **cause)
{
	memset(out, 0, sizeof(*out));
	char *perr = NULL;
	json_object *root = js_parse(body, len, &perr);
	if (root == NULL) {
		fail(cause, err, MERR_INVALID, "%s", perr);
		free(perr);
		return -1;
	}
	char *ct = content_type ? manifest_media_type_of(content_type, strlen(content_type)) : NULL;
	int rc = -1;
	if (!json_object_is_type(root, json_type_object)) {
		fail(cause, err, MERR_INVALID, "a manifest is a JSON object");
		goto out;
	}
	if (decide_type(root, ct, out, err, cause) < 0)
		goto out;
	bool oci = strcmp(out->media_type, MT_OCI_MANIFEST) == 0 ||
	           strcmp(out->media_type, MT_OCI_INDEX) == 0;
	if (out->kind == MANIFEST_IMAGE)
		rc = parse_image(root, oci, out, err, cause);
	else
		rc = parse_index(root, oci, out, err, cause);
out:
	if (rc < 0)
		manifest_info_clear(out);
	free(ct);
	json_object_put(root);
	return rc;
}

char *
manifest_list_default(const char *payload, size_t len)
{
	char *cause = NULL;
	json_object *root = js_parse(payload, len, &cause);
	free(cause);
	if (root == NULL)
		return NULL;
	char *found = NULL;
	json_object *manifests;
	if (json_object_object_get_ex(root, "manifests", &manifests) &&
	    json_object_is_type(manifests, json_type_array)) {
		for (size_t i = 0; found == NULL && i < json_object_array_length(manifests); i++) {
			json_object *d = json_object_array_get_idx(manifests, i), *platform;
			if (!json_object_object_get_ex(d, "platform", &platform))
				continue;
			const char *os = js_str(platform, "os"),
			           *arch = js_str(platform, "architecture");
			const char *digest = js_str(d, "digest");
			if (os && arch && digest && strcmp(os, "linux") == 0 &&
			    strcmp(arch, "amd64") == 0)
				found = xstrdup(digest);
		}
	}
	json_object_put(root);
	return found;
}

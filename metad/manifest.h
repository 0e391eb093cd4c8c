/*
 * Manifest validation: what a pushed manifest is (OCI image manifest or index, Docker schema 2
 * manifest or manifest list, OCI artifacts), whether it is well formed, and what it references.
 * Pure code: no I/O, so unit tests drive it directly.
 */
#ifndef REGISTRY_MANIFEST_H
#define REGISTRY_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_V1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_V1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Largest manifest accepted (Distribution's limit). */
#define MANIFEST_MAX_SIZE (4 * 1024 * 1024)

enum manifest_kind { MANIFEST_IMAGE, MANIFEST_INDEX };

struct manifest_desc {
	char *media_type;
	char *digest;
	int64_t size;
	char *os, *arch; /* index entries: platform, when given */
};

struct manifest_info {
	enum manifest_kind kind;
	const char *media_type;  /* one of the MT_ constants */
	char *artifact_type;     /* artifactType, or NULL */
	char *config_media_type; /* image manifests */
	char *config_digest;
	char *subject;     /* subject digest, or NULL */
	char *annotations; /* the annotations object as JSON text, or NULL */
	/* Blobs that must be in the repository: config then layers (not foreign layers). */
	struct manifest_desc *blobs;
	size_t nblobs;
	/* Manifests an index references. */
	struct manifest_desc *children;
	size_t nchildren;
};

/* The OCI error a parse failure maps to. */
enum manifest_error { MERR_INVALID, MERR_DIGEST_INVALID };

/* Validates body pushed with content_type (may be NULL). -1 with *cause (caller frees) and
 * *err on a bad manifest. */
int manifest_parse(const char *content_type, const char *body, size_t len,
                   struct manifest_info *out, enum manifest_error *err, char **cause);
void manifest_info_clear(struct manifest_info *m);

/* The media type an Accept/Content-Type value names: lowercased, parameters dropped (caller
 * frees). */
char *manifest_media_type_of(const char *value, size_t len);
/* Whether an Accept header (a comma-separated list) names media_type. */
bool manifest_accepts(const char *accept, const char *media_type);
/* The digest of the linux/amd64 entry of a manifest list payload (caller frees), or NULL. */
char *manifest_list_default(const char *payload, size_t len);

#endif

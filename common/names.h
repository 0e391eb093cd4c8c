/* Validation of what clients name: repositories, tags, digests, upload ids, and GitLab paths. */
#ifndef REGISTRY_NAMES_H
#define REGISTRY_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

/* OCI repository name: lowercase components [a-z0-9]+((.|_|__|-+)[a-z0-9]+)* joined by '/'. */
bool name_valid_repository(const char *name);
/* OCI tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
bool name_valid_tag(const char *tag);
/* A GitLab namespace or project path segment: letters, digits, '_', '-', '.'; starting with a
 * letter, digit or '_'; not ending in '.', ".git" or ".atom"; at most 255 characters. */
bool name_valid_path(const char *path);

enum digest_algo { DIGEST_SHA256, DIGEST_SHA512 };

/* "sha256:<64 hex>" or "sha512:<128 hex>", lowercase; false otherwise. */
bool name_valid_digest(const char *digest);
/* Splits a valid digest; hex points into digest. */
bool name_split_digest(const char *digest, enum digest_algo *algo, const char **hex);
/* A well-formed digest of an algorithm we do not support ("md5:..." etc.) */
bool name_well_formed_digest(const char *digest);

#endif

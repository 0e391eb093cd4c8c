/*
 * Content digests (sha256, sha512) with OpenSSL's libcrypto, which uses the CPU's SHA extensions.
 * A running hash can be saved as bytes and restored, so that an upload interrupted in one worker
 * continues in another (or after a restart) without rereading what was already hashed. Saved
 * states are only meant for the same build on the same machine.
 */
#ifndef REGISTRY_DIGEST_H
#define REGISTRY_DIGEST_H

#include <openssl/sha.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "names.h"

/* "sha512:" + 128 hex digits + NUL */
#define DIGEST_STR_MAX 136

struct digest_ctx {
	enum digest_algo algo;
	union {
		SHA256_CTX sha256;
		SHA512_CTX sha512;
	} u;
};

void digest_init(struct digest_ctx *d, enum digest_algo algo);
void digest_update(struct digest_ctx *d, const void *data, size_t len);
/* Writes "sha256:<hex>" into out; d may be updated no more (copy it first to keep hashing). */
void digest_final(struct digest_ctx *d, char out[DIGEST_STR_MAX]);
/* The digest of a whole buffer. */
void digest_buffer(enum digest_algo algo, const void *data, size_t len, char out[DIGEST_STR_MAX]);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes). */
void digest_hex(const unsigned char *bin, size_t len, char *out);
/* "sha256" / "sha512". */
const char *digest_algo_name(enum digest_algo algo);
/* Parses an algorithm name; false when unsupported. */
bool digest_algo_parse(const char *name, enum digest_algo *algo);

/* The running state as lowercase hex (caller frees), and back; -1 (d untouched) when the text is
 * not a state of this build for that algorithm after exactly bytes bytes: a state file is
 * validated before libcrypto uses it. */
char *digest_state_save(const struct digest_ctx *d);
int digest_state_load(struct digest_ctx *d, enum digest_algo algo, const char *hex, uint64_t bytes);

#endif

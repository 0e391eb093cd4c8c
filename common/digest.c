/* sha256 / sha512 digests through libcrypto's low-level API (its context is plain bytes we can
 * save with an upload). */
#include "digest.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Bumped whenever the saved layout changes, so an old state is refused rather than misread. */
#define STATE_VERSION 1

/* Bytes of the low-level context of algo. */
static size_t
ctx_size(enum digest_algo algo)
{
	return algo == DIGEST_SHA512 ? sizeof(SHA512_CTX) : sizeof(SHA256_CTX);
}

/* Starts the running hash of a blob or manifest with the algorithm its digest names. */
void
digest_init(struct digest_ctx *d, enum digest_algo algo)
{
	memset(d, 0, sizeof(*d));
	d->algo = algo;
	if (algo == DIGEST_SHA512)
		SHA512_Init(&d->u.sha512);
	else
		SHA256_Init(&d->u.sha256);
}

/* Hashes the next bytes of the content, in the order they arrive. */
void
digest_update(struct digest_ctx *d, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (d->algo == DIGEST_SHA512)
		SHA512_Update(&d->u.sha512, data, len);
	else
		SHA256_Update(&d->u.sha256, data, len);
}

void
digest_hex(const unsigned char *bin, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hex[bin[i] >> 4];
		out[2 * i + 1] = hex[bin[i] & 15];
	}
	out[2 * len] = '\0';
}

void
digest_final(struct digest_ctx *d, char out[DIGEST_STR_MAX])
{
	unsigned char md[SHA512_DIGEST_LENGTH];
	size_t len;
	if (d->algo == DIGEST_SHA512) {
		SHA512_Final(md, &d->u.sha512);
		len = SHA512_DIGEST_LENGTH;
	} else {
		SHA256_Final(md, &d->u.sha256);
		len = SHA256_DIGEST_LENGTH;
	}
	size_t n = (size_t)snprintf(out, DIGEST_STR_MAX, "%s:", digest_algo_name(d->algo));
	digest_hex(md, len, out + n);
}

void
digest_buffer(enum digest_algo algo, const void *data, size_t len, char out[DIGEST_STR_MAX])
{
	struct digest_ctx d;
	digest_init(&d, algo);
	digest_update(&d, data, len);
	digest_final(&d, out);
}

const char *
digest_algo_name(enum digest_algo algo)
{
	return algo == DIGEST_SHA512 ? "sha512" : "sha256";
}

bool
digest_algo_parse(const char *name, enum digest_algo *algo)
{
	if (name == NULL)
		return false;
	if (strcmp(name, "sha256") == 0) {
		*algo = DIGEST_SHA256;
		return true;
	}
	if (strcmp(name, "sha512") == 0) {
		*algo = DIGEST_SHA512;
		return true;
	}
	return false;
}

char *
digest_state_save(const struct digest_ctx *d)
{
	size_t n = ctx_size(d->algo);
	unsigned char buf[1 + sizeof(d->u)];
	buf[0] = STATE_VERSION;
	memcpy(buf + 1, &d->u, n);
	char *out = xmalloc(2 * (n + 1) + 1);
	digest_hex(buf, n + 1, out);
	return out;
}

/* The value of one lowercase hex digit, or -1. */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Whether a loaded context is one libcrypto could have made after hashing exactly bytes bytes:
 * the digest length of its algorithm, a partial block shorter than a block, and a bit count
 * that agrees with both (OpenSSL trusts these fields as indexes into its buffers). */
static bool
state_consistent(const struct digest_ctx *c, uint64_t bytes)
{
	if (c->algo == DIGEST_SHA512) {
		const SHA512_CTX *x = &c->u.sha512;
		return x->md_len == SHA512_DIGEST_LENGTH && x->num < SHA512_CBLOCK &&
		       x->num == bytes % SHA512_CBLOCK && x->Nh == bytes >> 61 &&
		       x->Nl == bytes << 3;
	}
	const SHA256_CTX *x = &c->u.sha256;
	return x->md_len == SHA256_DIGEST_LENGTH && x->num < SHA256_CBLOCK &&
	       x->num == bytes % SHA256_CBLOCK && x->Nl == (uint32_t)(bytes << 3) &&
	       x->Nh == (uint32_t)(bytes >> 29);
}

int
digest_state_load(struct digest_ctx *d, enum digest_algo algo, const char *hex, uint64_t bytes)
{
	size_t n = ctx_size(algo);
	if (hex == NULL || strlen(hex) != 2 * (n + 1))
		return -1;
	unsigned char buf[1 + sizeof(d->u)];
	for (size_t i = 0; i < n + 1; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	if (buf[0] != STATE_VERSION)
		return -1;
	struct digest_ctx c;
	memset(&c, 0, sizeof(c));
	c.algo = algo;
	memcpy(&c.u, buf + 1, n);
	if (!state_consistent(&c, bytes))
		return -1;
	*d = c;
	return 0;
}

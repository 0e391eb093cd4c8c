/*
 * Token formats and the per-worker cache of verified tokens.
 *
 * A personal access token is "glpat-" and 40 base62 characters, a deploy token "gldt-" and 40
 * (the prefixes GitLab uses, so secret scanners recognise them); OAuth access and refresh tokens
 * are 64 hex characters like GitLab's. The first 12 (16 for hex) characters after the prefix are
 * the lookup key stored in clear to find the row; the rest, at least 166 random bits, is what
 * the Argon2id hash protects.
 *
 * The cache remembers, for a few minutes, that a token verified against a row, so repeated REST
 * calls skip the hash. It is keyed by a BLAKE2b MAC of the token under a per-worker random key,
 * so it holds nothing a token could be recovered from. Callers still read the row on each
 * request: revocation, expiry and blocking take effect at once.
 */
#include <sodium.h>
#include <string.h>

#include "authd.h"
#include "util.h"

#define BASE62_BODY 40
#define BASE62_LOOKUP 12
#define HEX_BODY 64
#define HEX_LOOKUP 16

#define CACHE_SLOTS 1024
#define CACHE_TTL_US (300ULL * 1000000ULL)

static const char base62[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

static const struct {
	enum secret_kind kind;
	const char *prefix;
} prefixes[] = {
	{ SECRET_PAT, "glpat-" },
	{ SECRET_DEPLOY, "gldt-" },
};

struct cache_slot {
	unsigned char mac[crypto_generichash_BYTES];
	enum secret_kind kind;
	int64_t id;
	uint64_t expires_us;
};

static struct cache_slot cache[CACHE_SLOTS];
static unsigned char cache_key[crypto_generichash_KEYBYTES];

void
secret_password(char *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = base62[randombytes_uniform(sizeof(base62) - 1)];
	out[len] = '\0';
}

void
secret_new(enum secret_kind kind, char *out, char *lookup)
{
	if (kind == SECRET_OAUTH || kind == SECRET_REFRESH) {
		unsigned char raw[HEX_BODY / 2];
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2hex(out, HEX_BODY + 1, raw, sizeof(raw));
		sodium_memzero(raw, sizeof(raw));
		memcpy(lookup, out, HEX_LOOKUP);
		lookup[HEX_LOOKUP] = '\0';
		return;
	}
	const char *prefix = "";
	for (size_t i = 0; i < nitems(prefixes); i++)
		if (prefixes[i].kind == kind)
			prefix = prefixes[i].prefix;
	size_t plen = strlen(prefix);
	memcpy(out, prefix, plen);
	secret_password(out + plen, BASE62_BODY);
	memcpy(lookup, out + plen, BASE62_LOOKUP);
	lookup[BASE62_LOOKUP] = '\0';
}

/* Whether the len characters of s are all in alphabet. */
static bool
all_in(const char *s, size_t len, const char *alphabet)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
			return false;
	return true;
}

enum secret_kind
secret_parse(const char *token, unsigned mask, char *lookup)
{
	if (token == NULL)
		return SECRET_NONE;
	size_t len = strlen(token);
	for (size_t i = 0; i < nitems(prefixes); i++) {
		size_t plen = strlen(prefixes[i].prefix);
		if (!(mask & (1u << prefixes[i].kind)) ||
		    !str_has_prefix(token, prefixes[i].prefix))
			continue;
		if (len != plen + BASE62_BODY || !all_in(token + plen, BASE62_BODY, base62))
			return SECRET_NONE;
		memcpy(lookup, token + plen, BASE62_LOOKUP);
		lookup[BASE62_LOOKUP] = '\0';
		return prefixes[i].kind;
	}
	if (len == HEX_BODY && all_in(token, HEX_BODY, "0123456789abcdef")) {
		enum secret_kind kind = mask & (1u << SECRET_OAUTH)     ? SECRET_OAUTH
		                        : mask & (1u << SECRET_REFRESH) ? SECRET_REFRESH
		                                                        : SECRET_NONE;
		if (kind != SECRET_NONE) {
			memcpy(lookup, token, HEX_LOOKUP);
			lookup[HEX_LOOKUP] = '\0';
		}
		return kind;
	}
	return SECRET_NONE;
}

bool
secret_looks_like(const char *s)
{
	char lookup[SECRET_LOOKUP_MAX + 1];
	if (s == NULL)
		return false;
	for (size_t i = 0; i < nitems(prefixes); i++)
		if (str_has_prefix(s, prefixes[i].prefix))
			return true;
	return secret_parse(s, ~0u, lookup) != SECRET_NONE;
}

void
secret_cache_init(void)
{
	crypto_generichash_keygen(cache_key);
	memset(cache, 0, sizeof(cache));
}

/* The cache slot of a secret checked against a stored hash, and their MAC into mac. The stored
 * hash is part of the key so that a new password (or a re-hashed token) misses the cache. */
static struct cache_slot *
cache_slot(const char *secret, const char *stored, unsigned char mac[crypto_generichash_BYTES])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, cache_key, sizeof(cache_key), crypto_generichash_BYTES);
	crypto_generichash_update(&st, (const unsigned char *)secret, strlen(secret) + 1);
	crypto_generichash_update(&st, (const unsigned char *)stored, strlen(stored));
	crypto_generichash_final(&st, mac, crypto_generichash_BYTES);
	uint32_t h;
	memcpy(&h, mac, sizeof(h));
	return &cache[h % CACHE_SLOTS];
}

void
secret_cache_put(const char *secret, const char *stored, enum secret_kind kind, int64_t id)
{
	unsigned char mac[crypto_generichash_BYTES];
	struct cache_slot *s = cache_slot(secret, stored, mac);
	memcpy(s->mac, mac, sizeof(mac));
	s->kind = kind;
	s->id = id;
	s->expires_us = now_monotonic_us() + CACHE_TTL_US;
}

bool
secret_cache_hit(const char *secret, const char *stored, enum secret_kind kind, int64_t id)
{
	unsigned char mac[crypto_generichash_BYTES];
	struct cache_slot *s = cache_slot(secret, stored, mac);
	return s->expires_us > now_monotonic_us() && s->kind == kind && s->id == id &&
	       sodium_memcmp(s->mac, mac, sizeof(mac)) == 0;
}

/*
 * Registry tokens: JWTs signed with Ed25519 (alg "EdDSA"), as the Docker token-authentication
 * spec describes them. authd holds the signing key and issues tokens; the gateway holds only the
 * public key and verifies every /v2 request itself, without a round trip.
 *
 * Claims: iss, sub, aud, exp, nbf, iat, jti, access[{type, name, actions}], plus the registry's
 * own: uid (user id), dtid (deploy token id), adm (instance admin), knd (how the caller signed in).
 *
 * Keys live in [global] key_dir: token.key (the 32-byte seed, base64, mode 0600, authd only) and
 * token.pub (the public key, base64).
 */
#ifndef REGISTRY_TOKEN_H
#define REGISTRY_TOKEN_H

#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"

struct token_access {
	char *type; /* "repository", "registry" */
	char *name;
	unsigned actions;
};

struct token_claims {
	char *iss, *sub, *aud, *jti;
	int64_t iat, nbf, exp;
	int64_t user_id;
	int64_t deploy_token_id;
	bool admin;
	enum auth_kind kind;
	struct token_access *access;
	size_t naccess;
};

struct token_key {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	bool has_secret;
	char kid[64];
};

#define TOKEN_ISSUER "registry-token-issuer"

/* Creates key_dir/token.key and token.pub unless they exist (safe against a concurrent start). */
int token_key_ensure(const char *key_dir, char **cause);
/* Loads the public key (secret false) or the whole key pair. */
int token_key_load(const char *key_dir, bool secret, struct token_key *k, char **cause);
/* libtrust-style key id: 12 groups of 4 base32 characters of the key's SHA-256. */
void token_kid(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[64]);

/* A signed compact JWT (caller frees). */
char *token_sign(const struct token_claims *c, const struct token_key *k);
/* Checks type (JWT), signature, key id, issuer, audience and time window (now, with a minute of
 * clock skew); -1 with *cause ("token expired", "invalid signature", ...). */
int token_verify(const char *jwt, const struct token_key *k, const char *aud, int64_t now,
                 struct token_claims *out, char **cause);
/* Where now lies against the claims' time window, with the clock skew token_verify allows: 0
 * inside, -1 past exp, 1 before nbf (any int64 claims: no overflow). */
int token_window(const struct token_claims *c, int64_t now);
void token_claims_clear(struct token_claims *c);
/* Adds an access entry (copies). */
void token_claims_add_access(struct token_claims *c, const char *type, const char *name,
                             unsigned actions);
/* The actions the token grants on type:name (0 if none). */
unsigned token_actions(const struct token_claims *c, const char *type, const char *name);

/* base64url without padding (JWT); decoding returns -1 on bad input. */
char *b64url_encode(const unsigned char *bin, size_t len);
int b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen);

#endif

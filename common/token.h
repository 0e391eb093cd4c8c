/*
 * Registry tokens: JWTs signed with Ed25519 (alg "EdDSA"), as the Docker token-authentication
 * spec describes them. authd holds the signing key and issues tokens; the gateway holds only the
 * public key and verifies every /v2 request itself, without a round trip.
 *
 * Claims: iss, sub, aud, exp, nbf, iat, jti, access[{type, name, actions}], plus the registry's
 * own: uid (user id), dtid (deploy token id), adm (instance admin), knd (how the caller signed in),
 * and in each repository entry of access the project the grant was made on and that project's
 * path generation (project_id, generation), which metad checks against the project the path
 * belongs to when the token is used (registry_grant_check in schema/functions/registry.sql).
 *
 * Keys live in [global] key_dir: token.key (the 32-byte seed, base64, mode 0600, authd only) and
 * token.pub (the public key, base64). During a rotation (README.md) the next key sits beside them
 * as token.next.key, which authd then signs with, and token.next.pub, which authd writes; a
 * verifier accepts both public keys, each token naming its key by kid in its header.
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
	int64_t project_id; /* a repository grant: the project it was made on, */
	int64_t generation; /* and that project's path generation (0 and 0 otherwise) */
};

/* What a token grants on one type:name (token_grant). */
struct token_grant {
	unsigned actions;
	int64_t project_id;
	int64_t generation;
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

/* The public keys a verifier holds at most: the current one and, during a rotation, the next. */
#define TOKEN_KEYS_MAX 2

/* token_verify's answer for a token whose kid names none of the keys given. */
#define TOKEN_UNKNOWN_KEY (-2)

/* Creates key_dir/token.key and token.pub unless they exist (safe against a concurrent start). */
int token_key_ensure(const char *key_dir, char **cause);
/* Loads the public key of token.pub (secret false), or the key pair tokens are signed with
 * (secret true): token.next.key during a rotation, whose public key it then writes to
 * token.next.pub unless that holds it already; token.key otherwise. */
int token_key_load(const char *key_dir, bool secret, struct token_key *k, char **cause);
/* Loads every public key a verifier accepts (token.pub, and token.next.pub when present) into
 * keys[TOKEN_KEYS_MAX]; their count, or -1 with *cause. */
int token_keys_load(const char *key_dir, struct token_key *keys, char **cause);
/* The public key of a seed file (token.key, token.next.key), base64 as token.pub holds it, for
 * an operator to publish a next key on every node before any authd signs with it (caller frees;
 * NULL with *cause). */
char *token_public_key_of(const char *seed_path, char **cause);
/* libtrust-style key id: 12 groups of 4 base32 characters of the key's SHA-256. */
void token_kid(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[64]);

/* A signed compact JWT (caller frees). */
char *token_sign(const struct token_claims *c, const struct token_key *k);
/* Checks type (JWT), key id (one of the nkeys keys), signature, issuer, audience, claims (a
 * repository grant names its project and generation) and time window (now, with a minute of
 * clock skew); -1 with *cause ("token expired", "invalid signature", ...), TOKEN_UNKNOWN_KEY
 * when the kid names none of the keys. */
int token_verify(const char *jwt, const struct token_key *keys, size_t nkeys, const char *aud,
                 int64_t now, struct token_claims *out, char **cause);
/* Where now lies against the claims' time window, with the clock skew token_verify allows: 0
 * inside, -1 past exp, 1 before nbf (any int64 claims: no overflow). */
int token_window(const struct token_claims *c, int64_t now);
void token_claims_clear(struct token_claims *c);
/* Adds an access entry (copies); project_id and generation bind a repository grant (0 else). */
void token_claims_add_access(struct token_claims *c, const char *type, const char *name,
                             unsigned actions, int64_t project_id, int64_t generation);
/* What the token grants on type:name: its first entry naming it (all zero if none). */
struct token_grant token_grant(const struct token_claims *c, const char *type, const char *name);

/* base64url without padding (JWT); decoding returns -1 on bad input. */
char *b64url_encode(const unsigned char *bin, size_t len);
int b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen);

#endif

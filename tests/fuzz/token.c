/*
 * libFuzzer target of registry token parsing and verification (common/token.c): what the
 * gateway does with the bearer token of every /v2 request.
 *
 * Input: a JWT. The seeds are tokens authd minted, with the signing key below (authd ran with
 * a key folder holding this seed). Each input is verified as it is (a forged or damaged token
 * must be refused with a reason), then its header and payload are signed again with the key, so
 * that the parser of claims behind the signature check is reached by whatever the fuzzer makes
 * of them. A token that verifies is signed again from its claims (token_sign) and must verify
 * to the same claims: what the gateway reads is what authd wrote.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "token.h"
#include "util.h"

/* The seed of the key the corpus was signed with: tests/fuzz/corpus/token/README. */
static const unsigned char key_seed[crypto_sign_SEEDBYTES] = "registry-fuzz-token-signing-key";
/* When the corpus was made: its tokens are valid then. */
#define NOW 1796558900
#define SERVICE "container_registry"

static struct token_key key;
static const unsigned known_actions = ACT_PULL | ACT_PUSH | ACT_DELETE | ACT_STAR;

/* Whether two claims are what a round trip through token_sign keeps. */
static bool
claims_equal(const struct token_claims *a, const struct token_claims *b)
{
	const unsigned known = ACT_PULL | ACT_PUSH | ACT_DELETE | ACT_STAR;
	if (strcmp(a->iss, b->iss) != 0 || strcmp(a->aud, b->aud) != 0 ||
	    strcmp(a->sub ? a->sub : "", b->sub) != 0 ||
	    strcmp(a->jti ? a->jti : "", b->jti) != 0 || a->exp != b->exp || a->iat != b->iat ||
	    a->nbf != b->nbf || (a->user_id > 0 ? a->user_id : 0) != b->user_id ||
	    (a->deploy_token_id > 0 ? a->deploy_token_id : 0) != b->deploy_token_id ||
	    a->admin != b->admin || a->kind != b->kind || a->naccess != b->naccess)
		return false;
	for (size_t i = 0; i < a->naccess; i++)
		if (strcmp(a->access[i].type, b->access[i].type) != 0 ||
		    strcmp(a->access[i].name, b->access[i].name) != 0 ||
		    (a->access[i].actions & known) != b->access[i].actions ||
		    a->access[i].project_id != b->access[i].project_id ||
		    a->access[i].generation != b->access[i].generation)
			return false;
	return true;
}

/* Verifies jwt; a token that passes is signed again from its claims and must come back. */
static void
verify(const char *jwt)
{
	struct token_claims c;
	char *cause = NULL;
	if (token_verify(jwt, &key, 1, SERVICE, NOW, &c, &cause) < 0) {
		if (!fuzz_bounded(cause, 256))
			fuzz_fail("a refusal without a short reason");
		if (c.iss != NULL || c.access != NULL)
			fuzz_fail("claims left after a refusal");
		free(cause);
		return;
	}
	if (cause != NULL)
		fuzz_fail("a reason for a token that verified");
	if (c.iss == NULL || strcmp(c.iss, TOKEN_ISSUER) != 0 || c.aud == NULL ||
	    strcmp(c.aud, SERVICE) != 0 || c.exp < NOW - 60 || c.nbf > NOW + 60)
		fuzz_fail("a token of another issuer, service or time verified");
	for (size_t i = 0; i < c.naccess; i++)
		if (token_grant(&c, c.access[i].type, c.access[i].name).actions & ~known_actions)
			fuzz_fail("a grant of actions the registry does not know");
	char *again = token_sign(&c, &key);
	struct token_claims c2;
	if (token_verify(again, &key, 1, SERVICE, NOW, &c2, &cause) < 0)
		fuzz_fail("a token signed from verified claims is refused: %s", cause);
	if (!claims_equal(&c, &c2))
		fuzz_fail("claims changed through token_sign");
	token_claims_clear(&c2);
	token_claims_clear(&c);
	free(again);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sodium_init() < 0)
		fuzz_fail("sodium_init failed");
	crypto_sign_seed_keypair(key.pk, key.sk, key_seed);
	key.has_secret = true;
	token_kid(key.pk, key.kid);
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *jwt = fuzz_strndup(data, size);
	verify(jwt);
	/* The same header and payload, signed with the key. */
	char *dot1 = strchr(jwt, '.');
	char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 != NULL) {
		unsigned char sig[crypto_sign_BYTES];
		crypto_sign_detached(sig, NULL, (const unsigned char *)jwt, (size_t)(dot2 - jwt),
		                     key.sk);
		char *s64 = b64url_encode(sig, sizeof(sig));
		char *signed_jwt = xasprintf("%.*s.%s", (int)(dot2 - jwt), jwt, s64);
		verify(signed_jwt);
		free(signed_jwt);
		free(s64);
	}
	free(jwt);
	return 0;
}

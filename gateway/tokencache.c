/*
 * Verified registry tokens, remembered per worker. A client sends the same token with every
 * request of a push or pull; checking its Ed25519 signature and parsing its claims each time was
 * a quarter of the gateway's work. An entry is found by a keyed hash of the whole token and used
 * only if the stored token is byte-for-byte the one presented, so nothing unverified is ever
 * accepted; the time window is checked again on every use.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "token.h"
#include "util.h"

#define SLOTS 1024     /* power of two */
#define MAX_TOKEN 8192 /* longer tokens are verified but not kept */

struct slot {
	char *jwt;
	struct token_claims claims;
};

static struct slot slots[SLOTS];

/* The one slot a token may live in; a newer token there replaces the older one. */
static struct slot *
slot_for(const char *jwt, size_t len)
{
	return &slots[shorthash(jwt, len) & (SLOTS - 1)];
}

const struct token_claims *
gw_token_lookup(const char *jwt, int64_t now)
{
	size_t len = strlen(jwt);
	if (len > MAX_TOKEN)
		return NULL;
	struct slot *s = slot_for(jwt, len);
	if (s->jwt == NULL || strcmp(s->jwt, jwt) != 0)
		return NULL;
	if (token_window(&s->claims, now) != 0)
		return NULL;
	return &s->claims;
}

const struct token_claims *
gw_token_remember(const char *jwt, struct token_claims *claims)
{
	size_t len = strlen(jwt);
	if (len > MAX_TOKEN)
		return NULL;
	struct slot *s = slot_for(jwt, len);
	free(s->jwt);
	token_claims_clear(&s->claims);
	s->jwt = xstrdup(jwt);
	s->claims = *claims;
	memset(claims, 0, sizeof(*claims));
	return &s->claims;
}

void
gw_token_forget_all(void)
{
	for (size_t i = 0; i < SLOTS; i++) {
		free(slots[i].jwt);
		slots[i].jwt = NULL;
		token_claims_clear(&slots[i].claims);
	}
}

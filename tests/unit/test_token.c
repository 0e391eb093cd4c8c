/* token.c: registry JWTs signed with Ed25519, key files, and every way a token is refused. */
#include "unit.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token.h"

#define NOW 1800000000LL
#define AUD "container_registry"

static struct token_key key, other;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Makes both keys the way authd does: key files in a fresh folder, then loaded. */
static int
setup(void **state)
{
	if (sodium_init() < 0)
		return -1;
	char dir[] = "/tmp/tokentest-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return -1;
	char *sub = NULL;
	char *cause = NULL;
	int rc = 0;
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (asprintf(&sub, "%s/k%d", dir, i) < 0)
			return -1;
		rc = token_key_ensure(sub, &cause);
		/* a second call keeps the existing key */
		if (rc == 0)
			rc = token_key_ensure(sub, &cause);
		if (rc == 0)
			rc = token_key_load(sub, true, i == 0 ? &key : &other, &cause);
		free(sub);
	}
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	if (rc < 0) {
		fprintf(stderr, "key setup: %s\n", cause);
		free(cause);
	}
	(void)state;
	return rc;
}

static void
fill_claims(struct token_claims *c)
{
	memset(c, 0, sizeof(*c));
	c->sub = strdup("alice");
	c->aud = strdup(AUD);
	c->jti = strdup("jti-1");
	c->iat = NOW;
	c->nbf = NOW;
	c->exp = NOW + 300;
	c->user_id = 42;
	c->kind = AUTH_PASSWORD;
	token_claims_add_access(c, "repository", "acme/web", ACT_PULL | ACT_PUSH, 7, 3);
	token_claims_add_access(c, "registry", "catalog", ACT_STAR, 0, 0);
}

static char *
signed_token(void)
{
	struct token_claims c;
	fill_claims(&c);
	char *jwt = token_sign(&c, &key);
	token_claims_clear(&c);
	return jwt;
}

/* Expects jwt to be refused with a cause containing want. */
static void
expect_refused(const char *jwt, const struct token_key *k, const char *aud, int64_t now,
               const char *want)
{
	struct token_claims out;
	char *cause = NULL;
	if (token_verify(jwt, k, 1, aud, now, &out, &cause) == 0) {
		token_claims_clear(&out);
		fail_msg("token accepted, want \"%s\"", want);
	}
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\", want \"%s\"", cause, want);
	free(cause);
	/* a refused token leaves nothing to free */
	assert_null(out.sub);
	assert_int_equal(out.naccess, 0);
}

static void
sign_then_verify(void **state)
{
	char *jwt = signed_token();
	struct token_claims out;
	char *cause = NULL;
	assert_int_equal(token_verify(jwt, &key, 1, AUD, NOW + 10, &out, &cause), 0);
	assert_string_equal(out.sub, "alice");
	assert_string_equal(out.iss, TOKEN_ISSUER);
	assert_int_equal(out.user_id, 42);
	assert_int_equal(out.kind, AUTH_PASSWORD);
	assert_int_equal(out.exp, NOW + 300);
	struct token_grant g = token_grant(&out, "repository", "acme/web");
	assert_int_equal(g.actions, ACT_PULL | ACT_PUSH);
	/* the grant names the project it was made on and its path generation */
	assert_int_equal(g.project_id, 7);
	assert_int_equal(g.generation, 3);
	assert_int_equal(token_grant(&out, "repository", "acme/other").actions, 0);
	assert_int_equal(token_grant(&out, "registry", "catalog").actions, ACT_STAR);
	token_claims_clear(&out);
	/* a verifier holding only the public key accepts it too */
	struct token_key pub;
	memset(&pub, 0, sizeof(pub));
	memcpy(pub.pk, key.pk, sizeof(pub.pk));
	token_kid(pub.pk, pub.kid);
	assert_string_equal(pub.kid, key.kid);
	assert_int_equal(token_verify(jwt, &pub, 1, AUD, NOW, &out, &cause), 0);
	token_claims_clear(&out);
	free(jwt);
	(void)state;
}

static void
kid_format(void **state)
{
	/* libtrust style: 12 groups of 4 base32 characters */
	assert_int_equal(strlen(key.kid), 12 * 4 + 11);
	for (int i = 0; i < 12; i++) {
		if (i < 11)
			assert_int_equal(key.kid[i * 5 + 4], ':');
		for (int j = 0; j < 4; j++) {
			char ch = key.kid[i * 5 + j];
			assert_true((ch >= 'A' && ch <= 'Z') || (ch >= '2' && ch <= '7'));
		}
	}
	assert_string_not_equal(key.kid, other.kid);
	(void)state;
}

static void
tampered_payload(void **state)
{
	char *jwt = signed_token();
	/* re-encode the payload with a different user id, keep header and signature */
	char *dot1 = strchr(jwt, '.'), *dot2 = strchr(dot1 + 1, '.');
	unsigned char *payload;
	size_t plen;
	assert_int_equal(b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload, &plen), 0);
	char *text = strndup((char *)payload, plen);
	char *uid = strstr(text, "\"uid\": 42");
	if (uid == NULL)
		uid = strstr(text, "\"uid\":42");
	assert_non_null(uid);
	uid[strlen(uid[6] == ' ' ? "\"uid\": 4" : "\"uid\":4")] = '3'; /* 42 -> 43 */
	char *p64 = b64url_encode((unsigned char *)text, strlen(text));
	*dot1 = '\0';
	char *forged = NULL;
	assert_true(asprintf(&forged, "%s.%s.%s", jwt, p64, dot2 + 1) > 0);
	expect_refused(forged, &key, AUD, NOW, "invalid token signature");
	/* a flipped signature character is refused too */
	*dot1 = '.';
	char *sig = strrchr(jwt, '.') + 1;
	sig[3] = sig[3] == 'A' ? 'B' : 'A';
	expect_refused(jwt, &key, AUD, NOW, "invalid token signature");
	free(forged);
	free(p64);
	free(text);
	free(payload);
	free(jwt);
	(void)state;
}

static void
wrong_key(void **state)
{
	char *jwt = signed_token();
	expect_refused(jwt, &other, AUD, NOW, "unknown key");
	/* a token claiming the other key's id but signed with ours */
	struct token_key liar = key;
	memcpy(liar.kid, other.kid, sizeof(liar.kid));
	struct token_claims c;
	fill_claims(&c);
	char *forged = token_sign(&c, &liar);
	token_claims_clear(&c);
	expect_refused(forged, &other, AUD, NOW, "invalid token signature");
	free(forged);
	free(jwt);
	(void)state;
}

/* During a rotation a verifier holds two keys: a token of either verifies; the unknown kid is
 * told apart (TOKEN_UNKNOWN_KEY) so that the gateway can look for a key published since. */
static void
two_keys(void **state)
{
	struct token_key both[2] = { other, key };
	char *jwt = signed_token();
	struct token_claims c, out;
	char *cause = NULL;
	assert_int_equal(token_verify(jwt, both, 2, AUD, NOW, &out, &cause), 0);
	token_claims_clear(&out);
	fill_claims(&c);
	char *by_other = token_sign(&c, &other);
	token_claims_clear(&c);
	assert_int_equal(token_verify(by_other, both, 2, AUD, NOW, &out, &cause), 0);
	token_claims_clear(&out);
	/* the old key retired: its tokens are refused, with a cause saying why */
	assert_int_equal(token_verify(by_other, &key, 1, AUD, NOW, &out, &cause),
	                 TOKEN_UNKNOWN_KEY);
	assert_string_equal(cause, "token signed by an unknown key");
	free(cause);
	free(by_other);
	free(jwt);
	(void)state;
}

/* A repository grant without its project and generation (a token of an older issuer) is refused
 * whole; a catalog grant needs neither. */
static void
unbound_repository_grant(void **state)
{
	struct token_claims c;
	fill_claims(&c);
	c.access[0].project_id = 0;
	char *jwt = token_sign(&c, &key);
	expect_refused(jwt, &key, AUD, NOW, "malformed token claims");
	free(jwt);
	c.access[0].project_id = 7;
	c.access[0].generation = 0;
	jwt = token_sign(&c, &key);
	expect_refused(jwt, &key, AUD, NOW, "malformed token claims");
	free(jwt);
	token_claims_clear(&c);
	(void)state;
}

static void
expired_and_not_yet(void **state)
{
	char *jwt = signed_token();
	struct token_claims out;
	char *cause = NULL;
	/* a minute of clock skew is tolerated both ways */
	assert_int_equal(token_verify(jwt, &key, 1, AUD, NOW + 300 + 30, &out, &cause), 0);
	token_claims_clear(&out);
	assert_int_equal(token_verify(jwt, &key, 1, AUD, NOW - 30, &out, &cause), 0);
	token_claims_clear(&out);
	expect_refused(jwt, &key, AUD, NOW + 300 + 3600, "token expired");
	expect_refused(jwt, &key, AUD, NOW - 3600, "not valid yet");
	free(jwt);
	(void)state;
}

/* A signed token may name any int64 times: the window is checked without overflowing. */
static void
window_at_the_ends_of_time(void **state)
{
	struct token_claims c;
	fill_claims(&c);
	c.exp = INT64_MAX;
	c.nbf = INT64_MIN;
	char *jwt = token_sign(&c, &key);
	struct token_claims out;
	char *cause = NULL;
	assert_int_equal(token_verify(jwt, &key, 1, AUD, NOW, &out, &cause), 0);
	assert_int_equal(token_window(&out, NOW), 0);
	token_claims_clear(&out);
	free(jwt);
	c.exp = INT64_MIN;
	c.nbf = INT64_MIN;
	jwt = token_sign(&c, &key);
	expect_refused(jwt, &key, AUD, NOW, "token expired");
	free(jwt);
	c.exp = INT64_MAX;
	c.nbf = INT64_MAX;
	jwt = token_sign(&c, &key);
	expect_refused(jwt, &key, AUD, NOW, "not valid yet");
	free(jwt);
	token_claims_clear(&c);
	(void)state;
}

static void
wrong_audience(void **state)
{
	char *jwt = signed_token();
	expect_refused(jwt, &key, "another_registry", NOW, "another service");
	free(jwt);
	(void)state;
}

static void
wrong_issuer_and_type(void **state)
{
	/* signed by our key, but naming another issuer */
	struct token_claims c;
	fill_claims(&c);
	c.iss = strdup("someone-else");
	char *jwt = token_sign(&c, &key);
	token_claims_clear(&c);
	expect_refused(jwt, &key, AUD, NOW, "another issuer");
	/* the same payload under a header of another type, signed by our key */
	char *htext = NULL, *t = NULL;
	assert_true(asprintf(&htext, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	                     key.kid) > 0);
	char *h64 = b64url_encode((const unsigned char *)htext, strlen(htext));
	fill_claims(&c);
	char *good = token_sign(&c, &key);
	token_claims_clear(&c);
	const char *p1 = strchr(good, '.') + 1, *p2 = strchr(p1, '.');
	assert_true(asprintf(&t, "%s.%.*s", h64, (int)(p2 - p1), p1) > 0);
	unsigned char sig[crypto_sign_BYTES];
	crypto_sign_detached(sig, NULL, (const unsigned char *)t, strlen(t), key.sk);
	char *s64 = b64url_encode(sig, sizeof(sig));
	char *typed = NULL;
	assert_true(asprintf(&typed, "%s.%s", t, s64) > 0);
	expect_refused(typed, &key, AUD, NOW, "not a JWT");
	free(typed);
	free(s64);
	free(t);
	free(h64);
	free(htext);
	free(good);
	free(jwt);
	(void)state;
}

static void
malformed(void **state)
{
	expect_refused("", &key, AUD, NOW, "malformed");
	expect_refused("abc", &key, AUD, NOW, "malformed");
	expect_refused("a.b", &key, AUD, NOW, "malformed");
	expect_refused("a.b.c.d", &key, AUD, NOW, "malformed");
	expect_refused("!!.??.**", &key, AUD, NOW, "malformed");
	/* a header that is not JSON, and one with another algorithm */
	char *h = b64url_encode((const unsigned char *)"nope", 4);
	char *t = NULL;
	assert_true(asprintf(&t, "%s.e30.AAAA", h) > 0);
	expect_refused(t, &key, AUD, NOW, "malformed token header");
	free(h);
	free(t);
	const char *none = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	h = b64url_encode((const unsigned char *)none, strlen(none));
	assert_true(asprintf(&t, "%s.e30.", h) > 0);
	expect_refused(t, &key, AUD, NOW, "unsupported token algorithm");
	free(h);
	free(t);
	/* base64url decoding */
	unsigned char *out;
	size_t len;
	assert_int_equal(b64url_decode("aGVsbG8", 7, &out, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(b64url_decode("aGVsbG8=", 8, &out, &len), -1);
	assert_int_equal(b64url_decode("a+/b", 4, &out, &len), -1);
	(void)state;
}

/* The public half of a key file, as token.pub holds it (registry-authd --public-key). */
static void
public_key_of_a_seed_file(void **state)
{
	char dir[] = "/tmp/tokenpub-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *cause = NULL, *key_path = NULL, *pub_path = NULL, *bad_path = NULL;
	assert_true(asprintf(&key_path, "%s/token.key", dir) > 0);
	assert_true(asprintf(&pub_path, "%s/token.pub", dir) > 0);
	assert_true(asprintf(&bad_path, "%s/bad.key", dir) > 0);
	assert_int_equal(token_key_ensure(dir, &cause), 0);
	char written[128] = "";
	FILE *f = fopen(pub_path, "r");
	assert_non_null(f);
	assert_non_null(fgets(written, sizeof(written), f));
	fclose(f);
	written[strcspn(written, "\n")] = '\0';
	char *pub = token_public_key_of(key_path, &cause);
	assert_non_null(pub);
	assert_string_equal(pub, written);
	free(pub);
	/* a file that is no key, and no file */
	f = fopen(bad_path, "w");
	assert_non_null(f);
	fputs("c2hvcnQ=\n", f);
	fclose(f);
	assert_null(token_public_key_of(bad_path, &cause));
	assert_non_null(strstr(cause, "does not hold a 32-byte base64 key"));
	free(cause);
	cause = NULL;
	unlink(bad_path);
	assert_null(token_public_key_of(bad_path, &cause));
	assert_non_null(strstr(cause, "cannot read"));
	free(cause);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(key_path);
	free(pub_path);
	free(bad_path);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sign_then_verify),
		cmocka_unit_test(kid_format),
		cmocka_unit_test(tampered_payload),
		cmocka_unit_test(wrong_key),
		cmocka_unit_test(expired_and_not_yet),
		cmocka_unit_test(wrong_audience),
		cmocka_unit_test(wrong_issuer_and_type),
		cmocka_unit_test(malformed),
		cmocka_unit_test(window_at_the_ends_of_time),
		cmocka_unit_test(two_keys),
		cmocka_unit_test(unbound_repository_grant),
		cmocka_unit_test(public_key_of_a_seed_file),
	};
	return cmocka_run_group_tests_name("token", tests, setup, NULL);
}

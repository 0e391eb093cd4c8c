/* JWT encoding, Ed25519 signing and verification, and the key files. */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "util.h"

#define CLOCK_SKEW 60

char *
b64url_encode(const unsigned char *bin, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = xmalloc(cap);
	sodium_bin2base64(out, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

int
b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	size_t cap = slen * 3 / 4 + 3;
	unsigned char *bin = xmalloc(cap);
	const char *end;
	if (sodium_base642bin(bin, cap, s, slen, NULL, outlen, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    end != s + slen) {
		free(bin);
		return -1;
	}
	*out = bin;
	return 0;
}

void
token_kid(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[64])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char hash[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(hash, pk, crypto_sign_PUBLICKEYBYTES);
	/* 240 bits = 48 base32 characters, grouped by four */
	size_t o = 0;
	for (int i = 0; i < 48; i++) {
		int bit = i * 5;
		int byte = bit / 8, shift = bit % 8;
		unsigned v = ((unsigned)hash[byte] << 8) | (byte + 1 < 32 ? hash[byte + 1] : 0);
		out[o++] = alphabet[(v >> (11 - shift)) & 31];
		if (i % 4 == 3 && i != 47)
			out[o++] = ':';
	}
	out[o] = '\0';
}

/* ---- key files ------------------------------------------------------------------------------- */

/* Reads a key file: one base64 line that must decode to exactly len bytes. */
static int
read_b64_file(const char *path, unsigned char *out, size_t len, char **cause)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	char buf[256];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	size_t got;
	if (sodium_base642bin(out, len, buf, strlen(buf), NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != len) {
		*cause = xasprintf("%s does not hold a %zu-byte base64 key", path, len);
		return -1;
	}
	return 0;
}

/* Writes data to path atomically with mode; with exclusive, fails (EEXIST) if path exists. */
static int
write_key_file(const char *path, const unsigned char *bin, size_t len, mode_t mode, bool exclusive,
               char **cause)
{
	char b64[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), bin, len, sodium_base64_VARIANT_ORIGINAL);
	char *tmp = xasprintf("%s.%d.tmp", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int rc = -1;
	if (fd < 0 || write_all(fd, b64, strlen(b64)) < 0 || write_all(fd, "\n", 1) < 0 ||
	    fsync(fd) < 0) {
		*cause = xasprintf("cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (exclusive ? link(tmp, path) : rename(tmp, path)) {
		if (errno != EEXIST)
			*cause = xasprintf("cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	sodium_memzero(b64, sizeof(b64));
	return rc;
}

/* Makes the signing key readable by its owner only, whatever an earlier hand left: the gateway's
 * user may share the key folder's group to read token.pub. */
static int
keep_private(const char *path, char **cause)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if ((st.st_mode & 077) == 0)
		return 0;
	if (chmod(path, 0600) < 0) {
		*cause = xasprintf("%s is readable by others than its owner and cannot be made "
		                   "private: %s",
		                   path, strerror(errno));
		return -1;
	}
	log_warn("%s was readable by others than its owner: made it 0600", path);
	return 0;
}

/* Writes the public key of k to pub_path unless the file holds it already. */
static int
publish_key(const char *pub_path, const struct token_key *k, char **cause)
{
	unsigned char cur[crypto_sign_PUBLICKEYBYTES];
	char *ignored = NULL;
	if (read_b64_file(pub_path, cur, sizeof(cur), &ignored) == 0 &&
	    memcmp(cur, k->pk, sizeof(cur)) == 0)
		return 0;
	free(ignored);
	return write_key_file(pub_path, k->pk, sizeof(k->pk), 0644, false, cause);
}

int
token_key_ensure(const char *key_dir, char **cause)
{
	if (mkdir(key_dir, 0750) < 0 && errno != EEXIST) {
		*cause = xasprintf("cannot create %s: %s", key_dir, strerror(errno));
		return -1;
	}
	char *key_path = xasprintf("%s/token.key", key_dir);
	char *pub_path = xasprintf("%s/token.pub", key_dir);
	unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
	        sk[crypto_sign_SECRETKEYBYTES];
	int rc = -1;
	if (access(key_path, F_OK) != 0) {
		randombytes_buf(seed, sizeof(seed));
		*cause = NULL;
		if (write_key_file(key_path, seed, sizeof(seed), 0600, true, cause) < 0 && *cause)
			goto out; /* EEXIST: another process made it first; use theirs */
	}
	if (keep_private(key_path, cause) < 0 ||
	    read_b64_file(key_path, seed, sizeof(seed), cause) < 0)
		goto out;
	crypto_sign_seed_keypair(pk, sk, seed);
	struct token_key k = { .has_secret = false };
	memcpy(k.pk, pk, sizeof(pk));
	if (publish_key(pub_path, &k, cause) < 0)
		goto out;
	rc = 0;
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	free(key_path);
	free(pub_path);
	return rc;
}

/* The public key of a seed file, base64 as token.pub holds it (caller frees); NULL with *cause. */
char *
token_public_key_of(const char *seed_path, char **cause)
{
	unsigned char seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
	        sk[crypto_sign_SECRETKEYBYTES];
	if (read_b64_file(seed_path, seed, sizeof(seed), cause) < 0)
		return NULL;
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	char b64[sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES,
	                                   sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
	return xstrdup(b64);
}

/* The key pair of a seed file (kept private). */
static int
load_seed(const char *path, struct token_key *k, char **cause)
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	int rc = keep_private(path, cause);
	if (rc == 0)
		rc = read_b64_file(path, seed, sizeof(seed), cause);
	if (rc == 0) {
		crypto_sign_seed_keypair(k->pk, k->sk, seed);
		k->has_secret = true;
	}
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

int
token_key_load(const char *key_dir, bool secret, struct token_key *k, char **cause)
{
	memset(k, 0, sizeof(*k));
	int rc;
	if (secret) {
		char *next = xasprintf("%s/token.next.key", key_dir);
		if (access(next, F_OK) == 0) {
			char *pub = xasprintf("%s/token.next.pub", key_dir);
			rc = load_seed(next, k, cause);
			if (rc == 0)
				rc = publish_key(pub, k, cause);
			free(pub);
		} else {
			char *path = xasprintf("%s/token.key", key_dir);
			rc = load_seed(path, k, cause);
			free(path);
		}
		free(next);
	} else {
		char *path = xasprintf("%s/token.pub", key_dir);
		rc = read_b64_file(path, k->pk, sizeof(k->pk), cause);
		free(path);
	}
	if (rc == 0)
		token_kid(k->pk, k->kid);
	else
		sodium_memzero(k, sizeof(*k));
	return rc;
}

int
token_keys_load(const char *key_dir, struct token_key *keys, char **cause)
{
	if (token_key_load(key_dir, false, &keys[0], cause) < 0)
		return -1;
	char *next = xasprintf("%s/token.next.pub", key_dir);
	int n = 1;
	if (access(next, F_OK) == 0) {
		memset(&keys[1], 0, sizeof(keys[1]));
		if (read_b64_file(next, keys[1].pk, sizeof(keys[1].pk), cause) < 0)
			n = -1;
		else if (memcmp(keys[1].pk, keys[0].pk, sizeof(keys[0].pk)) != 0) {
			token_kid(keys[1].pk, keys[1].kid);
			n = 2;
		}
	}
	free(next);
	return n;
}

/* ---- claims ---------------------------------------------------------------------------------- */

/* Frees what claims hold (names, scopes of access), and leaves them empty for reuse. */
void
token_claims_clear(struct token_claims *c)
{
	free(c->iss);
	free(c->sub);
	free(c->aud);
	free(c->jti);
	for (size_t i = 0; i < c->naccess; i++) {
		free(c->access[i].type);
		free(c->access[i].name);
	}
	free(c->access);
	memset(c, 0, sizeof(*c));
}

void
token_claims_add_access(struct token_claims *c, const char *type, const char *name,
                        unsigned actions, int64_t project_id, int64_t generation)
{
	c->access = xrealloc(c->access, (c->naccess + 1) * sizeof(*c->access));
	struct token_access *a = &c->access[c->naccess++];
	a->type = xstrdup(type);
	a->name = xstrdup(name);
	a->actions = actions;
	a->project_id = project_id;
	a->generation = generation;
}

struct token_grant
token_grant(const struct token_claims *c, const char *type, const char *name)
{
	struct token_grant g = { 0, 0, 0 };
	for (size_t i = 0; i < c->naccess; i++) {
		const struct token_access *a = &c->access[i];
		if (strcmp(a->type, type) == 0 && strcmp(a->name, name) == 0) {
			g.actions = a->actions;
			g.project_id = a->project_id;
			g.generation = a->generation;
			break;
		}
	}
	return g;
}

/* The JWT payload of claims: registered claims, access list, and our own uid/dtid/adm/knd. */
static json_object *
claims_to_json(const struct token_claims *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "iss", json_object_new_string(c->iss ? c->iss : TOKEN_ISSUER));
	json_object_object_add(o, "sub", json_object_new_string(c->sub ? c->sub : ""));
	json_object_object_add(o, "aud", json_object_new_string(c->aud ? c->aud : ""));
	json_object_object_add(o, "exp", json_object_new_int64(c->exp));
	json_object_object_add(o, "nbf", json_object_new_int64(c->nbf));
	json_object_object_add(o, "iat", json_object_new_int64(c->iat));
	json_object_object_add(o, "jti", json_object_new_string(c->jti ? c->jti : ""));
	json_object *access = json_object_new_array();
	for (size_t i = 0; i < c->naccess; i++) {
		json_object *a = json_object_new_object();
		json_object_object_add(a, "type", json_object_new_string(c->access[i].type));
		json_object_object_add(a, "name", json_object_new_string(c->access[i].name));
		json_object *acts = json_object_new_array();
		static const struct {
			unsigned bit;
			const char *name;
		} names[] = { { ACT_PULL, "pull" },
			      { ACT_PUSH, "push" },
			      { ACT_DELETE, "delete" },
			      { ACT_STAR, "*" } };
		for (size_t j = 0; j < nitems(names); j++)
			if (c->access[i].actions & names[j].bit)
				json_object_array_add(acts, json_object_new_string(names[j].name));
		json_object_object_add(a, "actions", acts);
		if (strcmp(c->access[i].type, "repository") == 0) {
			json_object_object_add(a, "project_id",
			                       json_object_new_int64(c->access[i].project_id));
			json_object_object_add(a, "generation",
			                       json_object_new_int64(c->access[i].generation));
		}
		json_object_array_add(access, a);
	}
	json_object_object_add(o, "access", access);
	if (c->user_id > 0)
		json_object_object_add(o, "uid", json_object_new_int64(c->user_id));
	if (c->deploy_token_id > 0)
		json_object_object_add(o, "dtid", json_object_new_int64(c->deploy_token_id));
	if (c->admin)
		json_object_object_add(o, "adm", json_object_new_boolean(1));
	json_object_object_add(o, "knd", json_object_new_string(auth_kind_name(c->kind)));
	return o;
}

char *
token_sign(const struct token_claims *c, const struct token_key *k)
{
	json_object *hdr = json_object_new_object();
	json_object_object_add(hdr, "alg", json_object_new_string("EdDSA"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	json_object_object_add(hdr, "kid", json_object_new_string(k->kid));
	const char *h = js_text(hdr);
	char *h64 = b64url_encode((const unsigned char *)h, strlen(h));
	json_object_put(hdr);
	json_object *payload = claims_to_json(c);
	const char *p = js_text(payload);
	char *p64 = b64url_encode((const unsigned char *)p, strlen(p));
	json_object_put(payload);
	char *signing_input = xasprintf("%s.%s", h64, p64);
	unsigned char sig[crypto_sign_BYTES];
	crypto_sign_detached(sig, NULL, (const unsigned char *)signing_input, strlen(signing_input),
	                     k->sk);
	char *s64 = b64url_encode(sig, sizeof(sig));
	char *jwt = xasprintf("%s.%s", signing_input, s64);
	free(h64);
	free(p64);
	free(s64);
	free(signing_input);
	return jwt;
}

/* A copy of a string member of the payload, or NULL when it is absent or not a string. */
static char *
dup_str(json_object *o, const char *key)
{
	const char *s = js_str(o, key);
	return s ? xstrdup(s) : NULL;
}

int
token_window(const struct token_claims *c, int64_t now)
{
	/* now is a clock's: now - CLOCK_SKEW and now + CLOCK_SKEW cannot overflow, exp + CLOCK_SKEW
	 * can (a signed exp is any int64) */
	if (c->exp < now - CLOCK_SKEW)
		return -1;
	return c->nbf > now + CLOCK_SKEW ? 1 : 0;
}

/* Reads a verified payload back into claims; -1 when a required claim is missing or malformed. */
static int
claims_from_json(json_object *o, struct token_claims *c)
{
	c->iss = dup_str(o, "iss");
	c->sub = dup_str(o, "sub");
	c->aud = dup_str(o, "aud");
	c->jti = dup_str(o, "jti");
	if (!js_int(o, "exp", &c->exp) || !js_int(o, "iat", &c->iat))
		return -1;
	if (!js_int(o, "nbf", &c->nbf))
		c->nbf = c->iat;
	js_int(o, "uid", &c->user_id);
	js_int(o, "dtid", &c->deploy_token_id);
	js_bool(o, "adm", &c->admin);
	c->kind = auth_kind_parse(js_str(o, "knd"));
	json_object *access;
	if (!json_object_object_get_ex(o, "access", &access) || access == NULL)
		return 0;
	if (!json_object_is_type(access, json_type_array))
		return -1;
	for (size_t i = 0; i < json_object_array_length(access); i++) {
		json_object *a = json_object_array_get_idx(access, i);
		const char *type = js_str(a, "type"), *name = js_str(a, "name");
		json_object *acts;
		if (type == NULL || name == NULL ||
		    !json_object_object_get_ex(a, "actions", &acts) ||
		    !json_object_is_type(acts, json_type_array))
			return -1;
		unsigned bits = 0;
		for (size_t j = 0; j < json_object_array_length(acts); j++) {
			json_object *v = json_object_array_get_idx(acts, j);
			if (json_object_is_type(v, json_type_string))
				bits |= actions_parse(json_object_get_string(v));
		}
		/* a repository grant is bound to its project: one without is not ours (or older) */
		int64_t project_id = 0, generation = 0;
		if (strcmp(type, "repository") == 0 &&
		    (!js_int(a, "project_id", &project_id) ||
		     !js_int(a, "generation", &generation) || project_id <= 0 || generation <= 0))
			return -1;
		token_claims_add_access(c, type, name, bits, project_id, generation);
	}
	return 0;
}

int
token_verify(const char *jwt, const struct token_key *keys, size_t nkeys, const char *aud,
             int64_t now, struct token_claims *out, char **cause)
{
	memset(out, 0, sizeof(*out));
	const char *dot1 = strchr(jwt, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL || strlen(jwt) > 65536) {
		*cause = xstrdup("malformed token");
		return -1;
	}
	unsigned char *hdr = NULL, *payload = NULL, *sig = NULL;
	size_t hlen, plen, slen;
	json_object *h = NULL, *p = NULL;
	char *perr = NULL;
	int rc = -1;
	if (b64url_decode(jwt, (size_t)(dot1 - jwt), &hdr, &hlen) < 0 ||
	    b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload, &plen) < 0 ||
	    b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &slen) < 0) {
		*cause = xstrdup("malformed token");
		goto out;
	}
	h = js_parse((const char *)hdr, hlen, &perr);
	if (h == NULL || !json_object_is_type(h, json_type_object)) {
		*cause = xstrdup("malformed token header");
		goto out;
	}
	const char *alg = js_str(h, "alg"), *kid = js_str(h, "kid"), *typ = js_str(h, "typ");
	if (alg == NULL || strcmp(alg, "EdDSA") != 0) {
		*cause = xstrdup("unsupported token algorithm");
		goto out;
	}
	if (typ == NULL || strcmp(typ, "JWT") != 0) {
		*cause = xstrdup("not a JWT");
		goto out;
	}
	const struct token_key *k = NULL;
	for (size_t i = 0; kid != NULL && i < nkeys && k == NULL; i++)
		if (strcmp(kid, keys[i].kid) == 0)
			k = &keys[i];
	if (k == NULL) {
		*cause = xstrdup("token signed by an unknown key");
		rc = TOKEN_UNKNOWN_KEY;
		goto out;
	}
	if (slen != crypto_sign_BYTES ||
	    crypto_sign_verify_detached(sig, (const unsigned char *)jwt, (size_t)(dot2 - jwt),
	                                k->pk) != 0) {
		*cause = xstrdup("invalid token signature");
		goto out;
	}
	p = js_parse((const char *)payload, plen, &perr);
	if (p == NULL || !json_object_is_type(p, json_type_object) ||
	    claims_from_json(p, out) < 0) {
		*cause = xstrdup("malformed token claims");
		goto out;
	}
	if (out->iss == NULL || strcmp(out->iss, TOKEN_ISSUER) != 0) {
		*cause = xstrdup("token issued by another issuer");
		goto out;
	}
	if (out->aud == NULL || strcmp(out->aud, aud) != 0) {
		*cause = xstrdup("token issued for another service");
		goto out;
	}
	if (token_window(out, now) != 0) {
		*cause = xstrdup(token_window(out, now) < 0 ? "token expired"
		                                            : "token not valid yet");
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		token_claims_clear(out);
	free(perr);
	json_object_put(h);
	json_object_put(p);
	free(hdr);
	free(payload);
	free(sig);
	return rc;
}

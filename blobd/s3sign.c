/*
 * AWS Signature Version 4 for S3, as AWS documents it ("Authenticating Requests: AWS Signature
 * Version 4"): the canonical request, the string to sign, the signing key derived from the secret
 * by four HMAC-SHA256 steps, and the signature, in an Authorization header or in the query string
 * of a pre-signed URL. Pure: no clock, no I/O (tests/unit/test_blobd_s3sign.c checks AWS's own
 * examples).
 */
#include "s3.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "url.h"
#include "util.h"

#define S3SIGN_ALGORITHM "AWS4-HMAC-SHA256"

/* A name and value, both in their canonical (encoded or lowercased) form. */
struct s3sign_pair {
	char *name;
	char *value;
};

static int s3sign_pair_cmp(const void *a, const void *b);
static char *s3sign_header_value(const char *v);
static struct s3sign_pair *s3sign_headers(const struct s3_sign *s);
static char *s3sign_signed_headers(const struct s3sign_pair *h, size_t n);
static char *s3sign_query(const struct s3_kv *q, size_t n);
static char *s3sign_scope(const struct s3_sign *s);
static void s3sign_hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32]);
static void s3sign_pairs_free(struct s3sign_pair *p, size_t n);

void
s3sign_amz_date(time_t t, char out[S3_AMZ_DATE_LEN])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, S3_AMZ_DATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}

/* Orders pairs by name, then value, byte by byte. */
static int
s3sign_pair_cmp(const void *a, const void *b)
{
	const struct s3sign_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : strcmp(x->value, y->value);
}

static void
s3sign_pairs_free(struct s3sign_pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
}

/* A header value as signed: no space at either end, runs of spaces as one. */
static char *
s3sign_header_value(const char *v)
{
	char *out = xmalloc(strlen(v) + 1);
	size_t o = 0;
	bool space = false;
	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = *v;
	}
	out[o] = '\0';
	return out;
}

/* The signed headers, lowercased, trimmed and sorted. */
static struct s3sign_pair *
s3sign_headers(const struct s3_sign *s)
{
	struct s3sign_pair *h = xcalloc(s->nheaders + 1, sizeof(*h));
	for (size_t i = 0; i < s->nheaders; i++) {
		h[i].name = xstrdup(s->headers[i].name);
		for (char *c = h[i].name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		h[i].value = s3sign_header_value(s->headers[i].value);
	}
	qsort(h, s->nheaders, sizeof(*h), s3sign_pair_cmp);
	return h;
}

/* "host;range;x-amz-date": the names of the sorted headers. */
static char *
s3sign_signed_headers(const struct s3sign_pair *h, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(h[i].name) + 1;
	char *out = xmalloc(len);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(out, ";");
		strcat(out, h[i].name);
	}
	return out;
}

/* The canonical query string: names and values encoded, sorted, "name=value" joined by '&'. */
static char *
s3sign_query(const struct s3_kv *q, size_t n)
{
	struct s3sign_pair *p = xcalloc(n + 1, sizeof(*p));
	size_t len = 1;
	for (size_t i = 0; i < n; i++) {
		p[i].name = url_encode(q[i].name, false);
		p[i].value = url_encode(q[i].value != NULL ? q[i].value : "", false);
		len += strlen(p[i].name) + strlen(p[i].value) + 2;
	}
	qsort(p, n, sizeof(*p), s3sign_pair_cmp);
	char *out = xmalloc(len);
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s=%s", i > 0 ? "&" : "", p[i].name,
		                      p[i].value);
	out[o] = '\0';
	s3sign_pairs_free(p, n);
	return out;
}

char *
s3sign_canonical_request(const struct s3_sign *s)
{
	char *uri = url_encode(s->path[0] != '\0' ? s->path : "/", true);
	char *query = s3sign_query(s->query, s->nquery);
	struct s3sign_pair *h = s3sign_headers(s);
	char *names = s3sign_signed_headers(h, s->nheaders);
	char *headers = xstrdup("");
	for (size_t i = 0; i < s->nheaders; i++) {
		char *next = xasprintf("%s%s:%s\n", headers, h[i].name, h[i].value);
		free(headers);
		headers = next;
	}
	char *out = xasprintf("%s\n%s\n%s\n%s\n%s\n%s", s->method, uri, query, headers, names,
	                      s->payload_hash);
	free(uri);
	free(query);
	free(headers);
	free(names);
	s3sign_pairs_free(h, s->nheaders);
	return out;
}

/* "20130524/us-east-1/s3/aws4_request": the credential scope. */
static char *
s3sign_scope(const struct s3_sign *s)
{
	return xasprintf("%.8s/%s/s3/aws4_request", s->amz_date, s->region);
}

char *
s3sign_string_to_sign(const struct s3_sign *s, const char *canonical_request)
{
	char hash[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, canonical_request, strlen(canonical_request), hash);
	char *scope = s3sign_scope(s);
	/* hash is "sha256:<hex>" */
	char *out = xasprintf(S3SIGN_ALGORITHM "\n%s\n%s\n%s", s->amz_date, scope, hash + 7);
	free(scope);
	return out;
}

/* HMAC-SHA256 of msg under key. */
static void
s3sign_hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out,
	         &len) == NULL)
		abort();
}

void
s3sign_signature(const struct s3_sign *s, char out[65])
{
	char *canonical = s3sign_canonical_request(s);
	char *sts = s3sign_string_to_sign(s, canonical);
	char *secret = xasprintf("AWS4%s", s->secret_key);
	char date[9];
	snprintf(date, sizeof(date), "%.8s", s->amz_date);
	unsigned char k[32];
	s3sign_hmac(secret, strlen(secret), date, k);
	s3sign_hmac(k, sizeof(k), s->region, k);
	s3sign_hmac(k, sizeof(k), "s3", k);
	s3sign_hmac(k, sizeof(k), "aws4_request", k);
	unsigned char sig[32];
	s3sign_hmac(k, sizeof(k), sts, sig);
	digest_hex(sig, sizeof(sig), out);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
	free(canonical);
	free(sts);
}

char *
s3sign_authorization(const struct s3_sign *s)
{
	char sig[65];
	s3sign_signature(s, sig);
	struct s3sign_pair *h = s3sign_headers(s);
	char *names = s3sign_signed_headers(h, s->nheaders);
	char *scope = s3sign_scope(s);
	char *out = xasprintf(S3SIGN_ALGORITHM " Credential=%s/%s,SignedHeaders=%s,Signature=%s",
	                      s->access_key, scope, names, sig);
	free(scope);
	free(names);
	s3sign_pairs_free(h, s->nheaders);
	return out;
}

char *
s3sign_presign_query(const struct s3_sign *s, int64_t expires)
{
	const char *host = NULL;
	for (size_t i = 0; i < s->nheaders; i++)
		if (str_eq_nocase(s->headers[i].name, "host"))
			host = s->headers[i].value;
	char *scope = s3sign_scope(s);
	char *credential = xasprintf("%s/%s", s->access_key, scope);
	char seconds[24];
	snprintf(seconds, sizeof(seconds), "%lld", (long long)expires);
	struct s3_kv *q = xcalloc(s->nquery + 5, sizeof(*q));
	size_t n = 0;
	for (size_t i = 0; i < s->nquery; i++)
		q[n++] = s->query[i];
	q[n++] = (struct s3_kv){ "X-Amz-Algorithm", S3SIGN_ALGORITHM };
	q[n++] = (struct s3_kv){ "X-Amz-Credential", credential };
	q[n++] = (struct s3_kv){ "X-Amz-Date", s->amz_date };
	q[n++] = (struct s3_kv){ "X-Amz-Expires", seconds };
	q[n++] = (struct s3_kv){ "X-Amz-SignedHeaders", "host" };
	struct s3_kv hosth = { "host", host != NULL ? host : "" };
	struct s3_sign p = *s;
	p.query = q;
	p.nquery = n;
	p.headers = &hosth;
	p.nheaders = 1;
	p.payload_hash = S3_UNSIGNED_PAYLOAD;
	char sig[65];
	s3sign_signature(&p, sig);
	char *query = s3sign_query(q, n);
	char *out = xasprintf("%s&X-Amz-Signature=%s", query, sig);
	free(query);
	free(q);
	free(credential);
	free(scope);
	return out;
}

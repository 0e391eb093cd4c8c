/* Percent-decoding, query strings and form bodies. */
#include "url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* The value of one digit of a %XX escape, either case; -1 when it is not a hex digit. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
url_decode(const char *s, size_t len, bool form)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= len) {
				free(out);
				return NULL;
			}
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && form) {
			out[o++] = ' ';
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	return out;
}

char *
url_encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = xmalloc(len * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		             c == '~' || (keep_slash && c == '/');
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

int
query_each(const char *query, int (*fn)(const char *name, const char *value, void *arg), void *arg)
{
	if (query == NULL)
		return 0;
	const char *p = query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);
		if (plen > 0) {
			const char *eq = memchr(p, '=', plen);
			size_t nlen = eq ? (size_t)(eq - p) : plen;
			char *name = url_decode(p, nlen, true);
			char *value = eq ? url_decode(eq + 1, plen - nlen - 1, true) : xstrdup("");
			int rc = (name == NULL || value == NULL) ? -1 : fn(name, value, arg);
			free(name);
			free(value);
			if (rc < 0)
				return -1;
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return 0;
}

struct find {
	const char *name;
	char *value;
};

/* Keeps the first value of the parameter query_get looks for; later repeats are ignored. */
static int
find_cb(const char *name, const char *value, void *arg)
{
	struct find *f = arg;
	if (f->value == NULL && strcmp(name, f->name) == 0)
		f->value = xstrdup(value);
	return 0;
}

char *
query_get(const char *query, const char *name)
{
	struct find f = { name, NULL };
	if (query_each(query, find_cb, &f) < 0) {
		free(f.value);
		return NULL;
	}
	return f.value;
}

#define URL_FILTERED "[FILTERED]"

/* Whether one key (len bytes) of a parameter name names a secret. */
static bool
secret_key(const char *k, size_t len)
{
	static const char *const inside[] = { "password", "secret" };
	/* OAuth's authorization code; a presigned S3 URL's signature and credential */
	static const char *const whole[] = { "code", "x-amz-signature", "x-amz-credential" };
	static const char end[] = "token";
	size_t elen = sizeof(end) - 1;
	if (len >= elen && strncasecmp(k + len - elen, end, elen) == 0)
		return true;
	for (size_t i = 0; i < nitems(whole); i++)
		if (len == strlen(whole[i]) && strncasecmp(k, whole[i], len) == 0)
			return true;
	for (size_t i = 0; i < nitems(inside); i++) {
		size_t n = strlen(inside[i]);
		for (size_t at = 0; at + n <= len; at++)
			if (strncasecmp(k + at, inside[i], n) == 0)
				return true;
	}
	return false;
}

bool
query_name_secret(const char *name)
{
	/* every key of a Rails-style name: user[password], private_token[], a[b][c] */
	const char *p = name;
	while (*p) {
		size_t len = strcspn(p, "[]");
		if (len > 0 && secret_key(p, len))
			return true;
		p += len;
		if (*p)
			p++;
	}
	return false;
}

char *
url_redact(const char *target)
{
	const char *q = target ? strchr(target, '?') : NULL;
	if (q == NULL)
		return xstrdup(target ? target : "");
	/* at worst every "=" starts an empty value that becomes [FILTERED] */
	size_t values = 0;
	for (const char *c = q; *c; c++)
		values += *c == '=';
	char *out = xmalloc(strlen(target) + 1 + values * strlen(URL_FILTERED));
	size_t o = (size_t)(q - target) + 1;
	memcpy(out, target, o);
	const char *p = q + 1;
	for (;;) {
		size_t plen = strcspn(p, "&");
		const char *eq = memchr(p, '=', plen);
		if (eq == NULL) {
			memcpy(out + o, p, plen); /* a name without a value shows nothing */
			o += plen;
		} else {
			size_t nlen = (size_t)(eq - p);
			char *name = url_decode(p, nlen, true);
			bool secret = name == NULL || query_name_secret(name);
			free(name);
			memcpy(out + o, p, nlen + 1);
			o += nlen + 1;
			const char *value = secret ? URL_FILTERED : eq + 1;
			size_t vlen = secret ? strlen(URL_FILTERED) : plen - nlen - 1;
			memcpy(out + o, value, vlen);
			o += vlen;
		}
		p += plen;
		if (*p == '\0')
			break;
		out[o++] = *p++;
	}
	out[o] = '\0';
	return out;
}

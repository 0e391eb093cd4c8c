/*
 * The XML of S3's answers: flat documents (an <Error> with its <Code> and <Message>, an upload's
 * <UploadId>, a list of <Upload> elements) read by element name. Not a general XML parser: S3
 * never nests an element in one of the same name, and its text holds only the five predefined
 * entities and character references, which are decoded. Pure.
 */
#include "s3.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *s3xml_open(const char *p, const char *end, const char *name, bool *empty,
                              const char **inner);
static char *s3xml_decode(const char *s, size_t len);
static void s3xml_utf8(char *out, size_t *o, unsigned long cp);

/* The next <name> or <name attr...> (or <name/>) at or after p: its start, and where its inside
 * starts; NULL when there is none. */
static const char *
s3xml_open(const char *p, const char *end, const char *name, bool *empty, const char **inner)
{
	size_t n = strlen(name);
	for (; p + n + 2 <= end; p++) {
		p = memchr(p, '<', (size_t)(end - p));
		if (p == NULL || p + n + 2 > end)
			return NULL;
		if (memcmp(p + 1, name, n) != 0)
			continue;
		char c = p[n + 1];
		if (c != '>' && c != ' ' && c != '/' && c != '\t' && c != '\r' && c != '\n')
			continue;
		const char *gt = memchr(p + n + 1, '>', (size_t)(end - (p + n + 1)));
		if (gt == NULL)
			return NULL;
		*empty = gt[-1] == '/';
		*inner = gt + 1;
		return p;
	}
	return NULL;
}

/* Appends code point cp as UTF-8. */
static void
s3xml_utf8(char *out, size_t *o, unsigned long cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* Text with its entities decoded; NULL for an unknown or broken one, or a NUL. */
static char *
s3xml_decode(const char *s, size_t len)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {
		{ "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' }
	};
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0')
			goto bad;
		if (s[i] != '&') {
			out[o++] = s[i];
			continue;
		}
		const char *semi = memchr(s + i, ';', len - i);
		if (semi == NULL)
			goto bad;
		size_t elen = (size_t)(semi - (s + i)) + 1; /* "&...;" */
		bool done = false;
		for (size_t k = 0; k < nitems(named) && !done; k++)
			if (elen - 1 == strlen(named[k].name) &&
			    memcmp(s + i + 1, named[k].name, elen - 1) == 0) {
				out[o++] = named[k].c;
				done = true;
			}
		if (!done && elen > 3 && s[i + 1] == '#') {
			bool hex = s[i + 2] == 'x';
			unsigned long cp = 0;
			size_t k = i + (hex ? 3 : 2);
			if (k == i + elen - 1)
				goto bad;
			for (; k < i + elen - 1; k++) {
				int d;
				char c = s[k];
				if (c >= '0' && c <= '9')
					d = c - '0';
				else if (hex && c >= 'a' && c <= 'f')
					d = c - 'a' + 10;
				else if (hex && c >= 'A' && c <= 'F')
					d = c - 'A' + 10;
				else
					goto bad;
				cp = cp * (hex ? 16 : 10) + (unsigned long)d;
				if (cp > 0x10ffff)
					goto bad;
			}
			if (cp == 0)
				goto bad;
			s3xml_utf8(out, &o, cp); /* at most 4 bytes for "&#1;"'s 4 */
			done = true;
		}
		if (!done)
			goto bad;
		i += elen - 1;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

int
s3xml_each(const char *xml, size_t len, const char *name,
           int (*fn)(const char *inner, size_t len, void *arg), void *arg)
{
	const char *end = xml + len, *p = xml, *inner;
	bool empty;
	char *close = xasprintf("</%s>", name);
	size_t clen = strlen(close);
	int rc = 0;
	while ((p = s3xml_open(p, end, name, &empty, &inner)) != NULL) {
		if (empty) {
			if (fn("", 0, arg) < 0) {
				rc = -1;
				break;
			}
			p = inner;
			continue;
		}
		const char *q = inner;
		while (q != NULL && (size_t)(end - q) >= clen && memcmp(q, close, clen) != 0)
			q = memchr(q + 1, '<', (size_t)(end - q - 1));
		if (q == NULL || (size_t)(end - q) < clen ||
		    fn(inner, (size_t)(q - inner), arg) < 0) {
			rc = -1;
			break;
		}
		p = q + clen;
	}
	free(close);
	return rc;
}

/* s3xml_each's callback of s3xml_text: keeps the first element's inside. */
static int
s3xml_first(const char *inner, size_t len, void *arg)
{
	char **out = arg;
	*out = s3xml_decode(inner, len);
	return -1; /* the first one is enough */
}

char *
s3xml_text(const char *xml, size_t len, const char *name)
{
	char *out = NULL;
	s3xml_each(xml, len, name, s3xml_first, &out);
	return out;
}

char *
s3xml_root(const char *xml, size_t len)
{
	const char *p = xml, *end = xml + len;
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
			continue;
		}
		if (*p != '<' || p + 1 >= end)
			return NULL;
		if (p[1] == '?' || p[1] == '!') { /* the declaration, a comment */
			const char *gt = memchr(p, '>', (size_t)(end - p));
			if (gt == NULL)
				return NULL;
			p = gt + 1;
			continue;
		}
		const char *n = p + 1, *e = n;
		while (e < end && *e != '>' && *e != '/' && *e != ' ' && *e != '\t' && *e != '\r' &&
		       *e != '\n')
			e++;
		return e > n && e < end ? xstrndup(n, (size_t)(e - n)) : NULL;
	}
	return NULL;
}

char *
s3xml_escape(const char *text)
{
	char *out = xmalloc(strlen(text) * 6 + 1);
	size_t o = 0;
	for (const char *c = text; *c; c++) {
		const char *rep = NULL;
		switch (*c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		default:
			out[o++] = *c;
			continue;
		}
		memcpy(out + o, rep, strlen(rep));
		o += strlen(rep);
	}
	out[o] = '\0';
	return out;
}

char *
s3xml_complete_body(const int *numbers, const char *const *etags, size_t n)
{
	size_t cap = 64, len = 0;
	char *xml = xmalloc(cap);
	len = (size_t)snprintf(xml, cap, "<CompleteMultipartUpload>");
	for (size_t i = 0; i < n; i++) {
		char *etag = s3xml_escape(etags[i]);
		char *part = xasprintf("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
		                       numbers != NULL ? numbers[i] : (int)(i + 1), etag);
		size_t plen = strlen(part);
		if (len + plen + 32 > cap) {
			cap = (len + plen + 32) * 2;
			xml = xrealloc(xml, cap);
		}
		memcpy(xml + len, part, plen + 1);
		len += plen;
		free(part);
		free(etag);
	}
	snprintf(xml + len, cap - len, "</CompleteMultipartUpload>");
	return xml;
}

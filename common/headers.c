/* HTTP header lists. */
#include "headers.h"

#include <ctype.h>
#include <stdio.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* Starts an empty header list, owning nothing yet. */
void
headers_init(struct http_headers *h)
{
	memset(h, 0, sizeof(*h));
}

/* Frees every name and value of the list and leaves it empty, ready for reuse. */
void
headers_clear(struct http_headers *h)
{
	for (size_t i = 0; i < h->hd_count; i++) {
		free(h->hd_list[i].name);
		free(h->hd_list[i].value);
	}
	free(h->hd_list);
	memset(h, 0, sizeof(*h));
}

const char *
headers_get(const struct http_headers *h, const char *name)
{
	for (size_t i = 0; i < h->hd_count; i++)
		if (strcasecmp(h->hd_list[i].name, name) == 0)
			return h->hd_list[i].value;
	return NULL;
}

void
headers_addn(struct http_headers *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (h->hd_count == h->hd_cap) {
		h->hd_cap = h->hd_cap ? h->hd_cap * 2 : 16;
		h->hd_list = xrealloc(h->hd_list, h->hd_cap * sizeof(*h->hd_list));
	}
	/* Optional whitespace around a field value is not part of it (RFC 9110 5.5). */
	while (vlen > 0 && (value[0] == ' ' || value[0] == '\t')) {
		value++;
		vlen--;
	}
	while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
		vlen--;
	h->hd_list[h->hd_count].name = xstrndup(name, nlen);
	h->hd_list[h->hd_count].value = xstrndup(value, vlen);
	h->hd_count++;
}

void
headers_add(struct http_headers *h, const char *name, const char *value)
{
	headers_addn(h, name, strlen(name), value, strlen(value));
}

void
headers_del(struct http_headers *h, const char *name)
{
	size_t j = 0;
	for (size_t i = 0; i < h->hd_count; i++) {
		if (strcasecmp(h->hd_list[i].name, name) == 0) {
			free(h->hd_list[i].name);
			free(h->hd_list[i].value);
			continue;
		}
		h->hd_list[j++] = h->hd_list[i];
	}
	h->hd_count = j;
}

void
headers_set(struct http_headers *h, const char *name, const char *value)
{
	headers_del(h, name);
	headers_add(h, name, value);
}

void
headers_set_int(struct http_headers *h, const char *name, long long value)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%lld", value);
	headers_set(h, name, buf);
}

void
headers_copy(struct http_headers *dst, const struct http_headers *src)
{
	for (size_t i = 0; i < src->hd_count; i++)
		headers_add(dst, src->hd_list[i].name, src->hd_list[i].value);
}

void
headers_write(const struct http_headers *h, struct evbuffer *out)
{
	for (size_t i = 0; i < h->hd_count; i++) {
		evbuffer_add(out, h->hd_list[i].name, strlen(h->hd_list[i].name));
		evbuffer_add(out, ": ", 2);
		evbuffer_add(out, h->hd_list[i].value, strlen(h->hd_list[i].value));
		evbuffer_add(out, "\r\n", 2);
	}
}

bool
headers_has_token(const struct http_headers *h, const char *name, const char *token)
{
	size_t tlen = strlen(token);
	for (size_t i = 0; i < h->hd_count; i++) {
		if (strcasecmp(h->hd_list[i].name, name) != 0)
			continue;
		const char *p = h->hd_list[i].value;
		while (*p) {
			while (*p == ' ' || *p == '\t' || *p == ',')
				p++;
			const char *start = p;
			while (*p && *p != ',')
				p++;
			const char *end = p;
			while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
				return true;
		}
	}
	return false;
}

bool
headers_is_hop_by_hop(const char *name)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection",    "Transfer-Encoding", "TE",
		"Trailer",    "Upgrade",    "Proxy-Authorization", "Proxy-Authenticate"
	};
	for (size_t i = 0; i < nitems(hop); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return false;
}

/* Appends one piece of a name or value the parser split, keeping it NUL-terminated. */
static void
parts_append(char **buf, size_t *blen, const char *at, size_t len)
{
	*buf = xrealloc(*buf, *blen + len + 1);
	memcpy(*buf + *blen, at, len);
	*blen += len;
	(*buf)[*blen] = '\0';
}

/* Gathers a piece of a field's name. */
void
header_parts_name(struct header_parts *p, const char *at, size_t len)
{
	parts_append(&p->name, &p->name_len, at, len);
}

/* Gathers a piece of a field's value; the field is complete once the next name starts. */
void
header_parts_value(struct header_parts *p, const char *at, size_t len)
{
	p->value_seen = true;
	parts_append(&p->value, &p->value_len, at, len);
}

void
header_parts_commit(struct header_parts *p, struct http_headers *h)
{
	if (p->name != NULL)
		headers_addn(h, p->name, p->name_len, p->value ? p->value : "", p->value_len);
	header_parts_clear(p);
}

void
header_parts_clear(struct header_parts *p)
{
	free(p->name);
	free(p->value);
	memset(p, 0, sizeof(*p));
}

/* An ordered list of HTTP header fields with case-insensitive lookup, shared by server and client.
 */
#ifndef REGISTRY_HEADERS_H
#define REGISTRY_HEADERS_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

struct http_header {
	char *name;
	char *value;
};

struct http_headers {
	struct http_header *hd_list;
	size_t hd_count;
	size_t hd_cap;
};

void headers_init(struct http_headers *h);
void headers_clear(struct http_headers *h);
/* First value of name (case-insensitive), or NULL. */
const char *headers_get(const struct http_headers *h, const char *name);
void headers_add(struct http_headers *h, const char *name, const char *value);
void headers_addn(struct http_headers *h, const char *name, size_t nlen, const char *value,
                  size_t vlen);
/* Replaces every field called name by one with value. */
void headers_set(struct http_headers *h, const char *name, const char *value);
/* The same with a decimal number (X-Total, Retry-After, ...). */
void headers_set_int(struct http_headers *h, const char *name, long long value);
void headers_del(struct http_headers *h, const char *name);
void headers_copy(struct http_headers *dst, const struct http_headers *src);
/* Appends "Name: value\r\n" lines to out. */
void headers_write(const struct http_headers *h, struct evbuffer *out);
/* Whether a comma-separated header (Connection, Expect) holds token, case-insensitively. */
bool headers_has_token(const struct http_headers *h, const char *name, const char *token);
/* Hop-by-hop fields a proxy must not forward (RFC 9110 7.6.1). */
bool headers_is_hop_by_hop(const char *name);

/* One header field as http-parser delivers it: name and value may each come in several pieces,
 * and a field is complete when the next name starts or the head ends. */
struct header_parts {
	char *name, *value;
	size_t name_len, value_len;
	bool value_seen;
};
/* Whether a complete field waits to be committed (a new name piece follows its value). */
static inline bool
header_parts_done(const struct header_parts *p)
{
	return p->value_seen;
}
void header_parts_name(struct header_parts *p, const char *at, size_t len);
void header_parts_value(struct header_parts *p, const char *at, size_t len);
/* Adds the field gathered so far (if any) to h and starts afresh. */
void header_parts_commit(struct header_parts *p, struct http_headers *h);
void header_parts_clear(struct header_parts *p);

#endif

/* Percent-decoding, query strings and form bodies. */
#ifndef REGISTRY_URL_H
#define REGISTRY_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Decodes %XX (and '+' as space when form is true); NULL for a bad escape or a NUL byte. */
char *url_decode(const char *s, size_t len, bool form);
/* Encodes everything but unreserved characters (RFC 3986); keep_slash leaves '/' alone. */
char *url_encode(const char *s, bool keep_slash);
/* The decoded value of the first name=value in a query or form string, or NULL. */
char *query_get(const char *query, const char *name);
/* Calls fn for every name=value pair (decoded); stops and returns -1 if fn does or on a bad
 * escape. */
int query_each(const char *query, int (*fn)(const char *name, const char *value, void *arg),
               void *arg);

/* Whether a parameter name (decoded) names a secret, as GitLab's filter_parameters do, in any
 * case: a key ending in "token" or holding "password" or "secret", or one of "code" (OAuth),
 * "X-Amz-Signature" and "X-Amz-Credential" (presigned S3 URLs) ("a[b]" has keys a and b). The
 * one rule of which values no log line, text or JSON, may show. */
bool query_name_secret(const char *name);
/* The request target with the value of every secret parameter of its query replaced by
 * [FILTERED] (names kept as sent; a name that does not decode is taken for a secret). What
 * every log line that shows a target or a query prints (caller frees). */
char *url_redact(const char *target);

#endif

/*
 * What metad's /v2 handlers (manifests, tags, referrers, catalog: rows of routes.def, served
 * with the REST layer's request) share: query parameters as Distribution reads them, pagination
 * and digest lists.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "headers.h"
#include "http.h"
#include "log.h"
#include "metad.h"
#include "names.h"
#include "url.h"
#include "util.h"

char *
v2params_query(const char *query, const char *name)
{
	if (query == NULL)
		return NULL;
	size_t nlen = strlen(name);
	const char *p = query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=')
			return url_decode(p + nlen + 1, len - nlen - 1, false);
		if (len == nlen && strncmp(p, name, nlen) == 0)
			return xstrdup("");
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return NULL;
}

int
v2params_page(struct http_txn *txn, long long dflt, long long max, long long *n, char **last)
{
	const char *query = http_txn_request(txn)->query;
	char *nv = v2params_query(query, "n");
	int64_t v = dflt;
	/* As Distribution reads n: empty is absent, past int64 is no number, past max is max. */
	if (nv != NULL && *nv != '\0' && str_to_count(nv, strlen(nv), INT64_MAX, &v) != COUNT_OK) {
		free(nv);
		v2reply_error(txn, 400, OCI_PAGINATION_NUMBER_INVALID, NULL,
		              "n must be a whole number from 0 to 9223372036854775807");
		return -1;
	}
	free(nv);
	*n = v > max ? max : v;
	*last = v2params_query(query, "last");
	if (*last != NULL && **last == '\0') {
		free(*last);
		*last = NULL;
	}
	return 0;
}

char *
v2params_digest_array(const char *const *digests, size_t n)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, "{", 1);
	for (size_t i = 0; i < n; i++)
		evbuffer_add_printf(b, "%s%s", i ? "," : "", digests[i]);
	evbuffer_add(b, "}", 1);
	size_t len = evbuffer_get_length(b);
	char *s = xmalloc(len + 1);
	evbuffer_remove(b, s, len);
	s[len] = '\0';
	evbuffer_free(b);
	return s;
}

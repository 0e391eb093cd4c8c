/*
 * /v2 requests the gateway forwards to metad (manifests, tags, referrers, catalog): the path is
 * parsed again here (names hold slashes, which route patterns cannot), the caller's identity
 * read from the X-Registry-* headers, and the request handed to its module.
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
#include "metrics.h"
#include "names.h"
#include "registry.h"
#include "url.h"
#include "util.h"
#include "v2path.h"

void
v2_call_free(struct v2_call *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->ref);
	free(c);
}

void
v2_db_error(struct http_txn *txn, const char *what, const char *why)
{
	log_error("%s: %s", what, why ? why : "database unreachable");
	struct http_headers h;
	v2_headers_init(&h);
	headers_add(&h, "Retry-After", "5");
	error_oci(txn, 503, OCI_UNAVAILABLE, "metadata database unavailable", &h);
	headers_clear(&h);
}

char *
v2_query_raw(const char *query, const char *name)
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
v2_page_parse(struct http_txn *txn, long long dflt, long long max, long long *n, char **last)
{
	const char *query = http_txn_request(txn)->query;
	char *nv = v2_query_raw(query, "n");
	int64_t v = dflt;
	/* As Distribution reads n: empty is absent, past int64 is no number, past max is max. */
	if (nv != NULL && *nv != '\0' && str_to_count(nv, strlen(nv), INT64_MAX, &v) != COUNT_OK) {
		free(nv);
		v2_error(txn, 400, OCI_PAGINATION_NUMBER_INVALID, NULL,
		         "n must be a whole number from 0 to 9223372036854775807");
		return -1;
	}
	free(nv);
	*n = v > max ? max : v;
	*last = v2_query_raw(query, "last");
	if (*last != NULL && **last == '\0') {
		free(*last);
		*last = NULL;
	}
	return 0;
}

char *
v2_digest_array(const char *const *digests, size_t n)
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

/* Routes a /v2 request to its module after parsing the path again and checking the action. */
static void
v2_dispatch(struct http_txn *txn, const struct route_match *m)
{
	struct http_request *req = http_txn_request(txn);
	struct v2_path vp;
	if (v2_parse(req->path, &vp) < 0 || vp.kind == V2_BASE || vp.kind == V2_BLOB ||
	    vp.kind == V2_UPLOAD) {
		v2_path_clear(&vp); /* v2_parse zeroes it first, so this is safe after a failure */
		v2_error(txn, 404, OCI_NAME_UNKNOWN, "unknown endpoint", NULL);
		return;
	}
	static const char *const labels[] = {
		[V2_CATALOG] = "v2_catalog", [V2_MANIFEST] = "v2_manifest",
		[V2_TAGS] = "v2_tags",       [V2_REFERRERS] = "v2_referrers",
	};
	http_txn_set_route(txn, metrics_route_id(labels[vp.kind]));
	bool read = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	bool method_ok = vp.kind == V2_MANIFEST
	                     ? read || strcmp(req->method, "PUT") == 0 ||
	                           strcmp(req->method, "DELETE") == 0
	                     : read;
	if (!method_ok) {
		v2_path_clear(&vp);
		v2_error(txn, 405, OCI_UNSUPPORTED, NULL, NULL);
		return;
	}
	if (vp.name != NULL && !name_valid_repository(vp.name)) {
		v2_path_clear(&vp);
		v2_error(txn, 400, OCI_NAME_INVALID, NULL, NULL);
		return;
	}
	struct actor actor;
	actor_from_headers(&actor, &req->headers);
	unsigned needed = v2_needed_actions(vp.kind, req->method);
	if ((actor.actions & needed) != needed) {
		v2_path_clear(&vp);
		v2_error(txn, 403, OCI_DENIED, NULL, NULL);
		return;
	}
	if (vp.kind == V2_MANIFEST && strcmp(req->method, "PUT") == 0) {
		v2_path_clear(&vp);
		v2_manifest_put(txn); /* reads the body first; parses the path again afterwards */
		return;
	}
	struct v2_call *c = xcalloc(1, sizeof(*c));
	c->txn = txn;
	c->actor = actor;
	c->name = vp.name;
	c->ref = vp.ref;
	switch (vp.kind) {
	case V2_CATALOG:
		v2_catalog(c);
		break;
	case V2_MANIFEST:
		if (strcmp(req->method, "DELETE") == 0)
			v2_manifest_delete(c);
		else
			v2_manifest_get(c);
		break;
	case V2_TAGS:
		v2_tags_list(c);
		break;
	case V2_REFERRERS:
		v2_referrers(c);
		break;
	default:
		fatal("unreachable /v2 kind %d", (int)vp.kind);
	}
	(void)m;
}

const struct route v2_routes[] = {
	{ "*", "/v2/*path", v2_dispatch, "v2" },
};
const size_t v2_nroutes = nitems(v2_routes);

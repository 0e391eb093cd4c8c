/* GitLab REST conventions: offset pagination headers and the external URL. */
#include "gitlab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "headers.h"
#include "http.h"
#include "url.h"
#include "util.h"
#include "wire.h"

static int
parse_param(struct http_txn *txn, const char *name, int64_t dflt, int64_t min, int64_t max,
            int64_t *out, bool clamp)
{
	char *v = query_get(http_txn_request(txn)->query, name);
	if (v == NULL || *v == '\0') {
		free(v);
		*out = dflt;
		return 0;
	}
	int64_t n;
	int rc = str_to_i64(v, INT64_MIN, INT64_MAX, &n);
	free(v);
	if (rc < 0 || (!clamp && (n < min || n > max))) {
		char *msg = xasprintf("%s is invalid", name);
		error_gitlab_param(txn, msg);
		free(msg);
		return -1;
	}
	if (n < min)
		n = clamp ? dflt : min;
	if (n > max)
		n = max;
	*out = n;
	return 0;
}

int
gl_page_parse(struct http_txn *txn, struct gl_page *p)
{
	/* GitLab falls back to the default for per_page < 1 and caps it at 100. */
	if (parse_param(txn, "page", 1, 1, INT32_MAX, &p->page, false) < 0)
		return -1;
	return parse_param(txn, "per_page", 20, 1, 100, &p->per_page, true);
}

int64_t
gl_page_offset(const struct gl_page *p)
{
	return (p->page - 1) * p->per_page;
}

const char *
gl_external_url(struct http_txn *txn)
{
	const char *u = headers_get(&http_txn_request(txn)->headers, WIRE_EXTERNAL_URL);
	return u ? u : "http://localhost";
}

char *
gl_registry_host(struct http_txn *txn)
{
	const char *u = gl_external_url(txn);
	const char *p = strstr(u, "://");
	return xstrdup(p ? p + 3 : u);
}

struct rebuild {
	char *out;
	size_t len;
};

static int
keep_param(const char *name, const char *value, void *arg)
{
	struct rebuild *r = arg;
	if (strcmp(name, "page") == 0 || strcmp(name, "per_page") == 0)
		return 0;
	char *n = url_encode(name, false), *v = url_encode(value, false);
	char *joined = xasprintf("%s%s%s=%s", r->out ? r->out : "", r->out ? "&" : "", n, v);
	free(r->out);
	r->out = joined;
	free(n);
	free(v);
	return 0;
}

char *
gl_page_url(struct http_txn *txn, int64_t page, int64_t per_page)
{
	struct http_request *req = http_txn_request(txn);
	struct rebuild r = { NULL, 0 };
	query_each(req->query, keep_param, &r);
	char *url = xasprintf("%s%s?%s%spage=%lld&per_page=%lld", gl_external_url(txn), req->path,
	                      r.out ? r.out : "", r.out ? "&" : "", (long long)page,
	                      (long long)per_page);
	free(r.out);
	return url;
}

void
gl_page_headers(struct http_txn *txn, const struct gl_page *p, int64_t total,
                struct http_headers *out)
{
	int64_t pages = total == 0 ? 1 : (total + p->per_page - 1) / p->per_page;
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)total);
	headers_set(out, "X-Total", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)pages);
	headers_set(out, "X-Total-Pages", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)p->page);
	headers_set(out, "X-Page", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)p->per_page);
	headers_set(out, "X-Per-Page", buf);
	if (p->page < pages)
		snprintf(buf, sizeof(buf), "%lld", (long long)(p->page + 1));
	else
		buf[0] = '\0';
	headers_set(out, "X-Next-Page", buf);
	if (p->page > 1)
		snprintf(buf, sizeof(buf), "%lld", (long long)(p->page - 1));
	else
		buf[0] = '\0';
	headers_set(out, "X-Prev-Page", buf);

	char *link = xstrdup("");
	struct {
		const char *rel;
		int64_t page;
		bool show;
	} rels[] = {
		{ "prev", p->page - 1, p->page > 1 },
		{ "next", p->page + 1, p->page < pages },
		{ "first", 1, true },
		{ "last", pages, true },
	};
	for (size_t i = 0; i < nitems(rels); i++) {
		if (!rels[i].show)
			continue;
		char *u = gl_page_url(txn, rels[i].page, p->per_page);
		char *next = xasprintf("%s%s<%s>; rel=\"%s\"", link, *link ? ", " : "", u, rels[i].rel);
		free(u);
		free(link);
		link = next;
	}
	headers_set(out, "Link", link);
	free(link);
}

/* Route matching on raw path segments. */
#include "router.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "url.h"
#include "util.h"

static void
match_clear(struct route_match *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->values[i]);
	m->n = 0;
}

/* Whether path matches pattern; fills m with the placeholders. */
static bool
match(const char *pattern, const char *path, struct route_match *m)
{
	const char *p = pattern, *s = path;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			return false;
		p++;
		s++;
		const char *pend = strchr(p, '/');
		size_t plen = pend ? (size_t)(pend - p) : strlen(p);
		if (*p == '*') {
			if (m->n == ROUTE_MAX_PARAMS)
				return false;
			m->names[m->n] = p + 1;
			m->values[m->n++] = xstrdup(s);
			return true;
		}
		const char *send = strchr(s, '/');
		size_t slen = send ? (size_t)(send - s) : strlen(s);
		if (*p == ':') {
			if (slen == 0 || m->n == ROUTE_MAX_PARAMS)
				return false;
			char *v = url_decode(s, slen, false);
			if (v == NULL)
				return false;
			m->names[m->n] = p + 1;
			m->values[m->n++] = v;
		} else if (plen != slen || strncmp(p, s, plen) != 0) {
			return false;
		}
		p += plen;
		s += slen;
	}
	return *p == '\0' && *s == '\0';
}

const char *
route_param(const struct route_match *m, const char *name)
{
	for (int i = 0; i < m->n; i++) {
		const char *n = m->names[i];
		size_t len = strcspn(n, "/");
		if (strlen(name) == len && strncmp(n, name, len) == 0)
			return m->values[i];
	}
	return NULL;
}

int
router_dispatch(const struct route *table, size_t n, struct http_txn *txn)
{
	struct http_request *req = http_txn_request(txn);
	bool path_matched = false;
	for (size_t i = 0; i < n; i++) {
		struct route_match m = { 0 };
		if (!match(table[i].pattern, req->path, &m)) {
			match_clear(&m);
			continue;
		}
		path_matched = true;
		bool method_ok = strcmp(table[i].method, "*") == 0 ||
		                 strcmp(table[i].method, req->method) == 0 ||
		                 (strcmp(table[i].method, "GET") == 0 && strcmp(req->method, "HEAD") == 0);
		if (!method_ok) {
			match_clear(&m);
			continue;
		}
		http_txn_set_route(txn, metrics_route_id(table[i].metric));
		table[i].handler(txn, &m);
		match_clear(&m);
		return 0;
	}
	return path_matched ? 405 : 404;
}

int
router_dispatch_tables(const struct route_table *tables, size_t ntables, struct http_txn *txn)
{
	int result = 404;
	for (size_t i = 0; i < ntables; i++) {
		int rc = router_dispatch(tables[i].rows, *tables[i].n, txn);
		if (rc == 0)
			return 0;
		if (rc == 405)
			result = 405;
	}
	return result;
}

/* Route matching on raw path segments. */
#include "router.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "util.h"

/* Frees the placeholder values a match decoded, so the match can be reused. */
void
route_match_clear(struct route_match *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->values[i]);
	m->n = 0;
}

/* Whether path has pattern's shape: its literal segments, and a non-empty segment for each
 * placeholder. With m, the placeholders are also decoded into it (false when one does not
 * decode); without, nothing is allocated, so most rows are turned down for free. */
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
			if (m == NULL)
				return true;
			if (m->n == ROUTE_MAX_PARAMS)
				return false;
			m->names[m->n] = p + 1;
			m->values[m->n++] = xstrdup(s);
			return true;
		}
		const char *send = strchr(s, '/');
		size_t slen = send ? (size_t)(send - s) : strlen(s);
		if (*p == ':') {
			if (slen == 0)
				return false;
			if (m != NULL) {
				char *v =
				        m->n < ROUTE_MAX_PARAMS ? url_decode(s, slen, false) : NULL;
				if (v == NULL)
					return false;
				m->names[m->n] = p + 1;
				m->values[m->n++] = v;
			}
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

const struct route *
router_match(const struct route *rows, size_t n, const char *method, const char *path,
             struct route_match *m, int *status)
{
	bool path_matched = false;
	m->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (!match(rows[i].pattern, path, NULL))
			continue;
		if (!match(rows[i].pattern, path, m)) {
			route_match_clear(m);
			continue;
		}
		path_matched = true;
		if (strcmp(rows[i].method, "*") == 0 || strcmp(rows[i].method, method) == 0 ||
		    (strcmp(rows[i].method, "GET") == 0 && strcmp(method, "HEAD") == 0))
			return &rows[i];
		route_match_clear(m);
	}
	*status = path_matched ? 405 : 404;
	return NULL;
}

/* Matches a request against each table in turn; 405 wins over 404 when any path matched. */
const struct route *
router_match_tables(const struct route_table *tables, size_t ntables, const char *method,
                    const char *path, struct route_match *m, int *status)
{
	int result = 404;
	for (size_t i = 0; i < ntables; i++) {
		const struct route *row =
		        router_match(tables[i].rows, *tables[i].n, method, path, m, status);
		if (row != NULL)
			return row;
		if (*status == 405)
			result = 405;
	}
	*status = result;
	return NULL;
}

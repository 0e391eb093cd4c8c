/* GET /v2/<name>/tags/list: the repository's tags in lexical order, paginated with n and last
 * and a Link header to the next page. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "metad.h"
#include "pg.h"
#include "registry.h"
#include "url.h"
#include "util.h"

/* Without n every tag is listed, as Distribution does; with n at most this many per page. */
#define TAGS_MAX_PAGE 10000

/* The repository's id (NULL when it does not exist) joined with one page of tag names. The
 * id is materialised: inlined, the resolving function would run once per tag listed. */
PG_STMT(q_tags,
        "WITH r AS MATERIALIZED (SELECT registry_repository_id($1) AS id)"
        " SELECT r.id, t.name FROM r"
        " LEFT JOIN LATERAL (SELECT name FROM tags WHERE repository_id = r.id"
        "   AND ($2::text IS NULL OR name > $2::text COLLATE \"C\")"
        "   ORDER BY name COLLATE \"C\" LIMIT $3::bigint) t ON true");

struct tags_call {
	struct v2_call *c;
	long long n; /* -1: all */
};

/* Answers one page of tags with a Link to the next, or NAME_UNKNOWN. */
static void
tags_done(PGresult *res, void *arg)
{
	struct tags_call *t = arg;
	struct v2_call *c = t->c;
	if (!pg_ok(res)) {
		v2_db_error(c->txn, "tags list", res ? pg_error(res) : NULL);
		goto out;
	}
	if (pg_rows(res) == 0 || pg_get(res, 0, "id") == NULL) {
		v2_error(c->txn, 404, OCI_NAME_UNKNOWN, NULL, c->name);
		goto out;
	}
	json_object *tags = json_object_new_array();
	int rows = pg_rows(res), shown = 0;
	for (int i = 0; i < rows; i++) {
		const char *name = pg_get(res, i, "name");
		if (name == NULL || (t->n >= 0 && shown == t->n))
			continue;
		json_object_array_add(tags, json_object_new_string(name));
		shown++;
	}
	struct http_headers h;
	v2_headers_init(&h);
	if (t->n >= 0 && rows > t->n && shown > 0) {
		const char *last = json_object_get_string(json_object_array_get_idx(tags, (size_t)shown - 1));
		char *enc = url_encode(last, false);
		char *link = xasprintf("</v2/%s/tags/list?n=%lld&last=%s>; rel=\"next\"", c->name, t->n, enc);
		headers_add(&h, "Link", link);
		free(link);
		free(enc);
	}
	json_object *root = json_object_new_object();
	json_object_object_add(root, "name", json_object_new_string(c->name));
	json_object_object_add(root, "tags", tags);
	js_respond(c->txn, 200, &h, root);
	headers_clear(&h);
out:
	v2_call_free(c);
	free(t);
}

void
v2_tags_list(struct v2_call *c)
{
	long long n;
	char *last;
	if (v2_page_parse(c->txn, -1, TAGS_MAX_PAGE, &n, &last) < 0) {
		v2_call_free(c);
		return;
	}
	struct tags_call *t = xcalloc(1, sizeof(*t));
	t->c = c;
	t->n = n;
	char limit[32];
	snprintf(limit, sizeof(limit), "%lld", n + 1);
	const char *params[] = { c->name, last, n >= 0 ? limit : NULL };
	pg_exec(md.db, &q_tags, 3, params, tags_done, t);
	free(last);
}

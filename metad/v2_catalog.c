/* GET /v2/_catalog: the repositories the caller may pull, in lexical order, paginated with n and
 * last. An admin sees the whole instance; a user what GitLab's rules let them pull
 * (registry_user_can_pull); a deploy token the projects it covers. */
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

#define CATALOG_DEFAULT_PAGE 100
#define CATALOG_MAX_PAGE 1000

/* One page (n + 1 rows tell whether a next page exists); registry_catalog() walks the path
 * index or the caller's projects, so a page costs about its own size (migration 024). */
PG_STMT(q_catalog, "SELECT path FROM registry_catalog($1, $2, $3, $4, $5)");

struct catalog_call {
	struct v2_call *c;
	long long n;
};

/* Answers one page of the catalog with a Link to the next. */
static void
catalog_done(PGresult *res, void *arg)
{
	struct catalog_call *k = arg;
	struct v2_call *c = k->c;
	if (!pg_ok(res)) {
		v2_db_error(c->txn, "catalog", res ? pg_error(res) : NULL);
		goto out;
	}
	json_object *repos = json_object_new_array();
	int rows = pg_rows(res), shown = 0;
	const char *last = NULL;
	for (int i = 0; i < rows && shown < k->n; i++, shown++) {
		last = pg_get(res, i, "path");
		json_object_array_add(repos, json_object_new_string(last));
	}
	struct http_headers h;
	v2_headers_init(&h);
	if (rows > k->n && last != NULL) {
		char *enc = url_encode(last, false);
		char *link = xasprintf("</v2/_catalog?n=%lld&last=%s>; rel=\"next\"", k->n, enc);
		headers_add(&h, "Link", link);
		free(link);
		free(enc);
	}
	json_object *root = json_object_new_object();
	json_object_object_add(root, "repositories", repos);
	js_respond(c->txn, 200, &h, root);
	headers_clear(&h);
out:
	v2_call_free(c);
	free(k);
}

void
v2_catalog(struct http_txn *txn, const struct route_match *m)
{
	struct v2_call *c = v2_call_new(txn, m);
	long long n;
	char *last;
	if (v2_page_parse(c->txn, CATALOG_DEFAULT_PAGE, CATALOG_MAX_PAGE, &n, &last) < 0) {
		v2_call_free(c);
		return;
	}
	struct catalog_call *k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->n = n;
	char uid[32], dtid[32], limit[32];
	snprintf(uid, sizeof(uid), "%lld", (long long)c->actor.user_id);
	snprintf(dtid, sizeof(dtid), "%lld", (long long)c->actor.deploy_token_id);
	snprintf(limit, sizeof(limit), "%lld", n + 1);
	const char *params[] = { last, uid, c->actor.admin ? "true" : "false", dtid, limit };
	pg_exec(md.db, &q_catalog, 5, params, catalog_done, k);
	free(last);
}

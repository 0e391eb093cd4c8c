/* GET /v2/_catalog: the repositories the caller may pull, in lexical order, paginated with n and
 * last. An admin sees the whole instance; a user what GitLab's rules let them pull
 * (registry_can_pull); a deploy token the projects it covers. */
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
#include "rest_db.h"
#include "url.h"
#include "util.h"

#define CATALOG_DEFAULT_PAGE 100
#define CATALOG_MAX_PAGE 1000

/* One page (n + 1 rows tell whether a next page exists); registry_catalog() walks the path
 * index or the caller's projects, so a page costs about its own size (migration 024). */
PG_STMT_READ(q_catalog, "SELECT path FROM registry_catalog($1, $2, $3, $4, $5)");

/* Answers one page of the catalog (r->num names) with a Link to the next. */
static void
catalog_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	json_object *repos = json_object_new_array();
	int rows = pg_rows(res), shown = 0;
	const char *last = NULL;
	for (int i = 0; i < rows && shown < r->num; i++, shown++) {
		last = pg_get(res, i, "path");
		json_object_array_add(repos, json_object_new_string(last));
	}
	struct http_headers h;
	v2reply_headers_init(&h);
	if (rows > r->num && last != NULL) {
		char *enc = url_encode(last, false);
		char *link = xasprintf("</v2/_catalog?n=%lld&last=%s>; rel=\"next\"",
		                       (long long)r->num, enc);
		headers_add(&h, "Link", link);
		free(link);
		free(enc);
	}
	json_object *root = json_object_new_object();
	json_object_object_add(root, "repositories", repos);
	js_respond(r->txn, 200, &h, root);
	headers_clear(&h);
}

void
catalog_list(struct rest_req *r)
{
	long long n;
	char *last;
	if (v2params_page(r->txn, CATALOG_DEFAULT_PAGE, CATALOG_MAX_PAGE, &n, &last) < 0)
		return;
	r->num = n;
	rest_arg(r, last);
	rest_arg_i64(r, r->actor.user_id);
	rest_arg_bool(r, r->actor.admin);
	rest_arg_i64(r, r->actor.deploy_token_id);
	rest_arg_i64(r, n + 1);
	rest_exec(r, &q_catalog, catalog_done, r);
	free(last);
}

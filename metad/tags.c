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
#include "rest_db.h"
#include "url.h"
#include "util.h"

/* Without n every tag is listed, as Distribution does; with n at most this many per page. */
#define TAGS_MAX_PAGE 10000

/*
 * The repository's id and tags_version (no row when it does not exist) joined with one page of
 * tag names. With the id and version of a kept answer ($4, $5) the names are skipped while both
 * are current: the row then says only that the kept answer still holds. One statement, so the
 * version and the names come from the same snapshot. The repository is materialised: inlined,
 * the resolving function would run once per tag listed.
 */
PG_STMT_READ(q_tags, "WITH r AS MATERIALIZED (SELECT id, tags_version FROM repositories"
                     "   WHERE id = registry_grant_repository_id($1, $6, $7))"
                     " SELECT r.id, r.tags_version, t.name FROM r"
                     " LEFT JOIN LATERAL (SELECT name FROM tags WHERE repository_id = r.id"
                     "   AND (r.id, r.tags_version) IS DISTINCT FROM ($4::bigint, $5::bigint)"
                     "   AND ($2::text IS NULL OR name > $2::text COLLATE \"C\")"
                     "   ORDER BY name COLLATE \"C\" LIMIT $3::bigint) t ON true");

struct tags_call {
	struct rest_req *r;
	long long n; /* -1: all */
	char *last;
	bool kept;             /* a kept answer was found... */
	struct tags_page page; /* ...this one; or the answer being built */
};

/* Frees what a call holds (the call goes with its request). */
static void
tags_call_clear(void *state)
{
	struct tags_call *t = state;
	free(t->last);
	tags_page_clear(&t->page);
}

/* Builds one page of tags (JSON and Link to the next page) from the query's rows. */
static void
tags_build(struct tags_call *t, PGresult *res)
{
	const char *name = rest_param(t->r, "name");
	json_object *tags = json_object_new_array();
	int rows = pg_rows(res), shown = 0;
	for (int i = 0; i < rows; i++) {
		const char *tag = pg_get(res, i, "name");
		if (tag == NULL || (t->n >= 0 && shown == t->n))
			continue;
		json_object_array_add(tags, json_object_new_string(tag));
		shown++;
	}
	if (t->n >= 0 && rows > t->n && shown > 0) {
		const char *last =
		        json_object_get_string(json_object_array_get_idx(tags, (size_t)shown - 1));
		char *enc = url_encode(last, false);
		t->page.link = xasprintf("</v2/%s/tags/list?n=%lld&last=%s>; rel=\"next\"", name,
		                         t->n, enc);
		free(enc);
	}
	json_object *root = json_object_new_object();
	json_object_object_add(root, "name", json_object_new_string(name));
	json_object_object_add(root, "tags", tags);
	t->page.body = xstrdup(js_text(root));
	json_object_put(root);
}

/* Answers one page of tags, kept or built (and then kept), or NAME_UNKNOWN. */
static void
tags_done(PGresult *res, void *arg)
{
	struct tags_call *t = arg;
	struct rest_req *r = t->r;
	const char *name = rest_param(r, "name");
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	if (pg_rows(res) == 0 || pg_get(res, 0, "id") == NULL) {
		v2reply_error(r->txn, 404, OCI_NAME_UNKNOWN, NULL, name);
		return;
	}
	int64_t repo = strtoll(pg_get(res, 0, "id"), NULL, 10);
	int64_t version = strtoll(pg_get(res, 0, "tags_version"), NULL, 10);
	if (!t->kept || repo != t->page.repo || version != t->page.version) {
		tags_page_clear(&t->page);
		t->page.repo = repo;
		t->page.version = version;
		tags_build(t, res);
		tags_cache_put(name, t->n, t->last, &t->page);
	}
	struct http_headers h;
	v2reply_headers_init(&h);
	headers_set(&h, "Content-Type", "application/json");
	if (t->page.link != NULL)
		headers_add(&h, "Link", t->page.link);
	http_txn_respond(r->txn, 200, &h, t->page.body, strlen(t->page.body));
	headers_clear(&h);
}

void
tags_list(struct rest_req *r)
{
	const char *name = rest_param(r, "name");
	long long n;
	char *last;
	if (v2params_page(r->txn, -1, TAGS_MAX_PAGE, &n, &last) < 0)
		return;
	struct tags_call *t = rest_state_new(r, sizeof(*t), tags_call_clear);
	t->r = r;
	t->n = n;
	t->last = last;
	t->kept = tags_cache_get(name, n, last, &t->page);
	char limit[32], repo[32], version[32];
	snprintf(limit, sizeof(limit), "%lld", n + 1);
	snprintf(repo, sizeof(repo), "%lld", (long long)t->page.repo);
	snprintf(version, sizeof(version), "%lld", (long long)t->page.version);
	struct rest_grant_text grant;
	rest_grant_text(&r->actor.grant, &grant);
	const char *params[] = { name,
		                 last,
		                 n >= 0 ? limit : NULL,
		                 t->kept ? repo : NULL,
		                 t->kept ? version : NULL,
		                 grant.project_id,
		                 grant.generation };
	rest_exec_values(t->r, &q_tags, 7, params, tags_done, t);
}

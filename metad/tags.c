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
 * tag names ($3: at most this many; NULL: all), which PostgreSQL hands over already as the inside
 * of a JSON array ("list"), with how many names followed "last" (up to $3 + 1: one more says
 * there is a next page) and the page's last name. One text instead of a row per name: sending
 * rows was most of the cost of a page that is not kept. One statement, so the version and the
 * names come from the same snapshot. The repository is materialised: inlined, the resolving
 * function would run once per tag listed. "name > COALESCE($2, '')" (every tag name is longer
 * than '') keeps the keyset condition an index condition in the generic plan PostgreSQL settles
 * on for a prepared statement, where "$2 IS NULL OR name > $2" made it a filter over every tag
 * before the page.
 */
PG_STMT_READ(q_tags, "WITH r AS MATERIALIZED (SELECT id, tags_version FROM repositories"
                     "   WHERE id = (SELECT registry_grant_repository_id($1, $4, $5)))"
                     " SELECT r.id, r.tags_version, p.list, p.rows, p.last FROM r"
                     " CROSS JOIN LATERAL (SELECT string_agg(to_json(s.name)::text, ','"
                     "     ORDER BY s.name COLLATE \"C\") FILTER (WHERE s.at <= $3::bigint"
                     "     OR $3::bigint IS NULL) AS list,"
                     "   count(*) AS rows,"
                     "   max(s.name COLLATE \"C\") FILTER (WHERE s.at <= $3::bigint) AS last"
                     "   FROM (SELECT name, row_number() OVER (ORDER BY name COLLATE \"C\") AS at"
                     "     FROM tags WHERE repository_id = r.id"
                     "     AND name > COALESCE($2::text, '') COLLATE \"C\""
                     "     ORDER BY name COLLATE \"C\" LIMIT $3::bigint + 1) s) p");

/* With a kept answer, only whether it still holds: the repository's id and tags_version. */
PG_STMT_READ(q_tags_version, "SELECT id, tags_version FROM repositories"
                             " WHERE id = (SELECT registry_grant_repository_id($1, $2, $3))");

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

/* Builds one page of tags (JSON and Link to the next page) from the query's row. */
static void
tags_build(struct tags_call *t, PGresult *res)
{
	const char *name = rest_param(t->r, "name");
	const char *list = pg_get(res, 0, "list");
	const char *rows = pg_get(res, 0, "rows");
	const char *last = pg_get(res, 0, "last");
	if (t->n >= 0 && rows != NULL && strtoll(rows, NULL, 10) > t->n && last != NULL) {
		char *enc = url_encode(last, false);
		t->page.link = xasprintf("</v2/%s/tags/list?n=%lld&last=%s>; rel=\"next\"", name,
		                         t->n, enc);
		free(enc);
	}
	json_object *js = json_object_new_string(name);
	t->page.body =
	        xasprintf("{\"name\":%s,\"tags\":[%s]}", js_text(js), list != NULL ? list : "");
	json_object_put(js);
}

static void tags_query(struct tags_call *t);

/* Answers a page from the query's row: the kept answer while it holds, else one built (and then
 * kept); or NAME_UNKNOWN. */
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
	bool listed = PQfnumber(res, "list") >= 0;
	if (!listed && (repo != t->page.repo || version != t->page.version)) {
		t->kept = false; /* the kept answer is out of date: list the page */
		tags_page_clear(&t->page);
		tags_query(t);
		return;
	}
	if (listed) {
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

/* Asks whether the kept answer still holds, or for the page itself when none is kept. */
static void
tags_query(struct tags_call *t)
{
	char limit[32];
	snprintf(limit, sizeof(limit), "%lld", t->n);
	struct rest_grant_text grant;
	rest_grant_text(&t->r->actor.grant, &grant);
	if (t->kept) {
		const char *params[] = { rest_param(t->r, "name"), grant.project_id,
			                 grant.generation };
		rest_exec_values(t->r, &q_tags_version, 3, params, tags_done, t);
		return;
	}
	const char *params[] = { rest_param(t->r, "name"), t->last, t->n >= 0 ? limit : NULL,
		                 grant.project_id, grant.generation };
	rest_exec_values(t->r, &q_tags, 5, params, tags_done, t);
}

void
tags_list(struct rest_req *r)
{
	long long n;
	char *last;
	if (v2params_page(r->txn, -1, TAGS_MAX_PAGE, &n, &last) < 0)
		return;
	struct tags_call *t = rest_state_new(r, sizeof(*t), tags_call_clear);
	t->r = r;
	t->n = n;
	t->last = last;
	t->kept = tags_cache_get(rest_param(r, "name"), n, last, &t->page);
	tags_query(t);
}

/*
 * Tags over GitLab's Container Registry API: the list (offset pagination, or keyset pagination
 * with pagination=keyset, sort and last and only a Link to the next page; order_by name or
 * published_at, and name, a part of the names to list), one tag's details
 * (revision: the config blob's digest, digest: the manifest's), deleting one tag, and deleting
 * tags in bulk: validated here, queued as a job (registry_jobs.c), at most once an hour per
 * repository.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "http.h"
#include "json.h"
#include "metad.h"
#include "names.h"
#include "pg.h"
#include "url.h"
#include "util.h"

/* $1 project, $2 repository, $3 after this tag (keyset), $4 limit, $5 offset, $6 count them,
 * $7 only names holding this text (any case; NULL for all). One statement per order and
 * direction, so that each walks the (repository_id, name) index or sorts once. By name, after the
 * name; by published_at (the time the tag last moved), after the named tag's (published_at, name),
 * so that a page's last tag is always a cursor, whatever its time. */
#define TAG_MATCH(T) "($7::text IS NULL OR strpos(lower(" T ".name), lower($7::text)) > 0)"
#define TAGS_SQL(AFTER, KEYS)                                                                                   \
	"SELECT r.path,"                                                                                        \
	" CASE WHEN $6::boolean THEN (SELECT count(*) FROM tags c WHERE c.repository_id = r.id"                 \
	"   AND " TAG_MATCH(                                                                                    \
	        "c") ") END AS total, t.name"                                                                   \
	             " FROM repositories r"                                                                     \
	             " LEFT JOIN LATERAL (SELECT x.name, x.updated_at FROM tags x WHERE x.repository_id = r.id" \
	             "   AND " TAG_MATCH(                                                                       \
	                     "x") " AND ($3::text IS NULL OR " AFTER ")"                                        \
	                          "   ORDER BY " KEYS(                                                          \
	                                  "x") " LIMIT $4 OFFSET $5) t ON true"                                 \
	                                       " WHERE r.id = $2 AND r.project_id = $1 ORDER BY " KEYS(         \
	                                               "t")
#define AFTER_NAME(CMP) "x.name " CMP " $3::text COLLATE \"C\""
#define AFTER_PUBLISHED(CMP)                                                                       \
	"(x.updated_at, x.name) " CMP " (SELECT l.updated_at, l.name FROM tags l"                  \
	" WHERE l.repository_id = r.id AND l.name = $3::text)"
#define BY_NAME_ASC(T) T ".name COLLATE \"C\" ASC"
#define BY_NAME_DESC(T) T ".name COLLATE \"C\" DESC"
#define BY_PUBLISHED_ASC(T) T ".updated_at ASC, " T ".name COLLATE \"C\" ASC"
#define BY_PUBLISHED_DESC(T) T ".updated_at DESC, " T ".name COLLATE \"C\" DESC"
PG_STMT_READ(q_tags_asc, TAGS_SQL(AFTER_NAME(">"), BY_NAME_ASC));
PG_STMT_READ(q_tags_desc, TAGS_SQL(AFTER_NAME("<"), BY_NAME_DESC));
PG_STMT_READ(q_tags_published_asc, TAGS_SQL(AFTER_PUBLISHED(">"), BY_PUBLISHED_ASC));
PG_STMT_READ(q_tags_published_desc, TAGS_SQL(AFTER_PUBLISHED("<"), BY_PUBLISHED_DESC));

/* $1 project, $2 repository, $3 tag (NULL for a name that cannot be a tag). */
PG_STMT_READ(q_tag,
             "SELECT r.path, t.name, m.digest, m.config_digest, m.total_size,"
             " to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+00:00\"')"
             "   AS created_at,"
             " to_char(t.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+00:00\"')"
             "   AS published_at"
             " FROM repositories r"
             " LEFT JOIN tags t ON t.repository_id = r.id AND t.name = $3"
             " LEFT JOIN manifests m ON m.id = t.manifest_id"
             " WHERE r.id = $2 AND r.project_id = $1");

PG_STMT(q_tag_delete, "SELECT registry_tag_delete($1, $2, $3, $4, $5) AS status");
PG_STMT(q_cleanup, "SELECT registry_cleanup_request($1, $2, $3, $4, $5::jsonb) AS status");

enum { PAGE_OFFSET, PAGE_KEYSET };

/* ---- list ---------------------------------------------------------------------------------------
 */

/* Link: <this URL with last=<name>>; rel="next" (keyset pagination). */
static char *
next_link(struct rest_req *r, const char *last)
{
	static const char *const drop[] = { "last", "page", NULL };
	char *query = gl_query_except(r->txn, drop);
	char *enc = url_encode(last, false);
	char *link = xasprintf("<%s%s?%s%slast=%s>; rel=\"next\"", gl_external_url(r->txn),
	                       http_txn_request(r->txn)->path, query ? query : "", query ? "&" : "",
	                       enc);
	free(enc);
	free(query);
	return link;
}

/* Whether the repository's row came back; false once answered (500/503, or 404). */
static bool
found(struct rg_call *c, PGresult *res)
{
	if (!pg_ok(res)) {
		rest_db_error(c->r, res);
		return false;
	}
	if (pg_rows(res) == 0) {
		rest_fail(c->r, 404, "404 Not found");
		return false;
	}
	return true;
}

/* A page of tags: offset pagination headers, or a Link to the next keyset page. */
static void
tags_listed(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	struct rest_req *r = c->r;
	if (!found(c, res))
		return;
	const char *path = pg_get(res, 0, "path");
	json_object *arr = json_object_new_array();
	int64_t shown = 0;
	const char *last = NULL;
	for (int i = 0; i < pg_rows(res) && shown < r->page.per_page; i++) {
		const char *name = pg_get(res, i, "name");
		if (name == NULL)
			continue;
		json_object_array_add(arr, rg_tag_json(r, path, name));
		last = name;
		shown++;
	}
	struct http_headers h;
	headers_init(&h);
	if (r->mode == PAGE_KEYSET) {
		if (pg_rows(res) > r->page.per_page && last != NULL) {
			char *link = next_link(r, last);
			headers_set(&h, "Link", link);
			free(link);
		}
	} else {
		gl_page_headers(r->txn, &r->page, pg_get_int(res, 0, "total"), &h);
	}
	js_respond(r->txn, 200, &h, arr);
	headers_clear(&h);
}

/* GET .../tags, once the project may be read. */
static void
tags_query(struct rg_call *c)
{
	static const char *const paginations[] = { "offset", "keyset", NULL };
	static const char *const sorts[] = { "asc", "desc", NULL };
	static const char *const orders[] = { "name", "published_at", NULL };
	struct rest_req *r = c->r;
	const char *pagination, *sort, *order_by;
	if (!rg_repository_id(c))
		return;
	if (rest_enum(r, "pagination", paginations, &pagination) < 0 ||
	    rest_enum(r, "order_by", orders, &order_by) < 0 ||
	    rest_enum(r, "sort", sorts, &sort) < 0 || rest_page(r) < 0) {
		return;
	}
	const char *name = rest_str(r, "name");
	r->mode =
	        pagination != NULL && strcmp(pagination, "keyset") == 0 ? PAGE_KEYSET : PAGE_OFFSET;
	bool desc = sort != NULL && strcmp(sort, "desc") == 0;
	const char *last = r->mode == PAGE_KEYSET ? rest_str(r, "last") : NULL;
	rest_arg_i64(r, c->project_id);
	rest_arg_i64(r, c->repo_id);
	rest_arg(r, last != NULL && *last != '\0' ? last : NULL);
	if (r->mode == PAGE_KEYSET) {
		/* one more than the page tells whether there is a next one */
		rest_arg_i64(r, r->page.per_page + 1);
		rest_arg_i64(r, 0);
	} else {
		rest_arg_i64(r, r->page.per_page);
		rest_arg_i64(r, gl_page_offset(&r->page));
	}
	rest_arg_bool(r, r->mode == PAGE_OFFSET);
	rest_arg(r, name != NULL && *name != '\0' ? name : NULL);
	bool published = order_by != NULL && strcmp(order_by, "published_at") == 0;
	struct pg_stmt *q = published ? (desc ? &q_tags_published_desc : &q_tags_published_asc)
	                              : (desc ? &q_tags_desc : &q_tags_asc);
	rest_exec(c->r, q, tags_listed, c);
}

void
rg_tags_list(struct rest_req *r)
{
	rg_begin(r, false, tags_query);
}

/* ---- one tag ------------------------------------------------------------------------------------
 */

/* The :tag_name of the request: the path's last segment, decoded as the router decodes it. */
static char *
tag_of_path(struct rest_req *r)
{
	const char *path = http_txn_request(r->txn)->path;
	const char *seg = strrchr(path, '/');
	seg = seg ? seg + 1 : path;
	return url_decode(seg, strlen(seg), false);
}

/* Reads :repository_id and :tag_name (into c->tag) and adds the arguments of q_tag and
 * q_tag_delete: (the caller when caller,) the project, the repository, the tag (NULL for a name
 * that cannot be one). false after answering 400 for the repository id. */
static bool
tag_args(struct rg_call *c, bool caller)
{
	if (!rg_repository_id(c))
		return false;
	struct rest_req *r = c->r;
	c->tag = tag_of_path(r);
	if (caller)
		rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	rest_arg_i64(r, c->repo_id);
	rest_arg(r, c->tag != NULL && name_valid_tag(c->tag) ? c->tag : NULL);
	return true;
}

/* A tag's details, or 404 for the repository or the tag. */
static void
tag_read(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	if (!found(c, res))
		return;
	const char *name = pg_get(res, 0, "name");
	if (name == NULL) {
		rest_fail(c->r, 404, "404 Tag Not Found");
		return;
	}
	json_object *o = rg_tag_json(c->r, pg_get(res, 0, "path"), name);
	/* revision is the config blob's hex digest; an index has no config, hence none */
	const char *config = pg_get(res, 0, "config_digest");
	const char *hex = config ? strchr(config, ':') : NULL;
	hex = hex ? hex + 1 : config;
	json_object_object_add(o, "revision", js_new_str_or_null(hex));
	char *short_rev = hex ? xstrndup(hex, 9) : NULL;
	json_object_object_add(o, "short_revision", js_new_str_or_null(short_rev));
	free(short_rev);
	json_object_object_add(o, "digest", js_new_str_or_null(pg_get(res, 0, "digest")));
	json_object_object_add(o, "created_at", js_new_str_or_null(pg_get(res, 0, "created_at")));
	json_object_object_add(o, "total_size",
	                       json_object_new_int64(pg_get_int(res, 0, "total_size")));
	/* when the tag last moved, as order_by=published_at sorts (GitLab issue 573326) */
	json_object_object_add(o, "published_at",
	                       js_new_str_or_null(pg_get(res, 0, "published_at")));
	rest_reply(c->r, 200, o);
}

/* GET .../tags/:tag_name, once the project may be read. */
static void
tag_get(struct rg_call *c)
{
	if (tag_args(c, false))
		rest_exec(c->r, &q_tag, tag_read, c);
}

void
rg_tag_get(struct rest_req *r)
{
	rg_begin(r, false, tag_get);
}

/* 200 once deleted, or GitLab's refusal. */
static void
tag_deleted(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s == STATUS_ok)
		rest_reply(c->r, 200, json_object_new_int(200));
	else
		rest_status_answer(c->r, res, s);
}

/* DELETE .../tags/:tag_name (Developer or more), once the project may be read. */
static void
tag_delete(struct rg_call *c)
{
	if (tag_args(c, true))
		rest_exec(c->r, &q_tag_delete, tag_deleted, c);
}

void
rg_tag_delete(struct rest_req *r)
{
	rg_begin(r, true, tag_delete);
}

/* ---- bulk deletion ------------------------------------------------------------------------------
 */

/* A regexp parameter: absent (1, *out NULL), valid (1), or 400 "<key> is an invalid regexp:
 * ..." (-1, answered). */
static int
regex_param(struct rest_req *r, const char *key, const char **out)
{
	*out = NULL;
	if (!rest_has(r, key))
		return 1;
	const char *s = rest_str(r, key);
	char *msg = NULL;
	if (s == NULL) {
		msg = xasprintf("%s is invalid", key);
	} else {
		char *why = NULL;
		pcre2_code *re = cleanup_regex_compile(s, &why);
		if (re == NULL) {
			msg = xasprintf("%s is an invalid regexp: %s", key, why);
			free(why);
		}
		pcre2_code_free(re);
	}
	if (msg != NULL) {
		rest_fail_param(r, msg);
		free(msg);
		return -1;
	}
	*out = s;
	return 1;
}

/* Queued (202), throttled (400), or refused. */
static void
cleanup_requested(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s != STATUS_ok) {
		rest_status_answer(c->r, res, s);
		return;
	}
	regjobs_kick();
	rest_reply(c->r, 202, json_object_new_int(202));
}

/* DELETE .../tags: name_regex_delete (or name_regex), name_regex_keep, keep_n, older_than;
 * once the project may be read. */
static void
tags_bulk_delete(struct rg_call *c)
{
	struct rest_req *r = c->r;
	if (!rg_repository_id(c))
		return;
	if (!rest_has(r, "name_regex") && !rest_has(r, "name_regex_delete")) {
		rest_fail_param(r,
		                "name_regex, name_regex_delete are missing, at least one parameter "
		                "must be provided");
		return;
	}
	const char *del, *old, *keep;
	int64_t keep_n = -1;
	int has_keep_n;
	if (regex_param(r, "name_regex_delete", &del) < 0 ||
	    regex_param(r, "name_regex", &old) < 0 ||
	    regex_param(r, "name_regex_keep", &keep) < 0 ||
	    (has_keep_n = rest_int(r, "keep_n", &keep_n)) < 0) {
		return;
	}
	if (has_keep_n && keep_n < 0) {
		rest_fail_param(r, "keep_n does not have a valid value");
		return;
	}
	int64_t older_than = -1;
	const char *older = rest_str(r, "older_than");
	if (rest_has(r, "older_than") &&
	    (older == NULL || (*older != '\0' && (older_than = cleanup_duration(older)) < 0))) {
		rest_fail_param(r, "older_than is invalid");
		return;
	}
	/* GitLab prefers name_regex_delete when both are given */
	json_object *params = json_object_new_object();
	json_object_object_add(params, "name_regex_delete",
	                       json_object_new_string(del ? del : old));
	json_object_object_add(params, "name_regex_keep", js_new_str_or_null(keep));
	json_object_object_add(params, "keep_n", has_keep_n ? json_object_new_int64(keep_n) : NULL);
	json_object_object_add(params, "older_than",
	                       older_than >= 0 ? json_object_new_int64(older_than) : NULL);
	rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	rest_arg_i64(r, c->repo_id);
	rest_arg(r, js_text(params));
	json_object_put(params);
	rest_exec(c->r, &q_cleanup, cleanup_requested, c);
}

void
rg_tags_bulk_delete(struct rest_req *r)
{
	rg_begin(r, true, tags_bulk_delete);
}

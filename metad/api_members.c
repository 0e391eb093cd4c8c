/*
 * Members of projects and groups (GitLab's doc/api/members.md): direct members, all members
 * including those inherited from ancestor groups (the highest role wins), one member, add, change
 * and remove. Roles are GitLab's access levels 10 (Guest) to 50 (Owner); managing members needs
 * Maintainer, granting or changing Owner needs Owner; admins may do everything.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "metad.h"
#include "rest_db.h"
#include "util.h"

/* r->mode bits: which source, and whether inherited members count */
enum { MEMBERS_GROUP = 1, MEMBERS_ALL = 2 };

/* Members of a source as the caller sees them. $3 'project' or 'group', $4/$5 its reference,
 * $6 a search in username and name, $7 user ids, $8 one user, $9 inherited members too. */
PG_STMT_READ(
        q_members,
        "WITH s AS (SELECT * FROM member_source($1, $2, $3, $4, $5)),"
        " items AS ("
        "  SELECT " TN_MEMBER_COLS ", m.created_at AS sort_ts"
        "    FROM s CROSS JOIN LATERAL ("
        "      SELECT DISTINCT ON (a.user_id) a.* FROM ("
        "        SELECT user_id, access_level, expires_at, created_at, created_by, 0 AS depth"
        "          FROM project_members WHERE $3::text = 'project' AND project_id = s.source_id"
        "        UNION ALL"
        "        SELECT user_id, access_level, expires_at, created_at, created_by, 0"
        "          FROM group_members WHERE $3::text = 'group' AND namespace_id = s.source_id"
        "        UNION ALL"
        "        SELECT user_id, access_level, expires_at, created_at, created_by, 1"
        "          FROM group_members WHERE $9::boolean AND namespace_id = ANY (s.ancestors)"
        "      ) a WHERE a.expires_at IS NULL OR a.expires_at > current_date"
        "      ORDER BY a.user_id, a.access_level DESC, a.depth) m"
        "    JOIN users u ON u.id = m.user_id"
        "    LEFT JOIN users c ON c.id = m.created_by"
        "   WHERE s.visible"
        "     AND ($6::text IS NULL OR u.username ILIKE like_pattern($6)"
        "          OR u.name ILIKE like_pattern($6))"
        "     AND ($7::bigint[] IS NULL OR u.id = ANY ($7::bigint[]))"
        "     AND ($8::bigint IS NULL OR u.id = $8::bigint))"
        " SELECT coalesce(s.visible, false) AS ok, (SELECT count(*) FROM items) AS total, i.*"
        "   FROM s LEFT JOIN LATERAL ("
        "     SELECT * FROM items ORDER BY sort_ts, id LIMIT $10 OFFSET $11) i ON true");

PG_STMT(q_member_add, "SELECT * FROM member_add($1, $2, $3, $4, $5, $6, $7, $8)");
PG_STMT(q_member_update, "SELECT * FROM member_update($1, $2, $3, $4, $5, $6, $7, $8, $9)");
PG_STMT(q_member_remove, "SELECT member_remove($1, $2, $3, $4, $5, $6) AS status");

/* The source kind as member_source() names it. */
static const char *
kind(const struct rest_req *r)
{
	return r->mode & MEMBERS_GROUP ? "group" : "project";
}

/* Starts any members request: signed in, the source named, the member's id read. */
static bool
member_begin(struct rest_req *r, int64_t *user)
{
	r->what = r->mode & MEMBERS_GROUP ? "Group" : "Project";
	if (!rest_require_user(r))
		return false;
	if (user != NULL && str_to_i64(rest_param(r, "user_id"), 1, INT64_MAX, user) < 0) {
		rest_fail_param(r, "user_id is invalid");
		return false;
	}
	return true;
}

/* The first arguments of every members statement: the caller, the source's kind and reference. */
static void
source_args(struct rest_req *r)
{
	rest_arg_actor(r);
	rest_arg(r, kind(r));
	rest_arg_ref(r, rest_param(r, "id"));
}

/* Arguments of q_members after the page: one user or all, and the page itself. */
static void
members_args(struct rest_req *r, const char *search, const char *ids, int64_t user)
{
	source_args(r);
	rest_arg(r, search && *search ? search : NULL);
	rest_arg(r, ids);
	rest_arg_i64_opt(r, user > 0, user);
	rest_arg_bool(r, (r->mode & MEMBERS_ALL) != 0);
	rest_arg_i64(r, user > 0 ? 1 : r->page.per_page);
	rest_arg_i64(r, user > 0 ? 0 : gl_page_offset(&r->page));
}

/* Answers a page of members. */
static void
members_listed(PGresult *res, void *arg)
{
	rest_reply_list(arg, res, tn_member_json);
}

/* GET /(projects|groups)/:id/members[/all] */
static void
members_list(struct rest_req *r)
{
	char *ids;
	if (!member_begin(r, NULL) || rest_page(r) < 0 || rest_id_list(r, "user_ids", &ids) < 0)
		return;
	members_args(r, rest_str(r, "query"), ids, 0);
	free(ids);
	rest_exec(r, &q_members, members_listed, r);
}

/* Answers with one member, 404 "Not found" when not one. */
static void
member_read(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!rest_list_ok(r, res))
		return;
	if (pg_get(res, 0, "id") == NULL) {
		rest_fail(r, 404, "404 Not found");
		return;
	}
	rest_reply(r, r->num ? (int)r->num : 200, tn_member_json(r, res, 0));
}

/* Reads one member back: GET .../members[/all]/:user_id, and after a write. */
static void
member_fetch(struct rest_req *r, int64_t user, int status)
{
	r->num = status;
	r->page.per_page = 1;
	members_args(r, NULL, NULL, user);
	rest_exec(r, &q_members, member_read, r);
}

/* GET .../members[/all]/:user_id */
static void
member_get(struct rest_req *r)
{
	int64_t user;
	if (!member_begin(r, &user))
		return;
	member_fetch(r, user, 200);
}

/* Answers a failed query or a refusal of the member functions; false when their status is "ok". */
static bool
member_failed(struct rest_req *r, PGresult *res)
{
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok)
		return false;
	rest_status_answer(r, res, s);
	return true;
}

/* After member_add(): the new member (201), or the failure. */
static void
member_added(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!member_failed(r, res)) {
		r->mode &= ~MEMBERS_ALL;
		member_fetch(r, r->num, 201);
	}
}

/* Reads user_id and access_level (both required) and expires_at; -1 when answered. */
static int
member_fields(struct rest_req *r, bool want_user, int64_t *user, int *level, const char **expires,
              int *has_expires)
{
	int has_user = want_user ? rest_int(r, "user_id", user) : 1;
	if (has_user < 0)
		return -1;
	int has_level = rest_access_level(r, "access_level", level);
	if (has_level < 0)
		return -1;
	if (!has_user || !has_level) {
		rest_fail_param(r, !has_user && !has_level
		                           ? "user_id is missing, access_level is missing"
		                   : !has_user ? "user_id is missing"
		                               : "access_level is missing");
		return -1;
	}
	*has_expires = rest_date(r, "expires_at", expires);
	return *has_expires < 0 ? -1 : 0;
}

/* After member_update(): the member (200), or the failure. */
static void
member_updated(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!member_failed(r, res))
		member_fetch(r, r->num, 200);
}

/* Adds a member (user_id from the body) or changes one (:user_id): role and expiry. */
static void
member_write(struct rest_req *r, bool add)
{
	int64_t user;
	int level, has_expires;
	const char *expires;
	if (!member_begin(r, add ? NULL : &user) ||
	    member_fields(r, add, &user, &level, &expires, &has_expires) < 0)
		return;
	r->num = user;
	source_args(r);
	rest_arg_i64(r, user);
	rest_arg_i64(r, level);
	if (!add)
		rest_arg_bool(r,
		              has_expires == 1); /* an update changes the expiry only when given */
	rest_arg(r, expires);
	rest_exec(r, add ? &q_member_add : &q_member_update, add ? member_added : member_updated,
	          r);
}

/* POST /(projects|groups)/:id/members */
static void
member_add(struct rest_req *r)
{
	member_write(r, true);
}

/* PUT /(projects|groups)/:id/members/:user_id */
static void
member_update(struct rest_req *r)
{
	member_write(r, false);
}

/* After member_remove(): 204, or the failure. */
static void
member_removed(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!member_failed(r, res))
		rest_reply_empty(r, 204);
}

/* DELETE /(projects|groups)/:id/members/:user_id */
static void
member_remove(struct rest_req *r)
{
	int64_t user;
	if (!member_begin(r, &user))
		return;
	source_args(r);
	rest_arg_i64(r, user);
	rest_exec(r, &q_member_remove, member_removed, r);
}

/* ---- the handlers ---------------------------------------------------------------------------- */

/* One handler per (action, source, depth): each sets r->mode and runs the action. */
#define MEMBER_HANDLER(fn, action, mode_bits)                                                      \
	void fn(struct rest_req *r)                                                                \
	{                                                                                          \
		r->mode = (mode_bits);                                                             \
		action(r);                                                                         \
	}

MEMBER_HANDLER(members_project_list, members_list, 0)
MEMBER_HANDLER(members_project_list_all, members_list, MEMBERS_ALL)
MEMBER_HANDLER(members_project_get, member_get, 0)
MEMBER_HANDLER(members_project_get_all, member_get, MEMBERS_ALL)
MEMBER_HANDLER(members_project_add, member_add, 0)
MEMBER_HANDLER(members_project_update, member_update, 0)
MEMBER_HANDLER(members_project_remove, member_remove, 0)
MEMBER_HANDLER(members_group_list, members_list, MEMBERS_GROUP)
MEMBER_HANDLER(members_group_list_all, members_list, MEMBERS_GROUP | MEMBERS_ALL)
MEMBER_HANDLER(members_group_get, member_get, MEMBERS_GROUP)
MEMBER_HANDLER(members_group_get_all, member_get, MEMBERS_GROUP | MEMBERS_ALL)
MEMBER_HANDLER(members_group_add, member_add, MEMBERS_GROUP)
MEMBER_HANDLER(members_group_update, member_update, MEMBERS_GROUP)
MEMBER_HANDLER(members_group_remove, member_remove, MEMBERS_GROUP)

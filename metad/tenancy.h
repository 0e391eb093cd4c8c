/*
 * Groups, projects, namespaces and members over GitLab's REST API (v4): what the api_*.c modules
 * share. A request becomes a struct tn_req: the caller (from the gateway's X-Registry-* headers),
 * the parameters GitLab takes from the query, a form or a JSON body (merged, the body winning),
 * the route's placeholders, and the SQL arguments being assembled. Rights and multi-step writes
 * live in SQL (schema/functions/tenancy.sql and rights.sql); the modules validate input, run one statement
 * (or a write and the read of its result) and shape GitLab's answers.
 */
#ifndef REGISTRY_METAD_TENANCY_H
#define REGISTRY_METAD_TENANCY_H

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "gitlab.h"
#include "pg.h"
#include "router.h"

struct evbuffer;
struct http_txn;

#define TN_MAX_ARGS 24

struct tn_req;
typedef void (*tn_step)(struct tn_req *r);

struct tn_req {
	struct http_txn *txn;
	struct actor actor;
	json_object *params;    /* query, form and JSON body, merged */
	char *id;               /* the route's :id (decoded), or NULL */
	char *sub;              /* a second placeholder (:user_id, :project_id), or NULL */
	tn_step next;           /* runs once the parameters are in */
	struct gl_page page;
	const char *what;       /* "Project", "Group": for "404 <what> Not Found" */
	int mode;               /* the endpoint's own switch (entity shape, member kind) */
	int64_t num;            /* the endpoint's own number */
	int nargs;
	char *args[TN_MAX_ARGS];
};

/* api_tenancy.c: requests, parameters, answers, entities. */

/* Starts a request: copies the placeholders named id_name and sub_name (either may be NULL),
 * reads the parameters (gl_params_read) and runs next. */
void tn_start(struct http_txn *txn, const struct route_match *m, const char *id_name,
              const char *sub_name, tn_step next);
void tn_free(struct tn_req *r);

/* Parameters. tn_str: a string or number as text, NULL when absent or not a scalar. */
const char *tn_str(struct tn_req *r, const char *key);
bool tn_has(struct tn_req *r, const char *key);
/* 1 when present and read, 0 when absent, -1 (and 400 "<key> is invalid" answered) when bad. */
int tn_int(struct tn_req *r, const char *key, int64_t *out);
int tn_bool(struct tn_req *r, const char *key, bool *out);
/* A member of values, NULL when absent; -1 with 400 "<key> does not have a valid value". */
int tn_enum(struct tn_req *r, const char *key, const char *const *values, const char **out);
/* An access level 10..50; same contract as tn_int. */
int tn_access_level(struct tn_req *r, const char *key, int *out);
/* A YYYY-MM-DD date; "" or null clears (*out = NULL, returns 1). Same contract as tn_int. */
int tn_date(struct tn_req *r, const char *key, const char **out);
/* A list of ids ([1,2], "1,2" or key[]=1&key[]=2) as a PostgreSQL array literal "{1,2}" (caller
 * frees), NULL when absent; same contract as tn_int. */
int tn_id_list(struct tn_req *r, const char *key, char **out);
/* page and per_page; -1 when answered with 400. */
int tn_page(struct tn_req *r);
/* order_by among values (default dflt) and sort asc/desc (default sort_dflt). */
int tn_order(struct tn_req *r, const char *const *values, const char *dflt,
             const char *sort_dflt, const char **order_by, const char **sort);

/* SQL arguments, in order. */
void tn_arg(struct tn_req *r, const char *v);
void tn_arg_i64(struct tn_req *r, int64_t v);
void tn_arg_bool(struct tn_req *r, bool v);
/* v when given, else NULL: an optional number. */
void tn_arg_i64_opt(struct tn_req *r, bool given, int64_t v);
/* $1 caller's user id (0: anonymous), $2 admin. */
void tn_arg_actor(struct tn_req *r);
/* An ":id" as two arguments: the number, or the full path. */
void tn_arg_ref(struct tn_req *r, const char *ref);
/* Runs stmt with the arguments (then cleared); cb gets r. */
void tn_exec(struct tn_req *r, struct pg_stmt *stmt, void (*cb)(PGresult *res, void *arg));

/* Answers. Each one finishes the request and frees r. */
void tn_reply(struct tn_req *r, int status, json_object *obj);
void tn_reply_empty(struct tn_req *r, int status);
void tn_fail(struct tn_req *r, int status, const char *message);
void tn_fail_param(struct tn_req *r, const char *message);
/* 404 "<what> Not Found" (what NULL: r->what). */
void tn_not_found(struct tn_req *r, const char *what);
/* A query failed: 500 (or 503 without a database), logged. */
void tn_db_error(struct tn_req *r, PGresult *res);
/* 400 {"message": {key: [text]}}: a model validation error. */
void tn_fail_validation(struct tn_req *r, const char *key, const char *text);
/* The status word of a tenancy write function's one-row result (schema/functions/tenancy.sql);
 * NULL once answered: the query failed (500/503), "not_found" (404 "<r->what> Not Found") or
 * "forbidden" (403). */
const char *tn_status(struct tn_req *r, PGresult *res);
/* DELETE of r->id with a delete function (group_delete, project_delete; $1 $2 the caller,
 * $3 $4 the reference): 202 Accepted, as GitLab deletes asynchronously, or the refusal. */
void tn_delete(struct tn_req *r, struct pg_stmt *stmt);
/* 401 unless a user (not a deploy token) is signed in; true when the caller may go on. */
bool tn_require_user(struct tn_req *r);
/* Whether a read query found its row; false once answered: the query failed (500/503), or 404
 * "<what> Not Found" (what NULL: r->what). */
bool tn_found(struct tn_req *r, PGresult *res, const char *what);
/* Whether a list query's result may be shown: its first row's "ok" says the source may be seen.
 * false once answered: the query failed (500/503), or 404 "<r->what> Not Found". */
bool tn_list_ok(struct tn_req *r, PGresult *res);
/* A page of a list query: its rows carry "ok" (the source may be seen), "total", and items whose
 * "id" is NULL when the page is empty. build makes one item. */
void tn_reply_list(struct tn_req *r, PGresult *res,
                   json_object *(*build)(struct tn_req *r, PGresult *res, int row));

/* Whether text is a valid group or project name (GitLab's rules); *why gets the message. */
bool tn_valid_group_name(const char *name, const char **why);
bool tn_valid_project_name(const char *name, const char **why);
extern const char tn_path_message[];
/* GitLab's limit on descriptions, in characters, and its message. */
#define TN_DESCRIPTION_MAX 2000
extern const char tn_description_message[];
/* Characters (not bytes) of UTF-8 text. */
size_t tn_chars(const char *s);

/* Columns the entity builders read. A project row joins its namespace n and the namespace's owner
 * o; the caller's direct project role (pm_level), group role (gm_level) and the shares the caller
 * may see need $1 and $2, the caller. A group detail row adds TN_GROUP_DETAIL_COLS. */
#define TN_GROUP_COLS                                                                              \
	"n.id, n.name, n.path, n.full_path, n.full_name, n.parent_id, n.visibility, n.description, "   \
	"gl_time(n.created_at) AS created_at"
#define TN_GROUP_DETAIL_COLS                                                                       \
	TN_GROUP_COLS ", group_shared_with_groups_json($1::bigint, $2::boolean, n.id)"                \
	              " AS shared_with_groups"
#define TN_NAMESPACE_COLS "n.id, n.name, n.path, n.kind, n.full_path, n.parent_id"
#define TN_PROJECT_COLS                                                                            \
	"p.id, p.name, p.path, p.full_path, p.description, p.visibility, "                             \
	"p.container_registry_access_level, p.creator_id, gl_time(p.created_at) AS created_at, "       \
	"gl_time(p.updated_at) AS updated_at, gl_time(p.last_activity_at) AS last_activity_at, "       \
	"n.id AS ns_id, n.name AS ns_name, n.path AS ns_path, n.kind AS ns_kind, "                     \
	"n.full_path AS ns_full_path, n.full_name AS ns_full_name, n.parent_id AS ns_parent_id, "      \
	"o.id AS owner_id, o.username AS owner_username, o.name AS owner_name, "                       \
	"o.state AS owner_state, "                                                                     \
	"container_expiration_policy_json(p.id) AS container_expiration_policy, "                      \
	"project_shared_with_groups_json($1::bigint, $2::boolean, p.id) AS shared_with_groups, "       \
	"(SELECT pm.access_level FROM project_members pm WHERE pm.project_id = p.id "                  \
	"   AND pm.user_id = $1::bigint AND (pm.expires_at IS NULL OR pm.expires_at > current_date)) " \
	"   AS pm_level, "                                                                             \
	"CASE WHEN n.kind = 'group' AND $1::bigint > 0 THEN group_access_level($1::bigint, n.id) END " \
	"   AS gm_level"
#define TN_PROJECT_FROM                                                                            \
	"projects p JOIN namespaces n ON n.id = p.namespace_id LEFT JOIN users o ON o.id = n.owner_id"
#define TN_MEMBER_COLS                                                                             \
	"u.id, u.username, u.name, u.state, m.access_level, "                                          \
	"to_char(m.expires_at, 'YYYY-MM-DD') AS expires_at, gl_time(m.created_at) AS created_at, "     \
	"c.id AS by_id, c.username AS by_username, c.name AS by_name, c.state AS by_state"

/* Entities, from rows with the columns above. */
json_object *tn_user_basic(struct tn_req *r, const char *id, const char *username,
                           const char *name, const char *state);
json_object *tn_group_json(struct tn_req *r, PGresult *res, int row);
/* GitLab's GroupDetail: the group and shared_with_groups. */
json_object *tn_group_detail_json(struct tn_req *r, PGresult *res, int row);
json_object *tn_namespace_json(struct tn_req *r, PGresult *res, int row);
json_object *tn_member_json(struct tn_req *r, PGresult *res, int row);
enum tn_project_shape { TN_PROJECT_BASIC, TN_PROJECT_FULL, TN_PROJECT_WITH_ACCESS };
json_object *tn_project_json(struct tn_req *r, PGresult *res, int row,
                             enum tn_project_shape shape);
/* A URL under the external URL; caller frees. */
char *tn_url(struct tn_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Route tables of each module. */
extern const struct route tn_group_routes[];
extern const size_t tn_group_nroutes;
extern const struct route tn_project_routes[];
extern const size_t tn_project_nroutes;
extern const struct route tn_member_routes[];
extern const size_t tn_member_nroutes;
extern const struct route tn_namespace_routes[];
extern const size_t tn_namespace_nroutes;
extern const struct route tn_share_routes[];
extern const size_t tn_share_nroutes;

/* api_projects.c: a project's JSON for the caller, read back after a write (201 or 200). */
void tn_project_reply(struct tn_req *r, int64_t id, int status);
/* api_groups.c: the same for a group. */
void tn_group_reply(struct tn_req *r, int64_t id, int status);

#endif

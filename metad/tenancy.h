/*
 * Groups, projects, namespaces and members over GitLab's REST API (v4): what the api_*.c modules
 * share beyond the REST layer's request (common/rest.h, rest_db.h), and their handlers (the rows
 * of common/routes.def). Rights and multi-step writes live in SQL (schema/functions/tenancy.sql
 * and rights.sql); the modules validate input, run one statement (or a write and the read of
 * its result) and shape GitLab's answers.
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
#include "rest.h"
#include "rest_db.h"

/* api_tenancy.c: deletes, names, entities. */

/* DELETE of :id with a delete function (group_delete, project_delete; $1 $2 the caller,
 * $3 $4 the reference): 202 Accepted, as GitLab deletes asynchronously, or the refusal. */
void tn_delete(struct rest_req *r, struct pg_stmt *stmt);

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
 * may see need $1 and $2, the caller. A group detail row adds TN_GROUP_DETAIL_COLS (with the
 * top-level group's usage for admins and its Owners: root_storage_statistics). */
#define TN_GROUP_COLS                                                                                \
	"n.id, n.name, n.path, n.full_path, n.full_name, n.parent_id, n.visibility, n.description, " \
	"gl_time(n.created_at) AS created_at"
#define TN_GROUP_DETAIL_COLS                                                                       \
	TN_GROUP_COLS ", group_shared_with_groups_json($1::bigint, $2::boolean, n.id)"             \
	              " AS shared_with_groups, "                                                   \
	              "CASE WHEN n.parent_id IS NULL AND ($2::boolean OR coalesce("                \
	              "group_access_level($1::bigint, n.id), 0) >= 50) THEN usage_of_root(n.id) "  \
	              "END AS root_container_registry_size"
/* A namespace's container registry usage and limit (a top-level namespace's; NULL for a
 * subgroup, which counts in its top-level namespace) shown to whom may manage it: admins, the
 * owner of a user namespace, a group's Owners (shown: that test, given the caller's levels). */
#define TN_NAMESPACE_COLS_SHOWN(shown)                                                             \
	"n.id, n.name, n.path, n.kind, n.full_path, n.parent_id, " shown " AS usage_shown, "       \
	"CASE WHEN n.parent_id IS NULL THEN usage_of_root(n.id) END "                              \
	"     AS container_registry_size, "                                                        \
	"CASE WHEN n.parent_id IS NULL THEN n.container_registry_storage_limit END "               \
	"     AS container_registry_storage_limit"
#define TN_NAMESPACE_COLS                                                                            \
	TN_NAMESPACE_COLS_SHOWN(                                                                     \
	        "CASE WHEN $2::boolean THEN true WHEN n.kind = 'user' THEN n.owner_id = $1::bigint " \
	        "     ELSE coalesce(group_access_level($1::bigint, n.id), 0) >= 50 END")
#define TN_PROJECT_COLS                                                                                \
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
	"u.id, u.username, u.name, u.state, m.access_level, "                                      \
	"to_char(m.expires_at, 'YYYY-MM-DD') AS expires_at, gl_time(m.created_at) AS created_at, " \
	"c.id AS by_id, c.username AS by_username, c.name AS by_name, c.state AS by_state"

/* Entities, from rows with the columns above. */
json_object *tn_user_basic(struct rest_req *r, const char *id, const char *username,
                           const char *name, const char *state);
json_object *tn_group_json(struct rest_req *r, const PGresult *res, int row);
/* GitLab's GroupDetail: the group and shared_with_groups. */
json_object *tn_group_detail_json(struct rest_req *r, const PGresult *res, int row);
json_object *tn_namespace_json(struct rest_req *r, const PGresult *res, int row);
json_object *tn_member_json(struct rest_req *r, const PGresult *res, int row);
enum tn_project_shape { TN_PROJECT_BASIC, TN_PROJECT_FULL, TN_PROJECT_WITH_ACCESS };
json_object *tn_project_json(struct rest_req *r, const PGresult *res, int row,
                             enum tn_project_shape shape);
/* A URL under the external URL; caller frees. */
char *tn_url(struct rest_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The handlers of each module: the rows of common/routes.def they serve. */
/* api_groups.c */
void groups_list(struct rest_req *r);
void groups_create(struct rest_req *r);
void groups_get(struct rest_req *r);
void groups_update(struct rest_req *r);
void groups_delete(struct rest_req *r);
void groups_subgroups(struct rest_req *r);
void groups_descendants(struct rest_req *r);
void groups_transfer(struct rest_req *r);
/* api_projects.c */
void projects_list(struct rest_req *r);
void projects_create(struct rest_req *r);
void projects_create_for_user(struct rest_req *r);
void projects_get(struct rest_req *r);
void projects_update(struct rest_req *r);
void projects_delete(struct rest_req *r);
void projects_transfer(struct rest_req *r);
void projects_of_group(struct rest_req *r);
void projects_transfer_to_group(struct rest_req *r);
void projects_of_user(struct rest_req *r);
/* api_members.c: a project's (members_project_*) or a group's (members_group_*) */
void members_project_list(struct rest_req *r);
void members_project_add(struct rest_req *r);
void members_project_list_all(struct rest_req *r);
void members_project_get_all(struct rest_req *r);
void members_project_get(struct rest_req *r);
void members_project_update(struct rest_req *r);
void members_project_remove(struct rest_req *r);
void members_group_list(struct rest_req *r);
void members_group_add(struct rest_req *r);
void members_group_list_all(struct rest_req *r);
void members_group_get_all(struct rest_req *r);
void members_group_get(struct rest_req *r);
void members_group_update(struct rest_req *r);
void members_group_remove(struct rest_req *r);
/* api_namespaces.c */
void namespaces_list(struct rest_req *r);
void namespaces_get(struct rest_req *r);
void namespaces_exists(struct rest_req *r);
void namespaces_update(struct rest_req *r);
/* Writes [metad] default_container_registry_storage_limit where new top-level namespaces take
 * it (a worker's start). */
void namespaces_default_limit_write(void);
/* api_shares.c */
void shares_project_share(struct rest_req *r);
void shares_project_unshare(struct rest_req *r);
void shares_project_groups(struct rest_req *r);
void shares_group_share(struct rest_req *r);
void shares_group_unshare(struct rest_req *r);

/* api_projects.c: a project's JSON for the caller, read back after a write (201 or 200). */
void tn_project_reply(struct rest_req *r, int64_t id, int status);
/* api_groups.c: the same for a group. */
void tn_group_reply(struct rest_req *r, int64_t id, int status);

#endif

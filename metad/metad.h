/*
 * metad: namespaces, projects, members, repositories, manifests and tags, kept in PostgreSQL.
 * The one private header of metad: the worker's state, then each module's entry points grouped
 * by file. Requests are the REST layer's (common/rest.h, rest_db.h); rights and multi-step
 * writes live in SQL (schema/functions/); the modules validate input, run one statement (or a
 * write and the read of its result) and shape the answers. The manifest parser has its own
 * header (manifest.h): it is pure and unit-tested on its own.
 */
#ifndef REGISTRY_METAD_H
#define REGISTRY_METAD_H

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "actor.h"
#include "gitlab.h"
#include "http.h"
#include "pg.h"
#include "rest.h"
#include "rest_db.h"
#include "router.h"
#include "v2reply.h"

struct cfg;
struct event_base;
struct http_headers;
struct pg_pool;
struct pgread;

struct metad {
	struct event_base *base;
	const struct cfg *cfg;
	struct pg_pool *db;
	struct pgread *read; /* the replica of [*] database_read, or NULL */
};

extern struct metad md;

/* ---- groups, projects, namespaces and members (GitLab's REST API v4) ----------------------- */

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
 * top-level group's usage for admins and its Owners: root_storage_statistics; the bytes it takes
 * on disk, this registry's own figure, for admins only). */
#define TN_GROUP_COLS                                                                                \
	"n.id, n.name, n.path, n.full_path, n.full_name, n.parent_id, n.visibility, n.description, " \
	"gl_time(n.created_at) AS created_at"
#define TN_GROUP_DETAIL_COLS                                                                       \
	TN_GROUP_COLS ", group_shared_with_groups_json($1::bigint, $2::boolean, n.id)"             \
	              " AS shared_with_groups, "                                                   \
	              "CASE WHEN n.parent_id IS NULL AND ($2::boolean OR coalesce("                \
	              "group_access_level($1::bigint, n.id), 0) >= 50) THEN usage_of_root(n.id) "  \
	              "END AS root_container_registry_size, "                                      \
	              "CASE WHEN n.parent_id IS NULL AND $2::boolean "                             \
	              "THEN usage_stored_of_root(n.id) END AS root_container_registry_stored_size"
/* A namespace's container registry usage and limit (a top-level namespace's; NULL for a
 * subgroup, which counts in its top-level namespace) shown to whom may manage it: admins, the
 * owner of a user namespace, a group's Owners (shown: that test, given the caller's levels); the
 * bytes its usage takes on disk to admins ($2) only. */
#define TN_NAMESPACE_COLS_SHOWN(shown)                                                             \
	"n.id, n.name, n.path, n.kind, n.full_path, n.parent_id, " shown " AS usage_shown, "       \
	"CASE WHEN n.parent_id IS NULL THEN usage_of_root(n.id) END "                              \
	"     AS container_registry_size, "                                                        \
	"CASE WHEN n.parent_id IS NULL AND $2::boolean THEN usage_stored_of_root(n.id) END "       \
	"     AS container_registry_stored_size, "                                                 \
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

/* ---- webhooks ------------------------------------------------------------------------------ */

/* api_hooks.c: /projects/:id/hooks and /groups/:id/hooks, /application/settings */
void hooks_project_list(struct rest_req *r);
void hooks_project_get(struct rest_req *r);
void hooks_project_create(struct rest_req *r);
void hooks_project_update(struct rest_req *r);
void hooks_project_delete(struct rest_req *r);
void hooks_group_list(struct rest_req *r);
void hooks_group_get(struct rest_req *r);
void hooks_group_create(struct rest_req *r);
void hooks_group_update(struct rest_req *r);
void hooks_group_delete(struct rest_req *r);
void hooks_project_test(struct rest_req *r);
void hooks_project_events(struct rest_req *r);
void hooks_project_resend(struct rest_req *r);
void hooks_group_test(struct rest_req *r);
void hooks_group_events(struct rest_req *r);
void hooks_group_resend(struct rest_req *r);
void app_settings_get(struct rest_req *r);
void app_settings_update(struct rest_req *r);

/* hooks_net.c: where a hook may be sent. */
#define HOOKS_URL_MAX 2048
struct sockaddr;
/* An http or https URL's host (unbracketed, caller frees) and port; -1 when it is not one. */
int hooks_url_parse(const char *url, char **host, int *port);
/* Whether an address is local (loopback, link-local, private, shared, unspecified, multicast). */
bool hooks_addr_local(const struct sockaddr *sa);
/* Whether a URL's host is local without resolving it: a local address literal or localhost. */
bool hooks_host_local(const char *host);
/* Resolves host: "host:port:address" for CURLOPT_RESOLVE (caller frees), or NULL with *why
 * (caller frees) when it does not resolve or, unless allow_local, any address is local. */
char *hooks_resolve(const char *host, int port, bool allow_local, char **why);

/* notify.c: Distribution's notifications. Makes the configuration's endpoints the database's
 * (once, in the master); -1 with *cause. */
struct cfg;
int notify_endpoints_sync(PGconn *conn, const struct cfg *cfg, char **cause);
/* The request's context for the events of a push or deletion (registry_request of
 * schema/functions/notifications.sql): JSON text, caller frees; tag: the tag pushed, or NULL. */
char *notify_request_json(const struct rest_req *r, const char *tag);
/* The headers of a delivery to an endpoint: Distribution's Content-Type and the configured ones
 * (headers: JSON [{key, value}]); caller frees with curl_slist_free_all. */
struct curl_slist;
struct curl_slist *notify_headers(const char *headers);

/* hooks_deliver.c: the worker's deliveries, from its start (the pool threads) to its drain. */
int hooks_deliver_start(char **cause);
void hooks_deliver_stop(void);

/* ---- GitLab's Container Registry API: repositories, tags, cleanup policies, jobs ---------- */

struct rg_call;
typedef void (*rg_step)(struct rg_call *c);

struct rg_call {
	struct rest_req *r;
	int64_t project_id;
	bool can_admin;  /* Maintainer or admin: delete_api_path shown */
	int64_t repo_id; /* the route's :repository_id */
	char *tag;       /* the route's :tag_name (decoded) */
	rg_step next;
};

/* Columns of a repository row (r: repositories) that rg_repository_json reads. */
#define RG_REPO_COLS                                                                               \
	"r.id, r.name, r.project_id, r.status, r.path, "                                           \
	"gl_time(r.created_at) AS created_at, "                                                    \
	"gl_time(r.cleanup_policy_started_at) AS cleanup_policy_started_at"

/* api_registry.c: the request's project and rights, and entities. */

/* The call of a request, kept with it (rest_state_new). */
struct rg_call *rg_call_new(struct rest_req *r);

/* Starts with the project of r->id as the caller sees it: 404 "Project Not Found" when it cannot
 * be seen, 403 when its images cannot be read; otherwise next runs with project_id set. A write
 * (write true) by an anonymous caller is 401 first. */
void rg_begin(struct rest_req *r, bool write, rg_step next);
/* Reads :repository_id into c->repo_id; 400 "repository_id is invalid" (and false) if bad. */
bool rg_repository_id(struct rg_call *c);
/* A repository entity; tags (a JSON array text of names), tags_count and size are added when
 * the row has those columns and they are not NULL. */
json_object *rg_repository_json(struct rest_req *r, const PGresult *res, int row, bool can_admin);
/* A tag entity: name, path, location. */
json_object *rg_tag_json(struct rest_req *r, const char *repo_path, const char *tag);
/* <registry host>/<path>[:<tag>] (caller frees). */
char *rg_location(struct rest_req *r, const char *path, const char *tag);

/* api_registry_repos.c: lists, a repository, its deletion (handlers of routes.def). */
void rg_repos_project(struct rest_req *r);
void rg_repos_group(struct rest_req *r);
void rg_repo_get(struct rest_req *r);
void rg_repo_delete(struct rest_req *r);

/* api_registry_tags.c: tags list, details, deletion one by one and in bulk (handlers of
 * routes.def). */
void rg_tags_list(struct rest_req *r);
void rg_tag_get(struct rest_req *r);
void rg_tag_delete(struct rest_req *r);
void rg_tags_bulk_delete(struct rest_req *r);

/* api_audit.c: GitLab's audit events API (handlers of routes.def). */
void audit_instance_list(struct rest_req *r);
void audit_instance_get(struct rest_req *r);
void audit_group_list(struct rest_req *r);
void audit_group_get(struct rest_req *r);
void audit_project_list(struct rest_req *r);
void audit_project_get(struct rest_req *r);

/* api_registry_protection.c: the protection rules of a project's registry (handlers of
 * routes.def). */
void rg_tag_rules_list(struct rest_req *r);
void rg_tag_rule_create(struct rest_req *r);
void rg_tag_rule_update(struct rest_req *r);
void rg_tag_rule_delete(struct rest_req *r);
void rg_repo_rules_list(struct rest_req *r);
void rg_repo_rule_create(struct rest_req *r);
void rg_repo_rule_update(struct rest_req *r);
void rg_repo_rule_delete(struct rest_req *r);

/* api_registry_policy.c: container_expiration_policy of projects (hooks of api_projects.c and
 * api_tenancy.c). */
/* The project's "container_expiration_policy" from the row's column of that name, or NULL. */
json_object *rg_policy_json(const PGresult *res, int row);
/* Whether the request carries container_expiration_policy_attributes (JSON or form keys). */
bool rg_policy_given(struct rest_req *r);
/* Validates them; -1 after answering 400. */
int rg_policy_check(struct rest_req *r);
/* Saves them for the project (already validated and the caller's rights checked), then runs
 * done(r, project_id, status). */
void rg_policy_save(struct rest_req *r, int64_t project_id, int status,
                    void (*done)(struct rest_req *r, int64_t project_id, int status));

/* registry_cleanup.c: the bulk-deletion rules (pure, unit-tested). */

/* Compiles an untrusted tag-name pattern anchored at both ends (as GitLab anchors it with \A
 * and \z), with RE2's restrictions that PCRE2 would not impose (no backreferences); NULL with
 * *why (GitLab's wording after "is an invalid regexp: ", caller frees) when it does not compile. */
pcre2_code *cleanup_regex_compile(const char *pattern, char **why);
/* The same, unanchored: a pattern that may match anywhere in a name (protection rules'
 * tag_name_pattern, which GitLab searches). */
pcre2_code *cleanup_regex_compile_search(const char *pattern, char **why);
/* 1 when name matches, 0 when not, -1 when the match limit stopped it. */
int cleanup_regex_match(const pcre2_code *re, const char *name);
/* A duration as GitLab's older_than takes it ("1h", "7d", "1month", "2 weeks", "1h30m") in
 * seconds; -1 when text is not one. */
int64_t cleanup_duration(const char *text);

struct cleanup_rules {
	const pcre2_code *delete_re; /* required */
	const pcre2_code *keep_re;   /* may be NULL */
	int64_t keep_n;              /* -1: keep none for their age */
};
struct cleanup_tag {
	const char *name;
	bool old_enough; /* the manifest is older than older_than (true without older_than) */
	bool doomed;     /* out: to delete */
};
/* Marks the tags to delete, tags ordered newest manifest first: those matching delete_re and
 * not keep_re, never "latest", past the keep_n newest of them, old enough. Returns how many.
 * The tags may come in pages, newest first: *kept (0 before the first) counts the matching tags
 * kept by keep_n so far. */
size_t cleanup_select(const struct cleanup_rules *rules, struct cleanup_tag *tags, size_t n,
                      size_t *kept);

/* registry_jobs.c: the background jobs of every worker. */
void regjobs_start(void);
void regjobs_stop(void);
/* A job was queued: look for work now rather than at the next tick. */
void regjobs_kick(void);

/* ---- the registry API (/v2) and the internal endpoints blobd calls ------------------------ */

/* v2params.c: what the /v2 handlers share. */
/* The raw (percent-decoded, '+' kept) value of a query parameter, or NULL. */
char *v2params_query(const char *query, const char *name);
/* Reads n (default dflt, at most max) and last; -1 after answering PAGINATION_NUMBER_INVALID. */
int v2params_page(struct http_txn *txn, long long dflt, long long max, long long *n, char **last);
/* A text[] literal of digests ("{sha256:..,sha256:..}"); digests need no quoting. */
char *v2params_digest_array(const char *const *digests, size_t n);

/* manifests.c: GET (and HEAD), PUT, DELETE /v2/:name/manifests/:reference */
void manifests_get(struct rest_req *r);
void manifests_put(struct rest_req *r);
void manifests_delete(struct rest_req *r);

/* tags.c: GET /v2/:name/tags/list */
void tags_list(struct rest_req *r);

/* tags_cache.c: tags/list answers per worker, valid while the repository's tags_version is. */
struct tags_page {
	int64_t repo;    /* the repository's id... */
	int64_t version; /* ...and tags_version when the answer was built */
	char *body;      /* the JSON answer */
	char *link;      /* the Link header to the next page, or NULL */
};
/* Copies the entry for exactly this name, n and last into out (free with tags_page_clear). */
bool tags_cache_get(const char *name, long long n, const char *last, struct tags_page *out);
/* Keeps a copy of page for this name, n and last (unless the body is large). */
void tags_cache_put(const char *name, long long n, const char *last, const struct tags_page *page);
void tags_page_clear(struct tags_page *p);

/* referrers.c: GET /v2/:name/referrers/:digest */
void referrers_list(struct rest_req *r);

/* catalog.c: GET /v2/_catalog */
void catalog_list(struct rest_req *r);

/* internal_blobs.c: /internal/blobs, /internal/mounts, /internal/uploads for blobd. */
extern const struct route internal_blob_routes[];
extern const size_t internal_blob_nroutes;
/* internal_uploads.c: /internal/upload-sessions for blobd (S3 storage's upload sessions). */
extern const struct route internal_upload_routes[];
extern const size_t internal_upload_nroutes;

/* internal_gc.c: /internal/gc/... for blobd: blob files to delete, their acknowledgement, orphans
 * of the placement journal. */
extern const struct route internal_gc_routes[];
extern const size_t internal_gc_nroutes;

/* gc.c: the garbage collection runs of every worker ([gc]). */
void gc_start(void);
/* Draining: no new run; one in progress ends after its statement in flight. */
void gc_stop(void);

#endif

/*
 * GitLab's Container Registry API (doc/api/container_registry.md) in metad: repositories and tags
 * of projects and groups, tag deletion one by one or in bulk, repository deletion, cleanup
 * policies, and the background jobs that do the long deletions. Private to metad; prototypes
 * grouped by file. Requests are the REST layer's (common/rest.h); a struct rg_call, kept with
 * the request, carries what it learns on the way.
 */
#ifndef REGISTRY_METAD_API_REGISTRY_H
#define REGISTRY_METAD_API_REGISTRY_H

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "router.h"
#include "tenancy.h"

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

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

#endif

/*
 * What the groups, projects, namespaces and members endpoints share beyond the REST layer
 * (common/rest.h): deletes, GitLab's name rules and wording, and the JSON entities built from
 * query rows.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "rest_db.h"
#include "util.h"

const char tn_path_message[] = "can contain only letters, digits, '_', '-' and '.'. Cannot start "
                               "with '-', end in '.git' or end in '.atom'";

const char tn_description_message[] = "is too long (maximum is 2000 characters)";

size_t
tn_chars(const char *s)
{
	return str_chars(s);
}

/* ---- deletes ------------------------------------------------------------------------------- */

/* Answers a delete function's status: 202, as GitLab deletes asynchronously, or the refusal. */
static void
deleted(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok)
		rest_fail(r, 202, "202 Accepted");
	else
		rest_status_answer(r, res, s);
}

void
tn_delete(struct rest_req *r, struct pg_stmt *stmt)
{
	if (!rest_require_user(r))
		return;
	rest_arg_actor(r);
	rest_arg_ref(r, rest_param(r, "id"));
	rest_exec(r, stmt, deleted, r);
}

/* ---- names ----------------------------------------------------------------------------------- */

/* Matches text against pattern (compiled once per worker, UTF-8 aware). */
static bool
utf8_match(pcre2_code **code, const char *pattern, const char *text)
{
	if (*code == NULL) {
		int err;
		PCRE2_SIZE off;
		*code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
		                      PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
		if (*code == NULL)
			fatal("bad name pattern at %zu: %d", (size_t)off, err);
	}
	pcre2_match_data *md_ = pcre2_match_data_create_from_pattern(*code, NULL);
	int rc = pcre2_match(*code, (PCRE2_SPTR)text, strlen(text), 0, 0, md_, NULL);
	pcre2_match_data_free(md_);
	return rc >= 0;
}

/* A name of 1 to 255 bytes matching pattern; *why gets GitLab's message, rule when it does not
 * match. */
static bool
valid_name(const char *name, pcre2_code **re, const char *pattern, const char *rule,
           const char **why)
{
	if (*name == '\0') {
		*why = "can't be blank";
		return false;
	}
	if (strlen(name) > 255) {
		*why = "is too long (maximum is 255 characters)";
		return false;
	}
	*why = rule;
	return utf8_match(re, pattern, name);
}

bool
tn_valid_group_name(const char *name, const char **why)
{
	static pcre2_code *re;
	return valid_name(name, &re,
	                  "^[\\p{L}\\p{N}\\x{00A9}-\\x{1f9ff}_]"
	                  "[\\p{L}\\p{N}\\p{Pd}_.() \\x{00A9}-\\x{1f9ff}]*$",
	                  "can contain only letters, digits, emoji, '_', '.', dash, space, "
	                  "parenthesis. It must start with letter, digit, emoji or '_'.",
	                  why);
}

bool
tn_valid_project_name(const char *name, const char **why)
{
	static pcre2_code *re;
	return valid_name(name, &re,
	                  "^[\\p{L}\\p{N}\\x{00A9}-\\x{1f9ff}_]"
	                  "[\\p{L}\\p{N}\\p{Pd}+_. \\x{00A9}-\\x{1f9ff}]*$",
	                  "can contain only letters, digits, emojis, '_', '.', '+', dashes, or "
	                  "spaces. It must start with a letter, digit, emoji, or '_'.",
	                  why);
}

/* ---- entities -------------------------------------------------------------------------------- */

char *
tn_url(struct rest_req *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *tail = xvasprintf(fmt, ap);
	va_end(ap);
	char *url = xasprintf("%s%s", gl_external_url(r->txn), tail);
	free(tail);
	return url;
}

/* Adds a string member, null for NULL. */
static void
add_str(json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, js_new_str_or_null(value));
}

/* Adds a column's text, null for SQL NULL. */
static void
add_col(json_object *o, const char *key, const PGresult *res, int row, const char *col)
{
	add_str(o, key, pg_get(res, row, col));
}

/* Adds a column as a number, null for SQL NULL. */
static void
add_int_col(json_object *o, const char *key, const PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	json_object_object_add(o, key, v ? json_object_new_int64(strtoll(v, NULL, 10)) : NULL);
}

/* Adds a column holding JSON text, parsed; null for SQL NULL. */
static void
add_json_col(json_object *o, const char *key, const PGresult *res, int row, const char *col)
{
	const char *v = pg_get(res, row, col);
	char *cause = NULL;
	json_object_object_add(o, key, v ? js_parse(v, strlen(v), &cause) : NULL);
	free(cause);
}

/* Adds external URL + prefix + path. */
static void
add_url(struct rest_req *r, json_object *o, const char *key, const char *prefix, const char *path)
{
	char *u = tn_url(r, "%s%s", prefix, path);
	add_str(o, key, u);
	free(u);
}

json_object *
tn_user_basic(struct rest_req *r, const char *id, const char *username, const char *name,
              const char *state)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(strtoll(id, NULL, 10)));
	add_str(o, "username", username);
	add_str(o, "name", name);
	add_str(o, "state", state);
	json_object_object_add(o, "avatar_url", NULL);
	add_url(r, o, "web_url", "/", username);
	return o;
}

/* GitLab's Group entity from a row: what group lists answer, and the base of GroupDetail. */
json_object *
tn_group_json(struct rest_req *r, const PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	add_int_col(o, "id", res, row, "id");
	add_url(r, o, "web_url", "/groups/", pg_get(res, row, "full_path"));
	add_col(o, "name", res, row, "name");
	add_col(o, "path", res, row, "path");
	add_col(o, "description", res, row, "description");
	add_col(o, "visibility", res, row, "visibility");
	json_object_object_add(o, "share_with_group_lock", json_object_new_boolean(false));
	json_object_object_add(o, "require_two_factor_authentication",
	                       json_object_new_boolean(false));
	/* the rules this registry applies: Developers create projects, Maintainers subgroups */
	add_str(o, "project_creation_level", "developer");
	add_str(o, "subgroup_creation_level", "maintainer");
	json_object_object_add(o, "avatar_url", NULL);
	json_object_object_add(o, "request_access_enabled", json_object_new_boolean(false));
	add_col(o, "full_name", res, row, "full_name");
	add_col(o, "full_path", res, row, "full_path");
	add_col(o, "created_at", res, row, "created_at");
	add_int_col(o, "parent_id", res, row, "parent_id");
	return o;
}

/* GitLab's storage statistics with the container registry's size (bytes) and zeros for what
 * this registry does not store. A project's storage_size leaves the registry out, as GitLab's
 * does; a top-level namespace's counts it (GitLab's root_storage_statistics). stored, unless
 * NULL: the bytes the registry's size takes on disk (container_registry_stored_size, admins'). */
static json_object *
storage_statistics(bool root, long long registry_size, const char *stored)
{
	static const char *const project_keys[] = { "commit_count",
		                                    "storage_size",
		                                    "repository_size",
		                                    "wiki_size",
		                                    "lfs_objects_size",
		                                    "job_artifacts_size",
		                                    "pipeline_artifacts_size",
		                                    "packages_size",
		                                    "snippets_size",
		                                    "uploads_size",
		                                    NULL };
	static const char *const root_keys[] = { "build_artifacts_size",
		                                 "dependency_proxy_size",
		                                 "lfs_objects_size",
		                                 "packages_size",
		                                 "pipeline_artifacts_size",
		                                 "repository_size",
		                                 "snippets_size",
		                                 "uploads_size",
		                                 "wiki_size",
		                                 NULL };
	json_object *o = json_object_new_object();
	for (const char *const *k = root ? root_keys : project_keys; *k != NULL; k++)
		json_object_object_add(o, *k, json_object_new_int(0));
	json_object_object_add(o, "container_registry_size", json_object_new_int64(registry_size));
	if (stored != NULL)
		json_object_object_add(o, "container_registry_stored_size",
		                       json_object_new_int64(strtoll(stored, NULL, 10)));
	if (root) {
		json_object_object_add(o, "container_registry_size_is_estimated",
		                       json_object_new_boolean(false));
		json_object_object_add(o, "storage_size", json_object_new_int64(registry_size));
	}
	return o;
}

json_object *
tn_group_detail_json(struct rest_req *r, const PGresult *res, int row)
{
	json_object *o = tn_group_json(r, res, row);
	add_json_col(o, "shared_with_groups", res, row, "shared_with_groups");
	if (pg_get(res, row, "root_container_registry_size") != NULL)
		json_object_object_add(
		        o, "root_storage_statistics",
		        storage_statistics(
		                true, pg_get_int(res, row, "root_container_registry_size"),
		                pg_get(res, row, "root_container_registry_stored_size")));
	return o;
}

json_object *
tn_namespace_json(struct rest_req *r, const PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	const char *kind = pg_get(res, row, "kind");
	bool group = kind != NULL && strcmp(kind, "group") == 0;
	add_int_col(o, "id", res, row, "id");
	add_col(o, "name", res, row, "name");
	add_col(o, "path", res, row, "path");
	add_str(o, "kind", kind);
	add_col(o, "full_path", res, row, "full_path");
	add_int_col(o, "parent_id", res, row, "parent_id");
	json_object_object_add(o, "avatar_url", NULL);
	add_url(r, o, "web_url", group ? "/groups/" : "/", pg_get(res, row, "full_path"));
	if (pg_get_bool(res, row, "usage_shown")) {
		add_int_col(o, "container_registry_size", res, row, "container_registry_size");
		add_int_col(o, "container_registry_storage_limit", res, row,
		            "container_registry_storage_limit");
		if (r->actor.admin)
			add_int_col(o, "container_registry_stored_size", res, row,
			            "container_registry_stored_size");
	}
	return o;
}

json_object *
tn_member_json(struct rest_req *r, const PGresult *res, int row)
{
	json_object *o = tn_user_basic(r, pg_get(res, row, "id"), pg_get(res, row, "username"),
	                               pg_get(res, row, "name"), pg_get(res, row, "state"));
	add_int_col(o, "access_level", res, row, "access_level");
	add_col(o, "created_at", res, row, "created_at");
	if (pg_get(res, row, "by_id") != NULL)
		json_object_object_add(
		        o, "created_by",
		        tn_user_basic(r, pg_get(res, row, "by_id"), pg_get(res, row, "by_username"),
		                      pg_get(res, row, "by_name"), pg_get(res, row, "by_state")));
	add_col(o, "expires_at", res, row, "expires_at");
	add_str(o, "membership_state", "active");
	return o;
}

/* {"access_level": n, "notification_level": 3} or null. */
static json_object *
access_json(const PGresult *res, int row, const char *col)
{
	long long level = pg_get_int(res, row, col);
	if (level <= 0)
		return NULL;
	json_object *o = json_object_new_object();
	json_object_object_add(o, "access_level", json_object_new_int64(level));
	json_object_object_add(o, "notification_level", json_object_new_int(3));
	return o;
}

json_object *
tn_project_json(struct rest_req *r, const PGresult *res, int row, enum tn_project_shape shape)
{
	json_object *o = json_object_new_object();
	const char *full_path = pg_get(res, row, "full_path");
	const char *ns_kind = pg_get(res, row, "ns_kind");
	bool group = ns_kind != NULL && strcmp(ns_kind, "group") == 0;
	add_int_col(o, "id", res, row, "id");
	add_col(o, "description", res, row, "description");
	add_col(o, "name", res, row, "name");
	char *nwn =
	        xasprintf("%s / %s", pg_get(res, row, "ns_full_name"), pg_get(res, row, "name"));
	add_str(o, "name_with_namespace", nwn);
	free(nwn);
	add_col(o, "path", res, row, "path");
	add_str(o, "path_with_namespace", full_path);
	add_col(o, "created_at", res, row, "created_at");
	json_object_object_add(o, "default_branch", NULL);
	json_object_object_add(o, "tag_list", json_object_new_array());
	json_object_object_add(o, "topics", json_object_new_array());
	add_url(r, o, "web_url", "/", full_path);
	json_object_object_add(o, "avatar_url", NULL);
	json_object_object_add(o, "forks_count", json_object_new_int(0));
	json_object_object_add(o, "star_count", json_object_new_int(0));
	add_col(o, "last_activity_at", res, row, "last_activity_at");

	json_object *ns = json_object_new_object();
	add_int_col(ns, "id", res, row, "ns_id");
	add_col(ns, "name", res, row, "ns_name");
	add_col(ns, "path", res, row, "ns_path");
	add_str(ns, "kind", ns_kind);
	add_col(ns, "full_path", res, row, "ns_full_path");
	add_int_col(ns, "parent_id", res, row, "ns_parent_id");
	json_object_object_add(ns, "avatar_url", NULL);
	add_url(r, ns, "web_url", group ? "/groups/" : "/", pg_get(res, row, "ns_full_path"));
	json_object_object_add(o, "namespace", ns);

	/* images live at <registry host>/<full path>, lowercase as image names must be */
	char *host = gl_registry_host(r->txn);
	char *prefix = xasprintf("%s/%s", host, full_path);
	for (char *p = prefix + strlen(host); *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	add_str(o, "container_registry_image_prefix", prefix);
	free(prefix);
	free(host);
	if (shape == TN_PROJECT_BASIC)
		return o;

	json_object *links = json_object_new_object();
	const char *id = pg_get(res, row, "id");
	char *self = tn_url(r, "/api/v4/projects/%s", id);
	add_str(links, "self", self);
	char *members = xasprintf("%s/members", self);
	add_str(links, "members", members);
	free(members);
	free(self);
	json_object_object_add(o, "_links", links);
	json_object_object_add(o, "archived", json_object_new_boolean(false));
	add_col(o, "visibility", res, row, "visibility");
	if (!group && pg_get(res, row, "owner_id") != NULL)
		json_object_object_add(o, "owner",
		                       tn_user_basic(r, pg_get(res, row, "owner_id"),
		                                     pg_get(res, row, "owner_username"),
		                                     pg_get(res, row, "owner_name"),
		                                     pg_get(res, row, "owner_state")));
	const char *crl = pg_get(res, row, "container_registry_access_level");
	json_object_object_add(
	        o, "container_registry_enabled",
	        json_object_new_boolean(crl != NULL && strcmp(crl, "disabled") != 0));
	add_str(o, "container_registry_access_level", crl);
	/* the cleanup policy: api_registry_policy.c */
	json_object_object_add(o, "container_expiration_policy", rg_policy_json(res, row));
	add_json_col(o, "shared_with_groups", res, row, "shared_with_groups");
	add_int_col(o, "creator_id", res, row, "creator_id");
	add_col(o, "updated_at", res, row, "updated_at");
	/* ?statistics=true, to Reporters and admins (a row of q_project_get_statistics) */
	if (PQfnumber(res, "container_registry_size") >= 0 &&
	    pg_get(res, row, "container_registry_size") != NULL)
		json_object_object_add(
		        o, "statistics",
		        storage_statistics(false, pg_get_int(res, row, "container_registry_size"),
		                           pg_get(res, row, "container_registry_stored_size")));
	if (shape == TN_PROJECT_WITH_ACCESS) {
		json_object *perm = json_object_new_object();
		json_object_object_add(perm, "project_access", access_json(res, row, "pm_level"));
		json_object_object_add(perm, "group_access", access_json(res, row, "gm_level"));
		json_object_object_add(o, "permissions", perm);
	}
	return o;
}

/*
 * The protection rules of a project's container registry over GitLab's API:
 * /projects/:id/registry/protection/tag/rules[/:protection_rule_id] and
 * /projects/:id/registry/protection/repository/rules[/:protection_rule_id] (list, create, update,
 * delete). A repository rule's repository_path_pattern is a path with * wildcards, checked in SQL.
 * A rule's tag_name_pattern is an untrusted regex searched in tag names (checked here as GitLab
 * checks it: at most 100 characters, RE2 syntax, compiled by registry_cleanup.c); its levels are
 * maintainer, owner or admin, and a rule created with immutable=true (this registry's extension of
 * GitLab's REST shape, which has immutable rules over GraphQL only) has none. The rules' writes and
 * the one check every tag change asks are SQL (schema/functions/registry_protection.sql).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metad.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

#define PATTERN_MAX 100

PG_STMT(q_rules, "SELECT status, rules::text AS rules FROM registry_tag_rules($1, $2, $3)");
PG_STMT(q_create, "SELECT status, detail, rule::text AS rule"
                  " FROM registry_tag_rule_create($1, $2, $3, $4, $5,"
                  " registry_protection_level($6), registry_protection_level($7))");
PG_STMT(q_update, "SELECT status, detail, rule::text AS rule"
                  " FROM registry_tag_rule_update($1, $2, $3, $4, $5::jsonb, $6)");
PG_STMT(q_delete, "SELECT registry_tag_rule_delete($1, $2, $3, $4) AS status");
PG_STMT(q_repo_rules,
        "SELECT status, rules::text AS rules FROM registry_repository_rules($1, $2, $3)");
PG_STMT(q_repo_save, "SELECT status, detail, rule::text AS rule"
                     " FROM registry_repository_rule_save($1, $2, $3, $4, $5::jsonb)");
PG_STMT(q_repo_delete, "SELECT registry_repository_rule_delete($1, $2, $3, $4) AS status");

static const char *const levels[] = { "maintainer", "owner", "admin", NULL };
/* a repository rule's levels on PATCH: "" unsets one */
static const char *const levels_or_none[] = { "maintainer", "owner", "admin", "", NULL };

/* How GitLab words a rule's model errors: a list on a tag rule's create, a list under "error" on
 * its update, a sentence under "error" for repository rules. */
enum shape { SHAPE_LIST, SHAPE_ERROR_LIST, SHAPE_ERROR };

/* What GitLab's model says of a pattern after "Tag name pattern ", or NULL when it is fine. */
static char *
pattern_problem(const char *pattern)
{
	if (*pattern == '\0')
		return xstrdup("can't be blank");
	if (strlen(pattern) > PATTERN_MAX)
		return xasprintf("is too long (maximum is %d characters)", PATTERN_MAX);
	char *why = NULL;
	pcre2_code *re = cleanup_regex_compile_search(pattern, &why);
	if (re == NULL) {
		char *msg = xasprintf("not valid RE2 syntax: %s", why);
		free(why);
		return msg;
	}
	pcre2_code_free(re);
	return NULL;
}

/* A write's refusal in GitLab's words: the model's errors (the pattern's, after its label, and
 * rule_levels_missing) shaped as GitLab's endpoint shapes them, the others as the status table
 * says. */
static void
rule_refused(struct rest_req *r, const PGresult *res, enum status_word s, const char *label,
             enum shape shape)
{
	if (s != STATUS_rule_taken && s != STATUS_rule_pattern_invalid &&
	    s != STATUS_rule_levels_missing) {
		rest_status_answer(r, res, s);
		return;
	}
	char *text = status_text(s, pg_get(res, 0, "detail"));
	char *msg =
	        s == STATUS_rule_levels_missing ? xstrdup(text) : xasprintf("%s %s", label, text);
	json_object *err = json_object_new_string(msg);
	if (shape != SHAPE_ERROR) {
		json_object *list = json_object_new_array();
		json_object_array_add(list, err);
		err = list;
	}
	json_object *body = json_object_new_object();
	if (shape == SHAPE_LIST) {
		json_object_object_add(body, "message", err);
	} else {
		json_object *inner = json_object_new_object();
		json_object_object_add(inner, "error", err);
		json_object_object_add(body, "message", inner);
	}
	rest_reply(r, 422, body);
	free(msg);
	free(text);
}

/* ---- list ---------------------------------------------------------------------------------- */

/* The rules, or the refusal. */
static void
rules_listed(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s == STATUS_ok)
		rest_reply(c->r, 200, rest_column_json(res, 0, "rules"));
	else
		rest_status_answer(c->r, res, s);
}

/* GET .../rules, once the project may be read. */
static void
rules_list(struct rg_call *c)
{
	rest_arg_actor(c->r);
	rest_arg_i64(c->r, c->project_id);
	rest_exec(c->r, &q_rules, rules_listed, c);
}

void
rg_tag_rules_list(struct rest_req *r)
{
	rg_begin(r, true, rules_list);
}

/* ---- create -------------------------------------------------------------------------------- */

/* 201 with the rule, or GitLab's refusal. */
static void
rule_created(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s == STATUS_ok)
		rest_reply(c->r, 201, rest_column_json(res, 0, "rule"));
	else if (s != STATUS_NONE)
		rule_refused(c->r, res, s, "Tag name pattern", SHAPE_LIST);
}

/* POST .../rules, once the project may be read (the parameters were checked before). */
static void
rule_create(struct rg_call *c)
{
	struct rest_req *r = c->r;
	const char *pattern = rest_str(r, "tag_name_pattern");
	char *invalid = pattern_problem(pattern);
	rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	rest_arg(r, pattern);
	rest_arg(r, invalid);
	rest_arg(r, rest_str(r, "minimum_access_level_for_push"));
	rest_arg(r, rest_str(r, "minimum_access_level_for_delete"));
	free(invalid);
	rest_exec(r, &q_create, rule_created, c);
}

/* Grape's 400 for a required parameter absent, or a string one that is not a string: -1. */
static int
required_str(struct rest_req *r, const char *key)
{
	if (!rest_has(r, key)) {
		char *msg = xasprintf("%s is missing", key);
		rest_fail_param(r, msg);
		free(msg);
		return -1;
	}
	if (rest_str(r, key) == NULL) {
		char *msg = xasprintf("%s is invalid", key);
		rest_fail_param(r, msg);
		free(msg);
		return -1;
	}
	return 0;
}

void
rg_tag_rule_create(struct rest_req *r)
{
	bool immutable = false;
	const char *level;
	if (required_str(r, "tag_name_pattern") < 0 || rest_bool(r, "immutable", &immutable) < 0)
		return;
	if (immutable) {
		if (rest_has(r, "minimum_access_level_for_push") ||
		    rest_has(r, "minimum_access_level_for_delete")) {
			rest_fail_param(r,
			                "immutable, minimum_access_level_for_push, "
			                "minimum_access_level_for_delete are mutually exclusive");
			return;
		}
	} else if (required_str(r, "minimum_access_level_for_push") < 0 ||
	           required_str(r, "minimum_access_level_for_delete") < 0 ||
	           rest_enum(r, "minimum_access_level_for_push", levels, &level) < 0 ||
	           rest_enum(r, "minimum_access_level_for_delete", levels, &level) < 0) {
		return;
	}
	rg_begin(r, true, rule_create);
}

/* ---- update -------------------------------------------------------------------------------- */

/* The route's :protection_rule_id; 400 (false) when it is not a number. */
static bool
rule_id(struct rest_req *r, int64_t *id)
{
	if (str_to_i64(rest_param(r, "protection_rule_id"), 1, INT64_MAX, id) < 0) {
		rest_fail_param(r, "protection_rule_id is invalid");
		return false;
	}
	return true;
}

/* 200 with the rule, or GitLab's refusal. */
static void
rule_updated(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s == STATUS_ok)
		rest_reply(c->r, 200, rest_column_json(res, 0, "rule"));
	else if (s != STATUS_NONE)
		rule_refused(c->r, res, s, "Tag name pattern", SHAPE_ERROR_LIST);
}

/* PATCH .../rules/:protection_rule_id, once the project may be read. */
static void
rule_update(struct rg_call *c)
{
	static const char *const keys[] = { "tag_name_pattern", "minimum_access_level_for_push",
		                            "minimum_access_level_for_delete", NULL };
	struct rest_req *r = c->r;
	int64_t id;
	if (!rule_id(r, &id))
		return;
	json_object *attrs = json_object_new_object();
	for (size_t i = 0; keys[i] != NULL; i++)
		if (rest_has(r, keys[i]))
			json_object_object_add(attrs, keys[i],
			                       json_object_new_string(rest_str(r, keys[i])));
	const char *pattern =
	        rest_has(r, "tag_name_pattern") ? rest_str(r, "tag_name_pattern") : NULL;
	char *invalid = pattern ? pattern_problem(pattern) : NULL;
	rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	rest_arg_i64(r, id);
	rest_arg(r, js_text(attrs));
	rest_arg(r, invalid);
	json_object_put(attrs);
	free(invalid);
	rest_exec(r, &q_update, rule_updated, c);
}

void
rg_tag_rule_update(struct rest_req *r)
{
	const char *level;
	if ((rest_has(r, "tag_name_pattern") && required_str(r, "tag_name_pattern") < 0) ||
	    rest_enum(r, "minimum_access_level_for_push", levels, &level) < 0 ||
	    rest_enum(r, "minimum_access_level_for_delete", levels, &level) < 0)
		return;
	rg_begin(r, true, rule_update);
}

/* ---- delete -------------------------------------------------------------------------------- */

/* 204, or GitLab's refusal. */
static void
rule_deleted(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s == STATUS_ok)
		rest_reply_empty(c->r, 204);
	else
		rest_status_answer(c->r, res, s);
}

/* DELETE .../rules/:protection_rule_id, once the project may be read. */
static void
rule_delete(struct rg_call *c)
{
	struct rest_req *r = c->r;
	int64_t id;
	if (!rule_id(r, &id))
		return;
	rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	rest_arg_i64(r, id);
	rest_exec(r, &q_delete, rule_deleted, c);
}

void
rg_tag_rule_delete(struct rest_req *r)
{
	rg_begin(r, true, rule_delete);
}

/* ---- container repository rules ------------------------------------------------------------ */

/* GET .../repository/rules, once the project may be read. */
static void
repo_rules_list(struct rg_call *c)
{
	rest_arg_actor(c->r);
	rest_arg_i64(c->r, c->project_id);
	rest_exec(c->r, &q_repo_rules, rules_listed, c);
}

void
rg_repo_rules_list(struct rest_req *r)
{
	rg_begin(r, true, repo_rules_list);
}

/* 201 (created) or 200 (updated) with the rule, or GitLab's refusal. */
static void
repo_rule_saved(PGresult *res, void *arg)
{
	struct rg_call *c = arg;
	enum status_word s = rest_status(c->r, res);
	if (s == STATUS_ok)
		rest_reply(c->r, c->r->mode ? 200 : 201, rest_column_json(res, 0, "rule"));
	else if (s != STATUS_NONE)
		rule_refused(c->r, res, s, "Repository path pattern", SHAPE_ERROR);
}

/* POST or PATCH (r->mode 1) of a repository rule, once the project may be read. */
static void
repo_rule_save(struct rg_call *c)
{
	static const char *const keys[] = { "repository_path_pattern",
		                            "minimum_access_level_for_push",
		                            "minimum_access_level_for_delete", NULL };
	struct rest_req *r = c->r;
	int64_t id = 0;
	if (r->mode && !rule_id(r, &id))
		return;
	json_object *attrs = json_object_new_object();
	for (size_t i = 0; keys[i] != NULL; i++)
		if (rest_has(r, keys[i]))
			json_object_object_add(attrs, keys[i],
			                       json_object_new_string(rest_str(r, keys[i])));
	rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	if (r->mode)
		rest_arg_i64(r, id);
	else
		rest_arg(r, NULL);
	rest_arg(r, js_text(attrs));
	json_object_put(attrs);
	rest_exec(r, &q_repo_save, repo_rule_saved, c);
}

void
rg_repo_rule_create(struct rest_req *r)
{
	const char *level;
	if (required_str(r, "repository_path_pattern") < 0)
		return;
	if (!rest_has(r, "minimum_access_level_for_push") &&
	    !rest_has(r, "minimum_access_level_for_delete")) {
		rest_fail_param(
		        r, "minimum_access_level_for_push, minimum_access_level_for_delete are "
		           "missing, at least one parameter must be provided");
		return;
	}
	if (rest_enum(r, "minimum_access_level_for_push", levels, &level) < 0 ||
	    rest_enum(r, "minimum_access_level_for_delete", levels, &level) < 0)
		return;
	r->mode = 0;
	rg_begin(r, true, repo_rule_save);
}

void
rg_repo_rule_update(struct rest_req *r)
{
	const char *level;
	if ((rest_has(r, "repository_path_pattern") &&
	     required_str(r, "repository_path_pattern") < 0) ||
	    rest_enum(r, "minimum_access_level_for_push", levels_or_none, &level) < 0 ||
	    rest_enum(r, "minimum_access_level_for_delete", levels_or_none, &level) < 0)
		return;
	r->mode = 1;
	rg_begin(r, true, repo_rule_save);
}

/* DELETE .../repository/rules/:protection_rule_id, once the project may be read. */
static void
repo_rule_delete(struct rg_call *c)
{
	struct rest_req *r = c->r;
	int64_t id;
	if (!rule_id(r, &id))
		return;
	rest_arg_actor(r);
	rest_arg_i64(r, c->project_id);
	rest_arg_i64(r, id);
	rest_exec(r, &q_repo_delete, rule_deleted, c);
}

void
rg_repo_rule_delete(struct rest_req *r)
{
	rg_begin(r, true, repo_rule_delete);
}

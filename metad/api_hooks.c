/*
 * Webhooks over GitLab's API: /projects/:id/hooks[/:hook_id] (Maintainers of the project) and
 * /groups/:id/hooks[/:hook_id] (Owners of the group, fired for the projects of the group and its
 * subgroups): list, get, create, edit, delete; a test event (.../test/:trigger), the deliveries
 * of the last 7 days (.../events) and their resending (.../events/:hook_event_id/resend), which
 * go through the delivery queue as any event; and the application setting that lets hooks
 * reach the local network (/application/settings, admins). A hook's token and its custom headers'
 * values are written, never shown. The URL is checked here (hooks_net.c); the rights, the
 * setting and the writes are SQL (schema/functions/hooks.sql); delivery is hooks_deliver.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "json.h"
#include "metad.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

PG_STMT(q_list, "SELECT status, total, id, hook::text AS hook"
                " FROM hooks_list($1, $2, $3, $4, $5, $6, $7)");
PG_STMT(q_get, "SELECT status, hook::text AS hook FROM hook_get($1, $2, $3, $4, $5, $6)");
PG_STMT(q_save, "SELECT status, hook::text AS hook"
                " FROM hook_save($1, $2, $3, $4, $5, $6, $7::jsonb, $8)");
PG_STMT(q_delete, "SELECT hook_delete($1, $2, $3, $4, $5, $6) AS status");
PG_STMT(q_test, "SELECT status, detail FROM hook_test($1, $2, $3, $4, $5, $6, $7)");
PG_STMT_READ(q_events, "SELECT status, total, id, event::text AS event"
                       " FROM hook_events_list($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
PG_STMT(q_resend, "SELECT hook_event_resend($1, $2, $3, $4, $5, $6, $7) AS status");
PG_STMT_READ(q_settings, "SELECT application_settings_json()::text AS settings");
PG_STMT(q_settings_save, "SELECT application_settings_save($1::jsonb)::text AS settings");

/* the event switches a hook takes, all booleans */
static const char *const bool_keys[] = { "push_events",
	                                 "tag_push_events",
	                                 "container_registry_events",
	                                 "container_registry_tag_push_events",
	                                 "container_registry_tag_delete_events",
	                                 "container_registry_repository_delete_events",
	                                 "container_registry_quota_exceeded_events",
	                                 "enable_ssl_verification",
	                                 NULL };
/* its text attributes */
static const char *const text_keys[] = { "name", "description", "token", NULL };

/* GitLab's test triggers (ProjectHook's, GroupHook's): only the container registry's have events
 * here; the others are refused as the registry has none of them */
static const char *const project_triggers[] = { "push_events",
	                                        "tag_push_events",
	                                        "issues_events",
	                                        "confidential_issues_events",
	                                        "note_events",
	                                        "confidential_note_events",
	                                        "merge_requests_events",
	                                        "job_events",
	                                        "pipeline_events",
	                                        "wiki_page_events",
	                                        "deployment_events",
	                                        "feature_flag_events",
	                                        "releases_events",
	                                        "emoji_events",
	                                        "resource_access_token_events",
	                                        "container_registry_events",
	                                        NULL };
static const char *const group_triggers[] = { "member_events", "subgroup_events", "project_events",
	                                      NULL };

/* the status categories of GET .../events (GitLab's status filter) */
static const char *const status_classes[] = { "successful", "client_failure", "server_failure",
	                                      NULL };
#define EVENTS_PER_PAGE_MAX 20

#define HEADER_KEY_MAX 255
#define HEADER_VALUE_MAX 2048
#define HEADERS_MAX 20

/* The kind of owner of the route (r->mode): a project's hooks or a group's. */
static const char *
owner_kind(struct rest_req *r)
{
	return r->mode ? "group" : "project";
}

/* Sets what a 404 names and the owner's kind; false once answered (anonymous: 401). */
static bool
hooks_begin(struct rest_req *r, int mode)
{
	r->mode = mode;
	r->what = mode ? "Group" : "Project";
	return rest_require_user(r);
}

/* The SQL arguments every statement starts with: the caller, the owner's kind and reference. */
static void
owner_args(struct rest_req *r)
{
	rest_arg_actor(r);
	rest_arg(r, owner_kind(r));
	rest_arg_ref(r, rest_param(r, "id"));
}

/* The route's :hook_id; 400 (false) when it is not a number. */
static bool
hook_id(struct rest_req *r, int64_t *id)
{
	if (str_to_i64(rest_param(r, "hook_id"), 1, INT64_MAX, id) < 0) {
		rest_fail_param(r, "hook_id is invalid");
		return false;
	}
	return true;
}

/* 422 {"error": "Invalid url given"}: GitLab's answer to a hook url it refuses (malformed, or
 * on the local network while local requests are not allowed). */
static void
url_refused(struct rest_req *r)
{
	char *msg = status_text(STATUS_hook_url_invalid, NULL);
	rest_fail_error(r, 422, msg);
	free(msg);
}

/* Answers a statement's row: its JSON column with status 200 (r->num: another status), or the
 * refusal. */
static void
answered(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_hook_url_invalid) {
		url_refused(r);
		return;
	}
	if (s != STATUS_ok) {
		rest_status_answer(r, res, s);
		return;
	}
	if (PQfnumber(res, "hook") >= 0)
		rest_reply(r, r->num ? (int)r->num : 200, rest_column_json(res, 0, "hook"));
	else
		rest_reply_empty(r, 204);
}

/* A hook, or a log, of a list's row. */
static json_object *
row_json(struct rest_req *r, const PGresult *res, int row)
{
	(void)r;
	return rest_column_json(res, row, PQfnumber(res, "hook") >= 0 ? "hook" : "event");
}

/* A page of a list (hooks, logs) with GitLab's paging headers, or the refusal. */
static void
listed(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (rest_page_status_ok(r, res))
		rest_reply_list(r, res, row_json);
}

/* GET .../hooks: a page of them */
static void
hooks_list(struct rest_req *r, int mode)
{
	if (!hooks_begin(r, mode) || rest_page(r) < 0)
		return;
	owner_args(r);
	rest_arg_page(r);
	rest_exec(r, &q_list, listed, r);
}

/* GET .../hooks/:hook_id */
static void
hooks_get(struct rest_req *r, int mode)
{
	int64_t id;
	if (!hooks_begin(r, mode) || !hook_id(r, &id))
		return;
	owner_args(r);
	rest_arg_i64(r, id);
	rest_exec(r, &q_get, answered, r);
}

/* Whether text may be sent in a header: no control characters. */
static bool
header_text_ok(const char *s, bool name)
{
	if (*s == '\0' && name)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (name && (*p == ':' || *p == ' ' || *p >= 0x80))
			return false;
	}
	return true;
}

/* custom_headers as given ([{"key": ..., "value": ...}]), checked, into attrs; false once
 * answered with 400. */
static bool
custom_headers_read(struct rest_req *r, json_object *attrs)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(r->params, "custom_headers", &v))
		return true;
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > HEADERS_MAX)
		goto bad;
	json_object *out = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *e = json_object_array_get_idx(v, i), *k = NULL, *val = NULL;
		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "key", &k) ||
		    !json_object_is_type(k, json_type_string) ||
		    !json_object_object_get_ex(e, "value", &val) ||
		    !json_object_is_type(val, json_type_string) ||
		    strlen(json_object_get_string(k)) > HEADER_KEY_MAX ||
		    strlen(json_object_get_string(val)) > HEADER_VALUE_MAX ||
		    !header_text_ok(json_object_get_string(k), true) ||
		    !header_text_ok(json_object_get_string(val), false)) {
			json_object_put(out);
			goto bad;
		}
		json_object *h = json_object_new_object();
		json_object_object_add(h, "key", json_object_new_string(json_object_get_string(k)));
		json_object_object_add(h, "value",
		                       json_object_new_string(json_object_get_string(val)));
		json_object_array_add(out, h);
	}
	json_object_object_add(attrs, "custom_headers", out);
	return true;
bad:
	rest_fail_param(r, "custom_headers is invalid");
	return false;
}

/* POST .../hooks (update false) or PUT .../hooks/:hook_id: the parameters checked as Grape
 * checks them, the url as GitLab's model does (422 "Invalid url given"), then the write. */
static void
hooks_save(struct rest_req *r, int mode, bool update)
{
	int64_t id = 0;
	if (!hooks_begin(r, mode) || (update && !hook_id(r, &id)))
		return;
	if (!update && !rest_has(r, "url")) {
		rest_fail_param(r, "url is missing");
		return;
	}
	json_object *attrs = json_object_new_object();
	for (size_t i = 0; bool_keys[i] != NULL; i++) {
		bool b;
		int got = rest_bool(r, bool_keys[i], &b);
		if (got < 0) {
			json_object_put(attrs);
			return;
		}
		if (got > 0)
			json_object_object_add(attrs, bool_keys[i], json_object_new_boolean(b));
	}
	for (size_t i = 0; text_keys[i] != NULL; i++) {
		if (!rest_has(r, text_keys[i]))
			continue;
		const char *s = rest_str(r, text_keys[i]);
		if (s == NULL || strlen(s) > (strcmp(text_keys[i], "description") ? 255u : 2048u)) {
			char *msg = xasprintf("%s is invalid", text_keys[i]);
			rest_fail_param(r, msg);
			free(msg);
			json_object_put(attrs);
			return;
		}
		json_object_object_add(attrs, text_keys[i], json_object_new_string(s));
	}
	if (!custom_headers_read(r, attrs)) {
		json_object_put(attrs);
		return;
	}
	bool local = false;
	if (rest_has(r, "url")) {
		const char *url = rest_str(r, "url");
		char *host = NULL;
		int port;
		if (url == NULL || hooks_url_parse(url, &host, &port) < 0) {
			json_object_put(attrs);
			url_refused(r);
			return;
		}
		local = hooks_host_local(host);
		free(host);
		json_object_object_add(attrs, "url", json_object_new_string(url));
		char *reg = gl_registry_host(r->txn);
		json_object_object_add(attrs, "registry_host", json_object_new_string(reg));
		free(reg);
	}
	r->num = update ? 200 : 201;
	owner_args(r);
	if (update)
		rest_arg_i64(r, id);
	else
		rest_arg(r, NULL);
	rest_arg(r, js_text(attrs));
	rest_arg_bool(r, local);
	json_object_put(attrs);
	rest_exec(r, &q_save, answered, r);
}

/* DELETE .../hooks/:hook_id */
static void
hooks_delete(struct rest_req *r, int mode)
{
	int64_t id;
	if (!hooks_begin(r, mode) || !hook_id(r, &id))
		return;
	owner_args(r);
	rest_arg_i64(r, id);
	rest_exec(r, &q_delete, answered, r);
}

/* Whether name is one of names (NULL-terminated). */
static bool
among(const char *name, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* The test's answer: 201 {"message": "201 Created"} once queued, or the refusal. */
static void
tested(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s == STATUS_ok)
		rest_fail(r, 201, NULL);
	else
		rest_status_answer(r, res, s);
}

/* POST .../hooks/:hook_id/test/:trigger: a trigger GitLab knows (400 "trigger does not have a
 * valid value" otherwise), a test event queued for the hook. */
static void
hooks_test(struct rest_req *r, int mode)
{
	int64_t id;
	if (!hooks_begin(r, mode) || !hook_id(r, &id))
		return;
	const char *trigger = rest_param(r, "trigger");
	if (trigger == NULL ||
	    !(among(trigger, project_triggers) || (mode && among(trigger, group_triggers)))) {
		rest_fail_param(r, "trigger does not have a valid value");
		return;
	}
	owner_args(r);
	rest_arg_i64(r, id);
	rest_arg(r, trigger);
	rest_exec(r, &q_test, tested, r);
}

/* The status filter of GET .../events (Grape's comma-separated Array[String]: HTTP status
 * codes and GitLab's categories) as two PostgreSQL arrays, NULL when absent (caller frees);
 * false once answered 400 "status does not have a valid value". */
static bool
status_filter(struct rest_req *r, char **codes, char **classes)
{
	*codes = *classes = NULL;
	char **list = rest_list(r, "status");
	if (list == NULL) {
		if (!rest_has(r, "status"))
			return true;
		rest_fail_param(r, "status does not have a valid value");
		return false;
	}
	struct evbuffer *c = evbuffer_new(), *k = evbuffer_new();
	bool ok = list[0] != NULL;
	for (size_t i = 0; ok && list[i] != NULL; i++) {
		int64_t code;
		if (among(list[i], status_classes))
			evbuffer_add_printf(k, "%s%s", evbuffer_get_length(k) ? "," : "", list[i]);
		else if (str_to_i64(list[i], 100, 599, &code) == 0 && strlen(list[i]) == 3)
			evbuffer_add_printf(c, "%s%s", evbuffer_get_length(c) ? "," : "", list[i]);
		else
			ok = false;
	}
	strv_free(list);
	if (ok) {
		*codes = xasprintf("{%.*s}", (int)evbuffer_get_length(c),
		                   (const char *)evbuffer_pullup(c, -1));
		*classes = xasprintf("{%.*s}", (int)evbuffer_get_length(k),
		                     (const char *)evbuffer_pullup(k, -1));
	} else {
		rest_fail_param(r, "status does not have a valid value");
	}
	evbuffer_free(c);
	evbuffer_free(k);
	return ok;
}

/* GET .../hooks/:hook_id/events: a page (per_page 1..20, as GitLab's) of the hook's deliveries
 * of the last 7 days, newest first. */
static void
hooks_events(struct rest_req *r, int mode)
{
	int64_t id, per_page;
	char *codes, *classes;
	if (!hooks_begin(r, mode) || !hook_id(r, &id))
		return;
	int got = rest_int(r, "per_page", &per_page);
	if (got < 0)
		return;
	if (got > 0 && (per_page < 1 || per_page > EVENTS_PER_PAGE_MAX)) {
		rest_fail_param(r, "per_page does not have a valid value");
		return;
	}
	if (rest_page(r) < 0 || !status_filter(r, &codes, &classes))
		return;
	owner_args(r);
	rest_arg_i64(r, id);
	rest_arg(r, codes);
	rest_arg(r, classes);
	rest_arg_page(r);
	free(codes);
	free(classes);
	rest_exec(r, &q_events, listed, r);
}

/* The resend's answer: 201 once queued ({"response_status": null}: the receiver's answer will
 * be a new event), or the refusal. */
static void
resent(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	enum status_word s = rest_status(r, res);
	if (s != STATUS_ok) {
		rest_status_answer(r, res, s);
		return;
	}
	json_object *o = json_object_new_object();
	json_object_object_add(o, "response_status", NULL);
	rest_reply(r, 201, o);
}

/* POST .../hooks/:hook_id/events/:hook_event_id/resend */
static void
hooks_resend(struct rest_req *r, int mode)
{
	int64_t id, event;
	if (!hooks_begin(r, mode) || !hook_id(r, &id))
		return;
	if (str_to_i64(rest_param(r, "hook_event_id"), 1, INT64_MAX, &event) < 0) {
		rest_fail_param(r, "hook_event_id is invalid");
		return;
	}
	owner_args(r);
	rest_arg_i64(r, id);
	rest_arg_i64(r, event);
	rest_exec(r, &q_resend, resent, r);
}

void
hooks_project_test(struct rest_req *r)
{
	hooks_test(r, 0);
}

void
hooks_project_events(struct rest_req *r)
{
	hooks_events(r, 0);
}

void
hooks_project_resend(struct rest_req *r)
{
	hooks_resend(r, 0);
}

void
hooks_group_test(struct rest_req *r)
{
	hooks_test(r, 1);
}

void
hooks_group_events(struct rest_req *r)
{
	hooks_events(r, 1);
}

void
hooks_group_resend(struct rest_req *r)
{
	hooks_resend(r, 1);
}

void
hooks_project_list(struct rest_req *r)
{
	hooks_list(r, 0);
}

void
hooks_project_get(struct rest_req *r)
{
	hooks_get(r, 0);
}

void
hooks_project_create(struct rest_req *r)
{
	hooks_save(r, 0, false);
}

void
hooks_project_update(struct rest_req *r)
{
	hooks_save(r, 0, true);
}

void
hooks_project_delete(struct rest_req *r)
{
	hooks_delete(r, 0);
}

void
hooks_group_list(struct rest_req *r)
{
	hooks_list(r, 1);
}

void
hooks_group_get(struct rest_req *r)
{
	hooks_get(r, 1);
}

void
hooks_group_create(struct rest_req *r)
{
	hooks_save(r, 1, false);
}

void
hooks_group_update(struct rest_req *r)
{
	hooks_save(r, 1, true);
}

void
hooks_group_delete(struct rest_req *r)
{
	hooks_delete(r, 1);
}

/* ---- application settings ------------------------------------------------------------------ */

/* The settings' row: 200 with them. */
static void
settings_answered(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!rest_found(r, res, NULL))
		return;
	rest_reply(r, 200, rest_column_json(res, 0, "settings"));
}

void
app_settings_get(struct rest_req *r)
{
	if (!rest_require_admin(r))
		return;
	rest_exec(r, &q_settings, settings_answered, r);
}

void
app_settings_update(struct rest_req *r)
{
	static const char *const keys[] = { "allow_local_requests_from_web_hooks_and_services",
		                            NULL };
	if (!rest_require_admin(r))
		return;
	json_object *attrs = json_object_new_object();
	for (size_t i = 0; keys[i] != NULL; i++) {
		bool b;
		int got = rest_bool(r, keys[i], &b);
		if (got < 0) {
			json_object_put(attrs);
			return;
		}
		if (got > 0)
			json_object_object_add(attrs, keys[i], json_object_new_boolean(b));
	}
	rest_arg(r, js_text(attrs));
	json_object_put(attrs);
	rest_exec(r, &q_settings_save, settings_answered, r);
}

/*
 * Webhooks over GitLab's API: /projects/:id/hooks[/:hook_id] (Maintainers of the project) and
 * /groups/:id/hooks[/:hook_id] (Owners of the group, fired for the projects of the group and its
 * subgroups): list, get, create, edit, delete; and the application setting that lets hooks reach
 * the local network (/application/settings, admins). A hook's token and its custom headers'
 * values are written, never shown. The URL is checked here (hooks_net.c); the rights, the
 * setting and the writes are SQL (schema/functions/hooks.sql); delivery is hooks_deliver.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metad.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

PG_STMT(q_list, "SELECT status, hooks::text AS hooks FROM hooks_list($1, $2, $3, $4, $5)");
PG_STMT(q_get, "SELECT status, hook::text AS hook FROM hook_get($1, $2, $3, $4, $5, $6)");
PG_STMT(q_save, "SELECT status, hook::text AS hook"
                " FROM hook_save($1, $2, $3, $4, $5, $6, $7::jsonb, $8)");
PG_STMT(q_delete, "SELECT hook_delete($1, $2, $3, $4, $5, $6) AS status");
PG_STMT_READ(q_settings, "SELECT application_settings_json()::text AS settings");
PG_STMT(q_settings_save, "SELECT application_settings_save($1::jsonb)::text AS settings");

/* the event switches a hook takes, all booleans */
static const char *const bool_keys[] = { "push_events", "tag_push_events",
	                                 "container_registry_events", "enable_ssl_verification",
	                                 NULL };
/* its text attributes */
static const char *const text_keys[] = { "name", "description", "token", NULL };

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
	if (PQfnumber(res, "hooks") >= 0)
		rest_reply(r, 200, rest_column_json(res, 0, "hooks"));
	else if (PQfnumber(res, "hook") >= 0)
		rest_reply(r, r->num ? (int)r->num : 200, rest_column_json(res, 0, "hook"));
	else
		rest_reply_empty(r, 204);
}

/* GET .../hooks */
static void
hooks_list(struct rest_req *r, int mode)
{
	if (!hooks_begin(r, mode))
		return;
	owner_args(r);
	rest_exec(r, &q_list, answered, r);
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

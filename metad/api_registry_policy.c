/*
 * Cleanup policies (GitLab's container_expiration_policy): PUT /projects/:id takes
 * container_expiration_policy_attributes (a JSON object, or form keys
 * container_expiration_policy_attributes[cadence]=...), the project's JSON shows
 * container_expiration_policy. The values are GitLab's option lists; the regexes must compile
 * under the same rules as bulk deletion. registry_jobs.c runs the enabled policies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metad.h"
#include "pg.h"
#include "util.h"

#define ATTRS "container_expiration_policy_attributes"

PG_STMT(q_policy_save, "SELECT container_expiration_policy_save($1, $2::jsonb)");

static const char *const cadences[] = { "1d", "7d", "14d", "1month", "3month", NULL };
static const char *const older_thans[] = { "7d", "14d", "30d", "90d", NULL };
static const int64_t keep_ns[] = { 1, 5, 10, 25, 50, 100 };

/* The attributes as one object (caller puts it), NULL when none were sent. A JSON body gives an
 * object; a form gives keys "container_expiration_policy_attributes[cadence]". */
static json_object *
attrs_of(struct rest_req *r, bool *bad)
{
	*bad = false;
	json_object *v = NULL;
	if (json_object_object_get_ex(r->params, ATTRS, &v)) {
		if (v != NULL && !json_object_is_type(v, json_type_object)) {
			*bad = true;
			return NULL;
		}
		return v ? json_object_get(v) : NULL;
	}
	json_object *out = NULL;
	size_t plen = strlen(ATTRS);
	json_object_object_foreach(r->params, key, val)
	{
		size_t len = strlen(key);
		if (len > plen + 2 && strncmp(key, ATTRS, plen) == 0 && key[plen] == '[' &&
		    key[len - 1] == ']') {
			if (out == NULL)
				out = json_object_new_object();
			char *inner = xstrndup(key + plen + 1, len - plen - 2);
			json_object_object_add(out, inner, json_object_get(val));
			free(inner);
		}
	}
	return out;
}

bool
rg_policy_given(struct rest_req *r)
{
	bool bad;
	json_object *a = attrs_of(r, &bad);
	json_object_put(a);
	return a != NULL || bad;
}

/* A value as text (strings, numbers, booleans), NULL otherwise. */
static const char *
scalar(json_object *v)
{
	if (v == NULL)
		return NULL;
	switch (json_object_get_type(v)) {
	case json_type_string:
	case json_type_int:
	case json_type_boolean:
		return json_object_get_string(v);
	default:
		return NULL;
	}
}

/* Grape's Boolean: true/false and their usual spellings. -1 when not one. */
static int
bool_value(json_object *v)
{
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v);
	const char *s = scalar(v);
	static const char *const yes[] = { "true", "1", "t", "yes", "y", "on" };
	static const char *const no[] = { "false", "0", "f", "no", "n", "off" };
	for (size_t i = 0; s != NULL && i < nitems(yes); i++) {
		if (str_eq_nocase(s, yes[i]))
			return 1;
		if (str_eq_nocase(s, no[i]))
			return 0;
	}
	return -1;
}

/* Whether s is one of values. */
static bool
one_of(const char *s, const char *const *values)
{
	for (size_t i = 0; s != NULL && values[i] != NULL; i++)
		if (strcmp(s, values[i]) == 0)
			return true;
	return false;
}

/* Validates the attributes into the object the SQL function takes (caller puts it). NULL with
 * the request answered (400) when a value is wrong: Grape's {"error"} for a wrong type,
 * the model's {"message": {"container_expiration_policy.<key>": [...]}} for a value outside
 * GitLab's lists. */
static json_object *
attrs_valid(struct rest_req *r, json_object *attrs)
{
	json_object *out = json_object_new_object();
	char *param_error = NULL;
	const char *field = NULL, *text = NULL;
	char *regex_error = NULL;
	json_object_object_foreach(attrs, key, val)
	{
		if (param_error != NULL || field != NULL)
			break;
		if (strcmp(key, "enabled") == 0) {
			int b = val == NULL ? -1 : bool_value(val);
			if (b < 0)
				param_error = xasprintf(ATTRS "[enabled] is invalid");
			else
				json_object_object_add(out, "enabled", json_object_new_boolean(b));
		} else if (strcmp(key, "cadence") == 0) {
			const char *s = scalar(val);
			if (val != NULL && s == NULL)
				param_error = xasprintf(ATTRS "[cadence] is invalid");
			else if (!one_of(s, cadences))
				field = "cadence",
				text = s ? "is not included in the list" : "can't be blank";
			else
				json_object_object_add(out, "cadence", json_object_new_string(s));
		} else if (strcmp(key, "keep_n") == 0) {
			const char *s = scalar(val);
			int64_t n = 0;
			if (val == NULL || (s != NULL && *s == '\0')) {
				json_object_object_add(out, "keep_n", NULL);
			} else if (s == NULL || !gl_int_text(s, &n)) {
				param_error = xasprintf(ATTRS "[keep_n] is invalid");
			} else {
				bool ok = false;
				for (size_t i = 0; i < nitems(keep_ns); i++)
					ok = ok || keep_ns[i] == n;
				if (ok)
					json_object_object_add(out, "keep_n",
					                       json_object_new_int64(n));
				else
					field = "keep_n", text = "is not included in the list";
			}
		} else if (strcmp(key, "older_than") == 0) {
			const char *s = scalar(val);
			if (val == NULL || (s != NULL && *s == '\0'))
				json_object_object_add(out, "older_than", NULL);
			else if (s == NULL)
				param_error = xasprintf(ATTRS "[older_than] is invalid");
			else if (!one_of(s, older_thans))
				field = "older_than", text = "is not included in the list";
			else
				json_object_object_add(out, "older_than",
				                       json_object_new_string(s));
		} else if (strcmp(key, "name_regex") == 0 ||
		           strcmp(key, "name_regex_delete") == 0 ||
		           strcmp(key, "name_regex_keep") == 0) {
			/* name_regex_delete is what newer clients send for name_regex */
			const char *column = strcmp(key, "name_regex_keep") == 0 ? "name_regex_keep"
			                                                         : "name_regex";
			const char *s = val == NULL ? NULL : json_object_get_string(val);
			if (val != NULL && !json_object_is_type(val, json_type_string)) {
				param_error = xasprintf(ATTRS "[%s] is invalid", key);
			} else if (s != NULL && *s != '\0') {
				char *why = NULL;
				pcre2_code *re = cleanup_regex_compile(s, &why);
				if (re == NULL) {
					field = column;
					regex_error = xasprintf("not valid RE2 syntax: %s", why);
					text = regex_error;
					free(why);
				}
				pcre2_code_free(re);
			}
			if (param_error == NULL && field == NULL && strlen(s ? s : "") > 255) {
				field = column;
				text = "is too long (maximum is 255 characters)";
			}
			if (param_error == NULL && field == NULL)
				json_object_object_add(out, column, js_new_str_or_null(s));
		}
		/* other keys are ignored, as Grape ignores undeclared parameters */
	}
	if (param_error != NULL) {
		rest_fail_param(r, param_error);
		free(param_error);
	} else if (field != NULL) {
		char *name = xasprintf("container_expiration_policy.%s", field);
		rest_fail_validation(r, name, text);
		free(name);
	}
	free(regex_error);
	if (param_error != NULL || field != NULL) {
		json_object_put(out);
		return NULL;
	}
	return out;
}

int
rg_policy_check(struct rest_req *r)
{
	bool bad;
	json_object *attrs = attrs_of(r, &bad);
	if (bad) {
		rest_fail_param(r, ATTRS " is invalid");
		return -1;
	}
	if (attrs == NULL)
		return 0;
	json_object *valid = attrs_valid(r, attrs);
	json_object_put(attrs);
	if (valid == NULL)
		return -1;
	json_object_put(valid);
	return 0;
}

struct policy_save {
	struct rest_req *r;
	int64_t project_id;
	int status;
	void (*done)(struct rest_req *r, int64_t project_id, int status);
};

/* Saved: the project's answer goes on. */
static void
policy_saved(PGresult *res, void *arg)
{
	struct policy_save *s = arg;
	struct rest_req *r = s->r;
	int64_t id = s->project_id;
	int status = s->status;
	void (*done)(struct rest_req *, int64_t, int) = s->done;
	free(s);
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	done(r, id, status);
}

void
rg_policy_save(struct rest_req *r, int64_t project_id, int status,
               void (*done)(struct rest_req *r, int64_t project_id, int status))
{
	bool bad;
	json_object *attrs = attrs_of(r, &bad);
	if (attrs == NULL) {
		done(r, project_id, status);
		return;
	}
	/* rg_policy_check passed the same attributes before the update: this cannot fail */
	json_object *valid = attrs_valid(r, attrs);
	json_object_put(attrs);
	if (valid == NULL)
		return;
	struct policy_save *s = xcalloc(1, sizeof(*s));
	s->r = r;
	s->project_id = project_id;
	s->status = status;
	s->done = done;
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)project_id);
	const char *params[] = { id, js_text(valid) };
	rest_exec_values(r, &q_policy_save, 2, params, policy_saved, s);
	json_object_put(valid);
}

json_object *
rg_policy_json(const PGresult *res, int row)
{
	return rest_column_json(res, row, "container_expiration_policy");
}

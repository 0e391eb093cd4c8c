/* The notification endpoints of the configuration ([notifications.<name>] sections). */
#include "notify_cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* The actions Distribution's endpoints may ignore. */
static const char *const notify_actions[] = { "push", "pull", "mount", "delete" };

/* The endpoint of that name in the array, made when new. */
static json_object *
endpoint_of(json_object *endpoints, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(endpoints); i++) {
		json_object *e = json_object_array_get_idx(endpoints, i), *n;
		if (json_object_object_get_ex(e, "name", &n) &&
		    strcmp(json_object_get_string(n), name) == 0)
			return e;
	}
	json_object *e = json_object_new_object();
	json_object_object_add(e, "name", json_object_new_string(name));
	json_object_object_add(e, "headers", json_object_new_array());
	json_object_object_add(e, "timeout", json_object_new_int(10));
	json_object_object_add(e, "threshold", json_object_new_int(10));
	json_object_object_add(e, "backoff", json_object_new_int(10));
	json_object_object_add(e, "ignored_actions", json_object_new_array());
	json_object_object_add(e, "ignored_media_types", json_object_new_array());
	json_object_array_add(endpoints, e);
	return e;
}

/* A whole number of seconds in [min, max]; -1 when it is not one. */
static long
seconds(const char *v, long min, long max)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || n < min || n > max)
		return -1;
	return n;
}

/* A comma-separated list as a JSON array of its trimmed, non-empty items; with allowed (NULL
 * terminated) each must be one of them. NULL for a bad item (*bad names it). */
static json_object *
list_of(const char *v, const char *const *allowed, size_t nallowed, char **bad)
{
	json_object *a = json_object_new_array();
	char *copy = xstrdup(v), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t')
			t++;
		size_t n = strlen(t);
		while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
			t[--n] = '\0';
		if (n == 0)
			continue;
		bool ok = allowed == NULL;
		for (size_t i = 0; i < nallowed; i++)
			ok = ok || strcmp(t, allowed[i]) == 0;
		if (!ok) {
			*bad = xstrdup(t);
			json_object_put(a);
			free(copy);
			return NULL;
		}
		json_object_array_add(a, json_object_new_string(t));
	}
	free(copy);
	return a;
}

/* Whether a url is http(s) with something after the scheme and no space or control byte. */
static bool
url_valid(const char *v)
{
	size_t n = strlen(v);
	if (n > 2048 || !((strncmp(v, "http://", 7) == 0 && n > 7) ||
	                  (strncmp(v, "https://", 8) == 0 && n > 8)))
		return false;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* "Name: value" as {key, value}; NULL when malformed. */
static json_object *
header_of(const char *v)
{
	const char *colon = strchr(v, ':');
	if (colon == NULL || colon == v)
		return NULL;
	for (const char *p = v; p < colon; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return NULL;
	for (const char *p = colon + 1; *p; p++)
		if (*p == '\r' || *p == '\n')
			return NULL;
	const char *value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	json_object *h = json_object_new_object();
	json_object_object_add(h, "key", json_object_new_string_len(v, (int)(colon - v)));
	json_object_object_add(h, "value", json_object_new_string(value));
	return h;
}

int
notify_cfg_set(json_object **endpoints, const char *name, const char *key, const char *value,
               char **cause)
{
	if (*name == '\0' || strlen(name) > NOTIFY_NAME_MAX) {
		*cause = xasprintf("[%s%s]: an endpoint's name has 1 to %d characters",
		                   NOTIFY_CFG_PREFIX, name, NOTIFY_NAME_MAX);
		return -1;
	}
	if (*endpoints == NULL)
		*endpoints = json_object_new_array();
	json_object *e = endpoint_of(*endpoints, name);
	if (strcmp(key, "url") == 0) {
		if (!url_valid(value)) {
			*cause = xasprintf("[%s%s] url: an http:// or https:// URL, not \"%s\"",
			                   NOTIFY_CFG_PREFIX, name, value);
			return -1;
		}
		json_object_object_add(e, "url", json_object_new_string(value));
	} else if (strcmp(key, "header") == 0) {
		json_object *h = header_of(value), *list;
		if (h == NULL) {
			*cause = xasprintf("[%s%s] header: \"Name: value\", not \"%s\"",
			                   NOTIFY_CFG_PREFIX, name, value);
			return -1;
		}
		json_object_object_get_ex(e, "headers", &list);
		json_object_array_add(list, h);
	} else if (strcmp(key, "timeout") == 0 || strcmp(key, "threshold") == 0 ||
	           strcmp(key, "backoff") == 0) {
		long max = strcmp(key, "timeout") == 0   ? 3600
		           : strcmp(key, "backoff") == 0 ? 86400
		                                         : 1000000;
		long n = seconds(value, 1, max);
		if (n < 0) {
			*cause = xasprintf("[%s%s] %s: a whole number from 1 to %ld, not \"%s\"",
			                   NOTIFY_CFG_PREFIX, name, key, max, value);
			return -1;
		}
		json_object_object_add(e, key, json_object_new_int((int)n));
	} else if (strcmp(key, "ignored_actions") == 0 || strcmp(key, "ignored_media_types") == 0) {
		bool actions = strcmp(key, "ignored_actions") == 0;
		char *bad = NULL;
		json_object *list = list_of(value, actions ? notify_actions : NULL,
		                            actions ? nitems(notify_actions) : 0, &bad);
		if (list == NULL) {
			*cause = xasprintf(
			        "[%s%s] ignored_actions: \"%s\" is not one of push, pull, "
			        "mount, delete",
			        NOTIFY_CFG_PREFIX, name, bad);
			free(bad);
			return -1;
		}
		json_object_object_add(e, key, list);
	} else if (strcmp(key, "disabled") == 0) {
		bool on = strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
		          strcmp(value, "1") == 0;
		if (!on && strcasecmp(value, "false") != 0 && strcasecmp(value, "no") != 0 &&
		    strcmp(value, "0") != 0) {
			*cause = xasprintf("[%s%s] disabled: true or false, not \"%s\"",
			                   NOTIFY_CFG_PREFIX, name, value);
			return -1;
		}
		json_object_object_add(e, "disabled", json_object_new_boolean(on));
	} else {
		*cause = xasprintf("unknown parameter \"%s\" in [%s%s]", key, NOTIFY_CFG_PREFIX,
		                   name);
		return -1;
	}
	return 0;
}

int
notify_cfg_finish(json_object *endpoints, char **cause)
{
	for (size_t i = endpoints ? json_object_array_length(endpoints) : 0; i-- > 0;) {
		json_object *e = json_object_array_get_idx(endpoints, i), *v;
		if (!json_object_object_get_ex(e, "url", &v)) {
			json_object_object_get_ex(e, "name", &v);
			*cause = xasprintf("[%s%s] has no url", NOTIFY_CFG_PREFIX,
			                   json_object_get_string(v));
			return -1;
		}
		if (json_object_object_get_ex(e, "disabled", &v) && json_object_get_boolean(v))
			json_object_array_del_idx(endpoints, i, 1);
	}
	return 0;
}

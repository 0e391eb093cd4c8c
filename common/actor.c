/* Identity carried from the gateway to the backends. */
#include "actor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "util.h"
#include "wire.h"

static const char *const kind_names[] = {
	[AUTH_ANONYMOUS] = "anonymous",
	[AUTH_PASSWORD] = "password",
	[AUTH_PERSONAL_ACCESS_TOKEN] = "personal_access_token",
	[AUTH_OAUTH] = "oauth",
	[AUTH_DEPLOY_TOKEN] = "deploy_token",
};

static const struct {
	const char *name;
	unsigned bit;
} scope_names[] = {
	{ "api", SCOPE_API },
	{ "read_api", SCOPE_READ_API },
	{ "read_user", SCOPE_READ_USER },
	{ "read_registry", SCOPE_READ_REGISTRY },
	{ "write_registry", SCOPE_WRITE_REGISTRY },
	{ "sudo", SCOPE_SUDO },
};

static const struct {
	const char *name;
	unsigned bit;
} action_names[] = {
	{ "pull", ACT_PULL },
	{ "push", ACT_PUSH },
	{ "delete", ACT_DELETE },
	{ "*", ACT_STAR },
};

/* How a credential kind is spelled on the wire, in tokens and in logs. */
const char *
auth_kind_name(enum auth_kind kind)
{
	return kind_names[kind];
}

/* Reads a credential kind back from that spelling; anything unknown is anonymous. */
enum auth_kind
auth_kind_parse(const char *name)
{
	for (size_t i = 0; i < nitems(kind_names); i++)
		if (name != NULL && strcmp(name, kind_names[i]) == 0)
			return (enum auth_kind)i;
	return AUTH_ANONYMOUS;
}

unsigned
scope_bit(const char *name)
{
	for (size_t i = 0; i < nitems(scope_names); i++)
		if (strcmp(name, scope_names[i].name) == 0)
			return scope_names[i].bit;
	return 0;
}

/* Splits a comma- or space-separated list and ORs the bits lookup gives. */
static unsigned
parse_list(const char *list, unsigned (*lookup)(const char *), bool *bad)
{
	unsigned bits = 0;
	if (list == NULL)
		return 0;
	char *copy = xstrdup(list);
	char *save = NULL;
	for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		unsigned b = lookup(t);
		if (b == 0 && bad != NULL)
			*bad = true;
		bits |= b;
	}
	free(copy);
	return bits;
}

unsigned
scopes_parse(const char *list, bool *bad)
{
	return parse_list(list, scope_bit, bad);
}

/* The bit of one registry action name ("pull", "push", "delete", "*"), 0 if unknown. */
static unsigned
action_bit(const char *name)
{
	for (size_t i = 0; i < nitems(action_names); i++)
		if (strcmp(name, action_names[i].name) == 0)
			return action_names[i].bit;
	return 0;
}

unsigned
actions_parse(const char *list)
{
	return parse_list(list, action_bit, NULL);
}

/* Lists the names of the scope or action bits set, comma-separated; caller frees. */
static char *
format_bits(unsigned bits, bool actions)
{
	char buf[256] = "";
	size_t n = actions ? nitems(action_names) : nitems(scope_names);
	for (size_t i = 0; i < n; i++) {
		unsigned b = actions ? action_names[i].bit : scope_names[i].bit;
		const char *name = actions ? action_names[i].name : scope_names[i].name;
		if (!(bits & b))
			continue;
		if (buf[0])
			strncat(buf, ",", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, name, sizeof(buf) - strlen(buf) - 1);
	}
	return xstrdup(buf);
}

char *
scopes_format(unsigned scopes)
{
	return format_bits(scopes, false);
}

char *
actions_format(unsigned actions)
{
	return format_bits(actions, true);
}

/* Whether a user is behind the request (not anonymous, not a deploy token): REST needs one. */
bool
actor_signed_in(const struct actor *a)
{
	return a->user_id > 0;
}

/* Reads a grant's binding, "<project_id>:<generation>" (wire.h); zeros when absent or bad. */
static struct actor_grant
grant_parse(const char *v)
{
	struct actor_grant g = { 0, 0 };
	const char *colon = v != NULL ? strchr(v, ':') : NULL;
	if (colon == NULL)
		return g;
	char *project = xstrndup(v, (size_t)(colon - v));
	int64_t id, gen;
	if (str_to_i64(project, 1, INT64_MAX, &id) == 0 &&
	    str_to_i64(colon + 1, 1, INT64_MAX, &gen) == 0) {
		g.project_id = id;
		g.generation = gen;
	}
	free(project);
	return g;
}

/* Writes a grant's binding into header name, when there is one. */
static void
grant_to_header(const struct actor_grant *g, struct http_headers *h, const char *name)
{
	if (g->project_id <= 0)
		return;
	char v[48];
	snprintf(v, sizeof(v), "%lld:%lld", (long long)g->project_id, (long long)g->generation);
	headers_set(h, name, v);
}

/* How a backend learns who calls: from the identity headers the gateway set (wire.h). */
void
actor_from_headers(struct actor *a, const struct http_headers *h)
{
	memset(a, 0, sizeof(*a));
	const char *v;
	int64_t n;
	if ((v = headers_get(h, WIRE_USER_ID)) != NULL && str_to_i64(v, 1, INT64_MAX, &n) == 0)
		a->user_id = n;
	if ((v = headers_get(h, WIRE_USERNAME)) != NULL)
		snprintf(a->username, sizeof(a->username), "%s", v);
	a->admin = (v = headers_get(h, WIRE_ADMIN)) != NULL && strcmp(v, "1") == 0;
	a->kind = auth_kind_parse(headers_get(h, WIRE_AUTH_KIND));
	a->scopes = scopes_parse(headers_get(h, WIRE_SCOPES), NULL);
	if ((v = headers_get(h, WIRE_DEPLOY_TOKEN_ID)) != NULL &&
	    str_to_i64(v, 1, INT64_MAX, &n) == 0)
		a->deploy_token_id = n;
	a->actions = actions_parse(headers_get(h, WIRE_ACTIONS));
	a->from_actions = actions_parse(headers_get(h, WIRE_FROM_ACTIONS));
	a->grant = grant_parse(headers_get(h, WIRE_GRANT));
	a->from_grant = grant_parse(headers_get(h, WIRE_FROM_GRANT));
}

const char *
actor_log_name(const struct actor *a)
{
	if (a->username[0])
		return a->username;
	return a->kind == AUTH_ANONYMOUS ? NULL : auth_kind_name(a->kind);
}

/* How the gateway tells a backend who calls: the identity headers of wire.h. */
void
actor_to_headers(const struct actor *a, struct http_headers *h)
{
	if (a->user_id > 0)
		headers_set_int(h, WIRE_USER_ID, a->user_id);
	if (a->username[0])
		headers_set(h, WIRE_USERNAME, a->username);
	if (a->admin)
		headers_set(h, WIRE_ADMIN, "1");
	headers_set(h, WIRE_AUTH_KIND, auth_kind_name(a->kind));
	char *s = scopes_format(a->scopes);
	if (*s)
		headers_set(h, WIRE_SCOPES, s);
	free(s);
	if (a->deploy_token_id > 0)
		headers_set_int(h, WIRE_DEPLOY_TOKEN_ID, a->deploy_token_id);
	if (a->actions) {
		s = actions_format(a->actions);
		headers_set(h, WIRE_ACTIONS, s);
		free(s);
	}
	if (a->from_actions) {
		s = actions_format(a->from_actions);
		headers_set(h, WIRE_FROM_ACTIONS, s);
		free(s);
	}
	grant_to_header(&a->grant, h, WIRE_GRANT);
	grant_to_header(&a->from_grant, h, WIRE_FROM_GRANT);
}

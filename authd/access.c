/*
 * The token service's scopes and rights, kept free of I/O so they can be tested alone.
 *
 * Scopes follow Docker's token authentication: "repository:acme/web/app:pull,push" or
 * "registry:catalog:*", several per parameter separated by spaces. Other registries' names may
 * carry a host and port ("repository:localhost:5000/x:pull"), so the type is what precedes the
 * first colon and the actions what follows the last.
 *
 * Rights are GitLab's: pull needs Reporter (or the project's visibility, with the registry
 * enabled), push Developer, delete Maintainer; admins may do everything; a disabled registry
 * grants nothing to anyone (GitLab's policy prevents container image actions even for admins).
 * Personal access tokens are narrowed by their scopes; deploy tokens pull and push by their
 * scopes on the projects they cover, and elsewhere pull only what anonymous callers may.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "names.h"
#include "util.h"

#define MAX_SCOPES 32

/* Adds a scope, or merges its actions into the same type and name already listed. */
static void
add_item(struct access_list *l, const char *type, size_t tlen, const char *name, size_t nlen,
         unsigned actions)
{
	for (size_t i = 0; i < l->n; i++) {
		struct access_item *it = &l->items[i];
		if (strlen(it->type) == tlen && strncmp(it->type, type, tlen) == 0 &&
		    strlen(it->name) == nlen && strncmp(it->name, name, nlen) == 0) {
			it->actions |= actions;
			return;
		}
	}
	if (l->n == MAX_SCOPES)
		return; /* a client asking for more is not a registry client */
	l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
	l->items[l->n].type = xstrndup(type, tlen);
	l->items[l->n].name = xstrndup(name, nlen);
	l->items[l->n].actions = actions;
	l->n++;
}

/* Parses one "type:name:actions" of len bytes. */
static void
parse_one(struct access_list *l, const char *s, size_t len)
{
	const char *first = memchr(s, ':', len);
	const char *last = NULL;
	for (const char *p = s + len; p > s; p--) {
		if (p[-1] == ':') {
			last = p - 1;
			break;
		}
	}
	if (first == NULL || last == first || first == s)
		return;
	size_t tlen = (size_t)(first - s);
	const char *name = first + 1;
	size_t nlen = (size_t)(last - name);
	if (nlen == 0)
		return;
	char *acts = xstrndup(last + 1, len - (size_t)(last + 1 - s));
	unsigned actions = actions_parse(acts);
	free(acts);
	add_item(l, s, tlen, name, nlen, actions);
}

void
access_parse(struct access_list *l, const char *param)
{
	if (param == NULL)
		return;
	const char *p = param;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t len = strcspn(p, " ");
		if (len > 0)
			parse_one(l, p, len);
		p += len;
	}
}

void
access_list_clear(struct access_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].type);
		free(l->items[i].name);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

char **
access_prefixes(const char *name)
{
	if (name == NULL || !name_valid_repository(name))
		return NULL;
	size_t nseg = 1;
	for (const char *p = name; *p; p++)
		if (*p == '/')
			nseg++;
	/* A project path has at least two segments; at most two may follow it. */
	size_t min = nseg > 4 ? nseg - 2 : 2;
	char **v = xcalloc(nseg + 1, sizeof(char *));
	size_t o = 0, len = strlen(name);
	for (size_t k = nseg; k >= min; k--) {
		v[o++] = xstrndup(name, len);
		if (k == min)
			break;
		len = (size_t)((const char *)memrchr(name, '/', len) - name);
	}
	v[o] = NULL;
	return v;
}

char *
access_prefixes_array(char *const *v)
{
	/* Valid repository names hold no quote, comma, brace or backslash: no escaping needed,
	 * but quote each element anyway so the literal is unambiguous. */
	char *out = xstrdup("{");
	for (size_t i = 0; v[i] != NULL; i++) {
		char *next = xasprintf("%s%s\"%s\"", out, i ? "," : "", v[i]);
		free(out);
		out = next;
	}
	char *done = xasprintf("%s}", out);
	free(out);
	return done;
}

/* What a user (signed in with a password, an OAuth token or a personal access token) may do. */
static unsigned
user_rights(const struct access_subject *s)
{
	unsigned can = 0;
	if (s->can_pull)
		can |= ACT_PULL;
	if (s->admin || s->level >= 30)
		can |= ACT_PUSH;
	if (s->admin || s->level >= 40)
		can |= ACT_DELETE;
	if (s->kind == AUTH_PERSONAL_ACCESS_TOKEN) {
		unsigned allowed = 0;
		if (s->scopes & (SCOPE_API | SCOPE_READ_REGISTRY))
			allowed |= ACT_PULL;
		if (s->scopes & (SCOPE_API | SCOPE_WRITE_REGISTRY))
			allowed |= ACT_PUSH;
		if (s->scopes & SCOPE_API)
			allowed |= ACT_DELETE;
		can &= allowed;
	}
	return can;
}

unsigned
access_grant(const struct access_subject *s, unsigned requested)
{
	requested &= ACT_PULL | ACT_PUSH | ACT_DELETE;
	if (s->registry == NULL || strcmp(s->registry, "disabled") == 0)
		return 0;
	unsigned can = 0;
	switch (s->kind) {
	case AUTH_ANONYMOUS:
		can = s->can_pull ? ACT_PULL : 0;
		break;
	case AUTH_DEPLOY_TOKEN:
		/* What anybody may pull (a public project), as GitLab lets deploy tokens do; then
		 * what the token's scopes give on the projects it covers. */
		can = s->can_pull ? ACT_PULL : 0;
		if (s->covered) {
			if (s->scopes & SCOPE_READ_REGISTRY)
				can |= ACT_PULL;
			if (s->scopes & SCOPE_WRITE_REGISTRY)
				can |= ACT_PUSH;
		}
		break;
	case AUTH_PASSWORD:
	case AUTH_OAUTH:
	case AUTH_PERSONAL_ACCESS_TOKEN:
		can = user_rights(s);
		break;
	}
	return can & requested;
}

/*
 * The token service's scopes and rights, kept free of I/O so they can be tested alone.
 *
 * Scopes follow Docker's token authentication: "repository:acme/web/app:pull,push" or
 * "registry:catalog:*", several per parameter separated by spaces. Other registries' names may
 * carry a host and port ("repository:localhost:5000/x:pull"), so the type is what precedes the
 * first colon and the actions what follows the last.
 *
 * Which project a repository belongs to and what the caller's rights there allow are SQL's
 * (registry_access(), on the rules of schema/functions/rights.sql); what is left here is the
 * credential: a personal access token's scopes narrow what it may be used for.
 */
#include <stdlib.h>
#include <string.h>

#include "authd.h"
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

unsigned
access_credential_actions(enum auth_kind kind, unsigned scopes)
{
	unsigned all = ACT_PULL | ACT_PUSH | ACT_DELETE;
	if (kind != AUTH_PERSONAL_ACCESS_TOKEN)
		return all;
	unsigned allowed = 0;
	if (scopes & (SCOPE_API | SCOPE_READ_REGISTRY))
		allowed |= ACT_PULL;
	if (scopes & (SCOPE_API | SCOPE_WRITE_REGISTRY))
		allowed |= ACT_PUSH;
	if (scopes & SCOPE_API)
		allowed |= ACT_DELETE;
	return allowed;
}

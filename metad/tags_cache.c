/*
 * tags/list answers, remembered per worker. Listing a repository's tags sends every name from
 * PostgreSQL and builds the JSON again, the larger part of a tags/list; the answer only changes
 * when the repository's tags do, and the repository's tags_version (migration 021) moves with
 * every such change. An entry records the repository id and version it was built at; the page
 * query skips the listing when they are still current, and the stored answer is sent. An entry
 * found by a hash is used only for exactly the same repository path, n and last. Answers of up to
 * 1 MiB are kept (a page of 10,000 long tag names), within 8 MiB per worker: a larger answer
 * pushes older ones out. An answer too large to keep was built again on every request, several
 * times slower than a kept one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metad.h"
#include "util.h"

#define SLOTS 64                 /* power of two */
#define MAX_BODY (1024 * 1024)   /* larger answers are not kept */
#define BUDGET (8 * 1024 * 1024) /* the bodies kept by a worker, at most */

struct slot {
	char *key;
	struct tags_page page;
};

static struct slot slots[SLOTS];
static size_t kept_bytes;   /* the sum of the kept bodies' lengths */
static unsigned evict_next; /* where the next eviction for room starts */

/* Repository names hold no newline and n is a number, so the key cannot be ambiguous. */
static char *
key_for(const char *name, long long n, const char *last)
{
	return xasprintf("%s\n%lld\n%c%s", name, n, last ? '=' : '-', last ? last : "");
}

/* The one slot an answer may live in; a newer answer there replaces the older one. */
static struct slot *
slot_for(const char *key)
{
	return &slots[shorthash(key, strlen(key)) & (SLOTS - 1)];
}

/* Empties a slot, keeping kept_bytes right. */
static void
slot_empty(struct slot *s)
{
	if (s->key == NULL)
		return;
	kept_bytes -= strlen(s->page.body);
	free(s->key);
	s->key = NULL;
	tags_page_clear(&s->page);
}

void
tags_page_clear(struct tags_page *p)
{
	free(p->body);
	free(p->link);
	memset(p, 0, sizeof(*p));
}

bool
tags_cache_get(const char *name, long long n, const char *last, struct tags_page *out)
{
	char *key = key_for(name, n, last);
	struct slot *s = slot_for(key);
	bool hit = s->key != NULL && strcmp(s->key, key) == 0;
	free(key);
	if (!hit)
		return false;
	out->repo = s->page.repo;
	out->version = s->page.version;
	out->body = xstrdup(s->page.body);
	out->link = s->page.link ? xstrdup(s->page.link) : NULL;
	return true;
}

void
tags_cache_put(const char *name, long long n, const char *last, const struct tags_page *page)
{
	size_t len = strlen(page->body);
	if (len > MAX_BODY)
		return;
	char *key = key_for(name, n, last);
	struct slot *s = slot_for(key);
	slot_empty(s);
	for (unsigned i = 0; kept_bytes + len > BUDGET && i < SLOTS; i++)
		slot_empty(&slots[evict_next++ & (SLOTS - 1)]);
	kept_bytes += len;
	s->key = key;
	s->page.repo = page->repo;
	s->page.version = page->version;
	s->page.body = xstrdup(page->body);
	s->page.link = page->link ? xstrdup(page->link) : NULL;
}

/* /v2 path parsing. */
#include "v2path.h"

#include <stdlib.h>
#include <string.h>

#include "url.h"
#include "util.h"

void
v2_path_clear(struct v2_path *p)
{
	free(p->name);
	free(p->ref);
	p->name = p->ref = NULL;
}

bool
v2_is_path(const char *target)
{
	return target != NULL && strncmp(target, "/v2", 3) == 0 &&
	       (target[3] == '\0' || target[3] == '/' || target[3] == '?');
}

/* The start of the segment before end (end points at a '/'), within [start, end). */
static const char *
prev_segment(const char *start, const char *end)
{
	const char *p = end;
	while (p > start && p[-1] != '/')
		p--;
	return p;
}

/* Whether the segment [seg, end) is exactly word: how the /v2 endpoints are told apart. */
static bool
seg_is(const char *seg, const char *end, const char *word)
{
	size_t len = strlen(word);
	return (size_t)(end - seg) == len && strncmp(seg, word, len) == 0;
}

int
v2_parse(const char *path, struct v2_path *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0) {
		out->kind = V2_BASE;
		return 0;
	}
	if (strcmp(path, "/v2/_catalog") == 0) {
		out->kind = V2_CATALOG;
		return 0;
	}
	if (strncmp(path, "/v2/", 4) != 0)
		return -1;
	const char *start = path + 4;
	const char *end = start + strlen(start);
	/* last segment: [last, end); the one before: [prev, last - 1) */
	const char *last = prev_segment(start, end);
	if (last == start)
		return -1;
	const char *prev_end = last - 1;
	const char *prev = prev_segment(start, prev_end);
	if (prev == start)
		return -1; /* no room for a name */
	const char *name_end = prev - 1;
	if (seg_is(last, end, "list") && seg_is(prev, prev_end, "tags")) {
		out->kind = V2_TAGS;
	} else if (seg_is(prev, prev_end, "manifests")) {
		out->kind = V2_MANIFEST;
	} else if (seg_is(prev, prev_end, "referrers")) {
		out->kind = V2_REFERRERS;
	} else if (seg_is(prev, prev_end, "uploads")) {
		const char *blobs_end = prev - 1;
		const char *blobs = prev_segment(start, blobs_end);
		if (blobs == start || !seg_is(blobs, blobs_end, "blobs"))
			return -1;
		out->kind = V2_UPLOAD;
		name_end = blobs - 1;
	} else if (seg_is(last, end, "uploads") && seg_is(prev, prev_end, "blobs")) {
		if (prev - 1 <= start)
			return -1; /* "/v2//blobs/uploads": no name */
		out->kind = V2_UPLOAD;
		out->name = xstrndup(start, (size_t)(prev - 1 - start));
		out->ref = xstrdup("");
		return 0;
	} else if (seg_is(prev, prev_end, "blobs")) {
		out->kind = V2_BLOB;
	} else {
		return -1;
	}
	if (name_end <= start)
		return -1;
	/* A manifest, blob or referrers path needs its reference: "/manifests/" names nothing. */
	if (out->kind != V2_TAGS && out->kind != V2_UPLOAD && last == end)
		return -1;
	out->name = xstrndup(start, (size_t)(name_end - start));
	out->ref = out->kind == V2_TAGS ? xstrdup("") : xstrndup(last, (size_t)(end - last));
	return 0;
}

char *
v2_target(const struct v2_path *vp, const char *query)
{
	static const char *const shapes[] = {
		[V2_BASE] = "/v2/",
		[V2_CATALOG] = "/v2/_catalog",
		[V2_BLOB] = "/blobs/",
		[V2_UPLOAD] = "/blobs/uploads/",
		[V2_MANIFEST] = "/manifests/",
		[V2_TAGS] = "/tags/list",
		[V2_REFERRERS] = "/referrers/",
	};
	const char *q = query != NULL ? "?" : "", *qs = query != NULL ? query : "";
	if (vp->name == NULL)
		return xasprintf("%s%s%s", shapes[vp->kind], q, qs);
	char *name = url_encode(vp->name, false), *ref = url_encode(vp->ref, false);
	char *t = xasprintf("/v2/%s%s%s%s%s", name, shapes[vp->kind], ref, q, qs);
	free(name);
	free(ref);
	return t;
}

/*
 * libFuzzer target of what clients name in /v2 paths: the path parser (common/v2path.c), the
 * normalised target the gateway forwards, the route table that target is matched against
 * (common/router.c, routes.def), and the rules of repository names, tags, digests and GitLab
 * paths (common/names.c), with percent-encoding (common/url.c).
 *
 * Input: a request target as a client sends it (the seeds are the /v2 targets of skopeo, podman
 * and curl against the registry). It goes the way the gateway takes it (gw_v2): a path that
 * parses has a normalised target that matches a route row, whose placeholders decode back to
 * exactly the name and reference parsed; then the name and reference are checked, and the rules
 * must agree with each other (a valid digest is well formed, a valid name needs no escaping, no
 * reference is both a tag and a digest), and percent-encoding round-trips.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "names.h"
#include "routes.h"
#include "url.h"
#include "util.h"
#include "v2path.h"

/* Checks the rules on one name or reference. */
static void
check_rules(const char *s)
{
	bool digest = name_valid_digest(s), tag = name_valid_tag(s);
	if (digest && !name_well_formed_digest(s))
		fuzz_fail("valid digest %s is not well formed", s);
	enum digest_algo algo;
	const char *hex;
	if (name_split_digest(s, &algo, &hex) != digest ||
	    (digest && strlen(hex) != (algo == DIGEST_SHA256 ? 64 : 128)))
		fuzz_fail("digest %s splits otherwise than it validates", s);
	if (digest && tag)
		fuzz_fail("%s is both a tag and a digest", s);
	if (tag && strlen(s) > TAG_MAX_LEN)
		fuzz_fail("a tag of %zu characters", strlen(s));
	if (name_valid_path(s) && (strlen(s) > 255 || strchr(s, '/') != NULL))
		fuzz_fail("GitLab path %s", s);
	if (name_valid_repository(s)) {
		char *enc = url_encode(s, true);
		if (strcmp(enc, s) != 0 || strlen(s) > NAME_MAX_LEN)
			fuzz_fail("repository name %s needs escaping or is too long", s);
		free(enc);
	}
	char *enc = url_encode(s, false);
	char *dec = url_decode(enc, strlen(enc), false);
	if (dec == NULL || strcmp(dec, s) != 0)
		fuzz_fail("%s does not survive percent-encoding", s);
	free(enc);
	free(dec);
}

/* The gateway's way with a /v2 path: parse, normalise, route, decode; all must agree. */
static void
check_v2(const char *path, const char *query)
{
	struct v2_path vp;
	if (v2_parse(path, &vp) < 0)
		return;
	if (!v2_is_path(path))
		fuzz_fail("%s parses as /v2 but is not a /v2 path", path);
	char *target = v2_target(&vp, query);
	size_t plen = strcspn(target, "?");
	char *tpath = xstrndup(target, plen);
	const char *method = vp.kind == V2_UPLOAD && vp.ref[0] == '\0' ? "POST" : "GET";
	struct route_match m;
	int status;
	const struct route *row =
	        router_match(routes_public, routes_npublic, method, tpath, &m, &status);
	if (row == NULL)
		fuzz_fail("normalised target %s of %s matches no row (%d)", tpath, path, status);
	const char *name = route_param(&m, "name");
	const char *ref = route_param(&m, "reference");
	if (ref == NULL)
		ref = route_param(&m, "digest");
	if (ref == NULL)
		ref = route_param(&m, "uuid");
	if ((vp.name == NULL) != (name == NULL) || (name != NULL && strcmp(name, vp.name) != 0))
		fuzz_fail("the backend reads name %s where the gateway parsed %s", name, vp.name);
	if (ref != NULL ? strcmp(ref, vp.ref) != 0 : vp.ref != NULL && vp.ref[0] != '\0')
		fuzz_fail("the backend reads reference %s where the gateway parsed %s", ref,
		          vp.ref);
	if (vp.name != NULL) {
		check_rules(vp.name);
		check_rules(vp.ref);
	}
	route_match_clear(&m);
	free(tpath);
	free(target);
	v2_path_clear(&vp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *target = fuzz_strndup(data, size);
	char *q = strchr(target, '?');
	char *path = q ? xstrndup(target, (size_t)(q - target)) : xstrdup(target);
	check_v2(path, q ? q + 1 : NULL);
	/* Each segment as a name or reference of its own. */
	char *seg, *save = NULL;
	for (seg = strtok_r(path, "/", &save); seg != NULL; seg = strtok_r(NULL, "/", &save))
		check_rules(seg);
	check_rules(target);
	char *redacted = url_redact(target);
	if (!fuzz_bounded(redacted, 12 * size + 1))
		fuzz_fail("redacted target longer than it can be");
	free(redacted);
	free(path);
	free(target);
	return 0;
}

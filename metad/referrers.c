/* GET /v2/<name>/referrers/<digest>: the manifests whose subject is <digest>, as an OCI image
 * index, optionally filtered by artifactType. Never 404 for a valid digest: no referrers (or no
 * repository) is an empty index. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "manifest.h"
#include "metad.h"
#include "names.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

/* An image manifest without artifactType is typed by its config's media type (image spec). */
PG_STMT_READ(
        q_referrers,
        "SELECT m.media_type, m.digest, length(m.payload) AS size,"
        " coalesce(m.artifact_type, m.config_media_type) AS artifact_type,"
        " m.annotations::text AS annotations"
        " FROM manifests m"
        " WHERE m.repository_id = registry_grant_repository_id($1, $4, $5) AND m.subject_digest = $2"
        "   AND ($3::text IS NULL OR coalesce(m.artifact_type, m.config_media_type) = $3::text)"
        " ORDER BY m.id");

/* Answers the referrers as an OCI image index (r->mode: filtered by artifactType). */
static void
referrers_done(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res)) {
		rest_db_error(r, res);
		return;
	}
	json_object *list = json_object_new_array();
	for (int i = 0; i < pg_rows(res); i++) {
		json_object *d = json_object_new_object();
		json_object_object_add(d, "mediaType",
		                       json_object_new_string(pg_get(res, i, "media_type")));
		json_object_object_add(d, "digest",
		                       json_object_new_string(pg_get(res, i, "digest")));
		json_object_object_add(d, "size",
		                       json_object_new_int64(pg_get_int(res, i, "size")));
		const char *at = pg_get(res, i, "artifact_type"),
		           *ann = pg_get(res, i, "annotations");
		if (at != NULL)
			json_object_object_add(d, "artifactType", json_object_new_string(at));
		if (ann != NULL) {
			char *cause = NULL;
			json_object *a = js_parse(ann, strlen(ann), &cause);
			free(cause);
			if (a != NULL)
				json_object_object_add(d, "annotations", a);
		}
		json_object_array_add(list, d);
	}
	json_object *root = json_object_new_object();
	json_object_object_add(root, "schemaVersion", json_object_new_int(2));
	json_object_object_add(root, "mediaType", json_object_new_string(MT_OCI_INDEX));
	json_object_object_add(root, "manifests", list);
	struct http_headers h;
	v2reply_headers_init(&h);
	if (r->mode)
		headers_add(&h, "OCI-Filters-Applied", "artifactType");
	const char *text = js_text(root);
	headers_add(&h, "Content-Type", MT_OCI_INDEX);
	http_txn_respond(r->txn, 200, &h, text, strlen(text));
	headers_clear(&h);
	json_object_put(root);
}

void
referrers_list(struct rest_req *r)
{
	const char *digest = rest_param(r, "digest");
	if (!name_valid_digest(digest)) {
		v2reply_error(r->txn, 400, OCI_DIGEST_INVALID, NULL,
		              "invalid or unsupported digest");
		return;
	}
	char *type = v2params_query(http_txn_request(r->txn)->query, "artifactType");
	if (type != NULL && *type == '\0') {
		free(type);
		type = NULL;
	}
	r->mode = type != NULL;
	rest_arg(r, rest_param(r, "name"));
	rest_arg(r, digest);
	rest_arg(r, type);
	rest_arg_grant(r);
	rest_exec(r, &q_referrers, referrers_done, r);
	free(type);
}

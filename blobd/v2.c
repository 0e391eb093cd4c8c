/* /v2 requests the gateway forwards to blobd: blobs and uploads. The path is parsed again here
 * (repository names hold slashes), the actions granted on the repository checked, and the
 * request handed to blobs.c or uploads.c. */
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "blobd.h"
#include "errors.h"
#include "metrics.h"
#include "names.h"
#include "util.h"
#include "v2path.h"

/* Whether the actions granted on the repository (X-Registry-Actions) cover what the request
 * needs: pull to read a blob, delete to delete one, push for any use of an upload. */
static bool
v2_granted(struct http_txn *txn, enum v2_kind kind)
{
	struct http_request *req = http_txn_request(txn);
	struct actor a;
	actor_from_headers(&a, &req->headers);
	unsigned needed = v2_needed_actions(kind, req->method);
	return (a.actions & needed) == needed;
}

/* Routes a /v2 blob or upload request after parsing its path again and checking the action. */
static void
v2_dispatch(struct http_txn *txn, const struct route_match *m)
{
	struct v2_path vp;
	if (v2_parse(http_txn_request(txn)->path, &vp) < 0 ||
	    (vp.kind != V2_BLOB && vp.kind != V2_UPLOAD)) {
		v2_path_clear(&vp);
		v2_error(txn, 404, OCI_NAME_UNKNOWN, "unknown endpoint", NULL);
		return;
	}
	http_txn_set_route(txn, metrics_route_id(vp.kind == V2_BLOB ? "v2_blob" : "v2_upload"));
	if (!name_valid_repository(vp.name))
		v2_error(txn, 400, OCI_NAME_INVALID, NULL, NULL);
	else if (!v2_granted(txn, vp.kind))
		v2_error(txn, 403, OCI_DENIED, NULL, NULL);
	else if (vp.kind == V2_BLOB)
		blobs_handle(txn, vp.name, vp.ref);
	else
		uploads_handle(txn, vp.name, vp.ref);
	v2_path_clear(&vp);
	(void)m;
}

const struct route blobd_v2_routes[] = {
	{ "*", "/v2/*path", v2_dispatch, "v2" },
};
const size_t blobd_v2_nroutes = nitems(blobd_v2_routes);

/* Error bodies for /v2 (OCI) and /api/v4 (GitLab). */
#include "errors.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "http.h"
#include "json.h"
#include "util.h"
#include "v2path.h"

static const struct {
	const char *code;
	const char *message;
} oci_messages[] = {
	{ OCI_BLOB_UNKNOWN, "blob unknown to registry" },
	{ OCI_BLOB_UPLOAD_INVALID, "blob upload invalid" },
	{ OCI_BLOB_UPLOAD_UNKNOWN, "blob upload unknown to registry" },
	{ OCI_DIGEST_INVALID, "provided digest did not match uploaded content" },
	{ OCI_MANIFEST_BLOB_UNKNOWN, "manifest references a manifest or blob unknown to registry" },
	{ OCI_MANIFEST_INVALID, "manifest invalid" },
	{ OCI_MANIFEST_UNKNOWN, "manifest unknown to registry" },
	{ OCI_NAME_INVALID, "invalid repository name" },
	{ OCI_NAME_UNKNOWN, "repository name not known to registry" },
	{ OCI_SIZE_INVALID, "provided length did not match content length" },
	{ OCI_UNAUTHORIZED, "authentication required" },
	{ OCI_DENIED, "requested access to the resource is denied" },
	{ OCI_UNSUPPORTED, "the operation is unsupported" },
	{ OCI_TOOMANYREQUESTS, "too many requests" },
	{ OCI_RANGE_INVALID, "invalid content range" },
	{ OCI_TAG_INVALID, "manifest tag did not match URI" },
	{ OCI_PAGINATION_NUMBER_INVALID, "invalid number of results requested" },
	{ OCI_UNAVAILABLE, "service unavailable" },
	{ OCI_UNKNOWN, "unknown error" },
};

const char *
error_oci_message(const char *code)
{
	for (size_t i = 0; i < nitems(oci_messages); i++)
		if (strcmp(oci_messages[i].code, code) == 0)
			return oci_messages[i].message;
	return "unknown error";
}

char *
error_oci_body(const char *code, const char *message, const char *detail)
{
	json_object *err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message",
	                       json_object_new_string(message ? message : error_oci_message(code)));
	json_object_object_add(err, "detail", detail ? json_object_new_string(detail) : NULL);
	json_object *arr = json_object_new_array();
	json_object_array_add(arr, err);
	json_object *root = json_object_new_object();
	json_object_object_add(root, "errors", arr);
	char *s = xstrdup(js_text(root));
	json_object_put(root);
	return s;
}

void
error_oci(struct http_txn *txn, int status, const char *code, const char *message,
          const struct http_headers *extra)
{
	struct http_headers h;
	headers_init(&h);
	if (extra != NULL)
		headers_copy(&h, extra);
	headers_set(&h, "Content-Type", "application/json");
	headers_set(&h, "Docker-Distribution-API-Version", "registry/2.0");
	char *body = error_oci_body(code, message, NULL);
	http_txn_respond(txn, status, &h, body, strlen(body));
	free(body);
	headers_clear(&h);
}

void
error_gitlab(struct http_txn *txn, int status, const char *message)
{
	json_object *root = json_object_new_object();
	char *dflt = NULL;
	if (message == NULL)
		message = dflt = xasprintf("%d %s", status, http_status_text(status));
	json_object_object_add(root, "message", json_object_new_string(message));
	free(dflt);
	js_respond(txn, status, NULL, root);
}

void
error_gitlab_error(struct http_txn *txn, int status, const char *message)
{
	json_object *root = json_object_new_object();
	json_object_object_add(root, "error", json_object_new_string(message));
	js_respond(txn, status, NULL, root);
}

void
error_gitlab_param(struct http_txn *txn, const char *message)
{
	error_gitlab_error(txn, 400, message);
}

void
error_gitlab_field(struct http_txn *txn, const char *field, const char *problem)
{
	json_object *fields = json_object_new_object();
	json_object *list = json_object_new_array();
	json_object_array_add(list, json_object_new_string(problem));
	json_object_object_add(fields, field, list);
	json_object *root = json_object_new_object();
	json_object_object_add(root, "message", fields);
	js_respond(txn, 400, NULL, root);
}

void
error_gitlab_scope(struct http_txn *txn, const char *scopes)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "error", json_object_new_string("insufficient_scope"));
	json_object_object_add(o, "error_description",
	                       json_object_new_string("The request requires higher privileges than "
	                                              "provided by the access token."));
	json_object_object_add(o, "scope", json_object_new_string(scopes));
	js_respond(txn, 403, NULL, o);
}

char *
error_server_body(const char *target, int status, const char *message)
{
	if (v2_is_path(target)) {
		const char *code = status == 413   ? OCI_SIZE_INVALID
		                   : status == 503 ? OCI_UNAVAILABLE
		                                   : OCI_UNSUPPORTED;
		return error_oci_body(code, message, NULL);
	}
	json_object *root = json_object_new_object();
	char *m = xasprintf("%d %s", status, message);
	json_object_object_add(root, "message", json_object_new_string(m));
	free(m);
	char *s = xstrdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	return s;
}

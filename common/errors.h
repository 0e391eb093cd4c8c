/*
 * Error answers in the two dialects clients expect: the OCI distribution error body on /v2
 * ({"errors":[{"code","message","detail"}]}) and GitLab's {"message": ...} on /api/v4.
 */
#ifndef REGISTRY_ERRORS_H
#define REGISTRY_ERRORS_H

struct http_txn;
struct http_headers;

/* OCI error codes (distribution-spec "Error Codes") plus Docker's extras. */
#define OCI_BLOB_UNKNOWN "BLOB_UNKNOWN"
#define OCI_BLOB_UPLOAD_INVALID "BLOB_UPLOAD_INVALID"
#define OCI_BLOB_UPLOAD_UNKNOWN "BLOB_UPLOAD_UNKNOWN"
#define OCI_DIGEST_INVALID "DIGEST_INVALID"
#define OCI_MANIFEST_BLOB_UNKNOWN "MANIFEST_BLOB_UNKNOWN"
#define OCI_MANIFEST_INVALID "MANIFEST_INVALID"
#define OCI_MANIFEST_UNKNOWN "MANIFEST_UNKNOWN"
#define OCI_NAME_INVALID "NAME_INVALID"
#define OCI_NAME_UNKNOWN "NAME_UNKNOWN"
#define OCI_SIZE_INVALID "SIZE_INVALID"
#define OCI_UNAUTHORIZED "UNAUTHORIZED"
#define OCI_DENIED "DENIED"
#define OCI_UNSUPPORTED "UNSUPPORTED"
#define OCI_TOOMANYREQUESTS "TOOMANYREQUESTS"
#define OCI_RANGE_INVALID "RANGE_INVALID"
#define OCI_TAG_INVALID "TAG_INVALID"
#define OCI_PAGINATION_NUMBER_INVALID "PAGINATION_NUMBER_INVALID"
#define OCI_UNAVAILABLE "UNAVAILABLE"
#define OCI_UNKNOWN "UNKNOWN"

/* The spec's message for a code ("blob unknown to registry", ...). */
const char *error_oci_message(const char *code);
/* The JSON body of one OCI error; message NULL takes the code's own. Caller frees. */
char *error_oci_body(const char *code, const char *message, const char *detail);
/* Answers status with one OCI error; extra headers (e.g. WWW-Authenticate) may be NULL. */
void error_oci(struct http_txn *txn, int status, const char *code, const char *message,
               const struct http_headers *extra);
/* Answers GitLab's {"message": "<message>"}; message NULL uses "<status> <reason>". */
void error_gitlab(struct http_txn *txn, int status, const char *message);
/* GitLab's {"error": "<message>"} used for missing or invalid parameters (400). */
void error_gitlab_param(struct http_txn *txn, const char *message);
/* GitLab's {"error": message} with status (a model's refusal some endpoints word so). */
void error_gitlab_error(struct http_txn *txn, int status, const char *message);
/* GitLab's failed model validation, 400 {"message": {"<field>": ["<problem>"]}}. */
void error_gitlab_field(struct http_txn *txn, const char *field, const char *problem);
/* GitLab's 403 for a token without a scope the request needs: {"error": "insufficient_scope",
 * "error_description", "scope": scopes (space-separated, those that would do)}. */
void error_gitlab_scope(struct http_txn *txn, const char *scopes);
/* The body of a protocol error the HTTP server answers itself, in the dialect of the target:
 * every daemon's http_error_body_fn (struct proc_role). */
char *error_server_body(const char *target, int status, const char *message);

#endif

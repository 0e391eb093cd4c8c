/*
 * blobd's S3 client: AWS Signature Version 4 (s3sign.c, pure), the few XML answers S3 gives
 * (s3xml.c, pure) and the requests themselves (s3.c): libcurl's multi interface on the worker's
 * libevent loop, so that no S3 call ever blocks a worker. docs/S3.md says why libcurl.
 * Its own header, apart from blobd.h: the client uses none of blobd's state, and test programs
 * link it alone.
 */
#ifndef REGISTRY_S3_H
#define REGISTRY_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct cfg;
struct event_base;

/* ---- s3sign.c: AWS Signature Version 4 ---------------------------------------------------- */

/* "UNSIGNED-PAYLOAD": the body is not part of the signature (TLS protects it in transit). */
#define S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* The hex SHA-256 of an empty body. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_AMZ_DATE_LEN 17 /* "20130524T000000Z" + NUL */

/* One name and value (a query parameter, decoded, or a header). */
struct s3_kv {
	const char *name;
	const char *value;
};

/* What a signature covers. The headers to sign include host (and x-amz-date and
 * x-amz-content-sha256 for a signed request); names in any case, values as sent. */
struct s3_sign {
	const char *method;
	const char *path;          /* the request's path, decoded: "/bucket/key" */
	const struct s3_kv *query; /* decoded parameters, in any order */
	size_t nquery;
	const struct s3_kv *headers;
	size_t nheaders;
	const char *payload_hash; /* hex SHA-256 of the body, or S3_UNSIGNED_PAYLOAD */
	const char *amz_date;     /* "YYYYMMDDTHHMMSSZ" */
	const char *region;
	const char *access_key;
	const char *secret_key;
};

/* The time t as x-amz-date writes it. */
void s3sign_amz_date(time_t t, char out[S3_AMZ_DATE_LEN]);
/* The canonical request of s (caller frees). */
char *s3sign_canonical_request(const struct s3_sign *s);
/* The string to sign of s, from its canonical request (caller frees). */
char *s3sign_string_to_sign(const struct s3_sign *s, const char *canonical_request);
/* The hex signature of s (65 bytes with the NUL). */
void s3sign_signature(const struct s3_sign *s, char out[65]);
/* The value of the Authorization header for s (caller frees). */
char *s3sign_authorization(const struct s3_sign *s);
/* The query string of a pre-signed request (s's parameters plus the X-Amz-* ones, the signature
 * last) valid for expires seconds from s->amz_date; s signs only the host header and an
 * unsigned payload, whatever it says (caller frees). */
char *s3sign_presign_query(const struct s3_sign *s, int64_t expires);

/* ---- s3xml.c: the XML bodies of S3's answers --------------------------------------------- */

/* The text of the first <name> element in xml (entities decoded), or NULL when there is none or
 * it is malformed (caller frees). */
char *s3xml_text(const char *xml, size_t len, const char *name);
/* Calls fn with the inside of every <name> element in xml, in order; stops and returns -1 when fn
 * does, or when an element is not closed. */
int s3xml_each(const char *xml, size_t len, const char *name,
               int (*fn)(const char *inner, size_t len, void *arg), void *arg);
/* The name of xml's root element, e.g. "Error" (caller frees); NULL when there is none. */
char *s3xml_root(const char *xml, size_t len);
/* text with &, <, >, " and ' escaped for an XML text node (caller frees). */
char *s3xml_escape(const char *text);
/* The body of CompleteMultipartUpload naming parts numbers[i] (ascending; NULL: 1..n) with their
 * ETags (caller frees). */
char *s3xml_complete_body(const int *numbers, const char *const *etags, size_t n);

/* ---- s3.c: the client -------------------------------------------------------------------- */

/* Where blobs go: [blobd] s3_* and the credentials. */
struct s3_config {
	char *endpoint; /* scheme://host[:port], no path */
	char *region;
	char *bucket;
	char *prefix; /* "" or "a/b" (no slash at either end) */
	bool path_style;
	bool tls_verify;
	char *access_key;
	char *secret_key; /* wiped when freed; never logged */
};

/* Reads [blobd] s3_* from cfg and the credentials (s3_credentials_file, an AWS-style file with
 * aws_access_key_id and aws_secret_access_key in [default], else the environment's
 * AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); -1 with *cause when something is missing or
 * wrong. */
int s3_config_load(const struct cfg *cfg, struct s3_config *c, char **cause);
void s3_config_clear(struct s3_config *c);

struct s3;
struct s3_req;

/* One listed multipart upload. */
struct s3_upload {
	char *key; /* without the configured prefix */
	char *upload_id;
	char *initiated; /* as S3 wrote it, e.g. 2026-12-06T14:00:00.000Z */
};

/* The outcome of a request, valid during the done callback only. */
struct s3_result {
	bool ok;
	int status;            /* HTTP status; 0 when no answer came */
	const char *cause;     /* when !ok: what went wrong, for a log line or an error message */
	const char *code;      /* when !ok and S3 said: its error code, e.g. "NoSuchKey" */
	const char *etag;      /* PUT, UploadPart, HEAD, GET, CopyObject: the object's ETag */
	int64_t size;          /* HEAD: the object's bytes; GET: Content-Length */
	int64_t total;         /* GET of a range: the object's bytes (Content-Range) */
	long connects;         /* connections the request had to open (0: it reused one) */
	const char *upload_id; /* CreateMultipartUpload */
	const struct s3_upload *uploads; /* ListMultipartUploads */
	size_t nuploads;
	bool truncated;              /* ListMultipartUploads: more after these */
	const char *next_key_marker; /* ...and where the next page starts */
	const char *next_upload_id_marker;
};

typedef void (*s3_done_fn)(const struct s3_result *r, void *arg);
/* GET data: consume the bytes and return S3_DATA_OK, or leave them and return S3_DATA_PAUSE (the
 * same bytes come again after s3_req_resume), or S3_DATA_STOP to end the request (it fails). */
enum s3_data { S3_DATA_OK, S3_DATA_PAUSE, S3_DATA_STOP };
typedef enum s3_data (*s3_data_fn)(const void *data, size_t len, void *arg);

/* A request's body: a buffer (borrowed until done), or len bytes of fd from off (the fd stays the
 * caller's). sha256 (hex, optional) signs the body; without it the body is sent unsigned. */
struct s3_body {
	const void *buf;
	int fd;
	int64_t off;
	int64_t len;
	const char *sha256;
};
#define S3_BODY_BUF(b, n) ((struct s3_body){ .buf = (b), .fd = -1, .len = (int64_t)(n) })
#define S3_BODY_FD(f, o, n) ((struct s3_body){ .fd = (f), .off = (o), .len = (n) })

/* A client on base for c (copied); NULL with *cause. */
struct s3 *s3_new(struct event_base *base, const struct s3_config *c, char **cause);
/* Frees the client (not from one of its callbacks); requests still in flight end without their
 * callbacks. */
void s3_free(struct s3 *s3);
/* Requests in flight. */
size_t s3_pending(const struct s3 *s3);
/* The object key of name: the configured prefix, a slash and name (caller frees). */
char *s3_key(const struct s3 *s3, const char *name);

/* Every request names objects without the prefix, runs on the loop and ends with exactly one
 * call of done (never before the call that started it returns). */
struct s3_req *s3_put(struct s3 *s3, const char *name, const struct s3_body *body, s3_done_fn done,
                      void *arg);
/* GET of bytes first..last (last -1: to the end; first -1: the whole object) into data. */
struct s3_req *s3_get(struct s3 *s3, const char *name, int64_t first, int64_t last, s3_data_fn data,
                      s3_done_fn done, void *arg);
struct s3_req *s3_head(struct s3 *s3, const char *name, s3_done_fn done, void *arg);
/* DELETE; deleting a missing object succeeds, as S3 answers. */
struct s3_req *s3_delete(struct s3 *s3, const char *name, s3_done_fn done, void *arg);
/* Server-side copy of src to dst (both without the prefix). */
struct s3_req *s3_copy(struct s3 *s3, const char *src, const char *dst, s3_done_fn done, void *arg);
struct s3_req *s3_multipart_create(struct s3 *s3, const char *name, s3_done_fn done, void *arg);
/* Part number part (1..10000) of an upload; its ETag comes back in r->etag. */
struct s3_req *s3_multipart_part(struct s3 *s3, const char *name, const char *upload_id, int part,
                                 const struct s3_body *body, s3_done_fn done, void *arg);
/* Completes an upload from the ETags of parts 1..n. */
struct s3_req *s3_multipart_complete(struct s3 *s3, const char *name, const char *upload_id,
                                     const char *const *etags, size_t n, s3_done_fn done,
                                     void *arg);
/* Completes an upload from the parts numbers[i] (ascending, gaps allowed: parts not named are
 * dropped) with ETags etags[i]. */
struct s3_req *s3_multipart_complete_parts(struct s3 *s3, const char *name, const char *upload_id,
                                           const int *numbers, const char *const *etags, size_t n,
                                           s3_done_fn done, void *arg);
/* UploadPartCopy: part number part of an upload is bytes first..last of the object src (without
 * the prefix), copied inside the store; its ETag comes back in r->etag. */
struct s3_req *s3_multipart_part_copy(struct s3 *s3, const char *name, const char *upload_id,
                                      int part, const char *src, int64_t first, int64_t last,
                                      s3_done_fn done, void *arg);
struct s3_req *s3_multipart_abort(struct s3 *s3, const char *name, const char *upload_id,
                                  s3_done_fn done, void *arg);
/* One page of the multipart uploads under prefix (without the configured prefix), from the
 * markers of the previous page (NULL for the first). */
struct s3_req *s3_multipart_list(struct s3 *s3, const char *prefix, const char *key_marker,
                                 const char *upload_id_marker, s3_done_fn done, void *arg);
/* Lets a paused GET go on; the bytes it held may come to the data callback at once. */
void s3_req_resume(struct s3_req *req);
/* Ends a request in flight without calling its done (not from its own data callback: that one
 * returns S3_DATA_STOP). */
void s3_req_cancel(struct s3_req *req);

/* A pre-signed URL that GETs name for expires seconds from now (caller frees). */
char *s3_presign_get(const struct s3 *s3, const char *name, int64_t expires, time_t now);

#endif

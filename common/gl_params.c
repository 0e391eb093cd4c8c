/*
 * GitLab API parameters from the query and the body (see gl_params.h). JSON and form bodies are
 * collected (at most GL_PARAMS_MAX_BODY) and parsed at their end; a multipart body streams
 * through the multipart parser as it arrives, its text parts becoming parameters as they end and
 * its file parts dropped without being kept.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "gl_params.h"

#include <event2/buffer.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "gitlab.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "multipart.h"
#include "url.h"
#include "util.h"

enum body_kind { BODY_SNIFF, BODY_JSON, BODY_FORM, BODY_MULTIPART };

struct params_op {
	struct http_txn *txn;
	gl_params_cb done;
	void *arg;
	json_object *params; /* the query's, then the body merged in */
	json_object *body;   /* the body's */
	enum body_kind kind;
	struct evbuffer *text; /* a JSON or form body; a multipart text part's value */
	struct mp_parser *mp;
	size_t received; /* body bytes so far */
	size_t kept;     /* multipart: bytes of names and values kept */
	char *part_name; /* the multipart text part being read (NULL: a file part) */
	char *refusal;   /* why a multipart callback stopped the parser: a 400 message */
};

/* ---- text -------------------------------------------------------------------------------------
 */

/* PCRE2 checks the subject of a UTF pattern before matching: an empty pattern checks text. */
bool
gl_params_is_text(const char *s, size_t len)
{
	static pcre2_code *any;
	if (memchr(s, '\0', len) != NULL)
		return false;
	if (any == NULL) {
		int err;
		PCRE2_SIZE off;
		any = pcre2_compile((PCRE2_SPTR) "", 0, PCRE2_UTF, &err, &off, NULL);
		if (any == NULL)
			fatal("cannot compile the UTF-8 check: %d", err);
	}
	pcre2_match_data *m = pcre2_match_data_create_from_pattern(any, NULL);
	int rc = pcre2_match(any, (PCRE2_SPTR)s, len, 0, 0, m, NULL);
	pcre2_match_data_free(m);
	return rc >= 0;
}

/* Whether v (a value, or a list of them) holds only text strings. */
static bool
value_is_text(json_object *v)
{
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!value_is_text(json_object_array_get_idx(v, i)))
				return false;
		return true;
	}
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, e)
		{
			if (!gl_params_is_text(k, strlen(k)) || !value_is_text(e))
				return false;
		}
		return true;
	}
	return v == NULL || !json_object_is_type(v, json_type_string) ||
	       gl_params_is_text(json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* The first parameter whose name or value is not text, as Grape would word it: a message for
 * a 400 {"error"} the caller frees, or NULL when all are text. */
static char *
first_non_text(json_object *params)
{
	json_object_object_foreach(params, key, val)
	{
		if (!gl_params_is_text(key, strlen(key)))
			return xstrdup("parameters are invalid");
		if (!value_is_text(val))
			return xasprintf("%s is invalid", key);
	}
	return NULL;
}

/* ---- the request --------------------------------------------------------------------------------
 */

/* Frees the reading state. */
static void
op_free(struct params_op *op)
{
	json_object_put(op->params);
	json_object_put(op->body);
	if (op->text != NULL)
		evbuffer_free(op->text);
	mp_free(op->mp);
	free(op->part_name);
	free(op->refusal);
	free(op);
}

/* The parameters cannot be read: answers GitLab's error (unless the client left) and lets the
 * caller free its request. */
static void
op_fail(struct params_op *op, int status, const char *message)
{
	if (op->txn != NULL) {
		http_txn_on_abort(op->txn, NULL, NULL);
		error_gitlab(op->txn, status, message);
	}
	op->done(NULL, NULL, op->arg);
	op_free(op);
}

/* The same with {"error": message}, Grape's wording for a bad parameter. */
static void
op_fail_param(struct params_op *op, const char *message)
{
	http_txn_on_abort(op->txn, NULL, NULL);
	error_gitlab_param(op->txn, message);
	op->done(NULL, NULL, op->arg);
	op_free(op);
}

/* The sudo identifier the gateway applied: the query's, else the Sudo header's. */
static const char *
applied_sudo(struct params_op *op)
{
	const char *q = gl_param_str(op->params, "sudo");
	return q != NULL ? q : headers_get(&http_txn_request(op->txn)->headers, "Sudo");
}

/* Merges the body into the query's parameters, checks them, and hands them over. */
static void
op_finish(struct params_op *op)
{
	http_txn_on_abort(op->txn, NULL, NULL);
	if (op->body != NULL) {
		const char *sudo = gl_param_str(op->body, "sudo");
		const char *applied = sudo != NULL ? applied_sudo(op) : NULL;
		if (sudo != NULL && (applied == NULL || strcmp(sudo, applied) != 0)) {
			op_fail(op, 400,
			        "400 Bad request - sudo is taken from the Sudo header or the "
			        "query string only");
			return;
		}
		json_object_object_foreach(op->body, key, val)
		{
			json_object_object_add(op->params, key, json_object_get(val));
		}
	}
	char *why = first_non_text(op->params);
	if (why != NULL) {
		op_fail_param(op, why);
		free(why);
		return;
	}
	op->done(op->txn, op->params, op->arg);
	op_free(op);
}

/* Adds name=value (decoded) to a parameter object; a repeated plain name takes the last. */
static int
add_pair(const char *name, const char *value, void *arg)
{
	gl_param_add(arg, name, value, false);
	return 0;
}

/* Parses a collected JSON or form body into op->body; -1 once answered. */
static int
parse_text_body(struct params_op *op)
{
	size_t len = evbuffer_get_length(op->text);
	char *text = xmalloc(len + 1);
	evbuffer_remove(op->text, text, len);
	text[len] = '\0';
	if (op->kind == BODY_SNIFF)
		op->kind = text[strspn(text, " \t\r\n")] == '{' ? BODY_JSON : BODY_FORM;
	int rc = 0;
	if (op->kind == BODY_JSON) {
		char *cause = NULL;
		op->body = js_parse(text, len, &cause);
		if (op->body == NULL || !json_object_is_type(op->body, json_type_object)) {
			char *msg = xasprintf("400 Bad request - %s",
			                      cause ? cause : "the body must be a JSON object");
			op_fail(op, 400, msg);
			free(msg);
			rc = -1;
		}
		free(cause);
	} else {
		op->body = json_object_new_object();
		if (memchr(text, '\0', len) != NULL || query_each(text, add_pair, op->body) < 0) {
			op_fail(op, 400, "400 Bad request - the form body is not URL-encoded");
			rc = -1;
		}
	}
	free(text);
	return rc;
}

/* ---- multipart parts
 * ------------------------------------------------------------------------------ */

/* Counts bytes kept of a multipart body; false past the limit. */
static bool
keep(struct params_op *op, size_t n)
{
	op->kept += n;
	return op->kept <= GL_PARAMS_MAX_BODY;
}

/* A part starts: a text part's value is collected, a file part's dropped. */
static int
part_start(const struct mp_part *part, void *arg)
{
	struct params_op *op = arg;
	free(op->part_name);
	op->part_name = NULL;
	if (part->filename != NULL || part->name[0] == '\0')
		return 0;
	if (!keep(op, strlen(part->name)))
		return -1;
	op->part_name = xstrdup(part->name);
	return 0;
}

/* Content of a part. */
static int
part_data(const char *data, size_t len, void *arg)
{
	struct params_op *op = arg;
	if (op->part_name == NULL)
		return 0;
	if (!keep(op, len))
		return -1;
	evbuffer_add(op->text, data, len);
	return 0;
}

/* A part ends: a text part becomes a parameter. */
static int
part_end(void *arg)
{
	struct params_op *op = arg;
	if (op->part_name == NULL)
		return 0;
	size_t len = evbuffer_get_length(op->text);
	char *value = xmalloc(len + 1);
	evbuffer_remove(op->text, value, len);
	value[len] = '\0';
	int rc = 0;
	if (memchr(value, '\0', len) != NULL) {
		/* a NUL cuts a C string short: refused as Grape refuses a value it cannot take */
		op->refusal = xasprintf("%s is invalid", op->part_name);
		rc = -1;
	} else {
		gl_param_add(op->body, op->part_name, value, false);
	}
	free(value);
	free(op->part_name);
	op->part_name = NULL;
	return rc;
}

static const struct mp_callbacks part_callbacks = { part_start, part_data, part_end };

/* The multipart parser refused the body: the matching answer. */
static void
multipart_failed(struct params_op *op)
{
	if (op->refusal != NULL) {
		char *why = op->refusal;
		op->refusal = NULL;
		op_fail_param(op, why);
		free(why);
	} else if (mp_errcode(op->mp) == MP_ERR_LIMIT || mp_errcode(op->mp) == MP_ERR_CALLBACK) {
		op_fail(op, 413, "413 Request Entity Too Large");
	} else {
		char *msg = xasprintf("400 Bad request - %s", mp_error(op->mp));
		op_fail(op, 400, msg);
		free(msg);
	}
}

/* Feeds the buffered body bytes to the multipart parser without copying them; -1 once
 * answered. */
static int
feed_multipart(struct params_op *op, struct evbuffer *buf)
{
	struct evbuffer_iovec vec[8];
	while (evbuffer_get_length(buf) > 0) {
		int n = evbuffer_peek(buf, -1, NULL, vec, (int)nitems(vec));
		size_t used = 0;
		for (int i = 0; i < n && i < (int)nitems(vec); i++) {
			if (mp_feed(op->mp, vec[i].iov_base, vec[i].iov_len) < 0) {
				evbuffer_drain(buf, evbuffer_get_length(buf));
				multipart_failed(op);
				return -1;
			}
			used += vec[i].iov_len;
		}
		evbuffer_drain(buf, used);
	}
	return 0;
}

/* ---- reading the body ---------------------------------------------------------------------------
 */

/* The client left while sending its body. */
static void
body_abort(struct http_txn *txn, void *arg)
{
	struct params_op *op = arg;
	(void)txn;
	/* answering an orphaned transaction frees it */
	op_fail(op, 499, "499 Client Closed Request");
}

/* Body bytes: collected, or parsed as they come for multipart. */
static void
body_data(struct http_txn *txn, struct evbuffer *buf, void *arg)
{
	struct params_op *op = arg;
	size_t n = evbuffer_get_length(buf);
	size_t max = op->kind == BODY_MULTIPART ? GL_PARAMS_MAX_UPLOAD : GL_PARAMS_MAX_BODY;
	(void)txn;
	if (n > max - op->received) {
		evbuffer_drain(buf, n);
		op_fail(op, 413, "413 Request Entity Too Large");
		return;
	}
	op->received += n;
	if (op->kind == BODY_MULTIPART)
		feed_multipart(op, buf);
	else
		evbuffer_add_buffer(op->text, buf);
}

/* The whole body is in. */
static void
body_end(struct http_txn *txn, void *arg)
{
	struct params_op *op = arg;
	(void)txn;
	if (op->kind == BODY_MULTIPART) {
		if (mp_finish(op->mp) < 0) {
			multipart_failed(op);
			return;
		}
	} else if (parse_text_body(op) < 0) {
		return;
	}
	op_finish(op);
}

/* Whether a Content-Type value is the media type type (case-insensitive, parameters aside). */
static bool
media_is(const char *ct, const char *type)
{
	size_t n = strlen(type);
	return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Whether a Content-Type value is a JSON type: application/json or a "+json" suffix. */
static bool
media_is_json(const char *ct)
{
	size_t n = strcspn(ct, "; ");
	return media_is(ct, "application/json") ||
	       (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* Sets up reading the body by its Content-Type; -1 once answered. */
static int
body_kind(struct params_op *op, const char *ct)
{
	if (ct == NULL) {
		op->kind = BODY_SNIFF;
	} else if (media_is_json(ct)) {
		op->kind = BODY_JSON;
	} else if (media_is(ct, "application/x-www-form-urlencoded")) {
		op->kind = BODY_FORM;
	} else if (media_is(ct, "multipart/form-data")) {
		char boundary[MP_BOUNDARY_MAX + 1];
		if (mp_boundary(ct, boundary) < 0) {
			op_fail(op, 400,
			        "400 Bad request - the multipart boundary is missing or invalid");
			return -1;
		}
		static const struct mp_limits limits = { GL_PARAMS_MAX_PARTS,
			                                 GL_PARAMS_MAX_PART_HEADER,
			                                 GL_PARAMS_MAX_BODY };
		op->kind = BODY_MULTIPART;
		op->mp = mp_new(boundary, &limits, &part_callbacks, op);
		op->body = json_object_new_object();
	} else {
		op_fail(op, 415,
		        "415 Unsupported Media Type - send JSON, a URL-encoded form or "
		        "multipart/form-data");
		return -1;
	}
	op->text = evbuffer_new();
	return 0;
}

void
gl_params_read(struct http_txn *txn, gl_params_cb done, void *arg)
{
	struct http_request *req = http_txn_request(txn);
	struct params_op *op = xcalloc(1, sizeof(*op));
	op->txn = txn;
	op->done = done;
	op->arg = arg;
	op->params = json_object_new_object();
	if (query_each(req->query, add_pair, op->params) < 0) {
		op_fail(op, 400, "400 Bad request - the query string is not URL-encoded");
		return;
	}
	if (!req->has_body) {
		op_finish(op);
		return;
	}
	if (body_kind(op, headers_get(&req->headers, "Content-Type")) < 0)
		return;
	size_t max = op->kind == BODY_MULTIPART ? GL_PARAMS_MAX_UPLOAD : GL_PARAMS_MAX_BODY;
	if (req->content_length > (int64_t)max) {
		op_fail(op, 413, "413 Request Entity Too Large");
		return;
	}
	http_txn_on_abort(txn, body_abort, op);
	http_txn_read_stream(txn, body_data, body_end, op);
}

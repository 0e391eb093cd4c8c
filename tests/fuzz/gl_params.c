/*
 * libFuzzer target of GitLab API parameters (common/gl_params.c, with common/url.c's query and
 * form decoding, common/multipart.c and json-c): how authd and metad read every /api/v4
 * request's query and body, through the real HTTP server.
 *
 * Input: three lines, the query string, the Content-Type and the Sudo header (each empty when
 * absent), then the body (the seeds are python-gitlab's and curl's requests to the registry:
 * JSON, forms, multipart avatars, cleanup policies). The harness sends them as one POST, cut
 * where the input's last bytes say. Parameters that are read form a JSON object of UTF-8 text
 * without NUL that json-c writes and reads back the same, and a sudo among them is the one the
 * query or the Sudo header named (what the gateway applied); otherwise the client got GitLab's
 * error.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gitlab.h"
#include "gl_params.h"
#include "json.h"
#include "url.h"
#include "util.h"

static bool handled, answered; /* the handler ran; gl_params_read called back */

/* Whether v (and all it holds) is text as gl_params promises. */
static bool
all_text(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!all_text(json_object_array_get_idx(v, i)))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach(v, k, e)
		{
			if (!gl_params_is_text(k, strlen(k)) || !all_text(e))
				return false;
		}
		return true;
	}
	case json_type_string:
		return gl_params_is_text(json_object_get_string(v),
		                         (size_t)json_object_get_string_len(v));
	default:
		return true;
	}
}

/* Adds a query parameter the way the reader does, to find the sudo the gateway applied. */
static int
add_query(const char *name, const char *value, void *arg)
{
	gl_param_add(arg, name, value, false);
	return 0;
}

/* The parameters are read (or the error answered: NULLs). */
static void
params_done(struct http_txn *txn, json_object *params, void *arg)
{
	answered = true;
	if (txn == NULL)
		return;
	if (!json_object_is_type(params, json_type_object) || !all_text(params))
		fuzz_fail("parameters that are not an object of text");
	const char *text = js_text(params);
	char *cause = NULL;
	json_object *back = js_parse(text, strlen(text), &cause);
	if (back == NULL || !json_object_equal(back, params))
		fuzz_fail("parameters written and read back differ: %s", text);
	json_object_put(back);

	struct http_request *req = http_txn_request(txn);
	json_object *query = json_object_new_object();
	query_each(req->query, add_query, query);
	const char *applied = gl_param_str(query, "sudo");
	if (applied == NULL)
		applied = headers_get(&req->headers, "Sudo");
	const char *sudo = gl_param_str(params, "sudo");
	if (sudo != NULL && (applied == NULL || strcmp(sudo, applied) != 0))
		fuzz_fail("sudo %s read where the gateway applied %s", sudo, applied);
	json_object_put(query);
	js_respond_text(txn, 200, text);
	(void)arg;
}

/* The REST layer's start: read the parameters. */
static void
handle(struct http_txn *txn, void *arg)
{
	handled = true;
	gl_params_read(txn, params_done, NULL);
	(void)arg;
}

/* Whether s may go into a request line (query) or a header value unchanged. */
static bool
sendable(const char *s, bool in_target)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (in_target && (*p == ' ' || *p == '#')))
			return false;
	return true;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_limits limits;
	http_limits_default(&limits);
	limits.max_header_size = 1024 * 1024; /* the backends' limits */
	limits.max_headers = 1000;
	limits.max_target = 64 * 1024;
	fuzz_server_start(handle, NULL, &limits);
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *query = NULL, *ct = NULL, *sudo = NULL;
	if (!fuzz_take_line(&data, &size, 4096, &query) ||
	    !fuzz_take_line(&data, &size, 512, &ct) || !fuzz_take_line(&data, &size, 256, &sudo) ||
	    !sendable(query, true) || !sendable(ct, false) || !sendable(sudo, false))
		goto out;
	char *head = xasprintf("POST /api/v4/projects/1%s%s HTTP/1.1\r\nHost: registry\r\n"
	                       "%s%s%s%s%s%sContent-Length: %zu\r\n\r\n",
	                       query[0] ? "?" : "", query, ct[0] ? "Content-Type: " : "", ct,
	                       ct[0] ? "\r\n" : "", sudo[0] ? "Sudo: " : "", sudo,
	                       sudo[0] ? "\r\n" : "", size);
	size_t hlen = strlen(head);
	uint8_t *msg = xmalloc(hlen + size);
	memcpy(msg, head, hlen);
	memcpy(msg + hlen, data, size);
	size_t cuts[4];
	size_t ncuts = fuzz_cuts(data, size, cuts, 4);
	for (size_t i = 0; i < ncuts; i++)
		cuts[i] += hlen;
	handled = answered = false;
	fuzz_server_exchange(msg, hlen + size, cuts, ncuts);
	if (handled && !answered)
		fuzz_fail("gl_params_read never called back");
	free(msg);
	free(head);
out:
	free(query);
	free(ct);
	free(sudo);
	return 0;
}

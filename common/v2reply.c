/* The headers and error answers every /v2 answer of the backends shares. */
#include "v2reply.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "headers.h"
#include "http.h"

void
v2reply_headers_init(struct http_headers *h)
{
	headers_init(h);
	headers_add(h, "Docker-Distribution-API-Version", "registry/2.0");
}

void
v2reply_error(struct http_txn *txn, int status, const char *code, const char *message,
              const char *detail)
{
	struct http_headers h;
	v2reply_headers_init(&h);
	headers_add(&h, "Content-Type", "application/json");
	char *body = error_oci_body(code, message, detail);
	http_txn_respond(txn, status, &h, body, strlen(body));
	free(body);
	headers_clear(&h);
}

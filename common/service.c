/* Health, readiness and metrics endpoints of the backends. */
#include "service.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "http.h"
#include "json.h"
#include "metrics.h"
#include "rest.h"
#include "util.h"

static const char ok_body[] = "{\"status\":\"ok\"}";

void
service_health(struct rest_req *r)
{
	js_respond_text(r->txn, 200, ok_body);
}

void
service_ready(struct rest_req *r)
{
	js_respond_text(r->txn, 200, ok_body);
}

void
service_not_ready(struct rest_req *r, const char *why)
{
	char *body = xasprintf("{\"status\":\"%s\"}", why);
	js_respond_text(r->txn, 503, body);
	free(body);
}

void
service_metrics(struct rest_req *r)
{
	struct http_txn *txn = r->txn;
	struct evbuffer *buf = evbuffer_new();
	metrics_write_samples(buf);
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Content-Type", "text/plain; version=0.0.4");
	http_txn_respond_buf(txn, 200, &h, buf);
	headers_clear(&h);
	evbuffer_free(buf);
}

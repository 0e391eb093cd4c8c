/* Health, readiness and metrics endpoints of the backends. */
#include "service.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "metrics.h"
#include "util.h"
#include "v2path.h"

static const char ok_body[] = "{\"status\":\"ok\"}";

void
service_health(struct http_txn *txn, const struct route_match *m)
{
	js_respond_text(txn, 200, ok_body);
	(void)m;
}

void
service_ready(struct http_txn *txn)
{
	js_respond_text(txn, 200, ok_body);
}

void
service_not_ready(struct http_txn *txn, const char *why)
{
	char *body = xasprintf("{\"status\":\"%s\"}", why);
	js_respond_text(txn, 503, body);
	free(body);
}

void
service_metrics(struct http_txn *txn, const struct route_match *m)
{
	(void)m;
	struct evbuffer *buf = evbuffer_new();
	metrics_write_samples(buf);
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Content-Type", "text/plain; version=0.0.4");
	http_txn_respond_buf(txn, 200, &h, buf);
	headers_clear(&h);
	evbuffer_free(buf);
}

void
service_dispatch(struct http_txn *txn, const struct route_table *tables, size_t ntables)
{
	int status = router_dispatch_tables(tables, ntables, txn);
	if (status == 0)
		return;
	if (v2_is_path(http_txn_request(txn)->path))
		error_oci(txn, status, status == 405 ? OCI_UNSUPPORTED : OCI_NAME_UNKNOWN, NULL, NULL);
	else
		error_gitlab(txn, status, status == 405 ? "405 Method Not Allowed" : "404 Not Found");
}

/* Health, readiness and metrics endpoints of the backends. */
#include "service.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "actor.h"
#include "errors.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "metrics.h"
#include "util.h"
#include "v2path.h"
#include "wire.h"

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

bool
service_grant_covers(const struct route *row, struct http_txn *txn)
{
	if (row->check != ROUTE_CHECK_GRANT)
		return true;
	unsigned granted = actions_parse(headers_get(&http_txn_request(txn)->headers, WIRE_ACTIONS));
	return (granted & row->need) == row->need;
}

void
service_dispatch(struct http_txn *txn, const struct route_table *tables, size_t ntables)
{
	struct http_request *req = http_txn_request(txn);
	struct route_match m;
	int status;
	const struct route *row = router_match_tables(tables, ntables, req->method, req->path, &m,
	                                              &status);
	if (row != NULL) {
		http_txn_set_route(txn, metrics_route_id(row->metric));
		if (service_grant_covers(row, txn))
			row->handler(txn, &m);
		else
			error_oci(txn, 403, OCI_DENIED, NULL, NULL);
		route_match_clear(&m);
		return;
	}
	if (v2_is_path(req->path))
		error_oci(txn, status, status == 405 ? OCI_UNSUPPORTED : OCI_NAME_UNKNOWN, NULL, NULL);
	else
		error_gitlab(txn, status, status == 405 ? "405 Method Not Allowed" : "404 Not Found");
}

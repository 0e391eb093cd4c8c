/* Liveness, readiness (every backend and the database) and the metrics of all four daemons. */
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "httpc.h"
#include "json.h"
#include "metrics.h"
#include "util.h"

void
gw_health(struct http_txn *txn)
{
	js_respond(txn, 200, NULL, json_tokener_parse("{\"status\":\"ok\"}"));
}

/* One fan-out to every backend, answered when all have replied. */
struct fanout {
	struct http_txn *txn;
	int pending;
	int status[GW_NBACKENDS];
	char *body[GW_NBACKENDS];
	void (*finish)(struct fanout *f);
};

struct fanout_slot {
	struct fanout *f;
	int backend;
};

/* Keeps one backend's answer (status -1: unreachable); the last one in finishes the fan-out. */
static void
fanout_done(int status, struct http_headers *headers, struct evbuffer *body, void *arg)
{
	struct fanout_slot *slot = arg;
	struct fanout *f = slot->f;
	f->status[slot->backend] = status;
	if (body != NULL) {
		size_t len = evbuffer_get_length(body);
		f->body[slot->backend] = xstrndup((const char *)evbuffer_pullup(body, -1), len);
	}
	free(slot);
	if (--f->pending > 0)
		return;
	f->finish(f);
	for (int i = 0; i < GW_NBACKENDS; i++)
		free(f->body[i]);
	free(f);
	(void)headers;
}

/* Asks every backend the same GET at once, so one answer can sum up all of them. */
static void
fanout(struct http_txn *txn, const char *path, void (*finish)(struct fanout *f))
{
	struct fanout *f = xcalloc(1, sizeof(*f));
	f->txn = txn;
	f->finish = finish;
	f->pending = GW_NBACKENDS;
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "X-Request-Id", http_txn_id(txn));
	for (int i = 0; i < GW_NBACKENDS; i++) {
		struct fanout_slot *slot = xcalloc(1, sizeof(*slot));
		slot->f = f;
		slot->backend = i;
		httpc_call(gw.backends[i], "GET", path, &h, NULL, 0, fanout_done, slot);
	}
	headers_clear(&h);
}

/* A backend's state as readiness shows it: ok, unreachable, or not ready and the reason the
 * backend gave ("not ready: object storage unavailable"). */
static json_object *
backend_state(int status, const char *body)
{
	if (status == 200)
		return json_object_new_string("ok");
	if (status < 0)
		return json_object_new_string("unreachable");
	json_object *parsed = body != NULL ? json_tokener_parse(body) : NULL, *why;
	json_object *state;
	if (parsed != NULL && json_object_object_get_ex(parsed, "status", &why) &&
	    json_object_is_type(why, json_type_string)) {
		char *text = xasprintf("not ready: %s", json_object_get_string(why));
		state = json_object_new_string(text);
		free(text);
	} else {
		state = json_object_new_string("not ready");
	}
	json_object_put(parsed);
	return state;
}

/* Ready (200) only when every backend is, with each one's state in "checks"; else 503. */
static void
readiness_finish(struct fanout *f)
{
	json_object *checks = json_object_new_object();
	bool ok = true;
	for (int i = 0; i < GW_NBACKENDS; i++) {
		ok = ok && f->status[i] == 200;
		json_object_object_add(checks, gw_backend_names[i],
		                       backend_state(f->status[i], f->body[i]));
	}
	/* where authd's and metad's reads go, when they have a replica */
	json_object *reads = json_object_new_object();
	for (int i = 0; i < GW_NBACKENDS; i++) {
		json_object *body = f->body[i] != NULL ? json_tokener_parse(f->body[i]) : NULL, *v;
		if (body != NULL && json_object_object_get_ex(body, "database_read", &v) &&
		    json_object_is_type(v, json_type_string))
			json_object_object_add(reads, gw_backend_names[i], json_object_get(v));
		json_object_put(body);
	}
	if (json_object_object_length(reads) > 0)
		json_object_object_add(checks, "database_read", reads);
	else
		json_object_put(reads);
	json_object *root = json_object_new_object();
	json_object_object_add(root, "status", json_object_new_string(ok ? "ok" : "failed"));
	if (gw_monitoring_allowed(f->txn))
		json_object_object_add(root, "checks", checks);
	else
		json_object_put(checks);
	js_respond(f->txn, ok ? 200 : 503, NULL, root);
}

void
gw_readiness(struct http_txn *txn)
{
	fanout(txn, "/-/readiness", readiness_finish);
}

/* One Prometheus page from the gateway's samples and those of the backends that answered. */
static void
metrics_finish(struct fanout *f)
{
	struct evbuffer *own = evbuffer_new();
	metrics_write_samples(own);
	size_t len = evbuffer_get_length(own);
	char *mine = xstrndup((const char *)evbuffer_pullup(own, -1), len);
	evbuffer_free(own);
	const char *samples[GW_NBACKENDS + 1];
	size_t n = 0;
	samples[n++] = mine;
	for (int i = 0; i < GW_NBACKENDS; i++)
		if (f->status[i] == 200 && f->body[i] != NULL)
			samples[n++] = f->body[i];
	struct evbuffer *out = evbuffer_new();
	metrics_render(out, samples, n);
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	http_txn_respond_buf(f->txn, 200, &h, out);
	headers_clear(&h);
	evbuffer_free(out);
	free(mine);
}

void
gw_metrics(struct http_txn *txn)
{
	fanout(txn, "/-/metrics", metrics_finish);
}

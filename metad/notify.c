/*
 * Instance-level notifications in CNCF Distribution's format (schema/functions/notifications.sql):
 * the master makes the endpoints of the configuration's [notifications.<name>] sections the
 * database's at start, and the pushes and deletions of manifests and tags hand their request's
 * context (id, client address, host, method, user agent, the caller) to the SQL that queues
 * their events. The webhooks' workers deliver them (hooks_deliver.c).
 */
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "gitlab.h"
#include "headers.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "util.h"
#include "wire.h"

/* Distribution's envelope of events. */
#define NOTIFY_MEDIA_TYPE "application/vnd.docker.distribution.events.v1+json"

/* The envelopes' source address: this host's name and the port of the gateway's listener. */
static char *
source_addr(const struct cfg *cfg)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	const char *listen = cfg_str(cfg, CFG_GATEWAY_LISTEN);
	const char *colon = strrchr(listen, ':');
	return xasprintf("%s:%s", host, colon != NULL ? colon + 1 : "5000");
}

int
notify_endpoints_sync(PGconn *conn, const struct cfg *cfg, char **cause)
{
	char *addr = source_addr(cfg);
	const char *params[] = { cfg_notifications(cfg), addr };
	PGresult *res = PQexecParams(conn, "SELECT notify_endpoints_sync($1::jsonb, $2)", 2, NULL,
	                             params, NULL, NULL, 0);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = xasprintf("cannot set the notification endpoints: %s",
		                   PQresultErrorMessage(res));
		rc = -1;
	} else if (atoi(PQgetvalue(res, 0, 0)) > 0) {
		log_info("notifications: %s endpoint(s) configured", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	free(addr);
	return rc;
}

char *
notify_request_json(const struct rest_req *r, const char *tag)
{
	const struct http_request *req = http_txn_request(r->txn);
	const char *ip = headers_get(&req->headers, WIRE_CLIENT_IP);
	const char *agent = headers_get(&req->headers, "User-Agent");
	char *host = gl_registry_host(r->txn);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(http_txn_id(r->txn)));
	json_object_object_add(o, "addr", json_object_new_string(ip ? ip : ""));
	json_object_object_add(o, "host", json_object_new_string(host));
	json_object_object_add(o, "method", json_object_new_string(req->method));
	json_object_object_add(o, "useragent", json_object_new_string(agent ? agent : ""));
	json_object_object_add(o, "base_url", json_object_new_string(gl_external_url(r->txn)));
	json_object_object_add(o, "actor", json_object_new_string(r->actor.username));
	if (r->actor.deploy_token_id > 0)
		json_object_object_add(o, "deploy_token_id",
		                       json_object_new_int64(r->actor.deploy_token_id));
	if (tag != NULL)
		json_object_object_add(o, "tag", json_object_new_string(tag));
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	free(host);
	return s;
}

struct curl_slist *
notify_headers(const char *headers)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: " NOTIFY_MEDIA_TYPE);
	h = curl_slist_append(h, "User-Agent: registry-notifications");
	char *cause = NULL;
	json_object *list = js_parse(headers, strlen(headers), &cause);
	free(cause);
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *k, *v;
		if (!json_object_object_get_ex(e, "key", &k) ||
		    !json_object_object_get_ex(e, "value", &v))
			continue;
		const char *key = json_object_get_string(k);
		if (strcasecmp(key, "Content-Type") == 0 ||
		    strcasecmp(key, "Content-Length") == 0 || strcasecmp(key, "Host") == 0)
			continue;
		char *line = xasprintf("%s: %s", key, json_object_get_string(v));
		h = curl_slist_append(h, line);
		free(line);
	}
	json_object_put(list);
	return h;
}

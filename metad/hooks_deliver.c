/*
 * Delivery of webhooks: every metad worker sends the queued events (schema/functions/hooks.sql,
 * written by triggers in the transaction of each change) to their hooks, HOOKS_LANES at a time,
 * off its event loop: a pool thread resolves the hook's host, refuses a local address unless
 * allow_local_requests_from_web_hooks_and_services allows it, and POSTs the JSON payload with
 * libcurl pinned to the address checked (and every socket checked again as it opens), with a
 * timeout of HOOKS_TIMEOUT seconds. A delivery is claimed FOR UPDATE SKIP LOCKED under a lease, the
 * oldest of its hook and repository first, so workers share the queue and a receiver sees a
 * repository's events in order; a failed one is retried with exponential back-off and counts
 * towards its hook's auto-disabling (hook_delivered). A push never waits for any of this.
 *
 * Headers: X-Gitlab-Event: Container Registry Hook, X-Gitlab-Token (the hook's token, when it
 * has one), X-Registry-Signature: sha256=<hex HMAC-SHA256 of the body keyed by the token> (when
 * it has one), the hook's custom headers. An instance-level notification endpoint (kind
 * notification, notify.c) gets Distribution's Content-Type instead of GitLab's headers, and
 * its own timeout.
 *
 * Every attempt is logged with its outcome (GitLab's web hook logs, GET .../hooks/:id/events):
 * the request's headers with the token and the custom headers' values masked, the payload, the
 * receiver's status, headers and body (its first LOG_BODY_MAX bytes), and the time it took.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "jobs.h"
#include "json.h"
#include "log.h"
#include "metad.h"
#include "pg.h"
#include "util.h"

#define HOOKS_LANES 2
#define HOOKS_TIMEOUT 10
#define LEASE_SECONDS "60" /* a claim's hold, far above HOOKS_TIMEOUT */
#define IDLE_SECONDS 1
#define LOG_BODY_MAX 8192 /* the bytes of a receiver's answer a log keeps */
#define MASKED "[REDACTED]"

PG_STMT(q_claim, "SELECT delivery_id, url, token, custom_headers, enable_ssl_verification,"
                 " payload, allow_local, kind, timeout FROM hook_claim($1)");
PG_STMT(q_done, "SELECT hook_delivered($1, $2, $3::jsonb)");

/* One delivery, from its claim to its outcome. */
struct delivery {
	char *id;
	char *url;
	char *token;   /* NULL: none */
	char *headers; /* the custom headers, JSON */
	char *payload;
	bool verify;
	bool allow_local;
	bool notification;       /* an endpoint of the configuration (Distribution's envelope) */
	long timeout;            /* seconds */
	char *error;             /* the outcome: NULL when delivered */
	json_object *log;        /* the attempt's log (hook_delivered's p_log) */
	json_object *received;   /* the receiver's headers, as they come */
	char body[LOG_BODY_MAX]; /* the receiver's body, its first LOG_BODY_MAX bytes */
	size_t body_len;
};

static struct {
	struct event *timer;
	int busy; /* deliveries claimed or in flight */
	bool stopping;
} hk;

static void hooks_claim(void);

/* Frees a delivery. */
static void
delivery_free(struct delivery *d)
{
	free(d->id);
	free(d->url);
	free(d->token);
	free(d->headers);
	free(d->payload);
	free(d->error);
	json_object_put(d->log);
	json_object_put(d->received);
	free(d);
}

/* The length of the valid UTF-8 sequence at p (n bytes left), 0 when there is none: what
 * PostgreSQL's jsonb takes (no NUL, no overlong form, no surrogate). */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0x01 && c <= 0x7f)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* A received text as a JSON string the log can keep: bytes that are not UTF-8 become '?'. */
static json_object *
text_json(const char *s, size_t n)
{
	char *out = xmalloc(n + 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t len = utf8_len(p + i, n - i);
		if (len == 0) {
			out[i++] = '?';
			continue;
		}
		memcpy(out + i, p + i, len);
		i += len;
	}
	json_object *o = json_object_new_string_len(out, (int)n);
	free(out);
	return o;
}

/* libcurl's sink for the receiver's body: its first LOG_BODY_MAX bytes kept for the log. */
static size_t
body_sink(char *ptr, size_t size, size_t n, void *arg)
{
	struct delivery *d = arg;
	size_t len = size * n;
	size_t room = LOG_BODY_MAX - d->body_len;
	size_t take = len < room ? len : room;
	memcpy(d->body + d->body_len, ptr, take);
	d->body_len += take;
	return len;
}

/* libcurl's sink for the receiver's header lines: "Name: value" into d->received (a status
 * line starts them again: an interim 100 Continue's go). */
static size_t
header_sink(char *ptr, size_t size, size_t n, void *arg)
{
	struct delivery *d = arg;
	size_t len = size * n;
	if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		json_object_put(d->received);
		d->received = json_object_new_object();
		return len;
	}
	const char *colon = memchr(ptr, ':', len);
	if (colon == NULL || colon == ptr)
		return len;
	size_t end = len;
	while (end > 0 && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n'))
		end--;
	const char *v = colon + 1;
	while (v < ptr + end && (*v == ' ' || *v == '\t'))
		v++;
	json_object *name = text_json(ptr, (size_t)(colon - ptr));
	json_object_object_add(d->received, json_object_get_string(name),
	                       text_json(v, (size_t)(ptr + end - v)));
	json_object_put(name);
	return len;
}

/* Every socket libcurl opens: refused when it would reach a local address not allowed. */
static curl_socket_t
open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	const struct delivery *d = arg;
	(void)purpose;
	if (!d->allow_local && hooks_addr_local(&a->addr))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

/* "sha256=<hex>" of the body keyed by the token (caller frees). */
static char *
signature(const char *token, const char *body)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)token, strlen(token));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
	crypto_auth_hmacsha256_final(&st, mac);
	char hex[2 * sizeof(mac) + 1];
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	return xasprintf("sha256=%s", hex);
}

/* Whether a custom header would replace one of the delivery's own. */
static bool
header_reserved(const char *key)
{
	return strcasecmp(key, "X-Gitlab-Event") == 0 || strcasecmp(key, "X-Gitlab-Token") == 0 ||
	       strcasecmp(key, "X-Registry-Signature") == 0 ||
	       strcasecmp(key, "Content-Type") == 0 || strcasecmp(key, "Host") == 0 ||
	       strcasecmp(key, "Content-Length") == 0;
}

/* Adds a header to the request's and, value shown as given or masked, to its log's. */
static struct curl_slist *
header_add(struct curl_slist *h, json_object *shown, const char *name, const char *value,
           bool masked)
{
	char *line = xasprintf("%s: %s", name, value);
	h = curl_slist_append(h, line);
	free(line);
	json_object_object_add(shown, name, json_object_new_string(masked ? MASKED : value));
	return h;
}

/* The request's headers (caller frees with curl_slist_free_all), and into shown the same as the
 * log shows them: the token and the custom headers' values masked. */
static struct curl_slist *
request_headers(const struct delivery *d, json_object *shown)
{
	if (d->notification)
		return notify_headers(d->headers);
	struct curl_slist *h = header_add(NULL, shown, "Content-Type", "application/json", false);
	h = header_add(h, shown, "User-Agent", "GitLab/registry", false);
	h = header_add(h, shown, "X-Gitlab-Event", "Container Registry Hook", false);
	if (d->token != NULL) {
		h = header_add(h, shown, "X-Gitlab-Token", d->token, true);
		char *sig = signature(d->token, d->payload);
		h = header_add(h, shown, "X-Registry-Signature", sig, false);
		free(sig);
	}
	char *cause = NULL;
	json_object *list = js_parse(d->headers, strlen(d->headers), &cause);
	free(cause);
	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i), *k, *v;
		if (!json_object_object_get_ex(e, "key", &k) ||
		    !json_object_object_get_ex(e, "value", &v) ||
		    header_reserved(json_object_get_string(k)))
			continue;
		h = header_add(h, shown, json_object_get_string(k), json_object_get_string(v),
		               true);
	}
	json_object_put(list);
	return h;
}

/* In a pool thread: the POST, its outcome in d->error and its log in d->log. */
static void
deliver_work(void *arg)
{
	struct delivery *d = arg;
	json_object *shown = json_object_new_object();
	struct curl_slist *headers = request_headers(d, shown);
	char *cause = NULL;
	json_object *data = js_parse(d->payload, strlen(d->payload), &cause);
	free(cause);
	d->log = json_object_new_object();
	json_object_object_add(d->log, "url", json_object_new_string(d->url));
	json_object_object_add(d->log, "request_headers", shown);
	json_object_object_add(d->log, "request_data", data);
	char *host = NULL, *why = NULL;
	int port;
	if (hooks_url_parse(d->url, &host, &port) < 0) {
		d->error = xstrdup("invalid url");
		curl_slist_free_all(headers);
		return;
	}
	char *pin = hooks_resolve(host, port, d->allow_local, &why);
	free(host);
	if (pin == NULL) {
		d->error = why;
		curl_slist_free_all(headers);
		return;
	}
	d->received = json_object_new_object();
	CURL *c = curl_easy_init();
	struct curl_slist *resolve = curl_slist_append(NULL, pin);
	curl_easy_setopt(c, CURLOPT_URL, d->url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, d);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, d->timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, d->timeout);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, d->verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, d->verify ? 2L : 0L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->payload);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(d->payload));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_sink);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
	CURLcode rc = curl_easy_perform(c);
	long status = 0;
	double took = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &took);
	json_object_object_add(d->log, "execution_duration", json_object_new_double(took));
	if (rc != CURLE_OK) {
		d->error = xasprintf("%s", curl_easy_strerror(rc));
	} else {
		char code[24];
		snprintf(code, sizeof(code), "%ld", status);
		json_object_object_add(d->log, "response_status", json_object_new_string(code));
		json_object_object_add(d->log, "response_headers", json_object_get(d->received));
		json_object_object_add(d->log, "response_body", text_json(d->body, d->body_len));
		if (status < 200 || status > 299)
			d->error = xasprintf("the receiver answered %ld", status);
	}
	curl_slist_free_all(headers);
	curl_slist_free_all(resolve);
	curl_easy_cleanup(c);
	free(pin);
}

/* The outcome is recorded: the lane takes the next delivery. */
static void
recorded(PGresult *res, void *arg)
{
	if (!pg_ok(res))
		log_warn("hooks: cannot record a delivery: %s", pg_error(res));
	hk.busy--;
	hooks_claim();
	(void)arg;
}

/* Back in the loop: the outcome goes to the database. */
static void
deliver_done(void *arg)
{
	struct delivery *d = arg;
	if (d->error != NULL)
		log_info("hooks: delivery %s failed: %s", d->id, d->error);
	const char *params[] = { d->id, d->error, d->log ? js_text(d->log) : NULL };
	pg_exec(md.db, &q_done, 3, params, recorded, NULL);
	delivery_free(d);
}

/* A claim came back: a delivery for a pool thread, or none due (the lane waits for the timer). */
static void
claimed(PGresult *res, void *arg)
{
	(void)arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		if (!pg_ok(res))
			log_warn("hooks: cannot claim a delivery: %s", pg_error(res));
		hk.busy--;
		return;
	}
	struct delivery *d = xcalloc(1, sizeof(*d));
	d->id = xstrdup(pg_get(res, 0, "delivery_id"));
	d->url = xstrdup(pg_get(res, 0, "url"));
	const char *token = pg_get(res, 0, "token");
	d->token = token ? xstrdup(token) : NULL;
	d->headers = xstrdup(pg_get(res, 0, "custom_headers"));
	d->payload = xstrdup(pg_get(res, 0, "payload"));
	d->verify = pg_get_bool(res, 0, "enable_ssl_verification");
	d->allow_local = pg_get_bool(res, 0, "allow_local");
	d->notification = strcmp(pg_get(res, 0, "kind"), "notification") == 0;
	d->timeout = d->notification ? pg_get_int(res, 0, "timeout") : HOOKS_TIMEOUT;
	jobs_submit(deliver_work, deliver_done, d);
	hooks_claim();
}

/* Claims a delivery for every lane free. */
static void
hooks_claim(void)
{
	if (hk.stopping)
		return;
	static const char *const params[] = { LEASE_SECONDS };
	while (hk.busy < HOOKS_LANES) {
		hk.busy++;
		pg_exec(md.db, &q_claim, 1, params, claimed, NULL);
	}
}

/* Timer: free lanes look for due deliveries. */
static void
hooks_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	hooks_claim();
	struct timeval tv = { IDLE_SECONDS, 0 };
	evtimer_add(hk.timer, &tv);
}

int
hooks_deliver_start(char **cause)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		*cause = xstrdup("curl_global_init failed");
		return -1;
	}
	if (jobs_init(md.base, HOOKS_LANES, cause) < 0)
		return -1;
	hk.timer = evtimer_new(md.base, hooks_tick, NULL);
	struct timeval tv = { IDLE_SECONDS, 0 };
	evtimer_add(hk.timer, &tv);
	return 0;
}

void
hooks_deliver_stop(void)
{
	hk.stopping = true;
	if (hk.timer != NULL) {
		event_free(hk.timer);
		hk.timer = NULL;
	}
}

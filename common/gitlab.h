/* GitLab REST conventions shared by authd and metad: offset pagination, request context and
 * parameters. */
#ifndef REGISTRY_GITLAB_H
#define REGISTRY_GITLAB_H

#include <stdbool.h>
#include <stdint.h>

struct http_txn;
struct http_headers;
struct json_object;

struct gl_page {
	int64_t page;     /* from 1 */
	int64_t per_page; /* 1..100, default 20 */
};

/* Reads page and per_page from the query as GitLab does: per_page above 100 is 100; on a bad
 * value answers 400 {"error": "page is invalid"} (not an integer) or {"error": "per_page does
 * not have a valid value"} (below 1), GitLab's wording, and returns -1. */
int gl_page_parse(struct http_txn *txn, struct gl_page *p);
int64_t gl_page_offset(const struct gl_page *p);
/* X-Total, X-Total-Pages, X-Page, X-Per-Page, X-Next-Page, X-Prev-Page and Link (first, prev,
 * next, last), as GitLab sends them. */
void gl_page_headers(struct http_txn *txn, const struct gl_page *p, int64_t total,
                     struct http_headers *out);
/* The URL clients use to reach us (the gateway passes it); never NULL. */
const char *gl_external_url(struct http_txn *txn);
/* The host[:port] part of it, as CI_REGISTRY and "location" fields show it (caller frees). */
char *gl_registry_host(struct http_txn *txn);
/* A URL of this request with page replaced (caller frees). */
char *gl_page_url(struct http_txn *txn, int64_t page, int64_t per_page);
/* The request's query without the parameters named in drop (NULL-terminated), encoded again and
 * joined with '&'; NULL when nothing is left (caller frees). For the URLs of other pages. */
char *gl_query_except(struct http_txn *txn, const char *const *drop);
/* Answers 200 with a page of items (taken) and the pagination headers for total items. */
void gl_page_respond(struct http_txn *txn, const struct gl_page *p, int64_t total,
                     struct json_object *items);

/* Parameters as GitLab's API (Grape) takes them from the query, a form and a JSON body, merged
 * into one JSON object by each daemon's reader. */

/* Adds a decoded name=value pair: "name[]" collects an array, "name[][field]" an array of
 * objects (as Rack: a field given again starts the next object); a plain name given again keeps
 * its first value (keep_first) or takes the last. */
void gl_param_add(struct json_object *params, const char *name, const char *value, bool keep_first);
/* A scalar parameter (string, number or boolean) as text; NULL when missing, null or a list. */
const char *gl_param_str(struct json_object *params, const char *key);
/* An Integer parameter's text as Grape coerces it, on str_to_count's strict rules: digits with
 * an optional '-'; integers past int64 (Ruby's bignums) saturate at +-INT64_MAX. false when it
 * is not an integer. */
bool gl_int_text(const char *s, int64_t *out);
/* A boolean parameter as Grape coerces it (true, "True", "yes", "on", 1, ...): 1 true, 0 false,
 * -1 missing or null, -2 not a boolean. */
int gl_param_bool(struct json_object *params, const char *key);

#endif

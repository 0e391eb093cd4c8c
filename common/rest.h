/*
 * The REST layer every backend serves its routes with: one request object, one dispatcher.
 *
 * rest_dispatch() matches a request against the daemon's tables (the rows of routes.def it owns,
 * then its own service and internal rows), checks the grant the gateway forwarded for a /v2 row,
 * reads the parameters of a REST API row, and runs the row's handler with a struct rest_req: the
 * row and its placeholders, the caller the gateway established (actor.h), the parameters (query
 * and body merged as GitLab takes them), the page asked for, the SQL arguments being assembled
 * (rest_db.h) and what the handler keeps on the way (rest_state_new).
 *
 * Ownership: the request lives as long as its transaction and is freed with it, state included.
 * A handler answers exactly once, and touches neither the request nor its state after answering
 * (the answer may end the transaction at once). A body or parameter callback that gets a NULL
 * transaction means the request is over: it returns without touching the request.
 */
#ifndef REGISTRY_REST_H
#define REGISTRY_REST_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "gitlab.h"
#include "router.h"

struct http_txn;

#define REST_MAX_ARGS 24

struct rest_req;
typedef void (*rest_step)(struct rest_req *r);

struct rest_req {
	struct http_txn *txn;
	const struct route *route; /* the row matched */
	struct route_match match;  /* its placeholders (rest_param) */
	struct actor actor;        /* who asks, as the gateway established it */
	json_object *params;       /* REST API rows: query and body merged, the body winning */
	struct gl_page page;       /* after rest_page() */
	const char *what;          /* "Project", "Group": the thing of a 404 "<what> Not Found" */
	int mode;                  /* the endpoint's own switch (entity shape, member kind) */
	int64_t num;               /* the endpoint's own number */
	int nargs;                 /* SQL arguments (rest_db.h) */
	uint64_t lsn;              /* the furthest WAL position its writes reached (rest_db.c) */
	uint64_t read_fence;       /* the WAL position its reads must see (rest_db.c) */
	char *args[REST_MAX_ARGS];
	void *state; /* the handler's, freed with the request */
	void (*state_clear)(void *state);
	rest_step next; /* runs once the parameters are in */
};

/* ---- rest.c: dispatch, the request, answers ----------------------------------------------- */

/* A backend's request handler: the first matching row of its tables, its grant checked, its
 * parameters read, its handler run; or 404 / 405 in the dialect of the path. */
void rest_dispatch(struct http_txn *txn, const struct route_table *tables, size_t ntables);
/* Whether the actions the gateway forwarded (X-Registry-Actions) cover what the request's /v2
 * row needs: the one place a backend checks them again (true for other rows). */
bool rest_grant_covers(const struct rest_req *r);
/* A placeholder of the row ("id", "name"), decoded; NULL when the row has none of that name. */
const char *rest_param(const struct rest_req *r, const char *name);
/* Zeroed state of size bytes that lives as long as the request; clear (may be NULL) runs on it
 * before it is freed. */
void *rest_state_new(struct rest_req *r, size_t size, void (*clear)(void *state));
void *rest_state(const struct rest_req *r);
/* Reads the parameters as a REST API row's are read (gl_params_read) and runs next; when they
 * cannot be read the error is answered and next does not run. */
void rest_params_read(struct rest_req *r, rest_step next);

/* Answers; each is the request's one answer. */
void rest_reply(struct rest_req *r, int status, json_object *obj);
void rest_reply_empty(struct rest_req *r, int status);
/* GitLab's {"message": message}; NULL is "<status> <reason>". */
void rest_fail(struct rest_req *r, int status, const char *message);
/* 400 {"error": message}, Grape's wording for a missing or bad parameter. */
void rest_fail_param(struct rest_req *r, const char *message);
/* status {"error": message}: how some endpoints word a model's refusal (a hook's url: 422). */
void rest_fail_error(struct rest_req *r, int status, const char *message);
/* 400 {"message": {key: [text]}}: a model validation error. */
void rest_fail_validation(struct rest_req *r, const char *key, const char *text);
/* 404 "<what> Not Found" (what NULL: r->what; both NULL: "404 Not Found"). */
void rest_not_found(struct rest_req *r, const char *what);
/* 401 unless a user is signed in; 403 unless an admin. true when the caller may go on. */
bool rest_require_user(struct rest_req *r);
bool rest_require_admin(struct rest_req *r);
/* Whether s is a decimal id that fits a bigint. */
bool rest_is_id(const char *s);
/* 404 "404 Not Found" unless id is one (rest_is_id); true when the caller may go on. */
bool rest_require_id(struct rest_req *r, const char *id);

/* ---- rest_params.c: parameters as GitLab (Grape) takes them ------------------------------- */

/* A string or number as text, NULL when absent or not a scalar. */
const char *rest_str(struct rest_req *r, const char *key);
bool rest_has(struct rest_req *r, const char *key);
/* 1 when present and read, 0 when absent, -1 (and 400 "<key> is invalid" answered) when bad. */
int rest_int(struct rest_req *r, const char *key, int64_t *out);
int rest_bool(struct rest_req *r, const char *key, bool *out);
/* A member of values (NULL-terminated), NULL when absent; -1 with 400 "<key> does not have a
 * valid value". */
int rest_enum(struct rest_req *r, const char *key, const char *const *values, const char **out);
/* An access level 10..50; same contract as rest_int. */
int rest_access_level(struct rest_req *r, const char *key, int *out);
/* A YYYY-MM-DD date; "" or null clears (*out = NULL, returns 1). Same contract as rest_int. */
int rest_date(struct rest_req *r, const char *key, const char **out);
/* A list of ids ([1,2], "1,2" or key[]=1&key[]=2) as a PostgreSQL array literal "{1,2}" (caller
 * frees), NULL when absent; same contract as rest_int. */
int rest_id_list(struct rest_req *r, const char *key, char **out);
/* A list of strings (a JSON array, "key[]" in a form, or "a,b"), NULL-terminated, or NULL when
 * absent; caller frees with strv_free. */
char **rest_list(struct rest_req *r, const char *key);
/* page and per_page into r->page; -1 once answered with 400. */
int rest_page(struct rest_req *r);
/* order_by among values (default dflt) and sort asc/desc (default sort_dflt); -1 once answered. */
int rest_order(struct rest_req *r, const char *const *values, const char *dflt,
               const char *sort_dflt, const char **order_by, const char **sort);

#endif

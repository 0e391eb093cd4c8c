/*
 * The user status, GitLab's API: GET, PUT and PATCH /user/status for oneself, GET
 * /users/:id_or_username/status for anyone signed in, as Entities::UserStatus (emoji,
 * availability, message, message_html, clear_status_at). As GitLab's Users::SetStatusService:
 * PUT forgets what it is not given, PATCH keeps it; a status without message, emoji and
 * availability is removed; a missing emoji becomes speech_balloon and an availability other
 * than busy not_set; clear_status_after sets when the status clears itself.
 *
 * message_html is the message with HTML escaped; GitLab also renders :emoji: names there as
 * images, which needs its emoji table: they stay as text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "errors.h"
#include "gitlab.h"
#include "gl_params.h"
#include "json.h"
#include "pg.h"
#include "util.h"

#define STATUS_MESSAGE_MAX 100
#define STATUS_DEFAULT_EMOJI "speech_balloon"

/* A user's status, by id ($1) or username ($2); no row: no such user, a NULL emoji: none. */
PG_STMT(q_get,
        "SELECT u.id, s.emoji, s.message, s.availability, "
        "gl_time(s.clear_status_at) AS clear_status_at FROM users u "
        "LEFT JOIN user_statuses s ON s.user_id = u.id "
        "AND (s.clear_status_at IS NULL OR s.clear_status_at > now()) "
        "WHERE u.id = $1 OR lower(u.username) = lower($2)");
/* Sets user $1's status: $2 emoji, $3 message, $4 availability, $5 seconds until it clears
 * (NULL: never); $6 and $7 say whether the message and the clearing time were given (PATCH
 * keeps the others, unless the old status had cleared itself). */
PG_STMT(q_set,
        "INSERT INTO user_statuses AS s (user_id, emoji, message, availability, clear_status_at) "
        "VALUES ($1, $2, $3, $4, now() + $5::integer * interval '1 second') "
        "ON CONFLICT (user_id) DO UPDATE SET emoji = EXCLUDED.emoji, "
        "availability = EXCLUDED.availability, updated_at = now(), "
        "message = CASE WHEN $6::boolean OR s.clear_status_at <= now() THEN EXCLUDED.message "
        "ELSE s.message END, "
        "clear_status_at = CASE WHEN $7::boolean OR s.clear_status_at <= now() "
        "THEN EXCLUDED.clear_status_at ELSE s.clear_status_at END "
        "RETURNING s.emoji, s.message, s.availability, "
        "gl_time(s.clear_status_at) AS clear_status_at");
PG_STMT(q_clear, "DELETE FROM user_statuses WHERE user_id = $1");

/* GitLab's UserStatus::CLEAR_STATUS_QUICK_OPTIONS. */
static const struct {
	const char *name;
	const char *seconds;
} clear_after[] = {
	{ "30_minutes", "1800" }, { "3_hours", "10800" }, { "8_hours", "28800" },
	{ "1_day", "86400" },     { "3_days", "259200" }, { "7_days", "604800" },
	{ "30_days", "2592000" },
};

struct status_op {
	struct http_txn *txn;
	struct actor actor;
	bool patch;
	char id[32];
};

/* Frees a request's state. */
static void
op_free(void *arg)
{
	free(arg);
}

/* A request's state for the caller's own status; NULL once refused (401). */
static struct status_op *
own_op(struct http_txn *txn)
{
	struct status_op *op = xcalloc(1, sizeof(*op));
	op->txn = txn;
	rest_actor(txn, &op->actor);
	if (!rest_require_user(txn, &op->actor)) {
		free(op);
		return NULL;
	}
	snprintf(op->id, sizeof(op->id), "%lld", (long long)op->actor.user_id);
	return op;
}

/* s with &, <, >, " and ' escaped as Rails escapes HTML (caller frees). */
static char *
html_escape(const char *s)
{
	size_t n = 0;
	for (const char *c = s; *c; c++)
		n += *c == '&' ? 5 : *c == '<' || *c == '>' ? 4 : *c == '"' || *c == '\'' ? 6 : 1;
	char *out = xmalloc(n + 1), *o = out;
	for (const char *c = s; *c; c++) {
		const char *rep = *c == '&' ? "&amp;" : *c == '<' ? "&lt;" : *c == '>' ? "&gt;"
		                  : *c == '"' ? "&quot;" : *c == '\'' ? "&#39;" : NULL;
		if (rep != NULL) {
			memcpy(o, rep, strlen(rep));
			o += strlen(rep);
		} else {
			*o++ = *c;
		}
	}
	*o = '\0';
	return out;
}

/* Entities::UserStatus from a row (emoji NULL: no status, every field null). */
static json_object *
status_json(const PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	bool some = res != NULL && pg_get(res, row, "emoji") != NULL;
	const char *message = some ? pg_get(res, row, "message") : NULL;
	json_object_object_add(o, "emoji", js_new_str_or_null(some ? pg_get(res, row, "emoji") : NULL));
	json_object_object_add(o, "availability",
	                       js_new_str_or_null(some ? pg_get(res, row, "availability") : NULL));
	json_object_object_add(o, "message", js_new_str_or_null(message));
	char *html = html_escape(message ? message : "");
	json_object_object_add(o, "message_html", json_object_new_string(html));
	free(html);
	json_object_object_add(o, "clear_status_at",
	                       js_new_str_or_null(some ? pg_get(res, row, "clear_status_at") : NULL));
	return o;
}

/* ---- GET /user/status, GET /users/:id/status --------------------------------------------------- */

/* Answers a user's status. */
static void
got(PGresult *res, void *arg)
{
	struct status_op *op = arg;
	if (!pg_ok(res))
		rest_db_error(op->txn, res, "status lookup");
	else if (pg_rows(res) < 1)
		error_gitlab(op->txn, 404, "404 User Not Found");
	else
		js_respond(op->txn, 200, NULL, status_json(res, 0));
	op_free(op);
}

/* GET /user/status */
static void
h_own(struct http_txn *txn, const struct route_match *m)
{
	(void)m;
	struct status_op *op = own_op(txn);
	if (op == NULL)
		return;
	const char *v[] = { op->id, NULL };
	pg_exec(ad.db, &q_get, 2, v, got, op);
}

/* GET /users/:id/status: by id (digits) or username; signed-in callers, as GET /users/:id. */
static void
h_user(struct http_txn *txn, const struct route_match *m)
{
	struct status_op *op = xcalloc(1, sizeof(*op));
	op->txn = txn;
	rest_actor(txn, &op->actor);
	if (!actor_signed_in(&op->actor)) {
		error_gitlab(txn, 403, "403 Forbidden - Not authorized!");
		op_free(op);
		return;
	}
	const char *who = route_param(m, "id");
	if (who == NULL || !gl_params_is_text(who, strlen(who))) {
		error_gitlab(txn, 404, "404 User Not Found");
		op_free(op);
		return;
	}
	const char *v[] = { rest_is_id(who) ? who : NULL, rest_is_id(who) ? NULL : who };
	pg_exec(ad.db, &q_get, 2, v, got, op);
}

/* ---- PUT and PATCH /user/status ----------------------------------------------------------------- */

/* Answers the status as written (none when it was removed). */
static void
written(PGresult *res, void *arg)
{
	struct status_op *op = arg;
	if (!pg_ok(res))
		rest_db_error(op->txn, res, "status update");
	else
		js_respond(op->txn, 200, NULL, status_json(pg_rows(res) == 1 ? res : NULL, 0));
	op_free(op);
}

/* Whether Rails calls s blank: missing, empty, or spaces only. */
static bool
blank(const char *s)
{
	return s == NULL || s[strspn(s, " \t\r\n\f\v")] == '\0';
}

/* Whether e is shaped like an emoji name (GitLab checks its emoji table). */
static bool
emoji_valid(const char *e)
{
	size_t n = strlen(e);
	return n > 0 && n <= 64 && strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789_+-") == n;
}

/* Checks the parameters, then writes or removes the status. */
static void
set_params(struct http_txn *txn, json_object *p, void *arg)
{
	struct status_op *op = arg;
	const char *emoji = gl_param_str(p, "emoji"), *message = gl_param_str(p, "message");
	const char *availability = gl_param_str(p, "availability");
	const char *after = gl_param_str(p, "clear_status_after");
	const char *seconds = NULL;
	bool after_given = json_object_object_get_ex(p, "clear_status_after", NULL);
	for (size_t i = 0; after != NULL && i < nitems(clear_after); i++)
		if (strcmp(after, clear_after[i].name) == 0)
			seconds = clear_after[i].seconds;
	if (after != NULL && seconds == NULL) {
		error_gitlab_param(txn, "clear_status_after does not have a valid value");
		op_free(op);
		return;
	}
	if (op->patch && !json_object_object_get_ex(p, "emoji", NULL) &&
	    !json_object_object_get_ex(p, "message", NULL) &&
	    !json_object_object_get_ex(p, "availability", NULL) && !after_given) {
		/* nothing to change */
		const char *v[] = { op->id, NULL };
		pg_exec(ad.db, &q_get, 2, v, got, op);
		return;
	}
	if (blank(emoji) && blank(message) && blank(availability)) {
		const char *v[] = { op->id };
		pg_exec(ad.db, &q_clear, 1, v, written, op);
		return;
	}
	bool bad_emoji = !blank(emoji) && !emoji_valid(emoji);
	bool long_message = message != NULL && str_chars(message) > STATUS_MESSAGE_MAX;
	if (bad_emoji || long_message) {
		/* GitLab's model validation, every failing field */
		json_object *fields = json_object_new_object();
		if (bad_emoji) {
			json_object *a = json_object_new_array();
			json_object_array_add(a, json_object_new_string("is not a valid emoji name"));
			json_object_object_add(fields, "emoji", a);
		}
		if (long_message) {
			json_object *a = json_object_new_array();
			json_object_array_add(a, json_object_new_string(
			                                 "is too long (maximum is 100 characters)"));
			json_object_object_add(fields, "message", a);
		}
		json_object *o = json_object_new_object();
		json_object_object_add(o, "message", fields);
		js_respond(txn, 400, NULL, o);
		op_free(op);
		return;
	}
	bool message_given = !op->patch || json_object_object_get_ex(p, "message", NULL);
	const char *v[] = { op->id,
		            blank(emoji) ? STATUS_DEFAULT_EMOJI : emoji,
		            message,
		            availability != NULL && strcmp(availability, "busy") == 0 ? "busy"
		                                                                      : "not_set",
		            seconds,
		            message_given ? "true" : "false",
		            !op->patch || after_given ? "true" : "false" };
	pg_exec(ad.db, &q_set, 7, v, written, op);
}

/* PUT or PATCH /user/status */
static void
set_status(struct http_txn *txn, bool patch)
{
	struct status_op *op = own_op(txn);
	if (op == NULL)
		return;
	op->patch = patch;
	params_read(txn, set_params, op_free, op);
}

/* PUT /user/status: what is not given is forgotten */
static void
h_put(struct http_txn *txn, const struct route_match *m)
{
	(void)m;
	set_status(txn, false);
}

/* PATCH /user/status: what is not given stays */
static void
h_patch(struct http_txn *txn, const struct route_match *m)
{
	(void)m;
	set_status(txn, true);
}

const struct route status_routes[] = {
	ROUTE_OWN("GET", "/api/v4/user/status", h_own, "api_user_status"),
	ROUTE_OWN("PUT", "/api/v4/user/status", h_put, "api_user_status"),
	ROUTE_OWN("PATCH", "/api/v4/user/status", h_patch, "api_user_status"),
	ROUTE_OWN("GET", "/api/v4/users/:id/status", h_user, "api_users_status"),
};
const size_t status_nroutes = nitems(status_routes);

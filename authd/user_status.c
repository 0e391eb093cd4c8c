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
#include "rest_db.h"
#include "util.h"

#define STATUS_MESSAGE_MAX 100
#define STATUS_DEFAULT_EMOJI "speech_balloon"

/* A user's status, by id ($1) or username ($2); no row: no such user, a NULL emoji: none. */
PG_STMT_READ(q_get, "SELECT u.id, s.emoji, s.message, s.availability, "
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

/* s with &, <, >, " and ' escaped as Rails escapes HTML (caller frees). */
static char *
html_escape(const char *s)
{
	size_t n = 0;
	for (const char *c = s; *c; c++)
		n += *c == '&' ? 5 : *c == '<' || *c == '>' ? 4 : *c == '"' || *c == '\'' ? 6 : 1;
	char *out = xmalloc(n + 1), *o = out;
	for (const char *c = s; *c; c++) {
		const char *rep = *c == '&'    ? "&amp;"
		                  : *c == '<'  ? "&lt;"
		                  : *c == '>'  ? "&gt;"
		                  : *c == '"'  ? "&quot;"
		                  : *c == '\'' ? "&#39;"
		                               : NULL;
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
user_status_json(const PGresult *res, int row)
{
	json_object *o = json_object_new_object();
	bool some = res != NULL && pg_get(res, row, "emoji") != NULL;
	const char *message = some ? pg_get(res, row, "message") : NULL;
	json_object_object_add(o, "emoji",
	                       js_new_str_or_null(some ? pg_get(res, row, "emoji") : NULL));
	json_object_object_add(o, "availability",
	                       js_new_str_or_null(some ? pg_get(res, row, "availability") : NULL));
	json_object_object_add(o, "message", js_new_str_or_null(message));
	char *html = html_escape(message ? message : "");
	json_object_object_add(o, "message_html", json_object_new_string(html));
	free(html);
	json_object_object_add(
	        o, "clear_status_at",
	        js_new_str_or_null(some ? pg_get(res, row, "clear_status_at") : NULL));
	return o;
}

/* ---- GET /user/status, GET /users/:id/status ---------------------------------------------------
 */

/* Answers a user's status. */
static void
got(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res))
		rest_db_error(r, res);
	else if (pg_rows(res) < 1)
		rest_fail(r, 404, "404 User Not Found");
	else
		rest_reply(r, 200, user_status_json(res, 0));
}

/* Reads the caller's own status. */
static void
get_own(struct rest_req *r)
{
	rest_arg_i64(r, r->actor.user_id);
	rest_arg(r, NULL);
	rest_exec(r, &q_get, got, r);
}

/* GET /user/status */
void
user_status_own(struct rest_req *r)
{
	if (rest_require_user(r))
		get_own(r);
}

/* GET /users/:id/status: by id (digits) or username; signed-in callers, as GET /users/:id. */
void
user_status_of_user(struct rest_req *r)
{
	if (!actor_signed_in(&r->actor)) {
		rest_fail(r, 403, "403 Forbidden - Not authorized!");
		return;
	}
	const char *who = rest_param(r, "id");
	if (who == NULL || !gl_params_is_text(who, strlen(who))) {
		rest_fail(r, 404, "404 User Not Found");
		return;
	}
	rest_arg(r, rest_is_id(who) ? who : NULL);
	rest_arg(r, rest_is_id(who) ? NULL : who);
	rest_exec(r, &q_get, got, r);
}

/* ---- PUT and PATCH /user/status -----------------------------------------------------------------
 */

/* Answers the status as written (none when it was removed). */
static void
written(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!pg_ok(res))
		rest_db_error(r, res);
	else
		rest_reply(r, 200, user_status_json(pg_rows(res) == 1 ? res : NULL, 0));
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

/* PUT (patch false: what is not given is forgotten) or PATCH (what is not given stays)
 * /user/status: checks the parameters, then writes or removes the status. */
static void
set_status(struct rest_req *r, bool patch)
{
	if (!rest_require_user(r))
		return;
	const char *emoji = rest_str(r, "emoji"), *message = rest_str(r, "message");
	const char *availability = rest_str(r, "availability");
	const char *after = rest_str(r, "clear_status_after");
	const char *seconds = NULL;
	bool after_given = rest_has(r, "clear_status_after");
	for (size_t i = 0; after != NULL && i < nitems(clear_after); i++)
		if (strcmp(after, clear_after[i].name) == 0)
			seconds = clear_after[i].seconds;
	if (after != NULL && seconds == NULL) {
		rest_fail_param(r, "clear_status_after does not have a valid value");
		return;
	}
	if (patch && !rest_has(r, "emoji") && !rest_has(r, "message") &&
	    !rest_has(r, "availability") && !after_given) {
		get_own(r); /* nothing to change */
		return;
	}
	if (blank(emoji) && blank(message) && blank(availability)) {
		rest_arg_i64(r, r->actor.user_id);
		rest_exec(r, &q_clear, written, r);
		return;
	}
	bool bad_emoji = !blank(emoji) && !emoji_valid(emoji);
	bool long_message = message != NULL && str_chars(message) > STATUS_MESSAGE_MAX;
	if (bad_emoji || long_message) {
		/* GitLab's model validation, every failing field */
		json_object *fields = json_object_new_object();
		if (bad_emoji) {
			json_object *a = json_object_new_array();
			json_object_array_add(a,
			                      json_object_new_string("is not a valid emoji name"));
			json_object_object_add(fields, "emoji", a);
		}
		if (long_message) {
			json_object *a = json_object_new_array();
			json_object_array_add(
			        a,
			        json_object_new_string("is too long (maximum is 100 characters)"));
			json_object_object_add(fields, "message", a);
		}
		json_object *o = json_object_new_object();
		json_object_object_add(o, "message", fields);
		rest_reply(r, 400, o);
		return;
	}
	bool message_given = !patch || rest_has(r, "message");
	rest_arg_i64(r, r->actor.user_id);
	rest_arg(r, blank(emoji) ? STATUS_DEFAULT_EMOJI : emoji);
	rest_arg(r, message);
	rest_arg(r, availability != NULL && strcmp(availability, "busy") == 0 ? "busy" : "not_set");
	rest_arg(r, seconds);
	rest_arg_bool(r, message_given);
	rest_arg_bool(r, !patch || after_given);
	rest_exec(r, &q_set, written, r);
}

/* PUT /user/status: what is not given is forgotten */
void
user_status_set(struct rest_req *r)
{
	set_status(r, false);
}

/* PATCH /user/status: what is not given stays */
void
user_status_update(struct rest_req *r)
{
	set_status(r, true);
}

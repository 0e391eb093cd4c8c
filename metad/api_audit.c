/*
 * GitLab's audit events API: /audit_events[/:id] (admins), /groups/:id/audit_events[/:id] (the
 * group's Owners; its Developers and Maintainers see the events they authored) and
 * /projects/:id/audit_events[/:id] (the project's Maintainers and Owners; its Developers see
 * their own), newest first, paged, filtered by created_after / created_before (and on the
 * instance's, entity_type / entity_id). The events are recorded in SQL by the writes they audit
 * (audit_record, schema/functions/audit.sql), which also decides who reads them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "metad.h"
#include "pg.h"
#include "rest_db.h"
#include "util.h"

/* $1 $2 the caller, $3 'project' | 'group' | NULL (the instance), $4 $5 the source, $6 one
 * event, $7 $8 created after / before, $9 $10 the entity, $11 $12 the page */
PG_STMT_READ(q_events, "SELECT status, total, id, event::text AS event FROM audit_event_list("
                       "$1, $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, $9, $10,"
                       " $11, $12)");

/* What an audit events request names: r->mode. */
enum { AUDIT_INSTANCE, AUDIT_GROUP, AUDIT_PROJECT };

static const char *const entity_types[] = { "User", "Group", "Project", NULL };

/* Whether the n characters at s are digits. */
static bool
digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The number of the n digits at s. */
static int
number(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Whether s is an ISO 8601 date or time as GitLab takes created_after/before: YYYY-MM-DD, then
 * optionally THH:MM[:SS[.fraction]] and Z or an offset (+HH:MM, +HHMM), each field in range, so
 * that PostgreSQL takes it as it is. */
static bool
audit_time_valid(const char *s)
{
	static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2))
		return false;
	int year = number(s, 4), month = number(s + 5, 2), day = number(s + 8, 2);
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (year < 1 || month < 1 || month > 12 || day < 1 || day > days[month - 1] ||
	    (month == 2 && day == 29 && !leap))
		return false;
	const char *p = s + 10;
	if (*p == '\0')
		return true;
	if ((*p != 'T' && *p != ' ') || !digits(p + 1, 2) || p[3] != ':' || !digits(p + 4, 2) ||
	    number(p + 1, 2) > 23 || number(p + 4, 2) > 59)
		return false;
	p += 6;
	if (*p == ':') {
		if (!digits(p + 1, 2) || number(p + 1, 2) > 59)
			return false;
		p += 3;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return false;
			while (*p >= '0' && *p <= '9')
				p++;
		}
	}
	if (*p == 'Z')
		return p[1] == '\0';
	if (*p == '+' || *p == '-') {
		p++;
		if (!digits(p, 2) || number(p, 2) > 14)
			return false;
		p += 2;
		if (*p == ':')
			p++;
		if (*p == '\0')
			return true;
		return digits(p, 2) && number(p, 2) <= 59 && p[2] == '\0';
	}
	return *p == '\0';
}

/* A time parameter: NULL when absent; false once answered 400 "<key> is invalid". */
static bool
time_param(struct rest_req *r, const char *key, const char **out)
{
	*out = rest_str(r, key);
	if (*out != NULL && !audit_time_valid(*out)) {
		char *msg = xasprintf("%s is invalid", key);
		rest_fail_param(r, msg);
		free(msg);
		return false;
	}
	return true;
}

/* An event of the result as its JSON. */
static json_object *
event_json(struct rest_req *r, const PGresult *res, int row)
{
	(void)r;
	return rest_column_json(res, row, "event");
}

/* The page of events, one event, or the refusal. */
static void
events_listed(PGresult *res, void *arg)
{
	struct rest_req *r = arg;
	if (!rest_page_status_ok(r, res))
		return;
	if (r->num == 0) {
		rest_reply_list(r, res, event_json);
		return;
	}
	if (pg_get(res, 0, "id") == NULL) {
		rest_not_found(r, "Audit Event");
		return;
	}
	rest_reply(r, 200, event_json(r, res, 0));
}

/* Every audit events request: who may ask, the parameters, then the query. */
static void
events_query(struct rest_req *r, bool one)
{
	const char *after, *before, *type = NULL;
	int64_t entity = 0;
	int has_entity = 0;
	r->what = r->mode == AUDIT_PROJECT ? "Project" : "Group";
	if (!rest_require_user(r))
		return;
	if (r->mode == AUDIT_INSTANCE && !rest_require_admin(r))
		return;
	r->num = 0;
	if (one) {
		const char *id = rest_param(r, r->mode == AUDIT_INSTANCE ? "id" : "audit_event_id");
		if (str_to_i64(id, 1, INT64_MAX, &r->num) < 0) {
			rest_fail_param(r, r->mode == AUDIT_INSTANCE ? "id is invalid"
			                                             : "audit_event_id is invalid");
			return;
		}
	}
	if (rest_page(r) < 0 || !time_param(r, "created_after", &after) ||
	    !time_param(r, "created_before", &before))
		return;
	if (r->mode == AUDIT_INSTANCE) {
		if (rest_enum(r, "entity_type", entity_types, &type) < 0 ||
		    (has_entity = rest_int(r, "entity_id", &entity)) < 0)
			return;
		if (has_entity && type == NULL) {
			rest_fail_param(r, "entity_type is missing");
			return;
		}
	}
	rest_arg_actor(r);
	rest_arg(r, r->mode == AUDIT_PROJECT ? "project" : r->mode == AUDIT_GROUP ? "group" : NULL);
	if (r->mode == AUDIT_INSTANCE) {
		rest_arg(r, NULL);
		rest_arg(r, NULL);
	} else {
		rest_arg_ref(r, rest_param(r, "id"));
	}
	rest_arg_i64_opt(r, one, r->num);
	rest_arg(r, after);
	rest_arg(r, before);
	rest_arg(r, type);
	rest_arg_i64_opt(r, has_entity > 0, entity);
	if (one) {
		rest_arg_i64(r, 1);
		rest_arg_i64(r, 0);
	} else {
		rest_arg_page(r);
	}
	rest_exec(r, &q_events, events_listed, r);
}

/* GET /audit_events */
void
audit_instance_list(struct rest_req *r)
{
	r->mode = AUDIT_INSTANCE;
	events_query(r, false);
}

/* GET /audit_events/:id */
void
audit_instance_get(struct rest_req *r)
{
	r->mode = AUDIT_INSTANCE;
	events_query(r, true);
}

/* GET /groups/:id/audit_events */
void
audit_group_list(struct rest_req *r)
{
	r->mode = AUDIT_GROUP;
	events_query(r, false);
}

/* GET /groups/:id/audit_events/:audit_event_id */
void
audit_group_get(struct rest_req *r)
{
	r->mode = AUDIT_GROUP;
	events_query(r, true);
}

/* GET /projects/:id/audit_events */
void
audit_project_list(struct rest_req *r)
{
	r->mode = AUDIT_PROJECT;
	events_query(r, false);
}

/* GET /projects/:id/audit_events/:audit_event_id */
void
audit_project_get(struct rest_req *r)
{
	r->mode = AUDIT_PROJECT;
	events_query(r, true);
}

/* Readiness of a daemon that needs PostgreSQL: it is ready when a query comes back; with a
 * replica, the answer says where reads go. */
#include <json-c/json.h>
#include <stdlib.h>

#include "json.h"
#include "pg.h"
#include "pgread.h"
#include "rest.h"
#include "service.h"
#include "util.h"

PG_STMT(q_ping, "SELECT 1");

/* The probe under way: the request and the daemon's replica (NULL: none). */
struct service_probe {
	struct rest_req *r;
	struct pgread *read;
};

/* The readiness probe's answer: ready when the primary answered the ping; "database_read" says
 * which server serves reads (the primary alone also serves them when the replica cannot). */
static void
ping_done(PGresult *res, void *arg)
{
	struct service_probe *p = arg;
	json_object *body = json_object_new_object();
	json_object_object_add(body, "status",
	                       json_object_new_string(pg_ok(res) ? "ok" : "database unreachable"));
	if (p->read != NULL)
		json_object_object_add(body, "database_read",
		                       json_object_new_string(pgread_state_text(p->read)));
	js_respond(p->r->txn, pg_ok(res) ? 200 : 503, NULL, body);
	free(p);
}

void
service_db_readiness(struct rest_req *r, struct pg_pool *db, struct pgread *read)
{
	struct service_probe *p = xcalloc(1, sizeof(*p));
	p->r = r;
	p->read = read;
	pg_exec(db, &q_ping, 0, NULL, ping_done, p);
}

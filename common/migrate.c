/* Applies embedded schema migrations under an advisory lock. */
#include "migrate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* An arbitrary constant naming "the registry's schema" in pg_advisory_lock(). */
#define MIGRATION_LOCK_KEY "7209164331020"

static int
exec_ok(PGconn *conn, const char *sql, char **cause)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*cause = xstrdup(PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
migrate_apply(PGconn *conn, char **cause)
{
	if (exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", cause) < 0)
		return -1;
	int rc = -1;
	if (exec_ok(conn,
	            "CREATE TABLE IF NOT EXISTS schema_migrations ("
	            " version integer PRIMARY KEY,"
	            " name text NOT NULL,"
	            " applied_at timestamptz NOT NULL DEFAULT now())",
	            cause) < 0)
		goto out;
	/* Apply every version not recorded yet, not only those above the highest: versions are
	 * reserved per part of the code base and may land out of order. */
	for (unsigned i = 0; i < nmigrations; i++) {
		const struct migration *m = &migrations[i];
		char version[16];
		snprintf(version, sizeof(version), "%d", m->version);
		const char *vp[] = { version };
		PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
		                             1, NULL, vp, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			*cause = xstrdup(PQresultErrorMessage(res));
			PQclear(res);
			goto out;
		}
		bool applied = PQntuples(res) > 0;
		PQclear(res);
		if (applied)
			continue;
		char *err = NULL;
		if (exec_ok(conn, "BEGIN", cause) < 0)
			goto out;
		if (exec_ok(conn, m->sql, &err) < 0) {
			*cause = xasprintf("migration %s failed: %s", m->name, err);
			free(err);
			PQclear(PQexec(conn, "ROLLBACK"));
			goto out;
		}
		const char *params[] = { version, m->name };
		res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
		                   2, NULL, params, NULL, NULL, 0);
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		if (!ok || exec_ok(conn, "COMMIT", cause) < 0) {
			if (!ok)
				*cause = xasprintf("cannot record migration %s", m->name);
			PQclear(PQexec(conn, "ROLLBACK"));
			goto out;
		}
		log_info("applied migration %s", m->name);
	}
	rc = 0;
out:;
	char *ignored = NULL;
	if (exec_ok(conn, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", &ignored) < 0)
		free(ignored);
	return rc;
}

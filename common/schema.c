/* Applies the embedded schema (schema.h): migrations, then the live function definitions. */
#include "schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "log.h"
#include "util.h"

/* An arbitrary constant naming "the registry's schema" in pg_advisory_lock(). */
#define SCHEMA_LOCK_KEY "7209164331020"
/* How long a role that does not own the schema waits for its owner to apply this version. */
#define SCHEMA_WAIT_SECONDS 60

/* Runs sql (one or more statements); -1 with the server's first line in *cause. */
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

/* The first column of a one-row query with parameters as text (caller frees), NULL when no row;
 * -1 with *cause when the query fails. */
static int
query_value(PGconn *conn, const char *sql, int n, const char *const *params, char **out,
            char **cause)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*cause = xstrdup(PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	*out = PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? xstrdup(PQgetvalue(res, 0, 0))
	                                                     : NULL;
	PQclear(res);
	return 0;
}

/* Applies one migration and records it, in one transaction. */
static int
apply_migration(PGconn *conn, const struct schema_file *m, char **cause)
{
	char version[16];
	snprintf(version, sizeof(version), "%d", m->version);
	char *err = NULL;
	if (exec_ok(conn, "BEGIN", cause) < 0)
		return -1;
	if (exec_ok(conn, m->sql, &err) < 0) {
		*cause = xasprintf("migration %s failed: %s", m->name, err);
		free(err);
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	const char *params[] = { version, m->name };
	PGresult *res =
	        PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
	                     2, NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok || exec_ok(conn, "COMMIT", cause) < 0) {
		if (!ok)
			*cause = xasprintf("cannot record migration %s", m->name);
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	log_info("applied migration %s", m->name);
	return 0;
}

/* Applies every version not recorded yet, not only those above the highest: versions are
 * reserved per part of the code base and may land out of order. */
static int
apply_migrations(PGconn *conn, char **cause)
{
	for (unsigned i = 0; i < schema_nmigrations; i++) {
		const struct schema_file *m = &schema_migrations[i];
		char version[16];
		snprintf(version, sizeof(version), "%d", m->version);
		const char *vp[] = { version };
		char *found = NULL;
		if (query_value(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, vp,
		                &found, cause) < 0)
			return -1;
		bool applied = found != NULL;
		free(found);
		if (!applied && apply_migration(conn, m, cause) < 0)
			return -1;
	}
	return 0;
}

/* The digest of every function file, in order, as the database records it. */
static void
functions_digest(char out[DIGEST_STR_MAX])
{
	struct digest_ctx d;
	digest_init(&d, DIGEST_SHA256);
	for (unsigned i = 0; i < schema_nfunctions; i++) {
		digest_update(&d, schema_functions[i].name, strlen(schema_functions[i].name) + 1);
		digest_update(&d, schema_functions[i].sql, strlen(schema_functions[i].sql) + 1);
	}
	digest_final(&d, out);
}

/* Whether the database has a migration this binary does not know: it is older than the
 * database, and its function definitions must not replace newer ones. */
static int
binary_is_older(PGconn *conn, bool *older, char **cause)
{
	int newest = 0;
	for (unsigned i = 0; i < schema_nmigrations; i++)
		if (schema_migrations[i].version > newest)
			newest = schema_migrations[i].version;
	char v[16];
	snprintf(v, sizeof(v), "%d", newest);
	const char *vp[] = { v };
	char *found = NULL;
	if (query_value(conn, "SELECT 1 FROM schema_migrations WHERE version > $1 LIMIT 1", 1, vp,
	                &found, cause) < 0)
		return -1;
	*older = found != NULL;
	free(found);
	return 0;
}

/* (Re)defines every function, view and trigger in one transaction when their text changed. Bodies
 * are not checked at creation (as pg_dump restores them), so files need no particular order;
 * each is checked when first run. */
static int
apply_functions(PGconn *conn, char **cause)
{
	bool older;
	if (binary_is_older(conn, &older, cause) < 0)
		return -1;
	if (older) {
		log_warn("the database's schema is newer than this binary's: its functions stay");
		return 0;
	}
	char digest[DIGEST_STR_MAX];
	functions_digest(digest);
	char *stored = NULL;
	if (query_value(conn, "SELECT digest FROM schema_functions", 0, NULL, &stored, cause) < 0)
		return -1;
	bool same = stored != NULL && strcmp(stored, digest) == 0;
	free(stored);
	if (same)
		return 0;
	if (exec_ok(conn, "BEGIN", cause) < 0 ||
	    exec_ok(conn, "SET LOCAL check_function_bodies = off", cause) < 0)
		goto fail;
	for (unsigned i = 0; i < schema_nfunctions; i++) {
		char *err = NULL;
		if (exec_ok(conn, schema_functions[i].sql, &err) < 0) {
			*cause = xasprintf("schema/functions/%s.sql failed: %s",
			                   schema_functions[i].name, err);
			free(err);
			goto fail;
		}
	}
	const char *dp[] = { digest };
	PGresult *res =
	        PQexecParams(conn,
	                     "INSERT INTO schema_functions (id, digest) VALUES (1, $1) "
	                     "ON CONFLICT (id) DO UPDATE SET digest = $1, applied_at = now()",
	                     1, NULL, dp, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		*cause = xstrdup("cannot record the functions' digest");
		goto fail;
	}
	if (exec_ok(conn, "COMMIT", cause) < 0)
		goto fail;
	log_info("applied the schema's functions (%u files)", schema_nfunctions);
	return 0;
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	return -1;
}

/* Grants metad's role its privileges (schema/grants.sql) in one transaction. */
static int
apply_grants(PGconn *conn, const char *role, char **cause)
{
	if (role == NULL || *role == '\0')
		return 0;
	const char *params[] = { role };
	char *err = NULL;
	if (exec_ok(conn, "BEGIN", cause) < 0)
		return -1;
	PGresult *res = PQexecParams(conn, "SELECT set_config('registry.metad_role', $1, true)", 1,
	                             NULL, params, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	if (!ok || exec_ok(conn, schema_grants, &err) < 0 || exec_ok(conn, "COMMIT", &err) < 0) {
		*cause = xasprintf("schema/grants.sql failed for role %s: %s", role,
		                   err ? err : "cannot set registry.metad_role");
		free(err);
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	log_info("granted metad's privileges to role %s", role);
	return 0;
}

/* Whether this connection's role may change the schema: it owns the schema's tables (superusers
 * do), or, on a database without them, may create them. */
static int
may_apply(PGconn *conn, bool *may, char **cause)
{
	char *v = NULL;
	if (query_value(conn,
	                "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL"
	                " THEN has_schema_privilege(current_schema(), 'CREATE')"
	                " ELSE pg_has_role((SELECT relowner FROM pg_class"
	                "                   WHERE oid = to_regclass('schema_migrations')), 'USAGE')"
	                " END",
	                0, NULL, &v, cause) < 0)
		return -1;
	*may = v != NULL && strcmp(v, "t") == 0;
	free(v);
	return 0;
}

/* Whether the database holds this binary's schema: every migration, and the functions unless
 * the database is newer than the binary. */
static int
schema_current(PGconn *conn, bool *current, char **cause)
{
	*current = false;
	char *v = NULL;
	if (query_value(conn, "SELECT to_regclass('schema_functions') IS NOT NULL", 0, NULL, &v,
	                cause) < 0)
		return -1;
	bool exists = v != NULL && strcmp(v, "t") == 0;
	free(v);
	if (!exists)
		return 0;
	for (unsigned i = 0; i < schema_nmigrations; i++) {
		char version[16];
		snprintf(version, sizeof(version), "%d", schema_migrations[i].version);
		const char *vp[] = { version };
		if (query_value(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, vp,
		                &v, cause) < 0)
			return -1;
		bool applied = v != NULL;
		free(v);
		if (!applied)
			return 0;
	}
	bool older;
	if (binary_is_older(conn, &older, cause) < 0)
		return -1;
	char digest[DIGEST_STR_MAX];
	functions_digest(digest);
	if (query_value(conn, "SELECT digest FROM schema_functions", 0, NULL, &v, cause) < 0)
		return -1;
	*current = older || (v != NULL && strcmp(v, digest) == 0);
	free(v);
	return 0;
}

/* Waits until the schema's owner has brought the schema to this binary's version. Each look
 * waits for an owner applying it right now (the advisory lock, shared). */
static int
wait_current(PGconn *conn, char **cause)
{
	for (int i = 0; i < SCHEMA_WAIT_SECONDS * 4; i++) {
		bool current = false;
		char *ignored = NULL;
		if (exec_ok(conn, "SELECT pg_advisory_lock_shared(" SCHEMA_LOCK_KEY ")", cause) < 0)
			return -1;
		int rc = schema_current(conn, &current, cause);
		if (exec_ok(conn, "SELECT pg_advisory_unlock_shared(" SCHEMA_LOCK_KEY ")",
		            &ignored) < 0)
			free(ignored);
		if (rc < 0)
			return -1;
		if (current)
			return 0;
		if (i == 0)
			log_info("waiting for the schema's owner (authd) to apply this version");
		usleep(250 * 1000);
	}
	*cause = xasprintf(
	        "the database's schema is not at this binary's version, and role %s, "
	        "which does not own it, may not apply it: start authd of the same version",
	        PQuser(conn));
	return -1;
}

int
schema_apply(PGconn *conn, const char *metad_role, char **cause)
{
	bool may;
	if (may_apply(conn, &may, cause) < 0)
		return -1;
	if (!may)
		return wait_current(conn, cause);
	if (exec_ok(conn, "SELECT pg_advisory_lock(" SCHEMA_LOCK_KEY ")", cause) < 0)
		return -1;
	int rc = -1;
	if (exec_ok(conn,
	            "CREATE TABLE IF NOT EXISTS schema_migrations ("
	            " version integer PRIMARY KEY,"
	            " name text NOT NULL,"
	            " applied_at timestamptz NOT NULL DEFAULT now());"
	            "CREATE TABLE IF NOT EXISTS schema_functions ("
	            " id integer PRIMARY KEY CHECK (id = 1),"
	            " digest text NOT NULL,"
	            " applied_at timestamptz NOT NULL DEFAULT now())",
	            cause) < 0)
		goto out;
	if (apply_migrations(conn, cause) < 0 || apply_functions(conn, cause) < 0 ||
	    apply_grants(conn, metad_role, cause) < 0)
		goto out;
	rc = 0;
out:;
	char *ignored = NULL;
	if (exec_ok(conn, "SELECT pg_advisory_unlock(" SCHEMA_LOCK_KEY ")", &ignored) < 0)
		free(ignored);
	return rc;
}

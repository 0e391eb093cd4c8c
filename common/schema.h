/*
 * The database schema, embedded at build time from schema/ (build-aux/embed-schema.sh) and applied
 * at start by the daemons that own the database (authd and metad), under a PostgreSQL advisory lock
 * so that daemons or nodes starting at once never apply anything twice:
 * - schema/migrations/NNN_name.sql: tables, indexes and data, append-only. Each version is applied
 *   once, in its own transaction, and recorded in schema_migrations.
 * - schema/functions/<area>.sql: the one live definition of every function, view and trigger
 *   (CREATE OR REPLACE), applied after the migrations in one transaction whenever their text
 *   differs from what the database last got (schema_functions keeps its digest). A binary older
 *   than the database (it lacks migrations the database has) leaves the functions alone.
 * - schema/grants.sql: the privileges of metad's role when another role (authd's) owns the schema,
 *   granted at every start after the rest.
 * Only the schema's owner applies it. A role that may not (metad's, under privilege separation)
 * waits instead, for a while, until the owner has brought the schema to this binary's version.
 */
#ifndef REGISTRY_SCHEMA_H
#define REGISTRY_SCHEMA_H

#include <libpq-fe.h>

struct schema_file {
	int version;      /* a migration's NNN; 0 for a function file */
	const char *name; /* "024_registry_catalog", "rights" */
	const char *sql;
};

extern const struct schema_file schema_migrations[];
extern const unsigned schema_nmigrations;
extern const struct schema_file schema_functions[];
extern const unsigned schema_nfunctions;
extern const char schema_grants[];

/* Applies the missing migrations, then the functions when they changed, then grants metad_role
 * (NULL or "": none) its privileges; or, when this role does not own the schema, waits until it
 * is current. -1 with *cause. */
int schema_apply(PGconn *conn, const char *metad_role, char **cause);

#endif

/*
 * Versioned schema migrations (metad/migrations/NNN_name.sql, embedded at build time). Applied
 * at start by the first daemon that needs the schema, under a PostgreSQL advisory lock, so that
 * several daemons or instances starting at once apply each version exactly once. The table
 * schema_migrations records what was applied.
 */
#ifndef REGISTRY_MIGRATE_H
#define REGISTRY_MIGRATE_H

#include <libpq-fe.h>

struct migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct migration migrations[];
extern const unsigned nmigrations;

/* Applies the missing migrations in order, each in its own transaction; -1 with *cause. */
int migrate_apply(PGconn *conn, char **cause);

#endif

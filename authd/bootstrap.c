/*
 * The first start: the admin "root" (email admin@example.com, name Administrator) with the
 * password from REGISTRY_ROOT_PASSWORD (or a generated one) and an admin personal access token,
 * both written to [authd] bootstrap_file (mode 0600, shell syntax). Secrets are never logged:
 * without a file, root gets the password of REGISTRY_ROOT_PASSWORD (which its operator knows)
 * and no token, and with neither the first start is refused. Runs in the master before the workers
 * start, with blocking libpq; an advisory lock makes two instances starting at once create root
 * exactly once, and a start that finds root does nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authd.h"
#include "cfg.h"
#include "log.h"
#include "util.h"

#define BOOTSTRAP_LOCK "7311720530" /* pg_advisory_xact_lock key: "root" bootstrap */
#define ROOT_SCOPES "{api,read_api,read_user,read_registry,write_registry,sudo}"

static const char sql_create[] =
        "WITH u AS (INSERT INTO users (username, name, email, password_hash, is_admin) "
        "VALUES ('root', 'Administrator', 'admin@example.com', $1, true) RETURNING id, name), "
        "n AS (SELECT nextval(pg_get_serial_sequence('namespaces', 'id')) AS id), "
        "ns AS (INSERT INTO namespaces (id, kind, name, path, full_path, full_name, traversal_ids, "
        "owner_id) SELECT n.id, 'user', u.name, 'root', 'root', u.name, ARRAY[n.id], u.id "
        "FROM u, n) "
        "INSERT INTO personal_access_tokens (user_id, name, scopes, token_lookup, token_hash) "
        "SELECT u.id, 'bootstrap', '" ROOT_SCOPES "', $2, $3 FROM u WHERE $2::text IS NOT NULL";

/* Runs a statement; -1 with *cause when it fails. */
static int
run(PGconn *conn, const char *sql, int n, const char *const *v, PGresult **out, char **cause)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, v, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		*cause = xasprintf("bootstrap: %s", PQresultErrorMessage(res));
		(*cause)[strcspn(*cause, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* Single-quoted for a shell; our secrets are base62 and need no escaping, but be safe. */
static char *
shell_quote(const char *s)
{
	size_t n = 3;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *out = xmalloc(n), *o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

/* Writes the secrets to path.tmp (0600), to be renamed once the database has them. */
static int
write_tmp(const char *tmp, const char *password, const char *token, char **cause)
{
	char *qp = shell_quote(password), *qt = shell_quote(token);
	char *text =
	        xasprintf("# Credentials of the registry's first admin, written on first start.\n"
	                  "ROOT_USERNAME='root'\nROOT_PASSWORD=%s\nROOT_TOKEN=%s\n",
	                  qp, qt);
	int rc = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) < 0 || write_all(fd, text, strlen(text)) < 0 ||
	    fsync(fd) < 0)
		*cause = xasprintf("bootstrap: cannot write %s: %s", tmp, strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	sodium_memzero(text, strlen(text));
	sodium_memzero(qp, strlen(qp));
	sodium_memzero(qt, strlen(qt));
	free(text);
	free(qp);
	free(qt);
	return rc;
}

int
bootstrap_run(PGconn *conn, const struct cfg *cfg, char **cause)
{
	const char *file = cfg_str(cfg, CFG_AUTHD_BOOTSTRAP_FILE);
	const char *env = getenv("REGISTRY_ROOT_PASSWORD");
	if (env != NULL && *env != '\0' && (strlen(env) < 8 || strlen(env) > 128)) {
		*cause = xstrdup("REGISTRY_ROOT_PASSWORD must have 8 to 128 characters");
		return -1;
	}
	if (run(conn, "BEGIN", 0, NULL, NULL, cause) < 0)
		return -1;
	PGresult *res = NULL;
	if (run(conn, "SELECT pg_advisory_xact_lock(" BOOTSTRAP_LOCK ")", 0, NULL, NULL, cause) <
	            0 ||
	    run(conn, "SELECT 1 FROM users WHERE username = 'root'", 0, NULL, &res, cause) < 0) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	bool exists = PQntuples(res) > 0;
	PQclear(res);
	if (exists) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return 0;
	}
	bool from_env = env != NULL && *env != '\0';
	if (*file == '\0' && !from_env) {
		PQclear(PQexec(conn, "ROLLBACK"));
		*cause = xstrdup(
		        "bootstrap: set [authd] bootstrap_file (where the admin's first "
		        "password and token are written) or REGISTRY_ROOT_PASSWORD; secrets "
		        "are never logged");
		return -1;
	}

	char password[129], token[SECRET_MAX], lookup[SECRET_LOOKUP_MAX + 1];
	if (from_env)
		snprintf(password, sizeof(password), "%s", env);
	else
		secret_password(password, 24);
	secret_new(SECRET_PAT, token, lookup);
	char *phash = hash_make_now(password, HASH_PASSWORD);
	char *thash = hash_make_now(token, HASH_TOKEN);
	char *tmp = *file ? xasprintf("%s.tmp", file) : NULL;
	int rc = -1;
	if (phash == NULL || thash == NULL) {
		*cause = xstrdup("bootstrap: cannot hash the root credentials");
		goto out;
	}
	/* without a file nobody could ever read the token: make none */
	const char *v[] = { phash, tmp ? lookup : NULL, tmp ? thash : NULL };
	if (run(conn, sql_create, 3, v, NULL, cause) < 0)
		goto out;
	if (tmp != NULL && write_tmp(tmp, password, token, cause) < 0)
		goto out;
	if (run(conn, "COMMIT", 0, NULL, NULL, cause) < 0)
		goto out;
	rc = 0;
	if (tmp != NULL && rename(tmp, file) < 0) {
		/* root exists now: keep the secrets where they are rather than lose them */
		log_error("created the admin root but cannot rename %s to %s: %s", tmp, file,
		          strerror(errno));
	} else if (tmp != NULL) {
		log_info("created the admin root; its password and token are in %s", file);
	} else {
		log_warn(
		        "created the admin root with the password of REGISTRY_ROOT_PASSWORD and no "
		        "token (set [authd] bootstrap_file to receive one)");
	}
out:
	if (rc < 0) {
		PQclear(PQexec(conn, "ROLLBACK"));
		if (tmp != NULL)
			unlink(tmp);
	}
	sodium_memzero(password, sizeof(password));
	sodium_memzero(token, sizeof(token));
	free(phash);
	free(thash);
	free(tmp);
	return rc;
}

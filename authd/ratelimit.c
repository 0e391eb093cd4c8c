/*
 * Slowing down password and token guessing. Failures are counted per client address, and per
 * client and login, in PostgreSQL (auth_failures), so every worker of every authd instance sees
 * the same counts (RATELIMIT_SQL in authd.h has the policy); the
 * credential queries read the wait (RATELIMIT_SQL) in the same round trip as the row they look
 * up, and a client that must wait is answered 429 without any hashing, which also keeps a
 * flood of guesses from eating the hashing threads.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "authd.h"
#include "log.h"
#include "pg.h"
#include "util.h"

/* Counts a failure of client $1 and of client $1 as login $2 (when there is one). */
PG_STMT(q_fail,
        "INSERT INTO auth_failures AS f (client, failures, window_start, last_failure_at) "
        "SELECT k, 1, now(), now() FROM unnest(ARRAY[$1, $1 || ' ' || lower(left($2, 255))]) k "
        "WHERE k IS NOT NULL "
        "ON CONFLICT (client) DO UPDATE SET "
        "failures = CASE WHEN f.last_failure_at < now() - interval '15 minutes' THEN 1 "
        "ELSE f.failures + 1 END, "
        "window_start = CASE WHEN f.last_failure_at < now() - interval '15 minutes' THEN now() "
        "ELSE f.window_start END, "
        "last_failure_at = now() "
        "RETURNING (f.client = $1) AS whole, f.failures");
PG_STMT(q_clear, "DELETE FROM auth_failures WHERE client = $1 || ' ' || lower(left($2, 255))");
PG_STMT(q_purge_failures,
        "DELETE FROM auth_failures WHERE last_failure_at < now() - interval '1 day'");
PG_STMT(q_purge_oauth,
        "DELETE FROM oauth_access_tokens WHERE revoked AND created_at < now() - interval '1 day'");

struct fail_op {
	char *client;
	char *what;
	void (*done)(void *);
	void *arg;
};

/* The failure is counted: log it with the counts, then go on. */
static void
fail_stored(PGresult *res, void *arg)
{
	struct fail_op *op = arg;
	if (!pg_ok(res)) {
		log_error("cannot record a failed sign-in: %s", pg_error(res));
	} else {
		long long client = 0, login = 0;
		for (int i = 0; i < pg_rows(res); i++) {
			if (pg_get_bool(res, i, "whole"))
				client = pg_get_int(res, i, "failures");
			else
				login = pg_get_int(res, i, "failures");
		}
		bool slow = client >= RATELIMIT_FREE_CLIENT || login >= RATELIMIT_FREE_LOGIN;
		log_warn(
		        "authentication failed: %s from %s (%lld failures for this login, %lld from "
		        "this client%s)",
		        op->what, op->client, login, client, slow ? "; slowing down" : "");
	}
	if (op->done != NULL)
		op->done(op->arg);
	free(op->client);
	free(op->what);
	free(op);
}

char *
ratelimit_client_key(const char *client)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	if (inet_pton(AF_INET6, client, a) != 1)
		return xstrdup(client);
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0 &&
	    inet_ntop(AF_INET, a + 12, text, sizeof(text)) != NULL)
		return xstrdup(text);
	memset(a + 8, 0, 8);
	if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL)
		return xstrdup(client);
	return xasprintf("%s/64", text);
}

void
ratelimit_fail(const char *client, const char *login, const char *what, void (*done)(void *),
               void *arg)
{
	struct fail_op *op = xcalloc(1, sizeof(*op));
	op->client = xstrdup(client);
	op->what = xstrdup(what);
	op->done = done;
	op->arg = arg;
	const char *v[] = { client, login };
	pg_exec(ad.db, &q_fail, 2, v, fail_stored, op);
}

/* Logs the failure of a query nobody waits for. */
static void
ignore_result(PGresult *res, void *arg)
{
	if (!pg_ok(res))
		log_warn("%s: %s", (const char *)arg, pg_error(res));
}

void
ratelimit_clear(const char *client, const char *login)
{
	if (login == NULL)
		return;
	const char *v[] = { client, login };
	pg_exec(ad.db, &q_clear, 2, v, ignore_result, (void *)"cannot clear failed sign-ins");
}

void
ratelimit_purge(void)
{
	pg_exec(ad.db, &q_purge_failures, 0, NULL, ignore_result,
	        (void *)"cannot purge auth_failures");
	pg_exec(ad.db, &q_purge_oauth, 0, NULL, ignore_result, (void *)"cannot purge OAuth tokens");
}

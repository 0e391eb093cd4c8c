/*
 * Checking credentials: one query finds the row (by username, or by a token's lookup prefix)
 * together with the client's rate-limit wait; the secret is compared with its Argon2id hash in
 * the hashing threads (tokens that verified recently are taken from the cache instead); then the
 * row's state decides: revoked, expired, blocked, or signed in.
 *
 * The secret is checked before the state is reported, so only someone holding a valid secret
 * learns that it was revoked or its user blocked. An unknown username still costs a full
 * password hash, so that timing does not tell which usernames exist.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authd.h"
#include "cfg.h"
#include "log.h"
#include "pg.h"
#include "util.h"

/* Every credential query answers with the same columns. */
#define CRED_COLS                                                                                  \
	"w.wait, w.failures, (t.id IS NOT NULL OR t.user_id IS NOT NULL) AS found, "               \
	"t.id AS token_id, t.token_hash, array_to_string(t.scopes, ',') AS scopes, "               \
	"t.revoked, t.expired, t.user_id, t.username, t.is_admin, t.state, t.failed_attempts, "    \
	"ceil(extract(epoch FROM t.locked_until - now()))::int AS locked_for "

/* Tokens are not locked with their account: a lock stops password guessing. */
#define NO_LOCK "0 AS failed_attempts, NULL::timestamptz AS locked_until "

PG_STMT(q_password,
        "SELECT " CRED_COLS "FROM " RATELIMIT_SQL " LEFT JOIN ("
        "SELECT NULL::bigint AS id, u.password_hash AS token_hash, '{}'::text[] AS scopes, "
        "false AS revoked, false AS expired, u.id AS user_id, u.username, u.is_admin, u.state, "
        "u.failed_attempts, u.locked_until "
        "FROM users u WHERE lower(u.username) = lower($1) OR lower(u.email) = lower($1) "
        "ORDER BY (lower(u.username) = lower($1)) DESC LIMIT 1) t ON true");
PG_STMT(q_pat, "SELECT " CRED_COLS "FROM " RATELIMIT_SQL " LEFT JOIN ("
               "SELECT p.id, p.token_hash, p.scopes, p.revoked, "
               "(p.expires_at IS NOT NULL AND p.expires_at <= current_date) AS expired, "
               "u.id AS user_id, u.username, u.is_admin, u.state, " NO_LOCK
               "FROM personal_access_tokens p JOIN users u ON u.id = p.user_id "
               "WHERE p.token_lookup = $1) t ON true");
PG_STMT(q_oauth,
        "SELECT " CRED_COLS "FROM " RATELIMIT_SQL " LEFT JOIN ("
        "SELECT o.id, o.token_hash, o.scopes, o.revoked, o.expires_at <= now() AS expired, "
        "u.id AS user_id, u.username, u.is_admin, u.state, " NO_LOCK
        "FROM oauth_access_tokens o JOIN users u ON u.id = o.user_id "
        "WHERE o.token_lookup = $1) t ON true");
PG_STMT(q_refresh,
        "SELECT " CRED_COLS "FROM " RATELIMIT_SQL " LEFT JOIN ("
        "SELECT o.id, o.refresh_hash AS token_hash, o.scopes, o.revoked, false AS expired, "
        "u.id AS user_id, u.username, u.is_admin, u.state, " NO_LOCK
        "FROM oauth_access_tokens o JOIN users u ON u.id = o.user_id "
        "WHERE o.refresh_lookup = $1) t ON true");
PG_STMT(q_deploy,
        "SELECT " CRED_COLS "FROM " RATELIMIT_SQL " LEFT JOIN ("
        "SELECT d.id, d.token_hash, d.scopes, d.revoked, "
        "(d.expires_at IS NOT NULL AND d.expires_at <= now()) AS expired, "
        "NULL::bigint AS user_id, d.username, false AS is_admin, 'active' AS state, " NO_LOCK
        "FROM deploy_tokens d WHERE d.token_lookup = $1) t ON true");
PG_STMT(q_account_failed, "SELECT user_sign_in_failed($1, $2, $3) AS locked");
PG_STMT(q_signed_in, "SELECT user_signed_in($1)");
PG_STMT(q_touch_pat, "UPDATE personal_access_tokens SET last_used_at = now() WHERE id = $1 "
                     "AND (last_used_at IS NULL OR last_used_at < now() - interval '10 minutes')");

struct cred_op {
	enum secret_kind kind; /* SECRET_NONE: a password */
	char *client;          /* the rate limit's key (ratelimit_client_key) */
	char *ip;              /* the client's address, for audit events */
	char *login;           /* as given; for a deploy token, must be its username */
	char *secret;
	char *hash;
	cred_cb cb;
	void *arg;
	struct cred_result r;
	enum cred_status after; /* what to report once the secret verified */
	int failures;
	int account_failures; /* a password's account: failures in a row (user_sign_in_failed) */
	bool login_known;     /* the login names a user (or the deploy token's username) */
};

/* How a credential kind is named in log lines. */
static const char *
kind_text(enum secret_kind kind)
{
	switch (kind) {
	case SECRET_PAT:
		return "personal access token";
	case SECRET_DEPLOY:
		return "deploy token";
	case SECRET_OAUTH:
		return "OAuth token";
	case SECRET_REFRESH:
		return "OAuth refresh token";
	default:
		return "password";
	}
}

/* Frees a check, wiping the secret. */
static void
op_free(struct cred_op *op)
{
	if (op->secret != NULL) {
		sodium_memzero(op->secret, strlen(op->secret));
		free(op->secret);
	}
	free(op->client);
	free(op->ip);
	free(op->login);
	free(op->hash);
	free(op);
}

/* Hands the result to the caller and ends the check. */
static void
op_report(struct cred_op *op)
{
	op->cb(&op->r, op->arg);
	op_free(op);
}

/* The failure is counted: answer the caller. */
static void
fail_recorded(void *arg)
{
	struct cred_op *op = arg;
	op->r.status = CRED_INVALID;
	op_report(op);
}

/* A login as it may appear in a log line: one that names an account, printable and bounded.
 * A login that names nobody is not shown: it is as often a password or a token typed into the
 * username field as a name. */
static char *
printable(const char *s, bool known)
{
	if (!known || secret_looks_like(s))
		return xstrdup("[FILTERED]");
	char buf[65];
	size_t i = 0;
	for (; s != NULL && s[i] && i < sizeof(buf) - 1; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = '\0';
	return xstrdup(buf);
}

/* Counts the failure against the client (ratelimit.c), then answers CRED_INVALID. */
static void
op_fail_client(struct cred_op *op)
{
	char *who = printable(op->login, op->login_known);
	char *what = op->kind == SECRET_NONE || op->kind == SECRET_DEPLOY
	                     ? xasprintf("%s for \"%s\"", kind_text(op->kind), who)
	                     : xstrdup(kind_text(op->kind));
	ratelimit_fail(op->client, op->login, what, fail_recorded, op);
	free(what);
	free(who);
}

/* The account's failure is counted: say so when it locked the account, then count the client's. */
static void
account_fail_recorded(PGresult *res, void *arg)
{
	struct cred_op *op = arg;
	if (!pg_ok(res))
		log_error("cannot count a failed sign-in of an account: %s", pg_error(res));
	else if (pg_rows(res) == 1 && pg_get_bool(res, 0, "locked"))
		log_warn("account \"%s\" locked for %lld minutes after %lld failed sign-ins",
		         op->r.username, (long long)cfg_int(ad.cfg, CFG_AUTHD_LOCK_MINUTES),
		         (long long)cfg_int(ad.cfg, CFG_AUTHD_MAX_LOGIN_ATTEMPTS));
	op_fail_client(op);
}

/* A wrong or unknown secret: a wrong password of an account counts against the account (which
 * locks after [authd] max_login_attempts in a row, from any address), and every failure against
 * the client; then answers CRED_INVALID. */
static void
op_fail(struct cred_op *op)
{
	if (op->kind != SECRET_NONE || op->r.user_id <= 0) {
		op_fail_client(op);
		return;
	}
	char id[24], max[24], minutes[24];
	snprintf(id, sizeof(id), "%lld", (long long)op->r.user_id);
	snprintf(max, sizeof(max), "%lld",
	         (long long)cfg_int(ad.cfg, CFG_AUTHD_MAX_LOGIN_ATTEMPTS));
	snprintf(minutes, sizeof(minutes), "%lld",
	         (long long)cfg_int(ad.cfg, CFG_AUTHD_LOCK_MINUTES));
	const char *v[] = { id, max, minutes };
	pg_exec_from(ad.db, &q_account_failed, 3, v, NULL, NULL, false, op->ip,
	             account_fail_recorded, op);
}

/* Result of a query nobody waits for (last use of a token). */
static void
ignore(PGresult *res, void *arg)
{
	(void)res;
	(void)arg;
}

/* A password sign-in is recorded (user_signed_in): answer the caller. */
static void
signed_in_recorded(PGresult *res, void *arg)
{
	struct cred_op *op = arg;
	if (!pg_ok(res))
		log_error("cannot record a sign-in: %s", pg_error(res));
	op_report(op);
}

/* The secret verified: report the row's state. */
static void
op_verified(struct cred_op *op)
{
	op->r.status = op->after;
	if (op->after == CRED_OK) {
		if (op->failures > 0)
			ratelimit_clear(op->client, op->login);
		if (op->kind == SECRET_NONE) {
			/* a password sign-in: recorded before it is answered, so that the audit
			 * event is there once the client signed in */
			char id[24];
			snprintf(id, sizeof(id), "%lld", (long long)op->r.user_id);
			const char *v[] = { id };
			pg_exec_from(ad.db, &q_signed_in, 1, v, NULL, NULL, false, op->ip,
			             signed_in_recorded, op);
			return;
		}
		if (op->kind == SECRET_PAT) {
			char id[32];
			snprintf(id, sizeof(id), "%lld", (long long)op->r.token_id);
			const char *v[] = { id };
			pg_exec(ad.db, &q_touch_pat, 1, v, ignore, NULL);
		}
	}
	op_report(op);
}

/* The secret was compared with the stored hash. */
static void
cred_hash_checked(bool ok, const char *hash, void *arg)
{
	struct cred_op *op = arg;
	(void)hash;
	if (!ok || op->after == CRED_INVALID) {
		op_fail(op);
		return;
	}
	secret_cache_put(op->secret, op->hash, op->kind,
	                 op->kind == SECRET_NONE ? op->r.user_id : op->r.token_id);
	op_verified(op);
}

/* The sign-in kind a credential kind makes. */
static enum auth_kind
auth_kind_of(enum secret_kind kind)
{
	switch (kind) {
	case SECRET_PAT:
		return AUTH_PERSONAL_ACCESS_TOKEN;
	case SECRET_DEPLOY:
		return AUTH_DEPLOY_TOKEN;
	case SECRET_OAUTH:
	case SECRET_REFRESH:
		return AUTH_OAUTH;
	default:
		return AUTH_PASSWORD;
	}
}

/* The credential's row (and the client's wait) is in: decide, or compare the secret. */
static void
row_found(PGresult *res, void *arg)
{
	struct cred_op *op = arg;
	if (!pg_ok(res) || pg_rows(res) != 1) {
		log_error("credential lookup failed: %s", pg_error(res));
		op->r.status = CRED_ERROR;
		op_report(op);
		return;
	}
	op->failures = (int)pg_get_int(res, 0, "failures");
	int wait = (int)pg_get_int(res, 0, "wait");
	if (wait > 0) {
		op->r.status = CRED_LIMITED;
		op->r.retry_after = wait;
		op_report(op);
		return;
	}
	if (op->kind == SECRET_NONE && hash_busy()) {
		log_warn("too many password checks waiting; refusing one from %s", op->client);
		op->r.status = CRED_ERROR;
		op_report(op);
		return;
	}
	if (!pg_get_bool(res, 0, "found")) {
		if (op->kind == SECRET_NONE) {
			op->after = CRED_INVALID;
			hash_verify(hash_dummy(), op->secret, cred_hash_checked, op);
		} else {
			op_fail(op);
		}
		return;
	}
	struct cred_result *r = &op->r;
	r->kind = auth_kind_of(op->kind);
	r->user_id = pg_get_int(res, 0, "user_id");
	op->account_failures = (int)pg_get_int(res, 0, "failed_attempts");
	int locked_for = (int)pg_get_int(res, 0, "locked_for");
	if (locked_for > 0) {
		/* a locked account takes no password, the right one included, until the lock ends
		 * (or an admin lifts it): guessing stops for everyone, as GitLab does */
		log_warn("sign-in refused: account \"%s\" is locked for %d more seconds",
		         pg_get(res, 0, "username"), locked_for);
		op->r.status = CRED_LIMITED;
		op->r.retry_after = locked_for;
		op_report(op);
		return;
	}
	r->token_id = pg_get_int(res, 0, "token_id");
	snprintf(r->username, sizeof(r->username), "%s", pg_get(res, 0, "username"));
	op->login_known = op->kind == SECRET_NONE ||
	                  (op->login != NULL && strcmp(op->login, r->username) == 0);
	r->admin = pg_get_bool(res, 0, "is_admin");
	r->scopes = scopes_parse(pg_get(res, 0, "scopes"), NULL);
	const char *state = pg_get(res, 0, "state");
	if (pg_get_bool(res, 0, "revoked"))
		op->after = CRED_REVOKED;
	else if (pg_get_bool(res, 0, "expired"))
		op->after = CRED_EXPIRED;
	else if (state == NULL || strcmp(state, "active") != 0)
		op->after = CRED_BLOCKED;
	else
		op->after = CRED_OK;
	/* A deploy token answers only to its own username. */
	if (op->kind == SECRET_DEPLOY &&
	    (op->login == NULL || strcmp(op->login, r->username) != 0)) {
		op_fail(op);
		return;
	}
	const char *hash = pg_get(res, 0, "token_hash");
	if (hash == NULL) {
		/* A user without a password (created with a random one, never set). */
		op->after = CRED_INVALID;
		hash = hash_dummy();
	}
	/* Docker clients ask for a token many times per session: a password that matched this
	 * stored hash lately is not hashed again (a minute of Argon2id and 19 MiB each time). */
	if (op->after != CRED_INVALID &&
	    secret_cache_hit(op->secret, hash, op->kind,
	                     op->kind == SECRET_NONE ? r->user_id : r->token_id)) {
		op_verified(op);
		return;
	}
	op->hash = xstrdup(hash);
	hash_verify(op->hash, op->secret, cred_hash_checked, op);
}

/* A check of secret (copied) for client and login. */
static struct cred_op *
op_new(const char *client, const char *login, const char *secret, cred_cb cb, void *arg)
{
	struct cred_op *op = xcalloc(1, sizeof(*op));
	op->client = ratelimit_client_key(client);
	op->ip = xstrdup(client != NULL ? client : "");
	op->login = login ? xstrdup(login) : NULL;
	op->secret = xstrdup(secret ? secret : "");
	op->cb = cb;
	op->arg = arg;
	return op;
}

/* Looks up the row of kind by key (a login or a lookup prefix). */
static void
op_start(struct cred_op *op, const char *key)
{
	struct pg_stmt *stmt;
	switch (op->kind) {
	case SECRET_PAT:
		stmt = &q_pat;
		break;
	case SECRET_DEPLOY:
		stmt = &q_deploy;
		break;
	case SECRET_OAUTH:
		stmt = &q_oauth;
		break;
	case SECRET_REFRESH:
		stmt = &q_refresh;
		break;
	default:
		stmt = &q_password;
		break;
	}
	const char *v[] = { key, op->client, op->login };
	pg_exec(ad.db, stmt, 3, v, row_found, op);
}

void
cred_password(const char *client, const char *login, const char *password, cred_cb cb, void *arg)
{
	struct cred_op *op = op_new(client, login, password, cb, arg);
	op->kind = SECRET_NONE;
	op_start(op, login ? login : "");
}

void
cred_token(const char *client, const char *token, unsigned mask, cred_cb cb, void *arg)
{
	char lookup[SECRET_LOOKUP_MAX + 1];
	struct cred_op *op = op_new(client, NULL, token, cb, arg);
	op->kind = secret_parse(token, mask, lookup);
	if (op->kind == SECRET_NONE) {
		op->kind = (mask & (1u << SECRET_PAT)) ? SECRET_PAT : SECRET_OAUTH;
		op_fail(op);
		return;
	}
	op_start(op, lookup);
}

void
cred_basic(const char *client, const char *login, const char *password, unsigned mask, cred_cb cb,
           void *arg)
{
	char lookup[SECRET_LOOKUP_MAX + 1];
	unsigned token_mask = mask & ((1u << SECRET_PAT) | (1u << SECRET_DEPLOY));
	if (login != NULL && strcmp(login, "oauth2") == 0)
		token_mask |= mask & (1u << SECRET_OAUTH);
	enum secret_kind kind = secret_parse(password, token_mask, lookup);
	if (kind == SECRET_NONE) {
		cred_password(client, login, password, cb, arg);
		return;
	}
	struct cred_op *op = op_new(client, login, password, cb, arg);
	op->kind = kind;
	op_start(op, lookup);
}

void
cred_name_actor(struct http_txn *txn, const struct cred_result *r)
{
	struct actor a = { .kind = r->kind };
	snprintf(a.username, sizeof(a.username), "%s", r->username);
	http_txn_set_actor(txn, actor_log_name(&a));
}

const char *
cred_client(struct http_txn *txn)
{
	static char buf[128];
	const char *xff = headers_get(&http_txn_request(txn)->headers, "X-Forwarded-For");
	if (xff == NULL || *xff == '\0')
		return http_txn_peer(txn);
	/* The gateway sets one address; take the first if there are several. */
	while (*xff == ' ')
		xff++;
	size_t len = strcspn(xff, ", ");
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, xff, len);
	buf[len] = '\0';
	return buf;
}

bool
cred_parse_basic(const char *header, char **user, char **password)
{
	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
		return false;
	const char *b64 = header + 6;
	while (*b64 == ' ')
		b64++;
	size_t len = strlen(b64);
	if (len == 0 || len > 4096)
		return false;
	unsigned char *bin = xmalloc(len);
	size_t binlen;
	const char *end;
	if (sodium_base642bin(bin, len, b64, len, " ", &binlen, &end,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    *end != '\0' || memchr(bin, '\0', binlen) != NULL) {
		free(bin);
		return false;
	}
	const unsigned char *colon = memchr(bin, ':', binlen);
	if (colon == NULL) {
		free(bin);
		return false;
	}
	*user = xstrndup((const char *)bin, (size_t)(colon - bin));
	*password = xstrndup((const char *)colon + 1, binlen - (size_t)(colon - bin) - 1);
	sodium_memzero(bin, binlen);
	free(bin);
	return true;
}

/*
 * authd: users, credentials (passwords, personal access tokens, deploy tokens, OAuth tokens)
 * and the token service; the only process holding the token signing key.
 * Private header: the worker's state and each module's entry points, grouped by file.
 */
#ifndef REGISTRY_AUTHD_H
#define REGISTRY_AUTHD_H

#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actor.h"
#include "http.h"
#include "rest.h"
#include "router.h"
#include "token.h"

struct cfg;
struct event_base;
struct gl_page;
struct pg_pool;
struct pgread;

struct authd {
	struct event_base *base;
	const struct cfg *cfg;
	struct pg_pool *db;
	struct pgread *read; /* the replica of [*] database_read, or NULL */
	struct token_key key;
	int worker;
};

extern struct authd ad;

/* ---- hash.c: Argon2id off the event loop -------------------------------------------------- */

/* How expensive a hash is: passwords are guessable and get libsodium's interactive cost;
 * tokens carry enough entropy that the minimum cost is as safe (see hash.c). */
enum hash_cost { HASH_PASSWORD, HASH_TOKEN };

/* ok: for a verification, whether the secret matched; for hashing, whether it worked (hash is
 * then the encoded hash, owned by the pool and valid during the call). */
typedef void (*hash_cb)(bool ok, const char *hash, void *arg);

/* Starts the worker's jobs pool (jobs.h) with nthreads threads; once per worker. */
int hash_pool_start(struct event_base *base, int nthreads, char **cause);
/* Hashes secret (copied, then wiped) in a pool thread. */
void hash_make(const char *secret, enum hash_cost cost, hash_cb cb, void *arg);
/* Compares secret with an encoded hash in constant time, in a pool thread. */
void hash_verify(const char *hash, const char *secret, hash_cb cb, void *arg);
/* The same, blocking: for the master's bootstrap. NULL on failure; caller frees. */
char *hash_make_now(const char *secret, enum hash_cost cost);
/* Whether so many hashes wait that a password check should be refused for now. */
bool hash_busy(void);
/* A hash of a random password, for checks that must take as long as a real one. */
const char *hash_dummy(void);

/* ---- secret.c: token formats and the verification cache ------------------------------------ */

enum secret_kind {
	SECRET_NONE,
	SECRET_PAT,     /* glpat-<40 base62> */
	SECRET_DEPLOY,  /* gldt-<40 base62> */
	SECRET_OAUTH,   /* 64 lowercase hex, as GitLab's OAuth access tokens */
	SECRET_REFRESH, /* 64 lowercase hex */
};

#define SECRET_MAX 80
#define SECRET_LOOKUP_MAX 16

/* A new random token of kind into out (>= SECRET_MAX bytes) and its lookup prefix into lookup
 * (>= SECRET_LOOKUP_MAX + 1 bytes). */
void secret_new(enum secret_kind kind, char *out, char *lookup);
/* The kind of a well-formed token of one of the kinds in mask (bits 1 << kind), with its lookup
 * prefix copied out; SECRET_NONE otherwise. Hex tokens are OAuth or refresh tokens as the mask
 * says (OAuth first). */
enum secret_kind secret_parse(const char *token, unsigned mask, char *lookup);
/* Whether s is one of our tokens, or starts like one (a prefix): what a log line must not
 * show, even where a login is expected. */
bool secret_looks_like(const char *s);
/* A random password of len base62 characters into out (len + 1 bytes). */
void secret_password(char *out, size_t len);

/* Remembers for a few minutes that secret verified for the row (kind, id). */
void secret_cache_init(void);
/* Secrets (passwords and tokens) that matched their stored hash lately; id is the token's row,
 * or the user's for a password (kind SECRET_NONE). */
void secret_cache_put(const char *secret, const char *stored, enum secret_kind kind, int64_t id);
bool secret_cache_hit(const char *secret, const char *stored, enum secret_kind kind, int64_t id);

/* ---- access.c: the token service's scopes and rights (pure) -------------------------------- */

struct access_item {
	char *type;       /* "repository", "registry" */
	char *name;       /* "acme/web/app", "catalog" */
	unsigned actions; /* requested (ACT_*) */
};

struct access_list {
	struct access_item *items;
	size_t n;
};

/* Adds the scopes of one scope parameter (space-separated "type:name:actions"; the type is
 * before the first colon, the actions after the last, so a name may hold a port). Malformed
 * scopes and unknown actions are skipped; the same type and name are merged. */
void access_parse(struct access_list *l, const char *param);
void access_list_clear(struct access_list *l);
/* The registry actions (ACT_PULL|ACT_PUSH|ACT_DELETE) a credential may be used for at all: a
 * personal access token's scopes narrow them (api: every one, read_registry: pull,
 * write_registry: push); other kinds, and anonymous callers, are not narrowed. What the caller's
 * rights allow on a repository is registry_access()'s (SQL). */
unsigned access_credential_actions(enum auth_kind kind, unsigned scopes);

/* ---- ratelimit.c: slowing down guessing, agreed between workers through PostgreSQL --------- */

/* Failures are counted twice: per client and login ("10.0.0.7 alice"), where five are free,
 * and per client alone, where thirty are (guessing across many accounts, or tokens). Past the
 * free ones each attempt waits 2^(failures - free) seconds after the last failure (at most five
 * minutes); fifteen minutes without a failure start afresh. A success clears the client and
 * login count only, so signing in to one's own account does not buy guesses at another. */
#define RATELIMIT_FREE_LOGIN 5
#define RATELIMIT_FREE_CLIENT 30
#define RATELIMIT_STR_(x) #x
#define RATELIMIT_STR(x) RATELIMIT_STR_(x)
/* SQL for the seconds a client ($2) signing in as a login ($3, NULL for a bare token) must still
 * wait, and the failures of that client and login so far: the columns "wait" and "failures" of a
 * one-row subquery w the credential queries start from. */
/* clang-format off */
#define RATELIMIT_SQL                                                                        \
	"(SELECT coalesce(max(CASE WHEN f.failures >= f.free THEN greatest(0, ceil(extract("   \
	"epoch FROM f.last_failure_at + least(300, power(2, f.failures - f.free)) "             \
	"* interval '1 second' - now()))) ELSE 0 END), 0)::int AS wait, "                       \
	"coalesce(max(f.failures) FILTER (WHERE f.client <> $2), 0)::int AS failures "          \
	"FROM (SELECT a.client, a.failures, a.last_failure_at, CASE WHEN a.client = $2 THEN "   \
	RATELIMIT_STR(RATELIMIT_FREE_CLIENT) " ELSE " RATELIMIT_STR(RATELIMIT_FREE_LOGIN)       \
	" END AS free FROM auth_failures a "                                                    \
	"WHERE (a.client = $2 OR a.client = $2 || ' ' || lower($3)) "                           \
	"AND a.last_failure_at > now() - interval '15 minutes') f) w"
/* clang-format on */

/* Records a failed sign-in of client as login (may be NULL) and logs it; done runs once it is
 * stored. */
void ratelimit_fail(const char *client, const char *login, const char *what, void (*done)(void *),
                    void *arg);
/* The key failures of client are counted under (caller frees): an IPv6 client by its /64, as one
 * host commonly holds a whole /64 and could otherwise rotate addresses between guesses; an
 * IPv4-mapped IPv6 address as the IPv4 address; anything else as it is. */
char *ratelimit_client_key(const char *client);
/* Forgets the failures of client as login after a successful sign-in. */
void ratelimit_clear(const char *client, const char *login);
/* Deletes old rows of auth_failures and spent OAuth tokens. */
void ratelimit_purge(void);

/* ---- cred.c: checking credentials ----------------------------------------------------------- */

enum cred_status {
	CRED_OK,
	CRED_INVALID, /* unknown, or a wrong secret */
	CRED_REVOKED,
	CRED_EXPIRED,
	CRED_BLOCKED,
	CRED_LIMITED, /* too many failures: retry_after seconds */
	CRED_ERROR,   /* the database is unreachable, or too many checks wait */
};

struct cred_result {
	enum cred_status status;
	int retry_after;
	enum auth_kind kind;
	int64_t user_id;
	char username[256]; /* the user's, or the deploy token's */
	bool admin;
	unsigned scopes;
	int64_t token_id; /* personal access, OAuth (by its refresh token too) or deploy token */
};

typedef void (*cred_cb)(const struct cred_result *r, void *arg);

/* A username (or email) and password. */
void cred_password(const char *client, const char *login, const char *password, cred_cb cb,
                   void *arg);
/* A bare token of one of the kinds in mask (1 << SECRET_*). */
void cred_token(const char *client, const char *token, unsigned mask, cred_cb cb, void *arg);
/* HTTP Basic as Git and Docker clients send it: a password, or a token as the password
 * (a deploy token with its own username, an OAuth token with "oauth2"), tokens allowed by mask. */
void cred_basic(const char *client, const char *login, const char *password, unsigned mask,
                cred_cb cb, void *arg);
/* Names the owner of accepted credentials (their username, or their kind) on the request's
 * access line. */
void cred_name_actor(struct http_txn *txn, const struct cred_result *r);
/* The client address a request comes from (the gateway's X-Forwarded-For). */
const char *cred_client(struct http_txn *txn);
/* Splits "Basic base64(user:password)"; false if it is not one (caller frees both). */
bool cred_parse_basic(const char *header, char **user, char **password);

/* ---- pats.c: personal access tokens (impersonation tokens are ones an admin made) --------- */

/* The columns a token's entity is built from (the table as t). */
#define PAT_FIELDS                                                                                 \
	"t.id, t.name, t.revoked, gl_time(t.created_at) AS created_at, "                           \
	"array_to_string(t.scopes, ',') AS scopes, t.user_id, "                                    \
	"gl_time(t.last_used_at) AS last_used_at, "                                                \
	"(NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > current_date)) AS active, "    \
	"t.expires_at::text AS expires_at, t.impersonation"

/* Entities::PersonalAccessToken from a row of PAT_FIELDS (a rest_row_fn). */
json_object *pats_json(struct rest_req *r, const PGresult *res, int row);
/* Entities::ImpersonationToken: the same and "impersonation" (a rest_row_fn). */
json_object *pats_impersonation_json(struct rest_req *r, const PGresult *res, int row);
/* POST /users/:id/personal_access_tokens or /impersonation_tokens (admins): checks the name,
 * scopes and expiry, makes the token, stores its hash, and answers it once (201). */
void pats_create(struct rest_req *r, bool impersonation);
/* Checks the name and scopes of a new token, scopes among allowed (SCOPE_* bits), if_empty the
 * answer to an empty list; answers 400 on the first problem and returns false, else true with
 * the scopes in *bits. */
bool pats_token_fields(struct rest_req *r, unsigned allowed, const char *if_empty, unsigned *bits);
/* The lookup prefix (>= SECRET_LOOKUP_MAX + 1 bytes) of the personal access token the request
 * was made with (PRIVATE-TOKEN or Authorization: Bearer); false if it came with none. */
bool pats_own_lookup(struct http_txn *txn, char *lookup);
/* The handlers of routes.def: POST /users/:id/personal_access_tokens, GET
 * /personal_access_tokens, GET and DELETE .../self and .../:id. */
void pats_create_for_user(struct rest_req *r);
void pats_list(struct rest_req *r);
void pats_self(struct rest_req *r);
void pats_revoke_self(struct rest_req *r);
void pats_get(struct rest_req *r);
void pats_revoke(struct rest_req *r);

/* ---- the handlers of each module: the rows of common/routes.def authd serves ------------- */

/* jwt.c: GET /jwt/auth, the Docker token service. */
void jwt_auth(struct rest_req *r);
/* oauth.c: POST /oauth/token (password and refresh_token grants). */
void oauth_token(struct rest_req *r);
/* oauth.c: POST /oauth/revoke (RFC 7009, as Doorkeeper answers it). */
void oauth_revoke(struct rest_req *r);
/* users.c: /user, /users[/:id[/block|unblock|ban|unban]]. */
void users_current(struct rest_req *r);
void users_list(struct rest_req *r);
void users_create(struct rest_req *r);
void users_get(struct rest_req *r);
void users_update(struct rest_req *r);
void users_delete(struct rest_req *r);
void users_block(struct rest_req *r);
void users_unblock(struct rest_req *r);
void users_unlock(struct rest_req *r);
void users_ban(struct rest_req *r);
void users_unban(struct rest_req *r);
/* imptokens.c: /users/:id/impersonation_tokens[/:token_id]. */
void imptokens_list(struct rest_req *r);
void imptokens_create(struct rest_req *r);
void imptokens_get(struct rest_req *r);
void imptokens_revoke(struct rest_req *r);
/* memberships.c: GET /users/:id/memberships. */
void memberships_list(struct rest_req *r);
/* status.c: GET, PUT, PATCH /user/status, GET /users/:id/status. */
void user_status_own(struct rest_req *r);
void user_status_set(struct rest_req *r);
void user_status_update(struct rest_req *r);
void user_status_of_user(struct rest_req *r);
/* deploy.c: /deploy_tokens, /(projects|groups)/:id/deploy_tokens[/:token_id]. */
void deploy_all(struct rest_req *r);
void deploy_project_list(struct rest_req *r);
void deploy_project_create(struct rest_req *r);
void deploy_project_get(struct rest_req *r);
void deploy_project_delete(struct rest_req *r);
void deploy_group_list(struct rest_req *r);
void deploy_group_create(struct rest_req *r);
void deploy_group_get(struct rest_req *r);
void deploy_group_delete(struct rest_req *r);

/* restokens.c: /(projects|groups)/:id/access_tokens[/:token_id[/rotate]|/self/rotate]. */
void restokens_project_list(struct rest_req *r);
void restokens_project_get(struct rest_req *r);
void restokens_project_create(struct rest_req *r);
void restokens_project_revoke(struct rest_req *r);
void restokens_project_rotate(struct rest_req *r);
void restokens_project_rotate_self(struct rest_req *r);
void restokens_group_list(struct rest_req *r);
void restokens_group_get(struct rest_req *r);
void restokens_group_create(struct rest_req *r);
void restokens_group_revoke(struct rest_req *r);
void restokens_group_rotate(struct rest_req *r);
void restokens_group_rotate_self(struct rest_req *r);

/* internal.c: POST /internal/authenticate, the gateway's question (authd's own row). */
extern const struct route internal_routes[];
extern const size_t internal_nroutes;

/* ---- bootstrap.c: the first start ---------------------------------------------------------- */

/* Creates the admin root and its token unless root exists (master, blocking). */
int bootstrap_run(PGconn *conn, const struct cfg *cfg, char **cause);

#endif

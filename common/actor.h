/*
 * Who is asking: the identity the gateway establishes (from a registry token on /v2, from authd
 * on /api/v4) and hands to the backends in X-Registry-* headers (wire.h).
 */
#ifndef REGISTRY_ACTOR_H
#define REGISTRY_ACTOR_H

#include <stdbool.h>
#include <stdint.h>

struct http_headers;

enum auth_kind {
	AUTH_ANONYMOUS,
	AUTH_PASSWORD,
	AUTH_PERSONAL_ACCESS_TOKEN,
	AUTH_OAUTH,
	AUTH_DEPLOY_TOKEN,
};

/* Token scopes (GitLab's names). */
enum {
	SCOPE_API = 1 << 0,
	SCOPE_READ_API = 1 << 1,
	SCOPE_READ_USER = 1 << 2,
	SCOPE_READ_REGISTRY = 1 << 3,
	SCOPE_WRITE_REGISTRY = 1 << 4,
	SCOPE_SUDO = 1 << 5,
	SCOPE_ALL = (1 << 6) - 1,
};

/* Registry actions of the token service. */
enum {
	ACT_PULL = 1 << 0,
	ACT_PUSH = 1 << 1,
	ACT_DELETE = 1 << 2,
	ACT_STAR = 1 << 3, /* "*", used by registry:catalog:* */
};

/* What a /v2 grant was made on: the project and its path generation (registry tokens bind each
 * repository grant to them; metad checks them against the project the path belongs to). */
struct actor_grant {
	int64_t project_id; /* 0: none forwarded */
	int64_t generation;
};

struct actor {
	int64_t user_id; /* 0: anonymous, or a deploy token */
	char username[256];
	bool admin;
	enum auth_kind kind;
	unsigned scopes;
	int64_t deploy_token_id;
	unsigned actions;              /* /v2: granted on the request's repository */
	unsigned from_actions;         /* /v2: granted on a mount's source repository */
	struct actor_grant grant;      /* /v2: what actions was granted on */
	struct actor_grant from_grant; /* /v2: what from_actions was granted on */
};

void actor_from_headers(struct actor *a, const struct http_headers *h);
void actor_to_headers(const struct actor *a, struct http_headers *h);
bool actor_signed_in(const struct actor *a);
/* Who the access line names: the username, else the credential's kind ("deploy_token"); NULL
 * for an anonymous caller. */
const char *actor_log_name(const struct actor *a);

const char *auth_kind_name(enum auth_kind kind);
enum auth_kind auth_kind_parse(const char *name);
/* "api,read_registry" <-> bits; unknown names set *bad (when given). */
unsigned scopes_parse(const char *list, bool *bad);
/* The bit of one scope name, 0 if unknown. */
unsigned scope_bit(const char *name);
char *scopes_format(unsigned scopes);
/* "pull,push" / "pull" / "*" <-> bits; unknown names are ignored (the token spec says so). */
unsigned actions_parse(const char *list);
char *actions_format(unsigned actions);

#endif

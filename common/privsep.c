/* The Unix users of the daemons: becoming one's own, and which peers a backend serves. */
#include "privsep.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "http.h"
#include "log.h"
#include "util.h"

/* Whose users may connect to which backend's socket. metad serves blobd's user on its internal
 * endpoints only (metad/main.c asks privsep_from_gateway()). */
static const struct {
	const char *backend;
	const char *peer;
} privsep_peers[] = {
	{ "authd", "gateway" },
	{ "metad", "gateway" },
	{ "metad", "blobd" },
	{ "blobd", "gateway" },
};

static const char *const privsep_roles[] = { "gateway", "authd", "metad", "blobd" };

static uid_t peer_uids[nitems(privsep_peers)];
static size_t npeer_uids;
static uid_t gateway_uid;

/* The uid of a role's [<role>] user, or this process's own when it has none; -1 with *cause. */
static int
role_uid(const struct cfg *cfg, const char *role, uid_t *uid, char **cause)
{
	const char *name = cfg_user(cfg, role);
	if (*name == '\0') {
		*uid = geteuid();
		return 0;
	}
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (pw == NULL) {
		*cause = xasprintf("[%s] user: no such user \"%s\"%s%s", role, name,
		                   errno ? ": " : "", errno ? strerror(errno) : "");
		return -1;
	}
	*uid = pw->pw_uid;
	return 0;
}

int
privsep_check(const struct cfg *cfg, char **cause)
{
	size_t set = 0;
	const char *unset = NULL;
	for (size_t i = 0; i < nitems(privsep_roles); i++) {
		if (*cfg_user(cfg, privsep_roles[i]) != '\0')
			set++;
		else
			unset = privsep_roles[i];
	}
	if (set != 0 && set != nitems(privsep_roles)) {
		*cause = xasprintf("[gateway], [authd], [metad] and [blobd] user are set together, "
		                   "or none of them ([%s] user is not set)",
		                   unset);
		return -1;
	}
	return 0;
}

/* From root: becomes the user pw names, with its group and supplementary groups, for good. */
static int
become(const char *role, const struct passwd *pw, char **cause)
{
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (initgroups(pw->pw_name, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		*cause = xasprintf("cannot become [%s] user %s: %s", role, pw->pw_name,
		                   strerror(errno));
		return -1;
	}
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid || setuid(0) == 0) {
		*cause = xasprintf("dropping privileges to [%s] user %s did not hold", role,
		                   pw->pw_name);
		return -1;
	}
	log_info("running as user %s (uid %d, gid %d)", pw->pw_name, (int)uid, (int)gid);
	return 0;
}

int
privsep_start(const struct cfg *cfg, const char *role, char **cause)
{
	const char *name = cfg_user(cfg, role);
	if (*name != '\0') {
		struct passwd *pw = getpwnam(name);
		if (pw == NULL) {
			*cause = xasprintf("[%s] user: no such user \"%s\"", role, name);
			return -1;
		}
		if (geteuid() == 0 && pw->pw_uid != 0) {
			if (become(role, pw, cause) < 0)
				return -1;
		} else if (geteuid() != pw->pw_uid) {
			*cause = xasprintf(
			        "[%s] user is %s (uid %d) but this process runs as uid %d: "
			        "start it as root or as %s",
			        role, name, (int)pw->pw_uid, (int)geteuid(), name);
			return -1;
		}
	}
	npeer_uids = 0;
	for (size_t i = 0; i < nitems(privsep_peers); i++) {
		if (strcmp(privsep_peers[i].backend, role) != 0)
			continue;
		if (role_uid(cfg, privsep_peers[i].peer, &peer_uids[npeer_uids], cause) < 0)
			return -1;
		npeer_uids++;
	}
	return role_uid(cfg, "gateway", &gateway_uid, cause);
}

bool
privsep_peer_allowed(uid_t uid)
{
	for (size_t i = 0; i < npeer_uids; i++)
		if (peer_uids[i] == uid)
			return true;
	return false;
}

bool
privsep_from_gateway(const struct http_txn *txn)
{
	return http_txn_peer_uid(txn) == gateway_uid;
}

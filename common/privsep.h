/*
 * Privilege separation: the Unix user each daemon runs as ([<role>] user) and which of them may
 * talk to which backend (docs/INTERNALS.md, "Privilege separation").
 *
 * A daemon started as root binds its TCP port (the gateway's), then becomes its user before
 * anything else (setup, its Unix socket, workers), as OpenBSD's privilege-separated daemons do; one
 * started as that user (systemd's User=) stays as it is. The same names tell each backend whose
 * connections to serve, by the uid the kernel reports for the peer of its socket (SO_PEERCRED):
 * authd and blobd serve the gateway's user; metad the gateway's, and blobd's on its internal
 * endpoints. An unset user stands for the daemon's own uid, so one user running all four (tests, a
 * developer) needs no setting.
 */
#ifndef REGISTRY_PRIVSEP_H
#define REGISTRY_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

struct cfg;
struct http_txn;

/* Checks the [<role>] user settings together: the four are set, or none is. */
int privsep_check(const struct cfg *cfg, char **cause);
/* Becomes the role's user (from root: setgid, initgroups, setuid, then checks root cannot come
 * back); a process already running as that user stays; any other is refused. Then resolves the
 * uids of the role's peers. -1 with *cause. */
int privsep_start(const struct cfg *cfg, const char *role, char **cause);
/* Whether a connection to this backend's socket from uid may be served at all. */
bool privsep_peer_allowed(uid_t uid);
/* Whether a request came from the gateway's user: the only peer whose identity headers stand for
 * any caller on any endpoint. */
bool privsep_from_gateway(const struct http_txn *txn);

#endif

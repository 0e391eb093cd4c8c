/* The gateway: the public listener that authenticates, routes and proxies to the backends. */
#ifndef REGISTRY_GATEWAY_H
#define REGISTRY_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "headers.h"
#include "http.h"
#include "router.h"

struct cfg;
struct httpc_pool;
struct event_base;

enum gw_backend { GW_AUTHD, GW_METAD, GW_BLOBD, GW_NBACKENDS };

/* Metric route labels (gw_route_names in route.c). */
enum gw_route {
	GR_V2_BASE,
	GR_V2_CATALOG,
	GR_V2_BLOB,
	GR_V2_UPLOAD,
	GR_V2_MANIFEST,
	GR_V2_TAGS,
	GR_V2_REFERRERS,
	GR_JWT_AUTH,
	GR_OAUTH,
	GR_API,
	GR_HEALTH,
	GR_READINESS,
	GR_METRICS,
	GR_UI,
	GR_NOT_FOUND,
	GR_COUNT
};

struct gw {
	struct event_base *base;
	const struct cfg *cfg;
	struct httpc_pool *backends[GW_NBACKENDS];
	bool splice_bodies; /* [gateway] splice_bodies */
};

extern struct gw gw;
extern const char *const gw_route_names[];
extern const char *const gw_backend_names[];

/* route.c: the top-level request handler. */
void gw_handle(struct http_txn *txn, void *arg);

/* The external base URL for this request, e.g. "https://registry.example.com" (caller frees). */
char *gw_external_url(struct http_txn *txn);
bool gw_from_trusted_proxy(struct http_txn *txn);
/* The client's address: the peer, or behind a trusted proxy the nearest untrusted address in
 * X-Forwarded-For (caller frees). Rate limits key on it. */
char *gw_client_addr(struct http_txn *txn);
/* Whether the client (gw_client_addr) is one of [gateway] monitoring_allowlist: /metrics and the
 * details of /-/readiness are theirs alone. */
bool gw_monitoring_allowed(struct http_txn *txn);
int gw_check_config(const struct cfg *cfg, char **cause);
/* Reads [gateway] trusted_proxies for this worker. */
void gw_forwarded_init(const struct cfg *cfg);

/* proxy.c: forwards the transaction to a backend and streams the answer back. extra headers
 * (identity) are added after the client's own X-Registry-* headers are removed. */
void gw_proxy(struct http_txn *txn, enum gw_backend backend, const struct http_headers *extra);
/* The same, forwarding target (path and query) instead of the client's; challenge (may be NULL)
 * is the WWW-Authenticate added to a 401 the backend answers without one (/v2). */
void gw_proxy_to(struct http_txn *txn, enum gw_backend backend, const char *target,
                 const struct http_headers *extra, const char *challenge);
/* The backend that serves a route's owner (not the gateway). */
enum gw_backend gw_backend_of(enum route_owner owner);
/* Answers 503 because a backend is unreachable, in the dialect of the path. */
void gw_unavailable(struct http_txn *txn, enum gw_backend backend);

/* fence.c: read-your-writes with a database replica. The cookie that carries the WAL position of
 * the client's last write. */
#define GW_LSN_COOKIE "registry_lsn"
/* The position the request's cookie carries (0: none). */
uint64_t gw_fence_of(struct http_txn *txn);
/* Adds X-Registry-Read-Lsn for authd or metad when the client carries a position. */
void gw_fence_forward(struct http_txn *txn, struct http_headers *out);
/* A backend's write reached the position written (X-Registry-Lsn): the answer's cookie (out)
 * carries it, or the request's own when that is further. */
void gw_fence_answer(struct http_txn *txn, const char *written, struct http_headers *out);

/* v2auth.c: parses a /v2 request once, verifies its registry token, checks the grant its route
 * needs, and forwards the normalised target. */
void gw_v2auth_init(void);
void gw_v2(struct http_txn *txn);

/* tokencache.c: verified registry tokens, per worker. */
struct token_claims;
/* The claims of jwt if it was verified before and is within its time window, else NULL. */
const struct token_claims *gw_token_lookup(const char *jwt, int64_t now);
/* Keeps verified claims (taken; *claims is emptied); returns the kept copy, or NULL when the
 * token is too long to keep (the caller keeps ownership then). */
const struct token_claims *gw_token_remember(const char *jwt, struct token_claims *claims);
void gw_token_forget_all(void);

/* api.c: authenticates a /api/v4 request through authd, checks the scope of its route (row; NULL
 * when none serves it, status then 404 or 405) and forwards it to the row's owner. */
void gw_api(struct http_txn *txn, const struct route *row, int status);

/* static.c: the web interface's files ([gateway] ui_dir). Reads and compresses them for this
 * worker; -1 (logged) when the folder cannot serve, and the interface is off then. */
int gw_static_init(const struct cfg *cfg);
void gw_static_free(void);
/* Whether path is under /-/ui/, the interface's assets. */
bool gw_static_is_asset(const char *path);
void gw_static_asset(struct http_txn *txn);
/* Whether path is one of the interface's pages (GitLab's URLs), which the HTML shell answers;
 * false when the interface is off. */
bool gw_static_is_page(const char *path);
void gw_static_page(struct http_txn *txn);

/* status.c: /-/health, /-/readiness, /metrics. */
void gw_health(struct http_txn *txn);
void gw_readiness(struct http_txn *txn);
void gw_metrics(struct http_txn *txn);

#endif

/*
 * The internal wire format between the gateway and the backends (and between backends): header
 * names only the registry's own processes set. The gateway removes every X-Registry-* header a
 * client sends before adding its own; backends trust them because the kernel says who sent them:
 * a backend serves only its peers' Unix users (SO_PEERCRED, common/privsep.h), and its socket is
 * 0660 for its own group.
 */
#ifndef REGISTRY_WIRE_H
#define REGISTRY_WIRE_H

#define WIRE_PREFIX "X-Registry-"

/* gateway -> backends, every request */
#define WIRE_EXTERNAL_URL "X-Registry-External-Url" /* e.g. https://registry.example.com */

/* gateway -> backends, every request: the client's address as the gateway established it (its
 * peer, or what a trusted proxy's X-Forwarded-For says), which authd and metad record in audit
 * events (pg_exec_from, schema/functions/audit.sql). */
#define WIRE_CLIENT_IP "X-Registry-Client-Ip"

/* gateway -> backends: who is asking (absent: anonymous) */
#define WIRE_USER_ID "X-Registry-User-Id" /* users.id */
#define WIRE_USERNAME "X-Registry-Username"
#define WIRE_ADMIN "X-Registry-Admin" /* "1" for an instance admin */
#define WIRE_AUTH_KIND                                                                             \
	"X-Registry-Auth-Kind" /* password | personal_access_token | oauth | deploy_token */
#define WIRE_SCOPES "X-Registry-Scopes" /* token scopes, comma-separated */
#define WIRE_DEPLOY_TOKEN_ID "X-Registry-Deploy-Token-Id"
/* gateway -> backends on /v2: the actions the caller's token grants on the request's repository
 * ("pull,push,delete"; "*" on the catalog: registry:catalog:*), checked again by the owner of the
 * route (rest_grant_covers), and on the mount source (?from=) of a cross-repository mount. The
 * target of a /v2 request is the gateway's normalised one (v2_target: the repository name as one
 * percent-encoded segment), which the rows of routes.def match. */
#define WIRE_ACTIONS "X-Registry-Actions"
#define WIRE_FROM_ACTIONS "X-Registry-From-Actions"
/* gateway -> backends on /v2: what the token's grant on the request's repository (and on the
 * mount source) was made on, "<project_id>:<generation>" (common/token.h); metad checks it in the
 * statement that reads or writes the path (registry_grant_check) and answers the 401 challenge
 * when the path has changed hands since. blobd forwards it to metad with the other headers. */
#define WIRE_GRANT "X-Registry-Grant"
#define WIRE_FROM_GRANT "X-Registry-From-Grant"

/* Read-your-writes with a replica ([*] database_read, common/pgread.h). authd and metad -> the
 * gateway: the WAL position a write request reached ("16/B374D848", common/lsn.h), which the
 * gateway gives the client as the cookie GW_LSN_COOKIE; gateway -> authd and metad: the position
 * the client's cookie carries, which a read must see (the replica serves it once it has replayed
 * that far). */
#define WIRE_LSN "X-Registry-Lsn"
#define WIRE_READ_LSN "X-Registry-Read-Lsn"

/* gateway -> blobd: answer a blob GET with a descriptor instead of bytes */
#define WIRE_WANT_FD "X-Registry-Want-Fd"
/* blobd -> gateway: this answer carries the blob's descriptor (SCM_RIGHTS) */
#define WIRE_FD "X-Registry-Fd"

/*
 * blobd -> metad: blobd has no database, so it asks metad (metad/internal_blobs.c). blobd
 * forwards the caller's X-Registry-* headers and X-Request-Id. Bodies are JSON; a refusal is an
 * OCI error body ({"errors":[...]}) that blobd passes on to the client unchanged. Details in
 * docs/INTERNALS.md.
 *   GET    /internal/blobs/<digest>?repository=<path>  200 {"digest","size"} if the repository
 *                                                     links the blob, else 404 BLOB_UNKNOWN
 *   DELETE /internal/blobs/<digest>?repository=<path>  204 unlinked, 404 BLOB_UNKNOWN
 *   POST   /internal/blobs {"repository","digest","size"}
 *                                                     201 {"repository_id"} linked (the
 *                                                     repository is created on first push),
 *                                                     403 DENIED when the path refuses pushes
 *   POST   /internal/mounts {"repository","digest","from"|null}
 *                                                     201 {"digest","size"} linked without a copy,
 *                                                     404 BLOB_UNKNOWN nothing the caller may
 *                                                     mount, 403 DENIED
 *   POST   /internal/uploads {"repository"}            204 a push may start there, 403 DENIED
 *   POST   /internal/blobs/stored {"digest","stored"}  204 the bytes the blob's file takes on
 *                                                     disk now (after a compression), no caller
 *                                                     headers; 404 BLOB_UNKNOWN: no such blob
 *   GET    /internal/blobs/tally                       200 {"plain": {"files","stored","original"},
 *                                                     "zstd": {...}}: the blobs the database
 *                                                     names and their bytes, by form (the
 *                                                     storage gauges with storage = s3)
 */
#define WIRE_PATH_BLOBS "/internal/blobs"
#define WIRE_PATH_BLOBS_STORED "/internal/blobs/stored"
#define WIRE_PATH_BLOBS_TALLY "/internal/blobs/tally"
#define WIRE_PATH_MOUNTS "/internal/mounts"
#define WIRE_PATH_UPLOADS "/internal/uploads"

/*
 * blobd -> metad, upload sessions of S3 storage (metad/internal_uploads.c, blobd/rsession.c): the
 * session's row, which every node reads; each change names the version it read (compare and set).
 *   POST   /internal/upload-sessions {"id","repository","algorithm","hash","upload_id"}
 *                                             201 recorded under the caller's grant
 *   GET    /internal/upload-sessions/<id>      200 {"id","repository","project_id","generation",
 *                                             "algorithm","byte_count","hash","upload_id",
 *                                             "parts":[{"number","etag"}],"tail_name",
 *                                             "tail_length","version","idle"}; 404
 *                                             BLOB_UPLOAD_UNKNOWN
 *   POST   /internal/upload-sessions/<id>/reserve {"version","parts"}
 *                                             200 {"version","first_part"}: the writer's version
 *                                             and part numbers; 400 BLOB_UPLOAD_INVALID (moved)
 *   POST   /internal/upload-sessions/<id>/save {"version","byte_count","hash","parts",
 *                                             "tail_name","tail_length"}
 *                                             200 {"version","old_tail"}; 400 moved; 404
 *   DELETE /internal/upload-sessions/<id>[?version=<v>]   204; 400 moved; 404
 *   GET    /internal/upload-sessions?older_than=<s>       200 {"sessions":[{"id","upload_id",
 *                                             "tail_name","version"}]} untouched that long (at
 *                                             most 100, oldest first; no caller headers)
 */
#define WIRE_PATH_UPLOAD_SESSIONS "/internal/upload-sessions"
#define WIRE_UPLOAD_ID_LEN 32
#define WIRE_UPLOAD_PARTS_MAX 10000

/*
 * blobd -> metad, garbage collection (metad/internal_gc.c, blobd/gc.c): blobd deletes a blob file
 * only on metad's word, once the blob's row is gone and committed. Bodies are JSON; "host" names
 * the storage's host (one GC deleter per storage, holding its lock file).
 *   POST /internal/gc/files/claim {"host","limit"}     200 {"files":[{"digest","size"}],"lease"}
 *                                                      files to delete, leased for lease seconds
 *   POST /internal/gc/files/done {"host","digests"}    200 {"acknowledged"}: deleted (or found
 *                                                      gone); their rows go
 *   POST /internal/gc/orphans {"digests"}              200 {"queued":[...]}: files placed without
 *                                                      a link, queued for deletion unless a blob
 *                                                      row names them
 */
#define WIRE_PATH_GC_CLAIM "/internal/gc/files/claim"
#define WIRE_PATH_GC_DONE "/internal/gc/files/done"
#define WIRE_PATH_GC_ORPHANS "/internal/gc/orphans"
/* Digests one request of those may name. */
#define WIRE_GC_MAX_DIGESTS 1000

#endif

/*
 * Configuration: one INI file for all daemons ([global], one section per daemon, [gc], which
 * metad and blobd share, and the [notifications.<name>] endpoints of notify_cfg.h), read with
 * libinih. Every parameter is a row of CFG_PARAMS: section, name, type, default, bounds, whether a
 * reload (SIGHUP) may change it, and whether it is a secret (masked when printed).
 * REGISTRY_<SECTION>_<NAME> in the environment overrides the file.
 */
#ifndef REGISTRY_CFG_H
#define REGISTRY_CFG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

/* X(id, section, name, type, default, min, max, reloadable, secret, help) */
#define CFG_PARAMS(X)                                                                               \
	X(GLOBAL_LOG_LEVEL, "global", "log_level", CFG_STR, "info", 0, 0, true, false,              \
	  "debug, info, warn or error")                                                             \
	X(GLOBAL_LOG_FORMAT, "global", "log_format", CFG_STR, "text", 0, 0, true, false,            \
	  "text: \"<time> <daemon>/<worker> <LEVEL> [req=<id>] <message>\" lines; json: one JSON "  \
	  "object per line (time, level, daemon, worker, request_id, message; the access line's "   \
	  "method, path, status, bytes, duration_ms, actor, remote_addr)")                          \
	X(GLOBAL_LOG_FILE, "global", "log_file", CFG_STR, "", 0, 0, true, false,                    \
	  "append log lines to this file (empty: standard error); SIGUSR1 reopens it")              \
	X(GLOBAL_SOCKET_DIR, "global", "socket_dir", CFG_STR, "/run/registry", 0, 0, false, false,  \
	  "folder holding the daemons' unix sockets (authd.sock, metad.sock, blobd.sock)")          \
	X(GLOBAL_DATABASE, "global", "database", CFG_STR, "dbname=registry", 0, 0, true, true,      \
	  "libpq connection string of the PostgreSQL database")                                     \
	X(GLOBAL_DATABASE_IDLE_TIMEOUT, "global", "database_idle_timeout", CFG_INT, "2", 0, 86400,  \
	  true, false,                                                                              \
	  "seconds a database connection may sit idle before it is closed, save each pool's last "  \
	  "one (0: never); a pool opens connections, up to db_connections, only while queries "     \
	  "wait for one")                                                                           \
	X(GLOBAL_DATABASE_READ, "global", "database_read", CFG_STR, "", 0, 0, true, true,           \
	  "libpq connection string of a streaming replica of the database, which serves the "       \
	  "reads of requests that only read (empty: the primary serves every query)")               \
	X(GLOBAL_DATABASE_READ_MAX_LAG, "global", "database_read_max_lag", CFG_INT, "10", 1, 60,    \
	  true, false,                                                                              \
	  "seconds the replica may be behind the primary; past them the primary serves every "      \
	  "read until it catches up")                                                               \
	X(GLOBAL_DATABASE_READ_WAIT, "global", "database_read_wait", CFG_INT, "100", 0, 5000,       \
	  true, false,                                                                              \
	  "milliseconds a read waits for the replica to replay the client's last write (or, for "   \
	  "a client that carries none, the primary's position) before the primary serves it")       \
	X(GLOBAL_EXTERNAL_URL, "global", "external_url", CFG_STR, "", 0, 0, true, false,            \
	  "public URL of the registry, e.g. https://registry.example.com (empty: from Host)")       \
	X(GLOBAL_SHUTDOWN_TIMEOUT, "global", "shutdown_timeout", CFG_INT, "30", 1, 3600, true,      \
	  false, "seconds a draining worker may take before it is killed")                          \
	X(GLOBAL_KEY_DIR, "global", "key_dir", CFG_STR, "/var/lib/registry/keys", 0, 0, false,      \
	  false, "folder of the token signing key (authd, private) and its public key (gateway)")   \
	X(GLOBAL_SERVICE, "global", "service", CFG_STR, "container_registry", 0, 0, true, false,    \
	  "service name in token requests and the audience of issued tokens")                       \
	X(GATEWAY_LISTEN, "gateway", "listen", CFG_STR, "127.0.0.1:5000", 0, 0, false, false,       \
	  "HOST:PORT of the public listener")                                                       \
	X(GATEWAY_WORKERS, "gateway", "workers", CFG_INT, "2", 1, 256, true, false,                 \
	  "worker processes")                                                                       \
	X(GATEWAY_USER, "gateway", "user", CFG_STR, "", 0, 0, false, false,                         \
	  "Unix user the gateway runs as, and whose connections the backends serve (empty: the "    \
	  "user every daemon is started as)")                                                       \
	X(GATEWAY_TRUSTED_PROXIES, "gateway", "trusted_proxies", CFG_STR, "", 0, 0, true, false,    \
	  "comma-separated addresses or CIDRs whose X-Forwarded-For/-Proto are honoured")           \
	X(GATEWAY_MONITORING_ALLOWLIST, "gateway", "monitoring_allowlist", CFG_STR,                 \
	  "127.0.0.0/8, ::1/128", 0, 0, true, false,                                                \
	  "comma-separated addresses or CIDRs that may read /metrics and the details of "           \
	  "/-/readiness (others get 404 and the bare status)")                                      \
	X(GATEWAY_FORWARDED_HOSTS, "gateway", "forwarded_hosts", CFG_STR, "", 0, 0, true, false,    \
	  "comma-separated host[:port] values a trusted proxy's X-Forwarded-Host (or Host) may "    \
	  "name; others are ignored, and all are when external_url is set")                         \
	X(GATEWAY_HEADER_TIMEOUT, "gateway", "header_timeout", CFG_INT, "30", 1, 3600, true,        \
	  false, "seconds a client may take to send a request's line and headers")                  \
	X(GATEWAY_IDLE_TIMEOUT, "gateway", "idle_timeout", CFG_INT, "60", 1, 3600, true, false,     \
	  "seconds a kept-alive connection may stay idle")                                          \
	X(GATEWAY_BODY_TIMEOUT, "gateway", "body_timeout", CFG_INT, "60", 1, 3600, true, false,     \
	  "seconds without body bytes (either way) before the connection is dropped")               \
	X(GATEWAY_BACKEND_TIMEOUT, "gateway", "backend_timeout", CFG_INT, "300", 1, 86400, true,    \
	  false, "seconds a backend may take to start its answer")                                  \
	X(GATEWAY_BACKEND_CONNECTIONS, "gateway", "backend_connections", CFG_INT, "64", 1, 4096,    \
	  true, false,                                                                              \
	  "connections a gateway worker keeps open to each backend at most; past them a request "   \
	  "waits for one (up to backend_timeout)")                                                  \
	X(GATEWAY_MAX_CONNECTIONS, "gateway", "max_connections", CFG_INT, "0", 0, 1000000, true,    \
	  false,                                                                                    \
	  "client connections a worker serves at once (0: sized from the descriptor limit); "       \
	  "past them a request gets 503 with Retry-After, then the connection closes")              \
	X(GATEWAY_MAX_HEADER_SIZE, "gateway", "max_header_size", CFG_INT, "65536", 1024, 1048576,   \
	  true, false, "bytes of request line and headers together (431 beyond)")                   \
	X(GATEWAY_MAX_HEADERS, "gateway", "max_headers", CFG_INT, "100", 8, 1000, true, false,      \
	  "header fields per request (431 beyond)")                                                 \
	X(GATEWAY_MAX_REQUEST_LINE, "gateway", "max_request_line", CFG_INT, "8192", 256, 65536,     \
	  true, false, "bytes of the request target (414 beyond)")                                  \
	X(GATEWAY_SPLICE_BODIES, "gateway", "splice_bodies", CFG_BOOL, "true", 0, 0, true, false,   \
	  "pass large request bodies (blob uploads) to the backend with splice(), past the "        \
	  "worker's memory (false: read and written as any body)")                                  \
	X(GATEWAY_UI, "gateway", "ui", CFG_BOOL, "true", 0, 0, false, false,                        \
	  "serve the web interface (docs/UI.md); false: its pages answer 404")                      \
	X(GATEWAY_UI_DIR, "gateway", "ui_dir", CFG_STR, "", 0, 0, false, false,                     \
	  "folder of the web interface's files, read at start (empty: the one make install fills, " \
	  "<datadir>/registry/ui)")                                                                 \
	X(AUTHD_WORKERS, "authd", "workers", CFG_INT, "2", 1, 256, true, false,                     \
	  "worker processes")                                                                       \
	X(AUTHD_USER, "authd", "user", CFG_STR, "", 0, 0, false, false,                             \
	  "Unix user authd runs as (empty: the user it is started as)")                             \
	X(AUTHD_DATABASE, "authd", "database", CFG_STR, "", 0, 0, true, true,                       \
	  "libpq connection string for authd (empty: [global] database)")                           \
	X(AUTHD_DATABASE_READ, "authd", "database_read", CFG_STR, "", 0, 0, true, true,             \
	  "libpq connection string of authd's replica (empty: [global] database_read)")             \
	X(AUTHD_METAD_ROLE, "authd", "metad_role", CFG_STR, "", 0, 0, false, false,                 \
	  "PostgreSQL role authd grants metad's privileges to at start, when metad connects as "    \
	  "another role than authd's (empty: metad shares authd's role)")                           \
	X(AUTHD_DB_CONNECTIONS, "authd", "db_connections", CFG_INT, "2", 1, 64, true, false,        \
	  "most PostgreSQL connections per worker")                                                 \
	X(AUTHD_MAX_LOGIN_ATTEMPTS, "authd", "max_login_attempts", CFG_INT, "10", 1, 1000, true,    \
	  false, "failed password sign-ins in a row, from any address, that lock an account")       \
	X(AUTHD_LOCK_MINUTES, "authd", "lock_minutes", CFG_INT, "10", 1, 10080, true, false,        \
	  "minutes a locked account takes no password (an admin may unlock it sooner)")             \
	X(AUTHD_TOKEN_LIFETIME, "authd", "token_lifetime", CFG_INT, "300", 30, 86400, true, false,  \
	  "seconds a registry token is valid")                                                      \
	X(AUTHD_CREATE_TOKEN_KEY, "authd", "create_token_key", CFG_BOOL, "true", 0, 0, true,        \
	  false,                                                                                    \
	  "create key_dir/token.key when it is missing (false on the nodes of a cluster: they "     \
	  "must all sign with the one key copied to each, so a missing key refuses the start)")     \
	X(AUTHD_BOOTSTRAP_FILE, "authd", "bootstrap_file", CFG_STR, "", 0, 0, true, false,          \
	  "where the first start writes the root password and token (mode 0600)")                   \
	X(METAD_WORKERS, "metad", "workers", CFG_INT, "2", 1, 256, true, false,                     \
	  "worker processes")                                                                       \
	X(METAD_USER, "metad", "user", CFG_STR, "", 0, 0, false, false,                             \
	  "Unix user metad runs as (empty: the user it is started as)")                             \
	X(METAD_DATABASE, "metad", "database", CFG_STR, "", 0, 0, true, true,                       \
	  "libpq connection string for metad (empty: [global] database)")                           \
	X(METAD_DATABASE_READ, "metad", "database_read", CFG_STR, "", 0, 0, true, true,             \
	  "libpq connection string of metad's replica (empty: [global] database_read)")             \
	X(METAD_DB_CONNECTIONS, "metad", "db_connections", CFG_INT, "2", 1, 64, true, false,        \
	  "most PostgreSQL connections per worker")                                                 \
	X(METAD_JOBS_INTERVAL, "metad", "jobs_interval", CFG_INT, "5", 1, 3600, true, false,        \
	  "seconds between looks for background work (repository deletions, tag cleanups)")         \
	X(METAD_DEFAULT_CONTAINER_REGISTRY_STORAGE_LIMIT, "metad",                                  \
	  "default_container_registry_storage_limit", CFG_INT, "0", 0, INT64_MAX, true, false,      \
	  "container registry storage limit of a new top-level namespace, in bytes (0: none)")      \
	X(BLOBD_WORKERS, "blobd", "workers", CFG_INT, "2", 1, 256, true, false,                     \
	  "worker processes")                                                                       \
	X(BLOBD_USER, "blobd", "user", CFG_STR, "", 0, 0, false, false,                             \
	  "Unix user blobd runs as (empty: the user it is started as)")                             \
	X(BLOBD_STORAGE_ROOT, "blobd", "storage_root", CFG_STR, "/var/lib/registry/storage", 0, 0,  \
	  false, false, "folder of blobs and upload sessions")                                      \
	X(BLOBD_UPLOAD_PURGE_AFTER, "blobd", "upload_purge_after", CFG_INT, "86400", 60, 31536000,  \
	  true, false, "seconds after which an untouched upload session is purged")                 \
	X(BLOBD_FSYNC, "blobd", "fsync", CFG_BOOL, "true", 0, 0, true, false,                       \
	  "fsync every blob before it is acknowledged (turn off only for throwaway instances)")     \
	X(BLOBD_COMPRESSION, "blobd", "compression", CFG_STR, "zstd", 0, 0, true, false,            \
	  "zstd: store blobs that compress well compressed, in the background after they are "      \
	  "acknowledged; none: store every blob as it was sent")                                    \
	X(BLOBD_COMPRESSION_LEVEL, "blobd", "compression_level", CFG_INT, "3", 1, 19, true, false,  \
	  "zstd level of compression at rest")                                                      \
	X(BLOBD_COMPRESSION_FRAME_SIZE, "blobd", "compression_frame_size", CFG_INT, "1048576",      \
	  65536, 16777216, true, false,                                                             \
	  "bytes of a blob per zstd frame: a Range read decompresses whole frames")                 \
	X(BLOBD_STORAGE, "blobd", "storage", CFG_STR, "filesystem", 0, 0, false, false,             \
	  "where blobs are kept: filesystem (under storage_root) or s3 (an S3-compatible object "   \
	  "store, the s3_* parameters)")                                                            \
	X(BLOBD_S3_ENDPOINT, "blobd", "s3_endpoint", CFG_STR, "", 0, 0, false, false,               \
	  "scheme://host[:port] of the S3 service, e.g. https://s3.eu-west-1.amazonaws.com")        \
	X(BLOBD_S3_REGION, "blobd", "s3_region", CFG_STR, "us-east-1", 0, 0, false, false,          \
	  "region the S3 requests are signed for")                                                  \
	X(BLOBD_S3_BUCKET, "blobd", "s3_bucket", CFG_STR, "", 0, 0, false, false,                   \
	  "bucket holding the blobs (it must exist)")                                               \
	X(BLOBD_S3_PREFIX, "blobd", "s3_prefix", CFG_STR, "", 0, 0, false, false,                   \
	  "folder of the bucket the registry's objects go under (empty: its top)")                  \
	X(BLOBD_S3_CREDENTIALS_FILE, "blobd", "s3_credentials_file", CFG_STR, "", 0, 0, false,      \
	  false,                                                                                    \
	  "file of the S3 keys, AWS's format ([default] aws_access_key_id, "                        \
	  "aws_secret_access_key); empty: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the "    \
	  "environment")                                                                            \
	X(BLOBD_S3_PATH_STYLE, "blobd", "s3_path_style", CFG_BOOL, "false", 0, 0, false, false,     \
	  "address the bucket in the path (https://host/bucket/key) rather than in the host name "  \
	  "(https://bucket.host/key)")                                                              \
	X(BLOBD_S3_TLS_VERIFY, "blobd", "s3_tls_verify", CFG_BOOL, "true", 0, 0, false, false,      \
	  "verify the S3 service's TLS certificate and host name")                                  \
	X(BLOBD_S3_PART_SIZE, "blobd", "s3_part_size", CFG_INT, "16777216", 5242880, 5368709120,    \
	  false, false,                                                                             \
	  "bytes per part of a multipart upload to S3; a blob up to this size is one PutObject")    \
	X(BLOBD_REDIRECT, "blobd", "redirect", CFG_BOOL, "false", 0, 0, true, false,                \
	  "storage = s3: answer a blob GET with 307 to a pre-signed URL of its object, once metad " \
	  "has said the repository links it; needs compression = none (a URL of a compressed "      \
	  "object would give its compressed bytes)")                                                \
	X(BLOBD_REDIRECT_EXPIRY, "blobd", "redirect_expiry", CFG_INT, "1200", 1, 604800, true,      \
	  false, "seconds a redirect's pre-signed URL stays valid")                                 \
	X(GC_ENABLED, "gc", "enabled", CFG_BOOL, "true", 0, 0, true, false,                         \
	  "online garbage collection: metad reviews and deletes, blobd deletes the files")          \
	X(GC_REVIEW_DELAY, "gc", "review_delay", CFG_INT, "86400", 1, 31536000, true, false,        \
	  "seconds an untagged manifest or an unreferenced blob is kept before it is reviewed")     \
	X(GC_INTERVAL, "gc", "interval", CFG_INT, "5", 1, 3600, true, false,                        \
	  "seconds between metad's reviews of what is due")                                         \
	X(GC_ORPHAN_GRACE, "gc", "orphan_grace", CFG_INT, "3600", 1, 31536000, true, false,         \
	  "seconds after which a blob file stored without a link is deleted")

enum cfg_id {
#define CFG_ENUM(id, ...) CFG_##id,
	CFG_PARAMS(CFG_ENUM)
#undef CFG_ENUM
	        CFG_COUNT
};

struct cfg;

/* Loads path (NULL: defaults only) and the environment; NULL with *cause set on error. */
struct cfg *cfg_load(const char *path, char **cause);
void cfg_free(struct cfg *cfg);
const char *cfg_path(const struct cfg *cfg);
/* The notification endpoints of the [notifications.<name>] sections as a JSON array of {name,
 * url, headers: [{key, value}], timeout, threshold, backoff, ignored_actions,
 * ignored_media_types} (common/notify_cfg.h); "[]" when none. Valid while cfg is. */
const char *cfg_notifications(const struct cfg *cfg);

const char *cfg_str(const struct cfg *cfg, enum cfg_id id);
int64_t cfg_int(const struct cfg *cfg, enum cfg_id id);
bool cfg_bool(const struct cfg *cfg, enum cfg_id id);
/* The "workers" parameter of a daemon's section. */
int cfg_workers(const struct cfg *cfg, const char *role);
/* The "user" parameter of a daemon's section ("" when unset). */
const char *cfg_user(const struct cfg *cfg, const char *role);
/* The daemon's own database string, or [global] database when it has none. */
const char *cfg_database(const struct cfg *cfg, const char *role);
/* The same for the replica: the daemon's database_read, or [global] database_read ("": none). */
const char *cfg_database_read(const struct cfg *cfg, const char *role);

/* Prints [global], the role's section (and [gc] for metad and blobd) with effective values,
 * secrets masked. */
void cfg_print(const struct cfg *cfg, const char *role, FILE *out);
/* Lists parameters that differ between a and b but cannot change on reload; -1 if any. */
int cfg_check_reload(const struct cfg *old, const struct cfg *new, const char *role, char **cause);

#endif

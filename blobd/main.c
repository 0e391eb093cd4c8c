/* registry-blobd: blob storage and uploads. It has no database access. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobd.h"
#include "cfg.h"
#include "errors.h"
#include "httpc.h"
#include "log.h"
#include "proc.h"
#include "rest.h"
#include "routes.h"
#include "s3.h"
#include "service.h"
#include "util.h"

struct blobd bd;

/* storage = s3: the worker's settings, read by its client and its pool threads' */
static struct s3_config s3_settings;

/* The object store's answer to the readiness probe. */
static void
s3_probe_done(const struct s3_result *res, void *arg)
{
	struct rest_req *r = arg;
	if (res->ok) {
		service_ready(r);
		return;
	}
	log_warn("readiness: the object store does not answer: %s", res->cause);
	service_not_ready(r, "object storage unavailable");
}

/* Ready when the storage root is a writable folder and, with storage = s3, the bucket answers a
 * listing with these credentials (one small request: the multipart uploads under a prefix no
 * object has). */
static void
h_readiness(struct rest_req *r)
{
	struct stat st;
	if (stat(bd.root, &st) != 0 || !S_ISDIR(st.st_mode) || access(bd.root, W_OK) != 0) {
		service_not_ready(r, "storage unavailable");
		return;
	}
	if (bd.s3 == NULL)
		service_ready(r);
	else
		s3_multipart_list(bd.s3, "readiness/", NULL, NULL, s3_probe_done, r);
}

static const struct route service_routes[] = { SERVICE_ROUTES_METRICS(h_readiness, tally_metrics) };
static const size_t service_nroutes = nitems(service_routes);

/* blobd's rows of the public route table. */
#define ROUTES_HANDLER(h) h
#define ROUTES_KEEP_GATEWAY(...)
#define ROUTES_KEEP_AUTHD(...)
#define ROUTES_KEEP_METAD(...)
#define ROUTES_KEEP_BLOBD(...) __VA_ARGS__
static const struct route public_routes[] = {
#include "routes.def"
};
static const size_t public_nroutes = nitems(public_routes);

/* Every table, tried in order. */
static const struct route_table tables[] = {
	{ service_routes, &service_nroutes },
	{ public_routes, &public_nroutes },
};

/* Pool threads per worker: enough that an fsync or a slow disk in one upload does not hold up
 * the writes of the others. */
#define BLOBD_IO_THREADS 4

/* Every request: the route tables, or a 404/405 in the dialect of the path. */
static void
blobd_handle(struct http_txn *txn, void *arg)
{
	rest_dispatch(txn, tables, nitems(tables));
	(void)arg;
}

/* Checks the S3 settings with storage = s3. Creates the storage root's folders (blobs/,
 * uploads/: the upload sessions, whatever the storage, tmp/ for compressions under way,
 * placing/: the placement journal of gc.c, stored/: the journal of stored.c) if missing, and
 * keeps the root blobd's alone (0700): the gateway's user shares blobd's group to reach its
 * socket, never its files. */
static int
blobd_master_init(const struct cfg *cfg, char **cause)
{
	if (strcmp(cfg_str(cfg, CFG_BLOBD_STORAGE), "s3") == 0) {
		/* the settings are checked, so that a start says what is wrong with them first */
		struct s3_config c;
		if (s3_config_load(cfg, &c, cause) < 0)
			return -1;
		s3_config_clear(&c);
	}
	const char *root = cfg_str(cfg, CFG_BLOBD_STORAGE_ROOT);
	const char *subs[] = { "", "/blobs", "/uploads", "/tmp", "/placing", "/stored" };
	for (size_t i = 0; i < nitems(subs); i++) {
		char *p = xasprintf("%s%s", root, subs[i]);
		int rc = mkdir(p, 0700);
		if (rc < 0 && errno != EEXIST) {
			*cause = xasprintf("cannot create %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		free(p);
	}
	struct stat st;
	if (stat(root, &st) < 0 || ((st.st_mode & 077) != 0 && chmod(root, 0700) < 0)) {
		*cause = xasprintf("cannot make %s private (0700): %s", root, strerror(errno));
		return -1;
	}
	if ((st.st_mode & 077) != 0)
		log_warn("%s was open to others than blobd's user: made it 0700", root);
	return 0;
}

/* Per worker: configuration, the metad client, the thread pools, the purge and garbage
 * collection timers and the storage count. */
static int
blobd_worker_init(struct proc_worker *w, char **cause)
{
	bd.base = w->base;
	bd.cfg = w->cfg;
	bd.root = cfg_str(w->cfg, CFG_BLOBD_STORAGE_ROOT);
	bd.fsync = cfg_bool(w->cfg, CFG_BLOBD_FSYNC);
	bd.purge_after = cfg_int(w->cfg, CFG_BLOBD_UPLOAD_PURGE_AFTER);
	bd.compress = strcmp(cfg_str(w->cfg, CFG_BLOBD_COMPRESSION), "zstd") == 0;
	bd.compress_level = (int)cfg_int(w->cfg, CFG_BLOBD_COMPRESSION_LEVEL);
	bd.frame_size = (uint32_t)cfg_int(w->cfg, CFG_BLOBD_COMPRESSION_FRAME_SIZE);
	bd.part_size = cfg_int(w->cfg, CFG_BLOBD_S3_PART_SIZE);
	bd.redirect = cfg_bool(w->cfg, CFG_BLOBD_REDIRECT);
	bd.redirect_expiry = cfg_int(w->cfg, CFG_BLOBD_REDIRECT_EXPIRY);
	bool s3 = strcmp(cfg_str(w->cfg, CFG_BLOBD_STORAGE), "s3") == 0;
	/* the client before the pool threads, which make theirs from the same settings */
	if (s3 && (s3_config_load(w->cfg, &s3_settings, cause) < 0 ||
	           store_s3_start(&s3_settings, cause) < 0))
		return -1;
	char *path = proc_socket_path(w->cfg, "metad");
	bd.metad = httpc_pool_new(w->base, path);
	free(path);
	if (jobs_init(w->base, BLOBD_IO_THREADS, cause) < 0 || compress_start(cause) < 0)
		return -1;
	purge_start();
	stored_start();
	tally_start();
	return gc_start(cause);
}

/* TERM: no new purge, garbage collection or stored size rounds; uploads in flight finish. */
static void
blobd_worker_drain(void)
{
	purge_stop();
	gc_stop();
	stored_stop();
}

static const struct proc_role blobd_role = {
	.name = "blobd",
	.master_init = blobd_master_init,
	.worker_init = blobd_worker_init,
	.worker_drain = blobd_worker_drain,
	.error_body = error_server_body,
	.handler = blobd_handle,
};

/* Runs blobd under the common supervisor: master, workers, signals. */
int
main(int argc, char **argv)
{
	proc_main(&blobd_role, argc, argv);
}

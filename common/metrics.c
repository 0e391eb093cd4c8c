/* Shared-memory counters and their Prometheus text rendering. */
#include "metrics.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "util.h"

#define MAX_ROUTES 64
#define ROUTE_NAME_LEN 40
/* Exact status codes kept apart; anything else counts as "other". */
static const int tracked_status[] = { 100, 200, 201, 202, 204, 206, 301, 302, 304, 307, 308,
	                              400, 401, 403, 404, 405, 406, 408, 409, 411, 413, 414,
	                              415, 416, 422, 429, 431, 500, 502, 503, 504, 505 };
#define NSTATUS (nitems(tracked_status) + 1)
static const double buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	                          0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
#define NBUCKETS (nitems(buckets) + 1)

struct route_stats {
	uint64_t by_status[NSTATUS];
	uint64_t le[NBUCKETS]; /* non-cumulative; rendered cumulatively */
	uint64_t sum_us;
};

struct metrics_shm {
	int lock; /* guards route_names while a new label is added */
	unsigned nroutes;
	char route_names[MAX_ROUTES][ROUTE_NAME_LEN];
	uint64_t restarts;
	uint64_t workers;
	uint64_t bytes_in;
	uint64_t bytes_out;
	struct route_stats routes[MAX_ROUTES + 1]; /* last one: unlabelled requests */
	/* blobd's storage */
	int blob_on;     /* the storage gauges are shown (a filesystem: tally.c) */
	int compress_on; /* the compressions' outcomes are shown (blobd) */
	int64_t blob_files[METRICS_BLOB_FORMS];
	int64_t blob_stored[METRICS_BLOB_FORMS];
	int64_t blob_original[METRICS_BLOB_FORMS];
	uint64_t blob_counted[METRICS_BLOB_FOLDERS / 64]; /* folders the start-up count did */
	uint64_t blob_outcomes[METRICS_BLOB_OUTCOMES];
	uint64_t blob_upload_us; /* an upload's last bytes (not rendered) */
	uint64_t values[METRICS_NVALUES];
	uint8_t touched[METRICS_NVALUES]; /* shown by this daemon */
};

static const struct {
	const char *family;
	const char *labels;
	unsigned scale;
} value_rows[METRICS_NVALUES] = {
#define METRICS_ROW(id, fam, lab, sc) [METRICS_##id] = { fam, lab, sc },
	METRICS_VALUES(METRICS_ROW)
#undef METRICS_ROW
};

static struct metrics_shm *shm;
static char daemon_name[32];

static const struct {
	const char *family;
	const char *type;
	const char *help;
} families[] = {
	{ "registry_http_requests_total", "counter",
	  "HTTP requests answered, by route and status." },
	{ "registry_http_request_duration_seconds", "histogram",
	  "Time from a request's headers to the end of its answer." },
	{ "registry_http_received_bytes_total", "counter", "Request body bytes received." },
	{ "registry_http_sent_bytes_total", "counter", "Response body bytes sent." },
	{ "registry_worker_restarts_total", "counter", "Workers respawned after dying." },
	{ "registry_workers", "gauge", "Workers the master keeps running." },
	{ "registry_blob_files", "gauge", "Blob files in storage, by form (plain, zstd)." },
	{ "registry_blob_stored_bytes", "gauge",
	  "Bytes the blob files take in storage (their sizes), by form." },
	{ "registry_blob_original_bytes", "gauge",
	  "Bytes of the stored blobs as pushed (what digests and sizes describe), by form." },
	{ "registry_blob_count_complete", "gauge",
	  "1 once blobd's start-up count of its storage is done: the blob gauges are exact from "
	  "then on." },
	{ "registry_blob_compressions_total", "counter",
	  "Blobs examined for compression at rest, by outcome." },
	{ "registry_gc_reviewed_total", "counter",
	  "Manifests and blobs garbage collection reviewed (metad)." },
	{ "registry_gc_deleted_total", "counter",
	  "What garbage collection deleted: manifest and blob rows (metad), blob files (blobd)." },
	{ "registry_gc_freed_bytes_total", "counter", "Bytes of blob files deleted (blobd)." },
	{ "registry_gc_queue_depth", "gauge",
	  "Entries of the review queues, and files waiting to be deleted." },
	{ "registry_gc_oldest_due_seconds", "gauge",
	  "How long the oldest due entry of a queue has waited past its review time." },
	{ "registry_db_reads_total", "counter",
	  "Reads a replica may serve ([*] database_read), by the server that answered them." },
	{ "registry_db_replica_usable", "gauge",
	  "1 while the replica serves reads; 0 while it is unreachable, lagging or not a standby "
	  "(the primary reads)." },
	{ "registry_s3_requests_total", "counter",
	  "Requests blobd made to the object store ([blobd] storage = s3), by S3 operation." },
	{ "registry_s3_failed_total", "counter",
	  "Requests to the object store that failed: no answer, or an error status (a HEAD's 404 "
	  "included)." },
	{ "registry_db_replica_lag_seconds", "gauge",
	  "How long the replica has been behind the primary's WAL position, at the last check." },
	{ "registry_gateway_spliced_bytes_total", "counter",
	  "Request body bytes the gateway passed to a backend with splice(), past its memory "
	  "([gateway] splice_bodies)." },
};

static const char *const blob_forms[METRICS_BLOB_FORMS] = { "plain", "zstd" };
static const char *const blob_outcomes[METRICS_BLOB_OUTCOMES] = { "compressed", "precompressed",
	                                                          "incompressible", "failed" };

void
metrics_init(const char *daemon, const char *const *route_names, size_t nroutes)
{
	snprintf(daemon_name, sizeof(daemon_name), "%s", daemon);
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		fatal("mmap metrics: %m");
	memset(shm, 0, sizeof(*shm));
	for (size_t i = 0; i < nroutes; i++)
		metrics_route_id(route_names[i]);
}

int
metrics_route_id(const char *name)
{
	if (shm == NULL || name == NULL)
		return -1;
	unsigned n = __atomic_load_n(&shm->nroutes, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++)
		if (strncmp(shm->route_names[i], name, ROUTE_NAME_LEN - 1) == 0)
			return (int)i;
	while (__atomic_exchange_n(&shm->lock, 1, __ATOMIC_ACQUIRE))
		;
	int id = -1;
	n = shm->nroutes;
	for (unsigned i = 0; i < n && id < 0; i++)
		if (strncmp(shm->route_names[i], name, ROUTE_NAME_LEN - 1) == 0)
			id = (int)i;
	if (id < 0 && n < MAX_ROUTES) {
		snprintf(shm->route_names[n], ROUTE_NAME_LEN, "%s", name);
		__atomic_store_n(&shm->nroutes, n + 1, __ATOMIC_RELEASE);
		id = (int)n;
	}
	__atomic_store_n(&shm->lock, 0, __ATOMIC_RELEASE);
	return id;
}

/* Adds to a counter other processes add to at the same time. */
static void
add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* Reads a counter other processes may be adding to. */
static uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
metrics_observe(int route, int status, uint64_t duration_us, uint64_t bytes_in, uint64_t bytes_out)
{
	if (shm == NULL)
		return;
	unsigned n = __atomic_load_n(&shm->nroutes, __ATOMIC_ACQUIRE);
	struct route_stats *r =
	        &shm->routes[route >= 0 && (unsigned)route < n ? (unsigned)route : MAX_ROUTES];
	size_t si = nitems(tracked_status);
	for (size_t i = 0; i < nitems(tracked_status); i++)
		if (tracked_status[i] == status)
			si = i;
	add(&r->by_status[si], 1);
	double secs = (double)duration_us / 1e6;
	size_t bi = nitems(buckets);
	for (size_t i = 0; i < nitems(buckets); i++) {
		if (secs <= buckets[i]) {
			bi = i;
			break;
		}
	}
	add(&r->le[bi], 1);
	add(&r->sum_us, duration_us);
	add(&shm->bytes_in, bytes_in);
	add(&shm->bytes_out, bytes_out);
}

/* Counts a worker the master respawned after it died (registry_worker_restarts_total). */
void
metrics_worker_restart(void)
{
	if (shm != NULL)
		add(&shm->restarts, 1);
}

/* Records how many workers the master keeps running (the registry_workers gauge). */
void
metrics_set_workers(unsigned n)
{
	if (shm != NULL)
		__atomic_store_n(&shm->workers, n, __ATOMIC_RELAXED);
}

void
metrics_compress_enable(void)
{
	if (shm != NULL)
		__atomic_store_n(&shm->compress_on, 1, __ATOMIC_RELAXED);
}

void
metrics_blob_enable(void)
{
	if (shm != NULL)
		__atomic_store_n(&shm->blob_on, 1, __ATOMIC_RELAXED);
}

void
metrics_blob_add(enum metrics_blob_form form, int64_t files, int64_t stored, int64_t original)
{
	if (shm == NULL)
		return;
	__atomic_fetch_add(&shm->blob_files[form], files, __ATOMIC_RELAXED);
	__atomic_fetch_add(&shm->blob_stored[form], stored, __ATOMIC_RELAXED);
	__atomic_fetch_add(&shm->blob_original[form], original, __ATOMIC_RELAXED);
}

void
metrics_blob_set(enum metrics_blob_form form, int64_t files, int64_t stored, int64_t original)
{
	if (shm == NULL)
		return;
	__atomic_store_n(&shm->blob_files[form], files, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->blob_stored[form], stored, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->blob_original[form], original, __ATOMIC_RELAXED);
}

bool
metrics_blob_counted(unsigned folder)
{
	if (shm == NULL || folder >= METRICS_BLOB_FOLDERS)
		return false;
	uint64_t w = __atomic_load_n(&shm->blob_counted[folder / 64], __ATOMIC_ACQUIRE);
	return (w >> (folder % 64)) & 1;
}

void
metrics_blob_set_counted(unsigned folder)
{
	if (shm != NULL && folder < METRICS_BLOB_FOLDERS)
		__atomic_fetch_or(&shm->blob_counted[folder / 64], (uint64_t)1 << (folder % 64),
		                  __ATOMIC_RELEASE);
}

void
metrics_blob_outcome(enum metrics_blob_outcome outcome)
{
	if (shm != NULL)
		add(&shm->blob_outcomes[outcome], 1);
}

void
metrics_blob_upload_seen(void)
{
	if (shm != NULL)
		__atomic_store_n(&shm->blob_upload_us, now_monotonic_us(), __ATOMIC_RELAXED);
}

uint64_t
metrics_blob_upload_last(void)
{
	return shm != NULL ? __atomic_load_n(&shm->blob_upload_us, __ATOMIC_RELAXED) : 0;
}

/* blobd's storage samples. */
static void
write_blob_samples(struct evbuffer *out, const char *d)
{
	for (int f = 0; f < METRICS_BLOB_FORMS; f++) {
		evbuffer_add_printf(
		        out, "registry_blob_files{daemon=\"%s\",form=\"%s\"} %lld\n", d,
		        blob_forms[f],
		        (long long)__atomic_load_n(&shm->blob_files[f], __ATOMIC_RELAXED));
		evbuffer_add_printf(
		        out, "registry_blob_stored_bytes{daemon=\"%s\",form=\"%s\"} %lld\n", d,
		        blob_forms[f],
		        (long long)__atomic_load_n(&shm->blob_stored[f], __ATOMIC_RELAXED));
		evbuffer_add_printf(
		        out, "registry_blob_original_bytes{daemon=\"%s\",form=\"%s\"} %lld\n", d,
		        blob_forms[f],
		        (long long)__atomic_load_n(&shm->blob_original[f], __ATOMIC_RELAXED));
	}
	bool complete = true;
	for (unsigned i = 0; i < METRICS_BLOB_FOLDERS; i++)
		complete = complete && metrics_blob_counted(i);
	evbuffer_add_printf(out, "registry_blob_count_complete{daemon=\"%s\"} %d\n", d,
	                    complete ? 1 : 0);
}

/* blobd's compression outcomes. */
static void
write_compress_samples(struct evbuffer *out, const char *d)
{
	for (int o = 0; o < METRICS_BLOB_OUTCOMES; o++)
		evbuffer_add_printf(
		        out,
		        "registry_blob_compressions_total{daemon=\"%s\",outcome=\"%s\"} %llu\n", d,
		        blob_outcomes[o], (unsigned long long)get(&shm->blob_outcomes[o]));
}

void
metrics_add(enum metrics_value id, uint64_t n)
{
	if (shm == NULL || (unsigned)id >= METRICS_NVALUES)
		return;
	add(&shm->values[id], n);
	__atomic_store_n(&shm->touched[id], 1, __ATOMIC_RELAXED);
}

void
metrics_set(enum metrics_value id, uint64_t v)
{
	if (shm == NULL || (unsigned)id >= METRICS_NVALUES)
		return;
	__atomic_store_n(&shm->values[id], v, __ATOMIC_RELAXED);
	__atomic_store_n(&shm->touched[id], 1, __ATOMIC_RELAXED);
}

/* The sample lines of the values this daemon touched. */
static void
write_values(struct evbuffer *out)
{
	for (int i = 0; i < METRICS_NVALUES; i++) {
		if (!__atomic_load_n(&shm->touched[i], __ATOMIC_RELAXED))
			continue;
		const char *labels = value_rows[i].labels;
		uint64_t v = get(&shm->values[i]);
		evbuffer_add_printf(out, "%s{daemon=\"%s\"%s%s} ", value_rows[i].family,
		                    daemon_name, *labels ? "," : "", labels);
		if (value_rows[i].scale > 1)
			evbuffer_add_printf(out, "%.3f\n", (double)v / value_rows[i].scale);
		else
			evbuffer_add_printf(out, "%llu\n", (unsigned long long)v);
	}
}

void
metrics_write_samples(struct evbuffer *out)
{
	if (shm == NULL)
		return;
	const char *d = daemon_name;
	unsigned nnames = __atomic_load_n(&shm->nroutes, __ATOMIC_ACQUIRE);
	for (size_t ri = 0; ri <= MAX_ROUTES; ri++) {
		if (ri >= nnames && ri != MAX_ROUTES)
			continue;
		const char *route = ri == MAX_ROUTES ? "other" : shm->route_names[ri];
		const struct route_stats *r = &shm->routes[ri];
		uint64_t total = 0;
		for (size_t si = 0; si < NSTATUS; si++) {
			uint64_t v = get(&r->by_status[si]);
			total += v;
			if (v == 0)
				continue;
			char status[8];
			if (si < nitems(tracked_status))
				snprintf(status, sizeof(status), "%d", tracked_status[si]);
			else
				snprintf(status, sizeof(status), "other");
			evbuffer_add_printf(
			        out,
			        "registry_http_requests_total{daemon=\"%s\",route=\"%s\","
			        "status=\"%s\"} %llu\n",
			        d, route, status, (unsigned long long)v);
		}
		if (total == 0)
			continue;
		uint64_t cum = 0;
		for (size_t bi = 0; bi < NBUCKETS; bi++) {
			cum += get(&r->le[bi]);
			char le[16];
			if (bi < nitems(buckets))
				snprintf(le, sizeof(le), "%g", buckets[bi]);
			else
				snprintf(le, sizeof(le), "+Inf");
			evbuffer_add_printf(
			        out,
			        "registry_http_request_duration_seconds_bucket{daemon=\"%s\","
			        "route=\"%s\",le=\"%s\"} %llu\n",
			        d, route, le, (unsigned long long)cum);
		}
		evbuffer_add_printf(
		        out,
		        "registry_http_request_duration_seconds_sum{daemon=\"%s\",route=\"%s\"} "
		        "%.6f\n",
		        d, route, (double)get(&r->sum_us) / 1e6);
		evbuffer_add_printf(
		        out,
		        "registry_http_request_duration_seconds_count{daemon=\"%s\",route=\"%s\"}"
		        " %llu\n",
		        d, route, (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "registry_http_received_bytes_total{daemon=\"%s\"} %llu\n", d,
	                    (unsigned long long)get(&shm->bytes_in));
	evbuffer_add_printf(out, "registry_http_sent_bytes_total{daemon=\"%s\"} %llu\n", d,
	                    (unsigned long long)get(&shm->bytes_out));
	evbuffer_add_printf(out, "registry_worker_restarts_total{daemon=\"%s\"} %llu\n", d,
	                    (unsigned long long)get(&shm->restarts));
	evbuffer_add_printf(out, "registry_workers{daemon=\"%s\"} %llu\n", d,
	                    (unsigned long long)get(&shm->workers));
	if (__atomic_load_n(&shm->blob_on, __ATOMIC_RELAXED))
		write_blob_samples(out, d);
	if (__atomic_load_n(&shm->compress_on, __ATOMIC_RELAXED))
		write_compress_samples(out, d);
	write_values(out);
}

/* Whether line is a sample of family (the family name, then '{', ' ' or a histogram suffix). */
static bool
line_in_family(const char *line, size_t len, const char *family)
{
	size_t fl = strlen(family);
	if (len <= fl || strncmp(line, family, fl) != 0)
		return false;
	const char *rest = line + fl;
	if (*rest == '{' || *rest == ' ')
		return true;
	static const char *const suffixes[] = { "_bucket{", "_sum{", "_count{" };
	for (size_t i = 0; i < nitems(suffixes); i++)
		if (strncmp(rest, suffixes[i], strlen(suffixes[i])) == 0)
			return !str_has_suffix(family, "_total");
	return false;
}

void
metrics_render(struct evbuffer *out, const char *const *samples, size_t n)
{
	for (size_t f = 0; f < nitems(families); f++) {
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", families[f].family,
		                    families[f].help, families[f].family, families[f].type);
		for (size_t i = 0; i < n; i++) {
			const char *p = samples[i];
			while (p != NULL && *p) {
				const char *nl = strchr(p, '\n');
				size_t len = nl ? (size_t)(nl - p) : strlen(p);
				if (line_in_family(p, len, families[f].family)) {
					evbuffer_add(out, p, len);
					evbuffer_add(out, "\n", 1);
				}
				p = nl ? nl + 1 : NULL;
			}
		}
	}
}

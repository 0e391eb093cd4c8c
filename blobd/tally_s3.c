/*
 * The storage gauges with storage = s3 (registry_blob_files, _stored_bytes, _original_bytes by
 * form). The blobs are objects of a bucket that several nodes share and no node sees the others'
 * changes, so the gauges are the database's, which every node shares: metad keeps the count and
 * the bytes of the blob rows by form (table blob_tally, rows of differences appended by triggers
 * in each change's transaction: schema/functions/blob_tally.sql), and each scrape of blobd's
 * metrics asks for the sums first (GET /internal/blobs/tally: a few rows, never the bucket nor
 * the blobs table). docs/S3.md, "The storage gauges".
 */
#include <json-c/json.h>

#include "blobd.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "rest.h"
#include "service.h"

/* metad's sums of the blob rows: the gauges become them, then the samples go out. Without them
 * (metad unreachable) the samples keep the last figures, and the log says why. */
static void
tally_read(int status, json_object *body, struct evbuffer *raw, void *arg)
{
	struct rest_req *r = arg;
	static const char *const forms[METRICS_BLOB_FORMS] = { "plain", "zstd" };
	int64_t v[METRICS_BLOB_FORMS][3];
	bool ok = status == 200 && body != NULL;
	for (int f = 0; f < METRICS_BLOB_FORMS && ok; f++) {
		json_object *o;
		ok = json_object_object_get_ex(body, forms[f], &o) &&
		     js_int(o, "files", &v[f][0]) && js_int(o, "stored", &v[f][1]) &&
		     js_int(o, "original", &v[f][2]);
	}
	if (ok) {
		for (int f = 0; f < METRICS_BLOB_FORMS; f++)
			metrics_blob_set((enum metrics_blob_form)f, v[f][0], v[f][1], v[f][2]);
		for (unsigned i = 0; i < METRICS_BLOB_FOLDERS; i++)
			metrics_blob_set_counted(i);
	} else {
		log_warn("metrics: metad did not give the storage gauges (status %d)", status);
	}
	service_metrics(r);
	(void)raw;
}

void
tally_metrics(struct rest_req *r)
{
	if (bd.s3 != NULL)
		meta_blob_tally(tally_read, r);
	else
		service_metrics(r);
}

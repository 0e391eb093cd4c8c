/*
 * Reads of compressed blobs. The gateway cannot sendfile() these, so blobd answers the bytes
 * itself: a pool thread reads the seek table, then decompresses one frame at a time, only the
 * frames the requested range lies in; the loop writes each frame's part of the range while the
 * thread decompresses the next one. At most one decompressed frame waits for the output to
 * drain, so memory stays about two frames whatever the blob's size.
 *
 * The first frame is ready before the answer starts: a broken file is still a clean 500. A
 * frame that fails later cuts the connection, so the client sees a short answer, never wrong
 * bytes (every frame carries zstd's checksum).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blobd.h"
#include "errors.h"
#include "headers.h"
#include "log.h"
#include "util.h"

struct zstream {
	struct http_txn *txn;
	char digest[DIGEST_STR_MAX]; /* for the log */
	int status;
	struct http_headers h; /* sent with the first frame */
	struct store_file f;
	struct zst_reader *r; /* made by the first job */
	int64_t pos, end;     /* the next byte to send, one past the last */
	/* the job's result: a decompressed frame and where it starts */
	uint8_t *frame;
	int64_t frame_start, frame_len;
	char *cause;
	bool busy;    /* a job runs */
	bool ready;   /* frame holds the next bytes, waiting for the output to drain */
	bool started; /* the answer's head is out */
	bool aborted; /* the client left */
	bool missing; /* the store holds the blob in neither form (S3) */
};

static void zstream_next(struct zstream *z);

/* Frees the stream (not the transaction). */
static void
zstream_free(struct zstream *z)
{
	zst_reader_free(z->r);
	if (z->f.fd >= 0)
		close(z->f.fd);
	headers_clear(&z->h);
	free(z->frame);
	free(z->cause);
	free(z);
}

/* Ends the transaction (a client that left, or a failure mid-answer) and frees the stream. */
static void
zstream_finish(struct zstream *z)
{
	struct http_txn *txn = z->txn;
	http_txn_on_abort(txn, NULL, NULL);
	http_txn_on_drain(txn, NULL, NULL);
	if (z->started) {
		http_txn_end_response(txn);
	} else if (z->aborted) {
		http_txn_respond(txn, 499, NULL, NULL, 0); /* goes nowhere: it frees the txn */
	} else if (z->missing) {
		v2reply_error(txn, 404, OCI_BLOB_UNKNOWN, NULL, z->digest);
	} else {
		v2reply_error(txn, 500, OCI_UNKNOWN, "blob storage is inconsistent", NULL);
	}
	zstream_free(z);
}

/* Pool thread: the seek table on the first call, then the frame holding z->pos. */
static void
job_frame(void *arg)
{
	struct zstream *z = arg;
	if (z->r == NULL) {
		z->r = store_zst_open(z->digest, &z->f, &z->cause);
		if (z->r == NULL) {
			z->missing = errno == ENOENT;
			return;
		}
		if (z->end > z->f.size) {
			z->cause = xasprintf("the compressed object holds %lld bytes, not %lld",
			                     (long long)z->f.size, (long long)z->end);
			zst_reader_free(z->r);
			z->r = NULL;
			return;
		}
	}
	uint32_t i = zst_reader_find(z->r, z->pos);
	z->frame_start = z->r->doff[i];
	z->frame_len = z->r->doff[i + 1] - z->r->doff[i];
	z->frame = xmalloc((size_t)z->frame_len);
	if (zst_reader_frame(z->r, i, z->frame, &z->cause) < 0) {
		free(z->frame);
		z->frame = NULL;
	}
}

/* Frees a frame the output is done with. */
static void
frame_free(const void *data, size_t len, void *frame)
{
	free(frame);
	(void)data;
	(void)len;
}

/* Writes the range's part of the ready frame; ends the answer after the last one. */
static void
zstream_write(struct zstream *z)
{
	struct http_txn *txn = z->txn;
	if (!z->started) {
		z->started = true;
		http_txn_start_response(txn, z->status, &z->h, z->end - z->pos);
	}
	int64_t from = z->pos - z->frame_start;
	int64_t to =
	        (z->end < z->frame_start + z->frame_len ? z->end : z->frame_start + z->frame_len) -
	        z->frame_start;
	struct evbuffer *out = evbuffer_new();
	evbuffer_add_reference(out, z->frame + from, (size_t)(to - from), frame_free, z->frame);
	z->frame = NULL;
	z->ready = false;
	z->pos += to - from;
	http_txn_write(txn, out);
	evbuffer_free(out);
	if (z->pos == z->end) {
		http_txn_on_abort(txn, NULL, NULL);
		http_txn_on_drain(txn, NULL, NULL);
		http_txn_end_response(txn);
		zstream_free(z);
		return;
	}
	zstream_next(z);
}

/* In the loop after a job: write its frame now, or once the output drains. */
static void
frame_done(void *arg)
{
	struct zstream *z = arg;
	z->busy = false;
	if (z->aborted) {
		zstream_finish(z);
		return;
	}
	if (z->frame == NULL) {
		if (z->missing)
			log_error("blob %s linked but not stored: %s", z->digest, z->cause);
		else
			log_error("blob %s unreadable at byte %lld: %s", z->digest,
			          (long long)z->pos, z->cause);
		if (z->started)
			http_txn_close_after(z->txn);
		zstream_finish(z);
		return;
	}
	z->ready = true;
	if (!z->started || !http_txn_output_full(z->txn))
		zstream_write(z);
}

/* Starts the next frame's job unless one runs or a frame waits. */
static void
zstream_next(struct zstream *z)
{
	if (z->busy || z->ready || z->pos >= z->end)
		return;
	z->busy = true;
	jobs_submit(job_frame, frame_done, z);
}

/* The output drained: write the waiting frame. */
static void
on_drain(struct http_txn *txn, void *arg)
{
	struct zstream *z = arg;
	if (z->ready)
		zstream_write(z);
	(void)txn;
}

/* The client left: finish now, or when the running job is back. */
static void
on_abort(struct http_txn *txn, void *arg)
{
	struct zstream *z = arg;
	z->aborted = true;
	if (!z->busy)
		zstream_finish(z);
	(void)txn;
}

void
zstream_send(struct http_txn *txn, const char *digest, int status, const struct http_headers *h,
             struct store_file *f, int64_t start, int64_t len)
{
	if (len <= 0) {
		if (f->fd >= 0)
			close(f->fd);
		http_txn_respond(txn, status, h, NULL, 0);
		return;
	}
	struct zstream *z = xcalloc(1, sizeof(*z));
	z->txn = txn;
	snprintf(z->digest, sizeof(z->digest), "%s", digest);
	z->status = status;
	headers_init(&z->h);
	headers_copy(&z->h, h);
	z->f = *f;
	z->pos = start;
	z->end = start + len;
	http_txn_on_abort(txn, on_abort, z);
	http_txn_on_drain(txn, on_drain, z);
	zstream_next(z);
}

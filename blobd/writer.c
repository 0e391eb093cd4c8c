/*
 * Streams a request body into an upload session. Bytes the HTTP layer delivers are hashed in the
 * loop as they arrive and move (without a copy) into `pending`; one job at a time writes a batch
 * in a pool thread while the next batch arrives and is hashed, so hashing and writing overlap.
 * A batch is at least BATCH_MIN bytes (or the body's last ones): handing a few hundred KiB to a
 * thread and back cost as much again as writing them (tests/bench/RESULTS.md).
 * The body is paused while `pending` is full, so memory stays bounded whatever the body's size
 * and a slow disk slows the client instead of the loop. A session in S3 (rsession.c) sends each
 * part as it fills, from the job after the batch that filled it; when the request's hold on the
 * session is due for renewal, the body pauses while it is renewed.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>

#include "blobd.h"
#include "metrics.h"
#include "util.h"

#define PENDING_MAX (1024 * 1024) /* pause the body beyond this much unwritten data */
#define BATCH_MIN (1024 * 1024)   /* a smaller batch waits for more, or for the body's end */
#define CHECKPOINT_EVERY (64 * 1024 * 1024) /* save a long PATCH's progress this often */

struct writer {
	struct http_txn *txn;
	struct session *s;
	int64_t expect;   /* bytes the body must have, -1 any */
	int64_t received; /* body bytes taken so far */
	bool checkpoint;
	struct evbuffer *pending;     /* the loop's: taken, not yet handed to a job */
	struct evbuffer *inflight;    /* the running job's */
	bool busy;                    /* a job runs */
	bool save;                    /* the running job also saves the session's state... */
	struct digest_ctx saved_hash; /* ...as of the end of its batch (the loop hashes ahead) */
	bool paused;
	bool body_done;
	bool aborted;
	bool refused;              /* the body is larger than expected: the rest is not read */
	enum writer_result failed; /* WRITER_OK while all is well (the loop's) */
	bool job_failed;           /* the running job's verdict, read by the loop afterwards */
	int job_errno;             /* and its errno */
	char *cause;
	writer_done_fn done;
	void *arg;
};

static void writer_kick(struct writer *w);
static void writer_renew_hold(struct writer *w);

/* Reports the result once and frees the writer; the body is not read past this point. */
static void
writer_finish(struct writer *w, enum writer_result r)
{
	if (!w->aborted) {
		http_txn_on_abort(w->txn, NULL, NULL);
		/* No more deliveries to us: whatever is left of the body stays unread, and the
		 * connection closes after the caller's answer. */
		if (!w->body_done)
			http_txn_pause_body(w->txn, true);
	}
	w->done(r, w->cause, w->arg);
	evbuffer_free(w->pending);
	evbuffer_free(w->inflight);
	free(w->cause);
	free(w);
}

/* Pool thread: write and hash the batch, and save the state when a checkpoint is due. */
static void
job_write(void *arg)
{
	struct writer *w = arg;
	if (session_write(w->s, w->inflight, &w->cause) < 0 ||
	    (w->s->remote && rsession_stream(w->s, &w->cause) < 0) ||
	    (w->save && session_save_as(w->s, &w->saved_hash, bd.fsync, &w->cause) < 0)) {
		w->job_failed = true;
		w->job_errno = errno;
	}
}

/* In the loop after a batch: stops on a failed write, else goes on. */
static void
job_written(void *arg)
{
	struct writer *w = arg;
	w->busy = false;
	evbuffer_drain(w->inflight, evbuffer_get_length(w->inflight));
	if (w->job_failed)
		w->failed = store_no_space(w->job_errno) ? WRITER_NO_SPACE : WRITER_IO_ERROR;
	if (w->failed != WRITER_OK) {
		writer_finish(w, w->failed);
		return;
	}
	if (w->s->renew_first && !w->body_done && !w->aborted) {
		writer_renew_hold(w);
		return;
	}
	writer_kick(w);
}

/* metad's answer to a renewal of the hold: the waiting parts go, or the refusal is the answer
 * (the hold had lapsed and another request took the session over). */
static void
hold_renewed(int status, struct evbuffer *raw, void *arg)
{
	struct writer *w = arg;
	if (status != 200) {
		w->busy = false;
		if (!w->aborted)
			rsession_refusal(w->txn, status, raw);
		writer_finish(w, WRITER_ANSWERED);
		return;
	}
	jobs_submit(job_write, job_written, w); /* an empty batch: the parts that waited */
}

/* A full part waits for the renewal of the request's hold on the session (parts go only under
 * a fresh hold): the body pauses while it is renewed. */
static void
writer_renew_hold(struct writer *w)
{
	w->busy = true;
	w->save = false;
	if (!w->paused) {
		w->paused = true;
		http_txn_pause_body(w->txn, true);
	}
	rsession_reserve(w->txn, w->s, hold_renewed, w);
}

/* Starts the next batch, resumes the body, or finishes once everything is written. */
static void
writer_kick(struct writer *w)
{
	if (w->busy)
		return;
	size_t len = evbuffer_get_length(w->pending);
	/* A small batch waits for more while the body streams: each batch costs a hand-over to a
	 * pool thread and back, and a write, whose fixed costs small batches multiply. */
	bool worth = len >= BATCH_MIN || w->body_done;
	if (len > 0 && worth && !w->aborted) {
		struct evbuffer *t = w->inflight;
		w->inflight = w->pending;
		w->pending = t;
		w->busy = true;
		w->save = w->checkpoint &&
		          w->s->offset + (int64_t)len - w->s->saved >= CHECKPOINT_EVERY;
		/* Everything received is hashed and is either written or in this batch: the hash
		 * state now is exactly that of the file once the batch is written. */
		if (w->save)
			w->saved_hash = w->s->hash;
		jobs_submit(job_write, job_written, w);
		if (w->paused) {
			w->paused = false;
			http_txn_pause_body(w->txn, false);
		}
		return;
	}
	if (w->aborted)
		writer_finish(w, WRITER_ABORTED);
	else if (w->body_done)
		writer_finish(w,
		              w->expect >= 0 && w->received != w->expect ? WRITER_SIZE : WRITER_OK);
	else if (w->paused && !w->refused) {
		w->paused =
		        false; /* paused while part numbers were reserved, with nothing pending */
		http_txn_pause_body(w->txn, false);
	}
}

/* Runs writer_kick() from the loop for a request without a body. */
static void
finish_later(evutil_socket_t fd, short what, void *arg)
{
	writer_kick(arg);
	(void)fd;
	(void)what;
}

/* Hashes the first len bytes of buf where they lie. */
static void
writer_hash_buffer(struct digest_ctx *d, struct evbuffer *buf, size_t len)
{
	struct evbuffer_ptr pos;
	evbuffer_ptr_set(buf, &pos, 0, EVBUFFER_PTR_SET);
	while (len > 0) {
		struct evbuffer_iovec v[8];
		int n = evbuffer_peek(buf, (ev_ssize_t)len, &pos, v, 8);
		if (n <= 0)
			break;
		if (n > 8)
			n = 8;
		for (int i = 0; i < n && len > 0; i++) {
			size_t take = v[i].iov_len < len ? v[i].iov_len : len;
			digest_update(d, v[i].iov_base, take);
			len -= take;
			evbuffer_ptr_set(buf, &pos, take, EVBUFFER_PTR_ADD);
		}
	}
}

/* Hashes the body bytes the HTTP layer delivers, takes them (without copying) and pauses the
 * body when full. */
static void
on_data(struct http_txn *txn, struct evbuffer *buf, void *arg)
{
	struct writer *w = arg;
	size_t len = evbuffer_get_length(buf);
	if (w->expect >= 0 && (uint64_t)len > (uint64_t)(w->expect - w->received)) {
		/* more than Content-Range announced: refuse the rest */
		evbuffer_drain(buf, len);
		w->failed = WRITER_SIZE;
		w->refused = true;
		if (w->busy) {
			w->paused = true;
			http_txn_pause_body(txn, true); /* the running job's end finishes us */
		} else {
			writer_finish(w, WRITER_SIZE);
		}
		return;
	}
	if (w->failed != WRITER_OK) {
		evbuffer_drain(buf, len);
		return;
	}
	metrics_blob_upload_seen(); /* compression at rest waits while pushes stream */
	writer_hash_buffer(&w->s->hash, buf, len);
	evbuffer_remove_buffer(buf, w->pending, len);
	w->received += (int64_t)len;
	writer_kick(w);
	if (!w->paused && evbuffer_get_length(w->pending) >= PENDING_MAX) {
		w->paused = true;
		http_txn_pause_body(txn, true);
	}
}

/* The whole body has arrived: finish once the last batch is written. */
static void
on_end(struct http_txn *txn, void *arg)
{
	struct writer *w = arg;
	w->body_done = true;
	writer_kick(w);
	(void)txn;
}

/* The client left: finish once the running job is done. */
static void
on_abort(struct http_txn *txn, void *arg)
{
	struct writer *w = arg;
	w->aborted = true;
	if (!w->busy)
		writer_finish(w, WRITER_ABORTED);
	(void)txn;
}

void
writer_start(struct http_txn *txn, struct session *s, int64_t expect, bool checkpoint,
             writer_done_fn done, void *arg)
{
	struct writer *w = xcalloc(1, sizeof(*w));
	w->txn = txn;
	w->s = s;
	w->expect = expect;
	w->checkpoint = checkpoint;
	w->pending = evbuffer_new();
	w->inflight = evbuffer_new();
	w->done = done;
	w->arg = arg;
	if (http_txn_aborted(txn) || !http_txn_request(txn)->has_body) {
		/* nothing to read (or the client left while we asked metad): finish from the loop,
		 * never on the caller's stack */
		w->body_done = true;
		w->aborted = http_txn_aborted(txn);
		struct timeval now = { 0, 0 };
		event_base_once(bd.base, -1, EV_TIMEOUT, finish_later, w, &now);
		return;
	}
	http_txn_on_abort(txn, on_abort, w);
	http_txn_read_stream(txn, on_data, on_end, w);
}

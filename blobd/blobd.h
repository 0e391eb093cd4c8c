/*
 * blobd: upload sessions, digest verification and content-addressed blob storage. It has no
 * database: it asks metad (over metad's socket) whether a repository links a blob, and tells it
 * when a verified blob is stored. Private header; prototypes grouped by file.
 */
#ifndef REGISTRY_BLOBD_H
#define REGISTRY_BLOBD_H

#include <stdbool.h>
#include <stdint.h>
#include <zstd.h>

#include "actor.h"
#include "digest.h"
#include "http.h"
#include "jobs.h"
#include "router.h"
#include "v2reply.h"

struct cfg;
struct event_base;
struct evbuffer;
struct httpc_pool;
struct json_object;
struct rest_req;
struct s3;
struct s3_config;
struct store_driver;

struct blobd {
	struct event_base *base;
	const struct cfg *cfg;
	const char *root;         /* storage root */
	struct httpc_pool *metad; /* metad's socket */
	bool fsync;               /* [blobd] fsync */
	int64_t purge_after;      /* [blobd] upload_purge_after, seconds */
	bool compress;            /* [blobd] compression = zstd */
	int compress_level;       /* [blobd] compression_level */
	uint32_t frame_size;      /* [blobd] compression_frame_size */
	/* where the blobs' bytes are: store.c's files, or store_s3.c's objects */
	const struct store_driver *store;
	struct s3 *s3;               /* storage = s3: the worker's client, on its loop */
	const struct s3_config *s3c; /* storage = s3: its settings, for the pool threads' clients */
	int64_t part_size;           /* [blobd] s3_part_size */
	bool redirect;               /* [blobd] redirect */
	int64_t redirect_expiry;     /* [blobd] redirect_expiry, seconds */
};

extern struct blobd bd;

/* zst.c: the compressed form of a blob file, zstd's seekable format behind a header frame that
 * names the blob (format in zst.c). Pure: files and buffers only. */
#define ZST_HEADER_MAX 256        /* bytes a reader reads to tell the form */
#define ZST_FRAME_MAX (64u << 20) /* largest frame (original bytes) a file may have */

struct zst_header {
	int64_t size;        /* the blob's original bytes */
	uint32_t frame_size; /* original bytes per frame (the last one may hold fewer) */
	size_t len;          /* bytes of the header frame */
};
/* Writes the header frame of digest into buf; its length. */
size_t zst_header_encode(uint8_t buf[ZST_HEADER_MAX], const char *digest, int64_t size,
                         uint32_t frame_size);
/* Whether the len first bytes of a file are the header of digest's compressed form. */
bool zst_header_parse(const uint8_t *buf, size_t len, const char *digest, struct zst_header *h);

struct zst_writer;
/* Starts the compressed form of digest (size original bytes) in fd, writing its header; NULL
 * with *cause. */
struct zst_writer *zst_writer_new(int fd, const char *digest, int64_t size, uint32_t frame_size,
                                  int level, char **cause);
/* Compresses and appends the next frame (frame_size bytes, the last one the rest), after
 * checking that it decompresses to the same bytes; its compressed size, -1 with *cause. */
int64_t zst_writer_frame(struct zst_writer *w, const void *data, size_t len, char **cause);
/* Appends the seek table once every byte is in; the file's size, -1 with *cause. */
int64_t zst_writer_finish(struct zst_writer *w, char **cause);
void zst_writer_free(struct zst_writer *w);

/* Reads len bytes at off of a compressed form's source into buf (all of them); -1 with
 * *cause. */
typedef int (*zst_read_fn)(void *src, void *buf, size_t len, int64_t off, char **cause);

struct zst_reader {
	int fd; /* the caller's (zst_reader_open); -1 for another source */
	zst_read_fn read_at;
	void *src;
	uint32_t n;    /* data frames */
	int64_t *coff; /* n + 1: where frame i starts in the file (coff[n]: the seek table) */
	int64_t *doff; /* n + 1: its first original byte (doff[n]: the blob's size) */
	ZSTD_DCtx *dctx;
	uint8_t *cbuf; /* one compressed frame */
	size_t cbuf_cap;
};
/* Reads and checks the seek table of fd (file_size bytes, header h); NULL with *cause when it is
 * not the table the header promises. */
struct zst_reader *zst_reader_open(int fd, int64_t file_size, const struct zst_header *h,
                                   char **cause);
/* The same over another source (an S3 object: store_s3.c), read with read_at(src, ...). */
struct zst_reader *zst_reader_open_source(zst_read_fn read_at, void *src, int64_t file_size,
                                          const struct zst_header *h, char **cause);
/* The frame holding original byte pos (0 <= pos < size). */
uint32_t zst_reader_find(const struct zst_reader *r, int64_t pos);
/* Decompresses frame i into out (doff[i + 1] - doff[i] bytes); -1 with *cause. */
int zst_reader_frame(struct zst_reader *r, uint32_t i, void *out, char **cause);
void zst_reader_free(struct zst_reader *r);

/* store.c: the one interface to the blobs' bytes, content-addressed (one per digest for the
 * instance), over two drivers: files under storage_root (blobs/<algo>/<2 hex>/<hex>, store.c) or
 * objects in an S3-compatible store (<s3_prefix>/blobs/<algo>/<2 hex>/<hex>, store_s3.c). A file
 * is plain or compressed (zst.c) under the same name. Uploads, reads, compression and garbage
 * collection go through the store_* calls below, never to the disk or the S3 client directly. */
enum store_form { STORE_PLAIN, STORE_ZSTD };

struct store_file {
	int fd; /* a file; -1: a stream (store_send) */
	enum store_form form;
	int64_t size;         /* the blob's bytes, as pushed */
	int64_t stored;       /* the file's bytes */
	struct zst_header zh; /* STORE_ZSTD */
};

/* What a read of a blob found: 0 and f (its fd is the callback's to close), or -1 with err
 * (ENOENT: not stored) and, when known, a cause for the log. */
typedef void (*store_read_fn)(int rc, int err, const char *cause, struct store_file *f, void *arg);

/* A driver. The blocking calls run in pool threads (jobs), the others on the worker's loop. */
struct store_driver {
	const char *name;
	/* blocking: store_commit, store_exists, store_delete, store_sync_deleted below */
	int (*commit)(const char *src, const char *digest, bool sync, bool *created, char **cause);
	bool (*exists)(const char *digest);
	int (*stored_size)(const char *digest, int64_t *stored, char **cause);
	struct zst_reader *(*zst_open)(const char *digest, struct store_file *f, char **cause);
	int (*delete)(const char *digest, int64_t *bytes, char **cause);
	void (*sync_deleted)(char *const *digests, bool *deleted, size_t n);
	/* loop: store_read, store_send, store_url below */
	void (*read)(const char *digest, int64_t size, bool probe, store_read_fn cb, void *arg);
	void (*send)(struct http_txn *txn, const char *digest, int status,
	             const struct http_headers *h, struct store_file *f, int64_t start,
	             int64_t len);
	char *(*url)(const char *digest, int64_t expires);
};
extern const struct store_driver store_fs_driver; /* store.c */
extern const struct store_driver store_s3_driver; /* store_s3.c */

/* The blob's file under storage_root (the filesystem driver's). */
char *store_blob_path(const char *digest);
/* The blob's object name under s3_prefix: blobs/<algo>/<2 hex>/<hex>; NULL for an invalid
 * digest. */
char *store_blob_name(const char *digest);
/* The object name of the blob's compressed form (zst.c) under s3_prefix:
 * blobs-zst/<algo>/<2 hex>/<hex>; NULL for an invalid digest. Either name holds its form whole,
 * never the other's. */
char *store_zst_name(const char *digest);
/* A journal's entry for digest: <root>/<journal>/<algo>-<hex> (placing/ of gc.c, stored/ of
 * stored.c); NULL for an invalid digest. */
char *store_journal_path(const char *journal, const char *digest);
/* The digest a journal entry's name stands for; NULL when the name is not one. */
char *store_journal_digest(const char *name);
/* Blocking: writes digest's entry in the journal (or gives an old one a fresh mtime), durably
 * when sync (the journal's folder fsync'd); -1 with *cause. */
int store_journal_note(const char *journal, const char *digest, bool sync, char **cause);
/* Blocking: removes digest's entry from the journal, if there is one. */
void store_journal_forget(const char *journal, const char *digest);
/* Filesystem driver: opens a stored blob's file for reading; -1 with errno (ENOENT: not
 * stored). */
int store_open(const char *digest, struct store_file *f);
/* What the open file fd of digest holds (fd is not taken); -1 with errno. */
int store_identify(int fd, const char *digest, struct store_file *f);
/* Whether a failure's errno says the storage is full (ENOSPC, EDQUOT): answered 507. */
bool store_no_space(int err);
/* Blocking (a job): makes the verified file at src the blob's (file or object) unless it is
 * stored already, durably when sync (the file itself must already be fsync'd); *created tells
 * whether this call placed it. -1 with *cause (and errno). */
int store_commit(const char *src, const char *digest, bool sync, bool *created, char **cause);
/* Blocking (a job), filesystem driver: puts src, the compressed form of digest (stored bytes,
 * already durable), in place of held, the plain file open and flock'ed by the caller. The folder
 * needs no fsync: after a crash the name holds either form, each whole. 1 when the file is no
 * longer held's (deleted or replaced meanwhile), -1 with *cause. */
int store_replace(const char *digest, int held, const char *src, int64_t stored, char **cause);
/* Blocking: whether the blob is stored (in either form). */
bool store_exists(const char *digest);
/* Blocking: a reader of the compressed blob f from store_read (a file's, or an object's whose
 * header it reads: f->stored, -1 when unknown, f->zh and f->size filled); digest must outlive
 * it. NULL with *cause and errno (ENOENT: stored in neither form). */
struct zst_reader *store_zst_open(const char *digest, struct store_file *f, char **cause);
/* Blocking: the bytes the blob takes in storage (its compressed form's when it has one): 1 with
 * *stored, 0 when it is not stored, -1 with *cause. */
int store_stored_size(const char *digest, int64_t *stored, char **cause);
/* Blocking (a job): the one way a blob goes, whatever its form, on metad's word only (garbage
 * collection, gc.c); waits for a compression of it that is under way. *bytes: what it held in
 * storage (0 when there was none). 0 also when there was none, -1 with *cause. */
int store_delete(const char *digest, int64_t *bytes, char **cause);
/* Blocking (a job): makes the deletions of digests[i] with deleted[i] durable (the files'
 * folders fsync'd; nothing for S3, durable once it answered); clears deleted[i] of those that
 * may not be. */
void store_sync_deleted(char *const *digests, bool *deleted, size_t n);
/* Loop: opens digest for reading; cb runs once (maybe before this returns). size is the blob's
 * size as the metadata has it. probe (a HEAD) makes sure the store holds it; without, for a read
 * whose bytes go out next (a GET), a driver whose every read is a request of its own (S3) takes
 * the size as it is and finds a missing object when it sends (404 before any byte). */
void store_read(const char *digest, int64_t size, bool probe, store_read_fn cb, void *arg);
/* Loop: answers status with headers h and bytes [start, start + len) of f (taken) from
 * store_read: a file's through the HTTP layer (zstream.c for a compressed one), an object's
 * streamed from S3 with the client's back-pressure. */
void store_send(struct http_txn *txn, const char *digest, int status, const struct http_headers *h,
                struct store_file *f, int64_t start, int64_t len);
/* A URL that reads the plain blob for expires seconds (S3's pre-signed GET), NULL when the
 * driver has none (caller frees). */
char *store_url(const char *digest, int64_t expires);
/* Worker start of the S3 driver: the worker's client; -1 with *cause. */
int store_s3_start(const struct s3_config *c, char **cause);
/* Blocking (pool threads), the S3 driver's objects of upload sessions (rsession.c); names
 * without s3_prefix, -1 with *cause. */
/* The blob digest's object from the size bytes of fd, unless it is there (store_commit's). */
int store_s3_commit_fd(int fd, int64_t size, const char *digest, bool *created, char **cause);
/* Bytes [off, off + len) of name into buf, all of them; -1 with *cause and errno (ENOENT: no
 * such object). */
int store_s3_read(const char *name, void *buf, size_t len, int64_t off, char **cause);
/* The size bytes of fd as name: one PutObject, or a multipart upload above s3_part_size. */
int store_s3_put_object(const char *name, int fd, int64_t size, char **cause);
/* GET of name (len bytes) into fd from its start. */
int store_s3_get_fd(const char *name, int fd, int64_t len, char **cause);
/* The digest in algo of name (len bytes), read back with a GET. */
int store_s3_digest(const char *name, enum digest_algo algo, int64_t len, char out[DIGEST_STR_MAX],
                    char **cause);
/* PUT of len bytes of fd from off as name. */
int store_s3_put_fd(const char *name, int fd, int64_t off, int64_t len, char **cause);
/* UploadPart of len bytes of fd from off as n parts numbered first.., each bd.part_size bytes
 * but the last; their ETags into etags[0..n) (caller frees). */
int store_s3_parts(const char *name, const char *upload_id, int fd, int64_t off, int64_t len,
                   int first, size_t n, char **etags, char **cause);
/* CompleteMultipartUpload of the parts numbers[i] with etags[i]. */
int store_s3_complete(const char *name, const char *upload_id, const int *numbers,
                      char *const *etags, size_t n, char **cause);
/* Server-side copy of src (size bytes) to dst: CopyObject, or UploadPartCopy past 5 GiB. */
int store_s3_copy(const char *src, const char *dst, int64_t size, char **cause);
/* HEAD: 1 (and *size) when name is there, 0 when not, -1 with *cause. */
int store_s3_head(const char *name, int64_t *size, char **cause);
/* AbortMultipartUpload, DELETE: failures are logged (the purge tries again). */
void store_s3_abort(const char *name, const char *upload_id);
void store_s3_remove(const char *name);

/* tally.c: the storage gauges (registry_blob_*), counted once when blobd starts and kept
 * current by every change to a blob's file: tally_begin(), the change, tally_add() for what it
 * did, tally_end(). */
struct tally {
	int dfd; /* the blob's folder, held shared; -1 */
	unsigned folder;
};
void tally_begin(const char *digest, struct tally *t);
void tally_add(struct tally *t, enum store_form form, int64_t files, int64_t stored,
               int64_t original);
void tally_end(struct tally *t);
/* Worker start: the count, in the background, unless it is done already (filesystem); with
 * storage = s3 the gauges are the database's, read by tally_metrics. */
void tally_start(void);
/* tally_s3.c, GET /-/metrics: with storage = s3, the gauges from metad's blob rows first, then
 * the samples. */
struct rest_req;
void tally_metrics(struct rest_req *r);
/* Blocking: the count itself (the folders not counted yet, unless another process is counting);
 * what it found, and whether every folder is counted now. */
bool tally_count(int64_t *files, int64_t *stored, int64_t *original);

/* compress.c: compression at rest, in the background after a blob is stored. */
/* Queues digest's file for compression, unless [blobd] compression is none (a compressed file,
 * or content that does not compress, is left as it is). */
void compress_blob(const char *digest);
/* Removes, in the background, the scratch files of compressions whose worker died. */
void compress_sweep(void);
/* Worker start: the background threads. */
int compress_start(char **cause);

/* stored.c: the bytes blob files take on disk, told to metad, and the journal (stored/<algo>-<hex>)
 * of those it may not have heard yet, swept by the workers so that a lost figure is told again. */
/* Blocking (a job): before a change of digest's file, its journal entry (durable when [blobd]
 * fsync); -1 with *cause. */
int stored_note(const char *digest, char **cause);
/* Blocking (a job): the journal entry of digest goes (the change did not happen). */
void stored_forget(const char *digest);
/* Tells metad that digest's file takes stored bytes; its entry goes once metad has it. */
void stored_report(const char *digest, int64_t stored);
/* Worker start, drain: the sweeps of the journal. */
void stored_start(void);
void stored_stop(void);

/* zstream.c: reads of compressed blobs. */
/* Answers status with headers h and bytes [start, start + len) of digest's compressed file f
 * (taken), decompressing only the frames they lie in, one at a time in a pool thread. */
void zstream_send(struct http_txn *txn, const char *digest, int status,
                  const struct http_headers *h, struct store_file *f, int64_t start, int64_t len);

/* session.c: upload sessions on disk (uploads/<id>/data and state), so that any worker, or a
 * restarted one, continues an upload. */
#define SESSION_ID_LEN 32

struct session {
	char id[SESSION_ID_LEN + 1];
	char *repository;
	struct actor_grant grant; /* what the token's push was granted on (zeros: a session older
	                           * than the binding, checked by metad at its link alone) */
	enum digest_algo algo;
	struct digest_ctx hash; /* over bytes [0, offset) */
	int64_t offset;         /* bytes received */
	int64_t saved;          /* offset of the last saved state */
	int64_t unflushed;      /* bytes written since the disk writes were last started */
	int64_t started_at;     /* unix seconds */
	int fd;                 /* the data file, flock'ed while we hold the session */
	bool locked;
	/* storage = s3 (rsession.c): the row in the database, the bytes in S3; fd is this
	 * request's spool, a scratch file holding the session's bytes from base on (the tail read
	 * back, then the request's bytes) */
	bool remote;
	int64_t base;
	int64_t version; /* the row's, as read; then the one this request reserved */
	char *upload_id; /* the multipart upload of uploads/<id>/data */
	int *part_no;    /* the row's parts: numbers and ETags */
	char **part_etag;
	size_t nparts;
	char *tail_name; /* the row's tail object (NULL: none), tail_length bytes */
	int64_t tail_length;
	int first_part;   /* this request's parts: their first number (base's place, from 1) */
	size_t nnew;      /* ...the parts it sent, as they filled (rsession_stream) or at its end */
	char **new_etag;  /* ...their ETags */
	size_t netag;     /* ...new_etag's length */
	bool renew_first; /* a full part waits for the hold's renewal (the writer renews it) */
	char holder[SESSION_ID_LEN + 1]; /* this request's name as the session's holder */
	int64_t held_at;                 /* unix seconds of its last reservation (0: none yet) */
	char *new_tail;                  /* ...the tail object it wrote (NULL: none) */
	int64_t new_tail_length;
	bool completed; /* the multipart upload is complete (uploads/<id>/data exists) */
};

enum session_status { SESSION_OK, SESSION_UNKNOWN, SESSION_BUSY, SESSION_ERROR };

bool session_id_valid(const char *id);
/* A new random session id. */
void session_new_id(char id[SESSION_ID_LEN + 1]);
/* A new, locked session of repository for a push granted on grant; NULL with *cause and errno. */
struct session *session_create(const char *repository, const struct actor_grant *grant,
                               enum digest_algo algo, char **cause);
/* Opens session id of repository (another repository's id is unknown, and so is a session
 * started under a grant made on another project than grant's), locked when lock. */
enum session_status session_open(const char *id, const char *repository,
                                 const struct actor_grant *grant, bool lock, struct session **out);
/* Blocking: writes the bytes of buf (not drained) at the offset and advances it; the caller
 * hashes them (see writer.c: in the loop, while the previous batch is being written). */
int session_write(struct session *s, struct evbuffer *buf, char **cause);
/* Blocking: saves offset and hash state (atomically; durably when sync). */
int session_save(struct session *s, bool sync, char **cause);
/* The same with the hash state of exactly the bytes written so far, kept by the caller. */
int session_save_as(struct session *s, const struct digest_ctx *hash, bool sync, char **cause);
/* Blocking: the final digest of the data in algo ("sha256:..."), rereading the file when the
 * session hashed with another algorithm. */
int session_digest(struct session *s, enum digest_algo algo, char out[DIGEST_STR_MAX],
                   char **cause);
char *session_data_path(const struct session *s);
/* Releases the lock and frees. */
void session_close(struct session *s);
/* Blocking: removes the session's files, then closes it. */
void session_destroy(struct session *s);
/* Blocking: cuts the data back to the last saved state (giving back the room of bytes never
 * acknowledged), then closes the session. */
void session_rewind(struct session *s);
/* Blocking: removes sessions untouched for older_than seconds that nobody holds; how many. */
unsigned session_purge(int64_t older_than);

/* rsession.c: upload sessions of storage = s3, which any node continues: the state in a row of
 * the database (through metad: meta_upload_*), the bytes an S3 multipart upload
 * <s3_prefix>/uploads/<id>/data of s3_part_size parts plus a tail object below a part. */
/* A new session of repository (not yet in S3 nor in the database). */
struct session *rsession_new(const char *repository, const struct actor_grant *grant);
/* The session's object what ("data", "tail-<v>"): uploads/<id>/<what> (caller frees). */
char *rsession_name(const char *id, const char *what);
/* The body of meta_upload_create for s. */
struct json_object *rsession_create_body(const struct session *s);
/* The session of metad's row (GET), checked as session_open checks: repository, grant. */
enum session_status rsession_load(struct json_object *row, const char *repository,
                                  const struct actor_grant *grant, struct session **out);
/* Blocking: makes the request's spool and reads the tail back into it. */
int rsession_spool(struct session *s, char **cause);
/* Part numbers the request needs in all to send its bytes (last: the PUT's, no tail). */
size_t rsession_parts_needed(const struct session *s, bool last);
/* Takes or renews the request's hold on the session at its version (which moves on), then
 * done(status, raw, arg) in the loop: 200 when it holds it, else metad's refusal (raw; 409
 * upload_busy: another request holds it). */
void rsession_reserve(struct http_txn *txn, struct session *s,
                      void (*done)(int status, struct evbuffer *raw, void *arg), void *arg);
/* Answers metad's refusal of a request on a session: 404 BLOB_UPLOAD_UNKNOWN, or as metad said
 * (upload_moved: another request wrote to it meanwhile). */
void rsession_refusal(struct http_txn *txn, int status, struct evbuffer *raw);
/* Whether the request's hold on the session is due for renewal (a reservation of no numbers). */
bool rsession_hold_due(const struct session *s);
/* Blocking, after a batch of the body is in the spool: sends the full parts, as they fill, and
 * gives their room in the spool back; renew_first tells if they wait for the hold's renewal. */
int rsession_stream(struct session *s, char **cause);
/* Blocking: sends the spool's full parts not sent yet (all of it when last) under the reserved
 * numbers, the rest as a new tail object. */
int rsession_flush(struct session *s, bool last, char **cause);
/* The body of meta_upload_save after rsession_flush. */
struct json_object *rsession_save_body(const struct session *s);
/* Blocking, after rsession_flush of the PUT: the digest in algo, another algorithm than the
 * session's hash state (the bytes read back: the spool's, or the completed upload's). */
int rsession_digest(struct session *s, enum digest_algo algo, char out[DIGEST_STR_MAX],
                    char **cause);
/* Blocking, after the digest matched: the blob's object (completing the multipart upload and
 * copying it inside the store, or the spool when the session never filled a part), unless it is
 * there already. */
int rsession_place(struct session *s, const char *digest, bool *created, char **cause);
/* Blocking: the session's objects go (multipart aborted, data and tails deleted); closes s. */
void rsession_discard(struct session *s);
/* Blocking: the tail object nobody needs goes: after a save (saved), the row's previous one
 * (old, from the save's answer); after a failed one, this request's own. Closes s. */
void rsession_drop_tail(struct session *s, bool saved, const char *old);
/* Purge rounds (purge.c): sessions untouched for older_than seconds, and multipart uploads under
 * uploads/ that no session names. */
void rsession_purge(int64_t older_than);

/* writer.c: streams a request body into a session with back-pressure, writing and hashing in
 * pool threads so the loop never waits on the disk. */
/* WRITER_NO_SPACE: the storage is full (ENOSPC, EDQUOT); WRITER_IO_ERROR: any other failure;
 * WRITER_ANSWERED: refused by metad while streaming to S3 (the refusal is the answer, sent) */
enum writer_result {
	WRITER_OK,
	WRITER_ABORTED,
	WRITER_IO_ERROR,
	WRITER_NO_SPACE,
	WRITER_SIZE,
	WRITER_ANSWERED
};
struct writer;
typedef void (*writer_done_fn)(enum writer_result r, const char *cause, void *arg);
/* expect: bytes the body must have (-1: any). checkpoint: save the session's state every so
 * often, so that a long PATCH cut short resumes where it stopped. done runs once, from the loop;
 * the session stays the caller's. A session in S3 sends its parts as they fill. */
void writer_start(struct http_txn *txn, struct session *s, int64_t expect, bool checkpoint,
                  writer_done_fn done, void *arg);

/* meta.c: calls to metad's internal endpoints. body is the parsed JSON answer (NULL if none);
 * status -1 when metad could not be reached. */
typedef void (*meta_cb)(int status, struct json_object *body, struct evbuffer *raw, void *arg);
void meta_blob_get(struct http_txn *txn, const char *repo, const char *digest, meta_cb cb,
                   void *arg);
void meta_blob_link(struct http_txn *txn, const char *repo, const char *digest, int64_t size,
                    meta_cb cb, void *arg);
void meta_blob_unlink(struct http_txn *txn, const char *repo, const char *digest, meta_cb cb,
                      void *arg);
void meta_mount(struct http_txn *txn, const char *repo, const char *digest, const char *from,
                meta_cb cb, void *arg);
void meta_push_check(struct http_txn *txn, const char *repo, meta_cb cb, void *arg);
/* Compression (no caller): the bytes digest's file takes on disk now. */
void meta_blob_stored(const char *digest, int64_t stored, meta_cb cb, void *arg);
/* GET /internal/blobs/tally: the blobs the database names and their bytes, by form. */
void meta_blob_tally(meta_cb cb, void *arg);
/* Garbage collection (no caller: blobd's own work): blob files to delete for this host, their
 * acknowledgement, and files placed without a link past their grace. */
void meta_gc_claim(const char *host, int limit, meta_cb cb, void *arg);
void meta_gc_done(const char *host, char *const *digests, size_t n, meta_cb cb, void *arg);
void meta_gc_orphans(char *const *digests, size_t n, meta_cb cb, void *arg);
/* Upload sessions of storage = s3 (/internal/upload-sessions; txn NULL: the purge's). */
void meta_upload_create(struct http_txn *txn, struct json_object *body, meta_cb cb, void *arg);
void meta_upload_get(struct http_txn *txn, const char *id, meta_cb cb, void *arg);
void meta_upload_reserve(struct http_txn *txn, const char *id, const char *holder, int64_t version,
                         size_t parts, meta_cb cb, void *arg);
void meta_upload_save(struct http_txn *txn, const char *id, struct json_object *body, meta_cb cb,
                      void *arg);
/* version 0: whatever it is. */
void meta_upload_delete(struct http_txn *txn, const char *id, int64_t version, meta_cb cb,
                        void *arg);
void meta_upload_stale(int64_t older_than, meta_cb cb, void *arg);
/* Answers the client with metad's error (status and OCI body), or 503 when unreachable. */
void meta_relay_error(struct http_txn *txn, int status, struct evbuffer *raw);

/* blobs.c: the rows of /v2/:name/blobs/:digest (routes.def; answers: v2reply.h). */
/* GET and HEAD: the blob, or its descriptor for the gateway (X-Registry-Want-Fd). */
void blobs_get(struct rest_req *r);
/* DELETE: unlinks the blob from the repository. */
void blobs_delete(struct rest_req *r);

/* uploads.c: the rows of /v2/:name/blobs/uploads/[:uuid] (routes.def). */
/* POST .../uploads/: starts a session, or stores a monolithic upload, or mounts a blob. */
void uploads_start(struct rest_req *r);
/* GET (and HEAD) .../uploads/:uuid: how far the session is. */
void uploads_progress(struct rest_req *r);
/* PATCH .../uploads/:uuid: appends a chunk or a stream. */
void uploads_append(struct rest_req *r);
/* PUT .../uploads/:uuid?digest=: appends the last bytes, verifies, stores and links. */
void uploads_finish(struct rest_req *r);
/* DELETE .../uploads/:uuid: cancels the session. */
void uploads_cancel(struct rest_req *r);

/* purge.c: removes abandoned upload sessions periodically. */
void purge_start(void);
void purge_stop(void);

/* gc.c: garbage collection's files: deleting those metad names, and the placement journal
 * (placing/<algo>-<hex>), which remembers a blob file placed until metad has linked it, so that a
 * file whose link never came is found without walking the store. */
/* Blocking (a job): before placing the file of digest, unless it is stored already: its journal
 * entry (durable when sync). -1 with *cause. */
int gc_placing(const char *digest, bool sync, char **cause);
/* Blocking (a job): the file of digest is linked: its journal entry goes. */
void gc_placed(const char *digest);
/* The worker's rounds ([gc] enabled): every second, one worker at a time. */
int gc_start(char **cause);
void gc_stop(void);

#endif

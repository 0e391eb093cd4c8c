/*
 * The compressed form of a blob file: zstd's seekable format, written and read here because
 * Debian ships no library for it (the reference code lives in zstd's contrib/, outside libzstd).
 *
 *   header frame   skippable (magic 0x184D2A5B): "regblob1", the original size, the frame size,
 *                  the blob's digest. It tells this form from a plain blob: a plain blob cannot
 *                  hold its own SHA-256 at offset 29.
 *   data frames    independent zstd frames of frame_size original bytes each (the last one
 *                  shorter), each with its content size and checksum
 *   seek table     skippable (magic 0x184D2A5E): one entry (compressed size, original size) per
 *                  frame before it, the header frame included with original size 0, then the
 *                  footer (frame count, descriptor 0, 0x8F92EAB1)
 *
 * All numbers are little-endian. The zstd command decompresses such a file as it is (it skips
 * skippable frames). Pure functions of files and buffers; no global state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "blobd.h"
#include "util.h"

#define MAGIC_HEADER 0x184D2A5BU
#define MAGIC_TABLE 0x184D2A5EU
#define MAGIC_SEEKABLE 0x8F92EAB1U
#define HEADER_TAG "regblob1"
#define HEADER_FIXED 29 /* magic, length, tag, size, frame size, digest length */
#define FOOTER_LEN 9
#define ENTRY_LEN 8
#define CHECKSUM_FLAG 0x80
#define RESERVED_BITS 0x7c

/* Little-endian stores and loads. */
static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* pread of exactly len bytes at off; -1 (errno EIO for a short file). */
static int
pread_full(int fd, void *buf, size_t len, int64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* ---- header ---------------------------------------------------------------------------------- */

size_t
zst_header_encode(uint8_t buf[ZST_HEADER_MAX], const char *digest, int64_t size,
                  uint32_t frame_size)
{
	size_t dlen = strlen(digest);
	put32(buf, MAGIC_HEADER);
	put32(buf + 4, (uint32_t)(HEADER_FIXED - 8 + dlen));
	memcpy(buf + 8, HEADER_TAG, 8);
	put64(buf + 16, (uint64_t)size);
	put32(buf + 24, frame_size);
	buf[28] = (uint8_t)dlen;
	memcpy(buf + HEADER_FIXED, digest, dlen);
	return HEADER_FIXED + dlen;
}

bool
zst_header_parse(const uint8_t *buf, size_t len, const char *digest, struct zst_header *h)
{
	size_t dlen = strlen(digest);
	if (len < HEADER_FIXED + dlen || get32(buf) != MAGIC_HEADER ||
	    get32(buf + 4) != HEADER_FIXED - 8 + dlen || memcmp(buf + 8, HEADER_TAG, 8) != 0 ||
	    buf[28] != dlen || memcmp(buf + HEADER_FIXED, digest, dlen) != 0)
		return false;
	uint64_t size = get64(buf + 16);
	uint32_t frame = get32(buf + 24);
	if (size == 0 || size > INT64_MAX || frame == 0 || frame > ZST_FRAME_MAX)
		return false;
	h->size = (int64_t)size;
	h->frame_size = frame;
	h->len = HEADER_FIXED + dlen;
	return true;
}

/* ---- writer ---------------------------------------------------------------------------------- */

struct zst_writer {
	int fd;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *cbuf, *check;
	size_t cbuf_cap;
	uint32_t frame_size;
	int64_t size;    /* original bytes the file will hold */
	int64_t in;      /* original bytes framed so far */
	int64_t out;     /* bytes written so far */
	uint32_t *entry; /* pairs: compressed size, original size */
	uint32_t n, cap;
};

/* Records a frame in the seek table. */
static void
writer_entry(struct zst_writer *w, uint32_t csize, uint32_t dsize)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->entry = xrealloc(w->entry, (size_t)w->cap * 2 * sizeof(uint32_t));
	}
	w->entry[2 * w->n] = csize;
	w->entry[2 * w->n + 1] = dsize;
	w->n++;
}

struct zst_writer *
zst_writer_new(int fd, const char *digest, int64_t size, uint32_t frame_size, int level,
               char **cause)
{
	if (size <= 0 || frame_size == 0 || frame_size > ZST_FRAME_MAX ||
	    strlen(digest) >= DIGEST_STR_MAX) {
		*cause = xasprintf("cannot compress %s: bad parameters", digest);
		return NULL;
	}
	struct zst_writer *w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->frame_size = frame_size;
	w->size = size;
	w->cctx = ZSTD_createCCtx();
	w->dctx = ZSTD_createDCtx();
	if (w->cctx == NULL || w->dctx == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1))) {
		*cause = xasprintf("cannot set up zstd at level %d", level);
		zst_writer_free(w);
		return NULL;
	}
	w->cbuf_cap = ZSTD_compressBound(frame_size);
	w->cbuf = xmalloc(w->cbuf_cap);
	w->check = xmalloc(frame_size);
	uint8_t head[ZST_HEADER_MAX];
	size_t hlen = zst_header_encode(head, digest, size, frame_size);
	if (write_all(fd, head, hlen) < 0) {
		*cause = xasprintf("write: %s", strerror(errno));
		zst_writer_free(w);
		return NULL;
	}
	writer_entry(w, (uint32_t)hlen, 0);
	w->out = (int64_t)hlen;
	return w;
}

int64_t
zst_writer_frame(struct zst_writer *w, const void *data, size_t len, char **cause)
{
	int64_t left = w->size - w->in;
	if (len == 0 || len > w->frame_size || (int64_t)len > left ||
	    (len < w->frame_size && (int64_t)len != left)) {
		*cause = xasprintf("frame of %zu bytes at %lld of %lld", len, (long long)w->in,
		                   (long long)w->size);
		return -1;
	}
	size_t c = ZSTD_compress2(w->cctx, w->cbuf, w->cbuf_cap, data, len);
	if (ZSTD_isError(c)) {
		*cause = xasprintf("zstd: %s", ZSTD_getErrorName(c));
		return -1;
	}
	/* What goes to disk must give the bytes back: decompress it before writing. */
	size_t d = ZSTD_decompressDCtx(w->dctx, w->check, w->frame_size, w->cbuf, c);
	if (ZSTD_isError(d) || d != len || memcmp(w->check, data, len) != 0) {
		*cause = xasprintf("a compressed frame does not give its bytes back");
		return -1;
	}
	if (write_all(w->fd, w->cbuf, c) < 0) {
		*cause = xasprintf("write: %s", strerror(errno));
		return -1;
	}
	writer_entry(w, (uint32_t)c, (uint32_t)len);
	w->in += (int64_t)len;
	w->out += (int64_t)c;
	return (int64_t)c;
}

int64_t
zst_writer_finish(struct zst_writer *w, char **cause)
{
	if (w->in != w->size) {
		*cause = xasprintf("compressed %lld of %lld bytes", (long long)w->in,
		                   (long long)w->size);
		return -1;
	}
	size_t tlen = 8 + (size_t)w->n * ENTRY_LEN + FOOTER_LEN;
	uint8_t *t = xmalloc(tlen);
	put32(t, MAGIC_TABLE);
	put32(t + 4, (uint32_t)(tlen - 8));
	for (uint32_t i = 0; i < w->n; i++) {
		put32(t + 8 + i * ENTRY_LEN, w->entry[2 * i]);
		put32(t + 12 + i * ENTRY_LEN, w->entry[2 * i + 1]);
	}
	uint8_t *f = t + tlen - FOOTER_LEN;
	put32(f, w->n);
	f[4] = 0; /* no per-frame checksums here: every frame carries zstd's own */
	put32(f + 5, MAGIC_SEEKABLE);
	int rc = write_all(w->fd, t, tlen);
	free(t);
	if (rc < 0) {
		*cause = xasprintf("write: %s", strerror(errno));
		return -1;
	}
	w->out += (int64_t)tlen;
	return w->out;
}

void
zst_writer_free(struct zst_writer *w)
{
	if (w == NULL)
		return;
	ZSTD_freeCCtx(w->cctx);
	ZSTD_freeDCtx(w->dctx);
	free(w->cbuf);
	free(w->check);
	free(w->entry);
	free(w);
}

/* ---- reader ---------------------------------------------------------------------------------- */

/* A source's read of len bytes at off: a file's pread. */
static int
fd_read_at(void *src, void *buf, size_t len, int64_t off, char **cause)
{
	if (pread_full(*(int *)src, buf, len, off) == 0)
		return 0;
	*cause = xasprintf("read at %lld: %s", (long long)off, strerror(errno));
	return -1;
}

struct zst_reader *
zst_reader_open(int fd, int64_t file_size, const struct zst_header *h, char **cause)
{
	struct zst_reader *r = zst_reader_open_source(fd_read_at, &fd, file_size, h, cause);
	if (r != NULL) {
		r->fd = fd;
		r->src = &r->fd;
	}
	return r;
}

struct zst_reader *
zst_reader_open_source(zst_read_fn read_at, void *src, int64_t file_size,
                       const struct zst_header *h, char **cause)
{
	uint8_t foot[FOOTER_LEN];
	if (file_size < (int64_t)h->len + 8 + ENTRY_LEN + FOOTER_LEN) {
		*cause = xasprintf("no seek table");
		return NULL;
	}
	if (read_at(src, foot, FOOTER_LEN, file_size - FOOTER_LEN, cause) < 0)
		return NULL;
	uint32_t count = get32(foot);
	uint8_t desc = foot[4];
	size_t elen = (desc & CHECKSUM_FLAG) ? ENTRY_LEN + 4 : ENTRY_LEN;
	int64_t tlen = 8 + (int64_t)count * (int64_t)elen + FOOTER_LEN;
	if (get32(foot + 5) != MAGIC_SEEKABLE || (desc & RESERVED_BITS) != 0 || count < 2 ||
	    tlen > file_size - (int64_t)h->len) {
		*cause = xasprintf("malformed seek table footer");
		return NULL;
	}
	uint8_t *t = xmalloc((size_t)tlen);
	struct zst_reader *r = xcalloc(1, sizeof(*r));
	r->fd = -1;
	r->read_at = read_at;
	r->src = src;
	r->n = count - 1;
	r->coff = xmalloc(((size_t)r->n + 1) * sizeof(int64_t));
	r->doff = xmalloc(((size_t)r->n + 1) * sizeof(int64_t));
	int64_t tstart = file_size - tlen;
	if (read_at(src, t, (size_t)tlen, tstart, cause) < 0)
		goto fail;
	if (get32(t) != MAGIC_TABLE || get32(t + 4) != (uint64_t)tlen - 8) {
		*cause = xasprintf("malformed seek table");
		goto fail;
	}
	/* the first entry is the header frame, which holds no data */
	const uint8_t *e = t + 8;
	if (get32(e) != h->len || get32(e + 4) != 0) {
		*cause = xasprintf("the seek table does not start with the header");
		goto fail;
	}
	int64_t coff = (int64_t)h->len, doff = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		e += elen;
		uint32_t c = get32(e), d = get32(e + 4);
		if (c == 0 || d == 0 || d > h->frame_size || coff + c > tstart ||
		    doff + d > h->size) {
			*cause = xasprintf("seek table entry %u out of bounds", i + 1);
			goto fail;
		}
		r->coff[i] = coff;
		r->doff[i] = doff;
		coff += c;
		doff += d;
	}
	if (coff != tstart || doff != h->size) {
		*cause = xasprintf("the seek table covers %lld of %lld bytes", (long long)doff,
		                   (long long)h->size);
		goto fail;
	}
	r->coff[r->n] = coff;
	r->doff[r->n] = doff;
	r->dctx = ZSTD_createDCtx();
	if (r->dctx == NULL) {
		*cause = xasprintf("cannot set up zstd");
		goto fail;
	}
	free(t);
	return r;
fail:
	free(t);
	zst_reader_free(r);
	return NULL;
}

uint32_t
zst_reader_find(const struct zst_reader *r, int64_t pos)
{
	uint32_t lo = 0, hi = r->n; /* doff[lo] <= pos < doff[hi] */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (r->doff[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int
zst_reader_frame(struct zst_reader *r, uint32_t i, void *out, char **cause)
{
	size_t clen = (size_t)(r->coff[i + 1] - r->coff[i]);
	size_t dlen = (size_t)(r->doff[i + 1] - r->doff[i]);
	if (clen > r->cbuf_cap) {
		free(r->cbuf);
		r->cbuf = xmalloc(clen);
		r->cbuf_cap = clen;
	}
	char *why = NULL;
	if (r->read_at(r->src, r->cbuf, clen, r->coff[i], &why) < 0) {
		*cause = xasprintf("frame %u: %s", i, why);
		free(why);
		return -1;
	}
	size_t d = ZSTD_decompressDCtx(r->dctx, out, dlen, r->cbuf, clen);
	if (ZSTD_isError(d) || d != dlen) {
		*cause = xasprintf("frame %u: %s", i,
		                   ZSTD_isError(d) ? ZSTD_getErrorName(d) : "wrong size");
		return -1;
	}
	return 0;
}

void
zst_reader_free(struct zst_reader *r)
{
	if (r == NULL)
		return;
	ZSTD_freeDCtx(r->dctx);
	free(r->coff);
	free(r->doff);
	free(r->cbuf);
	free(r);
}

/* blobd/zst.c: the compressed form of a blob file, written and read back at frame boundaries,
 * checked against zstd's seekable format byte by byte, and refused when damaged. */
#include "unit.h"

#include <fcntl.h>
#include <unistd.h>

#include "blobd.h"
#include "digest.h"
#include "util.h"

#define F 65536 /* frame size of these tests */

/* Compressible bytes: numbered lines of text. */
static uint8_t *
text(size_t len)
{
	uint8_t *b = xmalloc(len + 64);
	size_t off = 0;
	for (unsigned i = 0; off < len; i++)
		off += (size_t)snprintf((char *)b + off, 64, "line %u of a layer's text file\n", i);
	return b;
}

/* Bytes that do not compress. */
static uint8_t *
noise(size_t len)
{
	uint8_t *b = xmalloc(len);
	uint64_t x = 88172645463325252ULL;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	return b;
}

/* A scratch file, already unlinked. */
static int
scratch(void)
{
	char path[] = "/tmp/test_zst.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

/* Writes the compressed form of data (len bytes) into a scratch file; its size. */
static int64_t
compress_into(int fd, const char *digest, const uint8_t *data, size_t len, uint32_t frame)
{
	char *cause = NULL;
	struct zst_writer *w = zst_writer_new(fd, digest, (int64_t)len, frame, 3, &cause);
	assert_non_null(w);
	for (size_t off = 0; off < len; off += frame) {
		size_t n = len - off < frame ? len - off : frame;
		assert_true(zst_writer_frame(w, data + off, n, &cause) > 0);
	}
	int64_t total = zst_writer_finish(w, &cause);
	assert_true(total > 0);
	zst_writer_free(w);
	assert_int_equal(lseek(fd, 0, SEEK_END), total);
	return total;
}

/* Reads the header of fd for digest. */
static bool
header_of(int fd, const char *digest, struct zst_header *h)
{
	uint8_t head[ZST_HEADER_MAX];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	assert_true(n > 0);
	return zst_header_parse(head, (size_t)n, digest, h);
}

/* Every frame, and every position's frame, of the file fd of data. */
static void
check_reads(int fd, const char *digest, const uint8_t *data, size_t len, uint32_t frame)
{
	struct zst_header h;
	assert_true(header_of(fd, digest, &h));
	assert_int_equal(h.size, len);
	assert_int_equal(h.frame_size, frame);
	char *cause = NULL;
	struct zst_reader *r = zst_reader_open(fd, lseek(fd, 0, SEEK_END), &h, &cause);
	if (r == NULL)
		fail_msg("%s", cause);
	assert_int_equal(r->n, (len + frame - 1) / frame);
	assert_int_equal(r->doff[r->n], len);
	uint8_t *out = xmalloc(frame);
	for (uint32_t i = 0; i < r->n; i++) {
		assert_int_equal(r->doff[i], (int64_t)i * frame);
		size_t n = (size_t)(r->doff[i + 1] - r->doff[i]);
		assert_int_equal(zst_reader_frame(r, i, out, &cause), 0);
		assert_memory_equal(out, data + r->doff[i], n);
	}
	int64_t probes[] = { 0, 1, frame - 1, frame, frame + 1, (int64_t)len - 1 };
	for (size_t k = 0; k < nitems(probes); k++) {
		int64_t pos = probes[k];
		if (pos < 0 || pos >= (int64_t)len)
			continue;
		uint32_t i = zst_reader_find(r, pos);
		assert_true(r->doff[i] <= pos && pos < r->doff[i + 1]);
	}
	free(out);
	zst_reader_free(r);
}

/* Sizes around frame boundaries, compressible or not, written and read back. */
static void
round_trips(void **state)
{
	size_t sizes[] = { 1, 100, F - 1, F, F + 1, 3 * F + F / 2, 8 * F };
	for (int kind = 0; kind < 2; kind++) {
		for (size_t k = 0; k < nitems(sizes); k++) {
			size_t len = sizes[k];
			uint8_t *data = kind == 0 ? text(len) : noise(len);
			char digest[DIGEST_STR_MAX];
			digest_buffer(DIGEST_SHA256, data, len, digest);
			int fd = scratch();
			int64_t total = compress_into(fd, digest, data, len, F);
			if (kind == 0 && len >= F)
				assert_true(total < (int64_t)len / 4);
			check_reads(fd, digest, data, len, F);
			close(fd);
			free(data);
		}
	}
	(void)state;
}

/* The file is zstd's seekable format: a seek table in a skippable frame at the end, whose
 * entries (the header frame first, with no data) add up to the frames' offsets. */
static void
seekable_layout(void **state)
{
	size_t len = 2 * F + 10;
	uint8_t *data = text(len);
	char digest[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, data, len, digest);
	int fd = scratch();
	int64_t total = compress_into(fd, digest, data, len, F);
	uint8_t *file = xmalloc((size_t)total);
	assert_int_equal(pread(fd, file, (size_t)total, 0), total);
	const uint8_t *foot = file + total - 9;
	static const uint8_t seekable_magic[] = { 0xb1, 0xea, 0x92, 0x8f };
	assert_memory_equal(foot + 5, seekable_magic, 4);
	assert_int_equal(foot[4], 0);
	uint32_t count = foot[0] | foot[1] << 8 | foot[2] << 16 | (uint32_t)foot[3] << 24;
	assert_int_equal(count, 4); /* the header and three data frames */
	const uint8_t *table = file + total - 9 - 8 * count - 8;
	static const uint8_t skippable_magic[] = { 0x5e, 0x2a, 0x4d, 0x18 };
	assert_memory_equal(table, skippable_magic, 4);
	assert_int_equal(table[4] | table[5] << 8, 8 * count + 9);
	static const uint8_t header_magic[] = { 0x5b, 0x2a, 0x4d, 0x18 };
	assert_memory_equal(file, header_magic, 4);
	int64_t off = 0, dsum = 0;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = table + 8 + 8 * i;
		uint32_t c = e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24;
		uint32_t d = e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24;
		if (i == 0) {
			assert_int_equal(d, 0);
		} else {
			static const uint8_t zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };
			assert_memory_equal(file + off, zstd_magic, 4);
		}
		off += c;
		dsum += d;
	}
	assert_int_equal(off, table - file);
	assert_int_equal(dsum, len);
	free(file);
	free(data);
	close(fd);
	(void)state;
}

/* A header tells the compressed form only for its own digest and only whole. */
static void
headers(void **state)
{
	const char *d = "sha256:6c5dd8f0a79f3a5bd2c3b0e5e1ba1f8e0b4cda3c8b6e5b1ab4b3b0d5e6f7a8b9";
	uint8_t buf[ZST_HEADER_MAX];
	size_t n = zst_header_encode(buf, d, 12345, F);
	struct zst_header h;
	assert_true(zst_header_parse(buf, n, d, &h));
	assert_int_equal(h.size, 12345);
	assert_int_equal(h.len, n);
	assert_false(zst_header_parse(buf, n - 1, d, &h));
	char other[DIGEST_STR_MAX];
	snprintf(other, sizeof(other), "%s", d);
	other[10] = other[10] == 'a' ? 'b' : 'a';
	assert_false(zst_header_parse(buf, n, other, &h));
	for (size_t i = 0; i < 29; i++) {
		if (i >= 16 && i < 28)
			continue; /* the size and frame size: any within bounds */
		buf[i] ^= 0x01;
		assert_false(zst_header_parse(buf, n, d, &h));
		buf[i] ^= 0x01;
	}
	n = zst_header_encode(buf, d, 0, F);
	assert_false(zst_header_parse(buf, n, d, &h));
	n = zst_header_encode(buf, d, 10, ZST_FRAME_MAX + 1);
	assert_false(zst_header_parse(buf, n, d, &h));
	/* a plain blob that merely starts with the magic is plain */
	memset(buf + 8, 'x', sizeof(buf) - 8);
	assert_false(zst_header_parse(buf, sizeof(buf), d, &h));
	(void)state;
}

/* Flips or cuts bytes of a good file: the reader refuses it, never reads out of bounds. */
static void
damaged(void **state)
{
	size_t len = 3 * F;
	uint8_t *data = text(len);
	char digest[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, data, len, digest);
	int fd = scratch();
	int64_t total = compress_into(fd, digest, data, len, F);
	uint8_t *good = xmalloc((size_t)total);
	assert_int_equal(pread(fd, good, (size_t)total, 0), total);
	struct zst_header h;
	assert_true(header_of(fd, digest, &h));
	char *cause = NULL;
	/* every byte of the seek table and footer matters, bar the descriptor's unused bits */
	int64_t tstart = total - 9 - 8 * 4 - 8;
	for (int64_t at = tstart; at < total; at++) {
		int fd2 = scratch();
		uint8_t *bad = xmalloc((size_t)total);
		memcpy(bad, good, (size_t)total);
		bad[at] ^= (at == total - 5) ? 0x80 : 0x01;
		assert_int_equal(write(fd2, bad, (size_t)total), total);
		struct zst_reader *r = zst_reader_open(fd2, total, &h, &cause);
		if (r != NULL)
			fail_msg("a flip at %lld of the table went unnoticed",
			         (long long)(at - tstart));
		free(cause);
		cause = NULL;
		free(bad);
		close(fd2);
	}
	/* a cut file is refused */
	assert_null(zst_reader_open(fd, total - 1, &h, &cause));
	free(cause);
	/* a flipped byte inside a data frame fails that frame's checksum */
	struct zst_reader *r = zst_reader_open(fd, total, &h, &cause);
	assert_non_null(r);
	uint8_t flip = good[r->coff[1] + 20] ^ 0x20;
	assert_int_equal(pwrite(fd, &flip, 1, r->coff[1] + 20), 1);
	uint8_t *out = xmalloc(F);
	assert_int_equal(zst_reader_frame(r, 0, out, &cause), 0);
	assert_int_equal(zst_reader_frame(r, 1, out, &cause), -1);
	assert_non_null(cause);
	free(cause);
	zst_reader_free(r);
	free(out);
	free(good);
	free(data);
	close(fd);
	(void)state;
}

/* The writer takes whole frames in order, and finishes only once every byte is in. */
static void
writer_rules(void **state)
{
	const char *d = "sha256:6c5dd8f0a79f3a5bd2c3b0e5e1ba1f8e0b4cda3c8b6e5b1ab4b3b0d5e6f7a8b9";
	uint8_t *data = text(2 * F);
	int fd = scratch();
	char *cause = NULL;
	struct zst_writer *w = zst_writer_new(fd, d, 2 * F, F, 3, &cause);
	assert_non_null(w);
	assert_int_equal(zst_writer_frame(w, data, F - 1, &cause), -1); /* short, not last */
	free(cause);
	assert_true(zst_writer_frame(w, data, F, &cause) > 0);
	assert_int_equal(zst_writer_finish(w, &cause), -1); /* a frame is missing */
	free(cause);
	assert_int_equal(zst_writer_frame(w, data, F + 1, &cause), -1); /* too long */
	free(cause);
	zst_writer_free(w);
	assert_null(zst_writer_new(fd, d, 0, F, 3, &cause));
	free(cause);
	free(data);
	close(fd);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trips),  cmocka_unit_test(seekable_layout),
		cmocka_unit_test(headers),      cmocka_unit_test(damaged),
		cmocka_unit_test(writer_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

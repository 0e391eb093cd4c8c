/* blobd/store.c and tally.c: placing, compressing and deleting blob files keeps the storage
 * gauges equal to what is on disk, and a deletion waits for a compression under way. */
#include "unit.h"

#include <event2/buffer.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobd.h"
#include "digest.h"
#include "metrics.h"
#include "util.h"

struct blobd bd;

static char root[] = "/tmp/test_store.XXXXXX";

/* A gauge of blobd's samples: name{daemon="blobd",form="<form>"}. */
static long long
gauge(const char *name, const char *form)
{
	struct evbuffer *b = evbuffer_new();
	metrics_write_samples(b);
	evbuffer_add(b, "", 1);
	const char *text = (const char *)evbuffer_pullup(b, -1);
	char *key = xasprintf("%s{daemon=\"blobd\",form=\"%s\"} ", name, form);
	const char *at = strstr(text, key);
	assert_non_null(at);
	long long v = atoll(at + strlen(key));
	free(key);
	evbuffer_free(b);
	return v;
}

/* The three gauges of a form. */
static void
expect_gauges(const char *form, long long files, long long stored, long long original)
{
	assert_int_equal(gauge("registry_blob_files", form), files);
	assert_int_equal(gauge("registry_blob_stored_bytes", form), stored);
	assert_int_equal(gauge("registry_blob_original_bytes", form), original);
}

/* An upload's verified file of data; its digest in digest. */
static char *
upload(const uint8_t *data, size_t len, char digest[DIGEST_STR_MAX])
{
	digest_buffer(DIGEST_SHA256, data, len, digest);
	char *path = xasprintf("%s/uploads/%s", root, digest + 7);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
	return path;
}

/* Compressible bytes. */
static uint8_t *
text(size_t len)
{
	uint8_t *b = xmalloc(len + 64);
	size_t off = 0;
	for (unsigned i = 0; off < len; i++)
		off += (size_t)snprintf((char *)b + off, 64, "entry %u of a JSON document,\n", i);
	return b;
}

/* Commits data as a blob; its digest in digest. */
static void
commit(const uint8_t *data, size_t len, char digest[DIGEST_STR_MAX], bool want_created)
{
	char *src = upload(data, len, digest);
	char *cause = NULL;
	bool created;
	assert_int_equal(store_commit(src, digest, false, &created, &cause), 0);
	assert_int_equal(created, want_created);
	unlink(src);
	free(src);
}

/* Writes the compressed form of the held plain file of digest and puts it in place (what
 * compress.c does); the compressed size. */
static int64_t
compress_held(int held, const char *digest, const uint8_t *data, size_t len, int want)
{
	char *tmp = xasprintf("%s/tmp/%s", root, digest + 7);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	char *cause = NULL;
	struct zst_writer *w = zst_writer_new(fd, digest, (int64_t)len, 65536, 3, &cause);
	for (size_t off = 0; off < len; off += 65536)
		assert_true(zst_writer_frame(w, data + off, len - off < 65536 ? len - off : 65536,
		                             &cause) > 0);
	int64_t total = zst_writer_finish(w, &cause);
	zst_writer_free(w);
	close(fd);
	assert_int_equal(store_replace(digest, held, tmp, total, &cause), want);
	unlink(tmp);
	free(tmp);
	return total;
}

/* Opens digest's file and holds it, as a compression does. */
static int
hold(const char *digest)
{
	char *path = store_blob_path(digest);
	int fd = open(path, O_RDONLY);
	free(path);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	return fd;
}

/* Whether digest has a file. */
static bool
stored(const char *digest)
{
	char *path = store_blob_path(digest);
	bool there = access(path, F_OK) == 0;
	free(path);
	return there;
}

/* The form and sizes store_open tells. */
static void
expect_open(const char *digest, enum store_form form, int64_t size)
{
	struct store_file f;
	assert_true(store_open(digest, &f) >= 0);
	assert_int_equal(f.form, form);
	assert_int_equal(f.size, size);
	close(f.fd);
}

/* Blob changes before and after the start-up count, each counted once. */
static void
changes_keep_the_gauges(void **state)
{
	char a[DIGEST_STR_MAX], b[DIGEST_STR_MAX];
	uint8_t *ta = text(1000), *tb = text(300000);
	commit(ta, 1000, a, true); /* before the count: the count finds it */
	expect_gauges("plain", 0, 0, 0);
	int64_t files, bytes, original;
	assert_true(tally_count(&files, &bytes, &original));
	assert_int_equal(files, 1);
	expect_gauges("plain", 1, 1000, 1000);
	commit(ta, 1000, a, false); /* the same bytes again: nothing new */
	commit(tb, 300000, b, true);
	expect_gauges("plain", 2, 301000, 301000);
	expect_open(b, STORE_PLAIN, 300000);

	int held = hold(b);
	int64_t zb = compress_held(held, b, tb, 300000, 0);
	close(held);
	assert_true(zb < 300000 / 4);
	expect_open(b, STORE_ZSTD, 300000);
	expect_gauges("plain", 1, 1000, 1000);
	expect_gauges("zstd", 1, zb, 300000);

	char *cause = NULL;
	int64_t freed;
	assert_int_equal(store_delete(b, &freed, &cause), 0);
	assert_int_equal(freed, zb); /* what the file took on disk */
	assert_false(stored(b));
	expect_gauges("zstd", 0, 0, 0);
	assert_int_equal(store_delete(b, &freed, &cause), 0); /* nothing left: fine */
	assert_int_equal(freed, 0);
	assert_int_equal(store_delete(a, &freed, &cause), 0);
	assert_int_equal(freed, 1000);
	expect_gauges("plain", 0, 0, 0);
	free(ta);
	free(tb);
	(void)state;
}

struct deleter {
	const char *digest;
	int rc;
	bool done;
};

/* Thread: store_delete. */
static void *
run_delete(void *arg)
{
	struct deleter *d = arg;
	char *cause = NULL;
	int64_t freed;
	d->rc = store_delete(d->digest, &freed, &cause);
	free(cause);
	__atomic_store_n(&d->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* A deletion waits for the compression that holds the file, then deletes its result; a
 * compression whose file went meanwhile puts nothing back. */
static void
delete_waits_for_a_compression(void **state)
{
	char c[DIGEST_STR_MAX];
	uint8_t *tc = text(200000);
	commit(tc, 200000, c, true);
	int held = hold(c);
	struct deleter d = { .digest = c };
	pthread_t t;
	pthread_create(&t, NULL, run_delete, &d);
	usleep(200 * 1000);
	assert_false(__atomic_load_n(&d.done, __ATOMIC_ACQUIRE));
	assert_true(stored(c));
	compress_held(held, c, tc, 200000, 0);
	close(held); /* the compression is done: the deletion goes on */
	pthread_join(t, NULL);
	assert_int_equal(d.rc, 0);
	assert_false(stored(c));
	expect_gauges("zstd", 0, 0, 0);
	expect_gauges("plain", 0, 0, 0);

	/* deleted by someone who did not hold it: the compression gives up */
	commit(tc, 200000, c, true);
	held = hold(c);
	char *path = store_blob_path(c);
	unlink(path);
	compress_held(held, c, tc, 200000, 1);
	close(held);
	assert_false(stored(c));
	free(path);
	free(tc);
	(void)state;
}

/* A plain blob whose bytes look like the compressed form of another digest stays plain. */
static void
lookalike_stays_plain(void **state)
{
	char other[DIGEST_STR_MAX], d[DIGEST_STR_MAX];
	uint8_t *t = text(5000);
	digest_buffer(DIGEST_SHA256, "x", 1, other);
	uint8_t head[ZST_HEADER_MAX];
	size_t n = zst_header_encode(head, other, 5000, 65536);
	memcpy(t, head, n);
	commit(t, 5000, d, true);
	expect_open(d, STORE_PLAIN, 5000);
	char *cause = NULL;
	int64_t freed;
	assert_int_equal(store_delete(d, &freed, &cause), 0);
	assert_int_equal(freed, 5000);
	free(t);
	(void)state;
}

/* A root with the folders blobd makes. */
static int
setup(void **state)
{
	assert_non_null(mkdtemp(root));
	const char *subs[] = { "/blobs", "/uploads", "/tmp" };
	for (size_t i = 0; i < nitems(subs); i++) {
		char *p = xasprintf("%s%s", root, subs[i]);
		assert_int_equal(mkdir(p, 0700), 0);
		free(p);
	}
	bd.root = root;
	metrics_init("blobd", NULL, 0);
	metrics_blob_enable();
	(void)state;
	return 0;
}

/* Removes the root. */
static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", root);
	int rc = system(cmd);
	free(cmd);
	(void)state;
	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(changes_keep_the_gauges),
		cmocka_unit_test(delete_waits_for_a_compression),
		cmocka_unit_test(lookalike_stays_plain),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

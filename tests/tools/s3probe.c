/*
 * s3probe: runs blobd's S3 client (blobd/s3.h) on a libevent loop, one operation per command, so
 * that tests/integration/test_s3_client.py can check every result against a real S3 server.
 *
 *   s3probe -c CONFIG COMMAND ARGS...
 *
 *   put NAME FILE               PUT streamed from the file's descriptor (unsigned payload)
 *   putbuf NAME FILE [SHA256]   PUT from a buffer, signed with its SHA-256 (or the one given)
 *   get NAME OUT [FIRST [LAST]] GET (a range with FIRST, LAST -1: to the end) into OUT
 *   getpaused NAME OUT          GET that pauses at every block and resumes from a timer
 *   head NAME | delete NAME | copy SRC DST
 *   multipart NAME FILE PARTSIZE  create, every part at once, complete
 *   mpstart NAME | mpabort NAME UPLOADID
 *   list PREFIX                 every page of the multipart uploads under PREFIX
 *   presign NAME SECONDS        a pre-signed GET URL
 *   heads N NAME                N HEADs one after the other (connections opened: "connects")
 *
 * It prints "name value" lines (status, etag, size, total, upload_id, upload NAME ID, url,
 * ticks, max_gap_ms) and exits 0; on failure "error CAUSE" and "code CODE" on stderr, exit 1.
 * ticks and max_gap_ms come from a 5 ms timer on the same loop: a client that blocked the loop
 * would starve it.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "digest.h"
#include "log.h"
#include "s3.h"
#include "util.h"

struct probe {
	struct event_base *base;
	struct s3 *s3;
	int failed;
	FILE *out;             /* get: where the bytes go */
	struct s3_req *paused; /* getpaused: the request waiting for its timer */
	struct event *resume;
	/* multipart */
	const char *name;
	char *upload_id;
	char **etags;
	size_t nparts, parts_done;
	/* list */
	const char *prefix;
	/* heads */
	long heads_left, connects;
	/* the loop's heartbeat */
	struct event *tick;
	uint64_t last_tick_us, max_gap_us, ticks;
};

static struct probe P;

/* Prints a failure's cause and code and marks the run failed. */
static void
probe_fail(const struct s3_result *r)
{
	fprintf(stderr, "error %s\n", r->cause);
	if (r->code != NULL)
		fprintf(stderr, "code %s\n", r->code);
	printf("status %d\n", r->status);
	P.failed = 1;
}

/* The end of a single request: what it answered. */
static void
probe_done(const struct s3_result *r, void *arg)
{
	if (!r->ok) {
		probe_fail(r);
	} else {
		printf("status %d\n", r->status);
		if (r->etag != NULL)
			printf("etag %s\n", r->etag);
		if (r->size >= 0)
			printf("size %lld\n", (long long)r->size);
		if (r->total >= 0)
			printf("total %lld\n", (long long)r->total);
		if (r->upload_id != NULL)
			printf("upload_id %s\n", r->upload_id);
	}
	event_base_loopbreak(P.base);
}

/* heads: the next HEAD once one is answered, so that each may reuse the last one's connection. */
static void
probe_head_done(const struct s3_result *r, void *arg)
{
	if (!r->ok) {
		probe_done(r, arg);
		return;
	}
	P.connects += r->connects;
	if (--P.heads_left > 0) {
		s3_head(P.s3, arg, probe_head_done, arg);
		return;
	}
	printf("connects %ld\n", P.connects);
	probe_done(r, arg);
}

/* GET data: into the output file. */
static enum s3_data
probe_data(const void *data, size_t len, void *arg)
{
	if (fwrite(data, 1, len, P.out) != len)
		return S3_DATA_STOP;
	return S3_DATA_OK;
}

/* getpaused's timer: lets the paused request go on. */
static void
probe_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3_req *req = P.paused;
	P.paused = NULL;
	s3_req_resume(req);
}

/* getpaused's data: every other call pauses first, so each block is delivered again later. */
static enum s3_data
probe_data_paused(const void *data, size_t len, void *arg)
{
	static unsigned calls;
	if (calls++ % 2 == 0) {
		struct timeval ms = { 0, 1000 };
		P.paused = *(struct s3_req **)arg;
		evtimer_add(P.resume, &ms);
		return S3_DATA_PAUSE;
	}
	return probe_data(data, len, NULL);
}

/* The loop's heartbeat: the longest time between two ticks. */
static void
probe_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = now_monotonic_us();
	if (P.last_tick_us != 0 && now - P.last_tick_us > P.max_gap_us)
		P.max_gap_us = now - P.last_tick_us;
	P.last_tick_us = now;
	P.ticks++;
}

/* multipart: the last part in completes the upload. */
static void
probe_part_done(const struct s3_result *r, void *arg)
{
	size_t i = (size_t)(uintptr_t)arg;
	if (!r->ok) {
		probe_fail(r);
		event_base_loopbreak(P.base);
		return;
	}
	P.etags[i] = xstrdup(r->etag != NULL ? r->etag : "");
	printf("part %zu %s\n", i + 1, P.etags[i]);
	if (++P.parts_done == P.nparts)
		s3_multipart_complete(P.s3, P.name, P.upload_id, (const char *const *)P.etags,
		                      P.nparts, probe_done, NULL);
}

/* multipart: the upload exists; every part starts at once, streamed from the file. */
static void
probe_created(const struct s3_result *r, void *arg)
{
	int fd = (int)(intptr_t)arg;
	if (!r->ok) {
		probe_fail(r);
		event_base_loopbreak(P.base);
		return;
	}
	P.upload_id = xstrdup(r->upload_id);
	printf("upload_id %s\n", P.upload_id);
	struct stat st;
	fstat(fd, &st);
	int64_t part_size = (int64_t)P.nparts; /* set by the command: the part size */
	P.nparts = (size_t)((st.st_size + part_size - 1) / part_size);
	if (P.nparts == 0)
		P.nparts = 1;
	P.etags = xcalloc(P.nparts, sizeof(*P.etags));
	for (size_t i = 0; i < P.nparts; i++) {
		int64_t off = (int64_t)i * part_size;
		int64_t len = st.st_size - off < part_size ? st.st_size - off : part_size;
		struct s3_body body = S3_BODY_FD(fd, off, len);
		s3_multipart_part(P.s3, P.name, P.upload_id, (int)i + 1, &body, probe_part_done,
		                  (void *)(uintptr_t)i);
	}
}

/* list: one page; the next one is asked for until the list ends. */
static void
probe_listed(const struct s3_result *r, void *arg)
{
	if (!r->ok) {
		probe_fail(r);
		event_base_loopbreak(P.base);
		return;
	}
	for (size_t i = 0; i < r->nuploads; i++)
		printf("upload %s %s %s\n", r->uploads[i].key, r->uploads[i].upload_id,
		       r->uploads[i].initiated);
	if (r->truncated && r->next_key_marker != NULL) {
		s3_multipart_list(P.s3, P.prefix, r->next_key_marker, r->next_upload_id_marker,
		                  probe_listed, NULL);
		return;
	}
	printf("status %d\n", r->status);
	event_base_loopbreak(P.base);
}

/* A whole file into memory; NULL with errno. */
static char *
probe_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = xmalloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

static void
usage(void)
{
	fprintf(stderr, "usage: s3probe -c CONFIG COMMAND ARGS... (commands: see s3probe.c)\n");
	exit(3);
}

/* Starts the command's first request; -1 for a bad command line. */
static int
probe_start(int argc, char **argv, int *fd, char **buf)
{
	const char *cmd = argv[0];
	if (strcmp(cmd, "put") == 0 && argc == 3) {
		*fd = open(argv[2], O_RDONLY);
		if (*fd < 0)
			return -1;
		struct stat st;
		fstat(*fd, &st);
		struct s3_body body = S3_BODY_FD(*fd, 0, st.st_size);
		s3_put(P.s3, argv[1], &body, probe_done, NULL);
	} else if (strcmp(cmd, "putbuf") == 0 && (argc == 3 || argc == 4)) {
		size_t len;
		*buf = probe_slurp(argv[2], &len);
		if (*buf == NULL)
			return -1;
		static char hash[DIGEST_STR_MAX];
		digest_buffer(DIGEST_SHA256, *buf, len, hash);
		struct s3_body body = S3_BODY_BUF(*buf, len);
		body.sha256 = argc == 4 ? argv[3] : hash + 7;
		s3_put(P.s3, argv[1], &body, probe_done, NULL);
	} else if ((strcmp(cmd, "get") == 0 && argc >= 3 && argc <= 5) ||
	           (strcmp(cmd, "getpaused") == 0 && argc == 3)) {
		P.out = fopen(argv[2], "wb");
		if (P.out == NULL)
			return -1;
		int64_t first = argc >= 4 ? strtoll(argv[3], NULL, 10) : -1;
		int64_t last = argc == 5 ? strtoll(argv[4], NULL, 10) : -1;
		static struct s3_req *req;
		bool paused = strcmp(cmd, "getpaused") == 0;
		req = s3_get(P.s3, argv[1], first, last, paused ? probe_data_paused : probe_data,
		             probe_done, &req);
	} else if (strcmp(cmd, "head") == 0 && argc == 2) {
		s3_head(P.s3, argv[1], probe_done, NULL);
	} else if (strcmp(cmd, "delete") == 0 && argc == 2) {
		s3_delete(P.s3, argv[1], probe_done, NULL);
	} else if (strcmp(cmd, "copy") == 0 && argc == 3) {
		s3_copy(P.s3, argv[1], argv[2], probe_done, NULL);
	} else if (strcmp(cmd, "multipart") == 0 && argc == 4) {
		*fd = open(argv[2], O_RDONLY);
		if (*fd < 0)
			return -1;
		P.name = argv[1];
		P.nparts = (size_t)strtoll(argv[3], NULL, 10); /* the part size, until created */
		if (P.nparts == 0)
			return -1;
		s3_multipart_create(P.s3, argv[1], probe_created, (void *)(intptr_t)*fd);
	} else if (strcmp(cmd, "mpstart") == 0 && argc == 2) {
		s3_multipart_create(P.s3, argv[1], probe_done, NULL);
	} else if (strcmp(cmd, "mpabort") == 0 && argc == 3) {
		s3_multipart_abort(P.s3, argv[1], argv[2], probe_done, NULL);
	} else if (strcmp(cmd, "heads") == 0 && argc == 3) {
		P.heads_left = strtol(argv[1], NULL, 10);
		if (P.heads_left < 1)
			return -1;
		s3_head(P.s3, argv[2], probe_head_done, argv[2]);
	} else if (strcmp(cmd, "list") == 0 && argc == 2) {
		P.prefix = argv[1];
		s3_multipart_list(P.s3, argv[1], NULL, NULL, probe_listed, NULL);
	} else {
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+c:")) != -1) {
		if (opt != 'c')
			usage();
		config = optarg;
	}
	argc -= optind;
	argv += optind;
	if (config == NULL || argc < 1)
		usage();
	log_init("s3probe");
	char *cause = NULL;
	struct cfg *cfg = cfg_load(config, &cause);
	struct s3_config c;
	if (cfg == NULL || s3_config_load(cfg, &c, &cause) < 0) {
		fprintf(stderr, "error %s\n", cause);
		free(cause);
		cfg_free(cfg);
		return 1;
	}
	P.base = event_base_new();
	P.s3 = s3_new(P.base, &c, &cause);
	s3_config_clear(&c);
	cfg_free(cfg);
	if (P.s3 == NULL) {
		fprintf(stderr, "error %s\n", cause);
		free(cause);
		event_base_free(P.base);
		return 1;
	}
	if (strcmp(argv[0], "presign") == 0) {
		if (argc != 3)
			usage();
		char *url = s3_presign_get(P.s3, argv[1], strtoll(argv[2], NULL, 10), time(NULL));
		printf("url %s\n", url);
		free(url);
		s3_free(P.s3);
		event_base_free(P.base);
		return 0;
	}
	P.resume = evtimer_new(P.base, probe_resume_cb, NULL);
	P.tick = event_new(P.base, -1, EV_PERSIST, probe_tick_cb, NULL);
	struct timeval five = { 0, 5000 };
	evtimer_add(P.tick, &five);
	int fd = -1;
	char *buf = NULL;
	if (probe_start(argc, argv, &fd, &buf) < 0) {
		fprintf(stderr, "error bad command line or file: %s\n", strerror(errno));
		return 3;
	}
	uint64_t start = now_monotonic_us();
	event_base_dispatch(P.base);
	printf("ticks %llu\n", (unsigned long long)P.ticks);
	printf("max_gap_ms %.1f\n", P.max_gap_us / 1000.0);
	printf("elapsed_ms %.1f\n", (now_monotonic_us() - start) / 1000.0);
	printf("pending %zu\n", s3_pending(P.s3));
	s3_free(P.s3);
	event_free(P.tick);
	event_free(P.resume);
	event_base_free(P.base);
	if (P.out != NULL && fclose(P.out) != 0)
		P.failed = 1;
	if (fd >= 0)
		close(fd);
	free(buf);
	for (size_t i = 0; P.etags != NULL && i < P.nparts; i++)
		free(P.etags[i]);
	free(P.etags);
	free(P.upload_id);
	return P.failed;
}

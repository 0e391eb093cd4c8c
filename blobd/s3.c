/*
 * The S3 client: each operation is one libcurl easy handle in one multi handle per client,
 * driven by the worker's libevent loop through libcurl's socket interface (the "multi-socket"
 * pattern of libcurl's hiperfifo example): libcurl says which sockets to watch and when its timer
 * is due, the loop tells it which socket is ready, and a finished transfer ends in its request's
 * done callback. The multi handle keeps connections alive between requests. Requests are signed
 * with s3sign.c; error bodies and answers are read with s3xml.c.
 */
#include "s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <ini.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "digest.h"
#include "log.h"
#include "metrics.h"
#include "url.h"
#include "util.h"

#define S3_ANSWER_MAX (8u << 20) /* bytes of an XML answer kept (a page of 1000 uploads fits) */
#define S3_BLOCK (256u << 10)    /* bytes libcurl moves per read or write callback */
#define S3_CONNECT_TIMEOUT_MS 10000
#define S3_STALL_SECONDS 60 /* a transfer with no byte either way for this long fails */

enum s3_op {
	S3_OP_PUT,
	S3_OP_GET,
	S3_OP_HEAD,
	S3_OP_DELETE,
	S3_OP_COPY,
	S3_OP_MP_CREATE,
	S3_OP_MP_PART,
	S3_OP_MP_COPY,
	S3_OP_MP_COMPLETE,
	S3_OP_MP_ABORT,
	S3_OP_MP_LIST,
};

struct s3 {
	struct event_base *base;
	struct s3_config c;
	const char *scheme; /* "http" or "https" */
	char *authority;    /* host[:port] of the endpoint */
	CURLM *multi;
	struct event *timer;
	struct s3_req *reqs; /* in flight, newest first */
	size_t pending;
};

struct s3_req {
	struct s3 *s3;
	struct s3_req *prev, *next;
	enum s3_op op;
	char *what; /* "PUT key", for causes */
	CURL *easy;
	struct curl_slist *headers;
	struct event *later; /* a request that failed before it started: done from the loop */
	char *later_cause;
	struct s3_body body;
	int64_t sent;
	char *own_body;   /* a body the client built (CompleteMultipartUpload) */
	char *read_cause; /* why reading the body failed */
	char *answer;     /* the XML answer (or error body) */
	size_t answer_len;
	char *etag;
	int64_t length; /* Content-Length */
	int64_t total;  /* from Content-Range */
	s3_data_fn data;
	s3_done_fn done;
	void *arg;
	bool stopped; /* the data callback ended it */
	char errbuf[CURL_ERROR_SIZE];
};

/* One page of ListMultipartUploads being read. */
struct s3_list {
	const struct s3 *s3;
	struct s3_upload *v;
	size_t n;
};

static int s3_creds_cb(void *user, const char *section, const char *name, const char *value);
static bool s3_key_ok(const char *k);
static int s3_endpoint_parse(struct s3_config *c, const char *endpoint, char **cause);
static bool s3_endpoint_is_ip(const char *endpoint);
static int s3_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp);
static int s3_timer_cb(CURLM *multi, long timeout_ms, void *userp);
static void s3_event_cb(evutil_socket_t fd, short what, void *arg);
static void s3_timeout_cb(evutil_socket_t fd, short what, void *arg);
static void s3_check(struct s3 *s3);
static void s3_finish(struct s3_req *r, const char *cause_now);
static void s3_later_cb(evutil_socket_t fd, short what, void *arg);
static void s3_req_free(struct s3_req *r);
static size_t s3_write_cb(char *ptr, size_t size, size_t n, void *arg);
static size_t s3_header_cb(char *ptr, size_t size, size_t n, void *arg);
static size_t s3_read_cb(char *buf, size_t size, size_t n, void *arg);
static int s3_seek_cb(void *arg, curl_off_t off, int origin);
static struct s3_req *s3_start(struct s3 *s3, enum s3_op op, const char *method, const char *name,
                               const struct s3_kv *query, size_t nquery, const struct s3_kv *extra,
                               size_t nextra, const struct s3_body *body, s3_done_fn done,
                               void *arg);
static struct s3_req *s3_fail_later(struct s3 *s3, enum s3_op op, const char *what,
                                    const char *cause, s3_done_fn done, void *arg);
static int s3_list_upload(const char *inner, size_t len, void *arg);

/* ---- configuration -------------------------------------------------------------------------- */

/* inih's callback for a credentials file: [default] aws_access_key_id / aws_secret_access_key. */
static int
s3_creds_cb(void *user, const char *section, const char *name, const char *value)
{
	struct s3_config *c = user;
	if (strcmp(section, "default") != 0)
		return 1;
	char **slot = strcmp(name, "aws_access_key_id") == 0       ? &c->access_key
	              : strcmp(name, "aws_secret_access_key") == 0 ? &c->secret_key
	                                                           : NULL;
	if (slot != NULL) {
		if (*slot != NULL) {
			sodium_memzero(*slot, strlen(*slot));
			free(*slot);
		}
		*slot = xstrdup(value);
	}
	return 1;
}

/* A part of the credentials (or the region) that is signed: printable ASCII without spaces. */
static bool
s3_key_ok(const char *k)
{
	if (k == NULL || *k == '\0')
		return false;
	for (; *k; k++)
		if (*k <= ' ' || *k > '~')
			return false;
	return true;
}

/* Splits scheme://host[:port] into the config; the default port is left out, as Host sends it. */
static int
s3_endpoint_parse(struct s3_config *c, const char *endpoint, char **cause)
{
	const char *rest;
	bool tls;
	if (str_has_prefix(endpoint, "https://")) {
		rest = endpoint + 8;
		tls = true;
	} else if (str_has_prefix(endpoint, "http://")) {
		rest = endpoint + 7;
		tls = false;
	} else {
		*cause = xasprintf("[blobd] s3_endpoint must start with https:// or http://, not "
		                   "\"%s\"",
		                   endpoint);
		return -1;
	}
	size_t len = strlen(rest);
	while (len > 0 && rest[len - 1] == '/')
		len--;
	if (len == 0 || memchr(rest, '/', len) != NULL || memchr(rest, '?', len) != NULL ||
	    memchr(rest, '@', len) != NULL) {
		*cause = xasprintf(
		        "[blobd] s3_endpoint must be scheme://host[:port] without a path, "
		        "not \"%s\"",
		        endpoint);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if (rest[i] <= ' ' || rest[i] > '~') {
			*cause = xasprintf(
			        "[blobd] s3_endpoint holds a space or a control character");
			return -1;
		}
	const char *dflt = tls ? ":443" : ":80";
	if (len > strlen(dflt) && memcmp(rest + len - strlen(dflt), dflt, strlen(dflt)) == 0 &&
	    rest[len - strlen(dflt) - 1] != ':')
		len -= strlen(dflt);
	c->endpoint = xasprintf("%s://%.*s", tls ? "https" : "http", (int)len, rest);
	return 0;
}

/* Whether the endpoint's host is an IP address (IPv4 digits and dots, or [IPv6]). */
static bool
s3_endpoint_is_ip(const char *endpoint)
{
	const char *h = strstr(endpoint, "://") + 3;
	if (*h == '[')
		return true;
	for (; *h != '\0' && *h != ':'; h++)
		if ((*h < '0' || *h > '9') && *h != '.')
			return false;
	return true;
}

int
s3_config_load(const struct cfg *cfg, struct s3_config *c, char **cause)
{
	memset(c, 0, sizeof(*c));
	const char *endpoint = cfg_str(cfg, CFG_BLOBD_S3_ENDPOINT);
	const char *bucket = cfg_str(cfg, CFG_BLOBD_S3_BUCKET);
	const char *region = cfg_str(cfg, CFG_BLOBD_S3_REGION);
	const char *prefix = cfg_str(cfg, CFG_BLOBD_S3_PREFIX);
	const char *file = cfg_str(cfg, CFG_BLOBD_S3_CREDENTIALS_FILE);
	if (*endpoint == '\0') {
		*cause = xstrdup("[blobd] storage = s3 needs s3_endpoint (e.g. "
		                 "https://s3.eu-west-1.amazonaws.com)");
		goto fail;
	}
	if (s3_endpoint_parse(c, endpoint, cause) < 0)
		goto fail;
	/* S3's bucket names: 3 to 63 lowercase letters, digits, dots and hyphens */
	size_t blen = strlen(bucket);
	bool bucket_ok = blen >= 3 && blen <= 63;
	for (size_t i = 0; i < blen && bucket_ok; i++)
		bucket_ok = (bucket[i] >= 'a' && bucket[i] <= 'z') ||
		            (bucket[i] >= '0' && bucket[i] <= '9') || bucket[i] == '.' ||
		            bucket[i] == '-';
	if (!bucket_ok) {
		*cause = xasprintf("[blobd] s3_bucket must be a bucket name (3 to 63 lowercase "
		                   "letters, digits, dots and hyphens), not \"%s\"",
		                   bucket);
		goto fail;
	}
	if (*region == '\0' || strchr(region, '/') != NULL || !s3_key_ok(region)) {
		*cause = xasprintf("[blobd] s3_region must be a region name, not \"%s\"", region);
		goto fail;
	}
	while (*prefix == '/')
		prefix++;
	size_t plen = strlen(prefix);
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)prefix[i] < ' ' || prefix[i] == 0x7f ||
		    (prefix[i] == '/' && prefix[i + 1] == '/')) {
			*cause = xstrdup("[blobd] s3_prefix may hold no control character and no "
			                 "empty path segment");
			goto fail;
		}
	if (!cfg_bool(cfg, CFG_BLOBD_S3_PATH_STYLE) && s3_endpoint_is_ip(c->endpoint)) {
		*cause = xasprintf("[blobd] s3_endpoint %s is an IP address, which cannot take the "
		                   "bucket in its name: set s3_path_style = true",
		                   c->endpoint);
		goto fail;
	}
	c->bucket = xstrdup(bucket);
	c->region = xstrdup(region);
	c->prefix = xstrndup(prefix, plen);
	c->path_style = cfg_bool(cfg, CFG_BLOBD_S3_PATH_STYLE);
	c->tls_verify = cfg_bool(cfg, CFG_BLOBD_S3_TLS_VERIFY);
	if (*file != '\0') {
		struct stat st;
		int rc = ini_parse(file, s3_creds_cb, c);
		if (rc < 0) {
			*cause = xasprintf("[blobd] s3_credentials_file %s: cannot open: %s", file,
			                   strerror(errno));
			goto fail;
		}
		if (rc > 0) {
			*cause = xasprintf("[blobd] s3_credentials_file %s:%d: syntax error", file,
			                   rc);
			goto fail;
		}
		if (c->access_key == NULL || c->secret_key == NULL) {
			*cause = xasprintf(
			        "[blobd] s3_credentials_file %s must set aws_access_key_id "
			        "and aws_secret_access_key in [default]",
			        file);
			goto fail;
		}
		if (stat(file, &st) == 0 && (st.st_mode & 077) != 0)
			log_warn(
			        "%s (S3 credentials) may be read by others than its owner: chmod 600 "
			        "it",
			        file);
	} else {
		const char *id = getenv("AWS_ACCESS_KEY_ID");
		const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
		if (id == NULL || *id == '\0' || secret == NULL || *secret == '\0') {
			*cause = xstrdup("no S3 credentials: set AWS_ACCESS_KEY_ID and "
			                 "AWS_SECRET_ACCESS_KEY, or [blobd] s3_credentials_file");
			goto fail;
		}
		c->access_key = xstrdup(id);
		c->secret_key = xstrdup(secret);
	}
	if (!s3_key_ok(c->access_key) || strchr(c->access_key, '/') != NULL ||
	    !s3_key_ok(c->secret_key)) {
		*cause = xstrdup(
		        "the S3 access key or secret key holds a space, a slash (the access "
		        "key) or a character that is not printable ASCII");
		goto fail;
	}
	return 0;
fail:
	s3_config_clear(c);
	return -1;
}

void
s3_config_clear(struct s3_config *c)
{
	if (c->secret_key != NULL)
		sodium_memzero(c->secret_key, strlen(c->secret_key));
	free(c->endpoint);
	free(c->region);
	free(c->bucket);
	free(c->prefix);
	free(c->access_key);
	free(c->secret_key);
	memset(c, 0, sizeof(*c));
}

/* ---- the client and its loop ---------------------------------------------------------------- */

struct s3 *
s3_new(struct event_base *base, const struct s3_config *c, char **cause)
{
	static bool curl_ready;
	if (!curl_ready) {
		CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		if (rc != CURLE_OK) {
			*cause = xasprintf("libcurl: %s", curl_easy_strerror(rc));
			return NULL;
		}
		curl_ready = true;
	}
	struct s3 *s3 = xcalloc(1, sizeof(*s3));
	s3->base = base;
	s3->c.endpoint = xstrdup(c->endpoint);
	s3->c.region = xstrdup(c->region);
	s3->c.bucket = xstrdup(c->bucket);
	s3->c.prefix = xstrdup(c->prefix);
	s3->c.path_style = c->path_style;
	s3->c.tls_verify = c->tls_verify;
	s3->c.access_key = xstrdup(c->access_key);
	s3->c.secret_key = xstrdup(c->secret_key);
	bool tls = str_has_prefix(c->endpoint, "https://");
	s3->scheme = tls ? "https" : "http";
	s3->authority = xstrdup(c->endpoint + (tls ? 8 : 7));
	s3->multi = curl_multi_init();
	s3->timer = evtimer_new(base, s3_timeout_cb, s3);
	if (s3->multi == NULL || s3->timer == NULL) {
		*cause = xstrdup("libcurl: cannot make a multi handle");
		s3_free(s3);
		return NULL;
	}
	curl_multi_setopt(s3->multi, CURLMOPT_SOCKETFUNCTION, s3_socket_cb);
	curl_multi_setopt(s3->multi, CURLMOPT_SOCKETDATA, s3);
	curl_multi_setopt(s3->multi, CURLMOPT_TIMERFUNCTION, s3_timer_cb);
	curl_multi_setopt(s3->multi, CURLMOPT_TIMERDATA, s3);
	return s3;
}

void
s3_free(struct s3 *s3)
{
	if (s3 == NULL)
		return;
	while (s3->reqs != NULL)
		s3_req_cancel(s3->reqs);
	if (s3->multi != NULL)
		curl_multi_cleanup(s3->multi); /* closes the kept-alive connections */
	if (s3->timer != NULL)
		event_free(s3->timer);
	free(s3->authority);
	s3_config_clear(&s3->c);
	free(s3);
}

size_t
s3_pending(const struct s3 *s3)
{
	return s3->pending;
}

char *
s3_key(const struct s3 *s3, const char *name)
{
	return *s3->c.prefix != '\0' ? xasprintf("%s/%s", s3->c.prefix, name) : xstrdup(name);
}

/* libcurl's socket callback: watch fd for what it asks (one persistent event per socket). */
static int
s3_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct s3 *s3 = userp;
	struct event *ev = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		return 0;
	}
	short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
	                     ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
	if (ev == NULL) {
		ev = event_new(s3->base, fd, kind, s3_event_cb, s3);
		if (ev == NULL)
			return -1;
		curl_multi_assign(s3->multi, fd, ev);
	} else {
		event_del(ev);
		event_assign(ev, s3->base, fd, kind, s3_event_cb, s3);
	}
	return event_add(ev, NULL);
}

/* libcurl's timer callback: when it next wants to be called (-1: never). */
static int
s3_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct s3 *s3 = userp;
	if (timeout_ms < 0)
		return evtimer_del(s3->timer);
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	return evtimer_add(s3->timer, &tv);
}

/* A socket is ready: let libcurl work on it, then end what it finished. */
static void
s3_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3 *s3 = arg;
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
	             ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(s3->multi, fd, action, &running);
	s3_check(s3);
}

/* libcurl's timer is due. */
static void
s3_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3 *s3 = arg;
	int running;
	curl_multi_socket_action(s3->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	s3_check(s3);
}

/* Ends every transfer libcurl has finished. */
static void
s3_check(struct s3 *s3)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(s3->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct s3_req *r;
		CURLcode rc = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (rc == CURLE_OK) {
			s3_finish(r, NULL);
		} else {
			const char *why = r->stopped      ? "stopped by its reader"
			                  : r->read_cause ? r->read_cause
			                  : r->errbuf[0]  ? r->errbuf
			                                  : curl_easy_strerror(rc);
			char *cause = xasprintf("S3 %s: %s", r->what, why);
			s3_finish(r, cause);
			free(cause);
		}
	}
}

/* ---- answers -------------------------------------------------------------------------------- */

/* Collects the answer: a GET's data goes to its callback, anything else is kept (bounded). */
static size_t
s3_write_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->data != NULL && status >= 200 && status < 300) {
		switch (r->data(ptr, len, r->arg)) {
		case S3_DATA_OK:
			return len;
		case S3_DATA_PAUSE:
			return CURL_WRITEFUNC_PAUSE;
		case S3_DATA_STOP:
		default:
			r->stopped = true;
			return 0;
		}
	}
	if (r->answer_len + len > S3_ANSWER_MAX)
		return len; /* the start says enough */
	r->answer = xrealloc(r->answer, r->answer_len + len + 1);
	memcpy(r->answer + r->answer_len, ptr, len);
	r->answer_len += len;
	r->answer[r->answer_len] = '\0';
	return len;
}

/* Reads ETag, Content-Length and Content-Range; a new status line starts over. */
static size_t
s3_header_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t len = size * n;
	if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		free(r->etag);
		r->etag = NULL;
		r->length = -1;
		r->total = -1;
		return len;
	}
	const char *colon = memchr(ptr, ':', len);
	if (colon == NULL)
		return len;
	size_t nlen = (size_t)(colon - ptr);
	const char *v = colon + 1, *end = ptr + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t vlen = (size_t)(end - v);
	char *name = xstrndup(ptr, nlen);
	if (str_eq_nocase(name, "etag")) {
		free(r->etag);
		r->etag = xstrndup(v, vlen);
	} else if (str_eq_nocase(name, "content-length")) {
		int64_t x;
		if (str_to_count(v, vlen, INT64_MAX, &x) == COUNT_OK)
			r->length = x;
	} else if (str_eq_nocase(name, "content-range")) {
		/* "bytes first-last/total" */
		const char *slash = memchr(v, '/', vlen);
		int64_t x;
		if (slash != NULL &&
		    str_to_count(slash + 1, (size_t)(end - slash - 1), INT64_MAX, &x) == COUNT_OK)
			r->total = x;
	}
	free(name);
	return len;
}

/* Feeds the body from its buffer or file. */
static size_t
s3_read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct s3_req *r = arg;
	size_t want = size * n;
	int64_t left = r->body.len - r->sent;
	if (left <= 0)
		return 0;
	if ((int64_t)want > left)
		want = (size_t)left;
	if (r->body.buf != NULL) {
		memcpy(buf, (const char *)r->body.buf + r->sent, want);
	} else {
		ssize_t got = pread(r->body.fd, buf, want, (off_t)(r->body.off + r->sent));
		if (got <= 0) {
			free(r->read_cause);
			r->read_cause = got < 0 ? xasprintf("reading the body: %s", strerror(errno))
			                        : xstrdup("reading the body: the file ended early");
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)got;
	}
	r->sent += (int64_t)want;
	return want;
}

/* Rewinds the body when libcurl must send it again. */
static int
s3_seek_cb(void *arg, curl_off_t off, int origin)
{
	struct s3_req *r = arg;
	if (origin != SEEK_SET || off < 0 || off > r->body.len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = off;
	return CURL_SEEKFUNC_OK;
}

/* s3xml_each's callback for ListMultipartUploads: one <Upload>. */
static int
s3_list_upload(const char *inner, size_t len, void *arg)
{
	struct s3_list *l = arg;
	char *key = s3xml_text(inner, len, "Key");
	char *id = s3xml_text(inner, len, "UploadId");
	char *at = s3xml_text(inner, len, "Initiated");
	if (key == NULL || id == NULL) {
		free(key);
		free(id);
		free(at);
		return -1;
	}
	const char *prefix = l->s3->c.prefix;
	size_t plen = strlen(prefix);
	char *name = key;
	if (plen > 0 && strncmp(key, prefix, plen) == 0 && key[plen] == '/') {
		name = xstrdup(key + plen + 1);
		free(key);
	}
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = (struct s3_upload){ name, id, at != NULL ? at : xstrdup("") };
	return 0;
}

/* Counts a finished request in the metrics: its S3 operation, and whether it failed. */
static void
s3_count(enum s3_op op, bool ok)
{
	enum metrics_value id;
	switch (op) {
	case S3_OP_PUT:
		id = METRICS_S3_PUT;
		break;
	case S3_OP_GET:
		id = METRICS_S3_GET;
		break;
	case S3_OP_HEAD:
		id = METRICS_S3_HEAD;
		break;
	case S3_OP_DELETE:
		id = METRICS_S3_DELETE;
		break;
	case S3_OP_COPY:
		id = METRICS_S3_COPY;
		break;
	case S3_OP_MP_CREATE:
		id = METRICS_S3_MP_CREATE;
		break;
	case S3_OP_MP_PART:
		id = METRICS_S3_MP_PART;
		break;
	case S3_OP_MP_COMPLETE:
		id = METRICS_S3_MP_COMPLETE;
		break;
	case S3_OP_MP_ABORT:
		id = METRICS_S3_MP_ABORT;
		break;
	case S3_OP_MP_LIST:
		id = METRICS_S3_MP_LIST;
		break;
	default:
		id = METRICS_S3_OTHER;
		break;
	}
	metrics_add(id, 1);
	if (!ok)
		metrics_add(METRICS_S3_FAILED, 1);
}

/* Ends r: makes its result (cause_now: a failure already known) and calls done. */
static void
s3_finish(struct s3_req *r, const char *cause_now)
{
	struct s3 *s3 = r->s3;
	long status = 0;
	if (r->easy != NULL)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	bool object = r->op == S3_OP_GET || r->op == S3_OP_HEAD;
	struct s3_result res = { .status = (int)status,
		                 .etag = r->etag,
		                 .size = object ? r->length : -1,
		                 .total = r->total };
	if (r->easy != NULL)
		curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &res.connects);
	char *cause = NULL, *code = NULL, *upload_id = NULL;
	struct s3_list list = { .s3 = s3 };
	char *root = r->answer != NULL ? s3xml_root(r->answer, r->answer_len) : NULL;
	char *next_key = NULL, *next_id = NULL;
	if (cause_now != NULL) {
		cause = xstrdup(cause_now);
	} else if (status < 200 || status > 299 || (root != NULL && strcmp(root, "Error") == 0)) {
		/* CopyObject and CompleteMultipartUpload may fail after a 200: the body says */
		code = r->answer != NULL ? s3xml_text(r->answer, r->answer_len, "Code") : NULL;
		char *msg =
		        r->answer != NULL ? s3xml_text(r->answer, r->answer_len, "Message") : NULL;
		if (code == NULL &&
		    (status == 403 || status == 404)) /* HEAD answers have no body */
			code = xstrdup(status == 403 ? "Forbidden" : "NotFound");
		bool said = msg != NULL && *msg != '\0';
		cause = xasprintf("S3 %s: %ld %s%s%s", r->what, status,
		                  code != NULL ? code : "(no error code)", said ? ": " : "",
		                  said ? msg : "");
		free(msg);
	} else if (r->op == S3_OP_MP_CREATE) {
		upload_id =
		        r->answer != NULL ? s3xml_text(r->answer, r->answer_len, "UploadId") : NULL;
		if (upload_id == NULL || *upload_id == '\0')
			cause = xasprintf("S3 %s: the answer names no UploadId", r->what);
	} else if (r->op == S3_OP_MP_LIST) {
		const char *a = r->answer != NULL ? r->answer : "";
		if (s3xml_each(a, r->answer_len, "Upload", s3_list_upload, &list) < 0 ||
		    root == NULL || strcmp(root, "ListMultipartUploadsResult") != 0) {
			cause = xasprintf("S3 %s: the answer is not a list of uploads", r->what);
		} else {
			char *t = s3xml_text(a, r->answer_len, "IsTruncated");
			res.truncated = t != NULL && strcmp(t, "true") == 0;
			free(t);
			next_key = s3xml_text(a, r->answer_len, "NextKeyMarker");
			next_id = s3xml_text(a, r->answer_len, "NextUploadIdMarker");
		}
	} else if ((r->op == S3_OP_COPY || r->op == S3_OP_MP_COPY) && r->answer != NULL) {
		char *etag = s3xml_text(r->answer, r->answer_len, "ETag");
		if (etag != NULL) {
			free(r->etag);
			r->etag = etag;
			res.etag = etag;
		}
	}
	res.ok = cause == NULL;
	s3_count(r->op, res.ok);
	res.cause = cause;
	res.code = code;
	res.upload_id = upload_id;
	res.uploads = list.v;
	res.nuploads = list.n;
	res.next_key_marker = next_key;
	res.next_upload_id_marker = next_id;
	/* out of the client before done runs: done may start requests or free the client */
	s3_done_fn done = r->done;
	void *arg = r->arg;
	char *etag = r->etag;
	r->etag = NULL;
	s3_req_free(r);
	done(&res, arg);
	free(etag);
	for (size_t i = 0; i < list.n; i++) {
		free(list.v[i].key);
		free(list.v[i].upload_id);
		free(list.v[i].initiated);
	}
	free(list.v);
	free(next_key);
	free(next_id);
	free(root);
	free(upload_id);
	free(code);
	free(cause);
}

/* Takes r out of the client and frees it. */
static void
s3_req_free(struct s3_req *r)
{
	struct s3 *s3 = r->s3;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		s3->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	s3->pending--;
	if (r->easy != NULL) {
		curl_multi_remove_handle(s3->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	if (r->later != NULL)
		event_free(r->later);
	curl_slist_free_all(r->headers);
	free(r->later_cause);
	free(r->own_body);
	free(r->read_cause);
	free(r->answer);
	free(r->what);
	free(r->etag);
	free(r);
}

/* ---- requests ------------------------------------------------------------------------------- */

/* A request that cannot start: its done comes from the loop, with cause. */
static struct s3_req *
s3_fail_later(struct s3 *s3, enum s3_op op, const char *what, const char *cause, s3_done_fn done,
              void *arg)
{
	struct s3_req *r = xcalloc(1, sizeof(*r));
	r->s3 = s3;
	r->op = op;
	r->what = xstrdup(what);
	r->done = done;
	r->arg = arg;
	r->length = r->total = -1;
	r->later_cause = xasprintf("S3 %s: %s", what, cause);
	r->next = s3->reqs;
	if (s3->reqs != NULL)
		s3->reqs->prev = r;
	s3->reqs = r;
	s3->pending++;
	r->later = evtimer_new(s3->base, s3_later_cb, r);
	struct timeval now = { 0, 0 };
	evtimer_add(r->later, &now);
	return r;
}

/* The loop's turn for a request that failed before it started. */
static void
s3_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct s3_req *r = arg;
	char *cause = r->later_cause;
	r->later_cause = NULL;
	s3_finish(r, cause);
	free(cause);
}

/* Builds, signs and starts one request on the object name (NULL: the bucket). */
static struct s3_req *
s3_start(struct s3 *s3, enum s3_op op, const char *method, const char *name,
         const struct s3_kv *query, size_t nquery, const struct s3_kv *extra, size_t nextra,
         const struct s3_body *body, s3_done_fn done, void *arg)
{
	struct s3_req *r = xcalloc(1, sizeof(*r));
	r->s3 = s3;
	r->op = op;
	r->done = done;
	r->arg = arg;
	r->length = r->total = -1;
	char *key = name != NULL ? s3_key(s3, name) : NULL;
	r->what = xasprintf("%s %s", method, key != NULL ? key : s3->c.bucket);
	char *host = s3->c.path_style ? xstrdup(s3->authority)
	                              : xasprintf("%s.%s", s3->c.bucket, s3->authority);
	char *path = s3->c.path_style ? xasprintf("/%s/%s", s3->c.bucket, key ? key : "")
	                              : xasprintf("/%s", key ? key : "");
	if (s3->c.path_style && key == NULL)
		path[strlen(path) - 1] = '\0'; /* "/bucket" */

	/* the URL: path and query encoded as they are signed */
	char *epath = url_encode(path, true);
	size_t qlen = 1;
	char **qparts = xcalloc(nquery + 1, sizeof(*qparts));
	for (size_t i = 0; i < nquery; i++) {
		char *n = url_encode(query[i].name, false);
		char *v = query[i].value != NULL ? url_encode(query[i].value, false) : NULL;
		qparts[i] = v != NULL ? xasprintf("%s=%s", n, v) : xstrdup(n);
		qlen += strlen(qparts[i]) + 1;
		free(n);
		free(v);
	}
	char *qs = xmalloc(qlen);
	qs[0] = '\0';
	for (size_t i = 0; i < nquery; i++) {
		strcat(qs, i > 0 ? "&" : "");
		strcat(qs, qparts[i]);
	}
	strv_free(qparts);
	char *url = xasprintf("%s://%s%s%s%s", s3->scheme, host, epath, nquery > 0 ? "?" : "", qs);
	free(qs);
	free(epath);

	/* the signature */
	char date[S3_AMZ_DATE_LEN];
	s3sign_amz_date(time(NULL), date);
	const char *payload = body == NULL           ? S3_EMPTY_SHA256
	                      : body->sha256 != NULL ? body->sha256
	                                             : S3_UNSIGNED_PAYLOAD;
	struct s3_kv *h = xcalloc(nextra + 3, sizeof(*h));
	size_t nh = 0;
	h[nh++] = (struct s3_kv){ "host", host };
	h[nh++] = (struct s3_kv){ "x-amz-date", date };
	h[nh++] = (struct s3_kv){ "x-amz-content-sha256", payload };
	for (size_t i = 0; i < nextra; i++)
		h[nh++] = extra[i];
	struct s3_sign sign = {
		.method = method,
		.path = path,
		.query = query,
		.nquery = nquery,
		.headers = h,
		.nheaders = nh,
		.payload_hash = payload,
		.amz_date = date,
		.region = s3->c.region,
		.access_key = s3->c.access_key,
		.secret_key = s3->c.secret_key,
	};
	char *auth = s3sign_authorization(&sign);
	for (size_t i = 0; i < nh; i++) {
		char *line = xasprintf("%s: %s", h[i].name, h[i].value);
		r->headers = curl_slist_append(r->headers, line);
		free(line);
	}
	char *line = xasprintf("Authorization: %s", auth);
	r->headers = curl_slist_append(r->headers, line);
	sodium_memzero(line, strlen(line));
	free(line);
	free(auth);
	r->headers = curl_slist_append(r->headers, "Expect:");
	if (op == S3_OP_MP_CREATE)
		r->headers =
		        curl_slist_append(r->headers, "Content-Type: application/octet-stream");
	if (op == S3_OP_MP_COMPLETE)
		r->headers = curl_slist_append(r->headers, "Content-Type: application/xml");
	free(h);

	CURL *e = r->easy = curl_easy_init();
	if (e == NULL)
		abort(); /* out of memory */
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)S3_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)S3_STALL_SECONDS);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, s3->c.tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, s3->c.tls_verify ? 2L : 0L);
	/* big blocks: fewer callbacks and system calls per MiB than libcurl's 16 and 64 KiB */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)S3_BLOCK);
	curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)S3_BLOCK);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s3_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s3_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	if (body != NULL) {
		r->body = *body;
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->len);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, s3_read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, s3_seek_cb);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
		if (strcmp(method, "PUT") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	free(url);
	free(path);
	free(host);
	free(key);

	r->next = s3->reqs;
	if (s3->reqs != NULL)
		s3->reqs->prev = r;
	s3->reqs = r;
	s3->pending++;
	CURLMcode mrc = curl_multi_add_handle(s3->multi, e);
	if (mrc != CURLM_OK) {
		/* cannot start: end it from the loop like any other failure */
		curl_easy_cleanup(e);
		r->easy = NULL;
		r->later_cause = xasprintf("S3 %s: %s", r->what, curl_multi_strerror(mrc));
		r->later = evtimer_new(s3->base, s3_later_cb, r);
		struct timeval now = { 0, 0 };
		evtimer_add(r->later, &now);
	}
	return r;
}

struct s3_req *
s3_put(struct s3 *s3, const char *name, const struct s3_body *body, s3_done_fn done, void *arg)
{
	return s3_start(s3, S3_OP_PUT, "PUT", name, NULL, 0, NULL, 0, body, done, arg);
}

struct s3_req *
s3_get(struct s3 *s3, const char *name, int64_t first, int64_t last, s3_data_fn data,
       s3_done_fn done, void *arg)
{
	char range[64];
	struct s3_kv h = { "range", range };
	if (first >= 0 && last >= 0 && last < first)
		return s3_fail_later(s3, S3_OP_GET, name, "the range ends before it starts", done,
		                     arg);
	if (first >= 0 && last >= 0)
		snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)first,
		         (long long)last);
	else if (first >= 0)
		snprintf(range, sizeof(range), "bytes=%lld-", (long long)first);
	struct s3_req *r = s3_start(s3, S3_OP_GET, "GET", name, NULL, 0, &h, first >= 0 ? 1 : 0,
	                            NULL, done, arg);
	r->data = data;
	return r;
}

struct s3_req *
s3_head(struct s3 *s3, const char *name, s3_done_fn done, void *arg)
{
	return s3_start(s3, S3_OP_HEAD, "HEAD", name, NULL, 0, NULL, 0, NULL, done, arg);
}

struct s3_req *
s3_delete(struct s3 *s3, const char *name, s3_done_fn done, void *arg)
{
	return s3_start(s3, S3_OP_DELETE, "DELETE", name, NULL, 0, NULL, 0, NULL, done, arg);
}

struct s3_req *
s3_copy(struct s3 *s3, const char *src, const char *dst, s3_done_fn done, void *arg)
{
	char *key = s3_key(s3, src);
	char *raw = xasprintf("/%s/%s", s3->c.bucket, key);
	char *source = url_encode(raw, true);
	struct s3_kv h = { "x-amz-copy-source", source };
	struct s3_req *r = s3_start(s3, S3_OP_COPY, "PUT", dst, NULL, 0, &h, 1, NULL, done, arg);
	free(source);
	free(raw);
	free(key);
	return r;
}

struct s3_req *
s3_multipart_create(struct s3 *s3, const char *name, s3_done_fn done, void *arg)
{
	struct s3_kv q = { "uploads", NULL };
	return s3_start(s3, S3_OP_MP_CREATE, "POST", name, &q, 1, NULL, 0, NULL, done, arg);
}

struct s3_req *
s3_multipart_part(struct s3 *s3, const char *name, const char *upload_id, int part,
                  const struct s3_body *body, s3_done_fn done, void *arg)
{
	if (part < 1 || part > 10000)
		return s3_fail_later(s3, S3_OP_MP_PART, name, "a part number is 1 to 10000", done,
		                     arg);
	char num[16];
	snprintf(num, sizeof(num), "%d", part);
	struct s3_kv q[] = { { "partNumber", num }, { "uploadId", upload_id } };
	return s3_start(s3, S3_OP_MP_PART, "PUT", name, q, 2, NULL, 0, body, done, arg);
}

struct s3_req *
s3_multipart_complete(struct s3 *s3, const char *name, const char *upload_id,
                      const char *const *etags, size_t n, s3_done_fn done, void *arg)
{
	return s3_multipart_complete_parts(s3, name, upload_id, NULL, etags, n, done, arg);
}

struct s3_req *
s3_multipart_complete_parts(struct s3 *s3, const char *name, const char *upload_id,
                            const int *numbers, const char *const *etags, size_t n, s3_done_fn done,
                            void *arg)
{
	if (n == 0 || n > 10000)
		return s3_fail_later(s3, S3_OP_MP_COMPLETE, name, "an upload has 1 to 10000 parts",
		                     done, arg);
	for (size_t i = 0; numbers != NULL && i < n; i++)
		if (numbers[i] < 1 || numbers[i] > 10000 || (i > 0 && numbers[i] <= numbers[i - 1]))
			return s3_fail_later(s3, S3_OP_MP_COMPLETE, name,
			                     "part numbers are 1 to 10000, ascending", done, arg);
	char *xml = s3xml_complete_body(numbers, etags, n);
	size_t len = strlen(xml);
	char hash[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, xml, len, hash);
	struct s3_body body = S3_BODY_BUF(xml, len);
	body.sha256 = hash + 7;
	struct s3_kv q = { "uploadId", upload_id };
	struct s3_req *r =
	        s3_start(s3, S3_OP_MP_COMPLETE, "POST", name, &q, 1, NULL, 0, &body, done, arg);
	r->own_body = xml;
	r->body.sha256 = NULL; /* signed already; hash is about to go */
	return r;
}

struct s3_req *
s3_multipart_part_copy(struct s3 *s3, const char *name, const char *upload_id, int part,
                       const char *src, int64_t first, int64_t last, s3_done_fn done, void *arg)
{
	if (part < 1 || part > 10000)
		return s3_fail_later(s3, S3_OP_MP_COPY, name, "a part number is 1 to 10000", done,
		                     arg);
	if (first < 0 || last < first)
		return s3_fail_later(s3, S3_OP_MP_COPY, name, "the range ends before it starts",
		                     done, arg);
	char num[16], range[64];
	snprintf(num, sizeof(num), "%d", part);
	snprintf(range, sizeof(range), "bytes=%lld-%lld", (long long)first, (long long)last);
	char *key = s3_key(s3, src);
	char *raw = xasprintf("/%s/%s", s3->c.bucket, key);
	char *source = url_encode(raw, true);
	struct s3_kv h[] = { { "x-amz-copy-source", source },
		             { "x-amz-copy-source-range", range } };
	struct s3_kv q[] = { { "partNumber", num }, { "uploadId", upload_id } };
	struct s3_req *r = s3_start(s3, S3_OP_MP_COPY, "PUT", name, q, 2, h, 2, NULL, done, arg);
	free(source);
	free(raw);
	free(key);
	return r;
}

struct s3_req *
s3_multipart_abort(struct s3 *s3, const char *name, const char *upload_id, s3_done_fn done,
                   void *arg)
{
	struct s3_kv q = { "uploadId", upload_id };
	return s3_start(s3, S3_OP_MP_ABORT, "DELETE", name, &q, 1, NULL, 0, NULL, done, arg);
}

struct s3_req *
s3_multipart_list(struct s3 *s3, const char *prefix, const char *key_marker,
                  const char *upload_id_marker, s3_done_fn done, void *arg)
{
	char *full = s3_key(s3, prefix);
	struct s3_kv q[4] = { { "uploads", NULL }, { "prefix", full } };
	size_t n = 2;
	if (key_marker != NULL)
		q[n++] = (struct s3_kv){ "key-marker", key_marker };
	if (upload_id_marker != NULL)
		q[n++] = (struct s3_kv){ "upload-id-marker", upload_id_marker };
	struct s3_req *r = s3_start(s3, S3_OP_MP_LIST, "GET", NULL, q, n, NULL, 0, NULL, done, arg);
	free(full);
	return r;
}

void
s3_req_resume(struct s3_req *req)
{
	if (req->easy != NULL)
		curl_easy_pause(req->easy, CURLPAUSE_CONT);
}

void
s3_req_cancel(struct s3_req *req)
{
	s3_req_free(req);
}

char *
s3_presign_get(const struct s3 *s3, const char *name, int64_t expires, time_t now)
{
	char *key = s3_key(s3, name);
	char *host = s3->c.path_style ? xstrdup(s3->authority)
	                              : xasprintf("%s.%s", s3->c.bucket, s3->authority);
	char *path =
	        s3->c.path_style ? xasprintf("/%s/%s", s3->c.bucket, key) : xasprintf("/%s", key);
	char date[S3_AMZ_DATE_LEN];
	s3sign_amz_date(now, date);
	struct s3_kv h = { "host", host };
	struct s3_sign sign = {
		.method = "GET",
		.path = path,
		.headers = &h,
		.nheaders = 1,
		.payload_hash = S3_UNSIGNED_PAYLOAD,
		.amz_date = date,
		.region = s3->c.region,
		.access_key = s3->c.access_key,
		.secret_key = s3->c.secret_key,
	};
	char *query = s3sign_presign_query(&sign, expires);
	char *epath = url_encode(path, true);
	char *url = xasprintf("%s://%s%s?%s", s3->scheme, host, epath, query);
	free(epath);
	free(query);
	free(path);
	free(host);
	free(key);
	return url;
}

/*
 * The web interface's files ([gateway] ui_dir): read once per worker, each kept as is and
 * compressed (gzip, zstd), and served from memory with a strong ETag, Cache-Control and a
 * strict Content-Security-Policy. The HTML shell (index.html) answers every page URL of the
 * interface (GitLab's: /users/sign_in, /<project>/container_registry, ...); its assets live under
 * /-/ui/<bundle>/, where <bundle> is a hash of every file, so that they may be cached forever.
 * No request touches the filesystem: a name that is not in the table is 404, whatever it holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "cfg.h"
#include "digest.h"
#include "errors.h"
#include "gateway.h"
#include "log.h"
#include "util.h"

#define UI_PREFIX "/-/ui/"
#define UI_MAX_FILES 256
#define UI_MAX_FILE_SIZE (4 * 1024 * 1024)
#define UI_MAX_DEPTH 3
#define UI_BUNDLE_LEN 16
/* Where the shell names the assets' folder: replaced by /-/ui/<bundle>. */
#define UI_BASE_MARK "%UI_BASE%"

static const char ui_csp[] =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'";

enum ui_coding { UC_IDENTITY, UC_GZIP, UC_ZSTD, UC_COUNT };

static const char *const ui_coding_names[UC_COUNT] = { NULL, "gzip", "zstd" };

/* One representation of a file: its bytes and its strong ETag. */
struct ui_rep {
	unsigned char *ur_data;
	size_t ur_len;
	char ur_etag[DIGEST_STR_MAX + 8];
};

struct ui_file {
	char *uf_name; /* relative to ui_dir, e.g. "app.js" */
	const char *uf_type;
	struct ui_rep uf_rep[UC_COUNT]; /* ur_data NULL: that coding is not kept (not smaller) */
};

static struct ui_file ui_files[UI_MAX_FILES];
static size_t ui_nfiles;
static struct ui_file *ui_shell;
static char ui_bundle[UI_BUNDLE_LEN + 1];

/* The Content-Type of a file name, or NULL when the interface does not serve that kind. */
static const char *
ui_type_of(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	const char *dot = strrchr(name, '.');
	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

/* Whether a file of this type gains from compression (images other than SVG and fonts do not). */
static bool
ui_compressible(const char *type)
{
	return str_has_prefix(type, "text/") || strcmp(type, "image/svg+xml") == 0 ||
	       strcmp(type, "application/json") == 0;
}

/* A name the interface may hold: letters, digits, '.', '_', '-', not starting with '.'. */
static bool
ui_name_ok(const char *name)
{
	if (name[0] == '\0' || name[0] == '.')
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Reads a whole regular file of at most UI_MAX_FILE_SIZE bytes; -1 with the reason. */
static int
ui_read(const char *path, unsigned char **data, size_t *len, char **cause)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > UI_MAX_FILE_SIZE) {
		*cause = xasprintf("%s: not a regular file of at most %d bytes", path,
		                   UI_MAX_FILE_SIZE);
		close(fd);
		return -1;
	}
	*data = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + got, (size_t)st.st_size - got);
		if (n <= 0) {
			*cause = xasprintf("%s: %s", path, n < 0 ? strerror(errno) : "short read");
			free(*data);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* data gzip-compressed (caller frees), or NULL when zlib fails. */
static unsigned char *
ui_gzip(const unsigned char *data, size_t len, size_t *out_len)
{
	z_stream z = { 0 };
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	size_t cap = deflateBound(&z, (uLong)len);
	unsigned char *out = xmalloc(cap);
	z.next_in = (unsigned char *)data;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

/* data zstd-compressed (caller frees), or NULL when zstd fails. */
static unsigned char *
ui_zstd(const unsigned char *data, size_t len, size_t *out_len)
{
	size_t cap = ZSTD_compressBound(len);
	unsigned char *out = xmalloc(cap);
	size_t n = ZSTD_compress(out, cap, data, len, 19);
	if (ZSTD_isError(n)) {
		free(out);
		return NULL;
	}
	*out_len = n;
	return out;
}

/* Sets a representation's bytes and its ETag: the content's digest, tagged by the coding. */
static void
ui_rep_set(struct ui_rep *r, unsigned char *data, size_t len, enum ui_coding c)
{
	char d[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, data, len, d);
	r->ur_data = data;
	r->ur_len = len;
	/* "<32 hex of the sha256>[-gzip]": distinct per coding, as a strong ETag must be */
	snprintf(r->ur_etag, sizeof(r->ur_etag), "\"%.32s%s%s\"", d + 7,
	         c == UC_IDENTITY ? "" : "-", c == UC_IDENTITY ? "" : ui_coding_names[c]);
}

/* Fills a file's representations from its bytes (taken). */
static void
ui_file_set(struct ui_file *f, unsigned char *data, size_t len)
{
	for (int c = 0; c < UC_COUNT; c++)
		free(f->uf_rep[c].ur_data);
	memset(f->uf_rep, 0, sizeof(f->uf_rep));
	ui_rep_set(&f->uf_rep[UC_IDENTITY], data, len, UC_IDENTITY);
	if (!ui_compressible(f->uf_type))
		return;
	for (int c = UC_GZIP; c < UC_COUNT; c++) {
		size_t n = 0;
		unsigned char *z = c == UC_GZIP ? ui_gzip(data, len, &n) : ui_zstd(data, len, &n);
		if (z != NULL && n < len)
			ui_rep_set(&f->uf_rep[c], z, n, (enum ui_coding)c);
		else
			free(z);
	}
}

/* Adds every servable file under dir (rel: its name relative to ui_dir, "" at the top). */
static int
ui_scan(const char *dir, const char *rel, int depth, char **cause)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (!ui_name_ok(e->d_name))
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		char *name = xasprintf("%s%s%s", rel, *rel ? "/" : "", e->d_name);
		struct stat st;
		if (lstat(path, &st) < 0) {
			*cause = xasprintf("%s: %s", path, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode) && depth < UI_MAX_DEPTH) {
			rc = ui_scan(path, name, depth + 1, cause);
		} else if (S_ISREG(st.st_mode) && ui_type_of(name) != NULL) {
			unsigned char *data;
			size_t len;
			if (ui_nfiles == UI_MAX_FILES) {
				*cause = xasprintf("%s: more than %d files", dir, UI_MAX_FILES);
				rc = -1;
			} else if ((rc = ui_read(path, &data, &len, cause)) == 0) {
				struct ui_file *f = &ui_files[ui_nfiles++];
				f->uf_name = name;
				name = NULL;
				f->uf_type = ui_type_of(f->uf_name);
				ui_file_set(f, data, len);
			}
		}
		free(path);
		free(name);
	}
	closedir(d);
	return rc;
}

/* Orders files by name, so that the bundle's hash does not depend on readdir's order. */
static int
ui_file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ui_file *)a)->uf_name, ((const struct ui_file *)b)->uf_name);
}

/* The bundle's name: a digest of every file's name and content. */
static void
ui_bundle_compute(void)
{
	struct digest_ctx d;
	char out[DIGEST_STR_MAX];
	digest_init(&d, DIGEST_SHA256);
	for (size_t i = 0; i < ui_nfiles; i++) {
		digest_update(&d, ui_files[i].uf_name, strlen(ui_files[i].uf_name) + 1);
		digest_update(&d, ui_files[i].uf_rep[UC_IDENTITY].ur_data,
		              ui_files[i].uf_rep[UC_IDENTITY].ur_len);
	}
	digest_final(&d, out);
	memcpy(ui_bundle, out + 7, UI_BUNDLE_LEN);
	ui_bundle[UI_BUNDLE_LEN] = '\0';
}

/* The shell with every UI_BASE_MARK replaced by the assets' folder, /-/ui/<bundle>. */
static void
ui_shell_prepare(struct ui_file *f)
{
	const char *src = (const char *)f->uf_rep[UC_IDENTITY].ur_data;
	size_t len = f->uf_rep[UC_IDENTITY].ur_len;
	char base[sizeof(UI_PREFIX) + UI_BUNDLE_LEN];
	snprintf(base, sizeof(base), UI_PREFIX "%s", ui_bundle);
	size_t mark = strlen(UI_BASE_MARK), blen = strlen(base), n = 0;
	unsigned char *out = xmalloc(len * (blen / mark + 1) + 1);
	for (size_t i = 0; i < len;) {
		if (i + mark <= len && memcmp(src + i, UI_BASE_MARK, mark) == 0) {
			memcpy(out + n, base, blen);
			n += blen;
			i += mark;
		} else {
			out[n++] = (unsigned char)src[i++];
		}
	}
	f->uf_rep[UC_IDENTITY].ur_data = NULL;
	free((void *)src);
	ui_file_set(f, out, n);
}

int
gw_static_init(const struct cfg *cfg)
{
	const char *dir = cfg_str(cfg, CFG_GATEWAY_UI_DIR);
	char *cause = NULL;
	gw_static_free();
	if (!cfg_bool(cfg, CFG_GATEWAY_UI))
		return 0;
	if (*dir == '\0')
		dir = REGISTRY_UI_DIR;
	if (ui_scan(dir, "", 0, &cause) < 0) {
		log_warn("the web interface is off: %s", cause);
		free(cause);
		gw_static_free();
		return -1;
	}
	qsort(ui_files, ui_nfiles, sizeof(ui_files[0]), ui_file_cmp);
	for (size_t i = 0; i < ui_nfiles; i++)
		if (strcmp(ui_files[i].uf_name, "index.html") == 0)
			ui_shell = &ui_files[i];
	if (ui_shell == NULL) {
		log_warn("the web interface is off: %s holds no index.html", dir);
		gw_static_free();
		return -1;
	}
	ui_bundle_compute();
	ui_shell_prepare(ui_shell);
	return 0;
}

void
gw_static_free(void)
{
	for (size_t i = 0; i < ui_nfiles; i++) {
		free(ui_files[i].uf_name);
		for (int c = 0; c < UC_COUNT; c++)
			free(ui_files[i].uf_rep[c].ur_data);
	}
	memset(ui_files, 0, sizeof(ui_files));
	ui_nfiles = 0;
	ui_shell = NULL;
	ui_bundle[0] = '\0';
}

/* The q-value the client's Accept-Encoding gives coding (explicitly or through "*"); 0 when
 * it refuses it or does not name it. */
static double
ui_accept_q(const char *ae, const char *coding)
{
	double named = -1, star = -1;
	while (ae != NULL && *ae != '\0') {
		ae += strspn(ae, " \t,");
		size_t tok = strcspn(ae, " \t;,");
		if (tok == 0)
			break;
		double q = 1;
		const char *p = ae + tok, *end = ae + strcspn(ae, ",");
		for (; p < end; p++)
			if ((*p == 'q' || *p == 'Q') && p[1] == '=') {
				q = strtod(p + 2, NULL);
				break;
			}
		if (tok == strlen(coding) && strncasecmp(ae, coding, tok) == 0)
			named = q;
		else if (tok == 1 && *ae == '*')
			star = q;
		ae = end;
	}
	double q = named >= 0 ? named : star;
	return q > 0 ? q : 0;
}

/* The representation to send: zstd, else gzip, when the client takes it and it is kept. */
static enum ui_coding
ui_choose(const struct ui_file *f, const char *ae)
{
	if (f->uf_rep[UC_ZSTD].ur_data != NULL && ui_accept_q(ae, "zstd") > 0)
		return UC_ZSTD;
	if (f->uf_rep[UC_GZIP].ur_data != NULL && ui_accept_q(ae, "gzip") > 0)
		return UC_GZIP;
	return UC_IDENTITY;
}

/* Whether If-None-Match (a list of entity tags, or "*") names etag (weak comparison, as RFC
 * 9110 13.1.2 wants for it). */
static bool
ui_none_match(const char *inm, const char *etag)
{
	if (inm == NULL)
		return false;
	size_t elen = strlen(etag);
	for (const char *p = inm; *p != '\0';) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		size_t n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == elen && memcmp(p, etag, n) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Sends a file: the headers every interface answer carries, then 304 or the representation. */
static void
ui_send(struct http_txn *txn, const struct ui_file *f, const char *cache_control)
{
	struct http_request *req = http_txn_request(txn);
	enum ui_coding c = ui_choose(f, headers_get(&req->headers, "Accept-Encoding"));
	const struct ui_rep *r = &f->uf_rep[c];
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Content-Type", f->uf_type);
	headers_add(&h, "ETag", r->ur_etag);
	headers_add(&h, "Cache-Control", cache_control);
	if (ui_compressible(f->uf_type))
		headers_add(&h, "Vary", "Accept-Encoding");
	if (c != UC_IDENTITY)
		headers_add(&h, "Content-Encoding", ui_coding_names[c]);
	headers_add(&h, "Content-Security-Policy", ui_csp);
	headers_add(&h, "X-Content-Type-Options", "nosniff");
	headers_add(&h, "X-Frame-Options", "DENY");
	headers_add(&h, "Referrer-Policy", "same-origin");
	headers_add(&h, "Cross-Origin-Opener-Policy", "same-origin");
	if (ui_none_match(headers_get(&req->headers, "If-None-Match"), r->ur_etag))
		http_txn_respond(txn, 304, &h, NULL, 0);
	else
		http_txn_respond(txn, 200, &h, r->ur_data, r->ur_len);
	headers_clear(&h);
}

/* Refuses what is not GET or HEAD; true when the request may go on. */
static bool
ui_method_ok(struct http_txn *txn)
{
	const char *m = http_txn_request(txn)->method;
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return true;
	http_txn_set_header(txn, "Allow", "GET, HEAD");
	error_gitlab(txn, 405, "405 Method Not Allowed");
	return false;
}

bool
gw_static_is_asset(const char *path)
{
	return str_has_prefix(path, UI_PREFIX);
}

void
gw_static_asset(struct http_txn *txn)
{
	const char *path = http_txn_request(txn)->path + strlen(UI_PREFIX);
	if (!ui_method_ok(txn))
		return;
	/* <bundle>/<name>: the current bundle's assets are immutable; another bundle's name (a
	 * page loaded before an upgrade, or from another node) gets today's file, revalidated. */
	const char *slash = strchr(path, '/');
	if (ui_shell != NULL && slash != NULL && strchr(slash + 1, '%') == NULL) {
		bool current = (size_t)(slash - path) == strlen(ui_bundle) &&
		               memcmp(path, ui_bundle, strlen(ui_bundle)) == 0;
		for (size_t i = 0; i < ui_nfiles; i++)
			if (&ui_files[i] != ui_shell &&
			    strcmp(ui_files[i].uf_name, slash + 1) == 0) {
				ui_send(txn, &ui_files[i],
				        current ? "public, max-age=31536000, immutable"
				                : "no-cache");
				return;
			}
	}
	error_gitlab(txn, 404, "404 Not Found");
}

/* One segment of a namespace or project path, as GitLab allows them (a stricter test is the
 * API's: the page only shows what the API then answers). */
static bool
ui_segment_ok(const char *s, size_t n)
{
	if (n == 0 || n > 255 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* Whether p (up to end) is a namespace path: one to twenty valid segments. */
static bool
ui_namespace_ok(const char *p, const char *end)
{
	int n = 0;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *seg_end = slash != NULL ? slash : end;
		if (!ui_segment_ok(p, (size_t)(seg_end - p)) || ++n > 20)
			return false;
		p = slash != NULL ? slash + 1 : end;
		if (slash != NULL && p == end)
			return false;
	}
	return n > 0;
}

/* Whether s ends with suffix; *at is where the suffix starts. */
static bool
ui_ends_with(const char *s, const char *suffix, const char **at)
{
	size_t n = strlen(s), m = strlen(suffix);
	if (n < m || strcmp(s + n - m, suffix) != 0)
		return false;
	*at = s + n - m;
	return true;
}

bool
gw_static_is_page(const char *path)
{
	const char *at;
	if (ui_shell == NULL || path[0] != '/')
		return false;
	if (strcmp(path, "/") == 0 || strcmp(path, "/users/sign_in") == 0 ||
	    strcmp(path, "/dashboard/projects") == 0 || strcmp(path, "/dashboard/groups") == 0)
		return true;
	/* the admin area (ui/admin.js) */
	if (strcmp(path, "/admin") == 0 || strcmp(path, "/admin/users") == 0 ||
	    strcmp(path, "/admin/users/new") == 0)
		return true;
	/* /groups/<group path>/-/container_registries */
	if (str_has_prefix(path, "/groups/") && ui_ends_with(path, "/-/container_registries", &at))
		return ui_namespace_ok(path + 8, at);
	/* /<project path>/container_registry[/<repository id>], and its settings pages */
	static const char *const project_pages[] = {
		"/container_registry",
		"/-/settings/packages_and_registries",
		"/-/settings/repository",
		"/-/project_members",
	};
	for (size_t i = 0; i < nitems(project_pages); i++)
		if (ui_ends_with(path, project_pages[i], &at))
			return ui_namespace_ok(path + 1, at) &&
			       memchr(path + 1, '/', (size_t)(at - path - 1));
	const char *cr = strstr(path, "/container_registry/");
	if (cr != NULL) {
		const char *id = cr + strlen("/container_registry/");
		size_t digits = strspn(id, "0123456789");
		return digits > 0 && digits < 19 && id[digits] == '\0' &&
		       ui_namespace_ok(path + 1, cr) &&
		       memchr(path + 1, '/', (size_t)(cr - path - 1));
	}
	return false;
}

void
gw_static_page(struct http_txn *txn)
{
	if (ui_method_ok(txn))
		ui_send(txn, ui_shell, "no-cache");
}

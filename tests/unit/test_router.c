/*
 * router.c and rest.c's dispatcher: route tables over real transactions. A real HTTP server
 * (http.c) listens on a unix socket in this process; each test writes raw requests to it and reads
 * the raw answers, so the router sees exactly what a daemon's handler sees.
 */
#include "unit.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "rest.h"
#include "router.h"
#include "util.h"

static struct event_base *base;
static struct http_server *srv;
static int listen_fd = -1;
static char sock_dir[40], sock_path[80];

/* Answers with the handler's name and its parameters, "name a=1 b=2". */
static void
reply(struct rest_req *r, const char *name, const char *const *keys, size_t nkeys)
{
	char body[512];
	size_t o = (size_t)snprintf(body, sizeof(body), "%s", name);
	for (size_t i = 0; i < nkeys; i++) {
		const char *v = rest_param(r, keys[i]);
		o += (size_t)snprintf(body + o, sizeof(body) - o, " %s=%s", keys[i],
		                      v ? v : "(null)");
	}
	http_txn_respond(r->txn, 200, NULL, body, o);
}

static void
h_project(struct rest_req *r)
{
	static const char *const keys[] = { "id" };
	reply(r, "project", keys, 1);
}

static void
h_project_post(struct rest_req *r)
{
	static const char *const keys[] = { "id" };
	reply(r, "project_post", keys, 1);
}

static void
h_repo_tag(struct rest_req *r)
{
	static const char *const keys[] = { "id", "repo", "tag", "missing" };
	reply(r, "repo_tag", keys, 4);
}

static void
h_any(struct rest_req *r)
{
	static const char *const keys[] = { "rest" };
	reply(r, "any", keys, 1);
}

static void
h_users(struct rest_req *r)
{
	reply(r, "users", NULL, 0);
}

static const struct route projects[] = {
	ROUTE_OWN("GET", "/api/v4/projects/:id", h_project, "project"),
	ROUTE_OWN("POST", "/api/v4/projects/:id", h_project_post, "project"),
	ROUTE_OWN("DELETE", "/api/v4/projects/:id/registry/repositories/:repo/tags/:tag",
	          h_repo_tag, "tag"),
};
static const size_t nprojects = sizeof(projects) / sizeof(projects[0]);
static const struct route misc[] = {
	ROUTE_OWN("GET", "/api/v4/users", h_users, "users"),
	ROUTE_OWN("*", "/files/*rest", h_any, "files"),
};
static const size_t nmisc = sizeof(misc) / sizeof(misc[0]);
static const struct route_table tables[] = { { projects, &nprojects }, { misc, &nmisc } };

static void
handler(struct http_txn *txn, void *arg)
{
	rest_dispatch(txn, tables, 2);
	(void)arg;
}

static int
setup(void **state)
{
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/routertest-XXXXXX");
	if (mkdtemp(sock_dir) == NULL)
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/s.sock", sock_dir);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(listen_fd, 16) < 0)
		return -1;
	base = event_base_new();
	struct http_limits limits;
	http_limits_default(&limits);
	limits.max_header_size = 4096;
	srv = http_server_new(base, listen_fd, &limits, handler, NULL);
	(void)state;
	return 0;
}

static int
teardown(void **state)
{
	http_server_free(srv);
	event_base_free(base);
	unlink(sock_path);
	rmdir(sock_dir);
	(void)state;
	return 0;
}

/* Sends raw bytes on a new connection and returns everything the server answers until it closes
 * (caller frees). */
static char *
exchange(const char *raw)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(write_all(fd, raw, strlen(raw)), 0);
	char *out = NULL;
	size_t len = 0;
	for (int rounds = 0; rounds < 5000; rounds++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 1) <= 0)
			continue;
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		out = realloc(out, len + (size_t)n + 1);
		memcpy(out + len, buf, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
	close(fd);
	/* let the server notice the close */
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_non_null(out);
	return out;
}

/* One request with Connection: close; checks the status and that the body is want. */
static void
expect(const char *method, const char *target, int status, const char *want)
{
	char raw[1024];
	snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method,
	         target);
	char *ans = exchange(raw);
	int got = 0;
	if (sscanf(ans, "HTTP/1.1 %d", &got) != 1 || got != status)
		fail_msg("%s %s: answer %.40s, want %d", method, target, ans, status);
	const char *body = strstr(ans, "\r\n\r\n");
	assert_non_null(body);
	if (want != NULL && strcmp(body + 4, want) != 0)
		fail_msg("%s %s: body \"%s\", want \"%s\"", method, target, body + 4, want);
	free(ans);
}

static void
placeholders_are_decoded(void **state)
{
	expect("GET", "/api/v4/projects/7", 200, "project id=7");
	expect("GET", "/api/v4/projects/acme%2Fweb", 200, "project id=acme/web");
	expect("GET", "/api/v4/projects/acme%2Fweb?per_page=5", 200, "project id=acme/web");
	expect("DELETE", "/api/v4/projects/acme%2Fweb/registry/repositories/3/tags/v1.0", 200,
	       "repo_tag id=acme/web repo=3 tag=v1.0 missing=(null)");
	(void)state;
}

static void
methods(void **state)
{
	expect("POST", "/api/v4/projects/7", 200, "project_post id=7");
	/* HEAD is served by the GET row (no body in the answer) */
	expect("HEAD", "/api/v4/projects/7", 200, "");
	expect("PUT", "/api/v4/projects/7", 405, "{\"message\":\"405 Method Not Allowed\"}");
	expect("GET", "/api/v4/projects/7/registry/repositories/3/tags/v1", 405,
	       "{\"message\":\"405 Method Not Allowed\"}");
	expect("PATCH", "/files/a/b%2Fc", 200, "any rest=a/b%2Fc");
	(void)state;
}

static void
no_match(void **state)
{
	expect("GET", "/api/v4/projects", 404, "{\"message\":\"404 Not Found\"}");
	expect("GET", "/api/v4/projects/", 404,
	       "{\"message\":\"404 Not Found\"}"); /* empty placeholder */
	expect("GET", "/api/v4/projects/7/", 404,
	       "{\"message\":\"404 Not Found\"}"); /* trailing slash */
	expect("GET", "/api/v4/projects/a%zz", 404,
	       "{\"message\":\"404 Not Found\"}"); /* bad escape */
	expect("GET", "/api/v4/projects/a%00b", 404, "{\"message\":\"404 Not Found\"}");
	expect("GET", "/api/v4/userss", 404, "{\"message\":\"404 Not Found\"}");
	expect("GET", "/api/v4/users", 200, "users");
	expect("GET", "/files", 404, "{\"message\":\"404 Not Found\"}");
	(void)state;
}

static void
malformed_requests_get_errors(void **state)
{
	/* the HTTP layer under the router: protocol errors never reach a handler */
	char *ans = exchange("GARBAGE\r\n\r\n");
	assert_true(strncmp(ans, "HTTP/1.1 400 ", 13) == 0);
	free(ans);
	char big[6000];
	snprintf(big, sizeof(big), "GET /api/v4/users HTTP/1.1\r\nX-Big: %05000d\r\n\r\n", 1);
	ans = exchange(big);
	assert_true(strncmp(ans, "HTTP/1.1 431 ", 13) == 0);
	free(ans);
	ans = exchange("GET /api/v4/users HTTP/2.0\r\n\r\n");
	assert_true(strncmp(ans, "HTTP/1.1 505 ", 13) == 0);
	free(ans);
	ans = exchange("GET api/v4/users HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_true(strncmp(ans, "HTTP/1.1 400 ", 13) == 0);
	free(ans);
	/* and the server goes on serving */
	expect("GET", "/api/v4/users", 200, "users");
	/* two pipelined requests on one connection, both answered in order */
	ans = exchange("GET /api/v4/projects/1 HTTP/1.1\r\nHost: t\r\n\r\n"
	               "GET /api/v4/projects/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	char *one = strstr(ans, "project id=1");
	char *two = strstr(ans, "project id=2");
	assert_non_null(one);
	assert_non_null(two);
	assert_true(one < two);
	free(ans);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(placeholders_are_decoded),
		cmocka_unit_test(methods),
		cmocka_unit_test(no_match),
		cmocka_unit_test(malformed_requests_get_errors),
	};
	return cmocka_run_group_tests_name("router", tests, setup, teardown);
}

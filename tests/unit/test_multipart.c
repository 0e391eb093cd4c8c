/* multipart.c: boundaries, parts, limits, and chunks cut anywhere. */
#include "unit.h"

#include "multipart.h"

/* What the callbacks saw, as text: "[name|filename|type]content." per part. */
struct events {
	char text[8192];
	size_t len;
	int stop_at_part; /* a callback refuses this part (1-based), 0: never */
	int parts;
};

static void
add(struct events *e, const char *s, size_t n)
{
	assert_true(e->len + n < sizeof(e->text));
	memcpy(e->text + e->len, s, n);
	e->len += n;
	e->text[e->len] = '\0';
}

static int
on_part(const struct mp_part *part, void *arg)
{
	struct events *e = arg;
	char buf[512];
	snprintf(buf, sizeof(buf), "[%s|%s|%s]", part->name, part->filename ? part->filename : "-",
	         part->content_type ? part->content_type : "-");
	add(e, buf, strlen(buf));
	return ++e->parts == e->stop_at_part ? -1 : 0;
}

static int
on_data(const char *data, size_t len, void *arg)
{
	assert_true(len > 0);
	add(arg, data, len);
	return 0;
}

static int
on_end(void *arg)
{
	add(arg, ".", 1);
	return 0;
}

static const struct mp_callbacks callbacks = { on_part, on_data, on_end };
static const struct mp_limits limits = { 8, 256, 64 };

/* Parses body fed in chunks of at most step bytes (0: at once); the result of mp_finish, or of
 * the failing mp_feed. */
static int
parse(const char *boundary, const char *body, size_t len, size_t step, struct events *e,
      enum mp_err *err)
{
	struct mp_parser *p = mp_new(boundary, &limits, &callbacks, e);
	assert_non_null(p);
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0;) {
		size_t n = step == 0 || len - i < step ? len - i : step;
		rc = mp_feed(p, body + i, n);
		i += n;
	}
	if (rc == 0)
		rc = mp_finish(p);
	if (err != NULL)
		*err = mp_errcode(p);
	if (rc < 0)
		assert_true(strlen(mp_error(p)) > 0);
	mp_free(p);
	return rc;
}

/* Whether the events are want (wlen bytes, NULs included). */
static void
same(const struct events *e, const char *want, size_t wlen)
{
	if (e->len != wlen || memcmp(e->text, want, wlen) != 0)
		fail_msg("got \"%s\" (%zu bytes), want \"%s\" (%zu)", e->text, e->len, want, wlen);
}

/* Parses body whole, byte by byte, and cut in two at every offset: each way must give want. */
static void
expect(const char *boundary, const char *body, size_t len, const char *want, size_t wlen)
{
	for (size_t step = 0; step <= 1; step++) {
		struct events e = { .len = 0 };
		assert_int_equal(parse(boundary, body, len, step, &e, NULL), 0);
		same(&e, want, wlen);
	}
	for (size_t cut = 1; cut < len; cut++) {
		struct events e = { .len = 0 };
		struct mp_parser *p = mp_new(boundary, &limits, &callbacks, &e);
		assert_int_equal(mp_feed(p, body, cut), 0);
		assert_int_equal(mp_feed(p, body + cut, len - cut), 0);
		assert_int_equal(mp_finish(p), 0);
		mp_free(p);
		same(&e, want, wlen);
	}
}

/* The error a body gets, however it is cut. */
static void
expect_error(const char *boundary, const char *body, enum mp_err want)
{
	for (size_t step = 0; step <= 3; step++) {
		struct events e = { .len = 0 };
		enum mp_err err;
		assert_int_equal(parse(boundary, body, strlen(body), step, &e, &err), -1);
		assert_int_equal(err, want);
	}
}

#define EXPECT(b, body, want) expect(b, body, sizeof(body) - 1, want, sizeof(want) - 1)

static void
boundary_from_content_type(void **state)
{
	char b[MP_BOUNDARY_MAX + 1];
	assert_int_equal(mp_boundary("multipart/form-data; boundary=abc123", b), 0);
	assert_string_equal(b, "abc123");
	assert_int_equal(mp_boundary("Multipart/Form-Data;BOUNDARY=\"a b:c\"", b), 0);
	assert_string_equal(b, "a b:c");
	assert_int_equal(mp_boundary("multipart/form-data; charset=utf-8; boundary=\"x\\\"y\"", b),
	                 -1); /* '"' is not a boundary character */
	assert_int_equal(mp_boundary("multipart/form-data ; boundary = q ; x=y", b), 0);
	assert_string_equal(b, "q");
	char longest[MP_BOUNDARY_MAX + 64];
	snprintf(longest, sizeof(longest), "multipart/form-data; boundary=%070d", 7);
	assert_int_equal(mp_boundary(longest, b), 0);
	assert_int_equal(strlen(b), MP_BOUNDARY_MAX);
	snprintf(longest, sizeof(longest), "multipart/form-data; boundary=%071d", 7);
	assert_int_equal(mp_boundary(longest, b), -1);
	assert_int_equal(mp_boundary("multipart/form-data", b), -1);
	assert_int_equal(mp_boundary("multipart/form-data; boundary=", b), -1);
	assert_int_equal(mp_boundary("multipart/form-data; boundary=\"a \"", b), -1);
	assert_int_equal(mp_boundary("multipart/form-data; boundary=\"unterminated", b), -1);
	assert_int_equal(mp_boundary("multipart/form-data; boundary=a; boundary=b", b), -1);
	assert_int_equal(mp_boundary("multipart/mixed; boundary=a", b), -1);
	assert_int_equal(mp_boundary("multipart/form-datax; boundary=a", b), -1);
	assert_int_equal(mp_boundary("application/json", b), -1);
	assert_int_equal(mp_boundary(NULL, b), -1);
	assert_null(mp_new("", &limits, &callbacks, NULL));
	(void)state;
}

static void
fields_and_files(void **state)
{
	/* what python-gitlab (requests_toolbelt) sends with an avatar */
	EXPECT("d06e",
	       "--d06e\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n"
	       "--d06e\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n"
	       "--d06e\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
	       "Content-Type: image/png\r\n\r\nPNG\r\n\x00\xff\r\n"
	       "--d06e\r\nContent-Disposition: form-data; name=\"scopes[]\"\r\n\r\napi\r\n"
	       "--d06e--\r\n",
	       "[name|-|-]x.[file|-|-].[avatar|a.png|image/png]PNG\r\n\x00\xff."
	       "[scopes[]|-|-]api.");
	(void)state;
}

static void
preamble_epilogue_padding(void **state)
{
	EXPECT("b",
	       "This is the preamble.\r\n--c is not it\r\n--b \t\r\n"
	       "content-disposition: FORM-DATA; NAME=n\r\nX-Other: y\r\n\r\nv\r\n--b--"
	       "\r\nepilogue\r\n--b\r\nnot a part",
	       "[n|-|-]v.");
	/* a body that opens with its delimiter after a blank preamble line */
	EXPECT("b", "\r\n--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--",
	       "[a|-|-]1.");
	(void)state;
}

static void
content_that_looks_like_a_delimiter(void **state)
{
	EXPECT("bound",
	       "--bound\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n"
	       "--bound\r\r\n--boun\r\n-\r\n--\r\n--bounX\r\r\r\n--bound\r\n"
	       "Content-Disposition: form-data; name=\"g\"\r\n\r\n\r\n--boun\r\n--bound--",
	       "[f|x|-]--bound\r\r\n--boun\r\n-\r\n--\r\n--bounX\r\r.[g|-|-]\r\n--boun.");
	(void)state;
}

static void
quoted_names(void **state)
{
	EXPECT("q",
	       "--q\r\nContent-Disposition: form-data; name=\"a \\\"b\\\" ;c\"; filename=\"C:\\\\x\"\r\n"
	       "\r\n1\r\n--q\r\nContent-Disposition: form-data; name=\"\"; filename*=UTF-8''%C3%A9\r\n"
	       "\r\n\r\n--q--",
	       "[a \"b\" ;c|C:\\x|-]1.[|UTF-8''%C3%A9|-].");
	(void)state;
}

static void
malformed_bodies(void **state)
{
	const char *cd = "Content-Disposition: form-data; name=a\r\n\r\n";
	char body[512];
	/* no closing boundary */
	snprintf(body, sizeof(body), "--b\r\n%sv\r\n--b\r\n%sw", cd, cd);
	expect_error("b", body, MP_ERR_SYNTAX);
	expect_error("b", "no boundary at all", MP_ERR_SYNTAX);
	expect_error("b", "", MP_ERR_SYNTAX);
	/* something after a delimiter */
	snprintf(body, sizeof(body), "--bX\r\n%sv\r\n--b--", cd);
	expect_error("b", body, MP_ERR_SYNTAX);
	snprintf(body, sizeof(body), "--b\r\n%sv\r\n--b-x", cd);
	expect_error("b", body, MP_ERR_SYNTAX);
	snprintf(body, sizeof(body), "--b \rx\n%sv\r\n--b--", cd);
	expect_error("b", body, MP_ERR_SYNTAX);
	/* headers: no name, another disposition, bad parameters, bare LF, no colon, repeats */
	expect_error("b", "--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--", MP_ERR_SYNTAX);
	expect_error("b", "--b\r\n\r\nv\r\n--b--", MP_ERR_SYNTAX);
	expect_error("b", "--b\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--b--",
	             MP_ERR_SYNTAX);
	expect_error("b", "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--b--",
	             MP_ERR_SYNTAX);
	expect_error("b", "--b\r\nContent-Disposition: form-data; name\r\n\r\nv\r\n--b--",
	             MP_ERR_SYNTAX);
	expect_error("b", "--b\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n--b--",
	             MP_ERR_SYNTAX);
	expect_error("b",
	             "--b\r\nContent-Disposition: form-data; name=a\r\nnocolon\r\n\r\nv\r\n--b--",
	             MP_ERR_SYNTAX);
	expect_error("b", "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nv\r\n--b--",
	             MP_ERR_SYNTAX);
	expect_error("b",
	             "--b\r\nContent-Disposition: form-data; name=a\r\n"
	             "Content-Disposition: form-data; name=b\r\n\r\nv\r\n--b--",
	             MP_ERR_SYNTAX);
	(void)state;
}

static void
limits_hold(void **state)
{
	char body[4096];
	size_t n = 0;
	/* nine parts where eight are allowed */
	for (int i = 0; i < 9; i++)
		n += (size_t)snprintf(
		        body + n, sizeof(body) - n,
		        "--b\r\nContent-Disposition: form-data; name=p%d\r\n\r\nv\r\n", i);
	snprintf(body + n, sizeof(body) - n, "--b--");
	expect_error("b", body, MP_ERR_LIMIT);
	/* a header block of 257 bytes */
	snprintf(body, sizeof(body),
	         "--b\r\nContent-Disposition: form-data; name=%0*d\r\n\r\nv\r\n--b--", 257 - 41, 0);
	expect_error("b", body, MP_ERR_LIMIT);
	/* exactly 256 is fine */
	snprintf(body, sizeof(body),
	         "--b\r\nContent-Disposition: form-data; name=%0*d\r\n\r\nv\r\n--b--", 256 - 41, 0);
	struct events e = { .len = 0 };
	assert_int_equal(parse("b", body, strlen(body), 0, &e, NULL), 0);
	/* a text field of 65 bytes; a file part of 65 is fine */
	snprintf(body, sizeof(body),
	         "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n%065d\r\n--b--", 0);
	expect_error("b", body, MP_ERR_LIMIT);
	snprintf(body, sizeof(body),
	         "--b\r\nContent-Disposition: form-data; name=a; filename=f\r\n\r\n%0650d\r\n--b--",
	         0);
	e.len = 0;
	assert_int_equal(parse("b", body, strlen(body), 7, &e, NULL), 0);
	assert_int_equal(e.len, strlen("[a|f|-].") + 650);
	(void)state;
}

static void
callbacks_stop_the_parser(void **state)
{
	const char *body = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
	                   "--b\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n--b--";
	struct events e = { .len = 0, .stop_at_part = 2 };
	enum mp_err err;
	assert_int_equal(parse("b", body, strlen(body), 0, &e, &err), -1);
	assert_int_equal(err, MP_ERR_CALLBACK);
	assert_string_equal(e.text, "[a|-|-]1.[b|-|-]");
	/* a failed parser stays failed */
	struct mp_parser *p = mp_new("b", &limits, &callbacks, &e);
	assert_int_equal(mp_feed(p, "--bX", 4), -1);
	assert_int_equal(mp_feed(p, "\r\n", 2), -1);
	assert_int_equal(mp_finish(p), -1);
	assert_int_equal(mp_errcode(p), MP_ERR_SYNTAX);
	mp_free(p);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(boundary_from_content_type),
		cmocka_unit_test(fields_and_files),
		cmocka_unit_test(preamble_epilogue_padding),
		cmocka_unit_test(content_that_looks_like_a_delimiter),
		cmocka_unit_test(quoted_names),
		cmocka_unit_test(malformed_bodies),
		cmocka_unit_test(limits_hold),
		cmocka_unit_test(callbacks_stop_the_parser),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* headers.c: ordered header lists with case-insensitive lookup. */
#include "unit.h"

#include <event2/buffer.h>

#include "headers.h"

static void
add_get_set_del(void **state)
{
	struct http_headers h;
	headers_init(&h);
	assert_null(headers_get(&h, "Host"));
	headers_add(&h, "Content-Type", "text/plain");
	headers_add(&h, "X-Dup", "1");
	headers_add(&h, "x-dup", "2");
	headers_addn(&h, "Host-and-more", 4, "example.com:5000", 11);
	assert_string_equal(headers_get(&h, "content-type"), "text/plain");
	assert_string_equal(headers_get(&h, "X-DUP"), "1"); /* the first one */
	assert_string_equal(headers_get(&h, "Host"), "example.com");
	assert_int_equal(h.hd_count, 4);
	headers_set(&h, "X-Dup", "3");
	assert_int_equal(h.hd_count, 3);
	assert_string_equal(headers_get(&h, "x-dup"), "3");
	headers_set_int(&h, "x-dup", -9223372036854775807LL - 1);
	assert_int_equal(h.hd_count, 3);
	assert_string_equal(headers_get(&h, "X-Dup"), "-9223372036854775808");
	headers_set_int(&h, "X-Dup", 3);
	assert_string_equal(headers_get(&h, "X-Dup"), "3");
	headers_del(&h, "content-TYPE");
	assert_null(headers_get(&h, "Content-Type"));
	assert_int_equal(h.hd_count, 2);
	/* order is kept */
	assert_string_equal(h.hd_list[0].name, "Host");
	assert_string_equal(h.hd_list[1].name, "X-Dup");
	headers_clear(&h);
	assert_int_equal(h.hd_count, 0);
	assert_null(headers_get(&h, "Host"));
	/* a cleared list is reusable */
	headers_add(&h, "A", "b");
	assert_string_equal(headers_get(&h, "a"), "b");
	headers_clear(&h);
	(void)state;
}

static void
copy_and_write(void **state)
{
	struct http_headers a, b;
	headers_init(&a);
	headers_init(&b);
	for (int i = 0; i < 50; i++) {
		char n[16], v[16];
		snprintf(n, sizeof(n), "X-H%d", i);
		snprintf(v, sizeof(v), "v%d", i);
		headers_add(&a, n, v);
	}
	headers_add(&b, "First", "1");
	headers_copy(&b, &a);
	assert_int_equal(b.hd_count, 51);
	assert_string_equal(headers_get(&b, "x-h49"), "v49");
	struct evbuffer *out = evbuffer_new();
	struct http_headers c;
	headers_init(&c);
	headers_add(&c, "A", "1");
	headers_add(&c, "B", "two words");
	headers_write(&c, out);
	size_t len = evbuffer_get_length(out);
	assert_int_equal(len, strlen("A: 1\r\nB: two words\r\n"));
	assert_memory_equal(evbuffer_pullup(out, -1), "A: 1\r\nB: two words\r\n", len);
	evbuffer_free(out);
	headers_clear(&a);
	headers_clear(&b);
	headers_clear(&c);
	(void)state;
}

static void
tokens(void **state)
{
	struct http_headers h;
	headers_init(&h);
	headers_add(&h, "Connection", "keep-alive, Upgrade");
	headers_add(&h, "Expect", " 100-Continue ");
	headers_add(&h, "Connection", "close");
	assert_true(headers_has_token(&h, "connection", "keep-alive"));
	assert_true(headers_has_token(&h, "Connection", "upgrade"));
	assert_true(headers_has_token(&h, "Connection", "close")); /* second field */
	assert_true(headers_has_token(&h, "Expect", "100-continue"));
	assert_false(headers_has_token(&h, "Connection", "keep"));
	assert_false(headers_has_token(&h, "Connection", "alive"));
	assert_false(headers_has_token(&h, "Upgrade", "close"));
	headers_clear(&h);
	assert_true(headers_is_hop_by_hop("transfer-encoding"));
	assert_true(headers_is_hop_by_hop("Connection"));
	assert_true(headers_is_hop_by_hop("Keep-Alive"));
	assert_false(headers_is_hop_by_hop("Content-Length"));
	assert_false(headers_is_hop_by_hop("Authorization"));
	(void)state;
}

/* Fields delivered in pieces, as http-parser does across reads. */
static void
parts_in_pieces(void **state)
{
	struct http_headers h;
	headers_init(&h);
	struct header_parts f = { 0 };
	header_parts_commit(&f, &h); /* nothing gathered: nothing added */
	assert_int_equal(h.hd_count, 0);
	header_parts_name(&f, "Cont", 4);
	header_parts_name(&f, "ent-Type", 8);
	assert_false(header_parts_done(&f));
	header_parts_value(&f, " text/", 6);
	header_parts_value(&f, "plain ", 6);
	assert_true(header_parts_done(&f));
	header_parts_commit(&f, &h);
	assert_false(header_parts_done(&f));
	header_parts_name(&f, "X-Empty", 7);
	header_parts_commit(&f, &h); /* a field without a value */
	header_parts_name(&f, "X-Lost", 6);
	header_parts_clear(&f);
	assert_int_equal(h.hd_count, 2);
	assert_string_equal(headers_get(&h, "content-type"), "text/plain");
	assert_string_equal(headers_get(&h, "X-Empty"), "");
	assert_null(headers_get(&h, "X-Lost"));
	headers_clear(&h);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_get_set_del),
		cmocka_unit_test(copy_and_write),
		cmocka_unit_test(tokens),
		cmocka_unit_test(parts_in_pieces),
	};
	return cmocka_run_group_tests_name("headers", tests, NULL, NULL);
}

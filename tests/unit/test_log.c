/* log.c: the text and JSON forms of a line, their escaping, and the access line's filtering. */
#include "unit.h"

#include <json-c/json.h>

#include "log.h"

#define T0 1796515200123LL /* 2026-12-06T00:00:00.123Z */

/* Formats rec and checks the line ends in its one '\n' and has no other control character. */
static char *
line_of(enum log_format format, const struct log_record *rec)
{
	size_t len;
	char *line = log_format_line(format, rec, &len);
	assert_non_null(line);
	assert_int_equal(len, strlen(line));
	assert_true(len > 0 && line[len - 1] == '\n');
	for (size_t i = 0; i + 1 < len; i++)
		if ((unsigned char)line[i] < 0x20)
			fail_msg("control character 0x%02x at %zu of %s", line[i], i, line);
	return line;
}

/* Parses a JSON line strictly, its strings checked to be UTF-8; fails the test otherwise. */
static json_object *
parse_json_line(const char *line)
{
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	size_t len = strlen(line) - 1; /* the '\n' */
	json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		fail_msg("not one JSON object: %s", line);
	json_tokener_free(tok);
	assert_true(json_object_is_type(o, json_type_object));
	return o;
}

/* The string member name of o (which must be one). */
static const char *
member_str(json_object *o, const char *name)
{
	json_object *v;
	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		fail_msg("no string \"%s\" in %s", name, json_object_to_json_string(o));
	return json_object_get_string(v);
}

static void
text_lines(void **state)
{
	struct log_record rec = { .unix_ms = T0,
		                  .level = LOG_WARN,
		                  .daemon = "metad",
		                  .worker = 3,
		                  .request_id = "0123abcd",
		                  .message = "slow query" };
	char *line = line_of(LOG_TEXT, &rec);
	assert_string_equal(line,
	                    "2026-12-06T00:00:00.123Z metad/w3 WARN req=0123abcd slow query\n");
	free(line);
	/* the master, no request; a newline in the message cannot start a forged line */
	rec = (struct log_record){ .unix_ms = T0,
		                   .level = LOG_INFO,
		                   .daemon = "gateway",
		                   .worker = -1,
		                   .message = "a\nT gateway/w0 ERROR forged\r\x01" };
	line = line_of(LOG_TEXT, &rec);
	assert_string_equal(
	        line,
	        "2026-12-06T00:00:00.123Z gateway/master INFO a?T gateway/w0 ERROR forged??\n");
	free(line);
	(void)state;
}

static void
json_lines(void **state)
{
	struct log_record rec = { .unix_ms = T0,
		                  .level = LOG_ERROR,
		                  .daemon = "blobd",
		                  .worker = 0,
		                  .request_id = "0123abcd",
		                  .message = "cannot open \"x\": No such file" };
	char *line = line_of(LOG_JSON, &rec);
	assert_string_equal(line, "{\"time\":\"2026-12-06T00:00:00.123Z\",\"level\":\"error\","
	                          "\"daemon\":\"blobd\",\"worker\":0,\"request_id\":\"0123abcd\","
	                          "\"message\":\"cannot open \\\"x\\\": No such file\"}\n");
	free(line);
	/* the master's worker is "master"; a line outside a request has no request_id */
	rec = (struct log_record){
		.unix_ms = T0, .level = LOG_DEBUG, .daemon = "authd", .worker = -1, .message = "m/n"
	};
	line = line_of(LOG_JSON, &rec);
	assert_string_equal(line,
	                    "{\"time\":\"2026-12-06T00:00:00.123Z\",\"level\":\"debug\","
	                    "\"daemon\":\"authd\",\"worker\":\"master\",\"message\":\"m/n\"}\n");
	free(line);
	(void)state;
}

static void
json_escapes_control_characters_and_bad_utf8(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "line\nbreak\r\ttab\x01\x1f\x7f", "line\nbreak\r\ttab\x01\x1f\x7f" },
		{ "quote \" backslash \\ slash /", "quote \" backslash \\ slash /" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3" },
		/* a stray continuation byte, a lead byte without its continuation, bytes never in
		   UTF-8 */
		{ "a\x80z", "a\xef\xbf\xbdz" },
		{ "a\xc3(z", "a\xef\xbf\xbd(z" },
		{ "\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd" },
		/* overlong forms, a surrogate, past U+10FFFF */
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		/* a sequence cut by the end of the string */
		{ "end\xe2\x82", "end\xef\xbf\xbd\xef\xbf\xbd" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct log_record rec = { .unix_ms = T0,
			                  .level = LOG_INFO,
			                  .daemon = "gateway",
			                  .worker = 1,
			                  .request_id = "r\x02\xff",
			                  .message = cases[i].in };
		char *line = line_of(LOG_JSON, &rec);
		json_object *o = parse_json_line(line);
		if (strcmp(member_str(o, "message"), cases[i].want) != 0)
			fail_msg("case %zu: %s", i, line);
		assert_string_equal(member_str(o, "request_id"), "r\x02\xef\xbf\xbd");
		json_object_put(o);
		free(line);
	}
	(void)state;
}

/* An access line of a request whose query carries secrets. */
static const struct log_access leaky = {
	.request_id = "feedbeef",
	.peer = "192.0.2.7",
	.method = "POST",
	.target = "/oauth/token?grant_type=password&username=root&password=Secr3t"
	          "&private_token=Secr3t&client_secret=Secr3t&code=Secr3t&n=2"
	          "&X-Amz-Credential=Secr3t&X-Amz-Signature=Secr3t",
	.status = 200,
	.bytes_in = 12,
	.bytes_out = 345,
	.duration_us = 1500,
	.actor = "alice",
};

#define LEAKY_SHOWN                                                                                \
	"/oauth/token?grant_type=password&username=root&password=[FILTERED]"                       \
	"&private_token=[FILTERED]&client_secret=[FILTERED]&code=[FILTERED]&n=2"                   \
	"&X-Amz-Credential=[FILTERED]&X-Amz-Signature=[FILTERED]"

static void
access_lines_filter_secrets(void **state)
{
	struct log_record rec = { .unix_ms = T0,
		                  .level = LOG_INFO,
		                  .daemon = "authd",
		                  .worker = 1,
		                  .request_id = leaky.request_id,
		                  .message = "access",
		                  .access = &leaky };
	char *line = line_of(LOG_TEXT, &rec);
	assert_string_equal(line, "2026-12-06T00:00:00.123Z authd/w1 INFO req=feedbeef access "
	                          "192.0.2.7 \"POST " LEAKY_SHOWN "\" 200 in=12 out=345 1.500ms\n");
	free(line);
	line = line_of(LOG_JSON, &rec);
	assert_null(strstr(line, "Secr3t"));
	json_object *o = parse_json_line(line);
	assert_string_equal(member_str(o, "message"), "access");
	assert_string_equal(member_str(o, "request_id"), "feedbeef");
	assert_string_equal(member_str(o, "method"), "POST");
	assert_string_equal(member_str(o, "path"), LEAKY_SHOWN);
	assert_string_equal(member_str(o, "actor"), "alice");
	assert_string_equal(member_str(o, "remote_addr"), "192.0.2.7");
	json_object *v;
	assert_true(json_object_object_get_ex(o, "status", &v));
	assert_int_equal(json_object_get_int(v), 200);
	assert_true(json_object_object_get_ex(o, "bytes", &v));
	assert_int_equal(json_object_get_int64(v), 345);
	assert_true(json_object_object_get_ex(o, "bytes_in", &v));
	assert_int_equal(json_object_get_int64(v), 12);
	assert_true(json_object_object_get_ex(o, "duration_ms", &v));
	assert_true(json_object_is_type(v, json_type_double));
	assert_non_null(strstr(line, "\"duration_ms\":1.500,"));
	json_object_put(o);
	free(line);
	/* nobody known: actor is null; a target with control characters and bad UTF-8 */
	struct log_access anon = leaky;
	anon.actor = NULL;
	anon.target = "/v2/\x01\n\xff?token=Secr3t";
	rec.access = &anon;
	line = line_of(LOG_JSON, &rec);
	assert_null(strstr(line, "Secr3t"));
	o = parse_json_line(line);
	assert_true(json_object_object_get_ex(o, "actor", &v));
	assert_null(v);
	assert_string_equal(member_str(o, "path"), "/v2/\x01\n\xef\xbf\xbd?token=[FILTERED]");
	json_object_put(o);
	free(line);
	(void)state;
}

static void
formats_by_name(void **state)
{
	assert_int_equal(log_parse_format("text"), LOG_TEXT);
	assert_int_equal(log_parse_format("json"), LOG_JSON);
	assert_int_equal(log_parse_format("JSON"), LOG_JSON);
	assert_int_equal(log_parse_format("xml"), -1);
	assert_int_equal(log_parse_format(""), -1);
	(void)state;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_lines),
		cmocka_unit_test(json_lines),
		cmocka_unit_test(json_escapes_control_characters_and_bad_utf8),
		cmocka_unit_test(access_lines_filter_secrets),
		cmocka_unit_test(formats_by_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

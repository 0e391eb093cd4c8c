/* blobd/s3xml.c and the parts of blobd/s3.c that need no server: S3's XML answers read and
 * written, the [blobd] s3_* settings and the credentials checked, and the URLs of pre-signed GETs
 * in both addressing styles (AWS's documented pre-signed example, through the client). */
#include "unit.h"

#include <event2/event.h>
#include <fcntl.h>
#include <unistd.h>

#include "cfg.h"
#include "s3.h"
#include "util.h"

/* An S3 error answer: code and message, entities decoded. */
static void
test_xml_error(void **state)
{
	const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                "<Error><Code>NoSuchKey</Code><Message>The key &quot;a&amp;b&quot; "
	                "&#x263A;&#233; &lt;x&gt;</Message><RequestId>tx1</RequestId></Error>";
	assert_str_free(s3xml_root(x, strlen(x)), "Error");
	assert_str_free(s3xml_text(x, strlen(x), "Code"), "NoSuchKey");
	assert_str_free(s3xml_text(x, strlen(x), "Message"),
	                "The key \"a&b\" \xe2\x98\xba\xc3\xa9 <x>");
	assert_str_free(s3xml_text(x, strlen(x), "Resource"), NULL);
	/* a name that only starts like another is not it */
	assert_str_free(s3xml_text(x, strlen(x), "Req"), NULL);
}

/* Broken answers give nothing rather than a guess. */
static void
test_xml_broken(void **state)
{
	const char *unclosed = "<Error><Code>NoSuchKey";
	assert_str_free(s3xml_text(unclosed, strlen(unclosed), "Code"), NULL);
	const char *entity = "<Code>a&bogus;b</Code>";
	assert_str_free(s3xml_text(entity, strlen(entity), "Code"), NULL);
	const char *nul = "<Code>a&#0;b</Code>";
	assert_str_free(s3xml_text(nul, strlen(nul), "Code"), NULL);
	const char *big = "<Code>&#x110000;</Code>";
	assert_str_free(s3xml_text(big, strlen(big), "Code"), NULL);
	assert_str_free(s3xml_root("", 0), NULL);
	assert_str_free(s3xml_root("text", 4), NULL);
	/* the length bounds the search, not a NUL */
	const char *cut = "<Code>abc</Code>";
	assert_str_free(s3xml_text(cut, 10, "Code"), NULL);
}

/* s3xml_each's callback of the tests: gathers the UploadIds. */
static int
collect(const char *inner, size_t len, void *arg)
{
	char *id = s3xml_text(inner, len, "UploadId");
	char **all = arg;
	char *next = xasprintf("%s%s,", *all, id != NULL ? id : "?");
	free(*all);
	free(id);
	*all = next;
	return 0;
}

/* A page of ListMultipartUploads: every <Upload>, attributes on the root. */
static void
test_xml_each(void **state)
{
	const char *x =
	        "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	        "<Bucket>b</Bucket><IsTruncated>false</IsTruncated>"
	        "<Upload><Key>k1</Key><UploadId>u1</UploadId></Upload>"
	        "<Upload>\n<Key>k2</Key><UploadId>u2</UploadId></Upload>"
	        "<Uploads>not one</Uploads><Upload/>"
	        "</ListMultipartUploadsResult>";
	assert_str_free(s3xml_root(x, strlen(x)), "ListMultipartUploadsResult");
	char *all = xstrdup("");
	assert_int_equal(s3xml_each(x, strlen(x), "Upload", collect, &all), 0);
	assert_str_free(all, "u1,u2,?,");
	const char *open = "<Upload><UploadId>u1</UploadId>";
	all = xstrdup("");
	assert_int_equal(s3xml_each(open, strlen(open), "Upload", collect, &all), -1);
	free(all);
}

static void
test_xml_escape(void **state)
{
	assert_str_free(s3xml_escape("\"etag\" <&'>"), "&quot;etag&quot; &lt;&amp;&apos;&gt;");
	char *e = s3xml_escape("\"9b2cf535f27731c974343645a3985328\"");
	char *x = xasprintf("<ETag>%s</ETag>", e);
	assert_str_free(s3xml_text(x, strlen(x), "ETag"), "\"9b2cf535f27731c974343645a3985328\"");
	free(x);
	free(e);
}

/* CompleteMultipartUpload's body names the parts given, gaps kept, ETags escaped. */
static void
test_xml_complete_body(void **state)
{
	(void)state;
	const char *etags[] = { "\"a1\"", "\"b&2\"" };
	const int numbers[] = { 2, 7 };
	assert_str_free(s3xml_complete_body(numbers, etags, 2),
	                "<CompleteMultipartUpload>"
	                "<Part><PartNumber>2</PartNumber><ETag>&quot;a1&quot;</ETag></Part>"
	                "<Part><PartNumber>7</PartNumber><ETag>&quot;b&amp;2&quot;</ETag></Part>"
	                "</CompleteMultipartUpload>");
	assert_str_free(s3xml_complete_body(NULL, etags, 1),
	                "<CompleteMultipartUpload>"
	                "<Part><PartNumber>1</PartNumber><ETag>&quot;a1&quot;</ETag></Part>"
	                "</CompleteMultipartUpload>");
	char *many = s3xml_complete_body(
	        NULL, (const char *const[]){ "x", "x", "x", "x", "x", "x", "x", "x", "x", "x" },
	        10);
	assert_non_null(strstr(many, "<PartNumber>10</PartNumber><ETag>x</ETag></Part>"
	                             "</CompleteMultipartUpload>"));
	free(many);
}

/* A configuration file with [blobd] storage and the lines given, loaded; NULL with *cause. */
static struct cfg *
load_storage(const char *storage, const char *lines, char **cause)
{
	char path[] = "/tmp/test-s3-cfg-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	/* compression at rest is not on S3 yet */
	char *text = xasprintf("[blobd]\nstorage = %s\ncompression = none\n%s", storage, lines);
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
	free(text);
	struct cfg *cfg = cfg_load(path, cause);
	unlink(path);
	return cfg;
}

/* Loads a configuration of [blobd] storage = s3 and lines; NULL and the cause when refused. */
static struct cfg *
load(const char *lines, char **cause)
{
	return load_storage("s3", lines, cause);
}

/* Loads the s3 settings of lines; the cause on failure (caller frees), NULL on success. */
static char *
s3_cause(const char *lines, struct s3_config *c)
{
	char *cause = NULL;
	struct cfg *cfg = load(lines, &cause);
	if (cfg == NULL)
		return cause;
	struct s3_config mine;
	if (c == NULL)
		c = &mine;
	int rc = s3_config_load(cfg, c, &cause);
	cfg_free(cfg);
	if (rc == 0 && c == &mine)
		s3_config_clear(c);
	return rc == 0 ? NULL : cause;
}

/* The settings: what is accepted, how it is normalised, and what is refused and why. */
static void
test_config(void **state)
{
	setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
	struct s3_config c;
	assert_null(s3_cause("s3_endpoint = https://s3.example.com:443/\ns3_bucket = blobs\n"
	                     "s3_prefix = /reg/one/\n",
	                     &c));
	assert_string_equal(c.endpoint, "https://s3.example.com");
	assert_string_equal(c.bucket, "blobs");
	assert_string_equal(c.prefix, "reg/one");
	assert_string_equal(c.region, "us-east-1");
	assert_string_equal(c.access_key, "AKIAIOSFODNN7EXAMPLE");
	assert_true(c.tls_verify);
	assert_false(c.path_style);
	s3_config_clear(&c);
	assert_null(s3_cause("s3_endpoint = http://127.0.0.1:7480\ns3_bucket = b.1-x\n"
	                     "s3_path_style = true\ns3_tls_verify = false\ns3_region = default\n",
	                     &c));
	assert_string_equal(c.endpoint, "http://127.0.0.1:7480");
	assert_true(c.path_style);
	assert_false(c.tls_verify);
	s3_config_clear(&c);

	assert_str_free(s3_cause("s3_bucket = blobs\n", NULL),
	                "[blobd] storage = s3 needs s3_endpoint (e.g. "
	                "https://s3.eu-west-1.amazonaws.com)");
	assert_str_free(s3_cause("s3_endpoint = ftp://x\ns3_bucket = blobs\n", NULL),
	                "[blobd] s3_endpoint must start with https:// or http://, not \"ftp://x\"");
	assert_str_free(s3_cause("s3_endpoint = https://x/path\ns3_bucket = blobs\n", NULL),
	                "[blobd] s3_endpoint must be scheme://host[:port] without a path, not "
	                "\"https://x/path\"");
	assert_str_free(s3_cause("s3_endpoint = https://x\ns3_bucket = Blobs\n", NULL),
	                "[blobd] s3_bucket must be a bucket name (3 to 63 lowercase letters, "
	                "digits, dots and hyphens), not \"Blobs\"");
	assert_str_free(s3_cause("s3_endpoint = http://127.0.0.1:7480\ns3_bucket = blobs\n", NULL),
	                "[blobd] s3_endpoint http://127.0.0.1:7480 is an IP address, which cannot "
	                "take the bucket in its name: set s3_path_style = true");
	assert_str_free(s3_cause("s3_endpoint = https://x\n", NULL),
	                "[blobd] s3_bucket must be a bucket name (3 to 63 lowercase letters, "
	                "digits, dots and hyphens), not \"\"");
	assert_str_free(
	        s3_cause("s3_endpoint = https://x\ns3_bucket = blobs\ns3_prefix = a//b\n", NULL),
	        "[blobd] s3_prefix may hold no control character and no empty path "
	        "segment");
	char *cause = NULL;
	assert_null(load_storage("tape", "", &cause));
	assert_non_null(strstr(cause, "[blobd] storage must be filesystem or s3, not \"tape\""));
	free(cause);

	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_str_free(s3_cause("s3_endpoint = https://x\ns3_bucket = blobs\n", NULL),
	                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
	                "[blobd] s3_credentials_file");
	setenv("AWS_SECRET_ACCESS_KEY", "with space", 1);
	cause = s3_cause("s3_endpoint = https://x\ns3_bucket = blobs\n", NULL);
	assert_non_null(cause);
	/* the cause never shows a key */
	assert_null(strstr(cause, "with space"));
	assert_null(strstr(cause, "AKIA"));
	free(cause);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
}

/* Credentials from a file in AWS's format win over nothing in the environment. */
static void
test_config_credentials_file(void **state)
{
	char path[] = "/tmp/test-s3-creds-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "[other]\naws_access_key_id = NOTTHIS\n"
	                   "[default]\naws_access_key_id = AKIDFILE\n"
	                   "aws_secret_access_key = secret/from+file\n";
	assert_int_equal(write_all(fd, text, strlen(text)), 0);
	close(fd);
	char *lines = xasprintf("s3_endpoint = https://x\ns3_bucket = blobs\n"
	                        "s3_credentials_file = %s\n",
	                        path);
	struct s3_config c;
	assert_null(s3_cause(lines, &c));
	assert_string_equal(c.access_key, "AKIDFILE");
	assert_string_equal(c.secret_key, "secret/from+file");
	s3_config_clear(&c);
	free(lines);
	/* a file without the secret */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write_all(fd, "[default]\naws_access_key_id = A\n", 32), 0);
	close(fd);
	lines = xasprintf("s3_endpoint = https://x\ns3_bucket = blobs\ns3_credentials_file = %s\n",
	                  path);
	char *cause = s3_cause(lines, NULL);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "must set aws_access_key_id and aws_secret_access_key"));
	free(cause);
	free(lines);
	unlink(path);
	/* a file that is not there */
	cause = s3_cause("s3_endpoint = https://x\ns3_bucket = blobs\n"
	                 "s3_credentials_file = /nonexistent/creds\n",
	                 NULL);
	assert_str_free(cause, "[blobd] s3_credentials_file /nonexistent/creds: cannot open: No "
	                       "such file or directory");
}

/* The client's pre-signed GET: AWS's documented URL in the virtual-host style, and the same
 * object addressed in the path with a prefix. */
static void
test_presign_urls(void **state)
{
	struct event_base *base = event_base_new();
	struct s3_config c = { .endpoint = "https://s3.amazonaws.com",
		               .region = "us-east-1",
		               .bucket = "examplebucket",
		               .prefix = "",
		               .tls_verify = true,
		               .access_key = "AKIAIOSFODNN7EXAMPLE",
		               .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
	char *cause = NULL;
	struct s3 *s3 = s3_new(base, &c, &cause);
	assert_non_null(s3);
	assert_str_free(s3_presign_get(s3, "test.txt", 86400, 1369353600),
	                "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-"
	                "SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%"
	                "2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-"
	                "SignedHeaders=host&X-Amz-Signature="
	                "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	assert_str_free(s3_key(s3, "blobs/x"), "blobs/x");
	s3_free(s3);
	c.endpoint = "http://127.0.0.1:7480";
	c.path_style = true;
	c.prefix = "reg";
	s3 = s3_new(base, &c, &cause);
	assert_str_free(s3_key(s3, "blobs/x"), "reg/blobs/x");
	char *url = s3_presign_get(s3, "a b/c", 60, 1369353600);
	assert_true(str_has_prefix(url, "http://127.0.0.1:7480/examplebucket/reg/a%20b/c?X-Amz-"
	                                "Algorithm=AWS4-HMAC-SHA256&"));
	assert_non_null(strstr(url, "&X-Amz-Expires=60&"));
	free(url);
	assert_int_equal(s3_pending(s3), 0);
	s3_free(s3);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_error),
		cmocka_unit_test(test_xml_broken),
		cmocka_unit_test(test_xml_each),
		cmocka_unit_test(test_xml_escape),
		cmocka_unit_test(test_xml_complete_body),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_credentials_file),
		cmocka_unit_test(test_presign_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

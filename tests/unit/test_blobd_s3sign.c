/* blobd/s3sign.c: AWS Signature Version 4, checked against the examples of AWS's documentation
 * ("Authenticating Requests: AWS Signature Version 4" for S3: the header-based examples and the
 * pre-signed URL one), with their documented keys, canonical requests, strings to sign and
 * signatures. */
#include "unit.h"

#include "digest.h"
#include "s3.h"
#include "util.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define DATE "20130524T000000Z"

/* A signature of the documented examples: us-east-1, 24 May 2013 at midnight. */
static struct s3_sign
example(const char *method, const char *path, const struct s3_kv *q, size_t nq,
        const struct s3_kv *h, size_t nh, const char *payload)
{
	return (struct s3_sign){ .method = method,
		                 .path = path,
		                 .query = q,
		                 .nquery = nq,
		                 .headers = h,
		                 .nheaders = nh,
		                 .payload_hash = payload,
		                 .amz_date = DATE,
		                 .region = "us-east-1",
		                 .access_key = AK,
		                 .secret_key = SK };
}

/* The date of the examples, as x-amz-date writes it. */
static void
test_amz_date(void **state)
{
	char d[S3_AMZ_DATE_LEN];
	s3sign_amz_date(1369353600, d);
	assert_string_equal(d, DATE);
	s3sign_amz_date(1733493845, d);
	assert_string_equal(d, "20241206T140405Z");
}

/* "GET Object": a range of /test.txt, every step as documented. */
static void
test_get_object_range(void **state)
{
	struct s3_kv h[] = { { "Host", HOST },
		             { "Range", "bytes=0-9" },
		             { "x-amz-content-sha256", S3_EMPTY_SHA256 },
		             { "x-amz-date", DATE } };
	struct s3_sign s = example("GET", "/test.txt", NULL, 0, h, 4, S3_EMPTY_SHA256);
	char *cr = s3sign_canonical_request(&s);
	assert_string_equal(cr, "GET\n"
	                        "/test.txt\n"
	                        "\n"
	                        "host:examplebucket.s3.amazonaws.com\n"
	                        "range:bytes=0-9\n"
	                        "x-amz-content-sha256:" S3_EMPTY_SHA256 "\n"
	                        "x-amz-date:20130524T000000Z\n"
	                        "\n"
	                        "host;range;x-amz-content-sha256;x-amz-date\n" S3_EMPTY_SHA256);
	assert_str_free(s3sign_string_to_sign(&s, cr),
	                "AWS4-HMAC-SHA256\n"
	                "20130524T000000Z\n"
	                "20130524/us-east-1/s3/aws4_request\n"
	                "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	free(cr);
	char sig[65];
	s3sign_signature(&s, sig);
	assert_string_equal(sig,
	                    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_str_free(
	        s3sign_authorization(&s),
	        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
	        "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
	        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* headers in another order and case, values with spaces around: the same signature */
	struct s3_kv h2[] = { { "X-Amz-Date", DATE },
		              { "range", "  bytes=0-9 " },
		              { "HOST", HOST },
		              { "X-AMZ-CONTENT-SHA256", S3_EMPTY_SHA256 } };
	struct s3_sign s2 = example("GET", "/test.txt", NULL, 0, h2, 4, S3_EMPTY_SHA256);
	s3sign_signature(&s2, sig);
	assert_string_equal(sig,
	                    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	/* and one byte more of range is another signature */
	h2[1].value = "bytes=0-10";
	s3sign_signature(&s2, sig);
	assert_string_not_equal(sig,
	                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* "PUT Object": a signed payload, a '$' in the key, a Date and a storage class header. */
static void
test_put_object(void **state)
{
	const char *body = "Welcome to Amazon S3.";
	char hash[DIGEST_STR_MAX];
	digest_buffer(DIGEST_SHA256, body, strlen(body), hash);
	const char *payload = hash + 7;
	assert_string_equal(payload,
	                    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	struct s3_kv h[] = { { "Host", HOST },
		             { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		             { "x-amz-date", DATE },
		             { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		             { "x-amz-content-sha256", payload } };
	struct s3_sign s = example("PUT", "/test$file.text", NULL, 0, h, 5, payload);
	char *cr = s3sign_canonical_request(&s);
	assert_non_null(
	        strstr(cr, "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"));
	assert_str_free(s3sign_string_to_sign(&s, cr),
	                "AWS4-HMAC-SHA256\n"
	                "20130524T000000Z\n"
	                "20130524/us-east-1/s3/aws4_request\n"
	                "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
	free(cr);
	char sig[65];
	s3sign_signature(&s, sig);
	assert_string_equal(sig,
	                    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

/* "GET Bucket Lifecycle": a parameter without a value. */
static void
test_get_lifecycle(void **state)
{
	struct s3_kv q[] = { { "lifecycle", NULL } };
	struct s3_kv h[] = { { "Host", HOST },
		             { "x-amz-date", DATE },
		             { "x-amz-content-sha256", S3_EMPTY_SHA256 } };
	struct s3_sign s = example("GET", "/", q, 1, h, 3, S3_EMPTY_SHA256);
	char *cr = s3sign_canonical_request(&s);
	assert_non_null(strstr(cr, "GET\n/\nlifecycle=\n"));
	free(cr);
	char sig[65];
	s3sign_signature(&s, sig);
	assert_string_equal(sig,
	                    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

/* "Get Bucket (List Objects)": parameters sorted by name whatever their order. */
static void
test_list_objects(void **state)
{
	struct s3_kv q[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct s3_kv h[] = { { "Host", HOST },
		             { "x-amz-date", DATE },
		             { "x-amz-content-sha256", S3_EMPTY_SHA256 } };
	struct s3_sign s = example("GET", "/", q, 2, h, 3, S3_EMPTY_SHA256);
	char *cr = s3sign_canonical_request(&s);
	assert_non_null(strstr(cr, "GET\n/\nmax-keys=2&prefix=J\n"));
	free(cr);
	char sig[65];
	s3sign_signature(&s, sig);
	assert_string_equal(sig,
	                    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* The pre-signed URL example: GET /test.txt for 86400 seconds. */
static void
test_presign(void **state)
{
	struct s3_kv h[] = { { "host", HOST } };
	struct s3_sign s = example("GET", "/test.txt", NULL, 0, h, 1, S3_UNSIGNED_PAYLOAD);
	assert_str_free(s3sign_presign_query(&s, 86400),
	                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%"
	                "2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-"
	                "Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
	                "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	/* whatever else the caller said to sign, a pre-signed URL signs the host alone */
	struct s3_kv h2[] = { { "range", "bytes=0-9" }, { "host", HOST } };
	struct s3_sign s2 = example("GET", "/test.txt", NULL, 0, h2, 2, S3_EMPTY_SHA256);
	char *q = s3sign_presign_query(&s2, 86400);
	assert_non_null(
	        strstr(q, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
	free(q);
	/* another expiry is another signature */
	q = s3sign_presign_query(&s, 300);
	assert_non_null(strstr(q, "X-Amz-Expires=300&"));
	assert_null(strstr(q, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
	free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_amz_date),     cmocka_unit_test(test_get_object_range),
		cmocka_unit_test(test_put_object),   cmocka_unit_test(test_get_lifecycle),
		cmocka_unit_test(test_list_objects), cmocka_unit_test(test_presign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_sigv4.c - SigV4 against the published examples of the S3 API
 * reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk" (sig-v4-header-based-auth):
 * GET Object (Range), PUT Object, GET Bucket Lifecycle, Get Bucket (List
 * Objects), all signed with the documentation's example key at
 * 20130524T000000Z for examplebucket in us-east-1. Plus URI and query
 * encoding cases.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "objstore/sigv4.h"
#include "check.h"

#define EX_DATE "20130524T000000Z"
#define EX_HOST "examplebucket.s3.amazonaws.com"

/* Arrays as plain pointers for CHECK_STR (which also tests for NULL). */
static const char *str(const char *s)
{
	return s;
}

static const struct sigv4_key ex_key = {
	.access_key = "AKIAIOSFODNN7EXAMPLE",
	.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	.region = "us-east-1",
	.service = "s3",
};

/* Signs rq with the example key and checks the published signature and
 * the signed-header list of the Authorization value. */
static void check_signature(const struct sigv4_request *rq, const char *signed_headers,
			    const char *want)
{
	struct buf auth = BUF_INIT, expect = BUF_INIT;
	char sig[SIGV4_HEX_LEN + 1];

	CHECK_INT(sigv4_authorization(rq, &ex_key, EX_DATE, &auth, sig), 0);
	CHECK_STR(str(sig), want);
	buf_appendf(&expect, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/"
		    "us-east-1/s3/aws4_request,SignedHeaders=%s,Signature=%s",
		    signed_headers, want);
	CHECK_STR(auth.data, expect.data);
	buf_release(&expect);
	buf_release(&auth);
}

static void test_get_object(void)
{
	/* headers deliberately not in sorted order */
	const struct sigv4_header h[] = {
		{ "x-amz-date", EX_DATE },
		{ "range", "bytes=0-9" },
		{ "host", EX_HOST },
		{ "x-amz-content-sha256", SIGV4_EMPTY_SHA256 },
	};
	const struct sigv4_request rq = {
		.method = "GET", .path = "/test.txt", .query = "",
		.headers = h, .n_headers = 4, .payload_hash = SIGV4_EMPTY_SHA256,
	};
	struct buf creq = BUF_INIT;
	char hash[SIGV4_HEX_LEN + 1];

	/* the canonical request and its hash as printed in the example */
	CHECK_INT(sigv4_canonical_request(&rq, &creq), 0);
	CHECK_STR(creq.data, "GET\n/test.txt\n\n"
		  "host:examplebucket.s3.amazonaws.com\n"
		  "range:bytes=0-9\n"
		  "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"
		  "x-amz-date:20130524T000000Z\n\n"
		  "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
	sigv4_sha256_hex(creq.data, creq.len, hash);
	CHECK_STR(str(hash), "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	buf_release(&creq);
	check_signature(&rq, "host;range;x-amz-content-sha256;x-amz-date",
			"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_put_object(void)
{
	static const char body[] = "Welcome to Amazon S3.";
	char payload[SIGV4_HEX_LEN + 1];
	struct buf path = BUF_INIT;

	sigv4_sha256_hex(body, strlen(body), payload);
	CHECK_STR(str(payload), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	/* the key "test$file.text" is encoded as the example shows */
	buf_append_str(&path, "/");
	CHECK_INT(sigv4_uri_encode(&path, "test$file.text", 14, true), 0);
	CHECK_STR(path.data, "/test%24file.text");
	{
		const struct sigv4_header h[] = {
			{ "host", EX_HOST },
			{ "date", "Fri, 24 May 2013 00:00:00 GMT" },
			{ "x-amz-date", EX_DATE },
			{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
			{ "x-amz-content-sha256", payload },
		};
		const struct sigv4_request rq = {
			.method = "PUT", .path = path.data, .query = "",
			.headers = h, .n_headers = 5, .payload_hash = payload,
		};

		check_signature(&rq, "date;host;x-amz-content-sha256;x-amz-date;"
				"x-amz-storage-class",
				"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	}
	buf_release(&path);
}

static void test_bucket_queries(void)
{
	const struct sigv4_header h[] = {
		{ "host", EX_HOST },
		{ "x-amz-date", EX_DATE },
		{ "x-amz-content-sha256", SIGV4_EMPTY_SHA256 },
	};
	const struct sigv4_param lifecycle[] = { { "lifecycle", NULL } };
	const struct sigv4_param list[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct sigv4_request rq = {
		.method = "GET", .path = "/", .headers = h, .n_headers = 3,
		.payload_hash = SIGV4_EMPTY_SHA256,
	};
	struct buf q = BUF_INIT;

	/* GET Bucket Lifecycle: a parameter without a value becomes "name=" */
	CHECK_INT(sigv4_canonical_query(&q, lifecycle, 1), 0);
	CHECK_STR(q.data, "lifecycle=");
	rq.query = q.data;
	check_signature(&rq, "host;x-amz-content-sha256;x-amz-date",
			"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	/* Get Bucket (List Objects): parameters sorted by name */
	buf_reset(&q);
	CHECK_INT(sigv4_canonical_query(&q, list, 2), 0);
	CHECK_STR(q.data, "max-keys=2&prefix=J");
	rq.query = q.data;
	check_signature(&rq, "host;x-amz-content-sha256;x-amz-date",
			"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	buf_release(&q);
}

static void check_encode(const char *in, bool keep_slash, const char *want)
{
	struct buf b = BUF_INIT;

	CHECK_INT(sigv4_uri_encode(&b, in, strlen(in), keep_slash), 0);
	CHECK_STR(b.data ? b.data : "", want);
	buf_release(&b);
}

static void test_encoding(void)
{
	const struct sigv4_param p[] = {
		{ "prefix", "dir with space/" },
		{ "continuation-token", "1/a+b=" },
		{ "delimiter", "/" },
		{ "list-type", "2" },
		{ "encoding-type", "url" },
	};
	const struct sigv4_param dup[] = { { "a", "2" }, { "a", "1" }, { "A", "" } };
	struct buf q = BUF_INIT;

	check_encode("", true, "");
	check_encode("AZaz09-_.~", false, "AZaz09-_.~");
	check_encode("a/b//c/../d", true, "a/b//c/../d");
	check_encode("a/b", false, "a%2Fb");
	check_encode("a b+c*d%e=f&g?h#i:j@k!l'm(n)o,p;q$r", true,
		     "a%20b%2Bc%2Ad%25e%3Df%26g%3Fh%23i%3Aj%40k%21l%27m%28n%29o%2Cp%3Bq%24r");
	check_encode("\xc3\xa9t\xc3\xa9", true, "%C3%A9t%C3%A9");
	check_encode("\x01\x7f\xff", true, "%01%7F%FF");
	check_encode("x\ny\tz", true, "x%0Ay%09z");

	CHECK_INT(sigv4_canonical_query(&q, p, 5), 0);
	CHECK_STR(q.data, "continuation-token=1%2Fa%2Bb%3D&delimiter=%2F&encoding-type=url&"
		  "list-type=2&prefix=dir%20with%20space%2F");
	buf_reset(&q);
	/* sorted by byte value of the encoded name, then by value */
	CHECK_INT(sigv4_canonical_query(&q, dup, 3), 0);
	CHECK_STR(q.data, "A=&a=1&a=2");
	buf_reset(&q);
	CHECK_INT(sigv4_canonical_query(&q, dup, 0), 0);
	CHECK(q.len == 0);
	buf_release(&q);
}

static void test_trim_and_token(void)
{
	const struct sigv4_header h[] = {
		{ "host", "h" },
		{ "x-amz-meta-note", "  two   spaces\tand tab  " },
		{ "x-amz-security-token", "TOKEN" },
	};
	const struct sigv4_request rq = {
		.method = "HEAD", .path = "/k", .query = "", .headers = h, .n_headers = 3,
		.payload_hash = SIGV4_UNSIGNED_PAYLOAD,
	};
	struct buf creq = BUF_INIT, auth = BUF_INIT;
	char date[17];

	CHECK_INT(sigv4_canonical_request(&rq, &creq), 0);
	CHECK_STR(creq.data, "HEAD\n/k\n\nhost:h\nx-amz-meta-note:two spaces and tab\n"
		  "x-amz-security-token:TOKEN\n\n"
		  "host;x-amz-meta-note;x-amz-security-token\nUNSIGNED-PAYLOAD");
	sigv4_amz_date(1369353600LL, date);
	CHECK_STR(str(date), EX_DATE);
	CHECK_INT(sigv4_authorization(&rq, &ex_key, "2013", &auth, NULL), EINVAL);
	CHECK_INT(sigv4_authorization(&rq, &ex_key, date, &auth, NULL), 0);
	CHECK(strstr(auth.data, "SignedHeaders=host;x-amz-meta-note;x-amz-security-token,") != NULL);
	/* the secret never appears in the header value */
	CHECK(strstr(auth.data, ex_key.secret_key) == NULL);
	buf_release(&auth);
	buf_release(&creq);
}

int main(void)
{
	test_get_object();
	test_put_object();
	test_bucket_queries();
	test_encoding();
	test_trim_and_token();
	return check_exit();
}

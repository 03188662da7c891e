/*
 * test_s3_xml.c - S3 XML parsing and request bodies against the fixtures in
 * tests/fixtures/xml/ (found through $LITHFS_SRC, else the source directory
 * compiled in as LITHFS_SRCDIR).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/s3_xml.h"
#include "check.h"

/* Arrays as plain pointers for CHECK_STR (which also tests for NULL). */
static const char *str(const char *s)
{
	return s;
}

#ifndef LITHFS_SRCDIR
#define LITHFS_SRCDIR "."
#endif

/* Reads tests/fixtures/xml/name into b; exits 1 when it is missing, since
 * every later check would fail for the wrong reason. */
static void load(const char *name, struct buf *b)
{
	const char *src = getenv("LITHFS_SRC");
	char path[4096];
	char chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/xml/%s",
		 src && *src ? src : LITHFS_SRCDIR, name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "cannot open fixture %s (set LITHFS_SRC)\n", path);
		exit(1);
	}
	buf_reset(b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
}

static void test_list(void)
{
	struct buf b = BUF_INIT;
	struct os_list_page p;
	struct s3_xml_error err;
	int64_t t;

	load("list_v2_page1.xml", &b);
	CHECK_INT(s3_xml_parse_list(b.data, b.len, &p, &err), 0);
	CHECK_INT(p.n_entries, 3);
	CHECK_INT(p.n_prefixes, 2);
	if (p.n_entries == 3 && p.n_prefixes == 2) {
		CHECK_STR(p.entries[0].key, "dir/a b.txt");
		CHECK_INT(p.entries[0].size, 857);
		CHECK_STR(p.entries[0].etag, "599bab3ed2c697f1d26842727561fd94");
		CHECK_INT(s3_parse_iso8601("2013-09-17T18:07:53Z", &t), 0);
		CHECK_INT(p.entries[0].mtime_ns, t);
		CHECK_STR(p.entries[1].key, "dir/line\nbreak+plus");
		CHECK_INT(p.entries[1].size, 16777216000ULL);
		CHECK_STR(p.entries[1].etag, "e9a3f3a1c4f2b0c8d1ad2e5a7f0c9b11-3");
		CHECK_INT(p.entries[1].mtime_ns, t + 123000000);
		CHECK_STR(p.entries[2].key, "dir/\xc3\xa9t\xc3\xa9");
		CHECK_INT(p.entries[2].size, 0);
		CHECK_STR(p.prefixes[0], "dir/sub1/");
		CHECK_STR(p.prefixes[1], "dir/sub 2/");
	}
	CHECK_STR(p.next_token, "1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcROI4wI/EyIJg==");
	os_list_page_release(&p);

	/* last page, no namespace, no EncodingType: '+' and '%' are literal */
	load("list_v2_last.xml", &b);
	CHECK_INT(s3_xml_parse_list(b.data, b.len, &p, &err), 0);
	CHECK_INT(p.n_entries, 1);
	if (p.n_entries == 1)
		CHECK_STR(p.entries[0].key, "plain & simple+100%");
	CHECK(p.next_token == NULL);
	os_list_page_release(&p);

	load("list_v2_no_token.xml", &b);
	CHECK_INT(s3_xml_parse_list(b.data, b.len, &p, &err), EIO);
	CHECK(strstr(err.message, "NextContinuationToken") != NULL);

	/* an error document where a list was expected */
	load("error_rgw_nosuchbucket.xml", &b);
	CHECK_INT(s3_xml_parse_list(b.data, b.len, &p, &err), EREMOTEIO);
	CHECK_STR(err.code, "NoSuchBucket");
	buf_release(&b);
}

static void test_malformed(void)
{
	struct buf b = BUF_INIT;
	struct os_list_page p;
	struct s3_xml_error err;
	char etag[OS_ETAG_MAX];

	load("malformed_truncated.xml", &b);
	CHECK_INT(s3_xml_parse_list(b.data, b.len, &p, &err), EIO);
	CHECK(strncmp(err.message, "malformed XML response: ", 24) == 0);
	CHECK(strlen(err.message) > 24);
	CHECK_STR(err.code, "");
	CHECK_INT(s3_xml_parse_error(b.data, b.len, &err), EIO);

	load("not_xml.html", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), EIO);
	CHECK(strstr(err.message, "unexpected XML response") != NULL);
	CHECK_INT(s3_xml_parse_error(b.data, b.len, &err), EIO);

	CHECK_INT(s3_xml_parse_list("", 0, &p, &err), EIO);
	CHECK_INT(s3_xml_parse_list("garbage", 7, &p, &err), EIO);
	/* a bad escape in a URL-encoded key */
	{
		static const char bad[] = "<ListBucketResult><EncodingType>url</EncodingType>"
					  "<Contents><Key>a%zz</Key></Contents>"
					  "</ListBucketResult>";

		CHECK_INT(s3_xml_parse_list(bad, strlen(bad), &p, &err), EIO);
	}
	buf_release(&b);
}

static void test_results(void)
{
	struct buf b = BUF_INIT;
	struct s3_xml_error err;
	char etag[OS_ETAG_MAX];
	char *id = NULL;

	load("initiate_mpu.xml", &b);
	CHECK_INT(s3_xml_parse_upload_id(b.data, b.len, &id, &err), 0);
	CHECK_STR(id, "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
	free(id);

	load("complete_mpu.xml", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), 0);
	CHECK_STR(str(etag), "3858f62230ac3c915f300c664312c11f-9");
	/* radosgw's completion has an empty ETag: still a success */
	load("complete_mpu_rgw_empty_etag.xml", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), 0);
	CHECK_STR(str(etag), "");
	load("initiate_mpu.xml", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), EIO);
	load("copy_object.xml", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), 0);
	CHECK_STR(str(etag), "9b2cf535f27731c974343645a3985328");
	load("copy_part.xml", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), 0);
	CHECK_STR(str(etag), "9b2cf535f27731c974343645a3985328");

	/* <Error> inside a 200 must not look like success */
	load("complete_mpu_error_in_200.xml", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), EREMOTEIO);
	CHECK_STR(err.code, "InternalError");
	CHECK_STR(err.message, "We encountered an internal error. Please try again.");
	load("copy_object_error_in_200.xml", &b);
	CHECK_INT(s3_xml_parse_etag(b.data, b.len, etag, &err), EREMOTEIO);
	CHECK_STR(err.code, "SlowDown");
	/* an upload id from an error is no upload id */
	CHECK_INT(s3_xml_parse_upload_id(b.data, b.len, &id, &err), EREMOTEIO);
	CHECK(id == NULL);

	load("error_nosuchkey.xml", &b);
	CHECK_INT(s3_xml_parse_error(b.data, b.len, &err), 0);
	CHECK_STR(err.code, "NoSuchKey");
	CHECK_STR(err.message, "The resource you requested does not exist");
	load("error_rgw_nosuchbucket.xml", &b);
	CHECK_INT(s3_xml_parse_error(b.data, b.len, &err), 0);
	CHECK_STR(err.code, "NoSuchBucket");
	CHECK_STR(err.message, "");
	buf_release(&b);
}

static void test_delete_and_uploads(void)
{
	struct buf b = BUF_INIT;
	struct s3_xml_error err, first;
	struct os_upload_list ul = { NULL, 0 };
	char *nk, *ni;
	size_t n;

	load("delete_result.xml", &b);
	CHECK_INT(s3_xml_parse_delete(b.data, b.len, &n, &first, &err), 0);
	CHECK_INT(n, 2);	/* NoSuchKey is not an error of a delete */
	CHECK_STR(first.code, "AccessDenied");
	CHECK_STR(first.message, "Access Denied");
	load("delete_result_quiet.xml", &b);
	CHECK_INT(s3_xml_parse_delete(b.data, b.len, &n, &first, &err), 0);
	CHECK_INT(n, 0);

	load("list_uploads.xml", &b);
	CHECK_INT(s3_xml_parse_uploads(b.data, b.len, &ul, &nk, &ni, &err), 0);
	CHECK_INT(ul.n, 2);
	if (ul.n == 2) {
		CHECK_STR(ul.uploads[0].key, "my-divisor");
		CHECK_STR(ul.uploads[1].key, "my movie.m2ts");
		CHECK_STR(ul.uploads[1].upload_id,
			  "VXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
	}
	CHECK_STR(nk, "my movie.m2ts");
	CHECK_STR(ni, "YW55IGlkZWEgd2h5IGVsdmluZydzIHVwbG9hZCBmYWlsZWQ");
	free(nk);
	free(ni);
	/* a second page appends */
	CHECK_INT(s3_xml_parse_uploads(b.data, b.len, &ul, &nk, &ni, &err), 0);
	CHECK_INT(ul.n, 4);
	free(nk);
	free(ni);
	os_upload_list_release(&ul);
	buf_release(&b);
}

static void test_bodies(void)
{
	const struct os_part parts[] = { { 1, "aaa" }, { 2, "bbb-2" } };
	const char *keys[] = { "a&b", "<x>", "q\"'", "tab\tnl\ncr\r", "\xc3\xa9" };
	const char *bad[] = { "ok", "ctl\x01" };
	struct buf b = BUF_INIT;

	CHECK_INT(s3_xml_complete_body(&b, parts, 2), 0);
	CHECK_STR(b.data, "<CompleteMultipartUpload>"
		  "<Part><PartNumber>1</PartNumber><ETag>\"aaa\"</ETag></Part>"
		  "<Part><PartNumber>2</PartNumber><ETag>\"bbb-2\"</ETag></Part>"
		  "</CompleteMultipartUpload>");
	buf_reset(&b);
	CHECK_INT(s3_xml_delete_body(&b, keys, 5, true), 0);
	CHECK_STR(b.data, "<Delete><Quiet>true</Quiet>"
		  "<Object><Key>a&amp;b</Key></Object>"
		  "<Object><Key>&lt;x&gt;</Key></Object>"
		  "<Object><Key>q&quot;&apos;</Key></Object>"
		  "<Object><Key>tab&#9;nl&#10;cr&#13;</Key></Object>"
		  "<Object><Key>\xc3\xa9</Key></Object></Delete>");
	buf_reset(&b);
	CHECK_INT(s3_xml_delete_body(&b, bad, 2, false), EILSEQ);
	buf_release(&b);
}

static void test_helpers(void)
{
	char s1[] = "a%2Fb+c%41%c3%a9", s2[] = "bad%4", s3[] = "%";
	char etag[OS_ETAG_MAX];
	int64_t ns;

	CHECK_INT(s3_url_decode(s1), 0);
	CHECK_STR(str(s1), "a/b cA\xc3\xa9");
	CHECK_INT(s3_url_decode(s2), EINVAL);
	CHECK_INT(s3_url_decode(s3), EINVAL);
	CHECK_INT(s3_parse_iso8601("1970-01-01T00:00:01.5Z", &ns), 0);
	CHECK_INT(ns, 1500000000);
	CHECK_INT(s3_parse_iso8601("2009-10-12T17:50:30.000Z", &ns), 0);
	CHECK_INT(ns, 1255369830LL * 1000000000);
	CHECK_INT(s3_parse_iso8601("yesterday", &ns), EINVAL);
	/* found by fuzz_s3_xml: nanoseconds past 2262 overflow int64 */
	CHECK_INT(s3_parse_iso8601("64903572473-01-01T00:00:00Z", &ns), EINVAL);
	s3_etag_copy(etag, "\"abc\"", 5);
	CHECK_STR(str(etag), "abc");
	s3_etag_copy(etag, "W/\"abc\"", 7);
	CHECK_STR(str(etag), "abc");
	s3_etag_copy(etag, "abc", 3);
	CHECK_STR(str(etag), "abc");
}

int main(void)
{
	s3_xml_init();
	test_list();
	test_malformed();
	test_results();
	test_delete_and_uploads();
	test_bodies();
	test_helpers();
	return check_exit();
}

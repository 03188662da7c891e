/*
 * test_s3_errmap.c - the one mapping of (CURLcode, HTTP status, S3 error
 * code) to errno, s3_error_map(), and its log line (operation, key, code
 * and message; one line even for keys with newlines).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "objstore/s3_http.h"
#include "util/log.h"
#include "check.h"

struct row {
	int curl_code;
	int os_errno;
	long status;
	const char *code;
	int want;
};

static const struct row table[] = {
	/* S3 error codes decide first */
	{ 0, 0, 404, "NoSuchKey", ENOENT },
	{ 0, 0, 404, "NoSuchBucket", ENOENT },
	{ 0, 0, 404, "NoSuchUpload", ENOENT },
	{ 0, 0, 403, "AccessDenied", EACCES },
	{ 0, 0, 403, "SignatureDoesNotMatch", EACCES },
	{ 0, 0, 403, "InvalidAccessKeyId", EACCES },
	{ 0, 0, 403, "RequestTimeTooSkewed", EACCES },
	{ 0, 0, 400, "AuthorizationHeaderMalformed", EACCES },
	{ 0, 0, 412, "PreconditionFailed", ESTALE },
	{ 0, 0, 416, "InvalidRange", EINVAL },
	{ 0, 0, 503, "SlowDown", EAGAIN },
	{ 0, 0, 400, "RequestTimeout", EAGAIN },
	{ 0, 0, 500, "InternalError", EAGAIN },
	{ 0, 0, 409, "OperationAborted", EAGAIN },
	{ 0, 0, 409, "BucketNotEmpty", ENOTEMPTY },
	{ 0, 0, 409, "BucketAlreadyExists", EEXIST },
	{ 0, 0, 400, "KeyTooLongError", ENAMETOOLONG },
	{ 0, 0, 400, "EntityTooSmall", EINVAL },
	{ 0, 0, 400, "InvalidPart", EINVAL },
	{ 0, 0, 400, "MalformedXML", EINVAL },
	{ 0, 0, 400, "BadDigest", EIO },
	{ 0, 0, 400, "IncompleteBody", ECONNRESET },
	{ 0, 0, 403, "QuotaExceeded", EDQUOT },
	/* an <Error> inside a 200 is an error, never success */
	{ 0, 0, 200, "InternalError", EAGAIN },
	{ 0, 0, 200, "AccessDenied", EACCES },
	{ 0, 0, 200, "SomethingNew", EIO },
	{ 0, 0, 200, NULL, EIO },	/* e.g. malformed XML in a 200 */
	/* unknown code or none (HEAD has no body): the status decides */
	{ 0, 0, 404, NULL, ENOENT },
	{ 0, 0, 403, "", EACCES },
	{ 0, 0, 401, NULL, EACCES },
	{ 0, 0, 412, NULL, ESTALE },
	{ 0, 0, 416, NULL, EINVAL },
	{ 0, 0, 400, "Unheard", EINVAL },
	{ 0, 0, 408, NULL, EAGAIN },
	{ 0, 0, 429, NULL, EAGAIN },
	{ 0, 0, 500, NULL, EAGAIN },
	{ 0, 0, 502, NULL, EAGAIN },
	{ 0, 0, 503, NULL, EAGAIN },
	{ 0, 0, 504, NULL, EAGAIN },
	{ 0, 0, 501, NULL, EIO },
	{ 0, 0, 301, "PermanentRedirect", EIO },
	{ 0, 0, 405, NULL, EIO },
	{ 0, 0, 0, NULL, EIO },
	/* transport */
	{ CURLE_COULDNT_CONNECT, ECONNREFUSED, 0, NULL, ECONNREFUSED },
	{ CURLE_COULDNT_CONNECT, 0, 0, NULL, ECONNREFUSED },
	{ CURLE_COULDNT_CONNECT, EHOSTUNREACH, 0, NULL, EHOSTUNREACH },
	{ CURLE_COULDNT_CONNECT, ENETUNREACH, 0, NULL, EHOSTUNREACH },
	{ CURLE_COULDNT_CONNECT, ETIMEDOUT, 0, NULL, ETIMEDOUT },
	{ CURLE_COULDNT_RESOLVE_HOST, 0, 0, NULL, EHOSTUNREACH },
	{ CURLE_OPERATION_TIMEDOUT, 0, 0, NULL, ETIMEDOUT },
	{ CURLE_OPERATION_TIMEDOUT, 0, 200, NULL, ETIMEDOUT },	/* stalled body */
	{ CURLE_SEND_ERROR, ECONNRESET, 0, NULL, ECONNRESET },
	{ CURLE_RECV_ERROR, 0, 0, NULL, ECONNRESET },
	{ CURLE_PARTIAL_FILE, 0, 206, NULL, ECONNRESET },	/* truncated body */
	{ CURLE_GOT_NOTHING, 0, 0, NULL, ECONNRESET },
	{ CURLE_PEER_FAILED_VERIFICATION, 0, 0, NULL, EPROTO },
	{ CURLE_SSL_CONNECT_ERROR, 0, 0, NULL, EPROTO },
	{ CURLE_SSL_CACERT_BADFILE, 0, 0, NULL, EPROTO },
	{ CURLE_WEIRD_SERVER_REPLY, 0, 0, NULL, EPROTO },
	{ CURLE_URL_MALFORMAT, 0, 0, NULL, EINVAL },
	{ CURLE_OUT_OF_MEMORY, 0, 0, NULL, ENOMEM },
	{ CURLE_RANGE_ERROR, 0, 200, NULL, EIO },
	{ CURLE_WRITE_ERROR, 0, 200, NULL, EIO },
};

static void test_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];
		int got = s3_error_map("get", "k", r->curl_code, "curl detail", r->os_errno,
				       r->status, r->code, "msg");

		if (!CHECK_INT(got, r->want))
			fprintf(stderr, "  row %zu: curl %d status %ld code %s: got %s\n", i,
				r->curl_code, r->status, r->code ? r->code : "-", strerror(got));
	}
}

static void test_transient_split(void)
{
	/* what the retry wrapper retries, and what it must not */
	CHECK(os_error_is_transient(s3_error_map("put", "k", 0, NULL, 0, 503, "SlowDown", "")));
	CHECK(os_error_is_transient(s3_error_map("get", "k", CURLE_PARTIAL_FILE, "x", 0, 206,
						 NULL, NULL)));
	CHECK(!os_error_is_transient(s3_error_map("get", "k", 0, NULL, 0, 403,
						  "SignatureDoesNotMatch", "")));
	CHECK(!os_error_is_transient(s3_error_map("get", "k", CURLE_PEER_FAILED_VERIFICATION,
						  "SSL certificate problem", 0, 0, NULL, NULL)));
}

/* Runs s3_error_map with stderr captured; returns the captured text. */
static void capture(struct buf *out, const char *op, const char *key, int cc,
		    const char *cmsg, long status, const char *code, const char *msg)
{
	char path[] = "/tmp/test_s3_errmap.XXXXXX";
	char chunk[1024];
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	if (fd < 0 || saved < 0) {
		CHECK(!"cannot capture stderr");
		return;
	}
	fflush(stderr);
	dup2(fd, 2);
	s3_error_map(op, key, cc, cmsg, 0, status, code, msg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	buf_reset(out);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(out, chunk, (size_t)n);
	close(fd);
	unlink(path);
}

static void test_log_line(void)
{
	struct buf b = BUF_INIT;
	size_t nl = 0, i;

	capture(&b, "get", "dir/file.txt", 0, NULL, 403, "SignatureDoesNotMatch",
		"The request signature we calculated does not match");
	CHECK(b.data && strstr(b.data, "s3 get dir/file.txt:") != NULL);
	CHECK(b.data && strstr(b.data, "HTTP 403 SignatureDoesNotMatch: The request") != NULL);
	CHECK(b.data && strstr(b.data, "Permission denied") != NULL);

	capture(&b, "check", "bucket", CURLE_PEER_FAILED_VERIFICATION,
		"SSL certificate problem: self-signed certificate", 0, NULL, NULL);
	CHECK(b.data && strstr(b.data, "self-signed certificate") != NULL);
	CHECK(b.data && strstr(b.data, "ca_file") != NULL);

	/* a key with a newline still gives exactly one line */
	capture(&b, "put", "evil\nkey", 0, NULL, 500, "InternalError", "try again");
	for (i = 0; b.data && i < b.len; i++)
		nl += b.data[i] == '\n';
	CHECK_INT(nl, 1);
	CHECK(b.data && strstr(b.data, "evil?key") != NULL);

	/* a missing key is routine: not printed at the default level */
	capture(&b, "head", "nothing", 0, NULL, 404, NULL, NULL);
	CHECK_INT(b.len, 0);
	buf_release(&b);
}

int main(void)
{
	log_init("test_s3_errmap", LOG_CRIT);	/* the table's lines are noise */
	test_table();
	test_transient_split();
	log_init("test_s3_errmap", LOG_NOTICE);
	test_log_line();
	return check_exit();
}

/*
 * test_source.c - os_source_parse() / os_source_format(): every accepted
 * form, the canonical round trip, and one-line errors for bad input; and
 * os_open(): the stack it builds over a local-directory store (no network).
 */
#include "config.h"
#include "objstore/objstore_impl.h"
#include "objstore/source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

/* Parses text, expects success with the given fields and the canonical
 * form `canon`, and checks that canon parses to the same fields. */
static void ok(const char *text, enum os_kind kind, const char *root, const char *bucket,
	       const char *prefix, const char *canon)
{
	struct os_source src, again;
	char err[256] = "";
	char *fmt;

	if (!CHECK_INT(os_source_parse(text, &src, err, sizeof(err)), 0)) {
		fprintf(stderr, "  %s: %s\n", text, err);
		return;
	}
	CHECK_INT(src.kind, kind);
	CHECK(root ? src.root && strcmp(src.root, root) == 0 : src.root == NULL);
	CHECK_STR(src.bucket, bucket);
	CHECK_STR(src.prefix, prefix);
	fmt = os_source_format(&src);
	if (CHECK_STR(fmt, canon) &&
	    CHECK_INT(os_source_parse(fmt, &again, err, sizeof(err)), 0)) {
		CHECK_INT(again.kind, src.kind);
		CHECK_STR(again.bucket, src.bucket);
		CHECK_STR(again.prefix, src.prefix);
		CHECK(!src.root || (again.root && strcmp(again.root, src.root) == 0));
		os_source_release(&again);
	} else {
		fprintf(stderr, "  %s formatted as %s\n", text, fmt ? fmt : "(null)");
	}
	free(fmt);
	os_source_release(&src);
	CHECK(src.bucket == NULL && src.prefix == NULL && src.root == NULL);
}

/* Expects EINVAL and a message containing `msg`, on one line. */
static void bad(const char *text, const char *msg)
{
	struct os_source src;
	char err[256] = "";

	CHECK_INT(os_source_parse(text, &src, err, sizeof(err)), EINVAL);
	if (!CHECK(strstr(err, msg) != NULL))
		fprintf(stderr, "  %s: got '%s', want '%s'\n", text ? text : "(null)", err, msg);
	CHECK(strchr(err, '\n') == NULL);
	CHECK(src.bucket == NULL && src.prefix == NULL && src.root == NULL);
}

static void test_s3_forms(void)
{
	ok("my-bucket", OS_KIND_S3, NULL, "my-bucket", "", "s3://my-bucket");
	ok("my.bucket.1:/a/b", OS_KIND_S3, NULL, "my.bucket.1", "a/b/", "s3://my.bucket.1/a/b/");
	ok("bkt:/a/b/", OS_KIND_S3, NULL, "bkt", "a/b/", "s3://bkt/a/b/");
	ok("bkt:a", OS_KIND_S3, NULL, "bkt", "a/", "s3://bkt/a/");
	ok("bkt:/", OS_KIND_S3, NULL, "bkt", "", "s3://bkt");
	ok("bkt:", OS_KIND_S3, NULL, "bkt", "", "s3://bkt");
	ok("s3://bkt", OS_KIND_S3, NULL, "bkt", "", "s3://bkt");
	ok("s3://bkt/", OS_KIND_S3, NULL, "bkt", "", "s3://bkt");
	ok("s3://bkt/x", OS_KIND_S3, NULL, "bkt", "x/", "s3://bkt/x/");
	ok("S3://bkt/x/y z/", OS_KIND_S3, NULL, "bkt", "x/y z/", "s3://bkt/x/y z/");
	ok("s3://123/...a/", OS_KIND_S3, NULL, "123", "...a/", "s3://123/...a/");
	ok("s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", OS_KIND_S3,
	   NULL, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	   "", "s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	ok("1.2.3", OS_KIND_S3, NULL, "1.2.3", "", "s3://1.2.3");
}

static void test_local_forms(void)
{
	ok("file:///data/bkt", OS_KIND_LOCAL, "/data", "bkt", "", "file:///data/bkt");
	ok("file:///data/sub/My_Bucket/", OS_KIND_LOCAL, "/data/sub", "My_Bucket", "",
	   "file:///data/sub/My_Bucket");
	ok("file:///bkt", OS_KIND_LOCAL, "/", "bkt", "", "file:///bkt");
	ok("FILE:///tmp/x", OS_KIND_LOCAL, "/tmp", "x", "", "file:///tmp/x");
}

static void test_bad_buckets(void)
{
	bad("", "empty source");
	bad(NULL, "empty source");
	bad("ab", "invalid bucket name 'ab': must be 3 to 63");
	bad("s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "must be 3 to 63");
	bad("My-Bucket", "invalid bucket name 'My-Bucket': S3 bucket names are lowercase");
	bad("my_bucket", "only lowercase letters, digits");
	bad("s3://my bucket", "only lowercase letters, digits");
	bad("-bucket", "must start and end with a letter or digit");
	bad("bucket.", "must start and end with a letter or digit");
	bad("my..bucket", "must not contain '..'");
	bad("192.168.5.4", "must not be an IP address");
	bad("s3://", "invalid bucket name '': must be 3 to 63");
	bad("s3:///prefix", "invalid bucket name ''");
}

static void test_bad_prefixes(void)
{
	bad("bkt:/a//b", "invalid prefix 'a//b': empty, '.' and '..'");
	bad("bkt://a", "unknown scheme 'bkt://'");
	bad("bkt:/a/../b", "invalid prefix");
	bad("bkt:/./a", "invalid prefix");
	bad("s3://bkt//a", "invalid prefix");
	bad("s3://bkt/a/.", "invalid prefix");
	bad("s3://bkt/a//", "invalid prefix");
	bad("http://host/bkt", "unknown scheme 'http://'");
}

static void test_bad_local(void)
{
	bad("file://data/bkt", "file:// source must be an absolute path");
	bad("file://", "file:// source must be an absolute path");
	bad("file:///", "file:// source needs a bucket directory");
	bad("file:////", "file:// source needs a bucket directory");
	bad("file:///data//bkt", "has an empty, '.' or '..' path segment");
	bad("file:///data/../bkt", "has an empty, '.' or '..' path segment");
	bad("file:///data/..", "has an empty, '.' or '..' path segment");
	bad("file:///data/.", "has an empty, '.' or '..' path segment");
}

static void test_long_prefix(void)
{
	char text[1200] = "bkt:/";

	memset(text + 5, 'x', 1100);
	text[1105] = '\0';
	bad(text, "longer than 1024 bytes");
}

/* The names of the layers of s, outermost first: "retry/fault/local". */
static void stack_names(struct objstore *s, char *out, size_t len)
{
	out[0] = '\0';
	for (; s; s = s->inner)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? "/" : "",
			 s->ops->name);
}

/* Opens text with cfg; returns the errno and the layer names in names. */
static int open_stack(const char *text, const struct os_config *cfg, char *names,
		      char *err, struct objstore **out)
{
	struct os_source src;
	int rc;

	*out = NULL;
	names[0] = err[0] = '\0';
	rc = os_source_parse(text, &src, err, 256);
	if (rc)
		return rc;
	rc = os_open(&src, cfg, out, err, 256);
	if (!rc)
		stack_names(*out, names, 64);
	os_source_release(&src);
	return rc;
}

static void test_open(void)
{
	char dir[] = "/tmp/test_source.XXXXXX";
	char text[128], names[64], err[256], id[160];
	struct os_config cfg = { 0 };
	struct os_stat st;
	struct objstore *s;

	if (!CHECK(mkdtemp(dir) != NULL))
		return;
	snprintf(text, sizeof(text), "%s/bkt", dir);
	CHECK_INT(mkdir(text, 0700), 0);
	snprintf(text, sizeof(text), "file://%s/bkt", dir);
	snprintf(id, sizeof(id), "file://%s/bkt", dir);
	unsetenv("LITHFS_FAULTS");
	snprintf(id, sizeof(id), "%s/journal", dir);	/* the upload journal */
	setenv("LITHFS_JOURNAL_DIR", id, 1);
	snprintf(id, sizeof(id), "file://%s/bkt", dir);

	if (CHECK_INT(open_stack(text, NULL, names, err, &s), 0)) {
		CHECK(strcmp(names, "journal/retry/local") == 0);
		CHECK(strcmp(os_id(s), id) == 0);
		CHECK_INT(os_put(s, "k", "hello", 5, NULL, NULL), 0);
		if (CHECK_INT(os_head(s, "k", &st), 0)) {
			CHECK_INT(st.size, 5);
			os_stat_release(&st);
		}
		os_destroy(s);
	}
	cfg.faults = "rate=1,ops=head,kinds=eio";
	if (CHECK_INT(open_stack(text, &cfg, names, err, &s), 0)) {
		CHECK(strcmp(names, "journal/retry/fault/local") == 0);
		CHECK_INT(os_head(s, "k", &st), EIO);	/* injected, not retried */
		os_destroy(s);
	}
	cfg.faults = NULL;
	setenv("LITHFS_FAULTS", "rate=1,ops=head,kinds=eio", 1);
	if (CHECK_INT(open_stack(text, &cfg, names, err, &s), 0)) {
		CHECK(strcmp(names, "journal/retry/fault/local") == 0);
		os_destroy(s);
	}
	setenv("LITHFS_FAULTS", "nonsense=1", 1);
	CHECK(open_stack(text, &cfg, names, err, &s) != 0 && s == NULL);
	CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
	unsetenv("LITHFS_FAULTS");

	/* timeouts from the environment: checked even when the store has no use for them */
	setenv("LITHFS_IO_TIMEOUT", "0.5", 1);
	setenv("LITHFS_CONNECT_TIMEOUT", "2", 1);
	if (CHECK_INT(open_stack(text, &cfg, names, err, &s), 0))
		os_destroy(s);
	setenv("LITHFS_IO_TIMEOUT", "5s", 1);
	CHECK_INT(open_stack(text, &cfg, names, err, &s), EINVAL);
	CHECK(s == NULL && strstr(err, "LITHFS_IO_TIMEOUT") != NULL);
	unsetenv("LITHFS_IO_TIMEOUT");
	setenv("LITHFS_CONNECT_TIMEOUT", "0", 1);
	CHECK_INT(open_stack(text, &cfg, names, err, &s), EINVAL);
	CHECK(s == NULL && strstr(err, "LITHFS_CONNECT_TIMEOUT") != NULL);
	cfg.connect_timeout_ms = 1000;	/* a configured value wins: the variable is not read */
	if (CHECK_INT(open_stack(text, &cfg, names, err, &s), 0))
		os_destroy(s);
	cfg.connect_timeout_ms = 0;
	unsetenv("LITHFS_CONNECT_TIMEOUT");

	snprintf(text, sizeof(text), "file://%s/missing", dir);
	CHECK(open_stack(text, &cfg, names, err, &s) != 0 && s == NULL);
	CHECK(strstr(err, "missing") != NULL);

	snprintf(text, sizeof(text), "rm -rf '%s'", dir);
	CHECK_INT(system(text), 0);
}

int main(void)
{
	test_s3_forms();
	test_local_forms();
	test_bad_buckets();
	test_bad_prefixes();
	test_bad_local();
	test_long_prefix();
	test_open();
	return check_exit();
}

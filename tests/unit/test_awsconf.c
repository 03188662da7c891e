/*
 * test_awsconf.c - AWS settings and the static part of the credentials
 * chain: INI dialect, precedence of options / environment / profiles,
 * endpoint validation, passwd and credentials file permissions.
 *
 * Everything runs in-process against the fixtures in tests/fixtures/aws and
 * files in a private temporary directory; AWS_* variables are set with
 * setenv(). Instance metadata is disabled or pointed at a closed loopback
 * port, so nothing leaves the host. (ECS/IMDS over HTTP: tests/integ/
 * awsconf-imds.sh.)
 */
#include "config.h"
#include "objstore/awsconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "util/buf.h"

#define FIXTURES LITHFS_SRCDIR "/tests/fixtures/aws"

static char tmpdir[] = "/tmp/test_awsconf.XXXXXX";

static const char *const aws_vars[] = {
	"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
};

/* A clean AWS environment: fixture config, a private 0600 copy of the
 * fixture credentials, no keys, no instance metadata. */
static void env_reset(void)
{
	char path[256];

	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", tmpdir, 1);
	setenv("AWS_CONFIG_FILE", FIXTURES "/config", 1);
	snprintf(path, sizeof(path), "%s/credentials", tmpdir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	chmod(path, 0600);
}

/* Writes text to tmpdir/name with mode; returns the path (static buffer). */
static const char *write_tmp(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
	chmod(path, mode);
	return path;
}

static void copy_fixture(const char *name)
{
	char src[512];
	struct buf text = BUF_INIT;
	FILE *f;
	char chunk[512];
	size_t n;

	snprintf(src, sizeof(src), "%s/%s", FIXTURES, name);
	f = fopen(src, "r");
	if (!f)
		abort();
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&text, chunk, n);
	fclose(f);
	write_tmp(name, text.data, 0600);
	buf_release(&text);
}

/* ------------------------------------------------------------------ INI */

static int collect(void *arg, const char *section, const char *sub, const char *key,
		   const char *value)
{
	return buf_appendf(arg, "[%s]%s%s %s=%s\n", section, sub ? "." : "", sub ? sub : "",
			   key, value);
}

static int stop_at_b(void *arg, const char *section, const char *sub, const char *key,
		     const char *value)
{
	(void)arg; (void)section; (void)sub; (void)value;
	return strcmp(key, "b") == 0 ? EEXIST : 0;
}

static void ini_ok(const char *text, const char *want)
{
	struct buf got = BUF_INIT;
	int line = -1;

	CHECK_INT(ini_parse(text, collect, &got, &line), 0);
	CHECK_INT(line, -1);
	if (!CHECK_STR(got.data ? got.data : "", want))
		fprintf(stderr, "  got:\n%s  want:\n%s", got.data ? got.data : "", want);
	buf_release(&got);
}

static void ini_bad(const char *text, int want_line)
{
	struct buf got = BUF_INIT;
	int line = -1;

	CHECK_INT(ini_parse(text, collect, &got, &line), EINVAL);
	if (!CHECK_INT(line, want_line))
		fprintf(stderr, "  line %d, want %d for: %s\n", line, want_line, text);
	buf_release(&got);
}

static void test_ini(void)
{
	int line = -1;

	ini_ok("", "");
	ini_ok("# only a comment\n; another\n\n", "");
	ini_ok("[default]\nregion = eu-west-1\n", "[default] region=eu-west-1\n");
	ini_ok("[default]\r\nRegion=us-east-2\r\n", "[default] region=us-east-2\n");
	ini_ok("[a]\nk = v # c\nk2 = v;not\nk3 = x\t; c\n",
	       "[a] k=v\n[a] k2=v;not\n[a] k3=x\n");
	ini_ok("[profile  x ]\nk: v\n", "[profile  x] k=v\n");
	ini_ok("[p]\ns3 =\n  endpoint_url = http://h:1\n\n\taddressing_style = path\nk = v\n"
	       "  # indented comment\n",
	       "[p] s3=\n[p].s3 endpoint_url=http://h:1\n[p].s3 addressing_style=path\n"
	       "[p] k=v\n");
	ini_ok("[p]\ns3 =\n  a = 1\n[q]\nb = 2\n", "[p] s3=\n[p].s3 a=1\n[q] b=2\n");
	ini_ok("[p]\nempty =\n", "[p] empty=\n");

	ini_bad("k = v\n", 1);				/* key before any section */
	ini_bad("[a]\nk = v\nno equals\n", 3);
	ini_bad("[a]\n= v\n", 2);			/* empty key */
	ini_bad("[a]\nk = v\n  indented = x\n", 3);	/* not under "s3 =" */
	ini_bad("# c\n[]\n", 2);
	ini_bad("[a\n", 1);
	ini_bad("[a]\r\nk=v\r\nbad\r\n", 3);
	ini_bad("[p]\ns3 =\n  a = 1\nk = v\n  b = 2\n", 5);	/* sub-section closed */

	CHECK_INT(ini_parse("[a]\na=1\nb=2\n", stop_at_b, NULL, &line), EEXIST);
}

/* ------------------------------------------------------------- settings */

static int resolve(const struct os_config *cfg, struct awsconf *c, char *err)
{
	int rc;

	err[0] = '\0';
	rc = awsconf_resolve(cfg, c, err, 256);
	if (rc)
		memset(c, 0, sizeof(*c));
	return rc;
}

/* Resolves cfg and checks each expectation that is not NULL (or -1 for
 * addressing); `line` is the caller's, for the failure report. */
static void conf_is(int line, const struct os_config *cfg, const char *profile,
		    const char *region, const char *endpoint, int addressing)
{
	int failed = check_failures;
	struct awsconf c;
	char err[256];

	if (CHECK_INT(resolve(cfg, &c, err), 0)) {
		CHECK(!profile || strcmp(c.profile, profile) == 0);
		CHECK(!region || strcmp(c.region, region) == 0);
		CHECK(!endpoint || strcmp(c.endpoint, endpoint) == 0);
		CHECK(addressing < 0 || (int)c.addressing == addressing);
		/* virtual-host addressing by default exactly for AWS endpoints */
		CHECK(c.endpoint_is_aws == (strstr(c.endpoint, ".amazonaws.com") != NULL));
		if (check_failures != failed)
			fprintf(stderr, "  line %d: got %s %s %s %d\n", line, c.profile, c.region,
				c.endpoint, (int)c.addressing);
		awsconf_release(&c);
	} else {
		fprintf(stderr, "  line %d: %s\n", line, err);
	}
}

static void test_defaults_and_profile(void)
{
	struct os_config cfg = { 0 };

	env_reset();
	setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
	conf_is(__LINE__, &cfg, "default", "us-east-1", "https://s3.us-east-1.amazonaws.com",
		OS_ADDR_VIRTUAL);
	env_reset();	/* the fixture's [default]: region eu-west-1 */
	conf_is(__LINE__, &cfg, "default", "eu-west-1", "https://s3.eu-west-1.amazonaws.com",
		OS_ADDR_VIRTUAL);
	cfg.region = "cn-north-1";
	conf_is(__LINE__, &cfg, NULL, NULL, "https://s3.cn-north-1.amazonaws.com.cn",
		OS_ADDR_VIRTUAL);
	cfg.region = NULL;
	cfg.addressing = OS_ADDR_PATH;	/* an explicit choice is kept on AWS */
	conf_is(__LINE__, &cfg, NULL, NULL, NULL, OS_ADDR_PATH);
}

static void test_region_precedence(void)
{
	struct os_config cfg = { 0 };
	struct awsconf c;
	char err[256];

	env_reset();
	setenv("AWS_DEFAULT_REGION", "ap-northeast-1", 1);	/* env beats profile */
	conf_is(__LINE__, &cfg, NULL, "ap-northeast-1", NULL, -1);
	setenv("AWS_REGION", "sa-east-1", 1);	/* AWS_REGION first */
	conf_is(__LINE__, &cfg, NULL, "sa-east-1", NULL, -1);
	cfg.region = "eu-central-1";	/* option beats env */
	conf_is(__LINE__, &cfg, NULL, "eu-central-1", "https://s3.eu-central-1.amazonaws.com",
		-1);
	cfg.region = "us east";
	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	CHECK(strstr(err, "invalid region 'us east'") != NULL);
}

static void test_endpoint_precedence(void)
{
	struct os_config cfg = { 0 };

	env_reset();
	cfg.profile = "dev";	/* s3 sub-section: endpoint and addressing_style */
	conf_is(__LINE__, &cfg, "dev", "us-west-2", "http://127.0.0.1:9000", OS_ADDR_VIRTUAL);
	cfg.profile = NULL;
	setenv("AWS_PROFILE", "minio", 1);	/* top-level endpoint_url, AUTO -> path */
	conf_is(__LINE__, &cfg, "minio", "minio-1", "http://minio.local:9000", OS_ADDR_PATH);
	setenv("AWS_ENDPOINT_URL", "http://generic:1", 1);	/* env beats profile */
	conf_is(__LINE__, &cfg, "minio", NULL, "http://generic:1", OS_ADDR_PATH);
	setenv("AWS_ENDPOINT_URL_S3", "https://s3only:2", 1);	/* _S3 beats generic */
	conf_is(__LINE__, &cfg, NULL, NULL, "https://s3only:2", -1);
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	conf_is(__LINE__, &cfg, NULL, NULL, "https://s3.minio-1.amazonaws.com", OS_ADDR_VIRTUAL);
	cfg.endpoint = "http://option:3";	/* the option beats all ... */
	cfg.profile = "dev";	/* ... and AWS_PROFILE; dev's addressing_style stays */
	conf_is(__LINE__, &cfg, "dev", NULL, "http://option:3", OS_ADDR_VIRTUAL);
	cfg.endpoint = "https://bucket.s3.us-west-2.amazonaws.com";
	cfg.profile = "minio";
	conf_is(__LINE__, &cfg, NULL, NULL, NULL, OS_ADDR_VIRTUAL);
}

static void test_profile_errors(void)
{
	struct os_config cfg = { 0 };
	struct awsconf c;
	char err[256];

	env_reset();
	cfg.profile = "nope";
	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	CHECK(strstr(err, "profile 'nope' not found in " FIXTURES "/config") != NULL);
	cfg.profile = "notaprofile";	/* "[notaprofile]" in config is not a profile */
	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	cfg.profile = NULL;
	setenv("AWS_PROFILE", "nope", 1);
	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	CHECK(strstr(err, "profile 'nope' not found") != NULL);
	setenv("AWS_PROFILE", "credsonly", 1);	/* only in the credentials file */
	if (CHECK_INT(resolve(&cfg, &c, err), 0))
		awsconf_release(&c);
	setenv("AWS_PROFILE", "badstyle", 1);
	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	CHECK(strstr(err, "invalid addressing_style 'sideways'") != NULL);
	unsetenv("AWS_PROFILE");
	setenv("AWS_CONFIG_FILE", FIXTURES "/config-malformed", 1);
	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	if (!CHECK(strstr(err, "config-malformed:4: malformed line") != NULL))
		fprintf(stderr, "  got: %s\n", err);
	setenv("AWS_CONFIG_FILE", tmpdir, 1);	/* a directory */
	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	CHECK(strstr(err, "cannot read") != NULL);
}

static void endpoint_ok(const char *url, const char *canon)
{
	struct os_config cfg = { .endpoint = url };
	struct awsconf c;
	char err[256];

	if (!CHECK_INT(resolve(&cfg, &c, err), 0)) {
		fprintf(stderr, "  %s: %s\n", url, err);
		return;
	}
	if (!CHECK_STR(c.endpoint, canon))
		fprintf(stderr, "  %s -> %s\n", url, c.endpoint);
	CHECK_INT(c.addressing, OS_ADDR_PATH);
	awsconf_release(&c);
}

static void endpoint_bad(const char *url, const char *msg)
{
	struct os_config cfg = { .endpoint = url };
	struct awsconf c;
	char err[256];

	CHECK_INT(resolve(&cfg, &c, err), EINVAL);
	if (!CHECK(strstr(err, msg) != NULL && strncmp(err, "invalid endpoint '", 18) == 0))
		fprintf(stderr, "  %s: got '%s', want '%s'\n", url, err, msg);
	CHECK(c.endpoint == NULL);
}

static void test_endpoint_validation(void)
{
	env_reset();
	endpoint_ok("http://127.0.0.1:7480", "http://127.0.0.1:7480");
	endpoint_ok("HTTPS://S3.Example.COM/", "https://s3.example.com");
	endpoint_ok("http://[::1]:7480", "http://[::1]:7480");
	endpoint_ok("http://minio_1:9000", "http://minio_1:9000");
	endpoint_ok("https://h:65535", "https://h:65535");

	endpoint_bad("ftp://h", "must start with http:// or https://");
	endpoint_bad("127.0.0.1:7480", "must start with http:// or https://");
	endpoint_bad("http://", "no host name");
	endpoint_bad("http://:80", "no host name");
	endpoint_bad("http://h/bucket", "must not have a path, query or fragment");
	endpoint_bad("http://h//", "must not have a path");
	endpoint_bad("http://h?x=1", "must not have a path");
	endpoint_bad("http://h:0", "port must be a number from 1 to 65535");
	endpoint_bad("http://h:65536", "port must be");
	endpoint_bad("http://h:", "port must be");
	endpoint_bad("http://h:80x", "unexpected character");
	endpoint_bad("http://user:pw@h", "user:password@ is not supported");
	endpoint_bad("http://h x", "unexpected character");
	endpoint_bad("http://[::1", "malformed IPv6 address");
}

/* ---------------------------------------------------------- credentials */

/* Resolves with cfg and creates a provider. Returns its errno; on success
 * copies the current credentials to *out and the source to src. */
static int creds(const struct os_config *cfg, struct s3_creds *out, char *src, char *err)
{
	struct awsconf conf;
	struct creds_provider *p;
	int rc;

	memset(out, 0, sizeof(*out));
	src[0] = err[0] = '\0';
	rc = awsconf_resolve(cfg, &conf, err, 256);
	if (rc)
		return rc;
	rc = creds_provider_create(cfg, &conf, &p, err, 256);
	if (!rc) {
		snprintf(src, 64, "%s", creds_source(p));
		rc = creds_get(p, out);
		creds_provider_destroy(p);
	}
	awsconf_release(&conf);
	return rc;
}

static void test_passwd_file(void)
{
	struct os_config cfg = { 0 };
	struct s3_creds c;
	char err[256], src[64], path[256];

	env_reset();
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);	/* passwd_file outranks these */
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	snprintf(path, sizeof(path), "%s", write_tmp("passwd", "# s3fs\n\nPWKEY:pwsecret\n"
						      "bkt:BKTKEY:bktsecret\n", 0644));
	cfg.passwd_file = path;
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "mode 0644") != NULL);
	CHECK(strstr(err, "run chmod 600") != NULL);
	CHECK(strstr(err, "pwsecret") == NULL);
	chmod(path, 0640);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	chmod(path, 0600);
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK_STR(c.access_key, "PWKEY");
		CHECK_STR(c.secret_key, "pwsecret");
		CHECK(c.session_token == NULL);
		CHECK_INT(c.expires, 0);
		CHECK(strncmp(src, "passwd file ", 12) == 0);
		s3_creds_release(&c);
	}
	chmod(path, 0400);
	cfg.bucket = "bkt";	/* the BUCKET: line beats the default line */
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK_STR(c.access_key, "BKTKEY");
		CHECK_STR(c.secret_key, "bktsecret");
		s3_creds_release(&c);
	}
	cfg.bucket = "other";
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK_STR(c.access_key, "PWKEY");
		s3_creds_release(&c);
	}
	write_tmp("passwd", "bkt:BKTKEY:bktsecret\n", 0600);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "no line for bucket 'other'") != NULL);
	write_tmp("passwd", "# c\nA:B\nno-colon-here\n", 0600);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "passwd:3: expected ACCESS_KEY:SECRET_KEY") != NULL);
	write_tmp("passwd", "A:B:C:D\n", 0600);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	write_tmp("passwd", ":secret\n", 0600);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	cfg.passwd_file = "/nonexistent/passwd";
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "cannot read passwd file /nonexistent/passwd") != NULL);
}

static void test_env_credentials(void)
{
	struct os_config cfg = { 0 };
	struct s3_creds c;
	char err[256], src[64];

	env_reset();
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not") != NULL);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK(strcmp(src, "environment") == 0);
		CHECK_STR(c.access_key, "AKIDENV");
		CHECK_STR(c.secret_key, "secretenv");
		CHECK_STR(c.session_token, "tokenenv");
		s3_creds_release(&c);
	}
	setenv("AWS_PROFILE", "dev", 1);	/* env keys beat AWS_PROFILE ... */
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK_STR(c.access_key, "AKIDENV");
		s3_creds_release(&c);
	}
	cfg.profile = "dev";	/* ... but not an explicit -o profile= */
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK(strcmp(src, "profile dev") == 0);
		CHECK_STR(c.access_key, "AKIDDEV");
		s3_creds_release(&c);
	}
	cfg.no_sign = true;	/* anonymous beats everything */
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK(strcmp(src, "anonymous") == 0);
		CHECK(c.access_key == NULL && c.secret_key == NULL);
		s3_creds_release(&c);
	}
}

static void test_profile_credentials(void)
{
	struct os_config cfg = { 0 };
	struct s3_creds c;
	char err[256], src[64], path[256];

	env_reset();
	snprintf(path, sizeof(path), "%s/credentials", tmpdir);
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {	/* CRLF credentials file */
		CHECK(strcmp(src, "profile default") == 0);
		CHECK_STR(c.access_key, "AKIDDEFAULT");
		CHECK_STR(c.secret_key, "secretdefault");
		CHECK(c.session_token == NULL);
		s3_creds_release(&c);
	}
	cfg.profile = "dev";
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK_STR(c.secret_key, "secretdev");
		CHECK_STR(c.session_token, "tokendev");
		s3_creds_release(&c);
	}
	cfg.profile = "minio";	/* keys in the config file */
	if (CHECK_INT(creds(&cfg, &c, src, err), 0)) {
		CHECK_STR(c.access_key, "CONFIGKEYMINIO");
		CHECK_STR(c.secret_key, "configsecret#notacomment");
		s3_creds_release(&c);
	}
	chmod(path, 0640);	/* group-readable credentials file */
	cfg.profile = "dev";
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "has mode 0640") != NULL && strstr(err, "run chmod 600") != NULL);
	CHECK(strstr(err, "secretdev") == NULL);
	cfg.profile = "minio";	/* its keys are not in that file: fine */
	CHECK_INT(creds(&cfg, &c, src, err), 0);
	s3_creds_release(&c);
	chmod(path, 0600);
	cfg.profile = "assume";
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "uses role_arn, which lithfs does not support") != NULL);
	cfg.profile = "ssokeys";	/* refused even with keys: AWS would use SSO */
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "uses sso_session") != NULL);
	cfg.profile = "halfkey";
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "has aws_access_key_id but no aws_secret_access_key") != NULL);
}

/* Time bounds are multiplied by LITHFS_TEST_SLOWDOWN (memcheck-unit.sh sets
 * it: under valgrind, curl alone takes seconds). */
static time_t slowdown(void)
{
	const char *v = getenv("LITHFS_TEST_SLOWDOWN");
	long n = v ? strtol(v, NULL, 10) : 1;

	return n > 1 ? (time_t)n : 1;
}

static void test_nothing_found(void)
{
	struct os_config cfg = { 0 };
	struct s3_creds c;
	char err[256], src[64];
	time_t t0;

	env_reset();
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strcmp(err, "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
		     "a profile in ~/.aws/credentials, -o passwd_file=, or -o no_sign for "
		     "public buckets)") == 0);
	/* an unreachable metadata service falls through fast to the same message */
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1", 1);
	t0 = time(NULL);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strncmp(err, "no AWS credentials found", 24) == 0);
	CHECK(time(NULL) - t0 <= 3 * slowdown());
	/* container variables pointing somewhere untrusted are refused */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://203.0.113.9/creds", 1);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https") != NULL);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.evil.example/creds", 1);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "must use https") != NULL);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.234/creds", 1);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "must use https") != NULL);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1@evil.example/", 1);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "must use https") != NULL);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);
	CHECK_INT(creds(&cfg, &c, src, err), EACCES);
	CHECK(strstr(err, "127.0.0.1:1") != NULL);
}

/* Many threads read static credentials at once (run under TSan/ASan). */
static void *reader(void *arg)
{
	struct creds_provider *p = arg;
	struct s3_creds c;
	long bad = 0;

	for (int i = 0; i < 2000; i++) {
		if (creds_get(p, &c) || !c.access_key || strcmp(c.access_key, "AKIDDEFAULT"))
			bad++;
		s3_creds_release(&c);
	}
	return (void *)bad;
}

static void test_threads(void)
{
	struct os_config cfg = { 0 };
	struct awsconf conf;
	struct creds_provider *p;
	pthread_t t[8];
	char err[256];
	void *bad;

	env_reset();
	if (!CHECK_INT(awsconf_resolve(&cfg, &conf, err, sizeof(err)), 0))
		return;
	if (CHECK_INT(creds_provider_create(&cfg, &conf, &p, err, sizeof(err)), 0)) {
		for (int i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, reader, p);
		for (int i = 0; i < 8; i++) {
			pthread_join(t[i], &bad);
			CHECK(bad == NULL);
		}
		creds_provider_destroy(p);
	}
	awsconf_release(&conf);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	copy_fixture("credentials");
	test_ini();
	test_defaults_and_profile();
	test_region_precedence();
	test_endpoint_precedence();
	test_profile_errors();
	test_endpoint_validation();
	test_passwd_file();
	test_env_credentials();
	test_profile_credentials();
	test_nothing_found();
	test_threads();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_exit();
}

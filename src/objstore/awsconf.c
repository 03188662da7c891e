/*
 * awsconf.c - AWS settings and credentials, found the way the AWS SDKs find
 * them (see awsconf.h for the precedence of every setting).
 *
 * Layout of this file, top to bottom:
 *   1. small helpers (environment, files, secrets hygiene)
 *   2. ini_parse(): the INI dialect of ~/.aws/config and ~/.aws/credentials
 *   3. profile_load(): one profile's keys out of both files
 *   4. awsconf_resolve(): endpoint, region, addressing
 *   5. static credentials: passwd file, environment, profile
 *   6. temporary credentials over HTTP: ECS container endpoint, EC2 IMDSv2,
 *      with the little JSON and ISO 8601 parsing their replies need
 *   7. the provider: chain at creation, refresh in creds_get()
 *
 * The provider state machine: creds_provider_create() walks the chain once
 * and fixes the kind (STATIC, ECS or IMDS). STATIC credentials never change.
 * ECS/IMDS credentials carry an expiry; creds_get() refetches them, holding
 * p->lock, once they expire within REFRESH_EARLY_S. A failed refresh keeps the
 * old credentials while they are still valid and waits RETRY_AFTER_S before
 * the next attempt, so many threads do not queue behind a dead endpoint.
 *
 * Secrets (secret keys, session tokens, container authorization tokens) never
 * reach a log line or an error message, and buffers that held them are wiped
 * before they are freed.
 */
#include "config.h"
#include "objstore/awsconf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

#define DEFAULT_REGION "us-east-1"
#define DEFAULT_PROFILE "default"
#define FILE_MAX (1 << 20)		/* larger config/passwd files are refused */
#define HTTP_BODY_MAX (64 << 10)	/* larger metadata replies are refused */
#define REFRESH_EARLY_S 300		/* refresh this long before expiry */
#define RETRY_AFTER_S 10		/* after a failed refresh */
#define META_CONNECT_MS 1000		/* IMDS / ECS: a non-EC2 host falls through fast */
#define META_TIMEOUT_MS 5000
#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_IPV6_ENDPOINT "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL "21600"
#define ECS_HOST "http://169.254.170.2"

#define NO_CREDS_MSG "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " \
	"a profile in ~/.aws/credentials, -o passwd_file=, or -o no_sign for public buckets)"

/* ---------------------------------------------------------------- helpers */

/* An environment variable, with "set but empty" treated as unset. */
static const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* Frees a string that may hold a secret, wiping it first. */
static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void buf_release_secret(struct buf *b)
{
	if (b->data)
		explicit_bzero(b->data, b->cap);
	buf_release(b);
}

/* Replaces *dst with a copy of src. 0 or ENOMEM. */
static int set_str(char **dst, const char *src)
{
	char *copy = strdup(src);

	if (!copy)
		return ENOMEM;
	free_secret(*dst);
	*dst = copy;
	return 0;
}

static char *trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The file named by env var `var`, else ~/.aws/NAME. "~/" is expanded.
 * Caller frees; NULL on ENOMEM or when no home directory is known. */
static char *aws_file_path(const char *var, const char *name)
{
	const char *path = env_get(var);
	const char *home = env_get("HOME");
	struct buf b = BUF_INIT;

	if (!home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (path && strncmp(path, "~/", 2) != 0)
		return strdup(path);
	if (!home)
		return NULL;
	if (path ? buf_appendf(&b, "%s/%s", home, path + 2) :
		   buf_appendf(&b, "%s/.aws/%s", home, name)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

/* Reads a whole regular file into out and returns its mode bits in *mode.
 * 0, or the errno of open/read (ENOENT when missing), EFBIG, EINVAL (not a
 * regular file). */
static int read_file(const char *path, struct buf *out, mode_t *mode)
{
	struct stat st;
	char chunk[4096];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0) {
		rc = errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = EINVAL;
		goto out_close;
	}
	*mode = st.st_mode & 07777;
	if (buf_append(out, "", 0)) {	/* "" rather than NULL for empty files */
		rc = ENOMEM;
		goto out_close;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = errno;
		else if (out->len + (size_t)n > FILE_MAX)
			rc = EFBIG;
		else if (buf_append(out, chunk, (size_t)n))
			rc = ENOMEM;
		if (rc)
			break;
	}
	explicit_bzero(chunk, sizeof(chunk));
out_close:
	close(fd);
	return rc;
}

/* ------------------------------------------------------------- INI parser */

struct ini_state {
	ini_fn fn;
	void *arg;
	char *section;		/* current section name, NULL before the first */
	char *sub;		/* current sub-section ("s3"), or NULL */
};

/* Cuts a comment that starts after whitespace: "value  # note". */
static void cut_inline_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if ((*p == '#' || *p == ';') && p > s && isspace((unsigned char)p[-1])) {
			*p = '\0';
			return;
		}
	}
}

/* One line, already NUL-terminated. 0, EINVAL (malformed) or fn's error. */
static int ini_line(struct ini_state *st, char *line)
{
	bool indented = isspace((unsigned char)line[0]);
	char *p = trim(line);
	char *eq, *key, *value;

	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	cut_inline_comment(p);
	p = trim(p);
	if (*p == '[') {
		size_t n = strlen(p);

		if (n < 3 || p[n - 1] != ']')
			return EINVAL;
		p[n - 1] = '\0';
		st->section = trim(p + 1);
		st->sub = NULL;
		return *st->section ? 0 : EINVAL;
	}
	eq = strpbrk(p, "=:");
	if (!st->section || !eq)
		return EINVAL;
	*eq = '\0';
	key = trim(p);
	value = trim(eq + 1);
	if (!*key)
		return EINVAL;
	for (char *k = key; *k; k++)
		*k = (char)tolower((unsigned char)*k);
	if (indented) {
		/* "  key = value" belongs to the sub-section opened by "s3 =" */
		if (!st->sub)
			return EINVAL;
		return st->fn(st->arg, st->section, st->sub, key, value);
	}
	st->sub = *value ? NULL : key;
	return st->fn(st->arg, st->section, NULL, key, value);
}

int ini_parse(const char *text, ini_fn fn, void *arg, int *bad_line)
{
	struct ini_state st = { fn, arg, NULL, NULL };
	char *copy = strdup(text);
	char *line, *next;
	int lineno = 0, rc = 0;

	if (!copy)
		return ENOMEM;
	for (line = copy; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		rc = ini_line(&st, line);
	}
	if (rc == EINVAL && bad_line)
		*bad_line = lineno;
	explicit_bzero(copy, strlen(text));
	free(copy);
	return rc;
}

/* ---------------------------------------------------------------- profiles */

/* What lithfs uses of one profile. Strings owned. */
struct aws_profile {
	bool found;		/* the section exists in either file */
	char *region;
	char *endpoint_url;
	char *s3_endpoint_url;	/* "s3 =" sub-section */
	char *s3_addressing;	/* "s3 =" sub-section addressing_style */
	char *access_key;
	char *secret_key;
	char *session_token;
	bool keys_in_creds_file;	/* the keys above came from the credentials file */
	const char *unsupported;	/* a credential key lithfs cannot use (static) */
	char *config_path;
	char *creds_path;
	mode_t creds_mode;
};

struct profile_ctx {
	const char *name;
	bool creds_file;	/* parsing the credentials file, not the config */
	struct aws_profile *prof;
};

static void profile_release(struct aws_profile *p)
{
	free(p->region);
	free(p->endpoint_url);
	free(p->s3_endpoint_url);
	free(p->s3_addressing);
	free(p->access_key);
	free_secret(p->secret_key);
	free_secret(p->session_token);
	free(p->config_path);
	free(p->creds_path);
	memset(p, 0, sizeof(*p));
}

/* The config file names profiles "[default]" or "[profile NAME]"; the
 * credentials file names them "[NAME]". */
static bool section_matches(const struct profile_ctx *ctx, const char *section)
{
	if (ctx->creds_file)
		return strcmp(section, ctx->name) == 0;
	if (strcmp(ctx->name, DEFAULT_PROFILE) == 0 && strcmp(section, DEFAULT_PROFILE) == 0)
		return true;
	if (strncmp(section, "profile", 7) != 0 || !isspace((unsigned char)section[7]))
		return false;
	section += 7;
	while (isspace((unsigned char)*section))
		section++;
	return strcmp(section, ctx->name) == 0;
}

/* Credential keys of profile types lithfs does not implement. */
static const char *unsupported_key(const char *key)
{
	static const char *const keys[] = {
		"role_arn", "credential_process", "sso_session", "sso_start_url",
		"web_identity_token_file",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return keys[i];
	return NULL;
}

static int profile_key(void *arg, const char *section, const char *sub, const char *key,
		       const char *value)
{
	struct profile_ctx *ctx = arg;
	struct aws_profile *p = ctx->prof;
	char **dst = NULL;

	if (!section_matches(ctx, section))
		return 0;
	p->found = true;
	if (sub) {
		if (strcmp(sub, "s3") == 0 && strcmp(key, "endpoint_url") == 0)
			dst = &p->s3_endpoint_url;
		else if (strcmp(sub, "s3") == 0 && strcmp(key, "addressing_style") == 0)
			dst = &p->s3_addressing;
	} else if (strcmp(key, "region") == 0) {
		dst = &p->region;
	} else if (strcmp(key, "endpoint_url") == 0) {
		dst = &p->endpoint_url;
	} else if (strcmp(key, "aws_access_key_id") == 0) {
		dst = &p->access_key;
	} else if (strcmp(key, "aws_secret_access_key") == 0) {
		dst = &p->secret_key;
	} else if (strcmp(key, "aws_session_token") == 0) {
		dst = &p->session_token;
	} else if (unsupported_key(key) && !p->unsupported) {
		p->unsupported = unsupported_key(key);
	}
	if (!dst || !*value)
		return 0;
	if (dst == &p->access_key || dst == &p->secret_key || dst == &p->session_token)
		p->keys_in_creds_file = ctx->creds_file;
	return set_str(dst, value);
}

/* Parses one file into prof. A missing file is not an error. */
static int profile_parse_file(const char *path, struct profile_ctx *ctx, mode_t *mode,
			      char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	int rc, line = 0;

	rc = read_file(path, &text, mode);
	if (rc == ENOENT) {
		rc = 0;
		goto out_release;
	}
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(rc));
		goto out_release;
	}
	rc = ini_parse(text.data, profile_key, ctx, &line);
	if (rc == EINVAL)
		snprintf(err, errlen, "%s:%d: malformed line (expected '[section]' or "
			 "'key = value')", path, line);
	else if (rc)
		snprintf(err, errlen, "cannot parse %s: %s", path, strerror(rc));
out_release:
	buf_release_secret(&text);
	return rc;
}

/* Loads profile `name` from the config file, then the credentials file
 * (whose keys take precedence). 0 or an errno with a message. */
static int profile_load(const char *name, struct aws_profile *prof, char *err,
			size_t errlen)
{
	struct profile_ctx ctx = { name, false, prof };
	mode_t mode;
	int rc;

	memset(prof, 0, sizeof(*prof));
	prof->config_path = aws_file_path("AWS_CONFIG_FILE", "config");
	prof->creds_path = aws_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	if (prof->config_path) {
		rc = profile_parse_file(prof->config_path, &ctx, &mode, err, errlen);
		if (rc)
			return rc;
	}
	if (prof->creds_path) {
		ctx.creds_file = true;
		rc = profile_parse_file(prof->creds_path, &ctx, &prof->creds_mode, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- settings */

static bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

static int endpoint_error(const char *url, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "invalid endpoint '%s': %s", url, why);
	return EINVAL;
}

/* Checks url is http(s)://HOST[:PORT][/] and stores the canonical form
 * (lower case, no trailing '/') in conf. */
static int endpoint_set(struct awsconf *conf, const char *url, char *err, size_t errlen)
{
	const char *host, *end;
	size_t hostlen, canon_len;
	struct buf b = BUF_INIT;

	if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else
		return endpoint_error(url, "must start with http:// or https://", err, errlen);
	if (strchr(host, '@'))
		return endpoint_error(url, "user:password@ is not supported; give credentials "
				      "with AWS_ACCESS_KEY_ID or a profile", err, errlen);
	if (*host == '[') {	/* IPv6 literal */
		end = host + 1 + strspn(host + 1, "0123456789abcdefABCDEF:.");
		if (*end != ']' || end == host + 1)
			return endpoint_error(url, "malformed IPv6 address", err, errlen);
		end++;
	} else {
		for (end = host; host_char(*end); end++)
			;
	}
	hostlen = (size_t)(end - host);
	if (hostlen == 0)
		return endpoint_error(url, "no host name", err, errlen);
	if (*end == ':') {
		size_t digits = strspn(end + 1, "0123456789");
		long port = digits && digits <= 5 ? strtol(end + 1, NULL, 10) : 0;

		if (port < 1 || port > 65535)
			return endpoint_error(url, "the port must be a number from 1 to 65535",
					      err, errlen);
		end += 1 + digits;
	}
	canon_len = (size_t)(end - url);
	if (*end == '/' && end[1] == '\0')
		end++;
	if (*end == '/' || *end == '?' || *end == '#')
		return endpoint_error(url, "must not have a path, query or fragment (name the "
				      "bucket in the source, not in the endpoint)", err, errlen);
	if (*end)
		return endpoint_error(url, "unexpected character in the host name", err, errlen);
	if (buf_append(&b, url, canon_len))
		goto out_nomem;
	for (size_t i = 0; i < b.len; i++)
		b.data[i] = (char)tolower((unsigned char)b.data[i]);
	free(conf->endpoint);
	conf->endpoint = buf_detach(&b);
	if (!conf->endpoint)
		goto out_nomem;
	conf->endpoint_is_aws = !strchr(host, '[') &&
		(ends_with(host, hostlen, ".amazonaws.com") ||
		 ends_with(host, hostlen, ".amazonaws.com.cn"));
	return 0;

out_nomem:
	buf_release(&b);
	snprintf(err, errlen, "out of memory");
	return ENOMEM;
}

static int region_check(const char *region, char *err, size_t errlen)
{
	size_t n = strspn(region, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789-_.");

	if (n == 0 || region[n] != '\0' || n > 64) {
		snprintf(err, errlen, "invalid region '%s': use letters, digits and '-' "
			 "(e.g. us-east-1)", region);
		return EINVAL;
	}
	return 0;
}

static int addressing_parse(const char *s, enum os_addressing *out, char *err, size_t errlen)
{
	if (strcasecmp(s, "auto") == 0)
		*out = OS_ADDR_AUTO;
	else if (strcasecmp(s, "path") == 0)
		*out = OS_ADDR_PATH;
	else if (strcasecmp(s, "virtual") == 0)
		*out = OS_ADDR_VIRTUAL;
	else {
		snprintf(err, errlen, "invalid addressing_style '%s' (use auto, path or virtual)", s);
		return EINVAL;
	}
	return 0;
}

/* The first non-NULL argument (NULL if all are). */
static const char *first_of(const char *a, const char *b, const char *c, const char *d)
{
	return a ? a : b ? b : c ? c : d;
}

/* Endpoint by precedence, else the AWS endpoint of the region. */
static int resolve_endpoint(struct awsconf *out, const struct os_config *cfg,
			    const struct aws_profile *prof, char *err, size_t errlen)
{
	const char *ignore = env_get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	const char *url = first_of(env_get("AWS_ENDPOINT_URL_S3"), env_get("AWS_ENDPOINT_URL"),
				   prof->s3_endpoint_url, prof->endpoint_url);
	char aws[128];

	/* the SDKs' switch to ignore endpoints from the environment and profile */
	if (ignore && strcasecmp(ignore, "true") == 0)
		url = NULL;
	if (cfg->endpoint)
		url = cfg->endpoint;

	if (!url) {
		snprintf(aws, sizeof(aws), "https://s3.%s.amazonaws.com%s", out->region,
			 strncmp(out->region, "cn-", 3) == 0 ? ".cn" : "");
		url = aws;
	}
	return endpoint_set(out, url, err, errlen);
}

int awsconf_resolve(const struct os_config *cfg, struct awsconf *out, char *err,
		    size_t errlen)
{
	const char *profile = first_of(cfg->profile, env_get("AWS_PROFILE"), NULL, NULL);
	struct aws_profile prof;
	enum os_addressing addr = cfg->addressing;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = profile_load(profile ? profile : DEFAULT_PROFILE, &prof, err, errlen);
	if (rc) {
		rc = EINVAL;
		goto out_release;
	}
	if (profile && !prof.found) {
		snprintf(err, errlen, "profile '%s' not found in %s or %s", profile,
			 prof.config_path ? prof.config_path : "~/.aws/config",
			 prof.creds_path ? prof.creds_path : "~/.aws/credentials");
		rc = EINVAL;
		goto out_release;
	}
	out->profile = strdup(profile ? profile : DEFAULT_PROFILE);
	out->region = strdup(first_of(cfg->region, env_get("AWS_REGION"),
				      env_get("AWS_DEFAULT_REGION"),
				      prof.region ? prof.region : DEFAULT_REGION));
	if (!out->profile || !out->region) {
		snprintf(err, errlen, "out of memory");
		rc = ENOMEM;
		goto out_release;
	}
	rc = region_check(out->region, err, errlen);
	if (!rc)
		rc = resolve_endpoint(out, cfg, &prof, err, errlen);
	if (!rc && addr == OS_ADDR_AUTO && prof.s3_addressing)
		rc = addressing_parse(prof.s3_addressing, &addr, err, errlen);
	if (rc)
		goto out_release;
	if (addr == OS_ADDR_AUTO)
		addr = out->endpoint_is_aws ? OS_ADDR_VIRTUAL : OS_ADDR_PATH;
	out->addressing = addr;
	profile_release(&prof);
	return 0;

out_release:
	profile_release(&prof);
	awsconf_release(out);
	return rc;
}

void awsconf_release(struct awsconf *c)
{
	free(c->endpoint);
	free(c->region);
	free(c->profile);
	memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------ static credentials */

enum creds_kind { CREDS_STATIC, CREDS_ECS, CREDS_IMDS };

struct creds_provider {
	enum creds_kind kind;
	char *source;		/* owned; for log lines, never a secret */
	char *url;		/* ECS: credentials URL; IMDS: endpoint base */
	char *ca_file;		/* owned; NULL = system CAs */
	pthread_mutex_t lock;
	struct s3_creds creds;	/* protected by lock */
	int64_t retry_at;	/* protected by lock: no refresh before this */
};

void s3_creds_release(struct s3_creds *c)
{
	free(c->access_key);
	free_secret(c->secret_key);
	free_secret(c->session_token);
	memset(c, 0, sizeof(*c));
}

/* Sets p's credentials and source. token may be NULL. 0 or ENOMEM. */
static int creds_set(struct creds_provider *p, const char *source, const char *access,
		     const char *secret, const char *token)
{
	if (set_str(&p->source, source) || set_str(&p->creds.access_key, access) ||
	    set_str(&p->creds.secret_key, secret) ||
	    (token && set_str(&p->creds.session_token, token)))
		return ENOMEM;
	return 0;
}

/* One line of an s3fs passwd file: ACCESS:SECRET or BUCKET:ACCESS:SECRET.
 * Splits it in place; *bucket is NULL for the default line. */
static bool passwd_split(char *line, char **bucket, char **access, char **secret)
{
	char *c1 = strchr(line, ':');
	char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

	if (!c1 || (c2 && strchr(c2 + 1, ':')))
		return false;
	*c1 = '\0';
	if (c2) {
		*c2 = '\0';
		*bucket = line;
		*access = c1 + 1;
		*secret = c2 + 1;
	} else {
		*bucket = NULL;
		*access = line;
		*secret = c1 + 1;
	}
	return **access && **secret && (!*bucket || **bucket);
}

/* Picks the line for `bucket` (s3fs rule: a BUCKET: line beats the default
 * line). text is modified. 0, or EACCES with a message. */
static int passwd_pick(struct creds_provider *p, char *text, const char *path,
		       const char *bucket, char *err, size_t errlen)
{
	char *line, *next, *b, *access, *secret;
	char *def_access = NULL, *def_secret = NULL;
	char source[256];
	int lineno = 0;

	snprintf(source, sizeof(source), "passwd file %s", path);
	for (line = text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		if (!passwd_split(line, &b, &access, &secret)) {
			snprintf(err, errlen, "%s:%d: expected ACCESS_KEY:SECRET_KEY or "
				 "BUCKET:ACCESS_KEY:SECRET_KEY", path, lineno);
			return EACCES;
		}
		if (b && bucket && strcmp(b, bucket) == 0)
			return creds_set(p, source, access, secret, NULL);
		if (!b && !def_access) {
			def_access = access;
			def_secret = secret;
		}
	}
	if (def_access)
		return creds_set(p, source, def_access, def_secret, NULL);
	snprintf(err, errlen, "%s has no line for bucket '%s' and no default "
		 "ACCESS_KEY:SECRET_KEY line", path, bucket ? bucket : "(none)");
	return EACCES;
}

static int creds_from_passwd(struct creds_provider *p, const char *path, const char *bucket,
			     char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	mode_t mode = 0;
	int rc;

	rc = read_file(path, &text, &mode);
	if (rc) {
		snprintf(err, errlen, "cannot read passwd file %s: %s", path, strerror(rc));
		rc = EACCES;
		goto out_release;
	}
	if (mode & 0177) {
		snprintf(err, errlen, "passwd file %s has mode %04o: it must be readable by its "
			 "owner only (run chmod 600 %s)", path, (unsigned)mode, path);
		rc = EACCES;
		goto out_release;
	}
	rc = passwd_pick(p, text.data, path, bucket, err, errlen);
out_release:
	buf_release_secret(&text);
	return rc;
}

/* 0, ENOENT (no keys in the environment) or EACCES. */
static int creds_from_env(struct creds_provider *p, char *err, size_t errlen)
{
	const char *access = env_get("AWS_ACCESS_KEY_ID");
	const char *secret = env_get("AWS_SECRET_ACCESS_KEY");
	const char *token = first_of(env_get("AWS_SESSION_TOKEN"), env_get("AWS_SECURITY_TOKEN"),
				     NULL, NULL);

	if (!access && !secret)
		return ENOENT;
	if (!access || !secret) {
		snprintf(err, errlen, "%s is set but %s is not", access ? "AWS_ACCESS_KEY_ID" :
			 "AWS_SECRET_ACCESS_KEY", access ? "AWS_SECRET_ACCESS_KEY" :
			 "AWS_ACCESS_KEY_ID");
		return EACCES;
	}
	return creds_set(p, "environment", access, secret, token);
}

/* 0, ENOENT (profile has no keys) or EACCES. */
static int creds_from_profile(struct creds_provider *p, const char *name, char *err,
			      size_t errlen)
{
	struct aws_profile prof;
	char source[256];
	int rc;

	rc = profile_load(name, &prof, err, errlen);
	if (rc) {
		rc = EACCES;
		goto out_release;
	}
	rc = ENOENT;
	if (!prof.access_key && !prof.secret_key && prof.unsupported) {
		snprintf(err, errlen, "profile '%s' uses %s, which lithfs does not support: "
			 "give it aws_access_key_id/aws_secret_access_key or use another "
			 "profile", name, prof.unsupported);
		rc = EACCES;
	} else if (!prof.access_key != !prof.secret_key) {
		snprintf(err, errlen, "profile '%s' has %s but no %s", name,
			 prof.access_key ? "aws_access_key_id" : "aws_secret_access_key",
			 prof.access_key ? "aws_secret_access_key" : "aws_access_key_id");
		rc = EACCES;
	} else if (prof.access_key && prof.keys_in_creds_file && (prof.creds_mode & 077)) {
		snprintf(err, errlen, "credentials file %s has mode %04o: it must not be "
			 "readable by group or others (run chmod 600 %s)", prof.creds_path,
			 (unsigned)prof.creds_mode, prof.creds_path);
		rc = EACCES;
	} else if (prof.access_key) {
		snprintf(source, sizeof(source), "profile %s", name);
		rc = creds_set(p, source, prof.access_key, prof.secret_key, prof.session_token);
	}
out_release:
	profile_release(&prof);
	return rc;
}

/* ------------------------------------------------------- HTTP credentials */

struct http_reply {
	struct buf body;
	long status;
	bool too_big;
};

static size_t http_write(char *data, size_t size, size_t n, void *arg)
{
	struct http_reply *r = arg;

	if (r->body.len + size * n > HTTP_BODY_MAX) {
		r->too_big = true;
		return 0;
	}
	return buf_append(&r->body, data, size * n) ? 0 : size * n;
}

/* One request with the short metadata timeouts and no proxy. put: a PUT
 * with an empty body instead of a GET. 0 with r->status set, or EIO
 * (transport failure, message in err). */
static int http_call(const struct creds_provider *p, const char *url, bool put,
		     struct curl_slist *headers, struct http_reply *r, char *err, size_t errlen)
{
	CURL *h = curl_easy_init();
	CURLcode cc;

	if (!h || buf_append(&r->body, "", 0)) {	/* body.data is never NULL */
		curl_easy_cleanup(h);
		snprintf(err, errlen, "cannot create an HTTP handle");
		return EIO;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)META_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)META_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	if (p->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, p->ca_file);
	if (put) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(h);
	if (r->too_big) {
		snprintf(err, errlen, "reply from %s is larger than %d bytes", url, HTTP_BODY_MAX);
		return EIO;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(cc));
		return EIO;
	}
	return 0;
}

/* --- JSON: just enough to read one flat object of strings --- */

struct json {
	const char *p;
	int depth;
};

#define JSON_DEPTH_MAX 16

static void json_ws(struct json *j)
{
	while (isspace((unsigned char)*j->p))
		j->p++;
}

static int json_utf8(struct buf *out, unsigned cp)
{
	char u[3];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	return out ? buf_append(out, u, n) : 0;
}

/* A string at j->p, decoded into out (out may be NULL to skip it). 0 or
 * EINVAL; surrogate pairs are refused (never in credentials). */
static int json_string(struct json *j, struct buf *out)
{
	static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";

	if (*j->p++ != '"')
		return EINVAL;
	while (*j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		const char *e;
		unsigned cp;

		if (c < 0x20)
			return EINVAL;
		if (c != '\\') {
			if (out && buf_append(out, &c, 1))
				return ENOMEM;
			continue;
		}
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			char hex[5] = { 0 };

			memcpy(hex, j->p, strnlen(j->p, 4));
			if (strspn(hex, "0123456789abcdefABCDEF") != 4)
				return EINVAL;
			cp = (unsigned)strtoul(hex, NULL, 16);
			if (cp >= 0xd800 && cp < 0xe000)
				return EINVAL;	/* surrogates: never in credentials */
			j->p += 4;
			if (json_utf8(out, cp))
				return ENOMEM;
		} else if (c && (e = strchr(esc_in, c))) {
			if (out && buf_append(out, &esc_out[e - esc_in], 1))
				return ENOMEM;
		} else {
			return EINVAL;
		}
	}
	j->p++;
	return 0;
}

static int json_skip(struct json *j);

/* Skips an object or array at j->p (the opening bracket). */
static int json_skip_container(struct json *j, char close)
{
	bool object = close == '}';
	int rc;

	if (++j->depth > JSON_DEPTH_MAX)
		return EINVAL;
	j->p++;
	json_ws(j);
	if (*j->p == close)
		goto out_close;
	for (;;) {
		if (object) {
			json_ws(j);
			rc = json_string(j, NULL);
			json_ws(j);
			if (rc || *j->p++ != ':')
				return EINVAL;
		}
		rc = json_skip(j);
		if (rc)
			return rc;
		json_ws(j);
		if (*j->p == close)
			break;
		if (*j->p++ != ',')
			return EINVAL;
	}
out_close:
	j->p++;
	j->depth--;
	return 0;
}

/* Skips any value at j->p. */
static int json_skip(struct json *j)
{
	json_ws(j);
	switch (*j->p) {
	case '"':
		return json_string(j, NULL);
	case '{':
		return json_skip_container(j, '}');
	case '[':
		return json_skip_container(j, ']');
	}
	if (strncmp(j->p, "true", 4) == 0 || strncmp(j->p, "null", 4) == 0) {
		j->p += 4;
	} else if (strncmp(j->p, "false", 5) == 0) {
		j->p += 5;
	} else {
		size_t n = strspn(j->p, "+-0123456789.eE");

		if (n == 0)
			return EINVAL;
		j->p += n;
	}
	return 0;
}

/* The fields of a credentials reply (ECS and IMDS use the same names). */
enum { F_ACCESS, F_SECRET, F_TOKEN, F_EXPIRATION, F_CODE, F_COUNT };
static const char *const json_fields[F_COUNT] = {
	"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "Code",
};

static int json_field(struct json *j, struct buf *fields)
{
	struct buf key = BUF_INIT;
	int rc, f;

	json_ws(j);
	rc = json_string(j, &key);
	json_ws(j);
	if (rc || *j->p++ != ':') {
		buf_release(&key);
		return rc ? rc : EINVAL;
	}
	json_ws(j);
	for (f = 0; f < F_COUNT; f++)
		if (key.data && strcmp(key.data, json_fields[f]) == 0 && *j->p == '"')
			break;
	buf_release(&key);
	if (f == F_COUNT)
		return json_skip(j);
	buf_reset(&fields[f]);
	return json_string(j, &fields[f]);
}

/* Parses {"Name": value, ...} keeping the fields above. 0 or EINVAL. */
static int json_parse_fields(const char *text, struct buf fields[F_COUNT])
{
	struct json j = { text, 0 };
	int rc;

	json_ws(&j);
	if (*j.p++ != '{')
		return EINVAL;
	json_ws(&j);
	if (*j.p == '}')
		return EINVAL;	/* no fields: certainly no credentials */
	do {
		rc = json_field(&j, fields);
		if (rc)
			return rc;
		json_ws(&j);
	} while (*j.p++ == ',');
	if (j.p[-1] != '}')
		return EINVAL;
	json_ws(&j);
	return *j.p ? EINVAL : 0;
}

/* "2026-11-30T12:00:00Z", optional fraction, "Z" or a +hh:mm offset. */
static int parse_iso8601(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int n = 0, off_h = 0, off_m = 0, sign = 1;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n == 0)
		return EINVAL;
	s += n;
	if (*s == '.')
		s += 1 + strspn(s + 1, "0123456789");
	if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		if (sscanf(s + 1, "%2d:%2d%n", &off_h, &off_m, &n) != 2)
			return EINVAL;
		s += 1 + n;
	} else if (*s == 'Z' || *s == 'z') {
		s++;
	}
	if (*s || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return EINVAL;
	*out = (int64_t)t - sign * (off_h * 3600 + off_m * 60);
	return 0;
}

/* Turns a credentials reply into out. 0 or EACCES with a message that names
 * `what` (never a secret). */
static int creds_from_json(const char *text, const char *what, struct s3_creds *out,
			   char *err, size_t errlen)
{
	struct buf f[F_COUNT] = { BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT };
	int rc = EACCES;

	if (json_parse_fields(text, f)) {
		snprintf(err, errlen, "%s: the reply is not the expected JSON object", what);
		goto out_release;
	}
	if (f[F_CODE].data && strcmp(f[F_CODE].data, "Success") != 0) {
		snprintf(err, errlen, "%s: Code is '%.64s', not 'Success'", what, f[F_CODE].data);
		goto out_release;
	}
	if (!f[F_ACCESS].len || !f[F_SECRET].len) {
		snprintf(err, errlen, "%s: the reply has no AccessKeyId/SecretAccessKey", what);
		goto out_release;
	}
	if (f[F_EXPIRATION].data && parse_iso8601(f[F_EXPIRATION].data, &out->expires)) {
		snprintf(err, errlen, "%s: cannot parse Expiration '%.40s'", what,
			 f[F_EXPIRATION].data);
		goto out_release;
	}
	out->access_key = buf_detach(&f[F_ACCESS]);
	out->secret_key = buf_detach(&f[F_SECRET]);
	out->session_token = f[F_TOKEN].len ? buf_detach(&f[F_TOKEN]) : NULL;
	rc = out->access_key && out->secret_key ? 0 : ENOMEM;
	if (rc)
		s3_creds_release(out);
out_release:
	for (int i = 0; i < F_COUNT; i++)
		buf_release_secret(&f[i]);
	return rc;
}

/* --- ECS container credentials --- */

/* FULL_URI over plain http is only trusted on loopback and the ECS/EKS
 * agent addresses, as in the AWS SDKs. */
static bool ecs_url_trusted(const char *url)
{
	static const char *const hosts[] = {
		"localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
	};
	const char *host = url + 7;
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/?#");
	if (n > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n)
		return true;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (strlen(hosts[i]) == n && strncasecmp(host, hosts[i], n) == 0)
			return true;
	return false;
}

/* The Authorization header value: the token file (re-read each time, it
 * rotates) beats the token variable. NULL token = no header. */
static int ecs_auth_header(struct buf *hdr, char *err, size_t errlen)
{
	const char *file = env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *token = env_get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	struct buf text = BUF_INIT;
	mode_t mode;
	int rc = 0;

	if (file) {
		rc = read_file(file, &text, &mode);
		if (rc) {
			snprintf(err, errlen, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
				 "%s: %s", file, strerror(rc));
			rc = EACCES;
			goto out_release;
		}
		token = trim(text.data);
	}
	if (!token)
		goto out_release;
	if (strpbrk(token, "\r\n")) {
		snprintf(err, errlen, "the container authorization token contains a newline");
		rc = EACCES;
		goto out_release;
	}
	rc = buf_appendf(hdr, "Authorization: %s", token);
out_release:
	buf_release_secret(&text);
	return rc;
}

static int ecs_fetch(struct creds_provider *p, struct s3_creds *out, char *err, size_t errlen)
{
	struct http_reply r = { BUF_INIT, 0, false };
	struct buf auth = BUF_INIT;
	struct curl_slist *headers = NULL;
	int rc;

	rc = ecs_auth_header(&auth, err, errlen);
	if (rc)
		goto out_release;
	if (auth.len && !(headers = curl_slist_append(NULL, auth.data))) {
		rc = ENOMEM;
		goto out_release;
	}
	rc = http_call(p, p->url, false, headers, &r, err, errlen);
	if (!rc && r.status != 200) {
		snprintf(err, errlen, "container credentials endpoint %s answered HTTP %ld",
			 p->url, r.status);
		rc = EACCES;
	}
	if (!rc)
		rc = creds_from_json(r.body.data, "container credentials", out, err, errlen);
out_release:
	if (headers) {
		explicit_bzero(headers->data, strlen(headers->data));
		curl_slist_free_all(headers);
	}
	buf_release_secret(&auth);
	buf_release_secret(&r.body);
	return rc;
}

/* Sets up p for ECS when the container variables are set: 0 (configured),
 * ENOENT (not in a container) or EACCES. */
static int ecs_configure(struct creds_provider *p, char *err, size_t errlen)
{
	const char *rel = env_get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env_get("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	struct buf url = BUF_INIT;

	if (!rel && !full)
		return ENOENT;
	if (!rel && !ecs_url_trusted(full)) {
		snprintf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https or a "
			 "loopback/ECS/EKS address, not '%s'", full);
		return EACCES;
	}
	if (rel ? buf_appendf(&url, "%s%s%s", ECS_HOST, *rel == '/' ? "" : "/", rel) :
		  buf_append_str(&url, full))
		return ENOMEM;
	p->kind = CREDS_ECS;
	free(p->url);
	p->url = buf_detach(&url);
	return p->url && !set_str(&p->source, "container credentials") ? 0 : ENOMEM;
}

/* --- EC2 instance metadata (IMDSv2) --- */

/* GET path with the session token. 0 (HTTP 200), ENOENT (404), EACCES
 * (other status) or EIO (transport). */
static int imds_get(struct creds_provider *p, const char *path, const char *token,
		    struct buf *body, char *err, size_t errlen)
{
	struct http_reply r = { BUF_INIT, 0, false };
	struct curl_slist *headers = NULL;
	struct buf url = BUF_INIT, hdr = BUF_INIT;
	int rc = ENOMEM;

	if (buf_appendf(&url, "%s%s", p->url, path) ||
	    buf_appendf(&hdr, "X-aws-ec2-metadata-token: %s", token) ||
	    !(headers = curl_slist_append(NULL, hdr.data)))
		goto out_release;
	rc = http_call(p, url.data, false, headers, &r, err, errlen);
	if (!rc && r.status != 200) {
		snprintf(err, errlen, "instance metadata %s answered HTTP %ld", url.data, r.status);
		rc = r.status == 404 ? ENOENT : EACCES;
	}
	if (!rc) {
		*body = r.body;
		buf_init(&r.body);
	}
out_release:
	curl_slist_free_all(headers);
	buf_release_secret(&hdr);
	buf_release(&url);
	buf_release_secret(&r.body);
	return rc;
}

/* The session token: PUT /latest/api/token. 0, EIO (unreachable: not EC2)
 * or EACCES. */
static int imds_token(struct creds_provider *p, struct buf *token, char *err, size_t errlen)
{
	struct http_reply r = { BUF_INIT, 0, false };
	struct curl_slist *headers;
	struct buf url = BUF_INIT;
	int rc = ENOMEM;

	headers = curl_slist_append(NULL, "X-aws-ec2-metadata-token-ttl-seconds: "
				    IMDS_TOKEN_TTL);
	if (!headers || buf_appendf(&url, "%s/latest/api/token", p->url))
		goto out_release;
	rc = http_call(p, url.data, true, headers, &r, err, errlen);
	if (!rc && (r.status != 200 || !r.body.len)) {
		snprintf(err, errlen, "instance metadata token request answered HTTP %ld",
			 r.status);
		rc = EACCES;
	}
	if (!rc) {
		*token = r.body;
		buf_init(&r.body);
	}
out_release:
	curl_slist_free_all(headers);
	buf_release(&url);
	buf_release_secret(&r.body);
	return rc;
}

#define IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"

static int imds_fetch(struct creds_provider *p, struct s3_creds *out, char *err,
		      size_t errlen)
{
	struct buf token = BUF_INIT, roles = BUF_INIT, path = BUF_INIT, reply = BUF_INIT;
	char *role;
	int rc;

	rc = imds_token(p, &token, err, errlen);
	if (!rc)
		rc = imds_get(p, IMDS_CREDS_PATH, trim(token.data), &roles, err, errlen);
	if (rc == ENOENT)
		snprintf(err, errlen, "no IAM role is attached to this EC2 instance");
	if (rc)
		goto out_release;
	role = trim(roles.data);
	role[strcspn(role, "\r\n")] = '\0';	/* the first role listed */
	if (!*role || strchr(role, '/')) {
		snprintf(err, errlen, "instance metadata lists no usable IAM role");
		rc = ENOENT;
		goto out_release;
	}
	rc = buf_appendf(&path, IMDS_CREDS_PATH "%s", role);
	if (!rc)
		rc = imds_get(p, path.data, trim(token.data), &reply, err, errlen);
	if (!rc)
		rc = creds_from_json(reply.data, "instance metadata", out, err, errlen);
out_release:
	buf_release_secret(&token);
	buf_release(&roles);
	buf_release(&path);
	buf_release_secret(&reply);
	return rc;
}

/* Sets up p for IMDS unless disabled: 0 or ENOENT. */
static int imds_configure(struct creds_provider *p)
{
	const char *disabled = env_get("AWS_EC2_METADATA_DISABLED");
	const char *url = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *mode = env_get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	size_t n;

	if (disabled && strcasecmp(disabled, "true") == 0)
		return ENOENT;
	if (!url && mode && strcasecmp(mode, "IPv6") == 0)
		url = IMDS_IPV6_ENDPOINT;
	if (!url)
		url = IMDS_DEFAULT_ENDPOINT;
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	free(p->url);
	p->url = strndup(url, n);
	p->kind = CREDS_IMDS;
	return p->url && !set_str(&p->source, "instance metadata") ? 0 : ENOMEM;
}

/* ---------------------------------------------------------------- provider */

/* Fetches fresh temporary credentials of an ECS/IMDS provider. */
static int creds_fetch(struct creds_provider *p, struct s3_creds *out, char *err,
		       size_t errlen)
{
	memset(out, 0, sizeof(*out));
	return p->kind == CREDS_ECS ? ecs_fetch(p, out, err, errlen)
				    : imds_fetch(p, out, err, errlen);
}

/* ECS or IMDS as the last links of the chain: 0, ENOENT or EACCES. */
static int creds_from_http(struct creds_provider *p, char *err, size_t errlen)
{
	int rc = ecs_configure(p, err, errlen);

	if (rc == ENOENT)
		rc = imds_configure(p);
	if (rc)
		return rc;
	rc = creds_fetch(p, &p->creds, err, errlen);
	/* an unreachable metadata service just means "not on EC2" */
	if (p->kind == CREDS_IMDS && (rc == EIO || rc == ENOENT)) {
		log_msg(LOG_DEBUG, "no credentials from instance metadata: %s", err);
		rc = ENOENT;
	} else if (rc == EIO) {
		rc = EACCES;
	}
	return rc;
}

/* Walks the chain of awsconf.h. 0, or an errno with a message. */
static int creds_find(struct creds_provider *p, const struct os_config *cfg,
		      const struct awsconf *conf, char *err, size_t errlen)
{
	int rc;

	if (cfg->no_sign)
		return set_str(&p->source, "anonymous");
	if (cfg->passwd_file)
		return creds_from_passwd(p, cfg->passwd_file, cfg->bucket, err, errlen);
	/* like the AWS CLI's --profile, -o profile= outranks the environment */
	rc = cfg->profile ? ENOENT : creds_from_env(p, err, errlen);
	if (rc == ENOENT)
		rc = creds_from_profile(p, conf->profile ? conf->profile : DEFAULT_PROFILE,
					err, errlen);
	if (rc == ENOENT)
		rc = creds_from_http(p, err, errlen);
	if (rc == ENOENT) {
		snprintf(err, errlen, NO_CREDS_MSG);
		rc = EACCES;
	}
	return rc;
}

int creds_provider_create(const struct os_config *cfg, const struct awsconf *conf,
			  struct creds_provider **out, char *err, size_t errlen)
{
	struct creds_provider *p = calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	p->kind = CREDS_STATIC;
	pthread_mutex_init(&p->lock, NULL);
	rc = cfg->ca_file ? set_str(&p->ca_file, cfg->ca_file) : 0;
	if (!rc)
		rc = creds_find(p, cfg, conf, err, errlen);
	if (rc == ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc) {
		creds_provider_destroy(p);
		return rc;
	}
	log_msg(LOG_DEBUG, "AWS credentials from %s", p->source);
	*out = p;
	return 0;
}

/* Refetches temporary credentials that expire within REFRESH_EARLY_S.
 * Called with p->lock held. 0 when p->creds can be used afterwards. */
static int creds_refresh_locked(struct creds_provider *p, int64_t now)
{
	struct s3_creds fresh;
	char err[512];
	int rc;

	if (p->kind == CREDS_STATIC || !p->creds.expires ||
	    now < p->creds.expires - REFRESH_EARLY_S)
		return 0;
	if (now < p->retry_at && now < p->creds.expires)
		return 0;
	rc = creds_fetch(p, &fresh, err, sizeof(err));
	if (rc) {
		p->retry_at = now + RETRY_AFTER_S;
		log_msg(LOG_WARNING, "cannot refresh AWS credentials from %s: %s", p->source, err);
		return now < p->creds.expires ? 0 : (rc == EACCES ? EACCES : EIO);
	}
	s3_creds_release(&p->creds);
	p->creds = fresh;
	p->retry_at = 0;
	log_msg(LOG_INFO, "refreshed AWS credentials from %s, valid for %lld s", p->source,
		(long long)(fresh.expires ? fresh.expires - now : 0));
	return 0;
}

static int creds_copy(struct s3_creds *dst, const struct s3_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->expires = src->expires;
	if ((src->access_key && !(dst->access_key = strdup(src->access_key))) ||
	    (src->secret_key && !(dst->secret_key = strdup(src->secret_key))) ||
	    (src->session_token && !(dst->session_token = strdup(src->session_token)))) {
		s3_creds_release(dst);
		return ENOMEM;
	}
	return 0;
}

int creds_get(struct creds_provider *p, struct s3_creds *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	rc = creds_refresh_locked(p, (int64_t)time(NULL));
	if (!rc)
		rc = creds_copy(out, &p->creds);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

const char *creds_source(struct creds_provider *p)
{
	return p->source;
}

void creds_provider_destroy(struct creds_provider *p)
{
	if (!p)
		return;
	s3_creds_release(&p->creds);
	pthread_mutex_destroy(&p->lock);
	free(p->source);
	free(p->url);
	free(p->ca_file);
	free(p);
}

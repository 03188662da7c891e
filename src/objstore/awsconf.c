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
 *   6. the provider: chain at creation, refresh in creds_get()
 * The temporary credentials of the ECS container endpoint and EC2 IMDSv2 are
 * fetched by awsmeta.c (awsconf_impl.h).
 *
 * The provider state machine: creds_provider_create() walks the chain once
 * and keeps either static credentials (p->meta == NULL), which never change,
 * or a metadata service (p->meta), whose credentials carry an expiry:
 * creds_get() refetches them, holding p->lock, once they expire within
 * REFRESH_EARLY_S. A failed refresh keeps the old credentials while they are
 * still valid and waits RETRY_AFTER_S before the next attempt, so many
 * threads do not queue behind a dead endpoint.
 *
 * Secrets (secret keys, session tokens, container authorization tokens) never
 * reach a log line or an error message, and buffers that held them are wiped
 * before they are freed.
 */
#include "config.h"
#include "objstore/awsconf.h"
#include "objstore/awsconf_impl.h"

#include <ctype.h>
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
#define REFRESH_EARLY_S 300		/* refresh this long before expiry */
#define RETRY_AFTER_S 10		/* after a failed refresh */

#define NO_CREDS_MSG "no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, " \
	"a profile in ~/.aws/credentials, -o passwd_file=, or -o no_sign for public buckets)"

/* ---------------------------------------------------------------- helpers */

/* An environment variable, with "set but empty" treated as unset. */
const char *awsconf_env(const char *name)
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

void awsconf_buf_wipe(struct buf *b)
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

char *awsconf_trim(char *s)
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
	const char *path = awsconf_env(var);
	const char *home = awsconf_env("HOME");
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
int awsconf_read_file(const char *path, struct buf *out, mode_t *mode)
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
	char *p = awsconf_trim(line);
	char *eq, *key, *value;

	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	cut_inline_comment(p);
	p = awsconf_trim(p);
	if (*p == '[') {
		size_t n = strlen(p);

		if (n < 3 || p[n - 1] != ']')
			return EINVAL;
		p[n - 1] = '\0';
		st->section = awsconf_trim(p + 1);
		st->sub = NULL;
		return *st->section ? 0 : EINVAL;
	}
	eq = strpbrk(p, "=:");
	if (!st->section || !eq)
		return EINVAL;
	*eq = '\0';
	key = awsconf_trim(p);
	value = awsconf_trim(eq + 1);
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

	rc = awsconf_read_file(path, &text, mode);
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
	awsconf_buf_wipe(&text);
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
	const char *ignore = awsconf_env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	const char *url = first_of(awsconf_env("AWS_ENDPOINT_URL_S3"),
				   awsconf_env("AWS_ENDPOINT_URL"), prof->s3_endpoint_url,
				   prof->endpoint_url);
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
	const char *profile = first_of(cfg->profile, awsconf_env("AWS_PROFILE"), NULL, NULL);
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
	out->region = strdup(first_of(cfg->region, awsconf_env("AWS_REGION"),
				      awsconf_env("AWS_DEFAULT_REGION"),
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

struct creds_provider {
	char *source;		/* owned; for log lines, never a secret */
	struct awsmeta *meta;	/* owned; NULL: static credentials */
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
		line = awsconf_trim(line);
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

	rc = awsconf_read_file(path, &text, &mode);
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
	awsconf_buf_wipe(&text);
	return rc;
}

/* 0, ENOENT (no keys in the environment) or EACCES. */
static int creds_from_env(struct creds_provider *p, char *err, size_t errlen)
{
	const char *access = awsconf_env("AWS_ACCESS_KEY_ID");
	const char *secret = awsconf_env("AWS_SECRET_ACCESS_KEY");
	const char *token = first_of(awsconf_env("AWS_SESSION_TOKEN"), awsconf_env("AWS_SECURITY_TOKEN"),
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
	if (prof.unsupported) {
		/* the AWS tools would use it, even before keys in the same profile */
		snprintf(err, errlen, "profile '%s' uses %s, which lithfs does not support: "
			 "use a profile with only aws_access_key_id/aws_secret_access_key",
			 name, prof.unsupported);
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

/* ---------------------------------------------------------------- provider */

/* The metadata services as the last links of the chain: 0, ENOENT (none
 * applies: no container variables, and not an EC2 instance with a role) or
 * EACCES. */
static int creds_from_meta(struct creds_provider *p, const char *ca_file, char *err,
			   size_t errlen)
{
	int rc = awsmeta_create(ca_file, &p->meta, err, errlen);

	if (rc)
		return rc;
	rc = set_str(&p->source, awsmeta_name(p->meta));
	if (!rc)
		rc = awsmeta_fetch(p->meta, &p->creds, err, errlen);
	if (rc == ENOENT)
		log_msg(LOG_DEBUG, "no credentials from %s: %s", awsmeta_name(p->meta), err);
	if (rc == EIO)
		rc = EACCES;
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
		rc = creds_from_meta(p, cfg->ca_file, err, errlen);
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
	pthread_mutex_init(&p->lock, NULL);
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

	if (!p->meta || !p->creds.expires ||
	    now < p->creds.expires - REFRESH_EARLY_S)
		return 0;
	if (now < p->retry_at && now < p->creds.expires)
		return 0;
	rc = awsmeta_fetch(p->meta, &fresh, err, sizeof(err));
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
	awsmeta_destroy(p->meta);
	free(p);
}

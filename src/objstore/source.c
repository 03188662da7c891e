/*
 * source.c - parse, validate and format the store names users type.
 *
 * Grammar (see source.h):
 *   s3://BUCKET[/PREFIX]      BUCKET[:[/]PREFIX]      file:///DIR/BUCKET
 * Parsing never touches the network or the file system: it only checks the
 * syntax, so a typo is reported in one line before anything starts. Nothing
 * is %-decoded: a file:// path and a prefix are taken as written.
 *
 * Invariants of a parsed struct os_source:
 *   - S3 bucket names follow the current AWS rules: 3-63 characters of
 *     lowercase letters, digits, '.' and '-', starting and ending with a
 *     letter or digit, no "..", not an IPv4 address. Legacy names (uppercase,
 *     '_', up to 255 characters) are refused on purpose: AWS has not created
 *     them since 2018, radosgw and MinIO refuse them by default, and they
 *     cannot be addressed virtual-host style.
 *   - prefix is "" or non-empty segments joined by '/' and ending in '/',
 *     never a "." or ".." segment.
 *   - a local root is absolute, without trailing '/' (except "/" itself),
 *     without empty, "." or ".." segments; the bucket is its own directory
 *     name (not "." or "..") and need not follow the S3 rules.
 * os_source_format() writes the canonical form, which parses back to the
 * same struct.
 */
#include "config.h"
#include "objstore/source.h"
#include "objstore/objstore.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

#define BUCKET_MIN 3
#define BUCKET_MAX 63

static int bucket_error(const char *name, size_t len, const char *why, char *err,
			size_t errlen)
{
	snprintf(err, errlen, "invalid bucket name '%.*s': %s", (int)len, name, why);
	return EINVAL;
}

/* True for dotted-quad names such as 192.168.5.4, which S3 refuses. */
static bool looks_like_ipv4(const char *name, size_t len)
{
	int dots = 0;

	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)name[i]))
			return false;
	}
	return dots == 3;
}

static int check_s3_bucket(const char *name, size_t len, char *err, size_t errlen)
{
	if (len < BUCKET_MIN || len > BUCKET_MAX)
		return bucket_error(name, len, "must be 3 to 63 characters long", err, errlen);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (isupper(c))
			return bucket_error(name, len, "S3 bucket names are lowercase", err, errlen);
		if (!islower(c) && !isdigit(c) && c != '.' && c != '-')
			return bucket_error(name, len,
					    "only lowercase letters, digits, '.' and '-' are allowed",
					    err, errlen);
	}
	if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[len - 1]))
		return bucket_error(name, len, "must start and end with a letter or digit",
				    err, errlen);
	if (memmem(name, len, "..", 2))
		return bucket_error(name, len, "must not contain '..'", err, errlen);
	if (looks_like_ipv4(name, len))
		return bucket_error(name, len, "must not be an IP address", err, errlen);
	return 0;
}

/* Appends the '/'-separated segments of s[0..len) to out, each followed by
 * '/'. An empty, "." or ".." segment is an error; a single trailing '/' is
 * allowed. */
static int append_segments(struct buf *out, const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *seg = s + i;
		const char *slash = memchr(seg, '/', len - i);
		size_t n = slash ? (size_t)(slash - seg) : len - i;

		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return EINVAL;
		if (buf_append(out, seg, n) || buf_append(out, "/", 1))
			return ENOMEM;
		i += n + 1;
	}
	return 0;
}

/* prefix: text after the bucket and its separator, e.g. "a/b/" or "a/b". */
static int parse_prefix(const char *text, struct os_source *out, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	int rc;

	rc = append_segments(&b, text, strlen(text));
	if (rc == EINVAL) {
		snprintf(err, errlen,
			 "invalid prefix '%s': empty, '.' and '..' path segments are not allowed",
			 text);
		goto out_release;
	}
	if (rc)
		goto out_nomem;
	if (b.len > OS_KEY_MAX) {
		snprintf(err, errlen, "prefix '%.40s...' is longer than %d bytes", text,
			 OS_KEY_MAX);
		rc = EINVAL;
		goto out_release;
	}
	out->prefix = buf_detach(&b);
	if (!out->prefix)
		goto out_nomem;
	return 0;

out_nomem:
	snprintf(err, errlen, "out of memory");
	rc = ENOMEM;
out_release:
	buf_release(&b);
	return rc;
}

/* BUCKET, BUCKET:/prefix, BUCKET:prefix, or (after "s3://") BUCKET/prefix. */
static int parse_s3(const char *text, char sep, struct os_source *out, char *err,
		    size_t errlen)
{
	const char *end = strchr(text, sep);
	size_t len = end ? (size_t)(end - text) : strlen(text);
	const char *prefix = "";
	int rc;

	rc = check_s3_bucket(text, len, err, errlen);
	if (rc)
		return rc;
	if (end) {
		prefix = end + 1;
		/* BUCKET:/prefix: the '/' after ':' is part of the syntax */
		if (sep == ':' && *prefix == '/')
			prefix++;
	}
	out->kind = OS_KIND_S3;
	out->bucket = strndup(text, len);
	if (!out->bucket) {
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	return parse_prefix(prefix, out, err, errlen);
}

/* path: the part of file:///DIR/BUCKET after "file://". */
static int parse_local(const char *path, struct os_source *out, char *err, size_t errlen)
{
	struct buf segs = BUF_INIT;
	size_t len = strlen(path);
	const char *last;
	int rc;

	if (path[0] != '/') {
		snprintf(err, errlen,
			 "file:// source must be an absolute path (file:///DIR/BUCKET), not '%s'",
			 path);
		return EINVAL;
	}
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 1) {
		snprintf(err, errlen, "file:// source needs a bucket directory: file:///DIR/BUCKET");
		return EINVAL;
	}
	rc = buf_append(&segs, "/", 1);
	if (!rc)
		rc = append_segments(&segs, path + 1, len - 1);
	if (rc == EINVAL) {
		snprintf(err, errlen, "file:// source '%s' has an empty, '.' or '..' path segment",
			 path);
		goto out_release;
	}
	if (rc)
		goto out_nomem;
	segs.data[--segs.len] = '\0';	/* "/DIR/BUCKET" */
	last = strrchr(segs.data, '/');
	out->kind = OS_KIND_LOCAL;
	out->bucket = strdup(last + 1);
	out->root = last == segs.data ? strdup("/") : strndup(segs.data, (size_t)(last - segs.data));
	out->prefix = strdup("");
	if (!out->bucket || !out->root || !out->prefix)
		goto out_nomem;
	buf_release(&segs);
	return 0;

out_nomem:
	snprintf(err, errlen, "out of memory");
	rc = ENOMEM;
out_release:
	buf_release(&segs);
	return rc;
}

static void source_init(struct os_source *s)
{
	s->kind = OS_KIND_S3;
	s->root = NULL;
	s->bucket = NULL;
	s->prefix = NULL;
}

int os_source_parse(const char *text, struct os_source *out, char *err, size_t errlen)
{
	const char *scheme_end;
	int rc;

	source_init(out);
	if (!text || !*text) {
		snprintf(err, errlen, "empty source: give BUCKET, BUCKET:/prefix, "
			 "s3://BUCKET/prefix or file:///DIR/BUCKET");
		return EINVAL;
	}
	scheme_end = strstr(text, "://");
	if (strncasecmp(text, "s3://", 5) == 0)
		rc = parse_s3(text + 5, '/', out, err, errlen);
	else if (strncasecmp(text, "file://", 7) == 0)
		rc = parse_local(text + 7, out, err, errlen);
	else if (scheme_end && !memchr(text, ':', (size_t)(scheme_end - text))) {
		snprintf(err, errlen, "unknown scheme '%.*s://' in source '%s': use "
			 "s3://BUCKET or file:///DIR/BUCKET", (int)(scheme_end - text), text,
			 text);
		rc = EINVAL;
	} else {
		rc = parse_s3(text, ':', out, err, errlen);
	}
	if (rc)
		os_source_release(out);
	return rc;
}

void os_source_release(struct os_source *src)
{
	free(src->root);
	free(src->bucket);
	free(src->prefix);
	source_init(src);
}

char *os_source_format(const struct os_source *src)
{
	struct buf b = BUF_INIT;
	int rc;

	if (src->kind == OS_KIND_LOCAL)
		rc = buf_appendf(&b, "file://%s%s%s", src->root,
				 strcmp(src->root, "/") ? "/" : "", src->bucket);
	else if (src->prefix && *src->prefix)
		rc = buf_appendf(&b, "s3://%s/%s", src->bucket, src->prefix);
	else
		rc = buf_appendf(&b, "s3://%s", src->bucket);
	if (rc) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b);
}

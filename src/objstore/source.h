/*
 * source.h - what a user names as a store, and how to open it.
 *
 * A source string is one of
 *   BUCKET                 S3 bucket, endpoint/region/credentials from config
 *   BUCKET:/prefix         the same, showing only keys under prefix/
 *   s3://BUCKET[/prefix]   the same
 *   file:///DIR/BUCKET     local-directory store: root DIR, bucket BUCKET
 *                          (the last path component is the bucket)
 * os_source_parse() validates it (bucket names per S3 rules; no "..", "."
 * or empty segments in a prefix) and os_open() builds the stack
 * retry(fault?(backend)) that every program uses.
 * S3 bucket names must follow the current rules (3-63 characters of a-z,
 * 0-9, '.', '-'); legacy names with uppercase letters or '_' are refused
 * (see source.c for why). A local bucket is any directory name.
 */
#ifndef LITHFS_OBJSTORE_SOURCE_H
#define LITHFS_OBJSTORE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

struct objstore;

enum os_kind { OS_KIND_S3, OS_KIND_LOCAL };

struct os_source {
	enum os_kind kind;
	char *root;		/* owned; local store: the directory holding buckets */
	char *bucket;		/* owned */
	char *prefix;		/* owned; "" or "some/prefix/" (always ends in '/') */
};

enum os_addressing { OS_ADDR_AUTO, OS_ADDR_PATH, OS_ADDR_VIRTUAL };

/* Settings of an S3 store. Strings are borrowed; NULL/0 means "not given":
 * the AWS environment and profile, then the built-in default, decide. */
struct os_config {
	const char *endpoint;	/* "https://s3.example:9000"; default from
				 * AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the
				 * profile's endpoint_url, else AWS */
	const char *region;	/* AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1 */
	const char *profile;	/* AWS_PROFILE, else "default" */
	const char *passwd_file;	/* s3fs-style ACCESS:SECRET, must be 0600 */
	const char *ca_file;	/* extra CA bundle for HTTPS */
	enum os_addressing addressing;	/* AUTO: virtual-host for AWS, path otherwise */
	bool no_sign;		/* anonymous, unsigned requests */
	int max_conns;		/* connections kept alive (default 16) */
	int retries;		/* extra attempts for transient errors (default 8) */
	int retry_budget_ms;	/* total time for retries of one op (default 60000) */
	int connect_timeout_ms;	/* default 10000 */
	int io_timeout_ms;	/* no progress for this long fails a transfer (30000) */
	const char *faults;	/* fault-injection spec; default env LITHFS_FAULTS */
	const char *bucket;	/* set by os_open() from the source (callers leave
				 * it NULL): picks the BUCKET:ACCESS:SECRET line
				 * of passwd_file */
};

/* 0 or EINVAL with a one-line message in err. */
int os_source_parse(const char *text, struct os_source *out, char *err, size_t errlen);
void os_source_release(struct os_source *src);
/* Formats the source back as a canonical string (caller frees). */
char *os_source_format(const struct os_source *src);

/* Opens the store stack for src. 0 or a positive errno with a one-line
 * message in err. Does not check the server: call os_check() for that. It
 * contacts it only to abort multipart uploads that ended processes left in
 * the upload journal (journal.h), and never fails for them. */
int os_open(const struct os_source *src, const struct os_config *cfg,
	    struct objstore **out, char *err, size_t errlen);

#endif

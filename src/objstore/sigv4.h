/*
 * sigv4.h - AWS Signature Version 4 for S3 requests (header-based auth).
 *
 * The caller describes a request by its method, its canonical (already
 * URI-encoded) path, its canonical query string and the headers to sign;
 * sigv4_authorization() builds the canonical request, the string to sign and
 * the Authorization header value. The same encoded path and query are what
 * the caller puts on the wire, so what is signed is what is sent.
 *
 * Encoding follows S3's rules: every byte except the unreserved characters
 * A-Z a-z 0-9 - _ . ~ is percent-encoded with upper-case hex; in a path '/'
 * is kept, in a query name or value it is encoded. S3 paths are not
 * normalised ("a//b" and "a/../b" are distinct keys).
 *
 * Pure functions of their inputs (no clock, no I/O): thread-safe, and the
 * unit test checks them against AWS's published examples.
 */
#ifndef LITHFS_OBJSTORE_SIGV4_H
#define LITHFS_OBJSTORE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define SIGV4_HEX_LEN 64	/* a SHA-256 as lower-case hex, without NUL */
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* A header to sign: name lower-case, value as sent (trimmed when signed). */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* A query parameter before encoding; value NULL or "" both give "name=". */
struct sigv4_param {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;		/* "GET", "PUT", ... */
	const char *path;		/* canonical URI: encoded, starts with '/' */
	const char *query;		/* canonical query string, "" if none */
	const struct sigv4_header *headers;	/* any order, must include host,
						 * x-amz-date, x-amz-content-sha256 */
	size_t n_headers;
	const char *payload_hash;	/* hex SHA-256 or UNSIGNED-PAYLOAD */
};

struct sigv4_key {
	const char *access_key;
	const char *secret_key;
	const char *region;		/* "us-east-1" */
	const char *service;		/* "s3" */
};

/* Appends s[0..len) to out, percent-encoding all but the unreserved bytes
 * (and '/' when keep_slash). 0 or ENOMEM. */
int sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash);

/* Appends the canonical query string of params (encoded, sorted by name then
 * value, joined by '&') to out. 0, ENOMEM. */
int sigv4_canonical_query(struct buf *out, const struct sigv4_param *params, size_t n);

/* Writes the hex SHA-256 of data and a NUL into hex (SIGV4_HEX_LEN + 1). */
void sigv4_sha256_hex(const void *data, size_t len, char hex[SIGV4_HEX_LEN + 1]);

/* Builds the canonical request of rq into out (replacing its contents).
 * Exposed for tests. 0, ENOMEM or EINVAL (too many headers). */
int sigv4_canonical_request(const struct sigv4_request *rq, struct buf *out);

/* Formats the x-amz-date value ("20130524T000000Z") of unix time t (UTC)
 * into date (17 bytes incl. NUL). */
void sigv4_amz_date(long long t, char date[17]);

/* Appends the Authorization header value for rq signed at amz_date
 * ("YYYYMMDDTHHMMSSZ") with key to out. When signature is not NULL it also
 * receives the bare hex signature. 0, ENOMEM or EINVAL. */
int sigv4_authorization(const struct sigv4_request *rq, const struct sigv4_key *key,
			const char *amz_date, struct buf *out,
			char signature[SIGV4_HEX_LEN + 1]);

#endif

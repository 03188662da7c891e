/*
 * s3_http.h - the HTTP transport of the S3 backend (libcurl), and the one
 * place where transport and S3 failures become errno values.
 *
 * A struct s3_http is a bounded pool of libcurl easy handles (at most
 * max_conns, created on first need, reused for the life of the pool so each
 * keeps its keep-alive connection) plus a share of the DNS cache and TLS
 * sessions. s3_http_perform() borrows a handle, runs one request, and gives
 * the handle back; callers beyond max_conns wait for a free handle.
 *
 * Error contract (see objstore.h): s3_http_perform() returns 0 for a 2xx
 * response whose body arrived whole, otherwise the errno chosen by
 * s3_error_map(), which also writes the log line naming the operation, the
 * key, the S3 error code and message (never headers or credentials).
 *
 * Threads: s3_http_perform() may be called from any number of threads.
 * Processes: pooled handles keep sockets open; a pool must not be used on
 * both sides of a fork() (create the store in the process that uses it).
 */
#ifndef LITHFS_OBJSTORE_S3_HTTP_H
#define LITHFS_OBJSTORE_S3_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objstore/objstore.h"
#include "util/buf.h"

struct s3_http;

struct s3_http_opts {
	int max_conns;		/* handles (and connections) in the pool; 0 = 16 */
	int connect_timeout_ms;	/* 0 = 10000 */
	int io_timeout_ms;	/* no byte moved for this long fails; 0 = 30000 */
	const char *ca_file;	/* extra CA bundle, or NULL (borrowed) */
};

/* 0, or ENOMEM / EIO (libcurl could not start) with a message in err. */
int s3_http_create(const struct s3_http_opts *opts, struct s3_http **out, char *err,
		   size_t errlen);
/* All requests must have returned. NULL is a no-op. */
void s3_http_destroy(struct s3_http *h);

struct s3_http_header {
	const char *name;	/* as sent, e.g. "x-amz-date" */
	const char *value;
};

struct s3_http_request {
	const char *op;		/* operation for log lines: "get", "put"... */
	const char *key;	/* object key for log lines, NULL for bucket ops */
	const char *method;	/* GET, HEAD, PUT, POST, DELETE */
	const char *url;	/* complete, already encoded */
	const struct s3_http_header *headers;	/* incl. Host and Authorization */
	size_t n_headers;
	const void *body;	/* PUT/POST body (borrowed), NULL = none */
	size_t body_len;
	os_sink_fn sink;	/* receives a 2xx body as it arrives (no copy);
				 * NULL: the body is collected in resp->body */
	void *sink_arg;
	bool ranged;		/* a Range header starting at range_off was sent */
	uint64_t range_off;
	bool empty_ok;		/* the range starts at 0: a 416 then means the
				 * object is empty, an empty 206 */
	bool want_meta;		/* collect x-amz-meta-* into resp->meta */
	int io_timeout_ms;	/* > 0: replaces the pool's io timeout (server-side
				 * copies may keep the reply back for minutes) */
};

struct s3_http_response {
	long status;
	char etag[OS_ETAG_MAX];		/* unquoted; "" if none */
	int64_t last_modified_ns;	/* 0 if none */
	bool has_length;
	uint64_t content_length;
	bool has_range;			/* Content-Range: bytes first-last/total */
	uint64_t range_first, range_last;
	bool has_total;			/* total size from Content-Range (also
					 * from the unsatisfied-range form
					 * a 416 carries) */
	uint64_t total;
	uint64_t received;		/* body bytes handed to the sink */
	struct os_meta meta;		/* owned */
	struct buf body;		/* owned; non-sink bodies and error bodies */
};

void s3_http_response_release(struct s3_http_response *r);

/* Runs rq; resp must be zeroed (or released) first. See the error contract
 * above. A sink's non-zero return stops the transfer and is returned as is. */
int s3_http_perform(struct s3_http *h, const struct s3_http_request *rq,
		    struct s3_http_response *resp);

/*
 * THE mapping of a failure to an errno, with its log line. curl_code is a
 * CURLcode (0 when the transfer itself worked), curl_msg libcurl's detail
 * (may be NULL), status the HTTP status (0 if none), s3_code/s3_msg the
 * <Error> of the body (may be NULL). The S3 code decides first, then the
 * HTTP status, then the curl code; os_errno (the socket errno libcurl saw,
 * 0 if unknown) refines connect failures. Never returns 0.
 */
int s3_error_map(const char *op, const char *key, int curl_code, const char *curl_msg,
		 int os_errno, long status, const char *s3_code, const char *s3_msg);

/* Copies s (may be NULL) into out (n > 4 bytes) for a log line: control
 * bytes become '?' (keys may hold newlines, a log line must stay one line)
 * and an over-long s ends in "...". */
void s3_printable(char *out, size_t n, const char *s);

#endif

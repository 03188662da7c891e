/*
 * objstore_impl.h - for implementers of the object-store interface only:
 * backends (s3.c, local.c) and wrappers (retry.c, fault.c). Users of a store
 * include objstore.h and call os_* functions.
 *
 * A backend embeds struct objstore as the FIRST member of its own state and
 * points `ops` at a static table. Every op has the contract of the os_*
 * function of the same name in objstore.h (the dispatchers in objstore.c check
 * arguments such as key validity before calling the op). A wrapper holds the
 * store it wraps in `inner` and destroys it in its own destroy op.
 */
#ifndef LITHFS_OBJSTORE_IMPL_H
#define LITHFS_OBJSTORE_IMPL_H

#include "objstore/objstore.h"
#include "objstore/source.h"

struct objstore_ops {
	const char *name;	/* "s3", "local", "retry", "fault" */
	int (*check)(struct objstore *s);
	int (*head)(struct objstore *s, const char *key, struct os_stat *st);
	int (*get)(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		   const char *etag, os_sink_fn sink, void *arg);
	int (*put)(struct objstore *s, const char *key, const void *data, size_t len,
		   const struct os_meta *meta, char etag_out[OS_ETAG_MAX]);
	int (*del)(struct objstore *s, const char *key);
	/* n <= OS_DELETE_BATCH; missing keys are not errors */
	int (*del_many)(struct objstore *s, const char *const *keys, size_t n);
	/* single-request copy, size <= OS_COPY_SINGLE_MAX */
	int (*copy)(struct objstore *s, const char *src, const char *dst,
		    const struct os_meta *meta, char etag_out[OS_ETAG_MAX]);
	int (*list)(struct objstore *s, const char *prefix, const char *delimiter,
		    const char *token, int max_keys, struct os_list_page *out);
	int (*mpu_create)(struct objstore *s, const char *key, const struct os_meta *meta,
			  char **upload_id);
	int (*mpu_put_part)(struct objstore *s, const char *key, const char *upload_id,
			    int part, const void *data, size_t len, char etag_out[OS_ETAG_MAX]);
	int (*mpu_copy_part)(struct objstore *s, const char *key, const char *upload_id,
			     int part, const char *src_key, uint64_t off, uint64_t len,
			     char etag_out[OS_ETAG_MAX]);
	int (*mpu_complete)(struct objstore *s, const char *key, const char *upload_id,
			    const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX]);
	int (*mpu_abort)(struct objstore *s, const char *key, const char *upload_id);
	int (*mpu_list)(struct objstore *s, const char *prefix, struct os_upload_list *out);
	void (*destroy)(struct objstore *s);
};

struct objstore {
	const struct objstore_ops *ops;
	char *id;		/* owned; see os_id() */
	struct objstore *inner;	/* wrappers only: the wrapped store (owned) */
};

/* --- constructors (each returns 0 or a positive errno and, on error, writes a
 * one-line message for the user into err) --- */

/* S3 backend for src->bucket with cfg (endpoint, region, credentials...). */
int s3_store_create(const struct os_source *src, const struct os_config *cfg,
		    struct objstore **out, char *err, size_t errlen);
/* Local-directory store: bucket directory root/bucket (must exist). */
int local_store_create(const char *root, const char *bucket, struct objstore **out,
		       char *err, size_t errlen);
/* Retries transient errors with exponential backoff and full jitter, at most
 * cfg->retries extra attempts and cfg->retry_budget_ms in total. Takes
 * ownership of inner (also on failure). */
int retry_store_create(struct objstore *inner, const struct os_config *cfg,
		       struct objstore **out);
/* Test-only fault injection per spec (see fault.c for the syntax, e.g.
 * "rate=0.1,seed=7,ops=get+put"). Takes ownership of inner (also on failure). */
int fault_store_create(struct objstore *inner, const char *spec, struct objstore **out,
		       char *err, size_t errlen);

/* --- helpers shared by backends and wrappers (objstore.c) --- */

/* Writes n bytes as 2n lower-case hex digits and a NUL into out. */
void os_hex(const unsigned char *bin, size_t n, char *out);
/* The value of one hex digit (either case), or -1. */
int os_unhex(char c);
/* The ETag S3 gives a completed multipart upload of parts whose ETags are
 * plain MD5s: hex(MD5(concatenated binary part MD5s)) "-" n. 0 or EINVAL
 * (a part ETag is not an MD5) / ENOMEM. */
int os_etag_multipart(const struct os_part *parts, size_t n, char out[OS_ETAG_MAX]);

#endif

/*
 * objstore.h - the one object-store interface of lithfs.
 *
 * A struct objstore is an opaque handle to one bucket (plus nothing else: the
 * optional key prefix of a mount is the caller's business). Real backends are
 * the S3 client (s3.c) and the local-directory store (local.c); wrappers of the
 * same interface stack on top: retry (retry.c) and fault injection (fault.c).
 * Callers always go through the os_* functions below, never through the ops.
 *
 * Errors: every function returns 0 or a positive errno:
 *   ENOENT      no such key / bucket / upload id
 *   EACCES      access denied, bad signature, bad credentials
 *   EEXIST      (local store) a key collides with a "directory" of another key
 *   EINVAL      bad argument (key empty, range beyond object, too many keys)
 *   ENAMETOOLONG key over 1024 bytes
 *   ESTALE      conditional GET failed: the object's ETag is no longer `etag`
 *   EAGAIN      transient server error (5xx, SlowDown, RequestTimeout): retryable
 *   ETIMEDOUT, ECONNRESET, ECONNREFUSED, EHOSTUNREACH   transport: retryable
 *   EIO         anything else, or a transient error after retries ran out
 *   ENOMEM      out of memory
 * os_error_is_transient() says which ones the retry wrapper retries. Every
 * error that reaches the user was logged once, with the operation and key.
 *
 * Threads: a store is safe to call from any number of threads at once.
 * Memory: out-parameters (os_stat, os_list_page, os_upload_list, upload ids)
 * are owned by the caller and freed with their *_release function / free().
 * Inputs are borrowed for the duration of the call only.
 */
#ifndef LITHFS_OBJSTORE_OBJSTORE_H
#define LITHFS_OBJSTORE_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct objstore;

#define OS_ETAG_MAX 96		/* ETag without quotes, NUL-terminated */
#define OS_KEY_MAX 1024		/* S3's key length limit in bytes */
#define OS_DELETE_BATCH 1000	/* keys per DeleteObjects request */
#define OS_RANGE_TO_END UINT64_MAX
#define OS_COPY_SINGLE_MAX (5ULL << 30)	/* CopyObject limit; above: multipart copy */

/* User metadata: x-amz-meta-<name>: <value>. Names are stored lower-case and
 * without the x-amz-meta- prefix. */
struct os_meta_kv {
	char *name;
	char *value;
};
struct os_meta {
	struct os_meta_kv *kv;	/* owned */
	size_t n;
};
void os_meta_release(struct os_meta *m);
/* Adds or replaces name (copied, lower-cased). 0 or ENOMEM/EINVAL. */
int os_meta_set(struct os_meta *m, const char *name, const char *value);
/* Borrowed pointer to the value, or NULL. */
const char *os_meta_get(const struct os_meta *m, const char *name);
int os_meta_copy(struct os_meta *dst, const struct os_meta *src);

struct os_stat {
	uint64_t size;
	int64_t mtime_ns;		/* Last-Modified, ns since the epoch */
	char etag[OS_ETAG_MAX];
	struct os_meta meta;		/* owned */
};
void os_stat_release(struct os_stat *st);

/* Receives a GET body in order. Return 0 to go on, or a positive errno to
 * stop the transfer (that errno is then returned by os_get). */
typedef int (*os_sink_fn)(void *arg, const void *data, size_t len);

struct os_list_entry {
	char *key;			/* owned, full key */
	uint64_t size;
	int64_t mtime_ns;
	char etag[OS_ETAG_MAX];
};
struct os_list_page {
	struct os_list_entry *entries;	/* owned; in byte order of key */
	size_t n_entries;
	char **prefixes;		/* owned; common prefixes incl. delimiter */
	size_t n_prefixes;
	char *next_token;		/* owned; NULL when this was the last page */
};
void os_list_page_release(struct os_list_page *p);

struct os_part {
	int number;			/* 1..10000 */
	char etag[OS_ETAG_MAX];
};

struct os_upload_ref {
	char *key;
	char *upload_id;
	int64_t initiated_ns;		/* when it was created, ns since the epoch; 0 unknown */
};
struct os_upload_list {
	struct os_upload_ref *uploads;	/* owned */
	size_t n;
};
void os_upload_list_release(struct os_upload_list *l);

/* --- operations (each returns 0 or a positive errno, see above) --- */

/* Bucket exists and the credentials may list it. Used at mount time so that
 * "bucket not found" / "access denied" / "endpoint unreachable" is reported
 * before anything starts. */
int os_check(struct objstore *s);
/* A stable identity of the bucket ("s3:http://host:port/bucket",
 * "file:///root/bucket"): the block-cache namespace. Borrowed. */
const char *os_id(struct objstore *s);

int os_head(struct objstore *s, const char *key, struct os_stat *st);
/* Streams bytes [off, off+len) (len may be OS_RANGE_TO_END) to sink. With
 * etag != NULL the read is conditional (If-Match): ESTALE when it changed.
 * A range starting at or past the end gives EINVAL, except off == size == 0. */
int os_get(struct objstore *s, const char *key, uint64_t off, uint64_t len,
	   const char *etag, os_sink_fn sink, void *arg);
/* Replaces key atomically with data. meta may be NULL. etag_out may be NULL. */
int os_put(struct objstore *s, const char *key, const void *data, size_t len,
	   const struct os_meta *meta, char etag_out[OS_ETAG_MAX]);
int os_delete(struct objstore *s, const char *key);	/* ENOENT is not an error: 0 */
/* Deletes any number of keys in batches of OS_DELETE_BATCH. */
int os_delete_keys(struct objstore *s, const char *const *keys, size_t n);
/* Server-side copy. meta == NULL copies the source's metadata (COPY);
 * otherwise it is replaced (REPLACE). Objects over OS_COPY_SINGLE_MAX are
 * copied with a multipart copy. src == dst with meta updates metadata. */
int os_copy(struct objstore *s, const char *src, const char *dst,
	    const struct os_meta *meta, char etag_out[OS_ETAG_MAX]);
/* One ListObjectsV2 page. prefix/delimiter/token may be NULL; max_keys <= 1000
 * (0 = 1000). */
int os_list(struct objstore *s, const char *prefix, const char *delimiter,
	    const char *token, int max_keys, struct os_list_page *out);

/* Multipart uploads. Parts are 1..10000, each >= 5 MiB except the last. Parts
 * may be uploaded concurrently from several threads. complete() takes parts
 * in ascending order. */
int os_mpu_create(struct objstore *s, const char *key, const struct os_meta *meta,
		  char **upload_id);
int os_mpu_put_part(struct objstore *s, const char *key, const char *upload_id,
		    int part, const void *data, size_t len, char etag_out[OS_ETAG_MAX]);
int os_mpu_copy_part(struct objstore *s, const char *key, const char *upload_id,
		     int part, const char *src_key, uint64_t off, uint64_t len,
		     char etag_out[OS_ETAG_MAX]);
int os_mpu_complete(struct objstore *s, const char *key, const char *upload_id,
		    const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX]);
int os_mpu_abort(struct objstore *s, const char *key, const char *upload_id);
/* Uploads in progress under prefix (NULL = all). */
int os_mpu_list(struct objstore *s, const char *prefix, struct os_upload_list *out);

/* Frees the store and, for wrappers, the store they wrap. NULL is a no-op. */
void os_destroy(struct objstore *s);

/* True for errors worth retrying: EAGAIN, ETIMEDOUT, ECONNRESET, ECONNREFUSED,
 * EHOSTUNREACH, EPIPE. */
bool os_error_is_transient(int err);
/* Checks a key is one S3 accepts (non-empty, <= 1024 bytes, valid UTF-8 is
 * not required). 0 or EINVAL/ENAMETOOLONG. */
int os_key_check(const char *key);

#endif

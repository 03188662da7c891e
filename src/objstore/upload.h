/*
 * upload.h - streaming upload of one object with parallel multipart parts.
 *
 * The caller writes bytes in order; every full part (part_size) is handed to
 * the store's mpu_put_part from a worker thread while the caller keeps
 * writing, with at most max_inflight parts in memory (writes block when the
 * limit is reached: the memory bound). finish() uploads the rest and
 * completes the upload; if no part was ever started it uses one PUT instead.
 * Any failure aborts the multipart upload, so the previous version of the
 * object stays as it was and no upload is left behind.
 * One upload is used by one thread at a time (the caller); it starts its own
 * worker threads.
 */
#ifndef LITHFS_OBJSTORE_UPLOAD_H
#define LITHFS_OBJSTORE_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "objstore/objstore.h"

struct os_upload;

struct os_upload_opts {
	size_t part_size;	/* >= 5 MiB; default 16 MiB */
	int max_inflight;	/* parts uploading at once; default 4 */
};

/* meta may be NULL; it is copied. 0, ENOMEM, or EINVAL for a part_size
 * outside 5 MiB..5 GiB or max_inflight outside 1..64 (0 = default). Nothing
 * is sent yet. */
int os_upload_create(struct objstore *s, const char *key, const struct os_meta *meta,
		     const struct os_upload_opts *opts, struct os_upload **out);
/* 0, or the first error of any part so far (the upload is then dead: call
 * os_upload_abort). */
int os_upload_write(struct os_upload *u, const void *data, size_t len);
/* Uploads the remainder and makes the object visible. Frees u in all cases.
 * 0 or errno (then nothing was published and the MPU was aborted). */
int os_upload_finish(struct os_upload *u, char etag_out[OS_ETAG_MAX]);
/* Discards everything, aborts the MPU if one was started, frees u. */
void os_upload_abort(struct os_upload *u);
uint64_t os_upload_bytes(const struct os_upload *u);

#endif

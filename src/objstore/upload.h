/*
 * upload.h - streaming upload of one object with parallel multipart parts.
 *
 * The caller writes bytes in order; every full part is handed to the store's
 * mpu_put_part from a worker thread while the caller keeps writing, with at
 * most max_inflight parts uploading (writes block when the limit is reached).
 * finish() uploads the rest and completes the upload; if no part was ever
 * started it uses one PUT instead.
 *
 * Part sizes follow os_upload_part_len: part_size for the first
 * OS_UPLOAD_GROUP parts, then doubling every OS_UPLOAD_GROUP parts up to
 * 5 GiB, so 10,000 parts hold 4.9 TiB at 5 MiB parts and 13 TB at 16 MiB
 * while files up to 1000 parts are cut exactly as with a fixed size.
 *
 * Two sources of part bytes:
 *   - memory (os_upload_write): bytes are copied into part buffers. The
 *     upload holds at most (max_inflight + 1) * part_size bytes, or one
 *     part when a single part is larger than that (concurrency drops as
 *     parts grow);
 *   - a file (os_upload_create_fd, os_upload_extend): the caller has
 *     already written byte i of the stream at offset i of fd; workers map each
 *     part from there (mmap, page cache) and hold no buffer. The caller
 *     must keep those bytes in the file, unchanged unless it calls
 *     os_upload_dirty, until os_upload_done says the part is uploaded.
 * Any failure aborts the multipart upload, so the previous version of the
 * object stays as it was and no upload is left behind.
 * One upload is used by one thread at a time (the caller); it starts its own
 * worker threads.
 */
#ifndef LITHFS_OBJSTORE_UPLOAD_H
#define LITHFS_OBJSTORE_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objstore/objstore.h"

struct os_upload;

#define OS_UPLOAD_PARTS_MAX 10000
#define OS_UPLOAD_GROUP 1000	/* parts of one size before the size doubles */
#define OS_UPLOAD_PART_MAX (5ULL << 30)

struct os_upload_opts {
	size_t part_size;	/* >= 5 MiB: size of the first parts; default 16 MiB */
	int max_inflight;	/* parts uploading at once; default 4 */
};

/* The part schedule, pure functions. group: parts per size step
 * (OS_UPLOAD_GROUP, or os_upload_group()). Part numbers are 1-based.
 * Size of part `number`: part_size << ((number - 1) / group), at most 5 GiB. */
uint64_t os_upload_part_len(size_t part_size, int group, int number);
/* Offset of part `number` in the stream. */
uint64_t os_upload_part_off(size_t part_size, int group, int number);
/* Number of parts a stream of size bytes is cut into (0 for 0 bytes; more
 * than OS_UPLOAD_PARTS_MAX when it does not fit). */
int os_upload_part_count(size_t part_size, int group, uint64_t size);
/* The group in effect: OS_UPLOAD_GROUP, or for tests only the value of the
 * environment variable LITHFS_TEST_PART_GROUP (1..OS_UPLOAD_GROUP), which
 * makes parts grow after a few parts so a test can cross the steps with a
 * small file. */
int os_upload_group(void);

/* meta may be NULL; it is copied. 0, ENOMEM, or EINVAL for a part_size
 * outside 5 MiB..5 GiB or max_inflight outside 1..64 (0 = default). Nothing
 * is sent yet. */
int os_upload_create(struct objstore *s, const char *key, const struct os_meta *meta,
		     const struct os_upload_opts *opts, struct os_upload **out);
/* The same for an upload whose bytes are read from fd (borrowed; kept open
 * until finish or abort): see "a file" above. */
int os_upload_create_fd(struct objstore *s, const char *key, const struct os_meta *meta,
			const struct os_upload_opts *opts, int fd, struct os_upload **out);
/* 0, or the first error of any part so far (the upload is then dead: call
 * os_upload_abort). EFBIG beyond the 10,000th part. Memory uploads only. */
int os_upload_write(struct os_upload *u, const void *data, size_t len);
/* fd uploads: the stream is now len bytes longer (already in the file).
 * Errors as os_upload_write. */
int os_upload_extend(struct os_upload *u, uint64_t len);
/* fd uploads: bytes [off, off+len) of the file changed below
 * os_upload_bytes. Parts already handed to the workers are sent again by
 * finish (S3 keeps the last upload of a part number). 0 or ENOMEM. */
int os_upload_dirty(struct os_upload *u, uint64_t off, uint64_t len);
/* End of the run of parts, starting with the part that holds byte `from`,
 * that are uploaded and not marked dirty since (from itself when there is
 * none): the caller may drop [from, end) from the file. */
uint64_t os_upload_done(struct os_upload *u, uint64_t from);
/* Uploads the remainder and makes the object visible. Frees u in all cases.
 * 0 or errno (then nothing was published and the MPU was aborted). */
int os_upload_finish(struct os_upload *u, char etag_out[OS_ETAG_MAX]);
/* Discards everything, aborts the MPU if one was started, frees u. */
void os_upload_abort(struct os_upload *u);
uint64_t os_upload_bytes(const struct os_upload *u);
/* True once the multipart upload exists on the server (a first part was
 * handed to the workers); before that an abort costs no request. */
bool os_upload_started(const struct os_upload *u);

#endif

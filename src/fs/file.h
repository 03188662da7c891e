/*
 * file.h - the contents of one open regular file of the mount.
 *
 * fs.c (the FUSE operations, inodes, directories, metadata) owns inodes; an
 * inode with open handles holds exactly one struct fs_file, shared by all its
 * handles and reference counted by fs.c, so data written through one handle
 * is read back through another at once.
 *
 * States: CLEAN (reads go through the block-cache reader, struct rd, at the
 * ETag the file was opened with) -> DIRTY after the first write or truncate.
 * Dirty data lives in a private staging file on local disk (never more than
 * the configured upload memory in RAM). While a new or truncated file is
 * written strictly sequentially, full parts are streamed into a parallel
 * multipart upload as they fill (os_upload); a write anywhere else ends the
 * streaming and the whole staged file is uploaded at flush. An existing object
 * modified in place is first filled into the staging file (lazily, or by
 * server-side part copies for unchanged ranges, an optimisation). Parts grow
 * with the part number (os_upload_part_len), so a stream may reach terabytes;
 * past 256 MiB its uploaded parts but the first are dropped from the staging
 * file, and a write or truncate into them, or anything else that ends the
 * stream, returns EIO: the file is then never published (every later write,
 * flush returns EIO) and the old object stays. A write that fails to store
 * its bytes in the staging file (ENOSPC) likewise makes every flush fail.
 * file_flush() publishes the contents as ONE object replace (PUT or completed
 * multipart upload) with the metadata the caller passes; on failure the MPU is
 * aborted, the old object is untouched, the file stays DIRTY and EIO (or the
 * store's errno) is returned, so the next flush may retry.
 *
 * Errors: 0 or positive errno. Thread safety: every function may be called
 * from several FUSE threads at once; struct fs_file has its own lock.
 */
#ifndef LITHFS_FS_FILE_H
#define LITHFS_FS_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "objstore/objstore.h"

struct rd;
struct fs_file;

struct file_ctx {			/* shared by all files of a mount; borrowed */
	struct objstore *store;
	struct rd *reader;		/* block-cache reader for clean data */
	const char *staging_dir;	/* where staging files are created */
	size_t part_size;		/* multipart part size */
	int upload_parallel;		/* parts uploading at once per file */
	uint64_t upload_mem;		/* bytes of RAM for upload buffers per mount */
};

/* Opens the file content of key. st describes the current object (NULL for a
 * new, empty object that does not exist yet). truncate: O_TRUNC. */
int file_open(const struct file_ctx *ctx, const char *key, const struct os_stat *st,
	      bool truncate, struct fs_file **out);
/* A new file (create): the metadata (mode, uid, gid) a stream of it starts
 * its multipart upload with, so that flush needs no copy onto itself for
 * them. 0 or ENOMEM. */
int file_set_meta(struct fs_file *f, const struct os_meta *meta);
int file_read(struct fs_file *f, void *buf, size_t size, off_t off, size_t *got);
int file_write(struct fs_file *f, const void *buf, size_t size, off_t off);
int file_truncate(struct fs_file *f, off_t size);
uint64_t file_size(struct fs_file *f);
bool file_dirty(struct fs_file *f);
/* Uploads if dirty (no-op when clean). meta: the metadata to store with the
 * new version (mode, uid, gid, times). On success fills st_out (may be NULL)
 * with the new size/ETag/mtime and the file is CLEAN again. */
int file_flush(struct fs_file *f, const struct os_meta *meta, struct os_stat *st_out);
/* The key changed by a rename while open: later flushes go to new_key. */
int file_rename(struct fs_file *f, const char *new_key);
/* Frees f (discarding unflushed data: fs.c flushes first). */
void file_close(struct fs_file *f);

#endif

/*
 * fs.h - the mount: FUSE operations over one object store (see docs/fs.md).
 *
 * Life cycle, in this order (main.c):
 *   fs_create()   before daemonizing: no threads, no LMDB, no I/O
 *   fuse_new(fs_operations(), fs) + fuse_mount()
 *   fs_start()    after daemonizing: opens the block cache (LMDB), starts the
 *                 reader's threads, creates the staging directory
 *   fuse_loop_mt()
 *   fs_destroy()  after the loop: flushes files still open (pending
 *                 uploads), stops the reader, closes the cache
 */
#ifndef LITHFS_FS_FS_H
#define LITHFS_FS_FS_H

#include <stddef.h>

struct fs;
struct fs_options;
struct objstore;
struct fuse_operations;

/* opts and store are borrowed and must outlive the fs; prefix is the
 * source's key prefix ("" or "dir/"). 0 or ENOMEM. */
int fs_create(const struct fs_options *opts, struct objstore *store, const char *prefix,
	      struct fs **out);
/* 0, or an errno with a one-line message in err. */
int fs_start(struct fs *fs, char *err, size_t errlen);
/* Returns the number of files whose last upload failed (data lost). */
int fs_destroy(struct fs *fs);
const struct fuse_operations *fs_operations(void);

#endif

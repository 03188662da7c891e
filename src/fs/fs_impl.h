/*
 * fs_impl.h - what the parts of the mount (fs.c: files and attributes,
 * dir.c: directories) share. Not for other modules.
 *
 * Errors: functions here return 0 or a positive errno; the FUSE operations
 * negate it once (fs.c, dir.c).
 */
#ifndef LITHFS_FS_FS_IMPL_H
#define LITHFS_FS_FS_IMPL_H

#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <stdbool.h>
#include <stdint.h>

#include "fs/acache.h"
#include "fs/attrs.h"
#include "fs/file.h"
#include "fs/fs.h"
#include "fs/inode.h"
#include "fs/options.h"

#define FS_XATTRS 9

struct fs {
	const struct fs_options *opts;	/* borrowed */
	struct objstore *store;		/* borrowed */
	char *prefix;			/* owned; "" or "dir/" */
	struct acache *ac;		/* owned */
	struct inode_table *inodes;	/* owned */
	struct bcache *bc;		/* owned; NULL with no_cache */
	struct rd *rd;			/* owned */
	char *staging_dir;		/* owned */
	struct file_ctx fctx;		/* points at the above */
	int64_t start_ns;		/* times of the root and implicit dirs */
	struct fs_xattr {		/* virtual xattrs of the root (fs.c) */
		const char *name;	/* static */
		char *value;		/* owned; NULL: not shown */
	} xattrs[FS_XATTRS];
};

static inline struct fs *fs_self(void)
{
	return fuse_get_context()->private_data;
}

/* The key of path (dir: with the trailing '/'). Caller frees. */
int fs_key(struct fs *fs, const char *path, bool dir, char **key);
/* Attributes of path: open file, cache, then LIST/HEAD (cached after).
 * 0 or ENOENT or a store errno. */
int fs_stat(struct fs *fs, const char *path, struct fs_attr *a);
/* Attributes for something the caller creates now (owner from the FUSE
 * request, times now). */
void fs_new_attr(struct fs *fs, mode_t mode, struct fs_attr *a);
/* 0 when nothing but the marker lives below path, ENOTEMPTY otherwise. */
int fs_dir_empty(struct fs *fs, const char *path);
/* Publishes ino if it is dirty, new or has unsaved metadata. */
int fs_flush_inode(struct fs *fs, struct fs_inode *ino);
/* Drops a reference to ino; the last one closes the file. */
void fs_inode_put(struct fs *fs, struct fs_inode *ino);
/* PUTs a small object for path with attributes a (symlink, special file,
 * directory marker when a is a directory); caches a with the new ETag. */
int fs_put_object(struct fs *fs, const char *path, const void *data, size_t len,
		  struct fs_attr *a);
/* Renames a directory: every key below it (not atomic). */
int fs_rename_dir(struct fs *fs, const char *from, const char *to);

/* handles.c */
int fs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int fs_op_open(const char *path, struct fuse_file_info *fi);
int fs_op_read(const char *path, char *buf, size_t size, off_t off,
	       struct fuse_file_info *fi);
int fs_op_write(const char *path, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi);
int fs_op_flush(const char *path, struct fuse_file_info *fi);
int fs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi);
int fs_op_release(const char *path, struct fuse_file_info *fi);
int fs_op_truncate(const char *path, off_t size, struct fuse_file_info *fi);

/* meta.c */
int fs_op_unlink(const char *path);
int fs_op_rename(const char *from, const char *to, unsigned int flags);
int fs_op_symlink(const char *target, const char *path);
int fs_op_readlink(const char *path, char *buf, size_t size);
int fs_op_mknod(const char *path, mode_t mode, dev_t rdev);
int fs_op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi);
int fs_op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi);
int fs_op_utimens(const char *path, const struct timespec tv[2],
		  struct fuse_file_info *fi);

/* dir.c */
int fs_op_opendir(const char *path, struct fuse_file_info *fi);
int fs_op_releasedir(const char *path, struct fuse_file_info *fi);
int fs_op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		  struct fuse_file_info *fi, enum fuse_readdir_flags flags);
int fs_op_mkdir(const char *path, mode_t mode);
int fs_op_rmdir(const char *path);
/* Lists path in full to refresh the cache of its children and its complete
 * mark (acache_set_complete), for lookups of names in it. */
int fs_dir_relist(struct fs *fs, const char *path);

#endif

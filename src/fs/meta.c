/*
 * meta.c - operations on names and attributes: unlink, rename, symlink,
 * readlink, mknod, chmod, chown, utimens.
 *
 * Attribute changes are stored as s3fs metadata (attrs.h). On an open file
 * they change the inode and are published with its next upload, or at once
 * by a copy onto itself when the file is clean. On anything else the object
 * is HEADed (to keep its other user metadata) and copied onto itself with
 * the new metadata (REPLACE); a directory without a marker gets one.
 * A symlink is an object whose content is the target and whose mode has
 * S_IFLNK, as s3fs writes it.
 * Renaming a file is a server-side copy then a delete (an open file is
 * uploaded first); renaming a directory is that for every key below it
 * (dir.c), which is not atomic.
 */
#include "config.h"
#include "fs/fs_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>	/* RENAME_NOREPLACE, RENAME_EXCHANGE */
#include <stdlib.h>
#include <string.h>

#include "fs/names.h"
#include "util/buf.h"
#include "util/log.h"

int fs_op_unlink(const char *path)
{
	struct fs *fs = fs_self();
	struct fs_inode *ino;
	char *key;
	int rc;

	if (fs->opts->ro)
		return -EROFS;
	rc = fs_key(fs, path, false, &key);
	if (rc != 0)
		return -rc;
	ino = inode_get(fs->inodes, path);
	if (ino != NULL)
		pthread_mutex_lock(&ino->io);	/* no upload may race the delete */
	rc = os_delete(fs->store, key);
	if (rc == 0) {
		inode_unlink(fs->inodes, path);
		acache_put_negative(fs->ac, path);
	}
	if (ino != NULL) {
		pthread_mutex_unlock(&ino->io);
		fs_inode_put(fs, ino);
	}
	free(key);
	return -rc;
}

/* Copies the object of from to to and deletes from. An open file of from is
 * uploaded first and follows the rename. */
static int rename_file(struct fs *fs, const char *from, const char *to,
		       const struct fs_attr *a)
{
	struct fs_inode *ino;
	struct fs_attr na = *a;
	char *fkey = NULL, *tkey = NULL;
	int rc;

	na.lm_ns = 0;
	rc = fs_key(fs, from, false, &fkey);
	if (rc == 0)
		rc = fs_key(fs, to, false, &tkey);
	ino = rc == 0 ? inode_get(fs->inodes, from) : NULL;
	if (ino != NULL)
		rc = fs_flush_inode(fs, ino);
	if (ino != NULL)
		pthread_mutex_lock(&ino->io);
	if (rc == 0)
		rc = os_copy(fs->store, fkey, tkey, NULL, na.etag);
	if (rc == 0)
		rc = os_delete(fs->store, fkey);
	if (rc == 0) {
		inode_rename(fs->inodes, from, to);
		if (ino != NULL)
			rc = file_rename(ino->file, tkey);
		acache_put_negative(fs->ac, from);
		acache_put(fs->ac, to, &na);
	}
	if (ino != NULL) {
		pthread_mutex_unlock(&ino->io);
		fs_inode_put(fs, ino);
	}
	free(fkey);
	free(tkey);
	return rc;
}

int fs_op_rename(const char *from, const char *to, unsigned int flags)
{
	struct fs *fs = fs_self();
	struct fs_attr sa, da;
	bool exists;
	int rc;

	if (fs->opts->ro)
		return -EROFS;
	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	rc = fs_stat(fs, from, &sa);
	if (rc != 0)
		return -rc;
	rc = fs_stat(fs, to, &da);
	if (rc != 0 && rc != ENOENT)
		return -rc;
	exists = rc == 0;
	if (exists && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	if (S_ISDIR(sa.mode)) {
		if (exists && !S_ISDIR(da.mode))
			return -ENOTDIR;
		if (exists && (rc = fs_dir_empty(fs, to)) != 0)
			return -rc;
		return -fs_rename_dir(fs, from, to);
	}
	if (exists && S_ISDIR(da.mode))
		return -EISDIR;
	return -rename_file(fs, from, to, &sa);
}

int fs_put_object(struct fs *fs, const char *path, const void *data, size_t len,
		      struct fs_attr *a)
{
	struct os_meta meta = { NULL, 0 };
	char *key;
	int rc;

	rc = fs_key(fs, path, S_ISDIR(a->mode), &key);
	if (rc != 0)
		return rc;
	rc = fs_attr_to_meta(a, &meta);
	if (rc == 0)
		rc = os_put(fs->store, key, data, len, &meta, a->etag);
	if (rc == 0)
		acache_put(fs->ac, path, a);
	os_meta_release(&meta);
	free(key);
	return rc;
}

int fs_op_symlink(const char *target, const char *path)
{
	struct fs *fs = fs_self();
	struct fs_attr a;
	size_t len = strlen(target);

	if (fs->opts->ro)
		return -EROFS;
	if (len >= PATH_MAX)
		return -ENAMETOOLONG;
	fs_new_attr(fs, S_IFLNK | 0777, &a);
	a.size = len;
	return -fs_put_object(fs, path, target, len, &a);
}

static int sink_buf(void *arg, const void *data, size_t len)
{
	struct buf *b = arg;

	if (b->len + len >= PATH_MAX)
		return ENAMETOOLONG;
	return buf_append(b, data, len);
}

int fs_op_readlink(const char *path, char *out, size_t size)
{
	struct fs *fs = fs_self();
	struct buf b = BUF_INIT;
	struct fs_attr a;
	char *key;
	int rc;

	if (size == 0)
		return -EINVAL;
	rc = fs_stat(fs, path, &a);
	if (rc == 0 && !S_ISLNK(a.mode))
		rc = EINVAL;
	if (rc == 0)
		rc = fs_key(fs, path, false, &key);
	if (rc != 0)
		return -rc;
	rc = os_get(fs->store, key, 0, OS_RANGE_TO_END, NULL, sink_buf, &b);
	if (rc == 0) {
		size_t n = b.len < size - 1 ? b.len : size - 1;

		if (n > 0)
			memcpy(out, b.data, n);
		out[n] = '\0';
	}
	buf_release(&b);
	free(key);
	return -rc;
}

int fs_op_mknod(const char *path, mode_t mode, dev_t rdev)
{
	struct fs *fs = fs_self();
	struct fs_attr a;

	(void)rdev;
	if (fs->opts->ro)
		return -EROFS;
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode))
		return -EPERM;		/* devices cannot be stored */
	fs_new_attr(fs, mode, &a);
	return -fs_put_object(fs, path, "", 0, &a);
}

/* One attribute change; fields not named by `what` are ignored. */
struct attr_change {
	enum { CH_MODE, CH_OWNER, CH_TIMES } what;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec tv[2];		/* atime, mtime (UTIME_NOW, UTIME_OMIT) */
};

static void apply_time(struct timespec *dst, const struct timespec *src,
		       const struct timespec *now)
{
	if (src->tv_nsec == UTIME_OMIT)
		return;
	*dst = src->tv_nsec == UTIME_NOW ? *now : *src;
}

static void apply_change(const struct attr_change *ch, struct fs_attr *a)
{
	struct timespec now = fs_ns_to_ts(fs_now_ns());

	switch (ch->what) {
	case CH_MODE:
		a->mode = (a->mode & S_IFMT) | (ch->mode & 07777);
		break;
	case CH_OWNER:
		if (ch->uid != (uid_t)-1)
			a->uid = ch->uid;
		if (ch->gid != (gid_t)-1)
			a->gid = ch->gid;
		break;
	case CH_TIMES:
		apply_time(&a->atime, &ch->tv[0], &now);
		apply_time(&a->mtime, &ch->tv[1], &now);
		break;
	}
	a->ctime = now;
	a->meta_known = true;
}

/* The change on an open file: kept in the inode, published now if clean. */
static int change_open(struct fs *fs, struct fs_inode *ino, const struct attr_change *ch)
{
	pthread_mutex_lock(&ino->lock);
	apply_change(ch, &ino->attr);
	ino->meta_dirty = true;
	ino->defer_trunc = false;	/* O_TRUNC is no longer the only change */
	pthread_mutex_unlock(&ino->lock);
	if (file_dirty(ino->file))
		return 0;	/* goes with the upload at close */
	return fs_flush_inode(fs, ino);
}

/* The change on a stored object (file, symlink or directory marker): HEAD,
 * then copy onto itself (or create the marker of an implicit directory). */
static int change_stored(struct fs *fs, const char *path, const struct attr_change *ch)
{
	struct os_stat st;
	struct fs_attr a;
	bool dir;
	char *key;
	int rc;

	rc = fs_stat(fs, path, &a);
	if (rc != 0)
		return rc;
	dir = S_ISDIR(a.mode);
	rc = fs_key(fs, path, dir, &key);
	if (rc != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	log_msg(LOG_DEBUG, "head \"%s\" (attribute change)", key);
	rc = os_head(fs->store, key, &st);
	if (rc == 0)
		fs_attr_from_object(fs->opts, dir, &st, &a);
	else if (rc == ENOENT && dir)
		rc = 0;		/* implicit directory: a marker is created */
	if (rc == 0) {
		bool exists = st.etag[0] != '\0';

		apply_change(ch, &a);
		rc = fs_attr_to_meta(&a, &st.meta);
		if (rc == 0 && exists)
			rc = os_copy(fs->store, key, key, &st.meta, a.etag);
		else if (rc == 0)
			rc = os_put(fs->store, key, "", 0, &st.meta, a.etag);
	}
	if (rc == 0) {
		a.lm_ns = 0;
		a.has_marker = a.has_marker || dir;
		acache_put(fs->ac, path, &a);
	}
	os_stat_release(&st);
	free(key);
	return rc;
}

static int change_attr(const char *path, struct fuse_file_info *fi,
		       const struct attr_change *ch)
{
	struct fs *fs = fs_self();
	struct fs_inode *ino;
	int rc;

	if (fs->opts->ro)
		return -EROFS;
	if (strcmp(path != NULL ? path : "", "/") == 0)
		return 0;	/* the root has no object to keep attributes in */
	if (fi != NULL && fi->fh != 0) {
		ino = (struct fs_inode *)(uintptr_t)fi->fh;
		inode_ref(fs->inodes, ino);
	} else {
		ino = inode_get(fs->inodes, path);
	}
	if (ino != NULL) {
		rc = change_open(fs, ino, ch);
		fs_inode_put(fs, ino);
	} else {
		rc = change_stored(fs, path, ch);
	}
	return -rc;
}

int fs_op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct attr_change ch = { .what = CH_MODE, .mode = mode };

	return change_attr(path, fi, &ch);
}

int fs_op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct attr_change ch = { .what = CH_OWNER, .uid = uid, .gid = gid };

	return change_attr(path, fi, &ch);
}

int fs_op_utimens(const char *path, const struct timespec tv[2],
		  struct fuse_file_info *fi)
{
	struct attr_change ch = { .what = CH_TIMES };

	if (tv == NULL) {
		ch.tv[0].tv_nsec = UTIME_NOW;
		ch.tv[1].tv_nsec = UTIME_NOW;
	} else {
		ch.tv[0] = tv[0];
		ch.tv[1] = tv[1];
	}
	return change_attr(path, fi, &ch);
}

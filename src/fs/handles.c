/*
 * handles.c - open files: create, open, read, write, truncate, flush,
 * fsync, release. The contents are file.c's business (file.h); this file
 * ties them to paths (inode.h) and publishes them with their metadata.
 *
 * Publication (fs_flush_inode) happens on every flush (each close(2)),
 * fsync and the last release, and only when something changed (not a
 * flush while the only change is open's O_TRUNC: fs_op_flush): dirty data
 * -> file_flush() (one object replace carrying the metadata); a new file
 * never written -> an empty PUT; only metadata changed -> a copy of the
 * object onto itself with the new metadata. An unlinked inode (unlink, or
 * replaced by a rename) publishes nothing.
 *
 * Opening HEADs the object for its ETag and metadata (close-to-open
 * consistency), so the reader never serves an older version than the one
 * current at open, except that a check made by this mount less than
 * min(1 s, stat_ttl) before (the lookup's HEAD of the same path, or a listing
 * that showed the version whose metadata is known) is used instead, once.
 * Kernel caches: a file opened afresh at the ETag whose data the kernel may
 * hold keeps its page cache (FOPEN_KEEP_CACHE), so re-reads cost nothing;
 * when open finds another version than the kernel was last told of, the
 * kernel's attributes and data of the path are invalidated, or a reader
 * would stop at the old size while the kernel's attributes are fresh.
 */
#include "config.h"
#include "fs/fs_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* The object of path changed behind the kernel's back (open found another
 * version than the kernel was last told of): its cached attributes (the
 * size!) and data must go, or a reader would stop at the old size. */
static void stale_kernel(const char *path)
{
	struct fuse_context *ctx = fuse_get_context();
	int rc;

	if (ctx == NULL || ctx->fuse == NULL)
		return;
	rc = fuse_invalidate_path(ctx->fuse, path);
	if (rc != 0 && rc != -ENOENT)
		log_msg(LOG_DEBUG, "%s: kernel cache not invalidated: %s", path, strerror(-rc));
}

static struct fs_inode *fh_inode(const struct fuse_file_info *fi)
{
	return (struct fs_inode *)(uintptr_t)fi->fh;
}

void fs_inode_put(struct fs *fs, struct fs_inode *ino)
{
	if (inode_unref(fs->inodes, ino)) {
		file_close(ino->file);
		inode_free(ino);
	}
}

/* Called with ino->io held: the metadata to publish, built from attr and
 * the other user metadata of the object. */
static int publish_meta(struct fs_inode *ino, bool *publish, struct os_meta *meta)
{
	int rc = 0;

	pthread_mutex_lock(&ino->lock);
	*publish = *publish || !ino->published || ino->meta_dirty;
	if (*publish) {
		rc = os_meta_copy(meta, &ino->extra);
		if (rc == 0)
			rc = fs_attr_to_meta(&ino->attr, meta);
	}
	pthread_mutex_unlock(&ino->lock);
	return rc;
}

/* Called with ino->io held: sends the contents and/or metadata. */
static int publish(struct fs *fs, struct fs_inode *ino, const char *key, bool dirty,
		   const struct os_meta *meta, struct fs_attr *a)
{
	struct os_stat st;
	bool published;
	int rc;

	pthread_mutex_lock(&ino->lock);
	published = ino->published;
	pthread_mutex_unlock(&ino->lock);
	memset(&st, 0, sizeof(st));
	if (dirty) {
		rc = file_flush(ino->file, meta, &st);
	} else if (!published) {
		rc = os_put(fs->store, key, "", 0, meta, st.etag);
	} else {
		rc = os_copy(fs->store, key, key, meta, st.etag);
		st.size = file_size(ino->file);
	}
	pthread_mutex_lock(&ino->lock);
	if (rc == 0) {
		ino->published = true;
		ino->meta_dirty = false;
		ino->defer_trunc = false;
		ino->attr.size = st.size;
		ino->attr.lm_ns = 0;	/* learnt from the next listing */
		memcpy(ino->attr.etag, st.etag, sizeof(st.etag));
	}
	*a = ino->attr;
	pthread_mutex_unlock(&ino->lock);
	os_stat_release(&st);
	return rc;
}

int fs_flush_inode(struct fs *fs, struct fs_inode *ino)
{
	struct os_meta meta = { NULL, 0 };
	struct fs_attr a;
	char *path = NULL, *key = NULL;
	bool dirty, need;
	int rc;

	pthread_mutex_lock(&ino->io);
	if (!inode_linked(fs->inodes, ino)) {
		rc = 0;		/* unlinked or replaced: nothing to keep */
		goto out_unlock;
	}
	dirty = file_dirty(ino->file);
	need = dirty;
	rc = publish_meta(ino, &need, &meta);
	if (rc != 0 || !need)
		goto out_meta;
	path = inode_path(fs->inodes, ino);
	rc = path == NULL ? ENOMEM : fs_key(fs, path, false, &key);
	if (rc == 0)
		rc = publish(fs, ino, key, dirty, &meta, &a);
	if (rc == 0)	/* the metadata stored is known: a listing may stand for a HEAD */
		acache_put_head(fs->ac, path, &a, &meta, false);
	else
		log_msg(LOG_ERR, "cannot upload %s: %s", path ? path : "?", strerror(rc));
	free(key);
	free(path);
out_meta:
	os_meta_release(&meta);
out_unlock:
	pthread_mutex_unlock(&ino->io);
	return rc;
}

/* How long a check of the object by this mount (the lookup's HEAD just
 * before, or a listing of a version whose metadata is known) stands in for
 * open's own HEAD: once, and within min(this, stat_ttl). */
#define OPEN_CHECK_AGE_NS 1000000000LL

/* The object of path as it is now: a check made moments ago (used up), else
 * a HEAD. The result is cached; *st is the caller's to release. */
static int stat_for_open(struct fs *fs, const char *path, struct os_stat *st,
			 struct fs_attr *a)
{
	int64_t ttl = (int64_t)(fs->opts->stat_ttl * 1e9);
	int64_t age = ttl < OPEN_CHECK_AGE_NS ? ttl : OPEN_CHECK_AGE_NS;
	char *key;
	int rc;

	memset(st, 0, sizeof(*st));
	if (age > 0 && acache_take_checked(fs->ac, path, age, a, &st->meta) == 0) {
		st->size = a->size;
		st->mtime_ns = a->lm_ns;
		memcpy(st->etag, a->etag, sizeof(st->etag));
		log_msg(LOG_DEBUG, "open \"%s\": checked moments ago, no HEAD", path);
		return fs_attr_to_meta(a, &st->meta);
	}
	rc = fs_key(fs, path, false, &key);
	if (rc != 0)
		return rc;
	log_msg(LOG_DEBUG, "head \"%s\" (open)", key);
	rc = os_head(fs->store, key, st);
	free(key);
	if (rc == 0) {
		fs_attr_from_object(fs->opts, false, st, a);
		acache_put_head(fs->ac, path, a, &st->meta, false);
	}
	return rc;
}

/* Opens the existing object of path into a new (or the current) inode.
 * *fresh: a new inode, whose data the kernel may cache (see fs_op_open). */
static int open_inode(struct fs *fs, const char *path, bool trunc, struct fs_inode **out,
		      bool *fresh)
{
	struct os_stat st;
	struct fs_attr a, was;
	struct fs_file *file;
	struct fs_inode *ino, *win;
	char *key;
	bool known;
	int rc;

	known = acache_peek(fs->ac, path, &was) == 0;
	rc = stat_for_open(fs, path, &st, &a);
	if (rc == 0)
		rc = fs_key(fs, path, false, &key);
	if (rc == 0) {
		rc = file_open(&fs->fctx, key, &st, trunc, &file);
		free(key);
	}
	if (rc != 0) {
		os_stat_release(&st);
		return rc;
	}
	if (fs->opts->stat_ttl > 0 &&
	    (!known || strcmp(was.etag, a.etag) != 0 || was.size != a.size))
		stale_kernel(path);
	ino = inode_new(path, file, &a, &st.meta, true);
	os_stat_release(&st);
	if (ino == NULL) {
		file_close(file);
		return ENOMEM;
	}
	win = inode_insert(fs->inodes, ino);
	*fresh = win == ino;
	if (win != ino) {
		file_close(file);
		inode_free(ino);
		if (trunc) {
			pthread_mutex_lock(&win->io);
			rc = file_truncate(win->file, 0);
			pthread_mutex_unlock(&win->io);
		}
	}
	*out = win;
	return rc;
}

/* mtime and ctime to now; open_trunc: the change is an open(O_TRUNC), which
 * defers publication while nothing else changes (fs_op_flush). */
static void touch_mtime(struct fs_inode *ino, bool open_trunc)
{
	struct timespec now = fs_ns_to_ts(fs_now_ns());

	pthread_mutex_lock(&ino->lock);
	ino->attr.mtime = now;
	ino->attr.ctime = now;
	ino->defer_trunc = open_trunc && ino->published;
	pthread_mutex_unlock(&ino->lock);
}

/* A new file's stream starts its upload with the file's mode, uid and gid,
 * so a long stream needs no copy onto itself at close (file.c). Best effort:
 * without them the copy is made. */
static void create_meta(struct fs_file *file, const struct fs_attr *a)
{
	struct os_meta m = { 0 };

	if (fs_attr_to_meta(a, &m) == 0)
		file_set_meta(file, &m);
	os_meta_release(&m);
}

int fs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct fs *fs = fs_self();
	struct fs_file *file;
	struct fs_inode *ino, *win;
	struct fs_attr a;
	char *key;
	int rc;

	if (fs->opts->ro)
		return -EROFS;
	rc = fs_key(fs, path, false, &key);
	if (rc != 0)
		return -rc;
	fs_new_attr(fs, S_IFREG | (mode & 07777), &a);
	rc = file_open(&fs->fctx, key, NULL, false, &file);
	free(key);
	if (rc != 0)
		return -rc;
	create_meta(file, &a);
	ino = inode_new(path, file, &a, NULL, false);
	if (ino == NULL) {
		file_close(file);
		return -ENOMEM;
	}
	win = inode_insert(fs->inodes, ino);
	if (win != ino) {		/* opened meanwhile: it exists */
		file_close(file);
		inode_free(ino);
		if (fi->flags & O_EXCL) {
			fs_inode_put(fs, win);
			return -EEXIST;
		}
	}
	acache_put(fs->ac, path, &a);
	fi->fh = (uintptr_t)win;
	return 0;
}

int fs_op_open(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = fs_self();
	bool trunc = (fi->flags & O_TRUNC) != 0, fresh = false;
	struct fs_inode *ino;
	int rc = 0;

	if (fs->opts->ro && ((fi->flags & O_ACCMODE) != O_RDONLY || trunc))
		return -EROFS;
	ino = inode_get(fs->inodes, path);
	if (ino == NULL) {
		rc = open_inode(fs, path, trunc, &ino, &fresh);
		if (rc != 0)
			return -rc;
	} else if (trunc) {
		pthread_mutex_lock(&ino->io);
		rc = file_truncate(ino->file, 0);
		pthread_mutex_unlock(&ino->io);
	}
	if (rc == 0 && trunc)
		touch_mtime(ino, true);
	if (rc != 0) {
		fs_inode_put(fs, ino);
		return -rc;
	}
	/* The kernel keeps the pages it holds when they are of the version
	 * just opened (fresh: the object was HEADed now; nothing was written
	 * since the kernel cached them, or the ETag would differ). */
	if (fresh && !trunc) {
		char etag[OS_ETAG_MAX];

		pthread_mutex_lock(&ino->lock);
		memcpy(etag, ino->attr.etag, sizeof(etag));
		pthread_mutex_unlock(&ino->lock);
		fi->keep_cache = acache_kernel_etag(fs->ac, path, etag);
	}
	fi->fh = (uintptr_t)ino;
	return 0;
}

int fs_op_read(const char *path, char *buf, size_t size, off_t off,
	       struct fuse_file_info *fi)
{
	size_t got = 0;
	int rc;

	(void)path;
	rc = file_read(fh_inode(fi)->file, buf, size, off, &got);
	return rc != 0 ? -rc : (int)got;
}

int fs_op_write(const char *path, const char *buf, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct fs_inode *ino = fh_inode(fi);
	int rc;

	(void)path;
	if (fs_self()->opts->ro)
		return -EROFS;
	rc = file_write(ino->file, buf, size, off);
	if (rc != 0)
		return -rc;
	touch_mtime(ino, false);
	return (int)size;
}

/* A flush while the only change is open's O_TRUNC publishes nothing: it is
 * the close of the fd the shell dup2s onto stdout (`prog > file`), or a dup
 * prog closes as it starts, and an empty object then would replace the old one
 * for the whole run of prog. A write (then the next flush), fsync or the last
 * release publishes; so a truncation nothing is written after is published
 * by release, just after close(2) returned, and an error then is only logged. */
int fs_op_flush(const char *path, struct fuse_file_info *fi)
{
	struct fs_inode *ino = fh_inode(fi);
	bool defer;

	(void)path;
	pthread_mutex_lock(&ino->lock);
	defer = ino->defer_trunc;
	pthread_mutex_unlock(&ino->lock);
	return defer ? 0 : -fs_flush_inode(fs_self(), ino);
}

int fs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	return -fs_flush_inode(fs_self(), fh_inode(fi));
}

int fs_op_release(const char *path, struct fuse_file_info *fi)
{
	struct fs *fs = fs_self();
	struct fs_inode *ino = fh_inode(fi);

	(void)path;
	fs_flush_inode(fs, ino);	/* writes after the last flush (mmap) */
	fs_inode_put(fs, ino);
	return 0;
}

int fs_op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fs *fs = fs_self();
	struct fs_inode *ino;
	bool own = false, fresh;
	int rc;

	if (fs->opts->ro)
		return -EROFS;
	if (size < 0)
		return -EINVAL;
	if (fi != NULL && fi->fh != 0) {
		ino = fh_inode(fi);
		inode_ref(fs->inodes, ino);
	} else {
		ino = inode_get(fs->inodes, path);
		if (ino == NULL) {
			rc = open_inode(fs, path, size == 0, &ino, &fresh);
			if (rc != 0)
				return -rc;
			own = true;
		}
	}
	pthread_mutex_lock(&ino->io);
	rc = file_truncate(ino->file, size);
	pthread_mutex_unlock(&ino->io);
	if (rc == 0)
		touch_mtime(ino, false);
	if (rc == 0 && own)
		rc = fs_flush_inode(fs, ino);
	fs_inode_put(fs, ino);
	return -rc;
}

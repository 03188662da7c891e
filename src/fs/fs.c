/*
 * fs.c - the mount's life cycle, lookups and the FUSE operation table.
 *
 * The high-level libfuse API (paths) with a multi-threaded loop. A path is
 * resolved in this order (fs_stat): an open file of that path (inode.h,
 * whose size may be ahead of the store), the attribute cache (acache.h)
 * unless the entry was only seen in a listing (no metadata), then the store: one LIST of "path/" with max-keys 2 says whether it is a
 * directory (the directory wins over a key "path", see names.h; a marker
 * "path/" is then HEADed for its metadata), else a HEAD of "path" finds a
 * file. Misses are cached as negative entries for neg_ttl.
 *
 * The kernel caches attributes and entries for stat_ttl too (entry_timeout,
 * attr_timeout) and readdirplus hands it the listing's attributes, so `ls
 * -l` costs the LISTs and nothing per entry; the kernel asks for an entry
 * on its own (a lookup, which may HEAD) only after that.
 * The other operations live in handles.c (open files), meta.c (attributes,
 * links, rename, unlink) and dir.c (directories).
 */
#include "config.h"
#include "fs/fs_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cache/bcache.h"
#include "cache/reader.h"
#include "fs/names.h"
#include "objstore/objstore.h"
#include "util/log.h"

int fs_create(const struct fs_options *opts, struct objstore *store, const char *prefix,
	      struct fs **out)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (fs == NULL)
		return ENOMEM;
	fs->opts = opts;
	fs->store = store;
	fs->start_ns = fs_now_ns();
	fs->prefix = strdup(prefix);
	if (fs->prefix == NULL || acache_create(opts->stat_ttl, opts->neg_ttl, &fs->ac) != 0 ||
	    inode_table_create(&fs->inodes) != 0) {
		fs_destroy(fs);
		return ENOMEM;
	}
	*out = fs;
	return 0;
}

/* Staging files (dirty data) live beside the cache, never inside it (the
 * cache directory holds nothing but the cache): staging_dir=, else
 * CACHE_DIR-staging. */
static int make_staging_dir(struct fs *fs, const char *base, char *err, size_t errlen)
{
	size_t len = strlen(base) + 16;

	if (fs->opts->staging_dir != NULL) {
		fs->staging_dir = strdup(fs->opts->staging_dir);
	} else {
		fs->staging_dir = malloc(len);
		if (fs->staging_dir != NULL)
			snprintf(fs->staging_dir, len, "%s-staging", base);
	}
	if (fs->staging_dir == NULL)
		return ENOMEM;
	if (mkdir(fs->staging_dir, 0700) != 0 && errno != EEXIST) {
		int rc = errno;

		snprintf(err, errlen, "cannot create staging directory %s: %s (see "
			 "staging_dir=)", fs->staging_dir, strerror(rc));
		return rc;
	}
	return 0;
}

static int open_cache(struct fs *fs, char *err, size_t errlen)
{
	char *dir = NULL;
	const char *base;
	int rc = 0;

	if (fs->opts->cache_dir != NULL) {
		base = fs->opts->cache_dir;
	} else {
		dir = bc_default_dir();
		if (dir == NULL)
			return ENOMEM;
		base = dir;
	}
	/* The cache is best effort (bcache.h): without one, reads go to the
	 * store (rd_create takes a NULL cache). */
	if (!fs->opts->no_cache &&
	    bc_open(base, fs->opts->cache_size, &fs->bc, err, errlen) != 0) {
		log_msg(LOG_WARNING, "cache disabled: %s", err);
		fs->bc = NULL;
	}
	rc = make_staging_dir(fs, base, err, errlen);
	free(dir);
	return rc;
}

int fs_start(struct fs *fs, char *err, size_t errlen)
{
	int rc = open_cache(fs, err, errlen);

	if (rc != 0)
		return rc;
	rc = rd_create(fs->store, fs->bc, &fs->opts->rd, &fs->rd);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the reader: %s", strerror(rc));
		return rc;
	}
	fs->fctx.store = fs->store;
	fs->fctx.reader = fs->rd;
	fs->fctx.staging_dir = fs->staging_dir;
	fs->fctx.part_size = fs->opts->part_size;
	fs->fctx.upload_parallel = fs->opts->upload_parallel;
	fs->fctx.upload_mem = fs->opts->upload_mem;
	return 0;
}

/* Flushes and closes every file still open; returns how many failed. */
static int close_all(struct fs *fs)
{
	struct fs_inode **v;
	size_t n;
	int failed = 0;

	if (inode_list_below(fs->inodes, "/", &v, &n) != 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (fs_flush_inode(fs, v[i]) != 0)
			failed++;
		inode_unlink(fs->inodes, v[i]->path);
		file_close(v[i]->file);
		inode_free(v[i]);	/* the kernel released every handle */
	}
	free(v);
	return failed;
}

int fs_destroy(struct fs *fs)
{
	int failed = 0;

	if (fs == NULL)
		return 0;
	if (fs->inodes != NULL && fs->rd != NULL)
		failed = close_all(fs);
	rd_destroy(fs->rd);
	bc_close(fs->bc);
	inode_table_destroy(fs->inodes);
	acache_destroy(fs->ac);
	free(fs->staging_dir);
	free(fs->prefix);
	free(fs);
	return failed;
}

int fs_key(struct fs *fs, const char *path, bool dir, char **key)
{
	return fs_key_of(fs->prefix, path, dir, key);
}

void fs_new_attr(struct fs *fs, mode_t mode, struct fs_attr *a)
{
	struct fuse_context *ctx = fuse_get_context();

	fs_attr_default(fs->opts, mode & S_IFMT, fs_now_ns(), a);
	a->mode = mode;
	if (ctx != NULL) {
		a->uid = ctx->uid;
		a->gid = ctx->gid;
	}
	a->meta_known = true;
	a->has_marker = S_ISDIR(mode);
}

/* A directory found by listing "path/": HEAD its marker if there is one. */
static int stat_remote_dir(struct fs *fs, const char *dkey, bool marker,
			   struct fs_attr *a)
{
	struct os_stat st;
	int rc;

	fs_attr_default(fs->opts, S_IFDIR, fs->start_ns, a);
	a->meta_known = true;
	if (!marker)
		return 0;
	memset(&st, 0, sizeof(st));
	log_msg(LOG_DEBUG, "head \"%s\" (directory marker)", dkey);
	rc = os_head(fs->store, dkey, &st);
	if (rc == 0)
		fs_attr_from_object(fs->opts, true, &st, a);
	os_stat_release(&st);
	return rc == ENOENT ? 0 : rc;	/* deleted meanwhile: still implicit */
}

static int stat_remote(struct fs *fs, const char *path, struct fs_attr *a)
{
	struct os_list_page page;
	struct os_stat st;
	char *dkey, *key;
	int rc;

	rc = fs_key(fs, path, true, &dkey);
	if (rc != 0)
		return rc;
	memset(&page, 0, sizeof(page));
	log_msg(LOG_DEBUG, "list \"%s\" max 2 (lookup)", dkey);
	rc = os_list(fs->store, dkey, NULL, NULL, 2, &page);
	if (rc == 0 && (page.n_entries > 0 || page.n_prefixes > 0)) {
		bool marker = page.n_entries > 0 && strcmp(page.entries[0].key, dkey) == 0;

		rc = stat_remote_dir(fs, dkey, marker, a);
		os_list_page_release(&page);
		free(dkey);
		return rc;
	}
	os_list_page_release(&page);
	free(dkey);
	if (rc != 0)
		return rc;
	rc = fs_key(fs, path, false, &key);
	if (rc != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	log_msg(LOG_DEBUG, "head \"%s\" (lookup)", key);
	rc = os_head(fs->store, key, &st);
	if (rc == 0)
		fs_attr_from_object(fs->opts, false, &st, a);
	os_stat_release(&st);
	free(key);
	return rc;
}

/* True when path's directory was listed (or made) so recently that a name
 * missing from the cache is missing from the store (acache_set_complete). */
static bool parent_complete(struct fs *fs, const char *path)
{
	char *parent = fs_parent_of(path);
	bool complete = parent != NULL && acache_is_complete(fs->ac, parent);

	free(parent);
	return complete;
}

int fs_stat(struct fs *fs, const char *path, struct fs_attr *a)
{
	struct fs_inode *ino;
	int rc;

	if (strcmp(path, "/") == 0) {
		fs_attr_default(fs->opts, S_IFDIR, fs->start_ns, a);
		a->meta_known = true;
		return 0;
	}
	ino = inode_get(fs->inodes, path);
	if (ino != NULL) {
		pthread_mutex_lock(&ino->lock);
		*a = ino->attr;
		pthread_mutex_unlock(&ino->lock);
		a->size = file_size(ino->file);
		fs_inode_put(fs, ino);
		return 0;
	}
	rc = acache_get(fs->ac, path, a);
	if (rc == ENOENT || (rc == 0 && a->meta_known))
		return rc;
	if (rc == EAGAIN && parent_complete(fs, path)) {
		acache_put_negative(fs->ac, path);
		return ENOENT;
	}
	rc = stat_remote(fs, path, a);	/* a miss, or known from a listing only */
	if (rc == 0)
		acache_put(fs->ac, path, a);
	else if (rc == ENOENT)
		acache_put_negative(fs->ac, path);
	return rc;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fs *fs = fs_self();
	struct fs_attr a;
	int rc;

	if (fi != NULL && fi->fh != 0) {
		struct fs_inode *ino = (struct fs_inode *)(uintptr_t)fi->fh;

		pthread_mutex_lock(&ino->lock);
		a = ino->attr;
		pthread_mutex_unlock(&ino->lock);
		a.size = file_size(ino->file);
		fs_attr_to_stat(fs->opts, &a, st);
		return 0;
	}
	rc = fs_stat(fs, path, &a);
	if (rc != 0)
		return -rc;
	fs_attr_to_stat(fs->opts, &a, st);
	return 0;
}

/* Object stores have no size limit worth showing: large round numbers so
 * df and programs checking free space are content. */
static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = 1ULL << 40;	/* 4 PiB */
	sv->f_bfree = 1ULL << 40;
	sv->f_bavail = 1ULL << 40;
	sv->f_files = 1ULL << 32;
	sv->f_ffree = 1ULL << 32;
	sv->f_favail = 1ULL << 32;
	sv->f_namemax = FS_NAME_MAX;
	return 0;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs *fs = fs_self();

	cfg->use_ino = 0;
	cfg->hard_remove = 1;		/* no .fuse_hidden renames on the store */
	cfg->nullpath_ok = 0;
	cfg->entry_timeout = fs->opts->stat_ttl;
	cfg->attr_timeout = fs->opts->stat_ttl;
	cfg->negative_timeout = fs->opts->neg_ttl;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;	/* always: no lookup per entry */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	return fs;
}

static int op_link(const char *from, const char *to)
{
	(void)from;
	(void)to;
	return -EPERM;	/* link(2): "the file system does not support hard links" */
}

static const struct fuse_operations fs_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.statfs = op_statfs,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.releasedir = fs_op_releasedir,
	.mkdir = fs_op_mkdir,
	.rmdir = fs_op_rmdir,
	.link = op_link,
	.create = fs_op_create,
	.open = fs_op_open,
	.read = fs_op_read,
	.write = fs_op_write,
	.flush = fs_op_flush,
	.fsync = fs_op_fsync,
	.release = fs_op_release,
	.truncate = fs_op_truncate,
	.unlink = fs_op_unlink,
	.rename = fs_op_rename,
	.symlink = fs_op_symlink,
	.readlink = fs_op_readlink,
	.mknod = fs_op_mknod,
	.chmod = fs_op_chmod,
	.chown = fs_op_chown,
	.utimens = fs_op_utimens,
};

const struct fuse_operations *fs_operations(void)
{
	return &fs_ops;
}

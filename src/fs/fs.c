/*
 * fs.c - the mount's life cycle, lookups and the FUSE operation table.
 *
 * The high-level libfuse API (paths) with a multi-threaded loop. A path is
 * resolved in this order (fs_stat): an open file of that path (inode.h,
 * whose size may be ahead of the store), the attribute cache (acache.h),
 * then the store:
 *   - an entry a fresh listing showed, without its metadata: one HEAD (of the
 *     file, or of the directory's marker);
 *   - a name missing from a directory listed in full moments ago: missing,
 *     no request (acache_set_complete); a small directory whose mark ran out
 *     a short while ago is listed again instead (relist_parent), so a program
 *     creating files in it pays one LIST per neg_ttl, not one per file;
 *   - otherwise one LIST with prefix "path" and delimiter '/' answers both
 *     "is there a key path" and "are there keys below path/" (the directory
 *     wins over a key "path", see names.h), then a HEAD of the file or of the
 *     directory's marker fetches the metadata. A miss is thus one request.
 *     A name that was a directory before is asked the other way round (LIST
 *     "path/" max-keys 2 says whether its marker exists, so an implicit
 *     directory is one request).
 * Misses are cached as negative entries for neg_ttl. A lookup's HEAD may
 * serve the open that follows (handles.c).
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
#include "objstore/awsconf.h"
#include "objstore/objstore.h"
#include "objstore/source.h"
#include "util/buf.h"
#include "util/log.h"

/* Appends v to b percent-encoded (RFC 3986: all but unreserved characters). */
static int append_encoded(struct buf *b, const char *v)
{
	int rc = 0;

	for (; *v != '\0' && rc == 0; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			rc = buf_appendf(b, "%c", c);
		else
			rc = buf_appendf(b, "%%%02X", c);
	}
	return rc;
}

/* The store identity that other local programs read from the root's
 * virtual xattrs (mapdir: the same endpoint as the mount): what the mount
 * resolved from its options, environment and profile, never a credential.
 *   user.lithfs.source     SOURCE?endpoint=E&region=R&addressing=path|virtual
 *                          (values percent-encoded; split at the last '?')
 *   user.lithfs.bucket, .prefix, .endpoint, .region, .addressing   plain
 *   user.lithfs.profile, .passwd_file (absolute), .no_sign ("1")   where
 *                          the options name where credentials come from
 * A local store has only source (file:///DIR/BUCKET), bucket and prefix.
 * Best effort: what cannot be resolved is not shown. */
static void make_xattrs(struct fs *fs)
{
	static const char *const names[FS_XATTRS] = {
		"user.lithfs.source", "user.lithfs.bucket", "user.lithfs.prefix",
		"user.lithfs.endpoint", "user.lithfs.region", "user.lithfs.addressing",
		"user.lithfs.profile", "user.lithfs.passwd_file", "user.lithfs.no_sign",
	};
	const struct os_config *cfg = &fs->opts->store;
	struct os_source src;
	struct awsconf ac;
	struct buf b = BUF_INIT;
	char err[256];
	char *canon;
	bool s3;

	for (int i = 0; i < FS_XATTRS; i++)
		fs->xattrs[i].name = names[i];
	memset(&src, 0, sizeof(src));
	memset(&ac, 0, sizeof(ac));
	if (os_source_parse(fs->opts->source, &src, err, sizeof(err)) != 0)
		return;
	s3 = src.kind == OS_KIND_S3 && awsconf_resolve(cfg, &ac, err, sizeof(err)) == 0;
	canon = os_source_format(&src);
	if (canon != NULL && buf_appendf(&b, "%s", canon) == 0 && s3 &&
	    buf_appendf(&b, "?endpoint=") == 0 && append_encoded(&b, ac.endpoint) == 0 &&
	    buf_appendf(&b, "&region=") == 0 && append_encoded(&b, ac.region) == 0)
		buf_appendf(&b, "&addressing=%s",
			    ac.addressing == OS_ADDR_VIRTUAL ? "virtual" : "path");
	fs->xattrs[0].value = buf_detach(&b);
	fs->xattrs[1].value = strdup(src.bucket);
	fs->xattrs[2].value = strdup(src.prefix != NULL ? src.prefix : "");
	if (s3) {
		fs->xattrs[3].value = strdup(ac.endpoint);
		fs->xattrs[4].value = strdup(ac.region);
		fs->xattrs[5].value = strdup(ac.addressing == OS_ADDR_VIRTUAL ? "virtual" : "path");
		fs->xattrs[6].value = cfg->profile ? strdup(cfg->profile) : NULL;
		fs->xattrs[7].value = cfg->passwd_file ? realpath(cfg->passwd_file, NULL) : NULL;
		fs->xattrs[8].value = cfg->no_sign ? strdup("1") : NULL;
		awsconf_release(&ac);
	}
	free(canon);
	os_source_release(&src);
}

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
	make_xattrs(fs);
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
	for (int i = 0; i < FS_XATTRS; i++)
		free(fs->xattrs[i].value);
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

/* A directory: HEAD its marker "path/" for its metadata when the marker
 * exists or may exist (!known); a directory without one is implicit. */
static int stat_remote_dir(struct fs *fs, const char *dkey, bool marker, bool known,
			   struct fs_attr *a)
{
	struct os_stat st;
	int rc;

	fs_attr_default(fs->opts, S_IFDIR, fs->start_ns, a);
	a->meta_known = true;
	if (known && !marker)
		return 0;
	memset(&st, 0, sizeof(st));
	log_msg(LOG_DEBUG, "head \"%s\" (directory marker)", dkey);
	rc = os_head(fs->store, dkey, &st);
	if (rc == 0)
		fs_attr_from_object(fs->opts, true, &st, a);
	os_stat_release(&st);
	return rc == ENOENT ? 0 : rc;	/* none (any more): implicit */
}

/* HEADs the key of path, a file; caches the result with its metadata. */
static int stat_remote_file(struct fs *fs, const char *path, struct fs_attr *a)
{
	struct os_stat st;
	char *key;
	int rc;

	rc = fs_key(fs, path, false, &key);
	if (rc != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	log_msg(LOG_DEBUG, "head \"%s\" (lookup)", key);
	rc = os_head(fs->store, key, &st);
	if (rc == 0) {
		fs_attr_from_object(fs->opts, false, &st, a);
		acache_put_head(fs->ac, path, a, &st.meta, true);
	}
	os_stat_release(&st);
	free(key);
	return rc;
}

/* Is path a directory? LIST "path/" max-keys 2, which also says whether its
 * marker exists. *dir false: no key below path/. */
static int list_dir(struct fs *fs, const char *dkey, bool *dir, bool *marker)
{
	struct os_list_page page;
	int rc;

	memset(&page, 0, sizeof(page));
	log_msg(LOG_DEBUG, "list \"%s\" max 2 (lookup)", dkey);
	rc = os_list(fs->store, dkey, NULL, NULL, 2, &page);
	*dir = rc == 0 && (page.n_entries > 0 || page.n_prefixes > 0);
	*marker = *dir && page.n_entries > 0 && strcmp(page.entries[0].key, dkey) == 0;
	os_list_page_release(&page);
	return rc;
}

/* Is path a file, a directory, both or neither? One LIST with prefix "path"
 * and delimiter '/': the key "path" and the prefix "path/" come first, in
 * that order, unless keys like "path.x" or "path-1" sort between them; if
 * those fill the page, list_dir() settles the directory question. */
static int list_name(struct fs *fs, const char *key, const char *dkey, bool *file,
		     bool *dir)
{
	struct os_list_page page;
	bool marker;
	int rc;

	memset(&page, 0, sizeof(page));
	log_msg(LOG_DEBUG, "list \"%s\" delimiter / max 8 (lookup)", key);
	rc = os_list(fs->store, key, "/", NULL, 8, &page);
	*file = *dir = false;
	for (size_t i = 0; rc == 0 && i < page.n_entries; i++)
		*file = *file || strcmp(page.entries[i].key, key) == 0;
	for (size_t i = 0; rc == 0 && i < page.n_prefixes; i++)
		*dir = *dir || strcmp(page.prefixes[i], dkey) == 0;
	if (rc == 0 && !*dir && page.next_token != NULL)
		rc = list_dir(fs, dkey, dir, &marker);
	os_list_page_release(&page);
	return rc;
}

/* Looks path up in the store and caches what it finds (files with their
 * metadata), not its absence. A directory wins over a file of the same name
 * (names.h). hint: what an earlier lookup or listing found, or NULL. */
static int stat_remote(struct fs *fs, const char *path, const struct fs_attr *hint,
		       struct fs_attr *a)
{
	bool file, dir, marker;
	char *dkey, *key = NULL;
	int rc;

	rc = fs_key(fs, path, true, &dkey);
	if (rc == 0)
		rc = fs_key(fs, path, false, &key);
	if (rc != 0)
		goto out;
	if (hint != NULL && S_ISDIR(hint->mode)) {
		/* likely still a directory: LIST path/ (+ HEAD of its marker) */
		rc = list_dir(fs, dkey, &dir, &marker);
		if (rc == 0 && dir)
			rc = stat_remote_dir(fs, dkey, marker, true, a);
		else if (rc == 0)
			rc = stat_remote_file(fs, path, a);
	} else {
		rc = list_name(fs, key, dkey, &file, &dir);
		if (rc == 0 && dir)
			rc = stat_remote_dir(fs, dkey, false, false, a);
		else if (rc == 0 && file)
			rc = stat_remote_file(fs, path, a);
		else if (rc == 0)
			rc = ENOENT;
	}
	if (rc == 0 && S_ISDIR(a->mode))
		acache_put(fs->ac, path, a);
out:
	free(key);
	free(dkey);
	return rc;
}

/* An entry of a listing younger than stat_ttl, without its metadata: the
 * listing showed it as a file (no directory of that name then) or as a
 * directory, so one HEAD gets the metadata. Other results: see fs_stat. */
static int stat_listed(struct fs *fs, const char *path, const struct fs_attr *listed,
		       struct fs_attr *a)
{
	char *dkey;
	int rc;

	if (!S_ISDIR(listed->mode))
		return stat_remote_file(fs, path, a);
	rc = fs_key(fs, path, true, &dkey);
	if (rc != 0)
		return rc;
	rc = stat_remote_dir(fs, dkey, false, false, a);
	free(dkey);
	if (rc == 0)
		acache_put(fs->ac, path, a);
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

/* How long after its complete mark ended a small directory is listed again
 * for a name missing from the cache, see acache_relist_worth(). */
#define RELIST_WINDOW_NS 10000000000LL

/* Lists path's directory again when that is cheaper than looking path up
 * (a program is creating or probing names in a small directory): true when
 * it was, and the cache now knows whether path exists. */
static bool relist_parent(struct fs *fs, const char *path)
{
	char *parent = fs_parent_of(path);
	bool done = false;

	if (parent != NULL && acache_relist_worth(fs->ac, parent, RELIST_WINDOW_NS))
		done = fs_dir_relist(fs, parent) == 0 && acache_is_complete(fs->ac, parent);
	free(parent);
	return done;
}

int fs_stat(struct fs *fs, const char *path, struct fs_attr *a)
{
	struct fs_attr hint;
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
	if (rc == EAGAIN && !parent_complete(fs, path) && relist_parent(fs, path))
		rc = acache_get(fs->ac, path, a);
	if (rc == ENOENT || (rc == 0 && a->meta_known))
		return rc;
	if (rc == 0) {
		struct fs_attr listed = *a;

		rc = stat_listed(fs, path, &listed, a);
		if (rc != ENOENT)
			return rc;	/* else: gone since the listing, look again */
	} else if (parent_complete(fs, path)) {
		acache_put_negative(fs->ac, path);
		return ENOENT;
	}
	rc = acache_peek(fs->ac, path, &hint) == 0 ? stat_remote(fs, path, &hint, a)
						    : stat_remote(fs, path, NULL, a);
	if (rc == ENOENT)
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

/* Extended attributes: only the root's virtual, read-only user.lithfs.*
 * (make_xattrs); every other file has none and supports none (ENOTSUP, as
 * before these existed), and setting any is refused by the kernel. */
static int op_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct fs *fs = fs_self();

	if (strcmp(path, "/") != 0)
		return -ENOTSUP;
	for (int i = 0; i < FS_XATTRS; i++) {
		const char *v = fs->xattrs[i].value;
		size_t len;

		if (v == NULL || strcmp(name, fs->xattrs[i].name) != 0)
			continue;
		len = strlen(v);
		if (size == 0)
			return (int)len;
		if (size < len)
			return -ERANGE;
		memcpy(value, v, len);
		return (int)len;
	}
	return -ENODATA;
}

static int op_listxattr(const char *path, char *list, size_t size)
{
	struct fs *fs = fs_self();
	size_t len = 0;

	if (strcmp(path, "/") != 0)
		return -ENOTSUP;
	for (int i = 0; i < FS_XATTRS; i++) {
		size_t n = strlen(fs->xattrs[i].name) + 1;

		if (fs->xattrs[i].value == NULL)
			continue;
		if (size != 0 && len + n > size)
			return -ERANGE;
		if (size != 0)
			memcpy(list + len, fs->xattrs[i].name, n);
		len += n;
	}
	return (int)len;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fs *fs = fs_self();

	cfg->use_ino = 0;
	cfg->hard_remove = 1;		/* no .fuse_hidden renames on the store */
	cfg->nullpath_ok = 1;		/* ops on an open file use fi->fh, not a path */
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
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
};

const struct fuse_operations *fs_operations(void)
{
	return &fs_ops;
}

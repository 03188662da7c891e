/*
 * dir.c - directories: readdir, mkdir, rmdir, and renaming a directory.
 *
 * opendir lists "dir/" with delimiter "/" page by page (1000 keys each) into
 * a snapshot that readdir serves; every entry's attributes come from the
 * listing (size, Last-Modified,
 * ETag; owner and mode are the defaults unless the cache already knows the
 * object's metadata), so a directory of N keys costs N/1000 LISTs and no
 * HEAD. The whole listing is read before anything is returned, so the
 * directory-wins rule (names.h) holds even when "x" and "x/" fall on
 * different pages. Files created but not yet uploaded are added from the
 * open-file table.
 * A directory rename copies every key below it (up to COPY_THREADS copies
 * at once), then deletes the old keys: not atomic; an error midway leaves
 * both trees partly present and returns the error.
 */
#include "config.h"
#include "fs/fs_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/names.h"
#include "objstore/objstore.h"
#include "util/log.h"

#define LIST_MAX_PAGES 100000	/* 100 million keys: a bound, not a goal */
#define COPY_THREADS 8

struct listing {
	struct os_list_page *pages;	/* owned */
	size_t n;
	const char **dirs;	/* borrowed from pages: common prefixes, sorted */
	size_t n_dirs;
};

static void listing_release(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		os_list_page_release(&l->pages[i]);
	free(l->pages);
	free(l->dirs);
	memset(l, 0, sizeof(*l));
}

/* Every page of prefix (NULL delimiter: the whole tree below it). */
static int list_all(struct fs *fs, const char *prefix, const char *delim,
		    struct listing *l)
{
	const char *token = NULL;
	int rc = 0;

	do {
		struct os_list_page *p = realloc(l->pages, (l->n + 1) * sizeof(*p));

		if (p == NULL)
			return ENOMEM;
		l->pages = p;
		memset(&p[l->n], 0, sizeof(*p));
		log_msg(LOG_DEBUG, "list \"%s\" page %zu", prefix, l->n + 1);
		rc = os_list(fs->store, prefix[0] != '\0' ? prefix : NULL, delim, token, 1000,
			     &p[l->n]);
		if (rc != 0)
			return rc;
		token = p[l->n].next_token;
		l->n++;
	} while (token != NULL && l->n < LIST_MAX_PAGES);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int index_dirs(struct listing *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->pages[i].n_prefixes;
	l->dirs = malloc((n ? n : 1) * sizeof(*l->dirs));
	if (l->dirs == NULL)
		return ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		for (size_t k = 0; k < l->pages[i].n_prefixes; k++)
			l->dirs[l->n_dirs++] = l->pages[i].prefixes[k];
	}
	qsort(l->dirs, l->n_dirs, sizeof(*l->dirs), cmp_str);
	return 0;
}

/* True when key + "/" is one of the listing's directories. */
static bool shadowed_by_dir(const struct listing *l, const char *key)
{
	size_t len = strlen(key);
	char *probe = malloc(len + 2);
	bool found;

	if (probe == NULL)
		return false;
	memcpy(probe, key, len);
	memcpy(probe + len, "/", 2);
	found = bsearch(&probe, l->dirs, l->n_dirs, sizeof(*l->dirs), cmp_str) != NULL;
	free(probe);
	return found;
}

/* A directory handle: the entries of one listing, taken at opendir and
 * served by readdir at increasing offsets (entry i has offset i + 1), which
 * is what lets libfuse pass the attributes on as READDIRPLUS replies. */
struct dir_snap {
	struct snap_ent {
		char *name;	/* owned */
		struct stat st;
	} *e;			/* owned */
	size_t n, cap;
};

static void snap_free(struct dir_snap *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].name);
	free(d->e);
	free(d);
}

static int snap_add(struct dir_snap *d, const char *name, size_t len, const struct stat *st)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct snap_ent *e = realloc(d->e, cap * sizeof(*e));

		if (e == NULL)
			return ENOMEM;
		d->e = e;
		d->cap = cap;
	}
	d->e[d->n].name = strndup(name, len);
	if (d->e[d->n].name == NULL)
		return ENOMEM;
	d->e[d->n].st = *st;
	d->n++;
	return 0;
}

struct fill {
	struct fs *fs;
	const char *path;	/* the directory */
	const char *dkey;	/* its listing prefix */
	struct dir_snap *snap;
};

/* Caches a (listing attributes), then records the best known ones. */
static int emit(struct fill *f, const char *name, size_t len, struct fs_attr *a)
{
	size_t plen = strlen(f->path);
	struct stat st;
	char *child;

	child = malloc(plen + len + 2);
	if (child == NULL)
		return ENOMEM;
	snprintf(child, plen + len + 2, "%s/%.*s", strcmp(f->path, "/") == 0 ? "" : f->path,
		 (int)len, name);
	acache_put_listed(f->fs->ac, child, a);
	(void)acache_get(f->fs->ac, child, a);	/* a hit may know more */
	free(child);
	fs_attr_to_stat(f->fs->opts, a, &st);
	return snap_add(f->snap, name, len, &st);
}

static int emit_page(struct fill *f, const struct listing *l, const struct os_list_page *p)
{
	struct fs_attr a;
	const char *name, *why;
	size_t len;
	int rc = 0;

	for (size_t k = 0; k < p->n_prefixes && rc == 0; k++) {
		name = fs_entry_name(f->dkey, p->prefixes[k], &len, &why);
		if (name == NULL) {
			fs_names_log_hidden(p->prefixes[k], why);
			continue;
		}
		fs_attr_default(f->fs->opts, S_IFDIR, f->fs->start_ns, &a);
		rc = emit(f, name, len, &a);
	}
	for (size_t k = 0; k < p->n_entries && rc == 0; k++) {
		const struct os_list_entry *e = &p->entries[k];

		if (strcmp(e->key, f->dkey) == 0)
			continue;	/* the directory's own marker */
		name = fs_entry_name(f->dkey, e->key, &len, &why);
		if (name == NULL) {
			fs_names_log_hidden(e->key, why);
			continue;
		}
		if (shadowed_by_dir(l, e->key)) {
			fs_names_log_hidden(e->key, "a directory of the same name exists");
			continue;
		}
		fs_attr_from_entry(f->fs->opts, e, &a);
		rc = emit(f, name, len, &a);
	}
	return rc;
}

/* Files created in this directory and not uploaded yet. */
static int emit_unpublished(struct fill *f)
{
	struct fs_inode **v;
	size_t n;
	int rc;

	rc = inode_list_below(f->fs->inodes, f->path, &v, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char *p = inode_path(f->fs->inodes, v[i]);
		char *parent = p != NULL ? fs_parent_of(p) : NULL;
		struct fs_attr a;
		bool show;

		pthread_mutex_lock(&v[i]->lock);
		show = !v[i]->published;
		a = v[i]->attr;
		pthread_mutex_unlock(&v[i]->lock);
		if (rc == 0 && show && parent != NULL && strcmp(parent, f->path) == 0) {
			const char *name = strrchr(p, '/') + 1;
			struct stat st;

			fs_attr_to_stat(f->fs->opts, &a, &st);
			rc = snap_add(f->snap, name, strlen(name), &st);
		}
		free(parent);
		free(p);
		fs_inode_put(f->fs, v[i]);
	}
	free(v);
	return rc;
}

static int snapshot(struct fs *fs, const char *path, struct dir_snap *snap)
{
	struct listing l = { NULL, 0, NULL, 0 };
	struct fill f = { fs, path, NULL, snap };
	struct acache_stamp since;
	size_t listed = 0;
	struct stat dot;
	char *dkey;
	int rc;

	rc = fs_key(fs, path, true, &dkey);
	if (rc != 0)
		return rc;
	f.dkey = dkey;
	memset(&dot, 0, sizeof(dot));
	dot.st_mode = S_IFDIR;
	acache_stamp(fs->ac, &since);	/* the mark must not outlive the entries */
	rc = list_all(fs, dkey, "/", &l);
	if (rc == 0)
		rc = index_dirs(&l);
	if (rc == 0)
		rc = snap_add(snap, ".", 1, &dot);
	if (rc == 0)
		rc = snap_add(snap, "..", 2, &dot);
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		rc = emit_page(&f, &l, &l.pages[i]);
		listed += l.pages[i].n_entries + l.pages[i].n_prefixes;
	}
	if (rc == 0)
		rc = emit_unpublished(&f);
	/* every child is cached */
	if (rc == 0 && (l.n == 0 || l.pages[l.n - 1].next_token == NULL))
		acache_set_complete_since(fs->ac, path, listed, &since);
	listing_release(&l);
	free(dkey);
	return rc;
}

int fs_dir_relist(struct fs *fs, const char *path)
{
	struct dir_snap *snap = calloc(1, sizeof(*snap));
	int rc;

	if (snap == NULL)
		return ENOMEM;
	log_msg(LOG_DEBUG, "list \"%s\" again (lookup of a name in it)", path);
	rc = snapshot(fs, path, snap);
	snap_free(snap);
	return rc;
}

int fs_op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dir_snap *snap = calloc(1, sizeof(*snap));
	int rc;

	if (snap == NULL)
		return -ENOMEM;
	rc = snapshot(fs_self(), path, snap);
	if (rc != 0) {
		snap_free(snap);
		return -rc;
	}
	fi->fh = (uintptr_t)snap;
	return 0;
}

int fs_op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		  struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dir_snap *snap = (struct dir_snap *)(uintptr_t)fi->fh;
	enum fuse_fill_dir_flags ff = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;

	(void)path;
	for (size_t i = off < 0 ? 0 : (size_t)off; i < snap->n; i++) {
		const struct snap_ent *e = &snap->e[i];
		bool dots = i < 2;	/* ".", "..": no attributes to hand out */

		if (filler(buf, e->name, dots ? NULL : &e->st, (off_t)i + 1, dots ? 0 : ff))
			break;
	}
	return 0;
}

int fs_op_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	snap_free((struct dir_snap *)(uintptr_t)fi->fh);
	return 0;
}

int fs_op_mkdir(const char *path, mode_t mode)
{
	struct fs *fs = fs_self();
	struct fs_attr a;
	int rc;

	if (fs->opts->ro)
		return -EROFS;
	fs_new_attr(fs, S_IFDIR | (mode & 07777), &a);
	rc = fs_put_object(fs, path, "", 0, &a);
	if (rc == 0)
		acache_set_complete(fs->ac, path, 0);	/* new and empty */
	return -rc;
}

int fs_dir_empty(struct fs *fs, const char *path)
{
	struct os_list_page page;
	struct fs_inode **v;
	size_t n;
	char *dkey;
	int rc;

	rc = inode_list_below(fs->inodes, path, &v, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		fs_inode_put(fs, v[i]);
	free(v);
	if (n > 0)
		return ENOTEMPTY;
	rc = fs_key(fs, path, true, &dkey);
	if (rc != 0)
		return rc;
	memset(&page, 0, sizeof(page));
	rc = os_list(fs->store, dkey[0] != '\0' ? dkey : NULL, NULL, NULL, 2, &page);
	for (size_t i = 0; i < page.n_entries && rc == 0; i++) {
		if (strcmp(page.entries[i].key, dkey) != 0)
			rc = ENOTEMPTY;
	}
	os_list_page_release(&page);
	free(dkey);
	return rc;
}

int fs_op_rmdir(const char *path)
{
	struct fs *fs = fs_self();
	char *dkey;
	int rc;

	if (fs->opts->ro)
		return -EROFS;
	if (strcmp(path, "/") == 0)
		return -EBUSY;
	rc = fs_dir_empty(fs, path);
	if (rc == 0)
		rc = fs_key(fs, path, true, &dkey);
	if (rc != 0)
		return -rc;
	rc = os_delete(fs->store, dkey);
	if (rc == 0)
		acache_put_negative(fs->ac, path);
	free(dkey);
	return -rc;
}

struct copy_job {
	struct fs *fs;
	const char **src;	/* borrowed */
	size_t n;
	size_t from_len;	/* strlen of the source directory key */
	const char *to;		/* destination directory key */
	pthread_mutex_t lock;
	size_t next;		/* protected by lock */
	int err;		/* protected by lock; the first error */
};

static void *copy_worker(void *arg)
{
	struct copy_job *j = arg;

	for (;;) {
		size_t i;
		char *dst;
		int rc;

		pthread_mutex_lock(&j->lock);
		i = j->next++;
		rc = j->err;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->n || rc != 0)
			break;
		dst = malloc(strlen(j->to) + strlen(j->src[i] + j->from_len) + 1);
		rc = ENOMEM;
		if (dst != NULL) {
			strcpy(dst, j->to);
			strcat(dst, j->src[i] + j->from_len);
			rc = os_copy(j->fs->store, j->src[i], dst, NULL, NULL);
		}
		free(dst);
		if (rc != 0) {
			pthread_mutex_lock(&j->lock);
			if (j->err == 0)
				j->err = rc;
			pthread_mutex_unlock(&j->lock);
		}
	}
	return NULL;
}

static int copy_all(struct copy_job *j)
{
	pthread_t th[COPY_THREADS];
	int started = 0;

	pthread_mutex_init(&j->lock, NULL);
	for (int i = 0; i < COPY_THREADS && (size_t)i < j->n; i++) {
		if (pthread_create(&th[i], NULL, copy_worker, j) != 0)
			break;
		started++;
	}
	if (started == 0)
		copy_worker(j);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j->lock);
	return j->err;
}

/* Uploads the open files below dir so that their keys exist to be copied. */
static int flush_below(struct fs *fs, const char *dir)
{
	struct fs_inode **v;
	size_t n;
	int rc;

	rc = inode_list_below(fs->inodes, dir, &v, &n);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = fs_flush_inode(fs, v[i]);
		fs_inode_put(fs, v[i]);
	}
	free(v);
	return rc;
}

/* Moves the open files below from to the same place below to. */
static void move_open_files(struct fs *fs, const char *from, const char *to)
{
	struct fs_inode **v;
	size_t n;

	if (inode_list_below(fs->inodes, from, &v, &n) != 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char *old = inode_path(fs->inodes, v[i]);
		size_t len = old ? strlen(to) + strlen(old + strlen(from)) + 1 : 0;
		char *new = old ? malloc(len) : NULL;
		char *key = NULL;

		if (new != NULL) {
			snprintf(new, len, "%s%s", to, old + strlen(from));
			if (inode_rename(fs->inodes, old, new) == 0 &&
			    fs_key(fs, new, false, &key) == 0)
				file_rename(v[i]->file, key);
		}
		free(key);
		free(new);
		free(old);
		fs_inode_put(fs, v[i]);
	}
	free(v);
}

static int collect_keys(struct listing *l, const char ***keys, size_t *n)
{
	size_t cnt = 0;

	for (size_t i = 0; i < l->n; i++)
		cnt += l->pages[i].n_entries;
	*keys = malloc((cnt ? cnt : 1) * sizeof(**keys));
	if (*keys == NULL)
		return ENOMEM;
	*n = 0;
	for (size_t i = 0; i < l->n; i++) {
		for (size_t k = 0; k < l->pages[i].n_entries; k++)
			(*keys)[(*n)++] = l->pages[i].entries[k].key;
	}
	return 0;
}

int fs_rename_dir(struct fs *fs, const char *from, const char *to)
{
	struct listing l = { NULL, 0, NULL, 0 };
	struct copy_job job;
	const char **keys = NULL;
	char *fkey = NULL, *tkey = NULL;
	size_t n = 0;
	int rc;

	rc = flush_below(fs, from);
	if (rc == 0)
		rc = fs_key(fs, from, true, &fkey);
	if (rc == 0)
		rc = fs_key(fs, to, true, &tkey);
	if (rc == 0)
		rc = list_all(fs, fkey, NULL, &l);
	if (rc == 0)
		rc = collect_keys(&l, &keys, &n);
	if (rc == 0) {
		memset(&job, 0, sizeof(job));
		job.fs = fs;
		job.src = keys;
		job.n = n;
		job.from_len = strlen(fkey);
		job.to = tkey;
		rc = copy_all(&job);
	}
	if (rc == 0)
		rc = os_delete_keys(fs->store, keys, n);
	if (rc == 0)
		move_open_files(fs, from, to);
	if (rc != 0)
		log_msg(LOG_ERR, "rename %s -> %s failed midway: %s (both may be partial)",
			from, to, strerror(rc));
	if (rc == 0)
		acache_move_below(fs->ac, from, to);
	else
		acache_forget_below(fs->ac, from);
	if (rc != 0)
		acache_forget_below(fs->ac, to);
	free(keys);
	listing_release(&l);
	free(tkey);
	free(fkey);
	return rc;
}

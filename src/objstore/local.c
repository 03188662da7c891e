/*
 * local.c - a directory as an object store, with S3's semantics.
 *
 * Layout: the bucket is the directory ROOT/BUCKET. Key "a/b/c" is the file
 * ROOT/BUCKET/a/b/c; parent directories are made as needed and removed again
 * when they become empty. A key ending in '/' ("a/b/", a directory marker) is
 * the directory a/b carrying a marker attribute: only such directories show
 * up as keys, implicit parents never do. Keys a tree cannot hold are refused:
 * EEXIST for "x" while "x/y" exists (or the reverse), EINVAL for empty, "."
 * or ".." segments and for names starting with ".lithfs-" (the store's own:
 * temp files, .lithfs-mpu/ and .lithfs-meta/ never appear in listings).
 * Every path is walked one component at a time from the bucket's directory fd
 * with O_NOFOLLOW, so no key and no symlink placed in the tree can make the
 * store read or write outside ROOT/BUCKET.
 *
 * Attributes: the ETag (MD5 hex, or "md5hex-N" after a multipart upload),
 * the marker flag and the user metadata are xattrs (user.lithfs.etag =
 * "ETAG SIZE MTIME_NS", user.lithfs.marker = "MTIME_NS", user.lithfs.meta.NAME
 * = VALUE). The ETag is only believed while the file still has that size and
 * mtime; a file changed or placed by hand gets a derived ETag (size, mtime,
 * inode) that changes whenever the file does. Where the file system has no
 * user xattrs (or LITHFS_LOCAL_NOXATTR=1), the same attributes live in the
 * sidecar file .lithfs-meta/MD5(KEY).
 *
 * Writes are atomic: data goes to a temp file .lithfs-tmp-* in the target's
 * directory (fdatasync'ed unless LITHFS_LOCAL_FSYNC=0), gets its attributes,
 * and is renamed over the key. Multipart uploads live in
 * .lithfs-mpu/ID/{key,meta,part-NNNNN}; complete concatenates the parts into
 * a temp file the same way. Listing walks the tree in the byte order of full
 * keys (a directory "a" sorts as "a/"); the continuation token is "K" + the
 * last key or "P" + the last common prefix.
 *
 * Threads and processes: any op from any thread. Each op uses its own fds;
 * ns_lock() (a mutex for this process's threads, flock on the bucket
 * directory for other processes) serialises making and pruning directories
 * with the renames into them, so a put never loses its parent to a
 * concurrent delete of a sibling.
 */
#include "config.h"
#include "objstore/objstore_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/buf.h"
#include "util/log.h"

#define HIDDEN_PREFIX ".lithfs-"
#define MPU_DIR ".lithfs-mpu"
#define META_DIR ".lithfs-meta"
#define XA_PREFIX "user.lithfs."
#define XA_ETAG "user.lithfs.etag"
#define XA_MARKER "user.lithfs.marker"
#define XA_META "user.lithfs.meta."
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"
#define MPU_PART_MIN (5ULL << 20)
#define IO_CHUNK (256 * 1024)
#define UPLOAD_ID_LEN 32

struct local_store {
	struct objstore base;
	int dirfd;		/* ROOT/BUCKET, open for the store's lifetime */
	char *path;		/* ROOT/BUCKET for messages */
	bool xattrs;		/* attributes in xattrs, else in sidecar files */
	bool fsync;		/* fdatasync data before renaming it into place */
	pthread_mutex_t lock;	/* with flock(dirfd): see ns_lock() */
};

/* A key split for the tree: path is the key without a trailing '/'. */
struct lkey {
	const char *key;	/* the key as given (borrowed) */
	char path[OS_KEY_MAX + 1];
	size_t dirlen;		/* bytes of path before the last segment */
	const char *base;	/* last segment, points into path */
	bool marker;		/* key ended in '/' */
};

/* What the store records about one key besides its bytes. */
struct lattr {
	char etag[OS_ETAG_MAX];	/* "" when none recorded */
	uint64_t size;		/* the file size and mtime the etag belongs to */
	int64_t mtime_ns;
	bool marker;
	int64_t marker_mtime_ns;
	struct os_meta meta;
};

static struct local_store *to_ls(struct objstore *s)
{
	return (struct local_store *)s;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Maps errno of a system call to the store's contract; unexpected errors are
 * logged here, once. */
static int sys_err(const char *op, const char *key, int e)
{
	switch (e) {
	case ENOENT:
	case EEXIST:
	case ENOMEM:
	case ENAMETOOLONG:
	case EINVAL:
		return e;
	case EACCES:
	case EPERM:
		log_msg(LOG_ERR, "local store: %s %s: %s", op, key, strerror(e));
		return EACCES;
	default:
		log_msg(LOG_ERR, "local store: %s %s: %s", op, key, strerror(e));
		return EIO;
	}
}

/* Serialises the namespace changes (mkdir, rename into, prune) of all
 * threads (the mutex) and of all processes using this bucket (flock on the
 * bucket directory: one lock per open file description, hence the mutex). */
static void ns_lock(struct local_store *ls)
{
	pthread_mutex_lock(&ls->lock);
	while (flock(ls->dirfd, LOCK_EX) < 0 && errno == EINTR)
		;
}

static void ns_unlock(struct local_store *ls)
{
	flock(ls->dirfd, LOCK_UN);
	pthread_mutex_unlock(&ls->lock);
}

/* --- keys --- */

static bool hidden_name(const char *name)
{
	return strncmp(name, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Checks that every segment of path is a name a directory can hold. */
static int segments_check(const char *path)
{
	const char *seg = path, *end;
	size_t n;

	for (;;) {
		end = strchr(seg, '/');
		n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.') || hidden_name(seg))
			return EINVAL;
		if (n > NAME_MAX)
			return ENAMETOOLONG;
		if (!end)
			return 0;
		seg = end + 1;
	}
}

static int key_parse(const char *key, struct lkey *k)
{
	size_t len = strlen(key);
	const char *slash;
	int err;

	k->key = key;
	k->marker = len > 0 && key[len - 1] == '/';
	if (k->marker)
		len--;
	if (len == 0 || len > OS_KEY_MAX)
		return EINVAL;
	memcpy(k->path, key, len);
	k->path[len] = '\0';
	err = segments_check(k->path);
	if (err) {
		log_msg(LOG_ERR, "local store: key \"%s\" cannot be a file name "
			"(empty, \".\", \"..\" or \".lithfs-*\" segment, or a segment over %d bytes)",
			key, NAME_MAX);
		return err;
	}
	slash = strrchr(k->path, '/');
	k->dirlen = slash ? (size_t)(slash - k->path) : 0;
	k->base = slash ? slash + 1 : k->path;
	return 0;
}

/* --- directories --- */

/* Opens the directory path[0, len) below the bucket, one component at a time
 * without following symlinks, creating missing ones when create is set.
 * ENOENT when missing, EEXIST when a component is not a directory. */
static int dir_open(struct local_store *ls, const char *path, size_t len, bool create,
		    int *out)
{
	char seg[NAME_MAX + 1];
	size_t i = 0, n;
	int fd, next;

	fd = openat(ls->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sys_err("open", ls->path, errno);
	while (i < len) {
		for (n = 0; i + n < len && path[i + n] != '/'; n++)
			;
		memcpy(seg, path + i, n);
		seg[n] = '\0';
		next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, seg, 0777) < 0 && errno != EEXIST) {
				close(fd);
				return sys_err("mkdir", path, errno);
			}
			next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;

			close(fd);
			if (e == ENOTDIR || e == ELOOP)
				return EEXIST;
			return sys_err("open", path, e);
		}
		close(fd);
		fd = next;
		i += n + 1;
	}
	*out = fd;
	return 0;
}

/* --- small files and attribute serialisation --- */

static int read_small(int dirfd, const char *name, struct buf *b)
{
	char chunk[4096];
	ssize_t n;
	int fd, err = 0;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		err = buf_append(b, chunk, (size_t)n);
		if (err)
			break;
	}
	close(fd);
	if (!err && !b->data)
		err = buf_append(b, "", 0);
	return err;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void tmp_name(char out[32])
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)out;
	snprintf(out, 32, HIDDEN_PREFIX "tmp-%016" PRIx64, r);
}

/* Writes name in dirfd atomically (temp file + rename). */
static int write_small(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[32];
	int fd, err;

	tmp_name(tmp);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return errno;
	err = write_all(fd, data, len);
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && renameat(dirfd, tmp, dirfd, name) < 0)
		err = errno;
	if (err)
		unlinkat(dirfd, tmp, 0);
	return err;
}

/* Sidecar text: lines "etag ETAG SIZE MTIME", "marker MTIME" and
 * "meta NAME VALUE" with '%' and newlines in VALUE escaped as %XX. */
static int attr_format(const struct lattr *a, struct buf *b)
{
	const char *v;
	size_t i;
	int err = 0;

	if (a->etag[0])
		err = buf_appendf(b, "etag %s %" PRIu64 " %" PRId64 "\n", a->etag, a->size,
				  a->mtime_ns);
	if (!err && a->marker)
		err = buf_appendf(b, "marker %" PRId64 "\n", a->marker_mtime_ns);
	for (i = 0; !err && i < a->meta.n; i++) {
		err = buf_appendf(b, "meta %s ", a->meta.kv[i].name);
		for (v = a->meta.kv[i].value; !err && *v; v++) {
			if (*v == '%' || *v == '\n' || *v == '\r')
				err = buf_appendf(b, "%%%02X", (unsigned char)*v);
			else
				err = buf_append(b, v, 1);
		}
		if (!err)
			err = buf_append(b, "\n", 1);
	}
	return err;
}

static void unescape(char *s)
{
	char *out = s;
	unsigned int c;

	for (; *s; s++) {
		if (*s == '%' && sscanf(s + 1, "%2X", &c) == 1) {
			*out++ = (char)c;
			s += 2;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

static int attr_parse_etag(struct lattr *a, const char *v)
{
	if (sscanf(v, "%95s %" SCNu64 " %" SCNd64, a->etag, &a->size, &a->mtime_ns) != 3)
		a->etag[0] = '\0';
	return 0;
}

static int attr_parse(char *text, struct lattr *a)
{
	char *line, *save = NULL, *name, *value;
	int err = 0;

	for (line = strtok_r(text, "\n", &save); line && !err;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "etag ", 5) == 0) {
			err = attr_parse_etag(a, line + 5);
		} else if (strncmp(line, "marker ", 7) == 0) {
			a->marker = true;
			a->marker_mtime_ns = strtoll(line + 7, NULL, 10);
		} else if (strncmp(line, "meta ", 5) == 0) {
			name = line + 5;
			value = strchr(name, ' ');
			if (!value)
				continue;
			*value++ = '\0';
			unescape(value);
			err = os_meta_set(&a->meta, name, value);
		}
	}
	return err;
}

static void attr_release(struct lattr *a)
{
	os_meta_release(&a->meta);
	memset(a, 0, sizeof(*a));
}

/* --- attributes: xattrs or sidecar --- */

static void sidecar_name(const char *key, char out[40])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(key, strlen(key), md, &mdlen, EVP_md5(), NULL);
	os_hex(md, mdlen, out);
}

static int sidecar_dir(struct local_store *ls, int *fd)
{
	*fd = -1;
	if (mkdirat(ls->dirfd, META_DIR, 0777) < 0 && errno != EEXIST)
		return errno;
	*fd = openat(ls->dirfd, META_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return *fd < 0 ? errno : 0;
}

/* Reads the xattr name of fd, or with name NULL the list of names
 * (NUL-separated), into b. */
static int xattr_read(int fd, const char *name, struct buf *b)
{
	ssize_t n;

	buf_reset(b);
	for (;;) {
		n = name ? fgetxattr(fd, name, NULL, 0) : flistxattr(fd, NULL, 0);
		if (n < 0)
			return errno;
		if (buf_reserve(b, (size_t)n))
			return ENOMEM;
		n = name ? fgetxattr(fd, name, b->data, (size_t)n) :
			   flistxattr(fd, b->data, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE)
			return errno;
	}
	b->len = (size_t)n;
	b->data[n] = '\0';
	return 0;
}

/* Reads the xattrs of fd into a: all of them, or without metadata only the
 * two a listing needs (two reads instead of one per xattr). */
static int xattr_load(int fd, bool with_meta, struct lattr *a)
{
	static const char no_meta[] = XA_ETAG "\0" XA_MARKER "\0";
	struct buf names = BUF_INIT, v = BUF_INIT;
	const char *name;
	int err;

	if (with_meta)
		err = xattr_read(fd, NULL, &names);
	else
		err = buf_append(&names, no_meta, sizeof(no_meta) - 1);
	for (name = names.data; !err && name < names.data + names.len;
	     name += strlen(name) + 1) {
		if (!starts_with(name, XA_PREFIX))
			continue;
		err = xattr_read(fd, name, &v);
		if (err == ENODATA) {
			err = 0;
			continue;
		}
		if (err)
			break;
		if (strcmp(name, XA_ETAG) == 0) {
			attr_parse_etag(a, v.data);
		} else if (strcmp(name, XA_MARKER) == 0) {
			a->marker = true;
			a->marker_mtime_ns = strtoll(v.data, NULL, 10);
		} else if (starts_with(name, XA_META) && name[strlen(XA_META)]) {
			err = os_meta_set(&a->meta, name + strlen(XA_META), v.data);
		}
	}
	buf_release(&names);
	buf_release(&v);
	return err;
}

static int xattr_clear(int fd)
{
	struct buf names = BUF_INIT;
	const char *name;
	int err;

	err = xattr_read(fd, NULL, &names);
	for (name = names.data; !err && name < names.data + names.len;
	     name += strlen(name) + 1)
		if (starts_with(name, XA_PREFIX) && fremovexattr(fd, name) < 0 &&
		    errno != ENODATA)
			err = errno;
	buf_release(&names);
	return err;
}

static int xattr_store(int fd, const struct lattr *a)
{
	struct buf v = BUF_INIT, name = BUF_INIT;
	size_t i;
	int err;

	err = xattr_clear(fd);
	if (!err && a->etag[0]) {
		err = buf_appendf(&v, "%s %" PRIu64 " %" PRId64, a->etag, a->size, a->mtime_ns);
		if (!err && fsetxattr(fd, XA_ETAG, v.data, v.len, 0) < 0)
			err = errno;
	}
	if (!err && a->marker) {
		buf_reset(&v);
		err = buf_appendf(&v, "%" PRId64, a->marker_mtime_ns);
		if (!err && fsetxattr(fd, XA_MARKER, v.data, v.len, 0) < 0)
			err = errno;
	}
	for (i = 0; !err && i < a->meta.n; i++) {
		buf_reset(&name);
		err = buf_appendf(&name, XA_META "%s", a->meta.kv[i].name);
		if (!err && fsetxattr(fd, name.data, a->meta.kv[i].value,
				      strlen(a->meta.kv[i].value), 0) < 0)
			err = errno;
	}
	buf_release(&v);
	buf_release(&name);
	return err;
}

/* Reads the attributes of key (fd: its file or directory), the user
 * metadata only when with_meta. A key without attributes gives an empty
 * lattr and 0. */
static int attr_load(struct local_store *ls, const char *key, int fd, bool with_meta,
		     struct lattr *a)
{
	struct buf b = BUF_INIT;
	char name[40];
	int mfd, err;

	memset(a, 0, sizeof(*a));
	if (ls->xattrs) {
		err = xattr_load(fd, with_meta, a);
		return err == ENOTSUP ? 0 : err;
	}
	mfd = openat(ls->dirfd, META_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return errno == ENOENT ? 0 : errno;
	sidecar_name(key, name);
	err = read_small(mfd, name, &b);
	close(mfd);
	if (!err)
		err = attr_parse(b.data, a);
	else if (err == ENOENT)
		err = 0;
	buf_release(&b);
	if (err)
		attr_release(a);
	return err;
}

static int attr_store(struct local_store *ls, const char *key, int fd,
		      const struct lattr *a)
{
	struct buf b = BUF_INIT;
	char name[40];
	int mfd, err;

	if (ls->xattrs)
		return xattr_store(fd, a);
	err = sidecar_dir(ls, &mfd);
	if (err)
		return err;
	sidecar_name(key, name);
	err = attr_format(a, &b);
	if (!err && b.len == 0 && unlinkat(mfd, name, 0) < 0 && errno != ENOENT)
		err = errno;
	else if (!err && b.len > 0)
		err = write_small(mfd, name, b.data, b.len);
	close(mfd);
	buf_release(&b);
	return err;
}

static void attr_drop(struct local_store *ls, const char *key)
{
	char name[40];
	int mfd;

	if (ls->xattrs)
		return;
	mfd = openat(ls->dirfd, META_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mfd < 0)
		return;
	sidecar_name(key, name);
	unlinkat(mfd, name, 0);
	close(mfd);
}

/* The ETag of a file: the recorded one while the file is unchanged, else one
 * derived from size, mtime and inode. */
static void file_etag(const struct lattr *a, const struct stat *st, char out[OS_ETAG_MAX])
{
	if (a->etag[0] && a->size == (uint64_t)st->st_size &&
	    a->mtime_ns == ts_ns(&st->st_mtim)) {
		memcpy(out, a->etag, OS_ETAG_MAX);
		return;
	}
	snprintf(out, OS_ETAG_MAX, "%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-local",
		 (uint64_t)st->st_size, (uint64_t)ts_ns(&st->st_mtim), (uint64_t)st->st_ino);
}

/* --- pruning empty implicit directories --- */

/* True when directory name in dirfd is a marker (or cannot be checked). */
static bool dir_is_marker(struct local_store *ls, int dirfd, const char *name,
			  const char *key)
{
	struct lattr a;
	bool marker;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return true;
	if (attr_load(ls, key, fd, false, &a)) {
		close(fd);
		return true;
	}
	marker = a.marker;
	attr_release(&a);
	close(fd);
	return marker;
}

/* Removes the directories path[0, len), path[0, parent)... that are empty and
 * not markers, deepest first. Called under ns_lock(). */
static void prune(struct local_store *ls, const char *path, size_t len)
{
	char key[OS_KEY_MAX + 2], name[NAME_MAX + 1];
	size_t parent;
	bool gone;
	int fd;

	while (len > 0) {
		for (parent = len; parent > 0 && path[parent - 1] != '/'; parent--)
			;
		memcpy(name, path + parent, len - parent);
		name[len - parent] = '\0';
		memcpy(key, path, len);
		memcpy(key + len, "/", 2);
		if (dir_open(ls, path, parent ? parent - 1 : 0, false, &fd))
			return;
		gone = !dir_is_marker(ls, fd, name, key) &&
		       unlinkat(fd, name, AT_REMOVEDIR) == 0;
		close(fd);
		if (!gone)
			return;
		len = parent ? parent - 1 : 0;
	}
}

/* --- reading objects --- */

/* An object opened for reading: fd is -1 for a marker (no bytes). */
struct lobj {
	int fd;
	uint64_t size;
	int64_t mtime_ns;
	char etag[OS_ETAG_MAX];
	struct lattr attr;
};

static void obj_close(struct lobj *o)
{
	close_fd(o->fd);
	attr_release(&o->attr);
}

/* The directory of marker key k. */
static int marker_open(struct local_store *ls, const struct lkey *k, struct lobj *o)
{
	int fd, err;

	err = dir_open(ls, k->path, strlen(k->path), false, &fd);
	if (err)
		return err == EEXIST ? ENOENT : err;
	err = attr_load(ls, k->key, fd, true, &o->attr);
	close(fd);
	if (err)
		return sys_err("read attributes", k->key, err);
	if (!o->attr.marker)
		return ENOENT;
	o->mtime_ns = o->attr.marker_mtime_ns;
	memcpy(o->etag, MD5_EMPTY, sizeof(MD5_EMPTY));
	return 0;
}

/* The file of key k: only a regular file is an object. */
static int file_open(struct local_store *ls, const struct lkey *k, struct lobj *o)
{
	struct stat st;
	int dfd, err;

	err = dir_open(ls, k->path, k->dirlen, false, &dfd);
	if (err)
		return err == EEXIST ? ENOENT : err;
	o->fd = openat(dfd, k->base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	err = o->fd < 0 ? errno : 0;
	close(dfd);
	if (err == ELOOP || err == ENOTDIR || err == ENXIO)
		return ENOENT;
	if (!err && fstat(o->fd, &st) < 0)
		err = errno;
	if (!err && !S_ISREG(st.st_mode))
		return ENOENT;
	if (!err)
		err = attr_load(ls, k->key, o->fd, true, &o->attr);
	if (err)
		return sys_err("open", k->key, err);
	o->size = (uint64_t)st.st_size;
	o->mtime_ns = ts_ns(&st.st_mtim);
	file_etag(&o->attr, &st, o->etag);
	return 0;
}

/* Opens key k for reading. On error o holds nothing. */
static int obj_open(struct local_store *ls, const struct lkey *k, struct lobj *o)
{
	int err;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	err = k->marker ? marker_open(ls, k, o) : file_open(ls, k, o);
	if (err) {
		obj_close(o);
		o->fd = -1;
	}
	return err;
}

/* Parses key into k and opens it into o. */
static int key_open(struct local_store *ls, const char *key, struct lkey *k, struct lobj *o)
{
	int err = key_parse(key, k);

	return err ? err : obj_open(ls, k, o);
}

/* Reads [off, off+len) of fd in chunks and hands each to fn. A file that got
 * shorter meanwhile is EIO. */
static int read_range(int fd, uint64_t off, uint64_t len,
		      int (*fn)(void *arg, const void *data, size_t n), void *arg)
{
	char *chunk;
	ssize_t n;
	int err = 0;

	chunk = malloc(IO_CHUNK);
	if (!chunk)
		return ENOMEM;
	while (len > 0 && !err) {
		n = pread(fd, chunk, len < IO_CHUNK ? (size_t)len : IO_CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		err = fn(arg, chunk, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	free(chunk);
	return err;
}

/* --- writing objects: temp file in the key's directory, then rename --- */

struct lwriter {
	struct local_store *ls;
	const struct lkey *k;
	int dirfd;		/* the key's directory */
	int fd;			/* the temp file */
	char tmp[32];
	EVP_MD_CTX *md5;
};

static void log_collision(const struct lkey *k)
{
	log_msg(LOG_ERR, "local store: cannot store key \"%s\": a file and a directory "
		"would have the same name", k->key);
}

/* Makes the key's directory and a temp file in it. A directory that another
 * process pruned meanwhile (ENOENT on the way) is made again, a few times. */
static int writer_open(struct lwriter *w)
{
	struct local_store *ls = w->ls;
	struct stat st;
	int tries, err = 0;

	ns_lock(ls);
	for (tries = 0; tries < 4; tries++) {
		err = dir_open(ls, w->k->path, w->k->dirlen, true, &w->dirfd);
		if (err == ENOENT)
			continue;
		if (err)
			break;
		if (fstatat(w->dirfd, w->k->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			err = EEXIST;
			break;
		}
		tmp_name(w->tmp);
		w->fd = openat(w->dirfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (w->fd >= 0)
			break;
		err = errno;
		close(w->dirfd);
		w->dirfd = -1;
		if (err != ENOENT)
			break;
	}
	ns_unlock(ls);
	return err;
}

static int writer_begin(struct local_store *ls, const struct lkey *k, struct lwriter *w)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->ls = ls;
	w->k = k;
	w->dirfd = -1;
	w->fd = -1;
	w->md5 = EVP_MD_CTX_new();
	if (!w->md5 || !EVP_DigestInit_ex(w->md5, EVP_md5(), NULL)) {
		EVP_MD_CTX_free(w->md5);
		return ENOMEM;
	}
	err = writer_open(w);
	if (!err)
		return 0;
	close_fd(w->dirfd);
	EVP_MD_CTX_free(w->md5);
	if (err == EEXIST)
		log_collision(k);
	return err == EEXIST ? err : sys_err("create", k->key, err);
}

static int writer_write(void *arg, const void *data, size_t len)
{
	struct lwriter *w = arg;
	int err;

	err = write_all(w->fd, data, len);
	if (err)
		return sys_err("write", w->k->key, err);
	return EVP_DigestUpdate(w->md5, data, len) ? 0 : ENOMEM;
}

static void writer_cancel(struct lwriter *w)
{
	close_fd(w->fd);
	unlinkat(w->dirfd, w->tmp, 0);
	ns_lock(w->ls);
	prune(w->ls, w->k->path, w->k->dirlen);
	ns_unlock(w->ls);
	close(w->dirfd);
	EVP_MD_CTX_free(w->md5);
}

/* Gives the temp file its attributes (ETag: etag, or the MD5 of the bytes
 * written) and renames it over the key. On error the temp file is removed. */
static int writer_commit(struct lwriter *w, const char *etag, const struct os_meta *meta,
			 char etag_out[OS_ETAG_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct lattr a;
	struct stat st;
	int err = 0;

	memset(&a, 0, sizeof(a));
	if (etag)
		snprintf(a.etag, sizeof(a.etag), "%s", etag);
	else if (EVP_DigestFinal_ex(w->md5, md, &mdlen))
		os_hex(md, mdlen, a.etag);
	else
		err = ENOMEM;
	if (!err && fstat(w->fd, &st) < 0)
		err = errno;
	if (!err) {
		a.size = (uint64_t)st.st_size;
		a.mtime_ns = ts_ns(&st.st_mtim);
		if (meta)
			a.meta = *meta;	/* borrowed: not released here */
		err = attr_store(w->ls, w->k->key, w->fd, &a);
	}
	if (!err && w->ls->fsync && fdatasync(w->fd) < 0)
		err = errno;
	if (close(w->fd) < 0 && !err)
		err = errno;
	w->fd = -1;
	if (!err) {
		ns_lock(w->ls);
		if (renameat(w->dirfd, w->tmp, w->dirfd, w->k->base) < 0)
			err = errno;
		ns_unlock(w->ls);
	}
	if (err) {
		writer_cancel(w);
		if (err == EISDIR || err == ENOTEMPTY || err == EEXIST) {
			log_collision(w->k);
			return EEXIST;
		}
		return sys_err("write", w->k->key, err);
	}
	if (etag_out)
		memcpy(etag_out, a.etag, OS_ETAG_MAX);
	close(w->dirfd);
	EVP_MD_CTX_free(w->md5);
	return 0;
}

/* A key ending in '/': the directory with the marker attribute. */
static int marker_put(struct local_store *ls, const struct lkey *k,
		      const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct timespec now;
	struct lattr a;
	int fd, err;

	memset(&a, 0, sizeof(a));
	clock_gettime(CLOCK_REALTIME, &now);
	a.marker = true;
	a.marker_mtime_ns = ts_ns(&now);
	if (meta)
		a.meta = *meta;	/* borrowed */
	ns_lock(ls);
	err = dir_open(ls, k->path, strlen(k->path), true, &fd);
	if (!err) {
		err = attr_store(ls, k->key, fd, &a);
		close(fd);
	}
	ns_unlock(ls);
	if (err == EEXIST)
		log_collision(k);
	else if (err)
		err = sys_err("put", k->key, err);
	if (!err && etag_out)
		memcpy(etag_out, MD5_EMPTY, sizeof(MD5_EMPTY));
	return err;
}

static int marker_refuse_data(const struct lkey *k)
{
	log_msg(LOG_ERR, "local store: key \"%s\" ends in '/', so it is a directory "
		"and cannot hold data", k->key);
	return EINVAL;
}

/* --- object operations --- */

static int local_check(struct objstore *s)
{
	struct local_store *ls = to_ls(s);
	struct stat st;

	if (fstat(ls->dirfd, &st) < 0 || st.st_nlink == 0) {
		log_msg(LOG_ERR, "local store: bucket directory %s does not exist", ls->path);
		return ENOENT;
	}
	if (faccessat(ls->dirfd, ".", R_OK | W_OK | X_OK, AT_EACCESS) < 0) {
		log_msg(LOG_ERR, "local store: no permission to use bucket directory %s",
			ls->path);
		return EACCES;
	}
	return 0;
}

static int local_head(struct objstore *s, const char *key, struct os_stat *st)
{
	struct lobj o;
	struct lkey k;
	int err;

	err = key_open(to_ls(s), key, &k, &o);
	if (err)
		return err;
	st->size = o.size;
	st->mtime_ns = o.mtime_ns;
	memcpy(st->etag, o.etag, OS_ETAG_MAX);
	st->meta = o.attr.meta;	/* moved */
	o.attr.meta.kv = NULL;
	o.attr.meta.n = 0;
	obj_close(&o);
	return 0;
}

static int local_get(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		     const char *etag, os_sink_fn sink, void *arg)
{
	struct lobj o;
	struct lkey k;
	int err;

	err = key_open(to_ls(s), key, &k, &o);
	if (err)
		return err;
	if (etag && strcmp(etag, o.etag) != 0)
		err = ESTALE;
	else if (off >= o.size && !(off == 0 && o.size == 0))
		err = EINVAL;
	else if (o.size > 0)
		err = read_range(o.fd, off, len < o.size - off ? len : o.size - off, sink, arg);
	obj_close(&o);
	return err;
}

static int local_put(struct objstore *s, const char *key, const void *data, size_t len,
		     const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct lwriter w;
	struct lkey k;
	int err;

	err = key_parse(key, &k);
	if (err)
		return err;
	if (k.marker)
		return len ? marker_refuse_data(&k) : marker_put(to_ls(s), &k, meta, etag_out);
	err = writer_begin(to_ls(s), &k, &w);
	if (err)
		return err;
	err = writer_write(&w, data, len);
	if (err) {
		writer_cancel(&w);
		return err;
	}
	return writer_commit(&w, NULL, meta, etag_out);
}

/* Removes the marker attribute of directory k (and the directory if it is
 * then empty). Called under ns_lock(). */
static int marker_del(struct local_store *ls, const struct lkey *k)
{
	int fd, err;

	err = dir_open(ls, k->path, strlen(k->path), false, &fd);
	if (err)
		return err == ENOENT || err == EEXIST ? 0 : err;
	if (ls->xattrs)
		err = xattr_clear(fd);
	else
		attr_drop(ls, k->key);
	close(fd);
	if (!err)
		prune(ls, k->path, strlen(k->path));
	return err ? sys_err("delete", k->key, err) : 0;
}

static int local_del(struct objstore *s, const char *key)
{
	struct local_store *ls = to_ls(s);
	struct lkey k;
	int dfd, err;

	err = key_parse(key, &k);
	if (err)
		return err;
	ns_lock(ls);
	if (k.marker) {
		err = marker_del(ls, &k);
		goto out_unlock;
	}
	err = dir_open(ls, k.path, k.dirlen, false, &dfd);
	if (err) {
		if (err == ENOENT || err == EEXIST)
			err = 0;
		goto out_unlock;
	}
	if (unlinkat(dfd, k.base, 0) == 0) {
		attr_drop(ls, k.key);
		prune(ls, k.path, k.dirlen);
	} else if (errno != ENOENT && errno != EISDIR) {
		err = sys_err("delete", key, errno);
	}
	close(dfd);
out_unlock:
	ns_unlock(ls);
	return err;
}

static int local_del_many(struct objstore *s, const char *const *keys, size_t n)
{
	size_t i;
	int err, first = 0;

	for (i = 0; i < n; i++) {
		err = local_del(s, keys[i]);
		if (err && !first)
			first = err;
	}
	return first;
}

static int local_copy(struct objstore *s, const char *src, const char *dst,
		      const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	struct lkey ks, kd;
	struct lwriter w;
	struct lobj o;
	int err;

	err = key_parse(dst, &kd);
	if (!err)
		err = key_open(to_ls(s), src, &ks, &o);
	if (err)
		return err;
	if (!meta)
		meta = &o.attr.meta;
	if (kd.marker) {
		err = o.size ? marker_refuse_data(&kd) : marker_put(to_ls(s), &kd, meta, etag_out);
		goto out_close;
	}
	err = writer_begin(to_ls(s), &kd, &w);
	if (err)
		goto out_close;
	err = read_range(o.fd, 0, o.size, writer_write, &w);
	if (err)
		writer_cancel(&w);
	else
		err = writer_commit(&w, NULL, meta, etag_out);
out_close:
	obj_close(&o);
	return err;
}

/* --- listing --- */

/* One result of a listing walk: a key or a common prefix. */
struct litem {
	char *key;		/* owned */
	bool is_prefix;
	uint64_t size;
	int64_t mtime_ns;
	char etag[OS_ETAG_MAX];
};

struct lister {
	struct local_store *ls;
	const char *prefix;	/* "" for none */
	const char *delim;	/* NULL for none */
	const char *after;	/* only keys > after ("" for none) */
	bool skip_after;	/* and none starting with after (a common prefix) */
	size_t want;		/* max_keys + 1: one more tells there is more */
	struct litem *items;
	size_t n;
	int err;
	char path[PATH_MAX + NAME_MAX + 2];	/* key of the directory being walked */
};

/* A directory entry; sortkey is the name, plus '/' for a directory, so that
 * sorting entries sorts the full keys below them. */
struct ldent {
	char *sortkey;
	bool dir;
};

static int ldent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ldent *)a)->sortkey, ((const struct ldent *)b)->sortkey);
}

static void dents_free(struct ldent *d, size_t n)
{
	while (n > 0)
		free(d[--n].sortkey);
	free(d);
}

/* Reads the visible entries (files and directories, not .lithfs-*, not
 * symlinks) of dirfd, sorted. */
static int dents_read(int dirfd, struct ldent **out, size_t *nout)
{
	struct ldent *d = NULL, *grown;
	struct dirent *de;
	struct stat st;
	size_t n = 0, cap = 0, len;
	bool dir;
	DIR *dp;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dp = fd < 0 ? NULL : fdopendir(fd);
	if (!dp) {
		close_fd(fd);
		return errno;
	}
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || strcmp(de->d_name, "..") == 0))
			continue;
		if (hidden_name(de->d_name))
			continue;
		if (de->d_type == DT_UNKNOWN) {
			if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			de->d_type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
		}
		if (de->d_type != DT_DIR && de->d_type != DT_REG)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(d, cap * sizeof(*d));
			if (!grown)
				goto out_nomem;
			d = grown;
		}
		dir = de->d_type == DT_DIR;
		len = strlen(de->d_name);
		d[n].sortkey = malloc(len + 2);
		if (!d[n].sortkey)
			goto out_nomem;
		memcpy(d[n].sortkey, de->d_name, len);
		memcpy(d[n].sortkey + len, dir ? "/" : "", dir ? 2 : 1);
		d[n++].dir = dir;
	}
	closedir(dp);
	if (n > 1)
		qsort(d, n, sizeof(*d), ldent_cmp);
	*out = d;
	*nout = n;
	return 0;
out_nomem:
	closedir(dp);
	dents_free(d, n);
	return ENOMEM;
}

static bool key_wanted(const struct lister *l, const char *key)
{
	return starts_with(key, l->prefix) && strcmp(key, l->after) > 0 &&
	       !(l->skip_after && starts_with(key, l->after));
}

/* Length of the common prefix key rolls up into, 0 when none. */
static size_t cp_len(const struct lister *l, const char *key)
{
	const char *d;

	if (!l->delim)
		return 0;
	d = strstr(key + strlen(l->prefix), l->delim);
	return d ? (size_t)(d - key) + strlen(l->delim) : 0;
}

static struct litem *item_add(struct lister *l, const char *key, size_t len)
{
	struct litem *items, *it;

	items = realloc(l->items, (l->n + 1) * sizeof(*items));
	if (!items) {
		l->err = ENOMEM;
		return NULL;
	}
	l->items = items;
	it = &items[l->n];
	memset(it, 0, sizeof(*it));
	it->key = strndup(key, len);
	if (!it->key) {
		l->err = ENOMEM;
		return NULL;
	}
	l->n++;
	return it;
}

static void emit_prefix(struct lister *l, const char *key, size_t len)
{
	struct litem *last = l->n ? &l->items[l->n - 1] : NULL;
	struct litem *it;

	if (last && last->is_prefix && strlen(last->key) == len &&
	    memcmp(last->key, key, len) == 0)
		return;
	it = item_add(l, key, len);
	if (it)
		it->is_prefix = true;
}

/* Adds the file name in dirfd as key (unless it vanished meanwhile). */
static void emit_file(struct lister *l, int dirfd, const char *name, const char *key)
{
	struct litem *it;
	struct lattr a;
	struct stat st;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    attr_load(l->ls, key, fd, false, &a)) {
		close(fd);
		return;
	}
	close(fd);
	it = item_add(l, key, strlen(key));
	if (it) {
		it->size = (uint64_t)st.st_size;
		it->mtime_ns = ts_ns(&st.st_mtim);
		file_etag(&a, &st, it->etag);
	}
	attr_release(&a);
}

static void emit_marker(struct lister *l, const char *key, const struct lattr *a)
{
	size_t cpl = cp_len(l, key);
	struct litem *it;

	if (cpl) {
		emit_prefix(l, key, cpl);
		return;
	}
	it = item_add(l, key, strlen(key));
	if (it) {
		it->mtime_ns = a->marker_mtime_ns;
		memcpy(it->etag, MD5_EMPTY, sizeof(MD5_EMPTY));
	}
}

/* Whether the directory fd (key l->path, ending in '/') holds any key the
 * listing wants: then its common prefix is listed. */
static bool subtree_has_key(struct lister *l, int fd, size_t pathlen)
{
	struct ldent *d;
	struct lattr a;
	size_t n, i, len;
	bool found;
	int sub;

	if (attr_load(l->ls, l->path, fd, false, &a) == 0) {
		found = a.marker && key_wanted(l, l->path);
		attr_release(&a);
		if (found)
			return true;
	}
	if (dents_read(fd, &d, &n))
		return false;
	for (i = 0, found = false; i < n && !found; i++) {
		len = strlen(d[i].sortkey);
		if (pathlen + len > OS_KEY_MAX)
			continue;
		memcpy(l->path + pathlen, d[i].sortkey, len + 1);
		if (!d[i].dir) {
			found = key_wanted(l, l->path);
			continue;
		}
		d[i].sortkey[len - 1] = '\0';
		sub = openat(fd, d[i].sortkey, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0) {
			found = subtree_has_key(l, sub, pathlen + len);
			close(sub);
		}
	}
	l->path[pathlen] = '\0';
	dents_free(d, n);
	return found;
}

static void walk(struct lister *l, int fd, size_t pathlen);

static bool last_prefix_is(const struct lister *l, const char *key, size_t len)
{
	const struct litem *last = l->n ? &l->items[l->n - 1] : NULL;

	return last && last->is_prefix && strlen(last->key) == len &&
	       memcmp(last->key, key, len) == 0;
}

/* The directory name in fd, whose key (ending in '/') is l->path. */
static void walk_dir(struct lister *l, int fd, const char *name, size_t pathlen)
{
	const char *path = l->path;
	struct lattr a;
	size_t cpl;
	int sub;

	if (!starts_with(path, l->prefix) && !starts_with(l->prefix, path))
		return;
	if (strcmp(path, l->after) < 0 && !starts_with(l->after, path))
		return;		/* every key below sorts before the token */
	if (l->skip_after && starts_with(path, l->after))
		return;
	cpl = starts_with(path, l->prefix) ? cp_len(l, path) : 0;
	if (cpl && last_prefix_is(l, path, cpl))
		return;
	sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return;
	if (cpl && cpl <= pathlen) {
		/* every key below rolls up into one common prefix */
		if (subtree_has_key(l, sub, pathlen))
			emit_prefix(l, path, cpl);
	} else {
		if (attr_load(l->ls, path, sub, false, &a) == 0) {
			if (a.marker && key_wanted(l, path))
				emit_marker(l, path, &a);
			attr_release(&a);
		}
		walk(l, sub, pathlen);
	}
	close(sub);
}

/* Visits the entries of directory fd (key l->path of pathlen bytes) in key
 * order until the page is full. */
static void walk(struct lister *l, int fd, size_t pathlen)
{
	struct ldent *d;
	size_t n, i, len, cpl;
	int err;

	err = dents_read(fd, &d, &n);
	if (err) {
		if (err != ENOENT)
			l->err = sys_err("list", l->path, err);
		return;
	}
	for (i = 0; i < n && l->n < l->want && !l->err; i++) {
		len = strlen(d[i].sortkey);
		if (pathlen + len > OS_KEY_MAX)
			continue;	/* no S3 key can name it */
		memcpy(l->path + pathlen, d[i].sortkey, len + 1);
		if (d[i].dir) {
			d[i].sortkey[len - 1] = '\0';
			walk_dir(l, fd, d[i].sortkey, pathlen + len);
		} else if (key_wanted(l, l->path)) {
			cpl = cp_len(l, l->path);
			if (cpl)
				emit_prefix(l, l->path, cpl);
			else
				emit_file(l, fd, d[i].sortkey, l->path);
		}
	}
	l->path[pathlen] = '\0';
	dents_free(d, n);
}

/* Moves the walk's items into the page (the one item over max_keys only
 * says there is a next page). */
static int page_build(struct lister *l, struct os_list_page *out)
{
	struct litem *last;
	size_t i, ne = 0, np = 0;

	if (l->n == l->want) {
		free(l->items[--l->n].key);
		last = &l->items[l->n - 1];
		out->next_token = malloc(strlen(last->key) + 2);
		if (!out->next_token)
			return ENOMEM;
		out->next_token[0] = last->is_prefix ? 'P' : 'K';
		strcpy(out->next_token + 1, last->key);
	}
	for (i = 0; i < l->n; i++)
		np += l->items[i].is_prefix;
	out->entries = calloc(l->n - np + 1, sizeof(*out->entries));
	out->prefixes = calloc(np + 1, sizeof(*out->prefixes));
	if (!out->entries || !out->prefixes)
		return ENOMEM;
	for (i = 0; i < l->n; i++) {
		if (l->items[i].is_prefix) {
			out->prefixes[out->n_prefixes++] = l->items[i].key;
		} else {
			out->entries[ne].key = l->items[i].key;
			out->entries[ne].size = l->items[i].size;
			out->entries[ne].mtime_ns = l->items[i].mtime_ns;
			memcpy(out->entries[ne].etag, l->items[i].etag, OS_ETAG_MAX);
			out->n_entries = ++ne;
		}
		l->items[i].key = NULL;
	}
	return 0;
}

static int local_list(struct objstore *s, const char *prefix, const char *delimiter,
		      const char *token, int max_keys, struct os_list_page *out)
{
	struct lister *l;
	size_t i;
	int err;

	l = calloc(1, sizeof(*l));
	if (!l)
		return ENOMEM;
	l->ls = to_ls(s);
	l->prefix = prefix ? prefix : "";
	l->delim = delimiter;
	l->after = token ? token + 1 : "";
	l->skip_after = token && token[0] == 'P';
	l->want = (size_t)max_keys + 1;
	if (token && ((token[0] != 'K' && token[0] != 'P') || !token[1])) {
		log_msg(LOG_ERR, "local store: bad continuation token \"%s\"", token);
		free(l);
		return EINVAL;
	}
	walk(l, l->ls->dirfd, 0);
	err = l->err ? l->err : page_build(l, out);
	for (i = 0; i < l->n; i++)
		free(l->items[i].key);
	free(l->items);
	free(l);
	if (err)
		os_list_page_release(out);
	return err;
}

/* --- multipart uploads: .lithfs-mpu/ID/{key,meta,part-NNNNN} --- */

static int mpu_root(struct local_store *ls, bool create, int *fd)
{
	if (create && mkdirat(ls->dirfd, MPU_DIR, 0777) < 0 && errno != EEXIST)
		return errno;
	*fd = openat(ls->dirfd, MPU_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return *fd < 0 ? errno : 0;
}

static bool upload_id_ok(const char *id)
{
	size_t i;

	for (i = 0; i < UPLOAD_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return id[i] == '\0';
}

/* Opens the directory of upload id, which must belong to key. */
static int upload_open(struct local_store *ls, const char *key, const char *id, int *fd)
{
	struct buf b = BUF_INIT;
	int root, err;

	if (!upload_id_ok(id))
		return ENOENT;
	err = mpu_root(ls, false, &root);
	if (err)
		return err;
	*fd = openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	err = *fd < 0 ? errno : 0;
	close(root);
	if (!err)
		err = read_small(*fd, "key", &b);
	if (!err && strcmp(b.data, key) != 0)
		err = ENOENT;
	buf_release(&b);
	if (err && *fd >= 0)
		close(*fd);
	if (err == ENOENT)
		log_msg(LOG_DEBUG, "local store: no upload %s for key %s", id, key);
	return err == ENOENT ? err : err ? sys_err("open upload", key, err) : 0;
}

static void upload_remove(struct local_store *ls, const char *id)
{
	struct dirent *de;
	int root, fd;
	DIR *dp;

	if (mpu_root(ls, false, &root))
		return;
	fd = openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	dp = fd < 0 ? NULL : fdopendir(fd);
	if (dp) {
		while ((de = readdir(dp)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(fd, de->d_name, 0);
		closedir(dp);
	} else {
		close_fd(fd);
	}
	unlinkat(root, id, AT_REMOVEDIR);
	close(root);
}

static int local_mpu_create(struct objstore *s, const char *key, const struct os_meta *meta,
			    char **upload_id)
{
	struct local_store *ls = to_ls(s);
	unsigned char rnd[UPLOAD_ID_LEN / 2];
	char id[UPLOAD_ID_LEN + 1];
	struct buf b = BUF_INIT;
	struct lattr a;
	struct lkey k;
	int root, fd, err;

	err = key_parse(key, &k);
	if (err)
		return err;
	if (k.marker)
		return marker_refuse_data(&k);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return sys_err("mpu create", key, errno);
	os_hex(rnd, sizeof(rnd), id);
	memset(&a, 0, sizeof(a));
	if (meta)
		a.meta = *meta;	/* borrowed */
	err = attr_format(&a, &b);
	if (!err)
		err = mpu_root(ls, true, &root);
	if (err)
		goto out_free;
	if (mkdirat(root, id, 0777) < 0)
		err = errno;
	fd = err ? -1 : openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (!err && fd < 0)
		err = errno;
	if (!err)
		err = write_small(fd, "key", key, strlen(key));
	if (!err)
		err = write_small(fd, "meta", b.data ? b.data : "", b.len);
	close_fd(fd);
	close(root);
	if (!err && !(*upload_id = strdup(id)))
		err = ENOMEM;
	if (err)
		upload_remove(ls, id);
out_free:
	buf_release(&b);
	return err ? sys_err("mpu create", key, err) : 0;
}

struct pwriter {
	int fd;
	EVP_MD_CTX *md5;
};

static int pwriter_write(void *arg, const void *data, size_t len)
{
	struct pwriter *pw = arg;
	int err = write_all(pw->fd, data, len);

	if (!err && !EVP_DigestUpdate(pw->md5, data, len))
		err = ENOMEM;
	return err;
}

/* Stores part of upload id from data[0, len), or with data NULL from
 * srcfd [off, off+len). */
static int part_store(struct local_store *ls, const char *key, const char *id, int part,
		      const void *data, int srcfd, uint64_t off, uint64_t len,
		      char etag_out[OS_ETAG_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct pwriter pw;
	char tmp[32], name[16];
	int upfd, err;

	err = upload_open(ls, key, id, &upfd);
	if (err)
		return err;
	tmp_name(tmp);
	snprintf(name, sizeof(name), "part-%05d", part);
	pw.md5 = EVP_MD_CTX_new();
	pw.fd = openat(upfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (!pw.md5 || !EVP_DigestInit_ex(pw.md5, EVP_md5(), NULL))
		err = ENOMEM;
	else if (pw.fd < 0)
		err = errno;
	else if (data)
		err = pwriter_write(&pw, data, len);
	else
		err = read_range(srcfd, off, len, pwriter_write, &pw);
	if (!err && !EVP_DigestFinal_ex(pw.md5, md, &mdlen))
		err = ENOMEM;
	if (pw.fd >= 0 && close(pw.fd) < 0 && !err)
		err = errno;
	if (!err && renameat(upfd, tmp, upfd, name) < 0)
		err = errno;
	if (err)
		unlinkat(upfd, tmp, 0);
	else if (etag_out)
		os_hex(md, mdlen, etag_out);
	EVP_MD_CTX_free(pw.md5);
	close(upfd);
	return err ? sys_err("upload part", key, err) : 0;
}

static int local_mpu_put_part(struct objstore *s, const char *key, const char *upload_id,
			      int part, const void *data, size_t len,
			      char etag_out[OS_ETAG_MAX])
{
	return part_store(to_ls(s), key, upload_id, part, data, -1, 0, len, etag_out);
}

static int local_mpu_copy_part(struct objstore *s, const char *key, const char *upload_id,
			       int part, const char *src_key, uint64_t off, uint64_t len,
			       char etag_out[OS_ETAG_MAX])
{
	struct lkey k;
	struct lobj o;
	int err;

	err = key_open(to_ls(s), src_key, &k, &o);
	if (err)
		return err;
	if (off >= o.size || len > o.size - off)
		err = EINVAL;
	else
		err = part_store(to_ls(s), key, upload_id, part, NULL, o.fd, off, len, etag_out);
	obj_close(&o);
	return err;
}

/* Appends one part file to the object being written, checking its size and
 * that its MD5 is the ETag the caller has for it. */
static int part_append(struct lwriter *w, int upfd, const struct os_part *p, bool last)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char name[16], hex[OS_ETAG_MAX];
	struct pwriter pw = { w->fd, NULL };
	struct stat st;
	int fd, err;

	snprintf(name, sizeof(name), "part-%05d", p->number);
	fd = openat(upfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		close_fd(fd);
		log_msg(LOG_ERR, "local store: complete %s: part %d was not uploaded",
			w->k->key, p->number);
		return EINVAL;
	}
	if (!last && (uint64_t)st.st_size < MPU_PART_MIN) {
		close(fd);
		log_msg(LOG_ERR, "local store: complete %s: part %d is smaller than 5 MiB",
			w->k->key, p->number);
		return EINVAL;
	}
	pw.md5 = EVP_MD_CTX_new();
	if (!pw.md5 || !EVP_DigestInit_ex(pw.md5, EVP_md5(), NULL))
		err = ENOMEM;
	else
		err = read_range(fd, 0, (uint64_t)st.st_size, pwriter_write, &pw);
	if (!err && !EVP_DigestFinal_ex(pw.md5, md, &mdlen))
		err = ENOMEM;
	EVP_MD_CTX_free(pw.md5);
	close(fd);
	if (err)
		return sys_err("complete", w->k->key, err);
	os_hex(md, mdlen, hex);
	if (strcasecmp(hex, p->etag) != 0) {
		log_msg(LOG_ERR, "local store: complete %s: part %d has ETag %s, not %s",
			w->k->key, p->number, hex, p->etag);
		return EINVAL;
	}
	return 0;
}

static int local_mpu_complete(struct objstore *s, const char *key, const char *upload_id,
			      const struct os_part *parts, size_t n,
			      char etag_out[OS_ETAG_MAX])
{
	struct local_store *ls = to_ls(s);
	char etag[OS_ETAG_MAX];
	struct buf b = BUF_INIT;
	struct lwriter w;
	struct lattr a;
	struct lkey k;
	int upfd, err;
	size_t i;

	memset(&a, 0, sizeof(a));
	err = key_parse(key, &k);
	if (!err)
		err = upload_open(ls, key, upload_id, &upfd);
	if (err)
		return err;
	err = read_small(upfd, "meta", &b);
	if (!err)
		err = attr_parse(b.data, &a);
	if (!err)
		err = os_etag_multipart(parts, n, etag);
	if (!err)
		err = writer_begin(ls, &k, &w);
	if (err)
		goto out_close;
	for (i = 0; i < n && !err; i++)
		err = part_append(&w, upfd, &parts[i], i + 1 == n);
	if (err)
		writer_cancel(&w);
	else
		err = writer_commit(&w, etag, &a.meta, etag_out);
	if (!err)
		upload_remove(ls, upload_id);
out_close:
	close(upfd);
	buf_release(&b);
	attr_release(&a);
	return err;
}

static int local_mpu_abort(struct objstore *s, const char *key, const char *upload_id)
{
	int upfd, err;

	err = upload_open(to_ls(s), key, upload_id, &upfd);
	if (err)
		return err;
	close(upfd);
	upload_remove(to_ls(s), upload_id);
	return 0;
}

static int upload_ref_cmp(const void *a, const void *b)
{
	const struct os_upload_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->upload_id, y->upload_id);
}

/* Adds upload id (directory in root) to out when its key starts with prefix. */
static int upload_ref_add(int root, const char *id, const char *prefix,
			  struct os_upload_list *out)
{
	struct os_upload_ref *refs;
	struct buf b = BUF_INIT;
	struct stat st;
	int fd, err;

	fd = openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	err = read_small(fd, "key", &b);
	if (fstatat(fd, "key", &st, 0) != 0)	/* written once, at create */
		st.st_mtim.tv_sec = st.st_mtim.tv_nsec = 0;
	close(fd);
	if (err || (prefix && !starts_with(b.data, prefix))) {
		buf_release(&b);
		return err == ENOMEM ? err : 0;
	}
	refs = realloc(out->uploads, (out->n + 1) * sizeof(*refs));
	if (!refs) {
		buf_release(&b);
		return ENOMEM;
	}
	out->uploads = refs;
	refs[out->n].upload_id = strdup(id);
	refs[out->n].key = buf_detach(&b);
	refs[out->n].initiated_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (!refs[out->n].upload_id || !refs[out->n].key) {
		free(refs[out->n].upload_id);
		free(refs[out->n].key);
		return ENOMEM;
	}
	out->n++;
	return 0;
}

static int local_mpu_list(struct objstore *s, const char *prefix, struct os_upload_list *out)
{
	struct dirent *de;
	int root, fd, err;
	DIR *dp;

	err = mpu_root(to_ls(s), false, &root);
	if (err)
		return err == ENOENT ? 0 : sys_err("mpu list", "", err);
	fd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dp = fd < 0 ? NULL : fdopendir(fd);
	if (!dp) {
		close_fd(fd);
		close(root);
		return sys_err("mpu list", "", errno);
	}
	while (!err && (de = readdir(dp)))
		if (upload_id_ok(de->d_name))
			err = upload_ref_add(root, de->d_name, prefix, out);
	closedir(dp);
	close(root);
	if (err) {
		os_upload_list_release(out);
		return err;
	}
	if (out->n > 1)
		qsort(out->uploads, out->n, sizeof(*out->uploads), upload_ref_cmp);
	return 0;
}

/* --- the store --- */

static void local_destroy(struct objstore *s)
{
	struct local_store *ls = to_ls(s);

	close(ls->dirfd);
	pthread_mutex_destroy(&ls->lock);
	free(ls->path);
	free(ls->base.id);
	free(ls);
}

static const struct objstore_ops local_ops = {
	.name = "local",
	.check = local_check,
	.head = local_head,
	.get = local_get,
	.put = local_put,
	.del = local_del,
	.del_many = local_del_many,
	.copy = local_copy,
	.list = local_list,
	.mpu_create = local_mpu_create,
	.mpu_put_part = local_mpu_put_part,
	.mpu_copy_part = local_mpu_copy_part,
	.mpu_complete = local_mpu_complete,
	.mpu_abort = local_mpu_abort,
	.mpu_list = local_mpu_list,
	.destroy = local_destroy,
};

static bool env_is(const char *name, const char *value)
{
	const char *v = getenv(name);

	return v && strcmp(v, value) == 0;
}

/* Opens ROOT/BUCKET; on error says why in err. */
static int bucket_open(const char *root, const char *bucket, char **path, int *fd,
		       char *err, size_t errlen)
{
	char *real;
	int e;

	if (!*bucket || strchr(bucket, '/') || strcmp(bucket, ".") == 0 ||
	    strcmp(bucket, "..") == 0 || hidden_name(bucket)) {
		snprintf(err, errlen, "bad bucket name \"%s\" for a local store", bucket);
		return EINVAL;
	}
	real = realpath(root, NULL);
	if (!real) {
		e = errno;
		snprintf(err, errlen, "local store root %s: %s", root, strerror(e));
		return e == ENOENT || e == EACCES || e == ENOMEM ? e : EINVAL;
	}
	*path = malloc(strlen(real) + strlen(bucket) + 2);
	if (!*path) {
		free(real);
		return ENOMEM;
	}
	sprintf(*path, "%s/%s", strcmp(real, "/") ? real : "", bucket);
	free(real);
	*fd = open(*path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	e = errno;
	if (e == ENOENT)
		snprintf(err, errlen, "bucket directory %s does not exist", *path);
	else if (e == ENOTDIR)
		snprintf(err, errlen, "bucket %s is not a directory", *path);
	else
		snprintf(err, errlen, "cannot open bucket directory %s: %s", *path, strerror(e));
	free(*path);
	return e == ENOENT || e == EACCES ? e : e == EPERM ? EACCES : EINVAL;
}

int local_store_create(const char *root, const char *bucket, struct objstore **out,
		       char *err, size_t errlen)
{
	struct local_store *ls;
	char *path;
	int fd, e;

	e = bucket_open(root, bucket, &path, &fd, err, errlen);
	if (e)
		return e;
	ls = calloc(1, sizeof(*ls));
	if (ls)
		ls->base.id = malloc(strlen(path) + sizeof("file://"));
	if (!ls || !ls->base.id) {
		free(ls);
		free(path);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return ENOMEM;
	}
	sprintf(ls->base.id, "file://%s", path);
	ls->base.ops = &local_ops;
	ls->dirfd = fd;
	ls->path = path;
	ls->fsync = !env_is("LITHFS_LOCAL_FSYNC", "0");
	ls->xattrs = !env_is("LITHFS_LOCAL_NOXATTR", "1") &&
		     !(fgetxattr(fd, XA_ETAG, NULL, 0) < 0 && errno == ENOTSUP);
	pthread_mutex_init(&ls->lock, NULL);
	*out = &ls->base;
	return 0;
}

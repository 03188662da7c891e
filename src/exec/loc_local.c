/*
 * loc_local.c - a location on the local filesystem (or any mounted one that
 * is not lithfs).
 *
 * IN may be a directory (every regular file below it, recursively; symlinks
 * to files count, symlinked directories are not entered, so no loops) or one
 * file (its basename is its rel). Outputs are written to a hidden temporary
 * file ".mapdir-tmp-PID-N" in the final name's directory and renamed into
 * place by loc_publish, so a reader never sees a partial output and a killed
 * run leaves only temporary names behind.
 */
#include "config.h"
#include "exec/loc_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct local {
	struct loc base;
	char *root;		/* owned: real path of the directory or file */
};

static const struct loc_ops local_ops;
static int local_prepare_output(struct loc *l, char *err, size_t errlen);
static unsigned long tmp_counter;	/* only the engine thread creates */

static char *join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

struct walk {
	struct loc_inputs *out;
	size_t cap;
	struct buf rel;
};

static int add_input(struct walk *w, const struct stat *st)
{
	struct loc_input *in;

	if (w->out->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 256;
		struct loc_input *v = realloc(w->out->v, ncap * sizeof(*v));

		if (!v)
			return ENOMEM;
		w->out->v = v;
		w->cap = ncap;
	}
	in = &w->out->v[w->out->n];
	memset(in, 0, sizeof(*in));
	in->rel = strdup(w->rel.data);
	if (!in->rel)
		return ENOMEM;
	in->size = (uint64_t)st->st_size;
	in->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	w->out->n++;
	return 0;
}

/* Walks the directory open as dfd; w->rel holds its rel ("" at the top). */
static int walk_dir(struct walk *w, int dfd, char *err, size_t errlen)
{
	DIR *d = fdopendir(dfd);
	size_t base = w->rel.len;
	struct dirent *de;
	int e = 0;

	if (!d) {
		close(dfd);
		return errno;
	}
	while (!e && (errno = 0, de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		w->rel.len = base;
		if ((base && buf_append_str(&w->rel, "/")) || buf_append_str(&w->rel, de->d_name))
			e = ENOMEM;
		else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			e = errno;
		else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			e = sub < 0 ? errno : walk_dir(w, sub, err, errlen);
		} else if (S_ISLNK(st.st_mode) && fstatat(dirfd(d), de->d_name, &st, 0) != 0)
			continue;	/* dangling symlink */
		else if (S_ISREG(st.st_mode))
			e = add_input(w, &st);
		if (e && !*err)
			snprintf(err, errlen, "cannot read %s: %s", w->rel.data, strerror(e));
	}
	if (!e && errno)
		e = errno;
	closedir(d);
	w->rel.len = base;
	if (w->rel.data)
		w->rel.data[base] = '\0';
	return e;
}

static int by_rel(const void *a, const void *b)
{
	return strcmp(((const struct loc_input *)a)->rel, ((const struct loc_input *)b)->rel);
}

static int local_list(struct loc *l, struct loc_inputs *out, char *err, size_t errlen)
{
	struct local *lo = (struct local *)l;
	struct walk w = { .out = out };
	struct stat st;
	int e, dfd;

	out->v = NULL;
	out->n = 0;
	err[0] = '\0';
	if (lo->base.single_file) {
		const char *slash = strrchr(lo->root, '/');

		if (stat(lo->root, &st) != 0)
			return errno;
		e = buf_append_str(&w.rel, slash ? slash + 1 : lo->root);
		if (!e)
			e = add_input(&w, &st);
		buf_release(&w.rel);
		return e;
	}
	dfd = open(lo->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno;
	e = buf_append_str(&w.rel, "");
	if (!e)
		e = walk_dir(&w, dfd, err, errlen);
	buf_release(&w.rel);
	if (e) {
		loc_inputs_release(out);
		return e;
	}
	qsort(out->v, out->n, sizeof(*out->v), by_rel);
	return 0;
}

static int local_open_input(struct loc *l, const struct loc_input *in, struct loc_rfile **out)
{
	struct local *lo = (struct local *)l;
	struct loc_rfile *f = calloc(1, sizeof(*f));
	char *path = lo->base.single_file ? strdup(lo->root) : join(lo->root, in->rel);
	int e = 0;

	if (!f || !path) {
		e = ENOMEM;
		goto out_free;
	}
	f->loc = l;
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0) {
		e = errno;
		goto out_free;
	}
	free(path);
	*out = f;
	return 0;

out_free:
	free(path);
	free(f);
	return e;
}

static int local_read(struct loc_rfile *f, uint64_t off, void *buf, size_t len, size_t *got)
{
	return loc_fd_read(f->fd, off, buf, len, got);
}

static void local_close_input(struct loc_rfile *f)
{
	close(f->fd);
	free(f);
}

/* Opens a new temporary file in the directory of final (created if needed). */
static int open_tmp(const char *final, char **tmp, int *fd)
{
	const char *slash = strrchr(final, '/');
	size_t dlen = (size_t)(slash - final);
	int e;

	if (asprintf(tmp, "%.*s/.mapdir-tmp-%ld-%lu", (int)dlen, final, (long)getpid(),
		     ++tmp_counter) < 0)
		return ENOMEM;
	for (int attempt = 0; attempt < 2; attempt++) {
		*fd = open(*tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (*fd >= 0)
			return 0;
		e = errno;
		if (e != ENOENT || attempt > 0)
			break;
		e = loc_mkdirs(final, dlen);
		if (e)
			break;
	}
	free(*tmp);
	*tmp = NULL;
	return e;
}

static int local_create(struct loc *l, const char *rel, struct loc_wfile **out)
{
	struct loc_wfile *w = calloc(1, sizeof(*w));
	char *final = join(l->local, rel);
	int e;

	if (!w || !final) {
		e = ENOMEM;
		goto out_free;
	}
	w->loc = l;
	w->rel = final;
	e = open_tmp(final, &w->path, &w->fd);
	if (e)
		goto out_free;
	*out = w;
	return 0;

out_free:
	free(final);
	free(w);
	return e;
}

static int local_publish(struct loc_wfile *w)
{
	struct stat st;

	/* A directory of parts from an earlier chunked run holds the name. */
	if (lstat(w->rel, &st) == 0 && S_ISDIR(st.st_mode))
		return EISDIR;
	return rename(w->path, w->rel) == 0 ? 0 : errno;
}

static int copy_all(int from, int to)
{
	char buf[65536];

	for (;;) {
		ssize_t r = copy_file_range(from, NULL, to, NULL, 1 << 30, 0);

		if (r == 0)
			return 0;
		if (r > 0)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
			return errno;
		break;
	}
	for (;;) {
		ssize_t r = read(from, buf, sizeof(buf));

		if (r == 0)
			return 0;
		if (r < 0)
			return errno;
		for (ssize_t done = 0; done < r; ) {
			ssize_t wr = write(to, buf + done, (size_t)(r - done));

			if (wr < 0)
				return errno;
			done += wr;
		}
	}
}

static int local_merge(struct loc *l, const char *rel, char *const *parts, size_t n)
{
	struct loc_wfile *w = NULL;
	int e = local_create(l, rel, &w);

	for (size_t i = 0; !e && i < n; i++) {
		char *p = join(l->local, parts[i]);
		int fd = p ? open(p, O_RDONLY | O_CLOEXEC) : -1;

		e = !p ? ENOMEM : fd < 0 ? errno : copy_all(fd, w->fd);
		if (fd >= 0)
			close(fd);
		free(p);
	}
	if (e) {
		if (w)
			loc_discard(w);
		return e;
	}
	return loc_publish(w, NULL);
}

/* Removes rel, then its parent directories below the root while empty. */
static int local_remove(struct loc *l, const char *rel)
{
	char *p = join(l->local, rel), *slash;
	size_t root = strlen(l->local);
	int e = 0;

	if (!p)
		return ENOMEM;
	if (unlink(p) != 0 && errno != ENOENT)
		e = errno;
	while (!e && (slash = strrchr(p, '/')) && (size_t)(slash - p) > root) {
		*slash = '\0';
		if (rmdir(p) != 0)
			break;
	}
	free(p);
	return e;
}

static int local_read_all(struct loc *l, const char *rel, struct buf *out)
{
	char *p = join(l->local, rel), chunk[65536];
	int fd, e = 0;
	ssize_t r;

	if (!p)
		return ENOMEM;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (fd < 0)
		return errno;
	while ((r = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(out, chunk, (size_t)r)) {
			e = ENOMEM;
			break;
		}
	if (r < 0)
		e = errno;
	close(fd);
	return e;
}

static void local_destroy(struct loc *l)
{
	struct local *lo = (struct local *)l;

	free(lo->root);
	free(lo);
}

static const struct loc_ops local_ops = {
	.name = "local",
	.list = local_list,
	.open_input = local_open_input,
	.read = local_read,
	.close_input = local_close_input,
	.create = local_create,
	.publish = local_publish,
	.merge = local_merge,
	.remove = local_remove,
	.read_all = local_read_all,
	.prepare_output = local_prepare_output,
	.destroy = local_destroy,
};

/* OUT: create it when missing and prove we can create files in it. */
static int local_prepare_output(struct loc *l, char *err, size_t errlen)
{
	struct loc_wfile *w;
	struct stat st;
	int e;

	e = loc_mkdirs(l->local, strlen(l->local));
	if (!e && stat(l->local, &st) == 0 && !S_ISDIR(st.st_mode))
		e = ENOTDIR;
	if (e) {
		snprintf(err, errlen, "cannot create the output directory %s: %s", l->name,
			 strerror(e));
		return e;
	}
	e = local_create(l, ".mapdir-probe", &w);
	if (e) {
		snprintf(err, errlen, "output directory %s is not writable: %s", l->name,
			 strerror(e));
		return e;
	}
	loc_discard(w);
	return 0;
}

int loc_local_create(const char *spec, bool output, struct loc **out, char *err,
		     size_t errlen)
{
	struct local *lo;
	struct stat st;
	char *real = output ? loc_future_realpath(spec) : realpath(spec, NULL);
	int e;

	if (!real || (!output && stat(real, &st) != 0)) {
		e = errno;
		snprintf(err, errlen, "%s %s: %s", output ? "output" : "input", spec, strerror(e));
		free(real);
		return e;
	}
	if (!output && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "input %s is not a directory or a regular file", spec);
		free(real);
		return EINVAL;
	}
	lo = calloc(1, sizeof(*lo));
	if (!lo) {
		free(real);
		return ENOMEM;
	}
	lo->base.ops = &local_ops;
	lo->root = real;
	lo->base.single_file = !output && S_ISREG(st.st_mode);
	lo->base.name = strdup(spec);
	lo->base.local = strdup(real);
	lo->base.id = strdup(real);
	if (!lo->base.name || !lo->base.local || !lo->base.id) {
		loc_destroy(&lo->base);
		return ENOMEM;
	}
	*out = &lo->base;
	return 0;
}

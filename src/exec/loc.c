/*
 * loc.c - the location dispatchers and helpers shared by both
 * implementations. loc_open() decides which implementation serves a name:
 * URLs go to the object store; a local path goes to the store too when it
 * lies on a lithfs mount (so mapdir lists with LIST and reads through the
 * block cache), otherwise to the local filesystem.
 */
#include "config.h"
#include "exec/loc_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void loc_inputs_release(struct loc_inputs *in)
{
	for (size_t i = 0; i < in->n; i++)
		free(in->v[i].rel);
	free(in->v);
	in->v = NULL;
	in->n = 0;
}

static bool is_url(const char *spec)
{
	return strncmp(spec, "s3://", 5) == 0 || strncmp(spec, "file://", 7) == 0;
}

int loc_open(const char *spec, bool output, struct loc **out, char *err, size_t errlen)
{
	int e;

	if (is_url(spec))
		return loc_store_open(spec, output, out, err, errlen);
	e = loc_store_open(spec, output, out, err, errlen);
	if (e != ENOENT)	/* ENOENT: not on a lithfs mount */
		return e;
	return loc_local_create(spec, output, out, err, errlen);
}

int loc_prepare_output(struct loc *l, char *err, size_t errlen)
{
	return l->ops->prepare_output(l, err, errlen);
}

void loc_destroy(struct loc *l)
{
	if (!l)
		return;
	free(l->name);
	free(l->local);
	free(l->id);
	l->ops->destroy(l);
}

const char *loc_name(const struct loc *l)
{
	return l->name;
}

const char *loc_local_path(const struct loc *l)
{
	return l->local;
}

/* a is b, or a directory/prefix above b. */
static bool contains(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (strncmp(a, b, n) != 0)
		return false;
	return b[n] == '\0' || b[n] == '/' || (n > 0 && a[n - 1] == '/');
}

bool loc_overlaps(const struct loc *a, const struct loc *b)
{
	return contains(a->id, b->id) || contains(b->id, a->id);
}

char *loc_full_name(const struct loc *l, const char *rel)
{
	size_t n = strlen(l->name);
	char *s;

	if (l->single_file)
		return strdup(l->name);
	if (asprintf(&s, "%s%s%s", l->name, n && l->name[n - 1] == '/' ? "" : "/", rel) < 0)
		return NULL;
	return s;
}

char *loc_input_path(const struct loc *l, const struct loc_input *in)
{
	char *s;

	if (!l->local)
		return NULL;
	if (l->single_file)
		return strdup(l->local);
	if (asprintf(&s, "%s/%s", l->local, in->rel) < 0)
		return NULL;
	return s;
}

int loc_list(struct loc *l, struct loc_inputs *out, char *err, size_t errlen)
{
	return l->ops->list(l, out, err, errlen);
}

int loc_open_input(struct loc *l, const struct loc_input *in, struct loc_rfile **out)
{
	return l->ops->open_input(l, in, out);
}

int loc_read(struct loc_rfile *f, uint64_t off, void *buf, size_t len, size_t *got)
{
	return f->loc->ops->read(f, off, buf, len, got);
}

int loc_rfile_fd(const struct loc_rfile *f)
{
	return f->fd;
}

void loc_close_input(struct loc_rfile *f)
{
	if (f)
		f->loc->ops->close_input(f);
}

int loc_create(struct loc *l, const char *rel, struct loc_wfile **out)
{
	int e = loc_rel_check(rel);

	return e ? e : l->ops->create(l, rel, out);
}

int loc_wfile_fd(const struct loc_wfile *w)
{
	return w->fd;
}

const char *loc_wfile_path(const struct loc_wfile *w)
{
	return w->path;
}

int loc_publish(struct loc_wfile *w, uint64_t *bytes)
{
	struct stat st;
	int e;

	if (bytes)
		*bytes = fstat(w->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	e = w->loc->ops->publish(w);
	if (e) {
		loc_discard(w);
		return e;
	}
	loc_wfile_free(w);
	return 0;
}

void loc_discard(struct loc_wfile *w)
{
	if (!w)
		return;
	unlink(w->path);
	loc_wfile_free(w);
}

void loc_wfile_free(struct loc_wfile *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->path);
	free(w->rel);
	free(w);
}

int loc_merge(struct loc *l, const char *rel, char *const *parts, size_t n)
{
	return l->ops->merge(l, rel, parts, n);
}

int loc_remove(struct loc *l, const char *rel)
{
	return l->ops->remove(l, rel);
}

int loc_read_all(struct loc *l, const char *rel, struct buf *out)
{
	return l->ops->read_all(l, rel, out);
}

int loc_rel_check(const char *rel)
{
	const char *p = rel;

	if (*rel == '\0' || *rel == '/')
		return EINVAL;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return EINVAL;
		if (!slash)
			break;
		p = slash + 1;
		if (*p == '\0')
			return EINVAL;	/* trailing '/' */
	}
	return 0;
}

/* The absolute path spec names, following symlinks of its existing part. */
char *loc_future_realpath(const char *spec)
{
	char *copy = strdup(spec), *real = NULL, *s;
	size_t n;

	if (!copy)
		return NULL;
	n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	real = realpath(copy, NULL);
	if (!real && errno == ENOENT) {
		char *slash = strrchr(copy, '/'), *parent;
		const char *base = slash ? slash + 1 : copy;

		if (slash == copy)
			parent = strdup("/");
		else
			parent = slash ? strndup(copy, (size_t)(slash - copy)) : strdup(".");
		s = parent ? loc_future_realpath(parent) : NULL;
		if (s && asprintf(&real, "%s%s%s", s, strcmp(s, "/") ? "/" : "", base) < 0)
			real = NULL;
		free(s);
		free(parent);
	}
	free(copy);
	return real;
}

int loc_fd_read(int fd, uint64_t off, void *buf, size_t len, size_t *got)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	*got = done;
	return 0;
}

int loc_mkdirs(const char *path, size_t upto)
{
	char *p = strndup(path, upto);
	int e = 0;

	if (!p)
		return ENOMEM;
	for (char *s = p + 1; ; s++) {
		bool end = *s == '\0';

		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (mkdir(p, 0777) != 0 && errno != EEXIST) {
			e = errno;
			break;
		}
		if (end)
			break;
		*s = '/';
	}
	free(p);
	return e;
}

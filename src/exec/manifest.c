/*
 * manifest.c - the --resume record (see manifest.h).
 *
 * A task's line is fully determined by the task, so "is it done" is "is its
 * exact line in the set": the loaded lines live in an open-addressing hash
 * set of strings. Names are escaped (\\, \n, \t) so a line is one line.
 */
#include "config.h"
#include "exec/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "exec/plan.h"
#include "util/buf.h"

#define MANIFEST_REL PLAN_STATE_DIR "/manifest"

struct manifest {
	struct loc *out;	/* borrowed */
	uint64_t cmdhash;
	int fd;			/* append-only */
	char *path;		/* owned: the local file */
	bool upload;		/* object store: upload path at close */
	char **set;		/* owned: loaded lines, NULL = empty slot */
	size_t set_cap;		/* power of two */
	struct buf line;
};

uint64_t manifest_hash(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int format_line(struct manifest *m, int kind, const struct loc_input *in,
		       uint64_t off, uint64_t len)
{
	int e;

	buf_reset(&m->line);
	e = buf_appendf(&m->line, "%c\t%" PRIu64 "\t%" PRId64 "\t%s\t%" PRIu64 "\t%" PRIu64
			"\t%016" PRIx64 "\t", kind, in->size, in->mtime_ns,
			in->etag[0] ? in->etag : "-", off, len, m->cmdhash);
	for (const char *p = in->rel; !e && *p; p++) {
		if (*p == '\\' || *p == '\n' || *p == '\t')
			e = buf_append(&m->line, *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\t", 2);
		else
			e = buf_append(&m->line, p, 1);
	}
	return e;
}

static size_t slot_of(struct manifest *m, const char *s, size_t len)
{
	size_t i = manifest_hash(MANIFEST_HASH_INIT, s, len) & (m->set_cap - 1);

	while (m->set[i] && strcmp(m->set[i], s) != 0)
		i = (i + 1) & (m->set_cap - 1);
	return i;
}

/* Loads the lines of text (modified in place) into the set. */
static int load(struct manifest *m, char *text, size_t len)
{
	size_t lines = 0;

	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	m->set_cap = 16;
	while (m->set_cap < lines * 2)
		m->set_cap *= 2;
	m->set = calloc(m->set_cap, sizeof(*m->set));
	if (!m->set)
		return ENOMEM;
	for (char *s = text, *nl; (nl = memchr(s, '\n', len - (size_t)(s - text))); s = nl + 1) {
		size_t i;

		*nl = '\0';
		i = slot_of(m, s, (size_t)(nl - s));
		if (!m->set[i] && !(m->set[i] = strdup(s)))
			return ENOMEM;
	}
	return 0;
}

/*
 * A local manifest is also OUT's lock: flock()ed while the run lasts, so a
 * second mapdir on an OUT in use fails at once (never waits) instead of
 * truncating the first one's manifest and racing it for the same outputs.
 * The kernel drops the lock when the holder dies, even by SIGKILL; the fd is
 * close-on-exec, so tasks left running by a killed mapdir do not hold it.
 * Truncation waits until the lock is ours. A file system without flock()
 * runs unlocked, as before.
 */
static int lock_file(struct manifest *m, bool resume)
{
	if (flock(m->fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK)
		return EBUSY;
	return !resume && ftruncate(m->fd, 0) != 0 ? errno : 0;
}

static int open_file(struct manifest *m, bool resume, struct buf *old)
{
	const char *dir = loc_local_path(m->out);
	int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;

	if (dir) {
		if (asprintf(&m->path, "%s/" MANIFEST_REL, dir) < 0)
			return ENOMEM;
		loc_mkdirs(m->path, strlen(m->path) - strlen("/manifest"));
	} else {
		const char *tmp = getenv("TMPDIR");
		int fd;

		if (asprintf(&m->path, "%s/mapdir-manifest-XXXXXX", tmp ? tmp : "/tmp") < 0)
			return ENOMEM;
		fd = mkstemp(m->path);
		if (fd < 0)
			return errno;
		close(fd);
		m->upload = true;
	}
	m->fd = open(m->path, flags, 0666);
	if (m->fd < 0)
		return errno;
	if (dir)
		return lock_file(m, resume);
	if (m->upload && old->len && write(m->fd, old->data, old->len) != (ssize_t)old->len)
		return errno ? errno : EIO;
	return 0;
}

int manifest_open(struct loc *out, uint64_t cmdhash, bool resume, struct manifest **mp,
		  char *err, size_t errlen)
{
	struct manifest *m = calloc(1, sizeof(*m));
	struct buf old = BUF_INIT;
	int e = 0;

	if (!m)
		return ENOMEM;
	m->out = out;
	m->cmdhash = cmdhash;
	m->fd = -1;
	if (resume) {
		e = loc_read_all(out, MANIFEST_REL, &old);
		if (e == ENOENT)
			e = 0;
	}
	if (!e)
		e = open_file(m, resume, &old);
	if (!e)
		e = load(m, old.data ? old.data : (char *)"", old.len);
	buf_release(&old);
	if (e == EBUSY) {
		snprintf(err, errlen, "output %s is in use by another mapdir (its "
			 MANIFEST_REL " is locked)", loc_name(out));
		manifest_close(m);
		return e;
	}
	if (e) {
		snprintf(err, errlen, "cannot open the manifest of %s: %s", loc_name(out),
			 strerror(e));
		manifest_close(m);
		return e;
	}
	*mp = m;
	return 0;
}

bool manifest_has(struct manifest *m, int kind, const struct loc_input *in, uint64_t off,
		  uint64_t len)
{
	if (format_line(m, kind, in, off, len))
		return false;
	return m->set[slot_of(m, m->line.data, m->line.len)] != NULL;
}

int manifest_add(struct manifest *m, int kind, const struct loc_input *in, uint64_t off,
		 uint64_t len)
{
	int e = format_line(m, kind, in, off, len);

	if (!e)
		e = buf_append(&m->line, "\n", 1);
	if (!e && write(m->fd, m->line.data, m->line.len) != (ssize_t)m->line.len)
		e = errno ? errno : EIO;
	return e;
}

static int upload(struct manifest *m)
{
	struct loc_wfile *w;
	int e = loc_create(m->out, MANIFEST_REL, &w), fd;

	if (e)
		return e;
	fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		loc_discard(w);
		return e;
	}
	for (char chunk[65536];;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r <= 0 || write(loc_wfile_fd(w), chunk, (size_t)r) != r) {
			e = r < 0 ? errno : r > 0 ? EIO : 0;
			break;
		}
	}
	close(fd);
	if (e) {
		loc_discard(w);
		return e;
	}
	return loc_publish(w, NULL);
}

int manifest_close(struct manifest *m)
{
	int e = 0;

	if (!m)
		return 0;
	if (m->fd >= 0)
		close(m->fd);
	if (m->upload && m->fd >= 0)
		e = upload(m);
	if (m->upload)
		unlink(m->path);
	for (size_t i = 0; i < m->set_cap; i++)
		free(m->set[i]);
	free(m->set);
	free(m->path);
	buf_release(&m->line);
	free(m);
	return e;
}

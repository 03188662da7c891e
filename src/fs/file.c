/*
 * file.c - the contents of one open regular file: clean reads, staged writes,
 * publication as one object replace. Contract in file.h; the state machine and
 * the guarantees are described for users in docs/fs-write-path.md.
 *
 * Design. Every byte of the file's current contents comes from one of two
 * places, decided per granule (FILL_GRANULE bytes):
 *   - the OBJECT the file was opened at (key, ETag, size), read through the
 *     block-cache reader, for bytes below src_limit whose granule is not
 *     marked in `filled`;
 *   - the STAGING file (a private, already unlinked temporary file in
 *     ctx->staging_dir; sparse, so holes read as zeros) for everything else.
 * src_limit starts at the object's size (0 for a new or O_TRUNC file) and
 * only shrinks while the file is dirty (a truncate below it), so bytes past it
 * are zeros or written data, never stale object bytes. A write into a granule
 * below src_limit first copies that granule from the object into the staging
 * file ("fill"), unless the write covers it whole. Nothing is filled on open
 * and reads never fill: an append to a 1 GiB object costs one granule of
 * reading until flush.
 *
 * Flush publishes one object replace: the streaming upload completed; or,
 * when whole parts of the new contents are untouched object ranges, one
 * multipart upload whose untouched parts are server-side copies
 * (upload_with_copies); else a fresh os_upload fed from both sources.
 *
 * States: CLEAN (no staging file; reads = the object) -> DIRTY on the first
 * write or size-changing truncate (or at open for a new or O_TRUNC file) ->
 * CLEAN again after a successful flush, now backed by the new ETag.
 * Streaming sub-state of DIRTY: a write at offset 0 of an empty file with no
 * object data (src_limit == 0) starts an os_upload; every following write at
 * the end of the file is written to the staging file AND to the upload, whose
 * worker threads send full parts (mapped from the staging file: the upload
 * is an os_upload_create_fd) while the program writes. Any other write,
 * truncate or rename aborts the streaming upload (its data is still in the
 * staging file) and flush uploads the whole file instead.
 *
 * Long streams. Past KEEP_WHOLE bytes, the uploaded parts but the first are
 * punched out of the staging file: [rel_start, rel_end) is gone from it, so
 * the fallback above is impossible. The stream then also takes writes into
 * the first part (marked dirty: sent again at finish), into the part being
 * filled and past the end; anything else that would end it (a write or
 * truncate into sent parts, a rename, a failed part) aborts it and sets
 * `broken` = EIO: every later write and flush fails, nothing is published,
 * the old object stays. Reads of the released range are EIO. A failed write
 * of the staging file (ENOSPC) sets `broken` too: part of the write may be
 * there, and publishing that would replace the old object with a file the
 * program was told was not written.
 *
 * Locking. f->mu serializes the mutators (write, truncate, flush, rename,
 * close) and is held across their network operations, so two of them never
 * interleave. f->rw protects the state readers look at: a field marked
 * "state" is only changed with mu AND rw (exclusive) held, so holding either
 * mu or rw (shared) is enough to read it. Readers take rw shared only, so a
 * read never waits for an upload or a fill, only for the short state changes.
 * f->rd_mu guards the lazily opened reader handle. Order: mu, rw, rd_mu.
 *
 * Memory. Upload buffers are reserved from one budget per process (one mount
 * per process), in part_size units. A memory os_upload holds at most
 * (max_inflight + 1) parts (or one larger part), so a file uploads with up to
 * upload_parallel + 1 parts of memory; uploads read from the staging file
 * hold no buffers (their parts are mapped) but reserve the same share, which
 * bounds the streams running at once. A streaming upload
 * takes as many as fit, and does not start when fewer than 2 fit (the file is
 * then uploaded at flush); a flush takes as many as fit but at least 2, so it
 * never waits for another file's stream to end (the budget can be exceeded by
 * 2 parts per concurrent flush). A flush with copies takes 1 to
 * upload_parallel parts. upload_mem == 0 means no shared limit.
 */
#include "config.h"

#include "fs/file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/reader.h"
#include "objstore/upload.h"
#include "util/log.h"

#define FILL_GRANULE ((uint64_t)1 << 20)	/* unit of copying object data into staging */
#define COPY_CHUNK ((size_t)1 << 20)		/* flush reads this much at a time */
#define KEEP_WHOLE ((uint64_t)256 << 20)	/* streams up to this keep all of staging */

struct fs_file {
	const struct file_ctx *ctx;	/* borrowed */
	pthread_mutex_t mu;		/* serializes mutators, see top */
	pthread_rwlock_t rw;		/* readers shared, state changes exclusive */
	pthread_mutex_t rd_mu;

	char *key;		/* owned; state */
	bool dirty;		/* state */
	uint64_t size;		/* state: current logical size */
	uint64_t obj_size;	/* state: size of the backing object version */
	int64_t obj_mtime_ns;	/* state */
	uint64_t src_limit;	/* state: object bytes below this are still valid */
	int fd;			/* state: staging file, -1 until first needed */
	uint8_t *filled;	/* state, owned: bitmap of granules copied to staging */
	size_t n_granules;	/* state: bits in filled */

	char etag[OS_ETAG_MAX];	/* protected by rd_mu: "" = no object */
	bool need_head;		/* protected by rd_mu: key renamed, ETag to re-learn */
	struct rd_file *rf;	/* protected by rd_mu: opened on first need */

	uint64_t rel_start;	/* state: [rel_start, rel_end) of the stream was */
	uint64_t rel_end;	/* state: uploaded and dropped from staging */
	bool no_punch;		/* protected by mu: staging cannot punch holes */
	int broken;		/* state: errno every flush returns, 0 = healthy */

	struct os_upload *up;	/* protected by mu: streaming upload or NULL */
	struct os_meta up_meta;	/* protected by mu: metadata the stream was created with */
	struct os_meta open_meta;	/* protected by mu: the object's metadata at open */
	uint64_t up_budget;	/* protected by mu: bytes reserved for up */
	int64_t up_start_ns;	/* protected by mu: when up was created */
};

/* ---- the per-process upload memory budget ---- */

static pthread_mutex_t budget_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t budget_used;	/* protected by budget_mu */

/* Reserves n parts of memory, min <= n <= max: as many as fit in limit
 * (0 = no limit), but min even when they do not fit. Returns n. */
static int budget_take(uint64_t limit, size_t part, int min, int max)
{
	int n = 0;

	pthread_mutex_lock(&budget_mu);
	while (n < max && (limit == 0 || budget_used + (uint64_t)(n + 1) * part <= limit))
		n++;
	if (n < min)
		n = min;
	budget_used += (uint64_t)n * part;
	pthread_mutex_unlock(&budget_mu);
	return n;
}

/* Parts uploading at once per file, as configured (at least 1). */
static int parallel(const struct file_ctx *c)
{
	return c->upload_parallel > 0 ? c->upload_parallel : 1;
}

static void budget_release(uint64_t bytes)
{
	pthread_mutex_lock(&budget_mu);
	budget_used -= bytes;
	pthread_mutex_unlock(&budget_mu);
}

/* ---- small helpers ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool granule_filled(const struct fs_file *f, uint64_t g)
{
	return g < f->n_granules && (f->filled[g / 8] & (1u << (g % 8)));
}

static void granule_mark(struct fs_file *f, uint64_t g)
{
	if (g < f->n_granules)
		f->filled[g / 8] |= (uint8_t)(1u << (g % 8));
}

/* True when the byte at pos is to be read from the object. */
static bool from_object(const struct fs_file *f, uint64_t pos)
{
	return pos < f->src_limit && !granule_filled(f, pos / FILL_GRANULE);
}

/* End of the run of bytes from pos (< end) that come from the same place. */
static uint64_t extent_end(const struct fs_file *f, uint64_t pos, uint64_t end)
{
	bool obj = from_object(f, pos);
	uint64_t e = pos;

	while (e < end && from_object(f, e) == obj)
		e = min_u64((e / FILL_GRANULE + 1) * FILL_GRANULE, end);
	if (obj)
		e = min_u64(e, f->src_limit);
	return e;
}

/* The s3fs time keys: a stream's upload is created without them (see
 * stream_finish). */
static bool is_time_key(const char *name)
{
	return strcmp(name, "mtime") == 0 || strcmp(name, "ctime") == 0 ||
	       strcmp(name, "atime") == 0;
}

static size_t meta_count(const struct os_meta *m, bool skip_times)
{
	size_t i, n = 0;

	for (i = 0; i < m->n; i++)
		n += !(skip_times && is_time_key(m->kv[i].name));
	return n;
}

/* a == b, or (skip_times) a == b but for the time keys. */
static bool meta_equal(const struct os_meta *a, const struct os_meta *b, bool skip_times)
{
	size_t i;

	if (meta_count(a, skip_times) != meta_count(b, skip_times))
		return false;
	for (i = 0; i < a->n; i++) {
		const char *v = os_meta_get(b, a->kv[i].name);

		if (skip_times && is_time_key(a->kv[i].name))
			continue;
		if (!v || strcmp(v, a->kv[i].value) != 0)
			return false;
	}
	return true;
}

/* dst = src without the time keys. 0 or ENOMEM. */
static int meta_copy_untimed(struct os_meta *dst, const struct os_meta *src)
{
	size_t i;
	int err = 0;

	for (i = 0; i < src->n && !err; i++)
		if (!is_time_key(src->kv[i].name))
			err = os_meta_set(dst, src->kv[i].name, src->kv[i].value);
	if (err)
		os_meta_release(dst);
	return err;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the object side ---- */

/* Opens the reader handle if needed. Caller holds mu or rw. */
static int object_handle(struct fs_file *f, struct rd_file **out)
{
	int err = 0;

	pthread_mutex_lock(&f->rd_mu);
	if (!f->rf && f->need_head) {
		struct os_stat st;

		memset(&st, 0, sizeof(st));
		err = os_head(f->ctx->store, f->key, &st);
		if (!err && st.size != f->obj_size)
			err = ESTALE;
		if (!err) {
			memcpy(f->etag, st.etag, sizeof(f->etag));
			f->need_head = false;
		}
		os_stat_release(&st);
	}
	if (!err && !f->rf)
		err = rd_open(f->ctx->reader, f->key, f->etag, f->obj_size, &f->rf);
	*out = f->rf;
	pthread_mutex_unlock(&f->rd_mu);
	return err;
}

static int object_read(struct fs_file *f, void *buf, uint64_t off, size_t len)
{
	struct rd_file *rf;
	size_t got = 0;
	int err = object_handle(f, &rf);

	if (!err)
		err = rd_read(rf, buf, off, len, &got);
	if (!err && got != len)
		err = ESTALE;	/* shorter than the size it was opened with */
	if (err == ENOENT)
		err = ESTALE;	/* deleted: the version this file is built on is gone */
	return err;
}

/* Closes the reader handle; the next one opens at etag. Caller holds mu and
 * rw exclusive. */
static void object_switch(struct fs_file *f, const char *etag)
{
	pthread_mutex_lock(&f->rd_mu);
	if (f->rf)
		rd_close(f->rf);
	f->rf = NULL;
	snprintf(f->etag, sizeof(f->etag), "%s", etag);
	f->need_head = false;
	pthread_mutex_unlock(&f->rd_mu);
}

/* ---- the staging side ---- */

static int staging_read(struct fs_file *f, void *buf, uint64_t off, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = f->fd < 0 ? 0 : pread(f->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0) {		/* past the staging file's end: zeros */
			memset(p, 0, len);
			return 0;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int staging_write(struct fs_file *f, const void *buf, uint64_t off, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(f->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates the staging file if there is none. Caller holds mu and rw. */
static int staging_open(struct fs_file *f)
{
	char *path;
	int fd, err;

	if (f->fd >= 0)
		return 0;
	if (asprintf(&path, "%s/lithfs-stage-XXXXXX", f->ctx->staging_dir) < 0)
		return ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	err = fd < 0 ? errno : 0;
	if (fd >= 0)
		unlink(path);	/* private from now on; a crash leaves nothing */
	else
		log_msg(LOG_ERR, "cannot create a staging file in %s: %s",
			f->ctx->staging_dir, strerror(err));
	free(path);
	if (err)
		return err;
	if (ftruncate(fd, (off_t)f->size) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	f->fd = fd;
	return 0;
}

/* True when [off, end) overlaps the stream bytes dropped from staging. */
static bool released(const struct fs_file *f, uint64_t off, uint64_t end)
{
	return off < f->rel_end && end > f->rel_start;
}

/* Reads [off, off+len) of the current contents: EIO for bytes that were
 * uploaded and dropped from staging (they are readable once published).
 * Caller holds mu or rw. */
static int contents_read(struct fs_file *f, void *buf, uint64_t off, size_t len)
{
	char *p = buf;
	uint64_t end = off + len;
	int err = 0;

	if (released(f, off, end))
		return EIO;
	while (!err && off < end) {
		uint64_t e = extent_end(f, off, end);

		if (from_object(f, off))
			err = object_read(f, p, off, (size_t)(e - off));
		else
			err = staging_read(f, p, off, (size_t)(e - off));
		p += e - off;
		off = e;
	}
	return err;
}

/* ---- CLEAN -> DIRTY and the streaming upload ---- */

/* Caller holds mu and rw exclusive. */
static int make_dirty(struct fs_file *f)
{
	if (f->dirty)
		return 0;
	f->n_granules = (size_t)((f->src_limit + FILL_GRANULE - 1) / FILL_GRANULE);
	free(f->filled);
	f->filled = calloc(f->n_granules / 8 + 1, 1);
	if (!f->filled)
		return ENOMEM;
	f->dirty = true;
	return 0;
}

/* Forgets the stream (already finished or aborted) and its memory budget. */
static void stream_forget(struct fs_file *f)
{
	f->up = NULL;
	budget_release(f->up_budget);
	f->up_budget = 0;
	os_meta_release(&f->up_meta);
}

/* Ends (aborts) the streaming upload because of `why`. While staging holds
 * every byte, flush uploads it instead; once bytes were dropped from it, the
 * contents are lost and the file is broken: every flush returns EIO, nothing
 * is published. why == NULL: the file is being closed. Caller holds mu, not
 * rw. */
static void stream_end(struct fs_file *f, const char *why)
{
	if (!f->up)
		return;
	os_upload_abort(f->up);
	stream_forget(f);
	if (!why)
		return;
	if (f->rel_end <= f->rel_start) {
		log_msg(LOG_DEBUG, "%s: %s ends the streaming, uploading at flush", f->key, why);
		return;
	}
	log_msg(LOG_WARNING, "%s: %s after bytes %llu-%llu of the stream were uploaded and "
		"dropped from the staging file: upload aborted, the file will not be "
		"published (EIO)", f->key, why, (unsigned long long)f->rel_start,
		(unsigned long long)f->rel_end);
	pthread_rwlock_wrlock(&f->rw);
	f->broken = EIO;
	pthread_rwlock_unlock(&f->rw);
}

/* Start of the stream's part being filled: the bytes from there on were not
 * handed to the upload yet. */
static uint64_t stream_unsent(const struct fs_file *f)
{
	size_t ps = f->ctx->part_size;
	int g = os_upload_group();

	return os_upload_part_off(ps, g, os_upload_part_count(ps, g, os_upload_bytes(f->up)));
}

/* True when the stream can take the write [o, end): an append at its end;
 * or, once bytes were dropped from staging, a write into the first part
 * (sent again at finish), into the part being filled or past the end. */
static bool stream_takes(const struct fs_file *f, uint64_t o, uint64_t end)
{
	if (os_upload_bytes(f->up) != f->size)
		return false;
	if (o == f->size)
		return true;
	if (f->rel_end <= f->rel_start)
		return false;	/* staging has it all: simpler to upload at flush */
	return end <= f->rel_start || o >= stream_unsent(f);
}

/* Drops the parts of a long stream that are uploaded from the staging file,
 * all but the first one (programs rewrite headers). Caller holds mu, not
 * rw. */
static void stream_release(struct fs_file *f)
{
	uint64_t first = f->ctx->part_size, from, to;
	uint64_t old_start = f->rel_start, old_end = f->rel_end;

	if (!f->up || f->no_punch || f->size <= KEEP_WHOLE)
		return;
	from = f->rel_end > first ? f->rel_end : first;
	to = os_upload_done(f->up, from);
	if (to <= from)
		return;
	pthread_rwlock_wrlock(&f->rw);	/* readers see them released before they go */
	f->rel_start = first;
	f->rel_end = to;
	pthread_rwlock_unlock(&f->rw);
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from,
		      (off_t)(to - from)) == 0)
		return;
	log_msg(LOG_NOTICE, "%s: cannot drop uploaded bytes from the staging file in %s (%s): "
		"it keeps a full copy", f->key, f->ctx->staging_dir, strerror(errno));
	f->no_punch = true;
	pthread_rwlock_wrlock(&f->rw);
	f->rel_start = old_start;
	f->rel_end = old_end;
	pthread_rwlock_unlock(&f->rw);
}

/* Hands the staged write [o, end) to the stream: bytes it had already are
 * marked to be sent again, new ones extend it. Caller holds mu, not rw. */
static int stream_feed(struct fs_file *f, uint64_t o, uint64_t end)
{
	uint64_t bytes = os_upload_bytes(f->up);
	int err = 0;

	if (o < bytes)
		err = os_upload_dirty(f->up, o, min_u64(end, bytes) - o);
	if (!err && end > bytes)
		err = os_upload_extend(f->up, end - bytes);
	if (!err)
		stream_release(f);
	return err;
}

/* Starts streaming if the write at off begins a new file from scratch.
 * Metadata: the object's at open (fs.c passes the final one to flush). */
static void stream_maybe_start(struct fs_file *f, uint64_t off)
{
	const struct file_ctx *c = f->ctx;
	struct os_upload_opts o = { c->part_size, 0 };
	int n;

	if (f->up || off != 0 || f->size != 0 || f->src_limit != 0 || f->fd < 0 || f->broken)
		return;
	n = budget_take(c->upload_mem, c->part_size, 0, parallel(c) + 1);
	f->up_budget = (uint64_t)n * c->part_size;
	o.max_inflight = n - 1;	/* os_upload holds up to max_inflight + 1 parts */
	f->up_start_ns = now_ns();
	if (n < 2 || meta_copy_untimed(&f->up_meta, &f->open_meta) != 0 ||
	    os_upload_create_fd(c->store, f->key, &f->up_meta, &o, f->fd, &f->up) != 0)
		stream_forget(f);
}

/* Copies granule g from the object into the staging file, unless it is
 * there already, holds no object data, or the write [off, end) covers it
 * whole. Caller holds mu. */
static int fill_granule(struct fs_file *f, uint64_t g, uint64_t off, uint64_t end)
{
	uint64_t gs = g * FILL_GRANULE;
	uint64_t ge = min_u64(gs + FILL_GRANULE, f->src_limit);
	char *buf;
	int err;

	if (gs >= f->src_limit || granule_filled(f, g) || (off <= gs && end >= ge))
		return 0;
	if (!(buf = malloc((size_t)(ge - gs))))
		return ENOMEM;
	err = object_read(f, buf, gs, (size_t)(ge - gs));
	if (!err) {
		pthread_rwlock_wrlock(&f->rw);
		err = staging_write(f, buf, gs, (size_t)(ge - gs));
		if (!err)
			granule_mark(f, g);
		pthread_rwlock_unlock(&f->rw);
	}
	free(buf);
	return err;
}

/* Writes [off, end) into the staging file; the granules it touches then come
 * from there. Caller holds mu and rw exclusive. */
static int staging_write_marked(struct fs_file *f, const void *buf, uint64_t off, uint64_t end)
{
	uint64_t g;
	int err = staging_write(f, buf, off, (size_t)(end - off));

	if (err)
		return err;
	for (g = off / FILL_GRANULE; g * FILL_GRANULE < end; g++)
		granule_mark(f, g);
	if (end > f->size)
		f->size = end;
	return 0;
}

/* ---- the contract ---- */

int file_open(const struct file_ctx *ctx, const char *key, const struct os_stat *st,
	      bool truncate, struct fs_file **out)
{
	struct fs_file *f = calloc(1, sizeof(*f));
	pthread_rwlockattr_t ra;
	int err = ENOMEM;

	if (!f)
		return ENOMEM;
	f->ctx = ctx;
	f->fd = -1;
	f->key = strdup(key);
	if (!f->key)
		goto out_free;
	if (st) {
		f->obj_size = st->size;
		f->obj_mtime_ns = st->mtime_ns;
		snprintf(f->etag, sizeof(f->etag), "%s", st->etag);
		if (os_meta_copy(&f->open_meta, &st->meta) != 0)
			goto out_free_meta;
	}
	f->size = f->src_limit = truncate ? 0 : f->obj_size;
	if ((!st || truncate) && make_dirty(f) != 0)
		goto out_free_meta;
	pthread_mutex_init(&f->mu, NULL);
	pthread_mutex_init(&f->rd_mu, NULL);
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	err = pthread_rwlock_init(&f->rw, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (err)
		goto out_destroy_mutexes;
	*out = f;
	return 0;

out_destroy_mutexes:
	pthread_mutex_destroy(&f->rd_mu);
	pthread_mutex_destroy(&f->mu);
	free(f->filled);
out_free_meta:
	os_meta_release(&f->open_meta);
out_free:
	free(f->key);
	free(f);
	return err;
}

static int read_locked(struct fs_file *f, void *buf, size_t size, uint64_t off, size_t *got)
{
	int err = 0;

	pthread_rwlock_rdlock(&f->rw);
	if (off < f->size) {
		size = (size_t)min_u64(size, f->size - off);
		err = contents_read(f, buf, off, size);
		if (!err)
			*got = size;
	}
	pthread_rwlock_unlock(&f->rw);
	return err;
}

int file_read(struct fs_file *f, void *buf, size_t size, off_t off, size_t *got)
{
	int err;

	*got = 0;
	if (off < 0)
		return EINVAL;
	err = read_locked(f, buf, size, (uint64_t)off, got);
	if (err == ESTALE) {
		/* A flush of this file publishes the new version a moment before
		 * it switches to it: wait for the mutator, then try once more.
		 * ESTALE again means the object was replaced by someone else. */
		pthread_mutex_lock(&f->mu);
		pthread_mutex_unlock(&f->mu);
		err = read_locked(f, buf, size, (uint64_t)off, got);
	}
	return err;
}

int file_write(struct fs_file *f, const void *buf, size_t size, off_t off)
{
	uint64_t o = (uint64_t)off, end = o + size;
	int err;

	if (off < 0 || end < o)
		return EINVAL;
	if (size == 0)
		return 0;
	pthread_mutex_lock(&f->mu);
	if (f->up && !stream_takes(f, o, end))
		stream_end(f, released(f, o, end) ? "a write into them" : "a write elsewhere");
	err = f->broken;
	pthread_rwlock_wrlock(&f->rw);
	if (!err)
		err = make_dirty(f);
	if (!err)
		err = staging_open(f);
	pthread_rwlock_unlock(&f->rw);
	if (!err)
		stream_maybe_start(f, o);
	if (!err)
		err = fill_granule(f, o / FILL_GRANULE, o, end);
	if (!err)
		err = fill_granule(f, (end - 1) / FILL_GRANULE, o, end);
	if (!err) {
		pthread_rwlock_wrlock(&f->rw);
		err = staging_write_marked(f, buf, o, end);
		if (err)	/* part of it may be written: never publish that */
			f->broken = err;
		pthread_rwlock_unlock(&f->rw);
		if (err)
			log_msg(LOG_WARNING, "%s: writing the staging file in %s failed (%s): "
				"the file will not be published", f->key, f->ctx->staging_dir,
				strerror(err));
	}
	if (err) {
		stream_end(f, "a failed write");
	} else if (f->up) {
		int uerr = stream_feed(f, o, end);

		if (uerr) {	/* the staging file has it unless released */
			log_msg(LOG_NOTICE, "%s: streaming upload failed (%s)", f->key,
				strerror(uerr));
			stream_end(f, "a failed part upload");
		}
	}
	pthread_mutex_unlock(&f->mu);
	return err;
}

int file_truncate(struct fs_file *f, off_t size)
{
	uint64_t s = (uint64_t)size;
	bool grow_stream;
	int err = 0;

	if (size < 0)
		return EINVAL;
	pthread_mutex_lock(&f->mu);
	if (s == f->size)
		goto out_unlock;
	grow_stream = f->up && s > f->size && f->rel_end > f->rel_start;
	if (!grow_stream)
		stream_end(f, released(f, s, UINT64_MAX) ? "a truncate into them" : "a truncate");
	err = f->broken;
	if (err)
		goto out_unlock;
	pthread_rwlock_wrlock(&f->rw);
	err = make_dirty(f);
	if (!err)
		err = staging_open(f);
	if (!err && ftruncate(f->fd, size) < 0)
		err = errno;
	if (!err) {
		f->size = s;
		f->src_limit = min_u64(f->src_limit, s);
	}
	pthread_rwlock_unlock(&f->rw);
	if (!err && grow_stream && os_upload_extend(f->up, s - os_upload_bytes(f->up)) != 0) {
		stream_end(f, "a failed part upload");
		err = f->broken;
	}
out_unlock:
	pthread_mutex_unlock(&f->mu);
	return err;
}

uint64_t file_size(struct fs_file *f)
{
	uint64_t s;

	pthread_rwlock_rdlock(&f->rw);
	s = f->size;
	pthread_rwlock_unlock(&f->rw);
	return s;
}

bool file_dirty(struct fs_file *f)
{
	bool d;

	pthread_rwlock_rdlock(&f->rw);
	d = f->dirty;
	pthread_rwlock_unlock(&f->rw);
	return d;
}

/* Uploads the whole current contents to f->key (os_upload makes it one PUT
 * when it fits in a part). When all of it is in the staging file (no object
 * bytes), the parts are read from there, else copied through memory.
 * Caller holds mu. */
static int upload_contents(struct fs_file *f, const struct os_meta *meta,
			   char etag[OS_ETAG_MAX])
{
	const struct file_ctx *c = f->ctx;
	struct os_upload_opts o = { c->part_size, 0 };
	struct os_upload *up;
	uint64_t off, reserved;
	char *buf;
	int err;

	if (!(buf = malloc(COPY_CHUNK)))
		return ENOMEM;
	o.max_inflight = budget_take(c->upload_mem, c->part_size, 2, parallel(c) + 1) - 1;
	reserved = (uint64_t)(o.max_inflight + 1) * c->part_size;
	if (f->src_limit == 0 && f->fd >= 0) {
		err = os_upload_create_fd(c->store, f->key, meta, &o, f->fd, &up);
		if (!err && (err = os_upload_extend(up, f->size)) != 0)
			os_upload_abort(up);
		if (!err)
			err = os_upload_finish(up, etag);
		goto out_release;
	}
	err = os_upload_create(c->store, f->key, meta, &o, &up);
	if (err)
		goto out_release;
	for (off = 0; !err && off < f->size; off += COPY_CHUNK) {
		size_t n = (size_t)min_u64(COPY_CHUNK, f->size - off);

		err = contents_read(f, buf, off, n);
		if (!err)
			err = os_upload_write(up, buf, n);
	}
	if (err)
		os_upload_abort(up);
	else
		err = os_upload_finish(up, etag);
out_release:
	budget_release(reserved);
	free(buf);
	return err;
}

/* ---- in-place changes: untouched parts are copied server-side ---- */

/* True when bytes [s, e) of the new contents are the object's bytes [s, e)
 * untouched, so the part can be an UploadPartCopy. Caller holds mu. */
static bool part_copyable(const struct fs_file *f, uint64_t s, uint64_t e)
{
	uint64_t g;

	if (e > f->src_limit)
		return false;
	for (g = s / FILL_GRANULE; g * FILL_GRANULE < e; g++)
		if (granule_filled(f, g))
			return false;
	return true;
}

struct part_job {			/* one multipart upload, parts by workers */
	struct fs_file *f;		/* its mu is held by the flushing thread */
	const char *upload_id;
	struct os_part *parts;		/* parts[i] for part number i + 1 */
	size_t n_parts;
	pthread_mutex_t lock;
	size_t next;			/* protected by lock: next part index */
	int err;			/* protected by lock: the first error */
};

/* Bytes [*s, *e) of the new contents make part i + 1 (the os_upload
 * schedule: parts grow after the first thousand). */
static void part_range(const struct fs_file *f, size_t i, uint64_t *s, uint64_t *e)
{
	int g = os_upload_group();

	*s = os_upload_part_off(f->ctx->part_size, g, (int)i + 1);
	*e = min_u64(*s + os_upload_part_len(f->ctx->part_size, g, (int)i + 1), f->size);
}

/* Sends part i, as a copy or from *buf (*cap bytes, grown on need). */
static int part_send(struct part_job *j, size_t i, char **buf, size_t *cap)
{
	struct fs_file *f = j->f;
	struct objstore *st = f->ctx->store;
	uint64_t s, e;
	int err;

	part_range(f, i, &s, &e);
	j->parts[i].number = (int)i + 1;
	if (part_copyable(f, s, e))
		return os_mpu_copy_part(st, f->key, j->upload_id, (int)i + 1, f->key, s, e - s,
					j->parts[i].etag);
	if (*cap < e - s) {
		free(*buf);
		*cap = 0;
		if (!(*buf = malloc((size_t)(e - s))))
			return ENOMEM;
		*cap = (size_t)(e - s);
	}
	err = contents_read(f, *buf, s, (size_t)(e - s));
	if (!err)
		err = os_mpu_put_part(st, f->key, j->upload_id, (int)i + 1, *buf,
				      (size_t)(e - s), j->parts[i].etag);
	return err;
}

static void *part_worker(void *arg)
{
	struct part_job *j = arg;
	char *buf = NULL;
	size_t cap = 0;

	for (;;) {
		size_t i;
		int err;

		pthread_mutex_lock(&j->lock);
		i = j->next++;
		err = j->err;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->n_parts || err)
			break;
		err = part_send(j, i, &buf, &cap);
		pthread_mutex_lock(&j->lock);
		if (err && !j->err)
			j->err = err;
		pthread_mutex_unlock(&j->lock);
	}
	free(buf);
	return NULL;
}

/* ESTALE unless the object is still the version the copies were made from
 * (UploadPartCopy has no If-Match in the store interface: the copies are
 * checked by a HEAD before and after them). Caller holds mu. */
static int source_check(struct fs_file *f)
{
	struct os_stat st;
	int err;

	memset(&st, 0, sizeof(st));
	err = os_head(f->ctx->store, f->key, &st);
	pthread_mutex_lock(&f->rd_mu);
	if (err == ENOENT || (!err && strcmp(st.etag, f->etag) != 0))
		err = ESTALE;
	pthread_mutex_unlock(&f->rd_mu);
	os_stat_release(&st);
	return err;
}

/* One multipart upload of the whole contents: untouched parts are copied
 * from the old object, the others read and sent, by upload_parallel
 * workers with one part buffer each. Caller holds mu. */
static int upload_with_copies(struct fs_file *f, const struct os_meta *meta,
			      char etag[OS_ETAG_MAX])
{
	const struct file_ctx *c = f->ctx;
	struct part_job j = { .f = f };
	pthread_t th[64];
	char *id = NULL;
	int i, n, nth = 0, err;

	struct rd_file *rf;

	j.n_parts = (size_t)os_upload_part_count(c->part_size, os_upload_group(), f->size);
	if (j.n_parts > OS_UPLOAD_PARTS_MAX)
		return EFBIG;
	n = budget_take(c->upload_mem, c->part_size, 1, parallel(c) < 64 ? parallel(c) : 64);
	j.parts = calloc(j.n_parts, sizeof(*j.parts));
	err = j.parts ? object_handle(f, &rf) : ENOMEM;	/* learns the ETag after a rename */
	if (!err)
		err = source_check(f);
	if (!err)
		err = os_mpu_create(c->store, f->key, meta, &id);
	if (err)
		goto out_free;
	j.upload_id = id;
	pthread_mutex_init(&j.lock, NULL);
	for (i = 1; i < n && (size_t)i < j.n_parts; i++)	/* n buffers with ours */
		if (pthread_create(&th[nth], NULL, part_worker, &j) == 0)
			nth++;
	part_worker(&j);	/* this thread works too: progress even with no thread */
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&j.lock);
	err = j.err ? j.err : source_check(f);
	if (!err)
		err = os_mpu_complete(c->store, f->key, id, j.parts, j.n_parts, etag);
	if (err)
		os_mpu_abort(c->store, f->key, id);
out_free:
	budget_release((uint64_t)n * c->part_size);
	free(id);
	free(j.parts);
	return err;
}

/* True when at least one whole part of the new contents is an untouched
 * range of the object. Caller holds mu. */
static bool any_part_copyable(const struct fs_file *f)
{
	uint64_t s = 0, e;
	size_t i;

	if (f->size <= f->ctx->part_size)
		return false;	/* one part: a PUT is cheaper */
	for (i = 0; s < f->src_limit && i < OS_UPLOAD_PARTS_MAX; i++) {
		part_range(f, i, &s, &e);
		if (s < f->src_limit && part_copyable(f, s, e))
			return true;
		s = e;
	}
	return false;
}

/* True when meta's mtime is older than t_ns (by more than a second): set
 * by utimens, not by the writes. */
static bool meta_backdated(const struct os_meta *meta, int64_t t_ns)
{
	const char *v = os_meta_get(meta, "mtime");

	return v && strtod(v, NULL) * 1e9 < (double)t_ns - 1e9;
}

/* Completes the streaming upload; a different final metadata is applied by a
 * server-side copy onto itself. A stream that has sent nothing yet (a file
 * smaller than a part: every new small file) is dropped instead, at no
 * request, and the staging file, which holds all of it, goes out in one PUT
 * with the final metadata: 1 request instead of PUT + HEAD + copy.
 * The upload of a stream is created without the time keys (its bytes are
 * still coming): when the final metadata differs only in those and its
 * mtime is not older than the stream (the writes set it, no utimens went
 * back in time), there is no copy, and the object's Last-Modified (its
 * completion) stands for the mtime: a 1 TiB stream is not copied again.
 * Caller holds mu. */
static int stream_finish(struct fs_file *f, const struct os_meta *meta,
			 char etag[OS_ETAG_MAX])
{
	bool same;
	int err;

	if (!meta_equal(meta, &f->up_meta, false) && !os_upload_started(f->up)) {
		stream_end(f, NULL);
		return upload_contents(f, meta, etag);
	}
	same = meta_equal(meta, &f->up_meta, true) && !meta_backdated(meta, f->up_start_ns);
	err = os_upload_finish(f->up, etag);
	stream_forget(f);
	if (!err && !same)
		err = os_copy(f->ctx->store, f->key, f->key, meta, etag);
	return err;
}

static int fill_stat(struct os_stat *st, uint64_t size, const char *etag, int64_t mtime_ns,
		     const struct os_meta *meta)
{
	memset(st, 0, sizeof(*st));
	st->size = size;
	st->mtime_ns = mtime_ns;
	snprintf(st->etag, sizeof(st->etag), "%s", etag);
	return os_meta_copy(&st->meta, meta);
}

int file_set_meta(struct fs_file *f, const struct os_meta *meta)
{
	int err;

	pthread_mutex_lock(&f->mu);
	os_meta_release(&f->open_meta);
	err = os_meta_copy(&f->open_meta, meta);
	pthread_mutex_unlock(&f->mu);
	return err;
}

int file_flush(struct fs_file *f, const struct os_meta *meta, struct os_stat *st_out)
{
	static const struct os_meta no_meta;
	char etag[OS_ETAG_MAX] = "";
	int err;

	if (!meta)
		meta = &no_meta;
	pthread_mutex_lock(&f->mu);
	if (!f->dirty) {
		pthread_mutex_lock(&f->rd_mu);
		memcpy(etag, f->etag, sizeof(etag));
		pthread_mutex_unlock(&f->rd_mu);
		err = st_out ? fill_stat(st_out, f->size, etag, f->obj_mtime_ns, meta) : 0;
		goto out_unlock;
	}
	if (f->up && os_upload_bytes(f->up) != f->size)
		stream_end(f, "a size change");
	err = f->broken;
	if (err) {
		log_msg(LOG_DEBUG, "%s: not published: the file is broken (%s)", f->key,
			strerror(err));
		goto out_unlock;
	}
	if (f->up)
		err = stream_finish(f, meta, etag);
	else if (any_part_copyable(f))
		err = upload_with_copies(f, meta, etag);
	else
		err = upload_contents(f, meta, etag);
	if (err) {
		log_msg(LOG_DEBUG, "%s: flush failed: %s", f->key, strerror(err));
		if (os_error_is_transient(err))
			err = EIO;
		goto out_unlock;
	}
	pthread_rwlock_wrlock(&f->rw);
	f->dirty = false;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->filled);
	f->filled = NULL;
	f->n_granules = 0;
	f->rel_start = f->rel_end = 0;
	f->no_punch = false;
	f->obj_size = f->src_limit = f->size;
	f->obj_mtime_ns = now_ns();
	object_switch(f, etag);
	os_meta_release(&f->open_meta);
	err = os_meta_copy(&f->open_meta, meta);
	pthread_rwlock_unlock(&f->rw);
	if (!err && st_out)
		err = fill_stat(st_out, f->size, etag, f->obj_mtime_ns, meta);
out_unlock:
	pthread_mutex_unlock(&f->mu);
	return err;
}

int file_rename(struct fs_file *f, const char *new_key)
{
	char *k = strdup(new_key);

	if (!k)
		return ENOMEM;
	pthread_mutex_lock(&f->mu);
	stream_end(f, "a rename");	/* it was uploading to the old key */
	pthread_rwlock_wrlock(&f->rw);
	free(f->key);
	f->key = k;
	pthread_mutex_lock(&f->rd_mu);
	if (f->rf)
		rd_close(f->rf);
	f->rf = NULL;
	f->need_head = f->etag[0] != '\0';
	pthread_mutex_unlock(&f->rd_mu);
	pthread_rwlock_unlock(&f->rw);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

void file_close(struct fs_file *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	stream_end(f, NULL);
	pthread_mutex_unlock(&f->mu);
	if (f->rf)
		rd_close(f->rf);
	if (f->fd >= 0)
		close(f->fd);
	free(f->filled);
	os_meta_release(&f->open_meta);
	free(f->key);
	pthread_rwlock_destroy(&f->rw);
	pthread_mutex_destroy(&f->rd_mu);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

/*
 * upload.c - one object written as a stream, its parts uploaded in parallel.
 *
 * Parts are cut by the schedule (os_upload_part_len): part_size for the
 * first `group` parts, doubling every `group` parts, capped at 5 GiB.
 * The caller fills the current part: copied into `cur` (a buffer of the
 * part's size) for a memory upload, or only counted for a from_fd upload,
 * whose bytes are already in u->fd (os_upload_create_fd). A full part is only sent once more bytes
 * arrive, so an object of at most one part never starts a multipart upload:
 * finish() PUTs it. Sending the first part creates the upload (in the
 * caller's thread, so its error returns at once) and starts max_inflight
 * worker threads. Sent parts go into a FIFO queue; workers upload them with
 * os_mpu_put_part (from the buffer, or from an mmap of the part's range of
 * the fd) and note each ETag under its part number. The caller blocks while
 * max_inflight parts are queued or uploading, and (memory uploads) before
 * allocating a part buffer while the queued buffers and it would exceed
 * mem_limit = (max_inflight + 1) * part_size, unless nothing is queued: the
 * buffers never exceed max(mem_limit, one part).
 *
 * fd uploads may be told that already sent bytes changed
 * (os_upload_dirty): those parts are marked and sent again by finish()
 * after the workers stopped; os_upload_done reports the uploaded, clean
 * parts so the caller can drop them from its file.
 *
 * The first failure of any part is kept in `err`; the next write or finish
 * returns it, and the upload is aborted (finish does that itself) so no
 * multipart upload is left behind. finish() waits for the queue to drain,
 * stops and joins the workers, then completes with the parts in order.
 */
#include "config.h"
#include "objstore/upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

#define PART_SIZE_DEFAULT (16u << 20)
#define PART_SIZE_MIN (5u << 20)
#define INFLIGHT_DEFAULT 4
#define INFLIGHT_MAX 64

struct up_job {
	int number;
	char *data;		/* owned; NULL: read from the fd */
	uint64_t off;		/* offset in the stream */
	size_t len;
	struct up_job *next;
};

struct os_upload {
	struct objstore *s;	/* borrowed */
	char *key;
	struct os_meta meta;
	size_t part_size;
	int group;
	int max_inflight;
	bool from_fd;
	int fd;			/* borrowed */
	uint64_t mem_limit;	/* memory uploads: bytes of part buffers */

	/* the caller's thread only */
	char *cur;		/* the part being filled (memory uploads) */
	size_t cur_len;
	uint64_t cur_off;	/* its offset in the stream */
	uint64_t bytes;
	int parts_sent;
	char *upload_id;	/* NULL until the first part is sent */
	pthread_t *workers;
	int n_workers;

	pthread_mutex_t lock;
	pthread_cond_t changed;	/* a job was queued or finished, or closing */
	struct up_job *head, *tail;	/* protected by lock */
	int inflight;		/* queued or uploading; protected by lock */
	uint64_t held;		/* bytes of their buffers; protected by lock */
	struct os_part *parts;	/* [number - 1]; protected by lock */
	bool *dirty;		/* [number - 1]: send again; protected by lock */
	int err;		/* first error of a part; protected by lock */
	bool closing;		/* workers exit once the queue is empty; protected by lock */
};

/* ---- the part schedule ---- */

uint64_t os_upload_part_len(size_t part_size, int group, int number)
{
	uint64_t len = part_size;
	int step;

	for (step = (number - 1) / group; step > 0 && len < OS_UPLOAD_PART_MAX; step--)
		len *= 2;
	return len < OS_UPLOAD_PART_MAX ? len : OS_UPLOAD_PART_MAX;
}

uint64_t os_upload_part_off(size_t part_size, int group, int number)
{
	uint64_t off = 0;
	int n = 1;

	while (n < number) {	/* one size step at a time */
		int next_step = ((n - 1) / group + 1) * group + 1;
		int k = (next_step < number ? next_step : number) - n;

		off += (uint64_t)k * os_upload_part_len(part_size, group, n);
		n += k;
	}
	return off;
}

int os_upload_part_count(size_t part_size, int group, uint64_t size)
{
	uint64_t off = 0;
	int n = 0;

	while (off < size && n <= OS_UPLOAD_PARTS_MAX) {
		uint64_t len = os_upload_part_len(part_size, group, n + 1);
		uint64_t k = (uint64_t)(group - n % group);	/* parts left in this step */

		if (size - off <= k * len)
			return n + (int)((size - off + len - 1) / len);
		off += k * len;
		n += (int)k;
	}
	return off < size ? OS_UPLOAD_PARTS_MAX + 1 : n;
}

int os_upload_group(void)
{
	const char *v = getenv("LITHFS_TEST_PART_GROUP");	/* tests only */
	int g = v ? atoi(v) : 0;

	return g >= 1 && g <= OS_UPLOAD_GROUP ? g : OS_UPLOAD_GROUP;
}

static uint64_t part_len(const struct os_upload *u, int number)
{
	return os_upload_part_len(u->part_size, u->group, number);
}

/* ---- reading parts from the fd ---- */

struct mapping {
	void *base;		/* NULL when nothing is mapped */
	size_t len;
	const char *data;	/* the part's first byte */
};

static int map_part(const struct os_upload *u, uint64_t off, size_t len, struct mapping *m)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t start = off / page * page;

	m->base = NULL;
	m->data = "";
	if (len == 0)
		return 0;
	m->len = (size_t)(off - start) + len;
	m->base = mmap(NULL, m->len, PROT_READ, MAP_SHARED, u->fd, (off_t)start);
	if (m->base == MAP_FAILED) {
		m->base = NULL;
		return errno;
	}
	madvise(m->base, m->len, MADV_SEQUENTIAL);
	m->data = (const char *)m->base + (off - start);
	return 0;
}

static void unmap_part(struct mapping *m)
{
	if (m->base)
		munmap(m->base, m->len);
}

/* Uploads part number from data, or from the fd when data is NULL. */
static int part_put(struct os_upload *u, int number, const char *data, uint64_t off,
		    size_t len, char etag[OS_ETAG_MAX])
{
	struct mapping m;
	int err;

	if (data)
		return os_mpu_put_part(u->s, u->key, u->upload_id, number, data, len, etag);
	err = map_part(u, off, len, &m);
	if (!err)
		err = os_mpu_put_part(u->s, u->key, u->upload_id, number, m.data, len, etag);
	unmap_part(&m);
	return err;
}

static void *worker_main(void *arg)
{
	struct os_upload *u = arg;
	char etag[OS_ETAG_MAX];
	struct up_job *job;
	int err;

	pthread_mutex_lock(&u->lock);
	for (;;) {
		while (!u->head && !u->closing)
			pthread_cond_wait(&u->changed, &u->lock);
		job = u->head;
		if (!job)
			break;
		u->head = job->next;
		if (!u->head)
			u->tail = NULL;
		err = u->err;
		pthread_mutex_unlock(&u->lock);
		if (!err)
			err = part_put(u, job->number, job->data, job->off, job->len, etag);
		pthread_mutex_lock(&u->lock);
		if (err && !u->err)
			u->err = err;
		if (!err) {
			u->parts[job->number - 1].number = job->number;
			memcpy(u->parts[job->number - 1].etag, etag, OS_ETAG_MAX);
		}
		u->inflight--;
		if (job->data)
			u->held -= job->len;
		pthread_cond_broadcast(&u->changed);
		free(job->data);
		free(job);
	}
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

int os_upload_create(struct objstore *s, const char *key, const struct os_meta *meta,
		     const struct os_upload_opts *opts, struct os_upload **out)
{
	struct os_upload *u;
	int err;

	u = calloc(1, sizeof(*u));
	if (!u)
		return ENOMEM;
	u->s = s;
	u->part_size = opts && opts->part_size ? opts->part_size : PART_SIZE_DEFAULT;
	u->max_inflight = opts && opts->max_inflight ? opts->max_inflight : INFLIGHT_DEFAULT;
	u->fd = -1;
	u->group = os_upload_group();
	if (u->part_size < PART_SIZE_MIN || u->part_size > OS_UPLOAD_PART_MAX ||
	    u->max_inflight < 1 || u->max_inflight > INFLIGHT_MAX) {
		free(u);
		return EINVAL;
	}
	u->mem_limit = (uint64_t)(u->max_inflight + 1) * u->part_size;
	u->key = strdup(key);
	err = u->key ? os_meta_copy(&u->meta, meta) : ENOMEM;
	if (err) {
		free(u->key);
		free(u);
		return err;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->changed, NULL);
	*out = u;
	return 0;
}

int os_upload_create_fd(struct objstore *s, const char *key, const struct os_meta *meta,
			const struct os_upload_opts *opts, int fd, struct os_upload **out)
{
	int err;

	if (fd < 0)
		return EINVAL;
	err = os_upload_create(s, key, meta, opts, out);
	if (!err) {
		(*out)->from_fd = true;
		(*out)->fd = fd;
	}
	return err;
}

/* Creates the multipart upload and starts the workers. */
static int upload_start(struct os_upload *u)
{
	int err, i;

	u->parts = calloc(OS_UPLOAD_PARTS_MAX, sizeof(*u->parts));
	u->dirty = calloc(OS_UPLOAD_PARTS_MAX, sizeof(*u->dirty));
	u->workers = calloc((size_t)u->max_inflight, sizeof(*u->workers));
	if (!u->parts || !u->dirty || !u->workers)
		return ENOMEM;
	err = os_mpu_create(u->s, u->key, &u->meta, &u->upload_id);
	if (err)
		return err;
	for (i = 0; i < u->max_inflight; i++) {
		if (pthread_create(&u->workers[i], NULL, worker_main, u))
			break;
		u->n_workers++;
	}
	return u->n_workers ? 0 : EAGAIN;
}

/* Hands the full part to the workers, waiting for room in the queue. */
static int send_part(struct os_upload *u)
{
	struct up_job *job;
	int err = 0;

	if (!u->upload_id) {
		err = upload_start(u);
		if (err)
			return err;
	}
	job = malloc(sizeof(*job));
	if (!job)
		return ENOMEM;
	job->number = ++u->parts_sent;
	job->data = u->cur;
	job->off = u->cur_off;
	job->len = u->cur_len;
	job->next = NULL;
	u->cur = NULL;
	u->cur_off += u->cur_len;
	u->cur_len = 0;
	pthread_mutex_lock(&u->lock);
	while (u->inflight >= u->max_inflight && !u->err)
		pthread_cond_wait(&u->changed, &u->lock);
	if (u->tail)
		u->tail->next = job;
	else
		u->head = job;
	u->tail = job;
	u->inflight++;
	if (job->data)
		u->held += job->len;
	err = u->err;
	pthread_cond_broadcast(&u->changed);
	pthread_mutex_unlock(&u->lock);
	return err;
}

static int upload_error(struct os_upload *u)
{
	int err;

	pthread_mutex_lock(&u->lock);
	err = u->err;
	pthread_mutex_unlock(&u->lock);
	return err;
}

/* Makes err the upload's error (unless it already has one): the upload is
 * dead, finish() must not publish anything. */
static int upload_fail(struct os_upload *u, int err)
{
	pthread_mutex_lock(&u->lock);
	if (!u->err)
		u->err = err;
	pthread_mutex_unlock(&u->lock);
	return err;
}

/* Allocates the buffer of a part of len bytes once the queued buffers leave
 * room for it in mem_limit (or nothing is queued). */
static int buffer_alloc(struct os_upload *u, uint64_t len)
{
	int err;

	pthread_mutex_lock(&u->lock);
	while (u->held > 0 && u->held + len > u->mem_limit && !u->err)
		pthread_cond_wait(&u->changed, &u->lock);
	err = u->err;
	pthread_mutex_unlock(&u->lock);
	if (!err && !(u->cur = malloc((size_t)len)))
		err = ENOMEM;
	return err;
}

/* Adds len bytes to the stream: copied from p, or already in the fd when p
 * is NULL. */
static int upload_advance(struct os_upload *u, const char *p, uint64_t len)
{
	int err = upload_error(u);

	while (!err && len > 0) {
		uint64_t plen = part_len(u, u->parts_sent + 1), n;

		if (u->cur_len == plen) {
			err = send_part(u);	/* more bytes follow a full part */
			continue;
		}
		if (u->cur_len == 0 && u->parts_sent == OS_UPLOAD_PARTS_MAX)
			err = EFBIG;
		else if (p && !u->cur)
			err = buffer_alloc(u, plen);
		if (err)
			break;
		n = plen - u->cur_len < len ? plen - u->cur_len : len;
		if (p) {
			memcpy(u->cur + u->cur_len, p, (size_t)n);
			p += n;
		}
		u->cur_len += (size_t)n;
		u->bytes += n;
		len -= n;
	}
	return err ? upload_fail(u, err) : 0;
}

int os_upload_write(struct os_upload *u, const void *data, size_t len)
{
	if (u->from_fd)
		return upload_fail(u, EINVAL);
	return upload_advance(u, data, len);
}

int os_upload_extend(struct os_upload *u, uint64_t len)
{
	if (!u->from_fd)
		return upload_fail(u, EINVAL);
	return upload_advance(u, NULL, len);
}

/* The number of the part holding byte off. */
static int part_at(const struct os_upload *u, uint64_t off)
{
	return os_upload_part_count(u->part_size, u->group, off + 1);
}

int os_upload_dirty(struct os_upload *u, uint64_t off, uint64_t len)
{
	int n, last;

	if (!u->from_fd)
		return EINVAL;
	if (len == 0 || !u->upload_id)
		return 0;	/* nothing sent yet: finish reads the fd then */
	last = part_at(u, off + len - 1);
	pthread_mutex_lock(&u->lock);
	for (n = part_at(u, off); n <= last && n <= u->parts_sent; n++)
		u->dirty[n - 1] = true;
	pthread_mutex_unlock(&u->lock);
	return 0;
}

uint64_t os_upload_done(struct os_upload *u, uint64_t from)
{
	uint64_t end = from;
	int n;

	if (!u->upload_id)
		return from;
	n = part_at(u, from);
	pthread_mutex_lock(&u->lock);
	for (; n <= u->parts_sent && u->parts[n - 1].number && !u->dirty[n - 1]; n++)
		end = os_upload_part_off(u->part_size, u->group, n) + part_len(u, n);
	pthread_mutex_unlock(&u->lock);
	return end;
}

/* Waits for the queue to drain (or be skipped after an error), stops and
 * joins the workers. Returns the first part error. */
static int workers_stop(struct os_upload *u, int cancel)
{
	int err, i;

	pthread_mutex_lock(&u->lock);
	if (cancel && !u->err)
		u->err = cancel;
	u->closing = true;
	pthread_cond_broadcast(&u->changed);
	pthread_mutex_unlock(&u->lock);
	for (i = 0; i < u->n_workers; i++)
		pthread_join(u->workers[i], NULL);
	u->n_workers = 0;
	err = u->err;
	return err == cancel ? 0 : err;
}

/* Sends the parts marked dirty again, from the fd. Workers are stopped. */
static int resend_dirty(struct os_upload *u)
{
	int n, err = 0;

	for (n = 1; !err && n <= u->parts_sent; n++) {
		uint64_t off = os_upload_part_off(u->part_size, u->group, n);
		uint64_t len = part_len(u, n);

		if (!u->dirty[n - 1])
			continue;
		if (len > u->bytes - off)
			len = u->bytes - off;	/* the last part */
		err = part_put(u, n, NULL, off, (size_t)len, u->parts[n - 1].etag);
	}
	return err;
}

/* The single PUT of an upload that never sent a part. */
static int put_whole(struct os_upload *u, char etag_out[OS_ETAG_MAX])
{
	struct mapping m;
	int err;

	if (!u->from_fd)
		return os_put(u->s, u->key, u->cur, u->cur_len, &u->meta, etag_out);
	err = map_part(u, 0, u->cur_len, &m);
	if (!err)
		err = os_put(u->s, u->key, m.data, u->cur_len, &u->meta, etag_out);
	unmap_part(&m);
	return err;
}

static void upload_free(struct os_upload *u)
{
	pthread_cond_destroy(&u->changed);
	pthread_mutex_destroy(&u->lock);
	os_meta_release(&u->meta);
	free(u->upload_id);
	free(u->parts);
	free(u->dirty);
	free(u->workers);
	free(u->cur);
	free(u->key);
	free(u);
}

int os_upload_finish(struct os_upload *u, char etag_out[OS_ETAG_MAX])
{
	int err, part_err;

	err = upload_error(u);
	if (!err && !u->upload_id) {
		err = put_whole(u, etag_out);
		upload_free(u);
		return err;
	}
	if (!err && u->cur_len > 0)
		err = send_part(u);
	if (u->upload_id) {
		part_err = workers_stop(u, err ? ECANCELED : 0);
		if (!err)
			err = part_err;
		if (!err)
			err = resend_dirty(u);
		if (!err)
			err = os_mpu_complete(u->s, u->key, u->upload_id, u->parts,
					      (size_t)u->parts_sent, etag_out);
		if (err) {
			log_msg(LOG_ERR, "upload of %s failed (%s): aborting it", u->key,
				strerror(err));
			os_mpu_abort(u->s, u->key, u->upload_id);
		}
	}
	upload_free(u);
	return err;
}

void os_upload_abort(struct os_upload *u)
{
	if (!u)
		return;
	if (u->upload_id) {
		workers_stop(u, ECANCELED);
		os_mpu_abort(u->s, u->key, u->upload_id);
	}
	upload_free(u);
}

uint64_t os_upload_bytes(const struct os_upload *u)
{
	return u->bytes;
}

bool os_upload_started(const struct os_upload *u)
{
	return u->upload_id != NULL;
}

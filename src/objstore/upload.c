/*
 * upload.c - one object written as a stream, its parts uploaded in parallel.
 *
 * The caller fills `cur`, one part_size buffer. A full buffer is only sent
 * once more bytes arrive, so an object of at most one part never starts a
 * multipart upload: finish() PUTs it. Sending the first part creates the
 * upload (in the caller's thread, so its error returns at once) and starts
 * max_inflight worker threads. Sent parts go into a FIFO queue; workers
 * upload them with os_mpu_put_part and note each ETag under its part
 * number. The caller blocks while max_inflight parts are queued or
 * uploading: memory stays below (max_inflight + 1) * part_size.
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

#include "util/log.h"

#define PART_SIZE_DEFAULT (16u << 20)
#define PART_SIZE_MIN (5u << 20)
#define PART_SIZE_MAX (5ULL << 30)
#define INFLIGHT_DEFAULT 4
#define INFLIGHT_MAX 64
#define PARTS_MAX 10000

struct up_job {
	int number;
	char *data;		/* owned */
	size_t len;
	struct up_job *next;
};

struct os_upload {
	struct objstore *s;	/* borrowed */
	char *key;
	struct os_meta meta;
	size_t part_size;
	int max_inflight;

	/* the caller's thread only */
	char *cur;		/* the part being filled */
	size_t cur_len;
	uint64_t bytes;
	int parts_sent;
	char *upload_id;	/* NULL until the first part is sent */
	pthread_t *workers;
	int n_workers;

	pthread_mutex_t lock;
	pthread_cond_t changed;	/* a job was queued or finished, or closing */
	struct up_job *head, *tail;	/* protected by lock */
	int inflight;		/* queued or uploading; protected by lock */
	struct os_part *parts;	/* [number - 1]; protected by lock */
	int err;		/* first error of a part; protected by lock */
	bool closing;		/* workers exit once the queue is empty; protected by lock */
};

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
			err = os_mpu_put_part(u->s, u->key, u->upload_id, job->number,
					      job->data, job->len, etag);
		pthread_mutex_lock(&u->lock);
		if (err && !u->err)
			u->err = err;
		if (!err) {
			u->parts[job->number - 1].number = job->number;
			memcpy(u->parts[job->number - 1].etag, etag, OS_ETAG_MAX);
		}
		u->inflight--;
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
	if (u->part_size < PART_SIZE_MIN || u->part_size > PART_SIZE_MAX ||
	    u->max_inflight < 1 || u->max_inflight > INFLIGHT_MAX) {
		free(u);
		return EINVAL;
	}
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

/* Creates the multipart upload and starts the workers. */
static int upload_start(struct os_upload *u)
{
	int err, i;

	u->parts = calloc(PARTS_MAX, sizeof(*u->parts));
	u->workers = calloc((size_t)u->max_inflight, sizeof(*u->workers));
	if (!u->parts || !u->workers)
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

/* Hands the full buffer to the workers, waiting for room in the queue. */
static int send_part(struct os_upload *u)
{
	struct up_job *job;
	int err = 0;

	if (u->parts_sent == PARTS_MAX)
		return EFBIG;
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
	job->len = u->cur_len;
	job->next = NULL;
	u->cur = NULL;
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

int os_upload_write(struct os_upload *u, const void *data, size_t len)
{
	const char *p = data;
	size_t n;
	int err;

	err = upload_error(u);
	while (!err && len > 0) {
		if (u->cur_len == u->part_size) {
			err = send_part(u);	/* more bytes follow a full part */
			if (err)
				return upload_fail(u, err);
		}
		if (!u->cur) {
			u->cur = malloc(u->part_size);
			if (!u->cur)
				return upload_fail(u, ENOMEM);
		}
		n = u->part_size - u->cur_len < len ? u->part_size - u->cur_len : len;
		memcpy(u->cur + u->cur_len, p, n);
		u->cur_len += n;
		u->bytes += n;
		p += n;
		len -= n;
	}
	return err;
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

static void upload_free(struct os_upload *u)
{
	pthread_cond_destroy(&u->changed);
	pthread_mutex_destroy(&u->lock);
	os_meta_release(&u->meta);
	free(u->upload_id);
	free(u->parts);
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
		err = os_put(u->s, u->key, u->cur, u->cur_len, &u->meta, etag_out);
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

/*
 * pubq.c - the publishing pool (see pubq.h).
 *
 * A mutex-protected FIFO of jobs feeds the threads; a finished job goes on a
 * "done" list and one byte is written to the pipe, so the engine's poll()
 * wakes up. The engine drains the pipe and the done list together.
 */
#include "config.h"
#include "exec/pubq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct pubq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pub_job *head, *tail;	/* queued, protected by lock */
	struct pub_job *done;		/* finished, protected by lock */
	bool stop;			/* protected by lock */
	int pipe[2];
	pthread_t *threads;
	int n_threads;
};

void pubq_run(struct pub_job *j)
{
	j->err = 0;
	j->bytes = 0;
	if (j->ok)
		j->err = loc_publish(j->out, &j->bytes);
	else
		loc_discard(j->out);
	j->out = NULL;
	j->log_err = j->keep_log ? loc_publish(j->log, NULL) : 0;
	if (!j->keep_log)
		loc_discard(j->log);
	j->log = NULL;
}

static void *worker(void *arg)
{
	struct pubq *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct pub_job *j = q->head;

		if (!j && q->stop)
			break;
		if (!j) {
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->lock);
		pubq_run(j);
		pthread_mutex_lock(&q->lock);
		j->next = q->done;
		q->done = j;
		if (write(q->pipe[1], "", 1) < 0) {
			/* full pipe: the engine has wake-ups pending anyway */
		}
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int pubq_create(int threads, struct pubq **out)
{
	struct pubq *q = calloc(1, sizeof(*q));
	int e;

	if (!q)
		return ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->threads = calloc((size_t)threads, sizeof(*q->threads));
	if (!q->threads || pipe2(q->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		e = q->threads ? errno : ENOMEM;
		free(q->threads);
		free(q);
		return e;
	}
	for (; q->n_threads < threads; q->n_threads++) {
		e = pthread_create(&q->threads[q->n_threads], NULL, worker, q);
		if (e) {
			pubq_destroy(q);
			return e;
		}
	}
	*out = q;
	return 0;
}

int pubq_fd(const struct pubq *q)
{
	return q->pipe[0];
}

void pubq_submit(struct pubq *q, struct pub_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct pub_job *pubq_next_done(struct pubq *q)
{
	struct pub_job *j;
	char drain[64];

	while (read(q->pipe[0], drain, sizeof(drain)) > 0)
		;
	pthread_mutex_lock(&q->lock);
	j = q->done;
	if (j)
		q->done = j->next;
	pthread_mutex_unlock(&q->lock);
	return j;
}

void pubq_destroy(struct pubq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->n_threads; i++)
		pthread_join(q->threads[i], NULL);
	close(q->pipe[0]);
	close(q->pipe[1]);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->threads);
	free(q);
}

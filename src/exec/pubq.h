/*
 * pubq.h - publishing outputs off the engine thread.
 *
 * Publishing an object-store output is an upload; doing it in the poll loop
 * would hold up every other task. The engine hands finished attempts to this
 * small pool of threads instead and learns of completions through a pipe it
 * polls. Each job publishes (or discards) the output and the log of one
 * attempt; the engine owns the job before pubq_submit and after
 * pubq_next_done returns it. A local output is published inline instead
 * (a rename is cheaper than the hand-off).
 */
#ifndef LITHFS_EXEC_PUBQ_H
#define LITHFS_EXEC_PUBQ_H

#include <stdbool.h>
#include <stdint.h>

#include "exec/loc.h"

struct pubq;

struct pub_job {
	void *owner;			/* the engine's: the task */
	bool cancelled;			/* the engine's, carried through */
	struct loc_wfile *out;		/* published if ok, else discarded */
	struct loc_wfile *log;		/* published if keep_log, else discarded */
	bool ok, keep_log;
	int err;			/* result: publishing out failed */
	int log_err;			/* result: publishing log failed */
	uint64_t bytes;			/* result: size of out */
	struct pub_job *next;		/* pubq's */
};

int pubq_create(int threads, struct pubq **out);
/* Readable (POLLIN) while finished jobs wait for pubq_next_done. */
int pubq_fd(const struct pubq *q);
void pubq_submit(struct pubq *q, struct pub_job *j);
/* A finished job, or NULL. Never blocks. */
struct pub_job *pubq_next_done(struct pubq *q);
/* Runs a job in the calling thread (the inline path). */
void pubq_run(struct pub_job *j);
/* Finishes the queued jobs, joins the threads, frees q. */
void pubq_destroy(struct pubq *q);

#endif

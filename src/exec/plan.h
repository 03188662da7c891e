/*
 * plan.h - the list of tasks of one mapdir run.
 *
 * plan_build() lists IN, checks every input name, and splits each input into
 * tasks (chunk.h). A file that yields one chunk is a whole-file task whose
 * output is OUT/<rel>; a file split into several chunks yields tasks whose
 * outputs are OUT/<rel>/part-NNNNN, or, with --merge, hidden parts under
 * OUT/.mapdir/parts/<rel>/ concatenated into OUT/<rel> once all succeeded.
 * Tasks are numbered from 1 (seq) in input order.
 */
#ifndef LITHFS_EXEC_PLAN_H
#define LITHFS_EXEC_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec/chunk.h"
#include "exec/loc.h"

#define PLAN_STATE_DIR ".mapdir"

enum task_state { TASK_PENDING, TASK_RUNNING, TASK_OK, TASK_FAILED, TASK_SKIPPED };

struct task {
	size_t seq;			/* 1-based */
	size_t file;			/* index into plan.inputs */
	uint64_t off, len;
	unsigned part, parts;		/* parts == 1: the whole file */
	char *out_rel;			/* owned: name below OUT */
	char *log_rel;			/* owned: name below the log location */
	/* results, written by the engine */
	enum task_state state;
	int attempts;
	int exitval;			/* -1 when killed by a signal */
	int sig;
	bool timed_out;
	double start, runtime;		/* of the last attempt, seconds */
	uint64_t bytes_out;
	char *error;			/* owned: why it failed (mapdir's own error) */
	char *stderr_tail;		/* owned: last lines of the program's stderr */
};

struct plan_file {
	size_t first, n;		/* its tasks: tasks[first .. first+n) */
	size_t done;			/* tasks OK or SKIPPED */
	bool merged;
};

struct plan {
	struct loc_inputs inputs;	/* owned */
	struct plan_file *files;	/* owned, one per input */
	struct task *tasks;		/* owned */
	size_t n_tasks;
	uint64_t total_bytes;
	bool merge;
};

/* log_prefix: prepended to every log_rel ("" or ".mapdir/logs/").
 * 0 or an errno with one line for the user in err. */
int plan_build(struct plan *p, struct loc *in, const struct chunk_opts *co, bool merge,
	       const char *log_prefix, char *err, size_t errlen);
void plan_release(struct plan *p);

/* The hidden name of part `part` of input rel (with --merge). Caller frees. */
char *plan_part_rel(const char *rel, unsigned part);

#endif

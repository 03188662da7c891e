/*
 * planio.h - a mapdir plan as a small text object under OUT/.mapdir/, so
 * that `mapdir --worker` on a cluster node can run its share of the tasks
 * with nothing but the object store, and the result records it writes back.
 *
 * A plan object (one per submission round) holds the run's settings (IN and
 * OUT as store URLs, the program, its argv and flags), the tasks of that
 * round in seq order with everything the engine needs (input identity, byte
 * range, output and log names), and the shards: shard e (the Slurm array
 * element e) runs tasks [first, first + count) of the round.
 * A result record holds one line per task of a shard: its state and what
 * the engine recorded about its last attempt.
 *
 * Text format, one record per line, fields separated by one space; strings
 * are percent-encoded (bytes <= ' ', '%', '~', 0x7f) and a NULL string is
 * "~", so names with spaces or newlines survive.
 */
#ifndef LITHFS_EXEC_PLANIO_H
#define LITHFS_EXEC_PLANIO_H

#include <stdbool.h>
#include <stddef.h>

#include "exec/loc.h"
#include "exec/plan.h"
#include "util/buf.h"

/* The settings a worker runs with. Strings owned by the struct when filled
 * by planio_parse (planio_settings_release frees them), borrowed otherwise. */
struct planio_settings {
	char *in_url, *out_url;		/* where the worker opens IN and OUT */
	char *path;			/* program file to execute on the node */
	char **argv;			/* NULL-terminated */
	char *command;			/* the command as text (joblog) */
	char *stage_rel;		/* staged program below OUT, or NULL */
	bool shell, args_mode, halt;
	double timeout;
};
void planio_settings_release(struct planio_settings *s);

struct planio_shard {
	size_t first, count;		/* indexes into the round's task list */
};

/* Formats a round: the tasks p->tasks[idx[i]] for i < n, cut into shards.
 * 0 or ENOMEM. */
int planio_format(struct buf *out, const struct planio_settings *s, const struct plan *p,
		  const size_t *idx, size_t n, const struct planio_shard *shards,
		  size_t n_shards);
/* Parses a round and builds in *p the plan of shard `shard` alone (tasks
 * keep their seq; inputs and files cover only those tasks). 0, EINVAL
 * (malformed, with a line in err), ERANGE (no such shard) or ENOMEM. */
int planio_parse(const char *text, size_t len, size_t shard, struct planio_settings *s,
		 struct plan *p, char *err, size_t errlen);

/* One result line per task of p that is not TASK_PENDING. 0 or ENOMEM. */
int planio_format_results(struct buf *out, const struct plan *p);
/* Calls fn for each well-formed result line of text with a task holding the
 * parsed fields (seq, state, attempts, exitval, sig, timed_out, start,
 * runtime, bytes_out, error, stderr_tail; strings borrowed for the call).
 * Stops at fn's first non-zero return, which it returns. */
typedef int (*planio_result_fn)(void *arg, const struct task *t);
int planio_parse_results(const char *text, size_t len, planio_result_fn fn, void *arg);

/* Writes data as the object rel of out (atomically, like every output). */
int planio_put(struct loc *out, const char *rel, const void *data, size_t len);

#endif

/*
 * engine.h - the process pool that runs the tasks of a plan.
 *
 * One thread, one poll() loop, up to `jobs` children at a time. Each child is
 * started with posix_spawn in its own process group, its stdout going
 * straight into the output's temporary file and its stderr into its log file,
 * so the loop only moves stdin bytes: a whole local file is the child's stdin
 * itself; a chunk is fed through a non-blocking pipe with sendfile(); an
 * object is read in blocks and written to the pipe. SIGCHLD reaches the loop
 * through a self-pipe. Timeouts, retries with exponential backoff,
 * --halt-on-error and SIGINT/SIGTERM (kill every task's process group,
 * discard their outputs) are decided here.
 */
#ifndef LITHFS_EXEC_ENGINE_H
#define LITHFS_EXEC_ENGINE_H

#include <stdbool.h>

#include "exec/loc.h"
#include "exec/manifest.h"
#include "exec/plan.h"
#include "exec/report.h"

struct eng_opts {
	int jobs;
	int retries;			/* extra attempts of a failed task */
	double timeout;			/* seconds per attempt, 0 = none */
	double backoff;			/* first retry delay, doubling, seconds */
	bool halt;			/* --halt-on-error */
	bool args_mode;			/* --args: {in} {out} instead of stdin/stdout */
	bool shell;			/* argv is {"/bin/sh", "-c", CMD}: quote for sh */
	const char *path;		/* the program file to execute */
	char *const *argv;		/* its argv (borrowed) */
	const char *command;		/* the command as text, for the joblog */
};

struct eng_io {
	struct plan *plan;
	struct loc *in, *out, *logs;
	struct manifest *manifest;	/* may be NULL (dry run) */
	struct report *report;
};

/* SIGCHLD, SIGINT, SIGTERM, SIGHUP handlers; SIGPIPE ignored. Call early:
 * outside eng_run's loop (before it starts and after it ends),
 * SIGINT/SIGTERM/SIGHUP end mapdir at once. */
int eng_install_signals(void);
/* Marks tasks done in an earlier run (--resume) as TASK_SKIPPED. */
void eng_mark_done(struct plan *p, struct manifest *m);
/* A task's last attempt ended: sets TASK_OK or TASK_FAILED and, when it
 * succeeded, records it in the manifest (a failure to append is a warning:
 * the output is there, only --resume would run it again). Shared by the
 * local loop and the Slurm coordinator. */
void eng_task_settle(const struct eng_io *io, struct task *t, bool ok);
/* Runs every pending task. 0 when all succeeded, 1 when some failed, or
 * 128 + signal when interrupted by SIGINT/SIGTERM/SIGHUP. */
int eng_run(const struct eng_opts *o, const struct eng_io *io);

#endif

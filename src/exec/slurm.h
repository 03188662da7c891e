/*
 * slurm.h - the Slurm backend of mapdir (--backend slurm): the coordinator.
 *
 * The plan is built on the submit host exactly as for a local run. Each
 * round writes the tasks still to run as a plan object under
 * OUT/.mapdir/slurm/RUN/rN/plan (planio.h), cut into shards, and submits ONE
 * job array (sbatch --array=0-S-1%M) whose element e runs `mapdir --worker`
 * on shard e (worker.h). The coordinator polls squeue (no slurmdbd needed)
 * and LISTs the result records rN/res/E, feeding them to the same report
 * and manifest as the local engine. Failed tasks go into a new round until
 * --retries is used up. SIGINT/SIGTERM/SIGHUP and --halt-on-error scancel
 * the array and wait until squeue shows none of it.
 * Credentials never appear in scripts or argv: the job gets the submitter's
 * environment (sbatch --export=ALL), AWS_* variables or AWS_PROFILE included.
 */
#ifndef LITHFS_EXEC_SLURM_H
#define LITHFS_EXEC_SLURM_H

#include <stdbool.h>
#include <stddef.h>

#include "exec/engine.h"

#define SLURM_MAX_SBATCH_ARGS 64

/* Options only: no heap memory, nothing to release. */
struct slurm_opts {
	bool enabled;			/* --backend slurm */
	const char *partition, *account, *time;
	int max_running;		/* --max-running, 0 = no limit */
	int tasks_per_job;		/* --tasks-per-job, 0 = by bytes */
	bool stage;			/* --stage: upload PROGRAM */
	const char *sbatch_args[SLURM_MAX_SBATCH_ARGS];	/* borrowed */
	size_t n_sbatch_args;
};

/* The long options of the backend, for mapdir's getopt table. */
enum {
	SLURM_OPT_BACKEND = 512, SLURM_OPT_PARTITION, SLURM_OPT_ACCOUNT, SLURM_OPT_TIME,
	SLURM_OPT_MAX_RUNNING, SLURM_OPT_TASKS_PER_JOB, SLURM_OPT_SBATCH_ARG, SLURM_OPT_STAGE,
};
#define SLURM_LONG_OPTIONS \
	{ "backend", required_argument, NULL, SLURM_OPT_BACKEND }, \
	{ "partition", required_argument, NULL, SLURM_OPT_PARTITION }, \
	{ "account", required_argument, NULL, SLURM_OPT_ACCOUNT }, \
	{ "time", required_argument, NULL, SLURM_OPT_TIME }, \
	{ "max-running", required_argument, NULL, SLURM_OPT_MAX_RUNNING }, \
	{ "tasks-per-job", required_argument, NULL, SLURM_OPT_TASKS_PER_JOB }, \
	{ "sbatch-arg", required_argument, NULL, SLURM_OPT_SBATCH_ARG }, \
	{ "stage", no_argument, NULL, SLURM_OPT_STAGE }

/* One option: 0 taken, -1 not a Slurm option, 2 invalid (message printed). */
int slurm_parse_opt(struct slurm_opts *o, int opt, const char *arg);

/* Before anything runs: IN and OUT must be store URLs or on a lithfs mount,
 * sbatch must be found, options must combine. 0 or 2 (message printed). */
int slurm_check(const char *in, const char *out, bool merge, bool custom_logs);

/* Runs the pending tasks of io->plan on the cluster; in and out are what the
 * user named (checked by slurm_check). Returns like eng_run. */
int slurm_run(const struct slurm_opts *so, const struct eng_opts *eo,
	      const struct eng_io *io, const char *in, const char *out);

#endif

/*
 * worker.h - `mapdir --worker OUT_URL ROUND [ELEMENT]`: one element of a
 * Slurm job array submitted by the Slurm backend (slurm.h).
 *
 * Needs no mount and no shared filesystem: it reads ROUND/plan below OUT
 * (planio.h), keeps the shard of its element (ELEMENT, else
 * $SLURM_ARRAY_TASK_ID), opens IN and OUT by their store URLs, runs the
 * shard with the local process pool (engine.h, same stdin/stdout/environment
 * contract as a local run, $SLURM_CPUS_ON_NODE tasks at once), and writes the
 * result record ROUND/res/ELEMENT, also after SIGTERM (scancel) for the tasks
 * that finished. Exit status as eng_run; 2 when the plan cannot be used.
 */
#ifndef LITHFS_EXEC_WORKER_H
#define LITHFS_EXEC_WORKER_H

#define WORKER_FLAG "--worker"

/* argv[1] is WORKER_FLAG. */
int worker_main(int argc, char **argv);

#endif

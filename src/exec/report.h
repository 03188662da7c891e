/*
 * report.h - what the user sees of a run: the live progress line (only when
 * stderr is a terminal), the --joblog file, the final summary with the list
 * of failed inputs, and --stats-json.
 * Engine thread only.
 */
#ifndef LITHFS_EXEC_REPORT_H
#define LITHFS_EXEC_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "exec/plan.h"

struct report;

struct report_opts {
	bool progress;		/* draw the progress line (stderr is a TTY) */
	bool quiet;		/* no summary unless something failed */
	const char *joblog;	/* --joblog FILE or NULL */
	const char *stats_json;	/* --stats-json FILE or NULL */
	const char *log_name;	/* where the task logs are, for the summary */
};

int report_create(const struct report_opts *o, const struct plan *p, struct report **out,
		  char *err, size_t errlen);
/* A task left the queue for good (OK, FAILED or SKIPPED). */
void report_task_done(struct report *r, const struct task *t);
/* An attempt ended (joblog line). retrying: it will run again. */
void report_attempt(struct report *r, const struct task *t, const char *command,
		    bool retrying);
/* Redraws the progress line if it is due (at most 5 times a second). */
void report_tick(struct report *r);
/* Prints the summary and failures, writes --stats-json. */
void report_finish(struct report *r, const char *interrupted);
void report_destroy(struct report *r);

/* Seconds since the epoch, as a double (CLOCK_REALTIME) / monotonic. */
double report_now(void);
double report_mono(void);

#endif

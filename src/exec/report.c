/*
 * report.c - progress line, joblog, summary, stats JSON (see report.h).
 *
 * Counters are updated as tasks end; the progress line is redrawn from them
 * at most every REDRAW seconds and erased before the summary. Task runtimes
 * of successful and failed tasks are kept for the p50/p95 figures.
 */
#include "config.h"
#include "exec/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

#define REDRAW 0.2
#define TAIL_LINES 5
#define MAX_LISTED 20

struct report {
	struct report_opts o;
	const struct plan *p;
	FILE *joblog;
	double t0, last_draw;
	size_t done, ok, failed, skipped, retried;
	uint64_t bytes_in, bytes_out, bytes_skipped;
	double *runtimes;		/* owned, one per finished task */
	size_t n_runtimes;
	bool drawn;
};

double report_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double report_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int report_create(const struct report_opts *o, const struct plan *p, struct report **out,
		  char *err, size_t errlen)
{
	struct report *r = calloc(1, sizeof(*r));

	if (!r)
		return ENOMEM;
	r->o = *o;
	r->p = p;
	r->t0 = report_mono();
	r->runtimes = calloc(p->n_tasks + 1, sizeof(*r->runtimes));
	if (!r->runtimes) {
		free(r);
		return ENOMEM;
	}
	if (o->joblog) {
		r->joblog = fopen(o->joblog, "we");
		if (!r->joblog) {
			int e = errno;

			snprintf(err, errlen, "cannot write the joblog %s: %s", o->joblog, strerror(e));
			report_destroy(r);
			return e;
		}
		fprintf(r->joblog, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\t"
			"Signal\tCommand\n");
		fflush(r->joblog);
	}
	*out = r;
	return 0;
}

void report_destroy(struct report *r)
{
	if (!r)
		return;
	if (r->joblog)
		fclose(r->joblog);
	free(r->runtimes);
	free(r);
}

static const char *input_rel(const struct report *r, const struct task *t)
{
	return r->p->inputs.v[t->file].rel;
}

void report_attempt(struct report *r, const struct task *t, const char *command, bool retrying)
{
	(void)retrying;		/* every attempt gets its line, like parallel --retries */
	if (!r->joblog)
		return;
	fprintf(r->joblog, "%zu\t:\t%.3f\t%.3f\t%" PRIu64 "\t%" PRIu64 "\t%d\t%d\t%s < %s",
		t->seq, t->start, t->runtime, t->len, t->bytes_out, t->exitval, t->sig,
		command, input_rel(r, t));
	if (t->parts > 1)
		fprintf(r->joblog, "@%" PRIu64 "+%" PRIu64, t->off, t->len);
	fputc('\n', r->joblog);
	fflush(r->joblog);
}

void report_task_done(struct report *r, const struct task *t)
{
	r->done++;
	if (t->state == TASK_SKIPPED) {
		r->skipped++;
		r->bytes_skipped += t->len;
		return;
	}
	if (t->attempts > 1)
		r->retried++;
	r->bytes_in += t->len;
	r->bytes_out += t->bytes_out;
	if (t->state == TASK_OK)
		r->ok++;
	else
		r->failed++;
	if (t->attempts > 0)
		r->runtimes[r->n_runtimes++] = t->runtime;
}

/* "12.3 MB" style, decimal units like dd and curl. */
static void human(char *s, size_t n, double v)
{
	static const char *units[] = { "B", "kB", "MB", "GB", "TB" };
	size_t u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(s, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void clock_text(char *s, size_t n, double secs)
{
	long t = (long)(secs + 0.5);

	snprintf(s, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void report_tick(struct report *r)
{
	double now = report_mono(), el = now - r->t0, rate;
	uint64_t total = r->p->total_bytes - r->bytes_skipped;
	char bytes[32], speed[32], eta[32] = "-:--:--";

	if (!r->o.progress || now - r->last_draw < REDRAW)
		return;
	r->last_draw = now;
	rate = el > 0 ? (double)r->bytes_in / el : 0;
	human(bytes, sizeof(bytes), (double)r->bytes_in);
	human(speed, sizeof(speed), rate);
	if (r->done > r->skipped && r->done < r->p->n_tasks) {
		double left = rate > 0 && total > 0 ? (double)(total - r->bytes_in) / rate :
			      el / (double)(r->done - r->skipped) *
			      (double)(r->p->n_tasks - r->done);

		clock_text(eta, sizeof(eta), left);
	}
	fprintf(stderr, "\r\033[K%zu/%zu tasks %3.0f%%  %s  %s/s  ETA %s",
		r->done, r->p->n_tasks,
		r->p->n_tasks ? 100.0 * (double)r->done / (double)r->p->n_tasks : 100.0,
		bytes, speed, eta);
	if (r->failed)
		fprintf(stderr, "  %zu failed", r->failed);
	r->drawn = true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct report *r, double q)
{
	if (r->n_runtimes == 0)
		return 0;
	return r->runtimes[(size_t)(q * (double)(r->n_runtimes - 1) + 0.5)];
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void write_json(struct report *r, double wall, size_t not_run, const char *interrupted)
{
	FILE *f = fopen(r->o.stats_json, "we");
	bool first = true;

	if (!f) {
		fprintf(stderr, "mapdir: cannot write %s: %s\n", r->o.stats_json, strerror(errno));
		return;
	}
	fprintf(f, "{\"tasks\": %zu, \"ok\": %zu, \"failed\": %zu, \"retried\": %zu, "
		"\"skipped\": %zu, \"not_run\": %zu, \"inputs\": %zu, "
		"\"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64 ", "
		"\"wall_seconds\": %.3f, \"bytes_per_second\": %.0f, "
		"\"task_seconds_p50\": %.4f, \"task_seconds_p95\": %.4f, \"interrupted\": ",
		r->p->n_tasks, r->ok, r->failed, r->retried, r->skipped, not_run,
		r->p->inputs.n, r->bytes_in, r->bytes_out, wall,
		wall > 0 ? (double)r->bytes_in / wall : 0, pct(r, 0.5), pct(r, 0.95));
	if (interrupted)
		json_str(f, interrupted);
	else
		fputs("null", f);
	fputs(", \"failures\": [", f);
	for (size_t i = 0; i < r->p->n_tasks; i++) {
		const struct task *t = &r->p->tasks[i];

		if (t->state != TASK_FAILED)
			continue;
		fprintf(f, "%s\n  {\"input\": ", first ? "" : ",");
		json_str(f, input_rel(r, t));
		fprintf(f, ", \"part\": %u, \"parts\": %u, \"exit\": %d, \"signal\": %d, "
			"\"attempts\": %d, \"error\": ", t->part, t->parts, t->exitval, t->sig,
			t->attempts);
		json_str(f, t->error);
		fputc('}', f);
		first = false;
	}
	fputs("]}\n", f);
	fclose(f);
}

/* The last TAIL_LINES lines of a failed task's stderr, indented. */
static void print_tail(const char *tail)
{
	const char *s = tail + strlen(tail);
	int lines = 0;

	while (s > tail && lines < TAIL_LINES)
		if (*--s == '\n')
			lines++;
	if (*s == '\n')
		s++;
	while (*s) {
		const char *nl = strchr(s, '\n');
		int n = nl ? (int)(nl - s) : (int)strlen(s);

		fprintf(stderr, "    | %.*s\n", n, s);
		s += n + (nl != NULL);
	}
}

static void list_failures(const struct report *r)
{
	size_t listed = 0;

	for (size_t i = 0; i < r->p->n_tasks; i++) {
		const struct task *t = &r->p->tasks[i];

		if (t->state != TASK_FAILED)
			continue;
		if (++listed > MAX_LISTED) {
			fprintf(stderr, "mapdir: ... and %zu more failed tasks (see --stats-json)\n",
				r->failed - MAX_LISTED);
			return;
		}
		if (t->parts > 1)
			fprintf(stderr, "mapdir: FAILED %s part %u/%u: %s\n", input_rel(r, t),
				t->part, t->parts, t->error ? t->error : "failed");
		else
			fprintf(stderr, "mapdir: FAILED %s: %s\n", input_rel(r, t),
				t->error ? t->error : "failed");
		if (t->stderr_tail)
			print_tail(t->stderr_tail);
	}
}

void report_finish(struct report *r, const char *interrupted)
{
	double wall = report_mono() - r->t0;
	size_t not_run = r->p->n_tasks - r->done;
	char in[32], out[32], speed[32];

	if (r->drawn)
		fputs("\r\033[K", stderr);
	qsort(r->runtimes, r->n_runtimes, sizeof(*r->runtimes), cmp_double);
	human(in, sizeof(in), (double)r->bytes_in);
	human(out, sizeof(out), (double)r->bytes_out);
	human(speed, sizeof(speed), wall > 0 ? (double)r->bytes_in / wall : 0);
	if (!r->o.quiet || r->failed || not_run) {
		fprintf(stderr, "mapdir: %zu tasks: %zu ok, %zu failed, %zu retried", r->p->n_tasks,
			r->ok, r->failed, r->retried);
		if (r->skipped)
			fprintf(stderr, ", %zu already done", r->skipped);
		if (not_run)
			fprintf(stderr, ", %zu not run", not_run);
		fprintf(stderr, "; in %s, out %s; %.2f s, %s/s; task time p50 %.3f s, p95 %.3f s\n",
			in, out, wall, speed, pct(r, 0.5), pct(r, 0.95));
	}
	if (interrupted)
		fprintf(stderr, "mapdir: interrupted by %s: running tasks were killed and "
			"their outputs discarded\n", interrupted);
	list_failures(r);
	if (r->failed && r->o.log_name)
		fprintf(stderr, "mapdir: every task's stderr is in %s\n", r->o.log_name);
	if (r->o.stats_json)
		write_json(r, wall, not_run, interrupted);
}

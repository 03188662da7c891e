/*
 * worker.c - the --worker mode (see worker.h): plan object in, result
 * record out, the engine in between.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/engine.h"
#include "exec/planio.h"
#include "exec/worker.h"
#include "util/log.h"

#define EXIT_USAGE 2

struct worker {
	const char *out_url, *round;
	size_t element;
	struct loc *in, *out;
	struct planio_settings set;
	struct plan plan;
	char *staged;			/* local copy of a --stage program */
};

static char *round_rel(const struct worker *w, const char *leaf)
{
	char *s;

	return asprintf(&s, "%s/%s", w->round, leaf) < 0 ? NULL : s;
}

static int jobs_on_node(void)
{
	const char *v = getenv("SLURM_CPUS_ON_NODE");
	long n = v ? strtol(v, NULL, 10) : 0;

	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (int)n;
}

/* Fetches the staged program into a private executable file. */
static int fetch_stage(struct worker *w)
{
	struct buf b = BUF_INIT;
	const char *tmp = getenv("TMPDIR");
	int fd, e = loc_read_all(w->out, w->set.stage_rel, &b);

	if (e)
		goto out_free_buf;
	if (asprintf(&w->staged, "%s/mapdir-stage-XXXXXX", tmp ? tmp : "/tmp") < 0) {
		w->staged = NULL;
		e = ENOMEM;
		goto out_free_buf;
	}
	fd = mkstemp(w->staged);
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fchmod(fd, 0700) != 0)
		e = errno ? errno : EIO;
	if (fd >= 0 && close(fd) != 0 && !e)
		e = errno;
	if (e && fd >= 0)
		unlink(w->staged);
out_free_buf:
	buf_release(&b);
	return e;
}

/* Reads the plan of the round and opens IN. */
static int load(struct worker *w)
{
	struct buf b = BUF_INIT;
	char err[512] = "", *rel = round_rel(w, "plan");
	int e = rel ? 0 : ENOMEM;

	if (!e)
		e = loc_open(w->out_url, true, &w->out, err, sizeof(err));
	if (!e && (e = loc_read_all(w->out, rel, &b)) != 0)
		snprintf(err, sizeof(err), "cannot read %s/%s: %s", w->out_url, rel,
			 strerror(e));
	if (!e)
		e = planio_parse(b.data, b.len, w->element, &w->set, &w->plan, err,
				 sizeof(err));
	if (!e)
		e = loc_open(w->set.in_url, false, &w->in, err, sizeof(err));
	if (!e && w->set.stage_rel && (e = fetch_stage(w)) != 0)
		snprintf(err, sizeof(err), "cannot fetch the staged program %s: %s",
			 w->set.stage_rel, strerror(e));
	if (e)
		log_msg(LOG_ERR, "worker %zu: %s", w->element, err[0] ? err : strerror(e));
	buf_release(&b);
	free(rel);
	return e;
}

static int save_results(struct worker *w)
{
	struct buf b = BUF_INIT;
	char leaf[64], *rel;
	int e;

	snprintf(leaf, sizeof(leaf), "res/%zu", w->element);
	rel = round_rel(w, leaf);
	e = rel ? planio_format_results(&b, &w->plan) : ENOMEM;
	if (!e)
		e = planio_put(w->out, rel, b.data ? b.data : "", b.len);
	if (e)
		log_msg(LOG_ERR, "worker %zu: cannot write its result record: %s", w->element,
			strerror(e));
	buf_release(&b);
	free(rel);
	return e;
}

static int run_shard(struct worker *w)
{
	struct eng_opts o = {
		.jobs = jobs_on_node(), .timeout = w->set.timeout, .backoff = 1.0,
		.halt = w->set.halt, .args_mode = w->set.args_mode, .shell = w->set.shell,
		.path = w->staged ? w->staged : w->set.path, .argv = w->set.argv,
		.command = w->set.command ? w->set.command : w->set.argv[0],
	};
	struct report_opts ro = { .quiet = true, .log_name = w->out_url };
	struct eng_io io = { .plan = &w->plan, .in = w->in, .out = w->out, .logs = w->out };
	char err[512] = "";
	int st;

	if (report_create(&ro, &w->plan, &io.report, err, sizeof(err)) != 0) {
		log_msg(LOG_ERR, "worker %zu: %s", w->element, err);
		return EXIT_USAGE;
	}
	st = eng_run(&o, &io);
	report_destroy(io.report);
	if (save_results(w) != 0 && st == 0)
		st = 1;
	return st;
}

int worker_main(int argc, char **argv)
{
	struct worker w = { 0 };
	const char *el = argc > 4 ? argv[4] : getenv("SLURM_ARRAY_TASK_ID");
	char *end = NULL;
	int st;

	if (argc < 4 || argc > 5 || !el) {
		fputs("usage: mapdir --worker OUT_URL ROUND [ELEMENT] (started by "
		      "mapdir --backend slurm)\n", stderr);
		return EXIT_USAGE;
	}
	w.out_url = argv[2];
	w.round = argv[3];
	w.element = (size_t)strtoul(el, &end, 10);
	if (end == el || *end) {
		fprintf(stderr, "mapdir: invalid array element '%s'\n", el);
		return EXIT_USAGE;
	}
	st = load(&w) ? EXIT_USAGE : run_shard(&w);
	if (w.staged)
		unlink(w.staged);
	free(w.staged);
	plan_release(&w.plan);
	planio_settings_release(&w.set);
	loc_destroy(w.in);
	loc_destroy(w.out);
	return st;
}

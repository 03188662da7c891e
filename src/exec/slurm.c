/*
 * slurm.c - the coordinator of --backend slurm (see slurm.h).
 *
 * State of a task across rounds: PENDING (to submit) -> RUNNING (in the
 * current array) -> OK | FAILED, or back to PENDING when a failed attempt
 * may be retried. A task of the round whose element left no result record
 * (cancelled, out of time, node failure, mapdir missing on the node) failed
 * that attempt. Slurm commands run with posix_spawnp; their stdout is read
 * through a pipe, their stderr goes to ours except for squeue's.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/loc_impl.h"
#include "exec/planio.h"
#include "exec/slurm.h"
#include "objstore/awsconf.h"
#include "objstore/source.h"
#include "util/log.h"

#define EXIT_USAGE 2
#define SHARD_BYTES (1ULL << 30)	/* automatic shards: about 1 GiB ... */
#define SHARD_TASKS 2000		/* ... or this many tasks */
#define MAX_ELEMENTS 1000		/* default MaxArraySize is 1001 */
#define POLL_S 1.0			/* squeue + LIST period */
#define CANCEL_WAIT_S 120.0		/* after scancel, wait this long for squeue */

extern char **environ;

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---- options ---- */

int slurm_parse_opt(struct slurm_opts *o, int opt, const char *arg)
{
	char *end;
	long v;

	switch (opt) {
	case SLURM_OPT_BACKEND:
		if (strcmp(arg, "slurm") != 0 && strcmp(arg, "local") != 0)
			break;
		o->enabled = strcmp(arg, "slurm") == 0;
		return 0;
	case SLURM_OPT_PARTITION: o->partition = arg; return 0;
	case SLURM_OPT_ACCOUNT: o->account = arg; return 0;
	case SLURM_OPT_TIME: o->time = arg; return 0;
	case SLURM_OPT_MAX_RUNNING:
	case SLURM_OPT_TASKS_PER_JOB:
		errno = 0;
		v = strtol(arg, &end, 10);
		if (end == arg || *end || errno || v < 1 || v > INT_MAX)
			break;
		*(opt == SLURM_OPT_MAX_RUNNING ? &o->max_running : &o->tasks_per_job) = (int)v;
		return 0;
	case SLURM_OPT_SBATCH_ARG:
		if (o->n_sbatch_args == SLURM_MAX_SBATCH_ARGS)
			break;
		o->sbatch_args[o->n_sbatch_args++] = arg;
		return 0;
	case SLURM_OPT_STAGE: o->stage = true; return 0;
	default:
		return -1;
	}
	fprintf(stderr, "mapdir: invalid value '%s' for the option (see mapdir --help)\n", arg);
	return EXIT_USAGE;
}

/* ---- where workers find IN and OUT ---- */

static bool is_url(const char *spec)
{
	return strncmp(spec, "s3://", 5) == 0 || strncmp(spec, "file://", 7) == 0;
}

/* The other location is an s3:// URL, which the workers (and this process)
 * resolve from the environment: a mount of another endpoint or region
 * cannot be served with it. 0 or EINVAL (told the user). */
static int env_matches_mount(const struct loc_mount_cfg *mc)
{
	struct os_config cfg = { 0 };
	struct awsconf ac;
	char err[256];
	int e = awsconf_resolve(&cfg, &ac, err, sizeof(err));

	if (e) {
		log_msg(LOG_ERR, "%s", err);
		return EINVAL;
	}
	if (strcmp(ac.endpoint, mc->endpoint) != 0 ||
	    (mc->region && strcmp(ac.region, mc->region) != 0)) {
		log_msg(LOG_ERR, "one of IN and OUT is an s3:// URL of %s (region %s, from this "
			"environment), the other is on a mount of %s (region %s): --backend slurm "
			"needs one endpoint; name both as URLs or both as paths on mounts",
			ac.endpoint, ac.region, mc->endpoint, mc->region ? mc->region : "?");
		e = EINVAL;
	}
	awsconf_release(&ac);
	return e;
}

/* Workers resolve the addressing style from their AWS profile (there is no
 * environment variable for it): one warning when the mount uses another
 * (mount.lithfs -o path_style / virtual_host do not reach them). */
static void warn_addressing(const struct loc_mount_cfg *mc)
{
	static bool warned;
	struct os_config cfg = { 0 };
	struct awsconf ac;
	const char *theirs;
	char err[256];

	if (warned || !mc->addressing || awsconf_resolve(&cfg, &ac, err, sizeof(err)) != 0)
		return;
	theirs = ac.addressing == OS_ADDR_VIRTUAL ? "virtual" : "path";
	if (strcmp(theirs, mc->addressing) != 0) {
		log_msg(LOG_WARNING, "the mount of %s sends %s-style requests, the Slurm workers "
			"will send %s-style ones (addressing_style of the AWS profile)",
			mc->endpoint, mc->addressing, theirs);
		warned = true;
	}
	awsconf_release(&ac);
}

/* Workers (sbatch --export=ALL) resolve the store from the environment:
 * give them the endpoint and region the mount resolved (its root's xattrs),
 * over whatever this environment says. IN and OUT on mounts of different
 * endpoints or regions cannot both be served that way, nor a mount and an
 * s3:// URL of different ones: EINVAL (told the user). */
static int export_mount_cfg(const struct loc_mount_cfg *mc, bool other_is_url)
{
	static char *exported, *exported_region;	/* kept for the process */

	if (!mc->endpoint)
		return 0;
	if (other_is_url) {
		if (env_matches_mount(mc) != 0)
			return EINVAL;
		warn_addressing(mc);
		return 0;
	}
	if (exported && (strcmp(exported, mc->endpoint) != 0 ||
			 strcmp(exported_region, mc->region ? mc->region : "") != 0)) {
		log_msg(LOG_ERR, "IN and OUT are on mounts of different stores (%s region %s, "
			"%s region %s): --backend slurm needs one endpoint and region", exported,
			exported_region, mc->endpoint, mc->region ? mc->region : "");
		return EINVAL;
	}
	if (!exported && (!(exported = strdup(mc->endpoint)) ||
			  !(exported_region = strdup(mc->region ? mc->region : ""))))
		return ENOMEM;
	if (setenv("AWS_ENDPOINT_URL_S3", mc->endpoint, 1) != 0 ||
	    (mc->region && setenv("AWS_REGION", mc->region, 1) != 0))
		return errno;
	warn_addressing(mc);
	return 0;
}

/* The s3:// URL of a path on a lithfs mount of an S3 store into *url.
 * 0, ENOENT (not such a path), EINVAL (told the user) or ENOMEM. */
static int mount_url(const char *spec, bool output, bool other_is_url, char **url)
{
	struct os_source src = { 0 };
	struct loc_mount_cfg mc = { 0 };
	char *real = output ? loc_future_realpath(spec) : realpath(spec, NULL);
	char *source = NULL, *key = NULL, *root = NULL, err[256];
	int e = ENOENT;

	*url = NULL;
	if (real && loc_store_probe_mount(real, &source, &key, &root) == 0 && source &&
	    os_source_parse(source, &src, err, sizeof(err)) == 0 && src.kind == OS_KIND_S3) {
		loc_mount_cfg_read(root, &mc);
		e = export_mount_cfg(&mc, other_is_url);
		if (!e && asprintf(url, "s3://%s/%s%s", src.bucket, src.prefix, key) < 0) {
			*url = NULL;
			e = ENOMEM;
		}
	}
	loc_mount_cfg_release(&mc);
	os_source_release(&src);
	free(real);
	free(root);
	free(source);
	free(key);
	return e;
}

/* The URL workers use for spec (other: the other of IN and OUT) into *url.
 * 0, ENOENT (not in an object store), EINVAL (told the user) or ENOMEM. */
static int store_url(const char *spec, bool output, const char *other, char **url)
{
	size_t n;
	int e = 0;

	if (is_url(spec))
		*url = strdup(spec);
	else
		e = mount_url(spec, output, is_url(other), url);
	if (!e && !*url)
		e = ENOMEM;
	n = *url ? strlen(*url) : 0;
	while (n > 5 && (*url)[n - 1] == '/' && (*url)[n - 2] != '/')
		(*url)[--n] = '\0';
	return e;
}

int slurm_check(const char *in, const char *out, bool merge, bool custom_logs)
{
	char *in_url = NULL, *out_url = NULL;
	int e, st = 0;

	if (merge || custom_logs) {
		fprintf(stderr, "mapdir: --backend slurm does not support %s yet\n",
			merge ? "--merge" : "--log-dir");
		return EXIT_USAGE;
	}
	e = store_url(in, false, out, &in_url);
	if (!e)
		e = store_url(out, true, in, &out_url);
	if (e == ENOENT)
		fprintf(stderr, "mapdir: --backend slurm needs IN and OUT in an object store "
			"(s3:// URLs or paths on a lithfs mount of an S3 bucket): %s is not\n",
			in_url ? out : in);
	if (e)
		st = EXIT_USAGE;
	free(in_url);
	free(out_url);
	return st;
}

/* ---- running Slurm commands ---- */

/* Runs argv, its stdout into out (and stderr too when merge_err). Returns
 * its exit status, or -1 when it could not run or was killed. */
static int run_cmd(char *const *argv, struct buf *out, bool merge_err)
{
	posix_spawn_file_actions_t fa;
	int pfd[2], status = 0;
	pid_t pid;
	char tmp[4096];
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	if (merge_err)
		posix_spawn_file_actions_adddup2(&fa, pfd[1], STDERR_FILENO);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		pid = -1;
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	while (pid > 0 && ((n = read(pfd[0], tmp, sizeof(tmp))) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			buf_append(out, tmp, (size_t)n);
	close(pfd[0]);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* How many elements of job are still queued or running; -1 when unknown. */
static long squeue_count(const char *job)
{
	char *argv[] = { (char *)"squeue", (char *)"-h", (char *)"-r", (char *)"-j",
			 (char *)job, (char *)"-o", (char *)"%i", NULL };
	struct buf b = BUF_INIT;
	int st = run_cmd(argv, &b, true);
	long n = 0;

	if (st == 0) {
		for (size_t i = 0; i < b.len; i++)
			n += b.data[i] == '\n';
	} else {
		n = b.data && strstr(b.data, "Invalid job id") ? 0 : -1;
	}
	buf_release(&b);
	return n;
}

static void scancel(const char *job)
{
	char *argv[] = { (char *)"scancel", (char *)job, NULL };
	struct buf b = BUF_INIT;

	if (run_cmd(argv, &b, false) != 0)
		log_msg(LOG_WARNING, "scancel %s failed", job);
	buf_release(&b);
}

/* ---- the coordinator ---- */

struct coord {
	const struct slurm_opts *so;
	const struct eng_opts *eo;
	const struct eng_io *io;
	char run[96];			/* ".mapdir/slurm/RUNID" below OUT */
	char round[128];		/* run + "/rN" */
	char job[64];			/* the array's job id */
	char *stage_rel, *in_url, *out_url;	/* owned; in_url: for the workers */
	size_t *idx, n_idx;		/* tasks of the round (owned) */
	struct planio_shard *shards;	/* owned */
	size_t n_shards;
	bool *seen;			/* owned: element's record applied */
	struct loc *res;		/* owned: the round's record prefix */
	bool halting, cancelled;
};

static void finish_attempt(struct coord *c, struct task *t, bool ok)
{
	const struct eng_io *io = c->io;
	bool retrying = !ok && !c->halting && !got_signal && t->attempts <= c->eo->retries;

	report_attempt(io->report, t, c->eo->command, retrying);
	if (retrying) {
		t->state = TASK_PENDING;
		return;
	}
	eng_task_settle(io, t, ok);
	report_task_done(io->report, t);
	if (!ok && c->eo->halt && !c->halting) {
		c->halting = true;
		if (c->job[0] && !c->cancelled) {
			scancel(c->job);
			c->cancelled = true;
		}
	}
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

static int apply_record(void *arg, const struct task *r)
{
	struct coord *c = arg;
	struct plan *p = c->io->plan;
	struct task *t;

	if (r->seq == 0 || r->seq > p->n_tasks)
		return 0;
	t = &p->tasks[r->seq - 1];
	if (t->seq != r->seq || t->state != TASK_RUNNING)
		return 0;
	t->attempts++;
	t->exitval = r->exitval;
	t->sig = r->sig;
	t->timed_out = r->timed_out;
	t->start = r->start;
	t->runtime = r->runtime;
	t->bytes_out = r->bytes_out;
	set_str(&t->error, r->error);
	set_str(&t->stderr_tail, r->stderr_tail);
	finish_attempt(c, t, r->state == TASK_OK);
	return 0;
}

/* Reads the result records that appeared since the last call. */
static void poll_results(struct coord *c)
{
	struct loc_inputs recs = { 0 };
	char err[256];

	if (!c->res || loc_list(c->res, &recs, err, sizeof(err)) != 0)
		return;
	for (size_t i = 0; i < recs.n; i++) {
		unsigned long e = strtoul(recs.v[i].rel, NULL, 10);
		struct buf b = BUF_INIT;

		if (e >= c->n_shards || c->seen[e])
			continue;
		if (loc_read_all(c->res, recs.v[i].rel, &b) == 0) {
			c->seen[e] = true;
			planio_parse_results(b.data ? b.data : "", b.len, apply_record, c);
		}
		buf_release(&b);
	}
	loc_inputs_release(&recs);
}

/* Cuts the round's tasks into contiguous shards (see slurm.h). */
static int make_shards(struct coord *c)
{
	const struct plan *p = c->io->plan;
	uint64_t bytes_max = SHARD_BYTES, bytes = 0;
	size_t tasks_max = SHARD_TASKS, first = 0;

	if (c->so->tasks_per_job > 0) {
		tasks_max = (size_t)c->so->tasks_per_job;
		bytes_max = UINT64_MAX;
	} else {
		if (p->total_bytes / MAX_ELEMENTS > bytes_max)
			bytes_max = p->total_bytes / MAX_ELEMENTS + 1;
		if (c->n_idx / MAX_ELEMENTS + 1 > tasks_max)
			tasks_max = c->n_idx / MAX_ELEMENTS + 1;
	}
	free(c->shards);
	c->shards = calloc(c->n_idx + 1, sizeof(*c->shards));
	if (!c->shards)
		return ENOMEM;
	c->n_shards = 0;
	for (size_t i = 0; i < c->n_idx; i++) {
		bytes += p->tasks[c->idx[i]].len;
		if (i + 1 == c->n_idx || i + 1 - first >= tasks_max || bytes >= bytes_max) {
			c->shards[c->n_shards].first = first;
			c->shards[c->n_shards++].count = i + 1 - first;
			first = i + 1;
			bytes = 0;
		}
	}
	return 0;
}

/* Appends s to b quoted for sh. */
static int sh_quote(struct buf *b, const char *s)
{
	int e = buf_append(b, "'", 1);

	for (; !e && *s; s++)
		e = *s == '\'' ? buf_append_str(b, "'\\''") : buf_append(b, s, 1);
	return e ? e : buf_append(b, "' ", 2);
}

static int sbatch(struct coord *c)
{
	char self[PATH_MAX], array[64], **argv, *o[3];
	struct buf wrap = BUF_INIT, out = BUF_INIT;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t a = 0;
	int st, e;

	if (n <= 0)
		return errno ? errno : EIO;
	self[n] = '\0';
	if (c->so->max_running)
		snprintf(array, sizeof(array), "--array=0-%zu%%%d", c->n_shards - 1,
			 c->so->max_running);
	else
		snprintf(array, sizeof(array), "--array=0-%zu", c->n_shards - 1);
	e = buf_append_str(&wrap, "--wrap=exec ");
	if (!e) e = sh_quote(&wrap, self);
	if (!e) e = buf_append_str(&wrap, "--worker ");
	if (!e) e = sh_quote(&wrap, c->out_url);
	if (!e) e = sh_quote(&wrap, c->round);
	argv = calloc(16 + c->so->n_sbatch_args, sizeof(*argv));
	if (e || !argv) {
		buf_release(&wrap);
		free(argv);
		return ENOMEM;
	}
	argv[a++] = (char *)"sbatch";
	argv[a++] = (char *)"--parsable";
	argv[a++] = (char *)"--job-name=mapdir";
	argv[a++] = (char *)"--export=ALL";
	argv[a++] = (char *)"--output=/dev/null";
	argv[a++] = array;
	memset(o, 0, sizeof(o));
	if (c->so->partition && asprintf(&o[0], "--partition=%s", c->so->partition) >= 0)
		argv[a++] = o[0];
	if (c->so->account && asprintf(&o[1], "--account=%s", c->so->account) >= 0)
		argv[a++] = o[1];
	if (c->so->time && asprintf(&o[2], "--time=%s", c->so->time) >= 0)
		argv[a++] = o[2];
	for (size_t i = 0; i < c->so->n_sbatch_args; i++)
		argv[a++] = (char *)c->so->sbatch_args[i];
	argv[a++] = wrap.data;
	argv[a] = NULL;
	st = run_cmd(argv, &out, false);
	e = st == 0 && out.len ? 0 : EIO;
	if (!e) {
		snprintf(c->job, sizeof(c->job), "%.*s", (int)strcspn(out.data, ";\n"), out.data);
		log_msg(LOG_INFO, "submitted job array %s: %zu elements for %zu tasks", c->job,
			c->n_shards, c->n_idx);
	}
	for (int i = 0; i < 3; i++)
		free(o[i]);
	free(argv);
	buf_release(&wrap);
	buf_release(&out);
	return e;
}

static int open_res(struct coord *c)
{
	char *url, err[256] = "";
	int e;

	if (asprintf(&url, "%s/%s/res", c->out_url, c->round) < 0)
		return ENOMEM;
	loc_destroy(c->res);
	c->res = NULL;
	e = loc_open(url, false, &c->res, err, sizeof(err));
	if (e)
		log_msg(LOG_ERR, "%s", err);
	free(url);
	return e;
}

/* Writes the plan of the pending tasks and submits their array. */
static int submit_round(struct coord *c, int round)
{
	struct plan *p = c->io->plan;
	struct planio_settings s = {
		.in_url = c->in_url, .out_url = c->out_url, .path = (char *)c->eo->path,
		.argv = (char **)c->eo->argv, .command = (char *)c->eo->command,
		.stage_rel = c->stage_rel, .shell = c->eo->shell,
		.args_mode = c->eo->args_mode, .halt = c->eo->halt, .timeout = c->eo->timeout,
	};
	struct buf b = BUF_INIT;
	char *rel = NULL;
	int e;

	c->n_idx = 0;
	for (size_t i = 0; i < p->n_tasks; i++)
		if (p->tasks[i].state == TASK_PENDING)
			c->idx[c->n_idx++] = i;
	if (c->n_idx == 0)
		return 0;
	snprintf(c->round, sizeof(c->round), "%s/r%d", c->run, round);
	e = make_shards(c);
	free(c->seen);
	c->seen = e ? NULL : calloc(c->n_shards, sizeof(*c->seen));
	if (!e && !c->seen)
		e = ENOMEM;
	if (!e)
		e = planio_format(&b, &s, p, c->idx, c->n_idx, c->shards, c->n_shards);
	if (!e && asprintf(&rel, "%s/plan", c->round) < 0)
		e = ENOMEM;
	if (!e && (e = planio_put(c->io->out, rel, b.data, b.len)) != 0)
		log_msg(LOG_ERR, "cannot write the plan %s/%s: %s", c->out_url, rel,
			strerror(e));
	if (!e)
		e = open_res(c);
	if (!e && (e = sbatch(c)) != 0)
		log_msg(LOG_ERR, "sbatch failed: no job array submitted");
	for (size_t i = 0; !e && i < c->n_idx; i++)
		p->tasks[c->idx[i]].state = TASK_RUNNING;
	free(rel);
	buf_release(&b);
	return e;
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* Tasks of the round with no record: their element died or was cancelled. */
static void missing_records(struct coord *c)
{
	struct plan *p = c->io->plan;

	for (size_t e = 0; e < c->n_shards; e++) {
		for (size_t i = 0; i < c->shards[e].count; i++) {
			struct task *t = &p->tasks[c->idx[c->shards[e].first + i]];
			char msg[256];

			if (t->state != TASK_RUNNING)
				continue;
			snprintf(msg, sizeof(msg), "Slurm array element %s_%zu left no result "
				 "(cancelled, out of time, or it failed to start: see its "
				 "output with --sbatch-arg=--output=FILE)", c->job, e);
			t->attempts++;
			t->exitval = -1;
			set_str(&t->error, got_signal ? "interrupted" : msg);
			finish_attempt(c, t, false);
		}
	}
}

/* Waits until the array is gone, reading records as they come. */
static void monitor(struct coord *c)
{
	double next = 0, deadline = 0;

	for (;;) {
		double now = report_mono();

		if ((got_signal || c->halting) && !deadline) {
			if (!c->cancelled)
				scancel(c->job);
			c->cancelled = true;
			deadline = now + CANCEL_WAIT_S;
		}
		if (now >= next) {
			long left = squeue_count(c->job);

			poll_results(c);
			if (left == 0)
				break;
			next = now + POLL_S;
		}
		if (deadline && now > deadline) {
			log_msg(LOG_WARNING, "job %s still listed by squeue %.0f s after scancel",
				c->job, CANCEL_WAIT_S);
			break;
		}
		report_tick(c->io->report);
		nap(0.1);
	}
	poll_results(c);
	missing_records(c);
}

static int stage_program(struct coord *c)
{
	struct buf b = BUF_INIT;
	FILE *f = fopen(c->eo->path, "rb");
	char tmp[65536];
	size_t n;
	int e = f ? 0 : errno;

	while (!e && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		e = buf_append(&b, tmp, n);
	if (f)
		fclose(f);
	if (!e && asprintf(&c->stage_rel, "%s/program", c->run) < 0) {
		c->stage_rel = NULL;
		e = ENOMEM;
	}
	if (!e)
		e = planio_put(c->io->out, c->stage_rel, b.data ? b.data : "", b.len);
	if (e)
		log_msg(LOG_ERR, "cannot stage %s: %s", c->eo->path, strerror(e));
	buf_release(&b);
	return e;
}

/* The URLs for workers: a single-object IN is read as its parent prefix. */
static int worker_urls(struct coord *c, const char *in, const char *out)
{
	const struct plan *p = c->io->plan;
	char *full = p->inputs.n == 1 ? loc_full_name(c->io->in, p->inputs.v[0].rel) : NULL;
	char *slash;
	int e = store_url(in, false, out, &c->in_url);

	if (!e)
		e = store_url(out, true, in, &c->out_url);
	if (!e && c->in_url && full && strcmp(full, loc_name(c->io->in)) == 0 &&
	    (slash = strrchr(c->in_url, '/')) != NULL && slash > c->in_url + 5)
		*slash = '\0';
	free(full);
	return e;
}

static const int stop_signals[3] = { SIGINT, SIGTERM, SIGHUP };

/* Our handler for stop_signals; the old ones go to old[0..3). */
static int install_signals(struct sigaction *old)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 3; i++)
		if (sigaction(stop_signals[i], &sa, &old[i]) != 0)
			return errno;
	return 0;
}

static int exit_status(const struct plan *p)
{
	if (got_signal)
		return 128 + got_signal;
	for (size_t i = 0; i < p->n_tasks; i++)
		if (p->tasks[i].state != TASK_OK && p->tasks[i].state != TASK_SKIPPED)
			return 1;
	return 0;
}

int slurm_run(const struct slurm_opts *so, const struct eng_opts *eo,
	      const struct eng_io *io, const char *in, const char *out)
{
	struct coord c = { .so = so, .eo = eo, .io = io };
	struct plan *p = io->plan;
	struct sigaction old[3];
	int e = 0, st;

	for (int i = 0; i < 3; i++)	/* a failed install restores these */
		sigaction(stop_signals[i], NULL, &old[i]);

	snprintf(c.run, sizeof(c.run), "%s/slurm/%ld-%ld", PLAN_STATE_DIR, (long)time(NULL),
		 (long)getpid());
	c.idx = calloc(p->n_tasks + 1, sizeof(*c.idx));
	if (!c.idx || install_signals(old) || worker_urls(&c, in, out) ||
	    (so->stage && stage_program(&c)))
		e = EIO;
	for (size_t i = 0; i < p->n_tasks; i++)
		if (p->tasks[i].state == TASK_SKIPPED)
			report_task_done(io->report, &p->tasks[i]);
	for (int round = 1; !e && !c.halting && !got_signal; round++) {
		e = submit_round(&c, round);
		if (e || c.n_idx == 0)
			break;
		monitor(&c);
		c.job[0] = '\0';
		c.cancelled = false;
	}
	for (size_t i = 0; e && i < p->n_tasks; i++) {
		struct task *t = &p->tasks[i];

		if (t->state != TASK_PENDING && t->state != TASK_RUNNING)
			continue;
		set_str(&t->error, "not submitted to Slurm");
		t->state = TASK_FAILED;
		report_task_done(io->report, t);
	}
	st = exit_status(p);
	for (int i = 0; i < 3; i++)
		sigaction(stop_signals[i], &old[i], NULL);
	loc_destroy(c.res);
	free(c.idx);
	free(c.shards);
	free(c.seen);
	free(c.stage_rel);
	free(c.in_url);
	free(c.out_url);
	return st;
}

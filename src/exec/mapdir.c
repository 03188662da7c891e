/*
 * mapdir.c - the mapdir command: options, validation of what the user gave
 * (every problem is one clear line before any task starts), then plan ->
 * engine -> report. See docs/mapdir.md and man/mapdir.1.
 *
 * Exit status: 0 every task succeeded; 1 some task failed; 2 bad usage or
 * input; 128+N interrupted by signal N.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/engine.h"
#include "exec/loc.h"
#include "exec/manifest.h"
#include "exec/plan.h"
#include "exec/report.h"
#include "exec/slurm.h"
#include "exec/worker.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/nodump.h"
#include "util/size.h"

#define EXIT_USAGE 2

struct cli {
	struct eng_opts eng;
	struct chunk_opts chunk;
	struct slurm_opts slurm;
	bool merge, resume, dry_run, quiet;
	int progress;			/* -1 auto (TTY), 0 off, 1 on */
	const char *command;		/* -c */
	const char *joblog, *stats_json, *log_dir;
	const char *in, *out;
	char **prog_argv;		/* PROGRAM [ARGS...] from the command line */
	char *sh_argv[4];
	char *path;			/* owned: resolved program */
};

static void usage(FILE *f)
{
	fputs("usage: mapdir [OPTIONS] PROGRAM [ARGS...] IN OUT\n"
	      "       mapdir [OPTIONS] -c 'SHELL COMMAND' IN OUT\n"
	      "Runs PROGRAM once per file under IN (or per chunk of big files) with the\n"
	      "input on stdin; its stdout becomes OUT/<relative path>.\n"
	      "IN and OUT: local paths, paths on a lithfs mount, s3://BUCKET/PREFIX, file:///DIR/BUCKET\n"
	      "  -j, --jobs N          tasks at once (default: number of CPUs)\n"
	      "  -c, --command CMD     run CMD with /bin/sh -c instead of PROGRAM\n"
	      "      --chunk-size SIZE split files bigger than SIZE (K, M, G, T suffixes)\n"
	      "      --chunks N        split every file into N chunks\n"
	      "      --bytes           raw byte ranges (default: end chunks at a separator)\n"
	      "      --separator C     record separator (default \\n; \\0 for NUL)\n"
	      "      --merge           concatenate the parts of a file into OUT/<path>\n"
	      "      --args            pass {in} and {out} file names instead of stdin/stdout\n"
	      "      --retries N       run a failed task up to N more times (backoff)\n"
	      "      --timeout SECS    kill a task's process group after SECS\n"
	      "      --halt-on-error   stop at the first failure (kills running tasks)\n"
	      "      --resume          skip tasks completed by an earlier run into OUT\n"
	      "      --joblog FILE     GNU parallel style job log\n"
	      "      --stats-json FILE write the run's statistics as JSON\n"
	      "      --log-dir DIR     keep task stderr in DIR (default OUT/.mapdir/logs)\n"
	      "      --dry-run         print the tasks and exit\n"
	      "      --progress, --no-progress   force the progress line on or off\n"
	      "      --backend slurm   run the tasks as one Slurm job array (docs/slurm.md):\n"
	      "      --partition P, --account A, --time T, --max-running N,\n"
	      "      --tasks-per-job K, --sbatch-arg ARG (repeatable), --stage\n"
	      "  -q, --quiet           no summary unless something failed\n"
	      "  -v, --verbose         say how IN and OUT are accessed\n"
	      "  -h, --help            this text\n", f);
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < min || v > max)
		return EINVAL;
	*out = v;
	return 0;
}

static int parse_sep(const char *s, unsigned char *sep)
{
	if (strcmp(s, "\\n") == 0 || strcmp(s, "\n") == 0)
		*sep = '\n';
	else if (strcmp(s, "\\0") == 0 || strcmp(s, "nul") == 0)
		*sep = '\0';
	else if (strcmp(s, "\\t") == 0)
		*sep = '\t';
	else if (strlen(s) == 1)
		*sep = (unsigned char)s[0];
	else
		return EINVAL;
	return 0;
}

enum {
	OPT_CHUNK_SIZE = 256, OPT_CHUNKS, OPT_BYTES, OPT_SEP, OPT_MERGE, OPT_ARGS,
	OPT_RETRIES, OPT_TIMEOUT, OPT_HALT, OPT_RESUME, OPT_JOBLOG, OPT_STATS, OPT_LOGDIR,
	OPT_DRY, OPT_PROGRESS, OPT_NO_PROGRESS,
};

static const struct option long_opts[] = {
	{ "jobs", required_argument, NULL, 'j' },
	{ "command", required_argument, NULL, 'c' },
	{ "chunk-size", required_argument, NULL, OPT_CHUNK_SIZE },
	{ "chunks", required_argument, NULL, OPT_CHUNKS },
	{ "bytes", no_argument, NULL, OPT_BYTES },
	{ "separator", required_argument, NULL, OPT_SEP },
	{ "merge", no_argument, NULL, OPT_MERGE },
	{ "args", no_argument, NULL, OPT_ARGS },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "halt-on-error", no_argument, NULL, OPT_HALT },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "joblog", required_argument, NULL, OPT_JOBLOG },
	{ "stats-json", required_argument, NULL, OPT_STATS },
	{ "log-dir", required_argument, NULL, OPT_LOGDIR },
	{ "dry-run", no_argument, NULL, OPT_DRY },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	SLURM_LONG_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static int bad(const char *what, const char *value)
{
	fprintf(stderr, "mapdir: invalid %s '%s' (see mapdir --help)\n", what, value);
	return EXIT_USAGE;
}

/* One option; returns 0, or the exit status when the program must stop. */
static int parse_opt(struct cli *c, int opt, const char *arg)
{
	long v;
	char *end;

	switch (opt) {
	case 'j':
		if (parse_int(arg, 1, 100000, &v))
			return bad("number of jobs", arg);
		c->eng.jobs = (int)v;
		return 0;
	case 'c': c->command = arg; return 0;
	case OPT_CHUNK_SIZE:
		return util_parse_size(arg, &c->chunk.chunk_size) != 0 ||
		       c->chunk.chunk_size == 0 ? bad("chunk size", arg) : 0;
	case OPT_CHUNKS:
		if (parse_int(arg, 1, 1000000, &v))
			return bad("number of chunks", arg);
		c->chunk.chunks = (uint64_t)v;
		return 0;
	case OPT_BYTES: c->chunk.bytes = true; return 0;
	case OPT_SEP: return parse_sep(arg, &c->chunk.sep) ? bad("separator", arg) : 0;
	case OPT_MERGE: c->merge = true; return 0;
	case OPT_ARGS: c->eng.args_mode = true; return 0;
	case OPT_RETRIES:
		if (parse_int(arg, 0, 1000, &v))
			return bad("number of retries", arg);
		c->eng.retries = (int)v;
		return 0;
	case OPT_TIMEOUT:
		c->eng.timeout = strtod(arg, &end);
		if (end == arg || *end || !(c->eng.timeout > 0))
			return bad("timeout", arg);
		return 0;
	case OPT_HALT: c->eng.halt = true; return 0;
	case OPT_RESUME: c->resume = true; return 0;
	case OPT_JOBLOG: c->joblog = arg; return 0;
	case OPT_STATS: c->stats_json = arg; return 0;
	case OPT_LOGDIR: c->log_dir = arg; return 0;
	case OPT_DRY: c->dry_run = true; return 0;
	case OPT_PROGRESS: c->progress = 1; return 0;
	case OPT_NO_PROGRESS: c->progress = 0; return 0;
	case 'q': c->quiet = true; return 0;
	case 'v': log_set_level(LOG_INFO); return 0;
	case 'h': usage(stdout); return EXIT_SUCCESS + 256;
	default:
		if ((v = slurm_parse_opt(&c->slurm, opt, arg)) >= 0)
			return (int)v;
		usage(stderr);
		return EXIT_USAGE;
	}
}

static int parse_cli(struct cli *c, int argc, char **argv)
{
	int opt, rest, st;

	c->eng.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (c->eng.jobs < 1)
		c->eng.jobs = 1;
	c->eng.backoff = 1.0;
	c->chunk.sep = '\n';
	c->progress = -1;
	while ((opt = getopt_long(argc, argv, "+j:c:qvh", long_opts, NULL)) != -1)
		if ((st = parse_opt(c, opt, optarg)) != 0)
			return st;
	rest = argc - optind;
	if (rest < (c->command ? 2 : 3) || (c->command && rest != 2)) {
		fprintf(stderr, "mapdir: expected %s (see mapdir --help)\n",
			c->command ? "IN OUT after -c CMD" : "PROGRAM [ARGS...] IN OUT");
		return EXIT_USAGE;
	}
	c->in = argv[argc - 2];
	c->out = argv[argc - 1];
	argv[argc - 2] = NULL;
	c->prog_argv = argv + optind;
	if (c->merge && !chunk_enabled(&c->chunk)) {
		fputs("mapdir: --merge needs --chunk-size or --chunks\n", stderr);
		return EXIT_USAGE;
	}
	if (c->slurm.enabled)
		return slurm_check(c->in, c->out, c->merge, c->log_dir != NULL);
	return 0;
}

/* Finds PROGRAM like execvp would and checks it can be run. */
static int resolve_program(struct cli *c)
{
	const char *name = c->command ? "/bin/sh" : c->prog_argv[0];
	const char *path = getenv("PATH");
	struct stat st;

	if (strchr(name, '/'))
		c->path = strdup(name);
	for (const char *p = path ? path : "/usr/bin:/bin"; !c->path && *p; ) {
		const char *colon = strchrnul(p, ':');
		char *cand;

		if (asprintf(&cand, "%.*s/%s", (int)(colon - p), colon == p ? "." : p, name) < 0)
			return ENOMEM;
		if (access(cand, X_OK) == 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode))
			c->path = cand;
		else
			free(cand);
		p = *colon ? colon + 1 : colon;
	}
	if (!c->path) {
		fprintf(stderr, "mapdir: program '%s' not found in PATH\n", name);
		return ENOENT;
	}
	if (stat(c->path, &st) != 0 || !S_ISREG(st.st_mode) || access(c->path, X_OK) != 0) {
		fprintf(stderr, "mapdir: program '%s' is %s\n", name,
			stat(c->path, &st) != 0 ? "missing" : "not an executable file");
		return EACCES;
	}
	return 0;
}

static void set_command(struct cli *c)
{
	struct buf text = BUF_INIT;

	if (c->command) {
		c->sh_argv[0] = (char *)"sh";
		c->sh_argv[1] = (char *)"-c";
		c->sh_argv[2] = (char *)c->command;
		c->eng.argv = c->sh_argv;
		c->eng.shell = true;
		c->eng.command = c->command;
		return;
	}
	c->eng.argv = c->prog_argv;
	for (char **a = c->prog_argv; *a; a++)
		buf_appendf(&text, "%s%s", a == c->prog_argv ? "" : " ", *a);
	c->eng.command = buf_detach(&text);
}

static uint64_t command_hash(const struct cli *c)
{
	uint64_t h = MANIFEST_HASH_INIT;
	char opts[128];
	int n;

	for (char *const *a = c->eng.argv; *a; a++)
		h = manifest_hash(h, *a, strlen(*a) + 1);
	n = snprintf(opts, sizeof(opts), "%" PRIu64 "/%" PRIu64 "/%d/%d/%d/%d",
		     c->chunk.chunk_size, c->chunk.chunks, c->chunk.bytes, c->chunk.sep,
		     c->merge, c->eng.args_mode);
	return manifest_hash(h, opts, (size_t)n);
}

/* mapdir may start with fd 0, 1 or 2 closed: keep them taken so that no
 * file of ours lands there and gets clobbered by a child's dup2. */
static void keep_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			open("/dev/null", O_RDWR);
}

static void print_plan(const struct plan *p, const struct loc *in, const struct loc *out)
{
	printf("# %zu inputs, %zu tasks, %" PRIu64 " bytes\n# seq\tinput\toffset\tlength\toutput\n",
	       p->inputs.n, p->n_tasks, p->total_bytes);
	for (size_t i = 0; i < p->n_tasks; i++) {
		const struct task *t = &p->tasks[i];
		char *iname = loc_full_name(in, p->inputs.v[t->file].rel);
		char *oname = loc_full_name(out, t->out_rel);

		printf("%zu\t%s\t%" PRIu64 "\t%" PRIu64 "\t%s\n", t->seq, iname ? iname : "?",
		       t->off, t->len, oname ? oname : "?");
		free(iname);
		free(oname);
	}
	if (p->merge)
		printf("# parts of split files are merged into %s/<input path>\n", loc_name(out));
}

/* IN, OUT and the log directory, checked before anything is created. */
static int open_locations(struct cli *c, struct loc **in, struct loc **out, struct loc **logs)
{
	char err[512] = "";

	if (loc_open(c->in, false, in, err, sizeof(err)) ||
	    loc_open(c->out, true, out, err, sizeof(err)) ||
	    (c->log_dir && loc_open(c->log_dir, true, logs, err, sizeof(err)))) {
		fprintf(stderr, "mapdir: %s\n", err);
		return EXIT_USAGE;
	}
	if (loc_overlaps(*in, *out)) {
		fprintf(stderr, "mapdir: output %s and input %s overlap: choose an output "
			"outside the input\n", c->out, c->in);
		return EXIT_USAGE;
	}
	if (*logs && loc_overlaps(*in, *logs)) {
		fprintf(stderr, "mapdir: log directory %s is inside the input %s\n", c->log_dir,
			c->in);
		return EXIT_USAGE;
	}
	return 0;
}

static int prepare_outputs(struct loc *out, struct loc *logs)
{
	char err[512] = "";

	if (loc_prepare_output(out, err, sizeof(err)) ||
	    (logs && loc_prepare_output(logs, err, sizeof(err)))) {
		fprintf(stderr, "mapdir: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

static int run(struct cli *c, struct plan *plan, struct loc *in, struct loc *out,
	       struct loc *logs)
{
	struct report_opts ro = { .quiet = c->quiet, .joblog = c->joblog,
				  .stats_json = c->stats_json };
	struct eng_io io = { .plan = plan, .in = in, .out = out, .logs = logs ? logs : out };
	char err[512] = "", *log_name;
	int st;

	ro.progress = c->progress < 0 ? isatty(STDERR_FILENO) && !c->quiet : c->progress;
	log_name = logs ? strdup(loc_name(logs)) : loc_full_name(out, PLAN_STATE_DIR "/logs");
	ro.log_name = log_name;
	if (manifest_open(out, command_hash(c), c->resume, &io.manifest, err, sizeof(err)) ||
	    report_create(&ro, plan, &io.report, err, sizeof(err))) {
		fprintf(stderr, "mapdir: %s\n", err);
		manifest_close(io.manifest);
		free(log_name);
		return EXIT_USAGE;
	}
	if (c->resume)
		eng_mark_done(plan, io.manifest);
	st = c->slurm.enabled ? slurm_run(&c->slurm, &c->eng, &io, c->in, c->out)
			      : eng_run(&c->eng, &io);
	report_finish(io.report, st > 128 ? strsignal(st - 128) : NULL);
	if (manifest_close(io.manifest) != 0)
		fprintf(stderr, "mapdir: cannot save the manifest in %s\n", loc_name(out));
	report_destroy(io.report);
	free(log_name);
	return st;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	struct loc *in = NULL, *out = NULL, *logs = NULL;
	struct plan plan = { 0 };
	char err[512] = "";
	int st;

	keep_std_fds();
	eng_install_signals();
	log_init("mapdir", LOG_NOTICE);	/* before parse_cli: -v raises the level */
	util_nodump();			/* before any credential is read */
	if (argc > 1 && strcmp(argv[1], WORKER_FLAG) == 0)
		return worker_main(argc, argv);
	st = parse_cli(&c, argc, argv);
	if (st)
		return st == 256 ? EXIT_SUCCESS : st;
	if (resolve_program(&c) != 0) {
		free(c.path);
		return EXIT_USAGE;
	}
	set_command(&c);
	c.eng.path = c.path;
	st = open_locations(&c, &in, &out, &logs);
	if (!st && plan_build(&plan, in, &c.chunk, c.merge,
			      logs ? "" : PLAN_STATE_DIR "/logs/", err, sizeof(err))) {
		fprintf(stderr, "mapdir: %s\n", err);
		st = EXIT_USAGE;
	}
	if (!st && c.dry_run)
		print_plan(&plan, in, out);
	else if (!st)
		st = prepare_outputs(out, logs);
	if (!st && !c.dry_run)
		st = run(&c, &plan, in, out, logs);
	plan_release(&plan);
	loc_destroy(logs);
	loc_destroy(out);
	loc_destroy(in);
	if (!c.command)
		free((char *)c.eng.command);
	free(c.path);
	return st;
}

/*
 * engine.c - the poll()-based process pool (see engine.h).
 *
 * Task life: PENDING -> (launch) RUNNING -> reaped -> OK (output published)
 * | retry (back to the retry queue with a not-before time) | FAILED. A run
 * slot (struct run) holds everything a running attempt owns: child pid,
 * input, the stdin pipe, the output and log files. finish() releases all of
 * it, so a slot is free exactly when pid == 0.
 * Kill escalation: SIGTERM to the process group, SIGKILL KILL_GRACE seconds
 * later if it is still there.
 */
#include "config.h"
#include "exec/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/pubq.h"
#include "util/buf.h"
#include "util/log.h"

#define KILL_GRACE 2.0
#define FEED_BUF (1 << 20)
#define FEED_ROUND (8 << 20)	/* bytes moved per pipe per loop round */
#define PIPE_SIZE (1 << 20)
#define BACKOFF_MAX 30.0
#define PUBLISH_THREADS 4

extern char **environ;

struct run {
	struct task *t;
	pid_t pid;			/* 0: slot free */
	struct loc_rfile *rf;
	struct loc_wfile *out, *log;
	int in_fd;			/* write end of the stdin pipe, or -1 */
	uint64_t fed;			/* bytes of the range written to the pipe */
	char *buf;			/* owned: object input waiting for the pipe */
	size_t buf_len, buf_pos;
	char *staged;			/* owned: --args copy of the input range */
	double deadline, kill_at;	/* monotonic; 0 = none */
	int kill_stage;			/* 0, 1 = TERM sent, 2 = KILL sent */
	bool cancelled;
};

struct eng {
	const struct eng_opts *o;
	const struct eng_io *io;
	struct run *runs;
	int running;
	size_t next;			/* first task never launched */
	struct task **retry;		/* tasks waiting for a retry */
	double *retry_at;
	size_t n_retry;
	bool halting;
	struct pubq *pubq;		/* NULL when outputs are local */
	int publishing;			/* attempts handed to pubq */
	char **env;			/* environ without MAPDIR_*, + 8 free slots */
	size_t n_env;
};

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t got_signal;
/*
 * Only while the loop runs is SIGINT/SIGTERM/SIGHUP caught (tasks to kill,
 * outputs to discard); before and after it, the signal just ends mapdir. The
 * "after" matters: what follows the loop (summary, manifest upload, the exit
 * itself) could stall, and a caught signal nobody looks at any more would
 * leave SIGTERM without effect. Seen in CI: in the ASan build, LeakSanitizer
 * stops the process with PTRACE_ATTACH at exit; a SIGCONT in that window
 * (timeout(1) sends TERM, then CONT) cancels the attach's SIGSTOP, and its
 * tracer then waits forever while mapdir spins. Ignoring the TERM too, mapdir
 * never ended; with the default action it does.
 */
static volatile sig_atomic_t in_loop;

static void on_signal(int sig)
{
	int saved = errno;

	if (sig != SIGCHLD && !in_loop) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	if (sig != SIGCHLD)
		got_signal = sig;
	if (write(sig_pipe[1], "", 1) < 0) {
		/* the pipe is full: a wake-up is pending anyway */
	}
	errno = saved;
}

int eng_install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	static const int sigs[] = { SIGCHLD, SIGINT, SIGTERM, SIGHUP };

	if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return errno;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void fail(struct task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct task *t, const char *fmt, ...)
{
	va_list ap;

	free(t->error);
	va_start(ap, fmt);
	if (vasprintf(&t->error, fmt, ap) < 0)
		t->error = NULL;
	va_end(ap);
}

/* ---- environment and command line ---- */

static int env_init(struct eng *g)
{
	size_t n = 0;

	for (char **e = environ; *e; e++)
		n++;
	g->env = calloc(n + 9, sizeof(char *));
	if (!g->env)
		return ENOMEM;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "MAPDIR_", 7) != 0)
			g->env[g->n_env++] = *e;
	return 0;
}

/* Appends the MAPDIR_* variables of t into g->env (freed by env_clear). */
static int env_task(struct eng *g, const struct task *t, const char *input, const char *output)
{
	char **v = g->env + g->n_env;
	int r = 0;

	r |= asprintf(&v[0], "MAPDIR_INPUT=%s", input) < 0;
	r |= asprintf(&v[1], "MAPDIR_OFFSET=%" PRIu64, t->off) < 0;
	r |= asprintf(&v[2], "MAPDIR_LENGTH=%" PRIu64, t->len) < 0;
	r |= asprintf(&v[3], "MAPDIR_PART=%u", t->part) < 0;
	r |= asprintf(&v[4], "MAPDIR_PARTS=%u", t->parts) < 0;
	r |= asprintf(&v[5], "MAPDIR_TASK_ID=%zu", t->seq) < 0;
	r |= asprintf(&v[6], "MAPDIR_OUTPUT=%s", output) < 0;
	return r ? ENOMEM : 0;
}

static void env_clear(struct eng *g)
{
	for (char **v = g->env + g->n_env; *v; v++) {
		free(*v);
		*v = NULL;
	}
}

/* s with every {in} and {out} replaced; quote: single-quote them for sh. */
static char *substitute(const char *s, const char *in, const char *out, bool quote, bool *used)
{
	struct buf b = BUF_INIT;

	for (const char *p = s; *p; ) {
		const char *val = strncmp(p, "{in}", 4) == 0 ? in :
				  strncmp(p, "{out}", 5) == 0 ? out : NULL;

		if (!val) {
			buf_append(&b, p++, 1);
			continue;
		}
		*used = true;
		p += val == in ? 4 : 5;
		if (!quote) {
			buf_append_str(&b, val);
			continue;
		}
		buf_append(&b, "'", 1);
		for (const char *q = val; *q; q++)
			buf_append_str(&b, *q == '\'' ? "'\\''" : (char[2]){ *q, 0 });
		buf_append(&b, "'", 1);
	}
	return buf_detach(&b);
}

/* The argv of an --args task (caller frees with free_argv). */
static char **args_argv(const struct eng_opts *o, const char *in, const char *out)
{
	size_t n = 0;
	bool used = false;
	char **v;

	while (o->argv[n])
		n++;
	v = calloc(n + 3, sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = substitute(o->argv[i], in, out, o->shell && i == 2, &used);
	if (!used && o->shell) {
		char *tail = substitute(" {in} {out}", in, out, true, &used), *all = NULL;

		if (asprintf(&all, "%s%s", v[2], tail) >= 0) {
			free(v[2]);
			v[2] = all;
		}
		free(tail);
	} else if (!used) {
		v[n] = strdup(in);
		v[n + 1] = strdup(out);
	}
	return v;
}

static void free_argv(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* ---- starting a task ---- */

/* --args with an input that is not a whole local file: a temporary copy. */
static int stage_input(struct run *r)
{
	const char *tmp = getenv("TMPDIR");
	char *buf = malloc(FEED_BUF);
	uint64_t done = 0;
	int fd, e = 0;

	if (!buf || asprintf(&r->staged, "%s/mapdir-in-XXXXXX", tmp ? tmp : "/tmp") < 0) {
		free(buf);
		return ENOMEM;
	}
	fd = mkostemp(r->staged, O_CLOEXEC);
	if (fd < 0)
		e = errno;
	while (!e && done < r->t->len) {
		size_t want = r->t->len - done < FEED_BUF ? (size_t)(r->t->len - done) : FEED_BUF;
		size_t got = 0;

		e = loc_read(r->rf, r->t->off + done, buf, want, &got);
		if (!e && got == 0)
			e = EIO;	/* the input shrank */
		if (!e && write(fd, buf, got) != (ssize_t)got)
			e = errno ? errno : EIO;
		done += got;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return e;
}

/* The child's stdin: the input file itself, or the read end of a pipe. */
static int setup_stdin(struct run *r, int *child_fd, bool *is_pipe)
{
	int p[2];

	*is_pipe = false;
	if (loc_rfile_fd(r->rf) >= 0 && r->t->parts == 1) {
		*child_fd = loc_rfile_fd(r->rf);
		return 0;
	}
	if (pipe2(p, O_CLOEXEC) != 0)
		return errno;
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);	/* best effort: fewer wake-ups */
	r->in_fd = p[1];
	*child_fd = p[0];
	*is_pipe = true;
	return 0;
}

static int spawn(struct eng *g, struct run *r, int stdin_fd, char *const *argv)
{
	int out_fd = g->o->args_mode ? loc_wfile_fd(r->log) : loc_wfile_fd(r->out);
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	int e;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	if (stdin_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, loc_wfile_fd(r->log), 2);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	e = posix_spawn(&r->pid, g->o->path, &fa, &at, argv, g->env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (e)
		r->pid = 0;
	return e;
}

static void release_run(struct run *r)
{
	if (r->in_fd >= 0)
		close(r->in_fd);
	loc_close_input(r->rf);
	loc_discard(r->out);
	loc_discard(r->log);
	if (r->staged)
		unlink(r->staged);
	free(r->staged);
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->in_fd = -1;
}

/* Everything but the exec: input, output and log files, argv. */
static int prepare(struct eng *g, struct run *r, char ***argv, int *stdin_fd, bool *is_pipe)
{
	const struct eng_io *io = g->io;
	struct task *t = r->t;
	const struct loc_input *in = &io->plan->inputs.v[t->file];
	char *in_path = NULL;
	int e;

	if ((e = loc_open_input(io->in, in, &r->rf)) != 0) {
		fail(t, "cannot open the input: %s", strerror(e));
		return e;
	}
	if ((e = loc_create(io->out, t->out_rel, &r->out)) != 0 ||
	    (e = loc_create(io->logs, t->log_rel, &r->log)) != 0) {
		fail(t, "cannot create %s: %s", r->out ? "its log" : "the output", strerror(e));
		return e;
	}
	*stdin_fd = -1;
	*is_pipe = false;
	if (!g->o->args_mode)
		return setup_stdin(r, stdin_fd, is_pipe);
	if (t->parts == 1)
		in_path = loc_input_path(io->in, in);
	if (!in_path && (e = stage_input(r)) != 0) {
		fail(t, "cannot stage the input: %s", strerror(e));
		return e;
	}
	*argv = args_argv(g->o, in_path ? in_path : r->staged, loc_wfile_path(r->out));
	free(in_path);
	return *argv ? 0 : ENOMEM;
}

static int launch(struct eng *g, struct run *r, struct task *t)
{
	const struct loc_input *in = &g->io->plan->inputs.v[t->file];
	char **argv = NULL, *in_name = NULL, *out_name = NULL;
	int stdin_fd, e;
	bool is_pipe;

	r->t = t;
	r->in_fd = -1;
	t->attempts++;
	t->state = TASK_RUNNING;
	t->start = report_now();
	t->timed_out = false;
	t->exitval = t->sig = 0;
	free(t->error);
	t->error = NULL;
	e = prepare(g, r, &argv, &stdin_fd, &is_pipe);
	if (!e) {
		in_name = loc_full_name(g->io->in, in->rel);
		out_name = loc_full_name(g->io->out, t->out_rel);
		e = in_name && out_name ? env_task(g, t, in_name, out_name) : ENOMEM;
	}
	if (!e && (e = spawn(g, r, stdin_fd, argv ? argv : g->o->argv)) != 0)
		fail(t, "cannot run %s: %s", g->o->path, strerror(e));
	env_clear(g);
	if (is_pipe)
		close(stdin_fd);
	free(in_name);
	free(out_name);
	free_argv(argv);
	if (e)
		return e;
	r->deadline = g->o->timeout > 0 ? report_mono() + g->o->timeout : 0;
	t->runtime = report_mono();	/* start; finish() turns it into the runtime */
	g->running++;
	return 0;
}

/* ---- feeding stdin ---- */

static void close_stdin(struct run *r)
{
	if (r->in_fd >= 0)
		close(r->in_fd);
	r->in_fd = -1;
}

/* Moves bytes of an object (or a file sendfile cannot read) via r->buf. */
static ssize_t feed_buffered(struct run *r, uint64_t left)
{
	ssize_t n;

	if (r->buf_pos == r->buf_len) {
		size_t want = left < FEED_BUF ? (size_t)left : FEED_BUF, got = 0;
		int e;

		if (!r->buf && !(r->buf = malloc(FEED_BUF)))
			return -ENOMEM;
		e = loc_read(r->rf, r->t->off + r->fed, r->buf, want, &got);
		if (e)
			return -e;
		if (got == 0)
			return -EIO;	/* the input shrank while we read it */
		r->buf_pos = 0;
		r->buf_len = got;
	}
	n = write(r->in_fd, r->buf + r->buf_pos, r->buf_len - r->buf_pos);
	if (n > 0)
		r->buf_pos += (size_t)n;
	return n < 0 ? -errno : n;
}

static ssize_t feed_once(struct run *r, uint64_t left)
{
	int fd = r->buf ? -1 : loc_rfile_fd(r->rf);
	off_t off = (off_t)(r->t->off + r->fed);
	ssize_t n;

	if (fd < 0)
		return feed_buffered(r, left);
	n = sendfile(r->in_fd, fd, &off, left < (1 << 30) ? (size_t)left : (1 << 30));
	if (n < 0 && (errno == EINVAL || errno == ENOSYS))
		return feed_buffered(r, left);	/* and from now on */
	if (n == 0)
		return -EIO;
	return n < 0 ? -errno : n;
}

/* Writes what the pipe takes now. An input error ends the attempt. */
static void feed(struct run *r)
{
	uint64_t moved = 0;

	while (r->in_fd >= 0 && moved < FEED_ROUND) {
		uint64_t left = r->t->len - r->fed;
		ssize_t n;

		if (left == 0) {
			close_stdin(r);
			break;
		}
		n = feed_once(r, left);
		if (n == -EAGAIN || n == -EINTR)
			break;
		if (n == -EPIPE) {	/* the program stopped reading: its choice */
			close_stdin(r);
			break;
		}
		if (n < 0) {
			fail(r->t, "cannot read the input: %s", strerror((int)-n));
			close_stdin(r);
			if (r->kill_stage == 0) {
				kill(-r->pid, SIGKILL);
				r->kill_stage = 2;
			}
			break;
		}
		r->fed += (uint64_t)n;
		moved += (uint64_t)n;
	}
}

/* ---- ending an attempt ---- */

/* The last lines (at most ~1 KiB) of a log file. */
static char *log_tail(int fd)
{
	struct stat st;
	char buf[1024];
	off_t from;
	ssize_t n;
	size_t start;
	char *s;

	if (fstat(fd, &st) != 0 || st.st_size == 0)
		return NULL;
	from = st.st_size > (off_t)sizeof(buf) ? st.st_size - (off_t)sizeof(buf) : 0;
	n = pread(fd, buf, sizeof(buf), from);
	if (n <= 0)
		return NULL;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	s = memchr(buf, '\n', (size_t)n);
	/* from 0: the whole file; else after the first (maybe cut) line */
	start = from == 0 || !s ? 0 : (size_t)(s + 1 - buf);
	return strndup(buf + start, (size_t)n - start);
}

static void part_done(struct eng *g, struct task *t);
static void cancel_all(struct eng *g);

static void retry_push(struct eng *g, struct task *t)
{
	double delay = g->o->backoff;

	for (int i = 1; i < t->attempts && delay < BACKOFF_MAX; i++)
		delay *= 2;
	if (delay > BACKOFF_MAX)
		delay = BACKOFF_MAX;
	t->state = TASK_PENDING;
	g->retry[g->n_retry] = t;
	g->retry_at[g->n_retry++] = report_mono() + delay;
}

void eng_task_settle(const struct eng_io *io, struct task *t, bool ok)
{
	t->state = ok ? TASK_OK : TASK_FAILED;
	if (ok && io->manifest &&
	    manifest_add(io->manifest, MANIFEST_TASK, &io->plan->inputs.v[t->file], t->off,
			 t->len) != 0)
		log_msg(LOG_WARNING, "cannot append to the manifest: %s", strerror(errno));
}

static void after_attempt(struct eng *g, struct task *t, bool ok, bool cancelled)
{
	const struct eng_io *io = g->io;
	bool retrying = !ok && !cancelled && !g->halting && t->attempts <= g->o->retries;

	report_attempt(io->report, t, g->o->command, retrying);
	if (retrying) {
		retry_push(g, t);
		return;
	}
	eng_task_settle(io, t, ok);
	if (ok)
		part_done(g, t);
	report_task_done(io->report, t);
	if (t->state == TASK_FAILED && !cancelled && g->o->halt && !g->halting) {
		g->halting = true;
		cancel_all(g);
	}
}

static void describe_failure(struct run *r)
{
	struct task *t = r->t;

	if (t->error)
		return;
	if (t->timed_out)
		fail(t, "timed out after %.1f s", t->runtime);
	else if (r->cancelled)
		fail(t, "cancelled");
	else if (t->sig)
		fail(t, "killed by signal %d (%s)", t->sig, strsignal(t->sig));
	else
		fail(t, "exit status %d", t->exitval);
}

/* An attempt's output and log are published (or discarded): its result. */
static void published(struct eng *g, struct pub_job *j)
{
	struct task *t = j->owner;
	bool ok = j->ok;

	t->bytes_out = j->bytes;
	if (ok && j->err) {
		fail(t, "cannot publish %s: %s", t->out_rel, strerror(j->err));
		ok = false;
	}
	if (j->log_err)
		log_msg(LOG_WARNING, "cannot keep the log %s: %s", t->log_rel,
			strerror(j->log_err));
	after_attempt(g, t, ok, j->cancelled);
	free(j);
}

static void finish(struct eng *g, struct run *r, int status)
{
	struct task *t = r->t;
	struct pub_job *j = calloc(1, sizeof(*j));
	struct stat st;

	t->runtime = report_mono() - t->runtime;
	t->exitval = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	t->sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (r->kill_stage)	/* stragglers of a killed group */
		kill(-r->pid, SIGKILL);
	close_stdin(r);
	if (!j)
		fail(t, "out of memory");
	if (j) {
		j->owner = t;
		j->cancelled = r->cancelled;
		j->ok = t->exitval == 0 && !t->timed_out && !r->cancelled && !t->error;
		j->keep_log = fstat(loc_wfile_fd(r->log), &st) == 0 && st.st_size > 0;
		if (!j->ok) {
			describe_failure(r);
			free(t->stderr_tail);
			t->stderr_tail = log_tail(loc_wfile_fd(r->log));
		}
		j->out = r->out;
		j->log = r->log;
		r->out = r->log = NULL;
	}
	release_run(r);
	g->running--;
	if (!j) {
		after_attempt(g, t, false, false);
	} else if (g->pubq) {
		pubq_submit(g->pubq, j);
		g->publishing++;
	} else {
		pubq_run(j);
		published(g, j);
	}
}

static void collect_published(struct eng *g)
{
	struct pub_job *j;

	while (g->pubq && (j = pubq_next_done(g->pubq)) != NULL) {
		g->publishing--;
		published(g, j);
	}
}

static struct run *find_run(struct eng *g, pid_t pid)
{
	for (int i = 0; i < g->o->jobs; i++)
		if (g->runs[i].pid == pid)
			return &g->runs[i];
	return NULL;
}

static void reap(struct eng *g)
{
	char drain[256];
	pid_t pid;
	int status;

	while (read(sig_pipe[0], drain, sizeof(drain)) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct run *r = find_run(g, pid);

		if (r)
			finish(g, r, status);
	}
}

/* ---- merging the parts of a file (--merge) ---- */

static void merge_file(struct eng *g, size_t fi, struct task *blame)
{
	const struct eng_io *io = g->io;
	struct plan_file *f = &io->plan->files[fi];
	const struct loc_input *in = &io->plan->inputs.v[fi];
	char **parts = calloc(f->n, sizeof(*parts));
	int e = parts ? 0 : ENOMEM;

	for (size_t i = 0; !e && i < f->n; i++)
		parts[i] = io->plan->tasks[f->first + i].out_rel;
	if (!e)
		e = loc_merge(io->out, in->rel, parts, f->n);
	if (!e && io->manifest)
		e = manifest_add(io->manifest, MANIFEST_MERGED, in, 0, in->size);
	for (size_t i = 0; !e && i < f->n; i++)
		loc_remove(io->out, parts[i]);
	free(parts);
	if (e) {
		blame->state = TASK_FAILED;
		fail(blame, "cannot merge the parts into %s: %s", in->rel, strerror(e));
		return;
	}
	f->merged = true;
}

static void part_done(struct eng *g, struct task *t)
{
	struct plan_file *f = &g->io->plan->files[t->file];

	if (++f->done == f->n && f->n > 1 && g->io->plan->merge && !f->merged)
		merge_file(g, t->file, t);
}

void eng_mark_done(struct plan *p, struct manifest *m)
{
	for (size_t fi = 0; fi < p->inputs.n; fi++) {
		struct plan_file *f = &p->files[fi];
		const struct loc_input *in = &p->inputs.v[fi];

		f->merged = p->merge && f->n > 1 &&
			    manifest_has(m, MANIFEST_MERGED, in, 0, in->size);
		for (size_t i = f->first; i < f->first + f->n; i++) {
			struct task *t = &p->tasks[i];

			if (!f->merged && !manifest_has(m, MANIFEST_TASK, in, t->off, t->len))
				continue;
			t->state = TASK_SKIPPED;
			f->done++;
		}
	}
}

/* ---- the loop ---- */

static void kill_run(struct run *r, int sig, double now)
{
	kill(-r->pid, sig);
	r->kill_stage = sig == SIGKILL ? 2 : 1;
	r->kill_at = now + KILL_GRACE;
}

static void cancel_all(struct eng *g)
{
	double now = report_mono();

	for (int i = 0; i < g->o->jobs; i++) {
		struct run *r = &g->runs[i];

		if (r->pid && !r->cancelled) {
			r->cancelled = true;
			if (r->kill_stage == 0)
				kill_run(r, SIGTERM, now);
		}
	}
	for (size_t i = 0; i < g->n_retry; i++) {	/* they will not run again */
		g->retry[i]->state = TASK_FAILED;
		report_task_done(g->io->report, g->retry[i]);
	}
	g->n_retry = 0;
}

/* Timeouts and kill escalation; returns the next time to look again. */
static double check_timers(struct eng *g, double now)
{
	double next = now + 3600;

	for (int i = 0; i < g->o->jobs; i++) {
		struct run *r = &g->runs[i];

		if (!r->pid)
			continue;
		if (r->kill_stage == 0 && r->deadline && now >= r->deadline) {
			r->t->timed_out = true;
			kill_run(r, SIGTERM, now);
		} else if (r->kill_stage == 1 && now >= r->kill_at) {
			kill_run(r, SIGKILL, now);
		}
		if (r->kill_stage == 0 && r->deadline && r->deadline < next)
			next = r->deadline;
		if (r->kill_stage == 1 && r->kill_at < next)
			next = r->kill_at;
	}
	for (size_t i = 0; i < g->n_retry; i++)
		if (g->retry_at[i] < next)
			next = g->retry_at[i];
	return next;
}

static struct task *next_task(struct eng *g, double now)
{
	struct plan *p = g->io->plan;

	for (size_t i = 0; i < g->n_retry; i++) {
		struct task *t = g->retry[i];

		if (g->retry_at[i] > now)
			continue;
		g->n_retry--;
		memmove(&g->retry[i], &g->retry[i + 1], (g->n_retry - i) * sizeof(*g->retry));
		memmove(&g->retry_at[i], &g->retry_at[i + 1],
			(g->n_retry - i) * sizeof(*g->retry_at));
		return t;
	}
	while (g->next < p->n_tasks) {
		struct task *t = &p->tasks[g->next++];

		if (t->state == TASK_PENDING)
			return t;
	}
	return NULL;
}

static void launch_ready(struct eng *g)
{
	double now = report_mono();

	for (int i = 0; i < g->o->jobs && !g->halting; i++) {
		struct run *r = &g->runs[i];
		struct task *t;
		int e;

		if (r->pid)
			continue;
		t = next_task(g, now);
		if (!t)
			break;
		e = launch(g, r, t);
		if (e) {			/* failed before the program ran */
			if (!t->error)
				fail(t, "cannot start: %s", strerror(e));
			t->exitval = -1;
			t->runtime = 0;
			release_run(r);
			after_attempt(g, t, false, false);
			i--;			/* the slot is still free */
		}
	}
}

/* One round: wait for a child, a writable pipe, a timer or a signal. */
static void wait_events(struct eng *g, struct pollfd *pfd, struct run **who)
{
	double now = report_mono(), next = check_timers(g, now);
	int n = 1, timeout;

	pfd[0].fd = sig_pipe[0];
	pfd[0].events = POLLIN;
	if (g->pubq) {
		who[n] = NULL;
		pfd[n].fd = pubq_fd(g->pubq);
		pfd[n++].events = POLLIN;
	}
	for (int i = 0; i < g->o->jobs; i++) {
		if (!g->runs[i].pid || g->runs[i].in_fd < 0)
			continue;
		who[n] = &g->runs[i];
		pfd[n].fd = g->runs[i].in_fd;
		pfd[n++].events = POLLOUT;
	}
	if (next > now + 0.2)
		next = now + 0.2;	/* progress redraw */
	timeout = (int)((next - now) * 1000) + 1;
	if (poll(pfd, (nfds_t)n, timeout) < 0)
		return;
	for (int i = 1; i < n; i++)
		if (pfd[i].revents && who[i])
			feed(who[i]);
	reap(g);
	collect_published(g);
}

static int loop(struct eng *g)
{
	struct plan *p = g->io->plan;
	struct pollfd *pfd = calloc((size_t)g->o->jobs + 2, sizeof(*pfd));
	struct run **who = calloc((size_t)g->o->jobs + 2, sizeof(*who));
	int sig = 0;

	if (!pfd || !who) {
		free(pfd);
		free(who);
		return ENOMEM;
	}
	in_loop = 1;
	for (;;) {
		if (got_signal && !sig) {
			sig = got_signal;
			g->halting = true;
			cancel_all(g);
		}
		if (!g->halting)
			launch_ready(g);
		if (g->running == 0 && g->publishing == 0 &&
		    (g->halting || (g->next == p->n_tasks && !g->n_retry)))
			break;
		wait_events(g, pfd, who);
		report_tick(g->io->report);
	}
	in_loop = 0;
	if (!sig)
		sig = got_signal;	/* came after the last look: still interrupted */
	free(pfd);
	free(who);
	return sig;
}

int eng_run(const struct eng_opts *o, const struct eng_io *io)
{
	struct eng g = { .o = o, .io = io };
	struct plan *p = io->plan;
	int sig, e;

	g.runs = calloc((size_t)o->jobs, sizeof(*g.runs));
	g.retry = calloc(p->n_tasks + 1, sizeof(*g.retry));
	g.retry_at = calloc(p->n_tasks + 1, sizeof(*g.retry_at));
	e = !g.runs || !g.retry || !g.retry_at ? ENOMEM : env_init(&g);
	if (!e)
		e = eng_install_signals();
	if (!e && (!loc_local_path(io->out) || !loc_local_path(io->logs)))
		e = pubq_create(PUBLISH_THREADS, &g.pubq);
	for (int i = 0; i < o->jobs && g.runs; i++)
		g.runs[i].in_fd = -1;
	for (size_t fi = 0; !e && fi < p->inputs.n; fi++) {
		struct plan_file *f = &p->files[fi];

		if (p->merge && f->n > 1 && f->done == f->n && !f->merged)
			merge_file(&g, fi, &p->tasks[f->first + f->n - 1]);
	}
	for (size_t i = 0; !e && i < p->n_tasks; i++)
		if (p->tasks[i].state == TASK_SKIPPED || p->tasks[i].state == TASK_FAILED)
			report_task_done(io->report, &p->tasks[i]);
	sig = e ? 0 : loop(&g);
	pubq_destroy(g.pubq);
	free(g.runs);
	free(g.retry);
	free(g.retry_at);
	free(g.env);
	if (e) {
		log_msg(LOG_ERR, "cannot start: %s", strerror(e));
		return 1;
	}
	if (sig)
		return 128 + sig;
	for (size_t i = 0; i < p->n_tasks; i++)
		if (p->tasks[i].state != TASK_OK && p->tasks[i].state != TASK_SKIPPED)
			return 1;
	return 0;
}

/*
 * main.c - mount.lithfs: check everything, mount, then daemonize.
 *
 * Every problem the user can fix (an option, the source, the mountpoint,
 * the bucket, the credentials, the endpoint) is found BEFORE the mount and
 * reported as one line on stderr with exit status 1. In the background mode
 * the process forks first, before any thread, connection or LMDB handle
 * exists: the child does all the work (checks, mount, fs_start with the
 * block cache and the reader's threads) and tells the waiting parent
 * through a pipe that the mount is ready; the parent then exits 0. If the
 * child fails, its message is already on the shared stderr and the parent
 * exits with the child's status. Only then does the child detach (setsid,
 * stdio to /dev/null, logging to syslog).
 * Unmounting (umount, fusermount3 -u) or SIGTERM/SIGINT end the FUSE loop;
 * fs_destroy() then uploads whatever is still pending and the process exits
 * 0, or 1 if an upload failed.
 */
#include "config.h"

#define FUSE_USE_VERSION 35
#include <fuse.h>
#include <fuse_log.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/options.h"
#include "objstore/objstore.h"
#include "objstore/source.h"
#include "util/log.h"
#include "util/nodump.h"

#define PROG "mount.lithfs"

struct mount_ctx {
	struct fs_options opts;
	struct os_source src;
	char mountpoint[PATH_MAX];
	struct objstore *store;
	struct fs *fs;
	struct fuse *fuse;
	int ready_fd;		/* background: write end of the parent's pipe */
	dev_t under_dev;	/* st_dev of the mountpoint before the mount */
};

/* The one line a user sees for a problem they can fix. */
static void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_line(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": %s\n", line);
}

/* libfuse's messages go through our log (syslog once detached); its levels
 * are syslog's. */
static void fuse_log_to_ours(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if ((int)level > log_get_level())
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0)
		log_msg((int)level, "%s", line);
}

/* Background mode: the parent waits for "ready" (one byte) or the child's
 * exit. Returns in the child only (with *ready_fd set). */
static void fork_and_wait(int *ready_fd)
{
	int pfd[2], status;
	char c;
	pid_t pid;

	if (pipe(pfd) != 0 || (pid = fork()) < 0) {
		fail_line("cannot fork: %s", strerror(errno));
		exit(1);
	}
	if (pid == 0) {
		close(pfd[0]);
		*ready_fd = pfd[1];
		setsid();
		return;
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) == 1)
		_exit(0);
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
		_exit(WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
	_exit(1);
}

/* The child is mounted and running: release the parent, detach. */
static void detach(int ready_fd)
{
	int null = open("/dev/null", O_RDWR);

	log_use_syslog();
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(ready_fd, "1", 1) != 1) {
		/* the parent is gone; nothing to tell */
	}
	close(ready_fd);
	if (chdir("/") != 0) {
		/* harmless: the mountpoint path is absolute */
	}
}

static int check_mountpoint(struct mount_ctx *m)
{
	struct stat st;

	if (stat(m->opts.mountpoint, &st) != 0) {
		fail_line("mountpoint %s: %s", m->opts.mountpoint, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fail_line("mountpoint %s is not a directory", m->opts.mountpoint);
		return 1;
	}
	m->under_dev = st.st_dev;
	if (realpath(m->opts.mountpoint, m->mountpoint) == NULL) {
		fail_line("mountpoint %s: %s", m->opts.mountpoint, strerror(errno));
		return 1;
	}
	return 0;
}

/* os_check() on a store that gives up quickly, so an unreachable endpoint
 * is a prompt error rather than a minute of retries. The store's own log
 * lines are held back (below loglevel=info) so the user reads one line. */
static int check_store(struct mount_ctx *m)
{
	struct os_config cfg = m->opts.store;
	struct objstore *s;
	char err[512];
	int rc, level = log_get_level();

	cfg.retries = 1;
	cfg.retry_budget_ms = 3000;
	cfg.connect_timeout_ms = 3000;
	if (os_open(&m->src, &cfg, &s, err, sizeof(err)) != 0) {
		fail_line("%s", err);
		return 1;
	}
	if (level < LOG_INFO)
		log_set_level(LOG_CRIT);
	rc = os_check(s);
	log_set_level(level);
	if (rc == ENOENT)
		fail_line("bucket %s not found (%s)", m->src.bucket, os_id(s));
	else if (rc == EACCES)
		fail_line("access denied to bucket %s: check the credentials "
			  "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile=, passwd_file=) "
			  "and the bucket policy (%s)", m->src.bucket, os_id(s));
	else if (rc != 0 && (os_error_is_transient(rc) || rc == EIO))
		fail_line("cannot reach %s: connection refused, timed out or server "
			  "error; check endpoint= and the network (-o loglevel=info "
			  "shows more)", os_id(s));
	else if (rc != 0)
		fail_line("cannot use %s: %s", os_id(s), strerror(rc));
	os_destroy(s);
	return rc != 0;
}

static int open_store(struct mount_ctx *m)
{
	char err[512];

	if (os_source_parse(m->opts.source, &m->src, err, sizeof(err)) != 0) {
		fail_line("bad source '%s': %s", m->opts.source, err);
		return 1;
	}
	if (check_mountpoint(m) != 0 || check_store(m) != 0)
		return 1;
	if (os_open(&m->src, &m->opts.store, &m->store, err, sizeof(err)) != 0) {
		fail_line("%s", err);
		return 1;
	}
	return 0;
}

/* fsname (what df and /proc/mounts show) and subtype, unless given. */
static int add_fuse_names(struct mount_ctx *m)
{
	struct fuse_args *a = &m->opts.fuse_args;
	char *canon = os_source_format(&m->src);
	char opt[PATH_MAX + 32];
	size_t j = 0;
	int rc;

	if (canon == NULL)
		return 1;
	j = (size_t)snprintf(opt, sizeof(opt), "-ofsname=");
	for (const char *p = canon; *p != '\0' && j + 3 < sizeof(opt); p++) {
		if (*p == ',' || *p == '\\')
			opt[j++] = '\\';
		opt[j++] = *p;
	}
	opt[j] = '\0';
	free(canon);
	rc = fuse_opt_add_arg(a, opt);
	if (rc == 0)
		rc = fuse_opt_add_arg(a, "-osubtype=lithfs");
	return rc != 0;
}

static int mount_fuse(struct mount_ctx *m)
{
	if (add_fuse_names(m) != 0)
		return 1;
	m->fuse = fuse_new(&m->opts.fuse_args, fs_operations(), sizeof(struct fuse_operations),
			   m->fs);
	if (m->fuse == NULL)
		return 1;	/* libfuse said why, through fuse_log_to_ours() */
	if (fuse_mount(m->fuse, m->mountpoint) != 0) {
		fail_line("cannot mount on %s (is /dev/fuse usable, fusermount3 "
			  "installed?)", m->mountpoint);
		fuse_destroy(m->fuse);
		m->fuse = NULL;
		return 1;
	}
	return 0;
}

#define FUSE_SUPER_MAGIC 0x65735546
#define READAHEAD_MIN_KB 1024
#define READAHEAD_MAX_KB 4096

/* The kernel reads ahead 128 KiB on a FUSE mount (its INIT reply can only
 * lower that), so a sequential read arrives as 8 requests per MiB. Raise the
 * mount's bdi read_ahead_kb to the block size (at least 1 MiB, at most
 * 4 MiB). A thread: the stat() of the mountpoint is answered by the loop,
 * and only once INIT is done, after which INIT cannot lower it again. Only
 * root may write the file; otherwise (or on any failure) 128 KiB stays. */
static void *tune_readahead(void *arg)
{
	struct mount_ctx *m = arg;
	uint32_t kb = m->opts.rd.block_size / 1024;
	char path[64], val[16];
	struct statfs sf;
	struct stat st;
	int fd, n;

	if (kb < READAHEAD_MIN_KB)
		kb = READAHEAD_MIN_KB;
	if (kb > READAHEAD_MAX_KB)
		kb = READAHEAD_MAX_KB;
	if (stat(m->mountpoint, &st) != 0 || st.st_dev == m->under_dev ||
	    statfs(m->mountpoint, &sf) != 0 || sf.f_type != FUSE_SUPER_MAGIC)
		return NULL;		/* not (or no longer) our mount */
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	n = snprintf(val, sizeof(val), "%u", kb);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, (size_t)n) != n)
		log_msg(LOG_DEBUG, "read-ahead stays 128 KiB: %s: %s", path, strerror(errno));
	else
		log_msg(LOG_DEBUG, "read-ahead %u KiB (%s)", kb, path);
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void start_tune_readahead(struct mount_ctx *m)
{
	pthread_attr_t attr;
	pthread_t t;

	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, tune_readahead, m) != 0)
		log_msg(LOG_DEBUG, "read-ahead stays 128 KiB: no thread");
	pthread_attr_destroy(&attr);
}

static int serve(struct mount_ctx *m)
{
	struct fuse_loop_config lc = { .clone_fd = 0, .max_idle_threads = 16 };
	struct fuse_session *se = fuse_get_session(m->fuse);
	char err[512];
	int rc;

	if (fuse_set_signal_handlers(se) != 0) {
		fail_line("cannot install signal handlers");
		return 1;
	}
	if (fs_start(m->fs, err, sizeof(err)) != 0) {
		fail_line("%s", err);
		fuse_remove_signal_handlers(se);
		return 1;
	}
	log_msg(LOG_INFO, "mounted %s on %s", m->opts.source, m->mountpoint);
	if (m->ready_fd >= 0)
		detach(m->ready_fd);
	start_tune_readahead(m);
	rc = fuse_loop_mt(m->fuse, &lc);
	fuse_remove_signal_handlers(se);
	if (rc > 0) {		/* libfuse returns the signal that ended the loop */
		log_msg(LOG_NOTICE, "signal %d: unmounting %s", rc, m->mountpoint);
		rc = 0;
	} else if (rc < 0) {
		log_msg(LOG_ERR, "FUSE loop ended with an error: %s", strerror(-rc));
	}
	return rc != 0;
}

static int run(struct mount_ctx *m)
{
	int rc;

	if (open_store(m) != 0)
		return 1;
	if (fs_create(&m->opts, m->store, m->src.prefix, &m->fs) != 0) {
		fail_line("out of memory");
		return 1;
	}
	if (mount_fuse(m) != 0)
		return 1;
	rc = serve(m);
	fuse_unmount(m->fuse);
	if (fs_destroy(m->fs) != 0) {
		log_msg(LOG_ERR, "some files could not be uploaded before unmounting");
		rc = 1;
	}
	m->fs = NULL;
	fuse_destroy(m->fuse);
	m->fuse = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	struct mount_ctx m;
	char err[512];
	int rc;

	memset(&m, 0, sizeof(m));
	m.ready_fd = -1;
	log_init(PROG, LOG_NOTICE);
	util_nodump();			/* before any credential is read */
	if (fs_options_parse(argc, argv, &m.opts, err, sizeof(err)) != 0) {
		fail_line("%s", err);
		fs_options_release(&m.opts);
		return 1;
	}
	if (m.opts.show_help || m.opts.show_version) {
		if (m.opts.show_help)
			fs_options_usage(PROG);
		else
			printf(PROG " (lithfs) %s, libfuse %s\n", PACKAGE_VERSION,
			       fuse_pkgversion());
		fs_options_release(&m.opts);
		return 0;
	}
	log_set_level(m.opts.loglevel);
	fuse_set_log_func(fuse_log_to_ours);
	if (!m.opts.foreground)
		fork_and_wait(&m.ready_fd);
	rc = run(&m);
	fs_destroy(m.fs);
	if (m.fuse != NULL)
		fuse_destroy(m.fuse);
	os_destroy(m.store);
	os_source_release(&m.src);
	fs_options_release(&m.opts);
	return rc;
}

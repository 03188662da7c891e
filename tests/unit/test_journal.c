/*
 * test_journal.c - the multipart-upload journal (journal.c): the record
 * format, owner liveness (a gone PID, a reused PID, another boot, another
 * host, another PID or time namespace, a /proc of another PID namespace), and the wrapper over a local store in a temporary directory: a
 * record per upload while it runs, none after complete/abort, and recovery
 * that aborts exactly the uploads of gone owners of this store.
 */
#include "config.h"
#include "objstore/journal.h"
#include "objstore/objstore_impl.h"
#include "objstore/source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "check.h"

static char tmpdir[4096];

static void test_format(void)
{
	struct os_journal_rec r = { 0 }, p;
	struct buf b = BUF_INIT;
	const char *key = "dir/a b\n%41\x01\xc3\xbc\x7f";

	CHECK_INT(os_journal_self(&r), 0);
	CHECK(r.pid == getpid() && r.start > 0 && r.host && r.boot_id);
	r.store = strdup("s3:http://127.0.0.1:7480/bucket");
	r.key = strdup(key);
	r.upload_id = strdup("2~x y");
	CHECK_INT(os_journal_rec_format(&r, &b), 0);
	CHECK(b.len > 0 && !memchr(b.data, '\x01', b.len) && !strstr(b.data, "a b"));
	CHECK_INT(os_journal_rec_parse(b.data, &p), 0);
	CHECK_STR(p.key, key);
	CHECK_STR(p.upload_id, "2~x y");
	CHECK_STR(p.store, r.store);
	CHECK_STR(p.host, r.host);
	CHECK_STR(p.boot_id, r.boot_id);
	CHECK(p.pid == r.pid && p.start == r.start && p.pidns == r.pidns && p.pidns);
	CHECK(p.timens == r.timens);
	CHECK(!r.machine_id || !strcmp(p.machine_id, r.machine_id));
	os_journal_rec_release(&p);

	b.data[b.len - 1] = '\0';	/* torn: last line without its newline */
	CHECK_INT(os_journal_rec_parse(b.data, &p), EINVAL);
	CHECK(p.key == NULL);
	CHECK_INT(os_journal_rec_parse("lithfs-upload 1\npid 1\nstart 2\n", &p), EINVAL);
	CHECK_INT(os_journal_rec_parse("lithfs-upload 2\n", &p), EINVAL);
	CHECK_INT(os_journal_rec_parse("lithfs-upload 1\npid 1\nstart 2\nhost h\nboot b\n"
				       "store s\nkey k\nkey k\nupload u\n", &p), EINVAL);
	CHECK_INT(os_journal_rec_parse("lithfs-upload 1\npid 1\nstart 2\nhost h\nboot b\n"
				       "store s\nkey a%00b\nupload u\n", &p), EINVAL);
	CHECK_INT(os_journal_rec_parse("lithfs-upload 1\npid 1\nstart 2\nhost h\nboot b\n"
				       "store s\nkey a%4\nupload u\n", &p), EINVAL);
	CHECK_INT(os_journal_rec_parse("lithfs-upload 1\npid 1\nstart 2\nhost h\nboot b\n"
				       "store s\nkey a%41\nupload u\n", &p), 0);
	CHECK_STR(p.key, "aA");
	os_journal_rec_release(&p);
	os_journal_rec_release(&r);
	buf_release(&b);
}

/* A PID that was a process and is gone (reaped). */
static pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0) {		/* exec: no leak report of the forked copy */
		execl("/bin/true", "true", (char *)NULL);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	return pid;
}

static void test_owner(void)
{
	struct os_journal_rec r = { 0 };
	char *keep;

	CHECK_INT(os_journal_self(&r), 0);
	CHECK(!os_journal_owner_gone(&r));
	r.start++;			/* our PID, another start: a reused PID */
	CHECK(os_journal_owner_gone(&r));
	r.start--;
	keep = r.boot_id;
	r.boot_id = (char *)"00000000-another-boot";
	CHECK(os_journal_owner_gone(&r));
	r.boot_id = (char *)"unknown";	/* unreadable there: judged by the PID */
	CHECK(!os_journal_owner_gone(&r));
	r.boot_id = keep;
	r.pid = dead_pid();
	CHECK(os_journal_owner_gone(&r));
	keep = r.host;
	r.host = (char *)"some-other-host.invalid";	/* not ours to judge */
	CHECK(!os_journal_owner_gone(&r));
	r.host = keep;
	keep = r.machine_id;	/* another machine of the same host name */
	r.machine_id = (char *)"0123456789abcdef0123456789abcdef";
	CHECK(!keep || !os_journal_owner_gone(&r));
	r.machine_id = keep;
	r.pidns++;		/* a dead PID of another PID namespace: unknown */
	CHECK(!os_journal_owner_gone(&r));
	r.pidns--;
	if (r.timens) {		/* another time namespace: start times shifted */
		r.timens++;
		CHECK(!os_journal_owner_gone(&r));
	}
	r.timens = 0;		/* a record without namespaces: judged by the PID */
	r.pidns = 0;
	CHECK(os_journal_owner_gone(&r));
	os_journal_rec_release(&r);
}

/* In a new PID namespace whose /proc is still the parent's, PID 1 in /proc
 * is the parent namespace's init: a record would name the wrong process, so
 * the child must neither record nor judge. Needs CLONE_NEWPID (root or a
 * user namespace); skipped silently without it. */
static int foreign_proc_child(void)
{
	struct os_journal_rec r = { 0 };
	int status = 0;
	pid_t pid;

	if (unshare(CLONE_NEWPID) != 0)
		return 0;
	pid = fork();	/* PID 1 of the new namespace */
	if (pid == 0) {
		bool bad = os_journal_self(&r) != EIO;

		r.pid = 42;	/* some PID: not judged either */
		r.host = strdup("h");
		r.boot_id = strdup("b");
		_exit(bad || os_journal_owner_gone(&r) ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 2;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

static void test_foreign_proc(void)
{
	int status = 0;
	pid_t pid = fork();	/* unshare there: our own later forks stay here */

	if (pid == 0)
		_exit(foreign_proc_child());
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Number of record files ("u-*") in dir. */
static int count_records(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += !strncmp(de->d_name, "u-", 2) || !strncmp(de->d_name, ".tmp", 4);
	closedir(d);
	return n;
}

static bool upload_listed(struct objstore *s, const char *upload_id)
{
	struct os_upload_list l = { 0 };
	bool found = false;
	size_t i;

	if (os_mpu_list(s, NULL, &l) != 0)
		return false;
	for (i = 0; i < l.n; i++)
		found |= !strcmp(l.uploads[i].upload_id, upload_id);
	os_upload_list_release(&l);
	return found;
}

static struct objstore *local_store(void)
{
	struct objstore *s = NULL;
	char err[256];

	CHECK_INT(local_store_create(tmpdir, "bucket", &s, err, sizeof(err)), 0);
	return s;
}

/* os_journal_scan callback: the record is ours, of key "a/b c", mode 0600. */
static int check_record(void *arg, const char *path, const struct os_journal_rec *r)
{
	struct stat st;

	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_STR(r->key, "a/b c");
	CHECK_STR(r->upload_id, (const char *)arg);
	CHECK(r->pid == getpid());
	return 0;
}

/* Journals one upload per op and removes it when it ends. */
static int count_one(void *arg, const char *path, const struct os_journal_rec *r)
{
	(void)path;
	(void)r;
	++*(int *)arg;
	return 0;
}

/* How many records os_journal_scan_store(dir, store) hands over. */
static int count_scanned(const char *dir, const char *store)
{
	int n = 0;

	CHECK_INT(os_journal_scan_store(dir, store, count_one, &n), 0);
	return n;
}

static void test_wrapper(const char *jdir)
{
	struct objstore *s = NULL;
	struct os_part part = { 1, "" };
	struct stat st;
	char *id = NULL, *id2 = NULL;
	static char data[100] = "x";

	CHECK_INT(journal_store_create(local_store(), NULL, jdir, &s), 0);
	if (!CHECK(s && !strcmp(s->ops->name, "journal")))
		return;
	CHECK(stat(jdir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK_INT(os_mpu_create(s, "a/b c", NULL, &id), 0);
	CHECK_INT(count_records(jdir), 1);
	CHECK_INT(os_journal_scan(jdir, check_record, id), 0);
	CHECK_INT(count_scanned(jdir, os_id(s)), 1);
	CHECK_INT(count_scanned(jdir, "file:///another/store"), 0);
	CHECK_INT(os_mpu_create(s, "a/d", NULL, &id2), 0);
	CHECK_INT(count_records(jdir), 2);
	CHECK_INT(os_mpu_put_part(s, "a/b c", id, 1, data, sizeof(data), part.etag), 0);
	CHECK_INT(os_mpu_complete(s, "a/b c", id, &part, 1, NULL), 0);
	CHECK_INT(count_records(jdir), 1);
	CHECK_INT(os_mpu_abort(s, "a/d", id2), 0);
	CHECK_INT(count_records(jdir), 0);
	CHECK(!upload_listed(s, id2));
	free(id);
	free(id2);
	os_destroy(s);
}

static void put_text(const char *dir, const char *name, const char *text, size_t len)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (CHECK(f != NULL)) {
		fwrite(text, 1, len, f);
		fclose(f);
	}
}

/* Writes a record of (key, upload_id) in dir/name owned by r's owner. */
static void put_record(const char *dir, const char *name, struct os_journal_rec *r,
		       const char *store, const char *key, const char *upload_id)
{
	struct buf b = BUF_INIT;

	r->store = (char *)store;
	r->key = (char *)key;
	r->upload_id = (char *)upload_id;
	CHECK_INT(os_journal_rec_format(r, &b), 0);
	r->store = r->key = r->upload_id = NULL;
	put_text(dir, name, b.data, b.len);
	buf_release(&b);
}

static bool exists(const char *dir, const char *name)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Recovery aborts the uploads of gone owners of this store only. */
static void test_recovery(const char *jdir)
{
	struct os_journal_rec live = { 0 }, dead = { 0 }, reused = { 0 };
	struct objstore *s = local_store(), *j = NULL;
	char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	if (!s)
		return;
	CHECK_INT(os_journal_self(&live), 0);
	CHECK_INT(os_journal_self(&dead), 0);
	CHECK_INT(os_journal_self(&reused), 0);
	dead.pid = dead_pid();
	reused.start++;
	CHECK_INT(os_mpu_create(s, "dead", NULL, &a), 0);
	CHECK_INT(os_mpu_create(s, "reused", NULL, &b), 0);
	CHECK_INT(os_mpu_create(s, "live", NULL, &c), 0);
	CHECK_INT(os_mpu_create(s, "other-store", NULL, &d), 0);
	put_record(jdir, "u-dead", &dead, os_id(s), "dead", a);
	put_record(jdir, "u-reused", &reused, os_id(s), "reused", b);
	put_record(jdir, "u-live", &live, os_id(s), "live", c);
	put_record(jdir, "u-other", &dead, "file:///elsewhere/bucket", "other-store", d);
	put_record(jdir, "u-gone", &dead, os_id(s), "gone", "no-such-upload");
	put_text(jdir, "u-torn", "lithfs-upload 1\npid 1", 21);
	/* named for another store (in the current format): a store scan skips it */
	put_record(jdir, "u-0123456789abcdef-0123456789abcdef0123456789abcdef", &dead,
		   os_id(s), "misnamed", "no-such-upload-2");

	CHECK_INT(journal_store_create(s, NULL, jdir, &j), 0);
	CHECK(!upload_listed(j, a));
	CHECK(!upload_listed(j, b));
	CHECK(upload_listed(j, c));
	CHECK(upload_listed(j, d));
	CHECK(!exists(jdir, "u-dead") && !exists(jdir, "u-reused") && !exists(jdir, "u-gone"));
	CHECK(exists(jdir, "u-live") && exists(jdir, "u-other") && exists(jdir, "u-torn"));
	CHECK(exists(jdir, "u-0123456789abcdef-0123456789abcdef0123456789abcdef"));
	CHECK_INT(os_mpu_abort(j, "live", c), 0);
	CHECK_INT(os_mpu_abort(j, "other-store", d), 0);
	os_destroy(j);
	free(a);
	free(b);
	free(c);
	free(d);
	os_journal_rec_release(&live);
	os_journal_rec_release(&dead);
	os_journal_rec_release(&reused);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Opens the local store through os_open (retry on, faults per spec) with the
 * journal of jdir holding n records of dead owners; returns the seconds the
 * open took. */
static double open_with_dead_records(const char *jdir, int n, const char *faults)
{
	struct os_journal_rec dead = { 0 };
	struct os_source src;
	struct objstore *s = NULL;
	char source[4200], name[32], err[256];
	double t0;
	int i;

	snprintf(source, sizeof(source), "file://%s/bucket", tmpdir);
	if (!CHECK_INT(os_source_parse(source, &src, err, sizeof(err)), 0))
		return 0;
	CHECK_INT(os_open(&src, NULL, &s, err, sizeof(err)), 0);	/* its id */
	CHECK_INT(os_journal_self(&dead), 0);
	dead.pid = dead_pid();
	for (i = 0; i < n && s; i++) {
		snprintf(name, sizeof(name), "u-dead%d", i);
		put_record(jdir, name, &dead, os_id(s), "k", name);
	}
	os_destroy(s);
	os_journal_rec_release(&dead);
	setenv("LITHFS_FAULTS", faults, 1);
	t0 = now_s();
	CHECK_INT(os_open(&src, NULL, &s, err, sizeof(err)), 0);
	t0 = now_s() - t0;
	unsetenv("LITHFS_FAULTS");
	os_destroy(s);
	os_source_release(&src);
	return t0;
}

/* Recovery runs in every open: an abort that fails is tried once (not
 * through the retry wrapper's budget), and slow aborts stop after a few
 * seconds; what is left waits for the next open. */
static void test_bounded_recovery(void)
{
	char jdir[4200], cmd[4300];
	double t;

	snprintf(jdir, sizeof(jdir), "%s/j-bounded", tmpdir);
	setenv("LITHFS_JOURNAL_DIR", jdir, 1);
	/* each attempt times out after 0.4 s: through retry, 9 attempts > 3.6 s */
	t = open_with_dead_records(jdir, 3, "ops=mpu_abort,rate=1,kinds=timeout,delay_ms=400");
	CHECK(t < 2.0);
	CHECK_INT(count_records(jdir), 3);
	t = open_with_dead_records(jdir, 30, "ops=mpu_abort,rate=1,kinds=delay,delay_ms=250");
	CHECK(t > 4.5 && t < 9.0);	/* slow under valgrind: the count tells */
	CHECK(count_records(jdir) > 0 && count_records(jdir) < 30);
	unsetenv("LITHFS_JOURNAL_DIR");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", jdir);
	CHECK_INT(system(cmd), 0);
}

/* A journal directory others may write is not used; the store still works.
 * A relative one is used, made absolute. */
static void test_unsafe_dir(const char *jdir)
{
	struct objstore *s = NULL;

	CHECK_INT(chmod(jdir, 0777), 0);
	CHECK_INT(journal_store_create(local_store(), NULL, jdir, &s), 0);
	CHECK(s && !strcmp(s->ops->name, "local"));
	os_destroy(s);
	CHECK_INT(chmod(jdir, 0700), 0);
	CHECK_INT(chdir(tmpdir), 0);	/* a relative dir: a daemon's cwd becomes "/" */
	CHECK_INT(journal_store_create(local_store(), NULL, "rel/j", &s), 0);
	CHECK_INT(chdir("/"), 0);
	if (CHECK(s && !strcmp(s->ops->name, "journal"))) {
		char *id = NULL, rel[4200];

		snprintf(rel, sizeof(rel), "%s/rel/j", tmpdir);
		CHECK_INT(os_mpu_create(s, "rel", NULL, &id), 0);
		CHECK_INT(count_records(rel), 1);
		CHECK_INT(os_mpu_abort(s, "rel", id), 0);
		CHECK_INT(count_records(rel), 0);
		free(id);
	}
	os_destroy(s);
}

static void test_default_dir(void)
{
	char *d;

	setenv("LITHFS_JOURNAL_DIR", "/x/j", 1);
	d = os_journal_default_dir();
	CHECK_STR(d, "/x/j");
	free(d);
	setenv("LITHFS_JOURNAL_DIR", "off", 1);
	CHECK(os_journal_default_dir() == NULL);
	unsetenv("LITHFS_JOURNAL_DIR");
	if (geteuid() != 0) {
		setenv("XDG_STATE_HOME", "/st", 1);
		d = os_journal_default_dir();
		CHECK_STR(d, "/st/lithfs/uploads");
		free(d);
		unsetenv("XDG_STATE_HOME");
		setenv("HOME", "/h", 1);
		d = os_journal_default_dir();
		CHECK_STR(d, "/h/.local/state/lithfs/uploads");
		free(d);
	}
}

int main(void)
{
	char tmpl[] = "/tmp/test_journal.XXXXXX", jdir[4200], cmd[4300];

	log_init("test_journal", LOG_ERR);
	if (!mkdtemp(tmpl) || !realpath(tmpl, tmpdir))
		return 1;
	snprintf(jdir, sizeof(jdir), "%s/bucket", tmpdir);
	mkdir(jdir, 0700);
	snprintf(jdir, sizeof(jdir), "%s/state/lithfs/uploads", tmpdir);
	test_format();
	test_owner();
	test_foreign_proc();
	test_wrapper(jdir);
	test_recovery(jdir);
	test_unsafe_dir(jdir);
	test_bounded_recovery();
	test_default_dir();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_exit();
}

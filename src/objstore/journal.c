/*
 * journal.c - a store wrapper that journals multipart uploads, and the
 * recovery of uploads whose process died (see journal.h for the why and the
 * record format).
 *
 * Design:
 *   - mpu_create: the inner create, then a record file written atomically
 *     (temporary name, fsync, rename). The record's name is a hash of the
 *     store, then one of (store, key, upload id): whichever thread or
 *     process finishes the upload finds it without a table in memory, and a
 *     scan for one store opens none of the records of others (a journal may
 *     hold thousands of records of stores not opened for months). A record that cannot be
 *     written costs one warning line, never the upload: the journal is a
 *     safety net, not a gate.
 *   - mpu_complete / mpu_abort: the inner op; on success, or when the upload
 *     is gone (ENOENT), the record is unlinked. A failed complete keeps the
 *     record: the upload still exists and its owner still lives.
 *   - every other op passes straight through.
 *   - journal_store_create recovers first: for each record of this store
 *     whose owner is gone (os_journal_owner_gone), AbortMultipartUpload
 *     (ENOENT counts as done) and unlink. Recovery runs inside every os_open
 *     (each mount, mapdir and Slurm worker start), so it is bounded: it
 *     aborts through the store UNDER the retry wrapper (one attempt each),
 *     the first abort that fails stops it with one log line, and so does
 *     RECOVER_BUDGET_MS spent; the rest waits for the next start. A dead
 *     endpoint costs one request timeout, not a retry budget per record.
 * Two processes recovering at once both abort (the second finds no upload)
 * and both unlink: harmless. The wrapper sits on top of retry, so the
 * journal sees only the final outcome of each op.
 */
#include "config.h"
#include "objstore/journal.h"
#include "objstore/objstore_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define REC_MAGIC "lithfs-upload 1"
#define REC_MAX (16 * 1024)		/* a record is < 4 KiB: key <= 1 KiB, escaped */
#define TMP_PREFIX ".tmp-"
#define STORE_PREFIX_LEN 19		/* "u-" 16 hex digits "-" */
#define REC_NAME_LEN (STORE_PREFIX_LEN + 32)
#define TMP_STALE_S 600			/* a torn temporary file older than this is junk */
#define RECOVER_BUDGET_MS 5000
#define BOOT_UNKNOWN "unknown"		/* boot_id unreadable: judged by PID alone */		/* time one open may spend aborting */

struct journal_store {
	struct objstore base;
	char *dir;			/* owned */
	int warned;			/* a write failure was logged (atomic) */
};

static struct journal_store *to_js(struct objstore *s)
{
	return (struct journal_store *)s;
}

/* --- record text --- */

static int escape_value(struct buf *out, const char *s)
{
	int err = 0;

	for (; *s && !err; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c == '%' || c >= 0x7f)
			err = buf_appendf(out, "%%%02X", c);
		else
			err = buf_append(out, s, 1);
	}
	return err;
}

/* Decodes %XX escapes of s[0, len) into a new string; NULL on a bad escape
 * (errno EINVAL) or out of memory. */
static char *unescape_value(const char *s, size_t len)
{
	char *out = malloc(len + 1), *w = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			*w++ = s[i];
			continue;
		}
		if (i + 2 >= len || os_unhex(s[i + 1]) < 0 || os_unhex(s[i + 2]) < 0 ||
		    (os_unhex(s[i + 1]) == 0 && os_unhex(s[i + 2]) == 0)) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		*w++ = (char)(os_unhex(s[i + 1]) << 4 | os_unhex(s[i + 2]));
		i += 2;
	}
	*w = '\0';
	return out;
}

void os_journal_rec_release(struct os_journal_rec *r)
{
	free(r->host);
	free(r->boot_id);
	free(r->machine_id);
	free(r->store);
	free(r->key);
	free(r->upload_id);
	memset(r, 0, sizeof(*r));
}

int os_journal_rec_format(const struct os_journal_rec *r, struct buf *out)
{
	const char *const names[] = { "host", "boot", "store", "key", "upload", "machine" };
	const char *const values[] = { r->host, r->boot_id, r->store, r->key, r->upload_id,
				       r->machine_id };
	int err = buf_appendf(out, REC_MAGIC "\npid %ld\nstart %llu\n", (long)r->pid, r->start);
	size_t i;

	if (!err && r->pidns)
		err = buf_appendf(out, "pidns %llu\n", r->pidns);
	if (!err && r->timens)
		err = buf_appendf(out, "timens %llu\n", r->timens);
	for (i = 0; i < (r->machine_id ? 6u : 5u) && !err; i++) {	/* machine: optional */
		err = buf_appendf(out, "%s ", names[i]);
		if (!err)
			err = escape_value(out, values[i] ? values[i] : "");
		if (!err)
			err = buf_append(out, "\n", 1);
	}
	return err;
}

/* Stores one "name value" line of a record into r. */
static int parse_line(const char *line, size_t len, struct os_journal_rec *r)
{
	const char *sp = memchr(line, ' ', len);
	char **slot = NULL, *v, *end;
	size_t n;

	if (!sp)
		return EINVAL;
	n = (size_t)(sp - line);
	if (n == 3 && !memcmp(line, "pid", 3)) {
		long pid = strtol(sp + 1, &end, 10);

		r->pid = (pid_t)pid;
		return end == line + len && pid > 0 && pid == (long)r->pid ? 0 : EINVAL;
	}
	if (n == 5 && !memcmp(line, "start", 5)) {
		r->start = strtoull(sp + 1, &end, 10);
		return end == line + len && end > sp + 1 ? 0 : EINVAL;
	}
	if ((n == 5 && !memcmp(line, "pidns", 5)) || (n == 6 && !memcmp(line, "timens", 6))) {
		unsigned long long *ns = n == 5 ? &r->pidns : &r->timens;

		*ns = strtoull(sp + 1, &end, 10);
		return end == line + len && *ns ? 0 : EINVAL;
	}
	if (n == 4 && !memcmp(line, "host", 4))
		slot = &r->host;
	else if (n == 4 && !memcmp(line, "boot", 4))
		slot = &r->boot_id;
	else if (n == 5 && !memcmp(line, "store", 5))
		slot = &r->store;
	else if (n == 3 && !memcmp(line, "key", 3))
		slot = &r->key;
	else if (n == 6 && !memcmp(line, "upload", 6))
		slot = &r->upload_id;
	else if (n == 7 && !memcmp(line, "machine", 7))
		slot = &r->machine_id;
	if (!slot || *slot)
		return EINVAL;		/* unknown or repeated */
	v = unescape_value(sp + 1, len - n - 1);
	if (!v)
		return errno == EINVAL ? EINVAL : ENOMEM;
	*slot = v;
	return 0;
}

int os_journal_rec_parse(const char *text, struct os_journal_rec *r)
{
	const char *p = text, *nl;
	int err = 0;

	memset(r, 0, sizeof(*r));
	if (strncmp(p, REC_MAGIC "\n", sizeof(REC_MAGIC)) != 0)
		return EINVAL;
	p += sizeof(REC_MAGIC);
	while (*p && !err) {
		nl = strchr(p, '\n');
		if (!nl)
			err = EINVAL;	/* torn: every line ends in a newline */
		else
			err = parse_line(p, (size_t)(nl - p), r);
		p = nl ? nl + 1 : p;
	}
	if (!err && (!r->host || !r->boot_id || !r->store || !r->key || !r->upload_id ||
		     !r->pid || !*r->key || !*r->upload_id))
		err = EINVAL;
	if (err)
		os_journal_rec_release(r);
	return err;
}

/* --- owners --- */

/* Reads a small file into b (NUL-terminated). 0 or an errno. */
static int read_file(const char *path, struct buf *b, size_t max)
{
	char chunk[4096];
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno;
	while (!err && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0)
			err = errno == EINTR ? 0 : errno;
		else if (b->len + (size_t)n > max)
			err = EFBIG;
		else
			err = buf_append(b, chunk, (size_t)n);
	}
	close(fd);
	if (!err)
		err = buf_append(b, "", 1);	/* the NUL, then drop it from len */
	if (!err)
		b->len--;
	return err;
}

/* The start time (field 22 of /proc/PID/stat) of process pid. 0, ENOENT (no
 * such process) or another errno. */
static int proc_start(pid_t pid, unsigned long long *start)
{
	struct buf b = BUF_INIT;
	char path[64];
	const char *p;
	int err, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	err = read_file(path, &b, 4096);
	if (err) {
		buf_release(&b);
		return err == ESRCH ? ENOENT : err;
	}
	/* "pid (comm) state ..." where comm may hold spaces and ')': field 3
	 * starts after the last ')'. */
	p = strrchr(b.data, ')');
	for (field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	err = p ? 0 : EIO;
	if (p)
		*start = strtoull(p + 1, NULL, 10);
	buf_release(&b);
	return err;
}

/* The first line of a small system file, or NULL. */
static char *first_line(const char *path)
{
	struct buf b = BUF_INIT;

	if (read_file(path, &b, 128) || !b.len) {
		buf_release(&b);
		return NULL;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.data[--b.len] = '\0';
	return buf_detach(&b);
}

static char *boot_id(void)
{
	char *id = first_line("/proc/sys/kernel/random/boot_id");

	return id ? id : strdup(BOOT_UNKNOWN);
}

/* The inode of namespace link name of /proc/self/ns, or 0 (unknown). */
static unsigned long long ns_inode(const char *name)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* The inodes of our PID and time namespaces (0: unknown); EIO when /proc
 * belongs to another PID namespace (/proc/self is not getpid()): every PID
 * read there would name some other process. */
static int namespaces(struct os_journal_rec *r)
{
	char link[64];
	ssize_t n = readlink("/proc/self", link, sizeof(link) - 1);

	if (n <= 0)
		return EIO;
	link[n] = '\0';
	if (strtol(link, NULL, 10) != (long)getpid())
		return EIO;
	r->pidns = ns_inode("pid");
	r->timens = ns_inode("time");	/* start times read there are shifted */
	return 0;
}

int os_journal_self(struct os_journal_rec *r)
{
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) != 0)
		strcpy(host, "localhost");
	r->pid = getpid();
	if (namespaces(r) || proc_start(r->pid, &r->start))
		return EIO;
	r->host = strdup(host);
	r->boot_id = boot_id();
	r->machine_id = first_line("/etc/machine-id");
	return r->host && r->boot_id ? 0 : ENOMEM;
}

bool os_journal_owner_gone(const struct os_journal_rec *r)
{
	struct os_journal_rec self = { 0 };
	unsigned long long start;
	bool gone = false;
	int err;

	if (os_journal_self(&self))
		goto out_release;
	if (strcmp(self.host, r->host) != 0 ||
	    (self.machine_id && r->machine_id && strcmp(self.machine_id, r->machine_id)))
		goto out_release;	/* another host's: not ours to judge */
	if (strcmp(self.boot_id, r->boot_id) != 0 && strcmp(self.boot_id, BOOT_UNKNOWN) != 0 &&
	    strcmp(r->boot_id, BOOT_UNKNOWN) != 0) {
		gone = true;		/* every process of that boot ended */
		goto out_release;
	}
	if ((r->pidns && self.pidns && r->pidns != self.pidns) ||
	    (r->timens && self.timens && r->timens != self.timens))
		goto out_release;	/* its PIDs or start times mean nothing here */
	err = proc_start(r->pid, &start);
	gone = err == ENOENT || (!err && start != r->start);
out_release:
	os_journal_rec_release(&self);
	return gone;
}

/* --- the directory --- */

char *os_journal_default_dir(void)
{
	const char *env = getenv("LITHFS_JOURNAL_DIR");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *out = NULL;

	if (env && !strcmp(env, "off"))
		return NULL;
	if (env && *env)
		return strdup(env);
	if (geteuid() == 0)
		return strdup("/var/lib/lithfs/uploads");
	if (xdg && xdg[0] == '/')
		return asprintf(&out, "%s/lithfs/uploads", xdg) < 0 ? NULL : out;
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(geteuid());

		home = pw ? pw->pw_dir : "/tmp";
	}
	return asprintf(&out, "%s/.local/state/lithfs/uploads", home) < 0 ? NULL : out;
}

/* mkdir -p dir, 0700 for what it creates; then dir must be a directory of
 * ours that nobody else may write. 0 or an errno (EPERM: not safe). */
static int dir_prepare(const char *dir)
{
	char *p = strdup(dir), *s;
	struct stat st;
	int err = 0;

	if (!p)
		return ENOMEM;
	for (s = p + 1; !err; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			err = errno;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	if (!err && lstat(dir, &st) != 0)
		err = errno;
	if (!err && (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)))
		err = EPERM;
	return err;
}

/* FNV-1a of the strings of parts, their NULs included (so ("ab","c") and
 * ("a","bc") differ), with two seeds: h[0] plain, h[1] mixed. */
static void hash_parts(const char *const *parts, int n, uint64_t h[2])
{
	int i;

	h[0] = 0xcbf29ce484222325ULL;
	h[1] = 0x84222325cbf29ce4ULL;
	for (i = 0; i < n; i++) {
		const unsigned char *c = (const unsigned char *)parts[i];

		do {
			h[0] = (h[0] ^ *c) * 0x100000001b3ULL;
			h[1] = (h[1] ^ *c) * 0x100000001b3ULL;
			h[1] ^= h[1] >> 29;
		} while (*c++);
	}
}

/* "u-" and the 64-bit hash of store, then "-": the start of the names of
 * that store's records, so a scan for one store opens no other store's. */
static void store_prefix(const char *store, char prefix[STORE_PREFIX_LEN + 1])
{
	uint64_t h[2];

	hash_parts(&store, 1, h);
	snprintf(prefix, STORE_PREFIX_LEN + 1, "u-%016llx-", (unsigned long long)h[0]);
}

/* The record file of (store, key, upload id): the store's prefix and a
 * 128-bit hash of the three. */
static void record_name(const char *store, const char *key, const char *upload_id,
			char name[REC_NAME_LEN + 1])
{
	const char *parts[3] = { store, key, upload_id };
	char prefix[STORE_PREFIX_LEN + 1];
	uint64_t h[2];

	store_prefix(store, prefix);
	hash_parts(parts, 3, h);
	snprintf(name, REC_NAME_LEN + 1, "%s%016llx%016llx", prefix,
		 (unsigned long long)h[0], (unsigned long long)h[1]);
}

/* Writes the whole of b to fd. 0 or an errno. */
static int write_all(int fd, const struct buf *b)
{
	size_t off = 0;
	ssize_t n;

	while (off < b->len) {
		n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno != EINTR)
			return errno;
		off += n > 0 ? (size_t)n : 0;
	}
	return 0;
}

/* Records an upload of this process: temporary file, fsync, rename. */
static int record_write(const char *dir, const char *store, const char *key,
			const char *upload_id)
{
	struct os_journal_rec r = { 0 };
	struct buf text = BUF_INIT, path = BUF_INIT, tmp = BUF_INIT;
	char name[REC_NAME_LEN + 1];
	int fd, err;

	err = os_journal_self(&r);
	if (err)
		goto out_release;
	r.store = (char *)store;
	r.key = (char *)key;
	r.upload_id = (char *)upload_id;
	err = os_journal_rec_format(&r, &text);
	r.store = r.key = r.upload_id = NULL;
	record_name(store, key, upload_id, name);
	if (!err)
		err = buf_appendf(&path, "%s/%s", dir, name);
	if (!err)
		err = buf_appendf(&tmp, "%s/" TMP_PREFIX "%s", dir, name);
	if (err)
		goto out_release;
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = errno;
		goto out_release;
	}
	err = write_all(fd, &text);
	if (!err && fsync(fd) != 0)
		err = errno;
	close(fd);
	if (!err && rename(tmp.data, path.data) != 0)
		err = errno;
	if (err)
		unlink(tmp.data);
out_release:
	os_journal_rec_release(&r);
	buf_release(&text);
	buf_release(&path);
	buf_release(&tmp);
	return err;
}

static void record_remove(const char *dir, const char *store, const char *key,
			  const char *upload_id)
{
	char name[REC_NAME_LEN + 1], path[4096];

	record_name(store, key, upload_id, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) != 0 && errno != ENOENT)
		log_msg(LOG_WARNING, "upload journal: cannot remove %s: %s", path,
			strerror(errno));
}

/* --- scanning --- */

/* A temporary file nobody renamed for TMP_STALE_S: its writer died before
 * the record was whole. */
static void drop_stale_tmp(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime + TMP_STALE_S < time(NULL))
		unlinkat(dfd, name, 0);
}

/* Reads and parses dir/name; calls fn for a whole record. */
static int scan_one(const char *dir, int dfd, const char *name, os_journal_fn fn, void *arg)
{
	struct os_journal_rec r;
	struct buf path = BUF_INIT, text = BUF_INIT;
	bool tmp = !strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX));
	int err;

	err = buf_appendf(&path, "%s/%s", dir, name);
	if (err)
		return err;
	err = read_file(path.data, &text, REC_MAX);
	if (!err && os_journal_rec_parse(text.data, &r) == 0) {
		err = fn(arg, path.data, &r);
		os_journal_rec_release(&r);
	} else if (err != ENOMEM) {
		if (tmp)
			drop_stale_tmp(dfd, name);
		err = 0;	/* vanished, torn or foreign: not ours to judge */
	}
	buf_release(&path);
	buf_release(&text);
	return err;
}

/* Whether a scan for the store of prefix (NULL: every store) reads name:
 * any record or temporary file except those named for another store. */
static bool scan_wants(const char *name, const char *prefix)
{
	if (!strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)))
		name += strlen(TMP_PREFIX);
	if (strncmp(name, "u-", 2) != 0)
		return false;
	return !prefix || strlen(name) != REC_NAME_LEN || name[STORE_PREFIX_LEN - 1] != '-' ||
	       !strncmp(name, prefix, STORE_PREFIX_LEN);
}

int os_journal_scan_store(const char *dir, const char *store, os_journal_fn fn, void *arg)
{
	char prefix[STORE_PREFIX_LEN + 1];
	struct dirent *de;
	DIR *dp;
	int err = 0;

	if (store)
		store_prefix(store, prefix);
	dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : errno;
	while (!err && (de = readdir(dp)) != NULL) {
		if (scan_wants(de->d_name, store ? prefix : NULL))
			err = scan_one(dir, dirfd(dp), de->d_name, fn, arg);
	}
	closedir(dp);
	return err;
}

int os_journal_scan(const char *dir, os_journal_fn fn, void *arg)
{
	return os_journal_scan_store(dir, NULL, fn, arg);
}

/* --- recovery --- */

struct recovery {
	struct objstore *raw;	/* the store under retry: one attempt per abort */
	const char *id;		/* os_id() of the store */
	struct timespec t0;
	unsigned aborted;
	bool stopped;		/* an abort failed or time ran out: next time */
};

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static int recover_one(void *arg, const char *path, const struct os_journal_rec *r)
{
	struct recovery *rc = arg;
	int err;

	if (rc->stopped || strcmp(r->store, rc->id) != 0 || !os_journal_owner_gone(r))
		return 0;
	if (elapsed_ms(&rc->t0) > RECOVER_BUDGET_MS) {
		log_msg(LOG_WARNING, "upload journal: recovery took over %d s: the uploads "
			"left in %s by ended processes not aborted yet wait for the next start",
			RECOVER_BUDGET_MS / 1000, rc->id);
		rc->stopped = true;
		return 0;
	}
	err = os_mpu_abort(rc->raw, r->key, r->upload_id);
	if (err && err != ENOENT) {
		log_msg(LOG_WARNING, "upload journal: cannot abort the upload of %s left by "
			"process %ld (%s): trying again at the next start", r->key,
			(long)r->pid, strerror(err));
		rc->stopped = true;
		return 0;
	}
	if (unlink(path) != 0 && errno != ENOENT)
		log_msg(LOG_WARNING, "upload journal: cannot remove %s: %s", path,
			strerror(errno));
	rc->aborted += !err;
	return 0;
}

static int recover(struct objstore *raw, const char *dir)
{
	struct recovery rc = { raw, os_id(raw), { 0, 0 }, 0, false };
	int err;

	clock_gettime(CLOCK_MONOTONIC, &rc.t0);
	err = os_journal_scan_store(dir, rc.id, recover_one, &rc);
	if (rc.aborted)
		log_msg(LOG_NOTICE, "upload journal: aborted %u multipart upload%s left "
			"in %s by ended processes", rc.aborted, rc.aborted == 1 ? "" : "s",
			rc.id);
	return err;
}

/* --- the wrapper's ops --- */

static int j_mpu_create(struct objstore *s, const char *key, const struct os_meta *meta,
			char **upload_id)
{
	struct journal_store *js = to_js(s);
	int err;

	err = os_mpu_create(s->inner, key, meta, upload_id);
	if (err)
		return err;
	err = record_write(js->dir, os_id(s), key, *upload_id);
	if (err && !__atomic_exchange_n(&js->warned, 1, __ATOMIC_RELAXED))
		log_msg(LOG_WARNING, "upload journal: cannot record uploads in %s (%s): a "
			"crash may leave uploads behind", js->dir, strerror(err));
	return 0;
}

static int j_mpu_complete(struct objstore *s, const char *key, const char *upload_id,
			  const struct os_part *parts, size_t n, char etag_out[OS_ETAG_MAX])
{
	int err = os_mpu_complete(s->inner, key, upload_id, parts, n, etag_out);

	if (!err || err == ENOENT)
		record_remove(to_js(s)->dir, os_id(s), key, upload_id);
	return err;
}

static int j_mpu_abort(struct objstore *s, const char *key, const char *upload_id)
{
	int err = os_mpu_abort(s->inner, key, upload_id);

	if (!err || err == ENOENT)
		record_remove(to_js(s)->dir, os_id(s), key, upload_id);
	return err;
}

static int j_check(struct objstore *s)
{
	return os_check(s->inner);
}

static int j_head(struct objstore *s, const char *key, struct os_stat *st)
{
	return os_head(s->inner, key, st);
}

static int j_get(struct objstore *s, const char *key, uint64_t off, uint64_t len,
		 const char *etag, os_sink_fn sink, void *arg)
{
	return os_get(s->inner, key, off, len, etag, sink, arg);
}

static int j_put(struct objstore *s, const char *key, const void *data, size_t len,
		 const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	return os_put(s->inner, key, data, len, meta, etag_out);
}

static int j_del(struct objstore *s, const char *key)
{
	return os_delete(s->inner, key);
}

static int j_del_many(struct objstore *s, const char *const *keys, size_t n)
{
	return s->inner->ops->del_many(s->inner, keys, n);
}

static int j_copy(struct objstore *s, const char *src, const char *dst,
		  const struct os_meta *meta, char etag_out[OS_ETAG_MAX])
{
	return s->inner->ops->copy(s->inner, src, dst, meta, etag_out);
}

static int j_list(struct objstore *s, const char *prefix, const char *delimiter,
		  const char *token, int max_keys, struct os_list_page *out)
{
	return os_list(s->inner, prefix, delimiter, token, max_keys, out);
}

static int j_mpu_put_part(struct objstore *s, const char *key, const char *upload_id,
			  int part, const void *data, size_t len, char etag_out[OS_ETAG_MAX])
{
	return os_mpu_put_part(s->inner, key, upload_id, part, data, len, etag_out);
}

static int j_mpu_copy_part(struct objstore *s, const char *key, const char *upload_id,
			   int part, const char *src_key, uint64_t off, uint64_t len,
			   char etag_out[OS_ETAG_MAX])
{
	return os_mpu_copy_part(s->inner, key, upload_id, part, src_key, off, len, etag_out);
}

static int j_mpu_list(struct objstore *s, const char *prefix, struct os_upload_list *out)
{
	return os_mpu_list(s->inner, prefix, out);
}

static void j_destroy(struct objstore *s)
{
	os_destroy(s->inner);
	free(to_js(s)->dir);
	free(s->id);
	free(s);
}

static const struct objstore_ops journal_ops = {
	.name = "journal",
	.check = j_check,
	.head = j_head,
	.get = j_get,
	.put = j_put,
	.del = j_del,
	.del_many = j_del_many,
	.copy = j_copy,
	.list = j_list,
	.mpu_create = j_mpu_create,
	.mpu_put_part = j_mpu_put_part,
	.mpu_copy_part = j_mpu_copy_part,
	.mpu_complete = j_mpu_complete,
	.mpu_abort = j_mpu_abort,
	.mpu_list = j_mpu_list,
	.destroy = j_destroy,
};

int journal_store_create(struct objstore *inner, struct objstore *raw, const char *dir,
			 struct objstore **out)
{
	struct journal_store *js;
	int err;

	*out = inner;
	err = dir_prepare(dir);
	if (err) {
		log_msg(LOG_WARNING, "upload journal %s: %s; going on without it (a crash "
			"may leave multipart uploads behind)", dir,
			err == EPERM ? "not a directory of ours that only we may write" :
			strerror(err));
		return 0;
	}
	err = recover(raw ? raw : inner, dir);
	if (err)
		log_msg(LOG_WARNING, "upload journal %s: %s", dir, strerror(err));
	js = calloc(1, sizeof(*js));
	if (js) {	/* absolute: a daemon's cwd becomes "/" after this */
		js->base.id = strdup(os_id(inner));
		js->dir = dir[0] == '/' ? strdup(dir) : realpath(dir, NULL);
	}
	if (!js || !js->base.id || !js->dir) {
		if (js) {
			free(js->base.id);
			free(js->dir);
		}
		free(js);
		os_destroy(inner);
		*out = NULL;
		return ENOMEM;
	}
	js->base.ops = &journal_ops;
	js->base.inner = inner;
	*out = &js->base;
	return 0;
}

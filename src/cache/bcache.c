/*
 * bcache.c - the persistent block cache: one LMDB environment per directory,
 * shared by every process of the user on the host.
 *
 * Layout (four named databases in one environment):
 *   blocks  SHA-256(identity) -> struct vhdr + identity + data
 *   index   SHA-256(identity) -> struct ientry { seq, len }
 *   lru     seq (MDB_INTEGERKEY) -> SHA-256(identity)
 *   meta    "format" -> BC_FORMAT, "counters" -> struct counters
 * The identity is store_id \0 key \0 etag \0 block_size \0 index; keys can be
 * longer than LMDB's 511-byte key limit, so the key is its hash and the
 * identity is stored again in the value and compared on every whole-block
 * hit; a range hit checks the value's size against its index entry only.
 *
 * Recency: every insert takes the next sequence number. A hit is a read-only
 * transaction; only when the entry is older than a quarter of the cache (in
 * sequence numbers) is a "touch" queued, and queued touches are applied in
 * the next write transaction (a put's, or the flush at most every FLUSH_NS);
 * past TOUCH_MAX queued, more are dropped: recency is approximate, and a
 * random-read workload never pays a write transaction per few hits.
 * Eviction deletes the lowest sequence numbers until bytes <= 90 % of
 * max_bytes, at most EVICT_CHUNK blocks per transaction so that a writer
 * never holds the write lock for long.
 *
 * Counters: blocks/bytes/seq change only inside write transactions, so they
 * are exact. Hits, misses, bytes_hit and put_failures are counted per process
 * (c->delta) and merged into "counters" by the next write transaction or by
 * a flush at most every FLUSH_NS, so a hit never needs a write transaction.
 *
 * Reads copy the bytes out with pread() of data.mdb at the value's offset in
 * the map (inside the read txn), so served blocks never stay mapped in RSS.
 *
 * Writes: bc_put_many hands a batch (the reader's fill queue) to one
 * transaction; concurrent bc_put/bc_put_many callers are grouped: the first
 * becomes the leader, commits every pending block in one transaction (one
 * fdatasync with MDB_NOMETASYNC), and wakes the others (group commit). MDB_NOMETASYNC keeps
 * the environment consistent after a crash (at worst the last transaction is
 * lost). MDB_MAP_FULL evicts and retries once, then counts put_failures.
 *
 * Failure handling: an environment LMDB calls invalid or corrupt at open is
 * moved aside (data.mdb.corrupt) and rebuilt. Once data.mdb disappears or is
 * replaced under a running process (directory deleted, `rm -rf`), the handle
 * goes "dead": gets miss, puts are counted as failures. Every txn holds
 * map_lock for reading; growing the map after MDB_MAP_RESIZED (another
 * process grew the file) takes it for writing, since LMDB may remap only when
 * no transaction of this process is active.
 */
#include "config.h"
#include "cache/bcache.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define BC_FORMAT 1
#define BC_MARKER "lithfs-cache"
#define BC_MARKER_TEXT "lithfs block cache, format 1\n"
#define BC_CORRUPT "data.mdb.corrupt"
#define VHDR_MAGIC 0x6c746862u		/* "lthb" */
#define HASH_LEN 32
#define EVICT_CHUNK 256			/* blocks deleted per write txn */
#define TOUCH_MAX 512			/* queued touches; more are dropped */
#define ALIVE_NS 100000000LL		/* data.mdb is looked at this often */
#define FLUSH_NS 1000000000LL		/* merge counters at least this often */
#define MAP_SLACK (8ULL << 20)
#define MIN_DEFAULT_MAX (256ULL << 20)
#define MAX_DEFAULT_MAX (16ULL << 30)
#define MAX_READERS 1022

struct vhdr {				/* head of a "blocks" value */
	uint32_t magic;
	uint32_t id_len;
	uint64_t data_len;
};

struct ientry {				/* an "index" value */
	uint64_t seq;
	uint64_t len;
};

struct counters {			/* the "counters" value in "meta" */
	uint64_t seq;			/* last sequence number given */
	uint64_t blocks, bytes;
	uint64_t hits, misses, bytes_hit, bytes_fetched;
	uint64_t evictions, put_failures;
	uint64_t max_bytes;
};

struct delta {				/* this process's counts not yet merged */
	uint64_t hits, misses, bytes_hit, put_failures;
};

struct put_req {			/* one block waiting for the group commit */
	unsigned char hash[HASH_LEN];
	char *id;			/* owned by the bc_put_many call */
	size_t id_len;
	const void *data;
	size_t len;
	bool done;
	struct put_req *next;
};

struct bcache {
	MDB_env *env;
	MDB_dbi blocks, index, lru, meta;
	char *dir;
	char *data_path;
	uint64_t max_bytes;
	dev_t data_dev;
	ino_t data_ino;
	int fd;				/* data.mdb, LMDB's descriptor */
	uintptr_t map_base, map_end;	/* LMDB's map of it; 0: unknown */
	pthread_rwlock_t map_lock;	/* read: any txn; write: remap */
	pthread_mutex_t lock;		/* protects everything below */
	pthread_cond_t put_cond;
	struct put_req *pending, **pending_tail;
	bool committing;		/* a group-commit leader is active */
	bool flushing;
	bool dead;			/* data.mdb vanished: cache disabled */
	int64_t alive_ns;		/* when data.mdb was last seen in place */
	struct delta delta;
	unsigned char touch[TOUCH_MAX][HASH_LEN];
	int n_touch;
	int64_t last_flush_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Maps an MDB_* code to an errno; LMDB codes never leave this file. */
static int mdb_errno(int rc)
{
	if (rc == 0 || rc > 0)
		return rc;
	switch (rc) {
	case MDB_NOTFOUND:
		return ENOENT;
	case MDB_MAP_FULL:
		return ENOSPC;
	case MDB_MAP_RESIZED:
		return EAGAIN;
	default:
		return EIO;
	}
}

static bool mdb_is_corrupt(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
	       rc == MDB_PAGE_NOTFOUND || rc == MDB_INCOMPATIBLE;
}

/* --- directory handling --- */

char *bc_default_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *out = NULL;

	if (geteuid() == 0)
		return strdup("/var/cache/lithfs");
	if (xdg && xdg[0] == '/') {
		if (asprintf(&out, "%s/lithfs", xdg) < 0)
			return NULL;
		return out;
	}
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(geteuid());

		home = pw ? pw->pw_dir : "/tmp";
	}
	if (asprintf(&out, "%s/.cache/lithfs", home) < 0)
		return NULL;
	return out;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int mkdir_parents(const char *dir)
{
	char *p = strdup(dir);
	int err = 0;

	if (!p)
		return ENOMEM;
	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			err = errno;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return err;
}

static bool is_our_file(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "data.mdb") ||
	       !strcmp(name, "lock.mdb") || !strcmp(name, BC_MARKER) ||
	       !strcmp(name, BC_CORRUPT);
}

/* Refuses a directory holding anything but our files; creates the marker. */
static int dir_claim(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	bool has_marker = false, has_data = false;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		snprintf(err, errlen, "cannot open cache directory %s: %s", dir, strerror(errno));
		return errno;
	}
	while ((de = readdir(d))) {
		if (!is_our_file(de->d_name)) {
			snprintf(err, errlen, "%s is not a lithfs cache directory (it holds "
				 "\"%s\"): choose an empty or new directory", dir, de->d_name);
			closedir(d);
			return EINVAL;
		}
		has_marker |= !strcmp(de->d_name, BC_MARKER);
		has_data |= !strcmp(de->d_name, "data.mdb");
	}
	closedir(d);
	if (has_data && !has_marker) {
		snprintf(err, errlen, "%s holds an LMDB database that is not a lithfs cache "
			 "(no %s marker): choose an empty or new directory", dir, BC_MARKER);
		return EINVAL;
	}
	if (has_marker)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, BC_MARKER);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "cache directory %s is not writable: %s", dir,
			 strerror(errno));
		return errno;
	}
	if (write(fd, BC_MARKER_TEXT, strlen(BC_MARKER_TEXT)) < 0)
		log_msg(LOG_WARNING, "cache: writing %s: %s", path, strerror(errno));
	close(fd);
	return 0;
}

/* Creates dir 0700 (tightening a looser mode), checks it is ours. */
static int dir_prepare(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int rc = mkdir_parents(dir);

	if (rc) {
		snprintf(err, errlen, "cannot create cache directory %s: %s", dir, strerror(rc));
		return rc;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cache directory %s is not a directory", dir);
		return ENOTDIR;
	}
	if ((st.st_mode & 077) && st.st_uid == geteuid() && chmod(dir, 0700) != 0)
		log_msg(LOG_WARNING, "cache: chmod 0700 %s: %s", dir, strerror(errno));
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "cache directory %s is not writable: %s", dir,
			 strerror(errno));
		return EACCES;
	}
	return dir_claim(dir, err, errlen);
}

static void chmod_file(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		chmod(path, 0600);
}

static uint64_t default_max(const char *dir)
{
	struct statvfs sv;
	uint64_t m = MIN_DEFAULT_MAX;

	if (statvfs(dir, &sv) == 0)
		m = (uint64_t)sv.f_bavail * sv.f_frsize / 10;
	if (m < MIN_DEFAULT_MAX)
		m = MIN_DEFAULT_MAX;
	if (m > MAX_DEFAULT_MAX)
		m = MAX_DEFAULT_MAX;
	return m;
}

/* --- transactions and counters --- */

static int counters_get(struct bcache *c, MDB_txn *txn, struct counters *m)
{
	MDB_val k = { 8, (void *)"counters" }, v;
	int rc = mdb_get(txn, c->meta, &k, &v);

	memset(m, 0, sizeof(*m));
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	memcpy(m, v.mv_data, v.mv_size < sizeof(*m) ? v.mv_size : sizeof(*m));
	return 0;
}

static int counters_put(struct bcache *c, MDB_txn *txn, const struct counters *m)
{
	MDB_val k = { 8, (void *)"counters" }, v = { sizeof(*m), (void *)m };

	return mdb_put(txn, c->meta, &k, &v, 0);
}

/* Finds where LMDB mapped data.mdb in this process, which LMDB does not
 * tell: the mapping in /proc/self/maps of data.mdb's inode that holds a
 * pointer LMDB returned (the "format" value). Unknown (0) when not found;
 * copy_out then copies through the map. Called when no txn of this handle
 * is active (at open, or with map_lock held for writing). */
static void find_map(struct bcache *c)
{
	MDB_val k = { 6, (void *)"format" }, v;
	unsigned long lo, hi, ino;
	unsigned long long off;
	uintptr_t p = 0;
	char line[1024];
	MDB_txn *txn;
	FILE *f;

	c->map_base = c->map_end = 0;
	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn))
		return;
	if (!mdb_get(txn, c->meta, &k, &v))
		p = (uintptr_t)v.mv_data;
	mdb_txn_abort(txn);
	f = p ? fopen("/proc/self/maps", "re") : NULL;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %*s %llx %*s %lu", &lo, &hi, &off, &ino) == 4 &&
		    p >= lo && p < hi && off == 0 && ino == (unsigned long)c->data_ino) {
			c->map_base = lo;
			c->map_end = hi;
			break;
		}
	}
	fclose(f);
}

/* Grows this process's map after another process grew the file. */
static void remap(struct bcache *c)
{
	pthread_rwlock_wrlock(&c->map_lock);
	mdb_env_set_mapsize(c->env, 0);
	find_map(c);
	pthread_rwlock_unlock(&c->map_lock);
}

/* Begins a txn with map_lock held for reading (txn_commit/txn_abort release
 * it). */
static int txn_begin(struct bcache *c, unsigned flags, MDB_txn **txn)
{
	int rc;

	for (int attempt = 0; ; attempt++) {
		pthread_rwlock_rdlock(&c->map_lock);
		rc = mdb_txn_begin(c->env, NULL, flags, txn);
		if (rc != MDB_MAP_RESIZED || attempt == 1)
			break;
		pthread_rwlock_unlock(&c->map_lock);
		remap(c);
	}
	if (rc)
		pthread_rwlock_unlock(&c->map_lock);
	return rc;
}

static int txn_commit(struct bcache *c, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	pthread_rwlock_unlock(&c->map_lock);
	return rc;
}

static void txn_abort(struct bcache *c, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&c->map_lock);
}

/* Moves this process's unmerged counts into m; the caller restores them with
 * delta_restore() if the txn fails. */
static struct delta delta_take(struct bcache *c, struct counters *m)
{
	struct delta d;

	pthread_mutex_lock(&c->lock);
	d = c->delta;
	memset(&c->delta, 0, sizeof(c->delta));
	pthread_mutex_unlock(&c->lock);
	m->hits += d.hits;
	m->misses += d.misses;
	m->bytes_hit += d.bytes_hit;
	m->put_failures += d.put_failures;
	return d;
}

static void delta_restore(struct bcache *c, const struct delta *d)
{
	pthread_mutex_lock(&c->lock);
	c->delta.hits += d->hits;
	c->delta.misses += d->misses;
	c->delta.bytes_hit += d->bytes_hit;
	c->delta.put_failures += d->put_failures;
	pthread_mutex_unlock(&c->lock);
}

/* True once data.mdb is gone or is another file than the one we opened,
 * looked at no more than every ALIVE_NS: a stat per hit would be a path walk
 * per 4 KiB read, and until we notice, the file we still have open serves
 * consistent (if orphaned) data. */
static bool check_dead(struct bcache *c)
{
	int64_t now = now_ns();
	struct stat st;
	bool dead, look;

	pthread_mutex_lock(&c->lock);
	dead = c->dead;
	look = !dead && now - c->alive_ns >= ALIVE_NS;
	pthread_mutex_unlock(&c->lock);
	if (!look)
		return dead;
	if (stat(c->data_path, &st) == 0 && st.st_ino == c->data_ino &&
	    st.st_dev == c->data_dev) {
		pthread_mutex_lock(&c->lock);
		c->alive_ns = now;
		pthread_mutex_unlock(&c->lock);
		return false;
	}
	pthread_mutex_lock(&c->lock);
	if (!c->dead)
		log_msg(LOG_WARNING, "cache: %s was removed or replaced; caching disabled "
			"until remount", c->data_path);
	c->dead = true;
	pthread_mutex_unlock(&c->lock);
	return true;
}

/* --- LRU --- */

/* Deletes the entry under hash (index, blocks, lru). Adjusts m. */
static int entry_delete(struct bcache *c, MDB_txn *txn, const unsigned char *hash,
			struct counters *m)
{
	MDB_val k = { HASH_LEN, (void *)hash }, v;
	struct ientry ie;
	int rc = mdb_get(txn, c->index, &k, &v);

	if (rc)
		return rc;
	memcpy(&ie, v.mv_data, sizeof(ie));
	MDB_val sk = { sizeof(ie.seq), &ie.seq };

	rc = mdb_del(txn, c->lru, &sk, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	rc = mdb_del(txn, c->index, &k, NULL);
	if (!rc)
		rc = mdb_del(txn, c->blocks, &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	m->blocks--;
	m->bytes -= ie.len;
	return 0;
}

/* Evicts the oldest blocks until m->bytes <= target, at most EVICT_CHUNK.
 * Returns 0 (done or chunk used up: see m->bytes) or an MDB code. */
static int evict_chunk(struct bcache *c, MDB_txn *txn, uint64_t target, struct counters *m)
{
	MDB_cursor *cur;
	MDB_val k, v;
	unsigned char hash[HASH_LEN];
	int rc = mdb_cursor_open(txn, c->lru, &cur);

	for (int n = 0; !rc && m->bytes > target && n < EVICT_CHUNK; n++) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND) {	/* counters drifted: trust the data */
			m->bytes = m->blocks = 0;
			rc = 0;
			break;
		}
		if (rc)
			break;
		memcpy(hash, v.mv_data, HASH_LEN);
		rc = entry_delete(c, txn, hash, m);
		if (rc == MDB_NOTFOUND)		/* dangling lru record */
			rc = mdb_cursor_del(cur, 0);
		else if (!rc)
			m->evictions++;
	}
	mdb_cursor_close(cur);
	return rc;
}

/* Evicts, one txn per chunk, until bytes + need <= 90 % of max_bytes. */
static int evict_for(struct bcache *c, uint64_t need)
{
	uint64_t keep = c->max_bytes / 10 * 9;
	uint64_t target = need < keep ? keep - need : 0;
	struct counters m;
	MDB_txn *txn;
	int rc;

	for (;;) {
		rc = txn_begin(c, 0, &txn);
		if (rc)
			return rc;
		rc = counters_get(c, txn, &m);
		if (!rc && m.bytes + need <= c->max_bytes) {
			txn_abort(c, txn);
			return 0;
		}
		if (!rc)
			rc = evict_chunk(c, txn, target, &m);
		if (!rc)
			rc = counters_put(c, txn, &m);
		if (rc) {
			txn_abort(c, txn);
			return rc;
		}
		rc = txn_commit(c, txn);
		if (rc || m.bytes <= target)
			return rc;
	}
}

/* Gives an entry a new sequence number (most recently used). */
static int entry_touch(struct bcache *c, MDB_txn *txn, const unsigned char *hash,
		       struct counters *m)
{
	MDB_val k = { HASH_LEN, (void *)hash }, v;
	struct ientry ie;
	int rc = mdb_get(txn, c->index, &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	memcpy(&ie, v.mv_data, sizeof(ie));
	MDB_val sk = { sizeof(ie.seq), &ie.seq };

	rc = mdb_del(txn, c->lru, &sk, NULL);
	if (rc && rc != MDB_NOTFOUND)
		return rc;
	ie.seq = ++m->seq;
	v.mv_data = &ie;
	v.mv_size = sizeof(ie);
	rc = mdb_put(txn, c->index, &k, &v, 0);
	if (rc)
		return rc;
	sk.mv_data = &ie.seq;
	MDB_val hv = { HASH_LEN, (void *)hash };

	return mdb_put(txn, c->lru, &sk, &hv, 0);
}

static int touches_apply(struct bcache *c, MDB_txn *txn, struct counters *m)
{
	unsigned char touch[TOUCH_MAX][HASH_LEN];
	int n, rc = 0;

	pthread_mutex_lock(&c->lock);
	n = c->n_touch;
	memcpy(touch, c->touch, (size_t)n * HASH_LEN);
	c->n_touch = 0;
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < n && !rc; i++)
		rc = entry_touch(c, txn, touch[i], m);
	return rc;
}

/* One write txn: queued touches, merged counters and the batch of puts
 * (NULL: none). Returns an MDB code. */
static int commit_batch(struct bcache *c, struct put_req *batch);

/* Merges counters and applies touches. Best effort. */
static void flush(struct bcache *c)
{
	if (!check_dead(c))
		commit_batch(c, NULL);
}

/* Flushes from the get path once FLUSH_NS passed (touches wait for it, or
 * for the next put: a write transaction per TOUCH_MAX random hits cost a
 * tenth of the read rate). */
static void maybe_flush(struct bcache *c)
{
	int64_t now = now_ns();
	bool go;

	pthread_mutex_lock(&c->lock);
	go = !c->flushing && now - c->last_flush_ns > FLUSH_NS;
	if (go) {
		c->flushing = true;
		c->last_flush_ns = now;
	}
	pthread_mutex_unlock(&c->lock);
	if (!go)
		return;
	flush(c);
	pthread_mutex_lock(&c->lock);
	c->flushing = false;
	pthread_mutex_unlock(&c->lock);
}

/* --- identity --- */

/* Builds store_id\0key\0etag\0bsize\0index into a malloc'd buffer. */
static char *identity(const char *store_id, const char *key, const char *etag,
		      uint32_t block_size, uint64_t index, size_t *len,
		      unsigned char hash[HASH_LEN])
{
	size_t a = strlen(store_id) + 1, b = strlen(key) + 1, e = strlen(etag) + 1;
	char nums[48];
	int n = snprintf(nums, sizeof(nums), "%u%c%llu", (unsigned)block_size, '\0',
			 (unsigned long long)index);
	char *id = malloc(a + b + e + (size_t)n);

	if (!id)
		return NULL;
	memcpy(id, store_id, a);
	memcpy(id + a, key, b);
	memcpy(id + a + b, etag, e);
	memcpy(id + a + b + e, nums, (size_t)n);
	*len = a + b + e + (size_t)n;
	EVP_Digest(id, *len, hash, NULL, EVP_sha256(), NULL);
	return id;
}

/* --- open / close --- */

static int open_dbis(struct bcache *c, MDB_txn *txn)
{
	int rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &c->blocks);

	if (!rc)
		rc = mdb_dbi_open(txn, "index", MDB_CREATE, &c->index);
	if (!rc)
		rc = mdb_dbi_open(txn, "lru", MDB_CREATE | MDB_INTEGERKEY, &c->lru);
	if (!rc)
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &c->meta);
	return rc;
}

/* Drops all blocks (keeping the counters' history) and zeroes sizes. */
static int drop_all(struct bcache *c, MDB_txn *txn)
{
	struct counters m;
	int rc = counters_get(c, txn, &m);

	if (!rc)
		rc = mdb_drop(txn, c->blocks, 0);
	if (!rc)
		rc = mdb_drop(txn, c->index, 0);
	if (!rc)
		rc = mdb_drop(txn, c->lru, 0);
	m.blocks = m.bytes = 0;
	if (!rc)
		rc = counters_put(c, txn, &m);
	return rc;
}

/* First txn: opens the databases, checks the format (an older format is
 * dropped), settles max_bytes (explicit wins, else the stored one). */
static int env_init(struct bcache *c, uint64_t max_bytes)
{
	MDB_val fk = { 6, (void *)"format" }, fv;
	uint64_t fmt = BC_FORMAT;
	struct counters m;
	MDB_txn *txn;
	int rc = txn_begin(c, 0, &txn);

	if (rc)
		return rc;
	rc = open_dbis(c, txn);
	if (!rc) {
		rc = mdb_get(txn, c->meta, &fk, &fv);
		if (rc == 0 && (fv.mv_size != sizeof(fmt) || memcmp(fv.mv_data, &fmt, 8))) {
			log_msg(LOG_WARNING, "cache: %s has another format; emptying it", c->dir);
			rc = drop_all(c, txn);
		} else if (rc == MDB_NOTFOUND) {
			rc = 0;
		}
	}
	fv.mv_data = &fmt;
	fv.mv_size = sizeof(fmt);
	if (!rc)
		rc = mdb_put(txn, c->meta, &fk, &fv, 0);
	if (!rc)
		rc = counters_get(c, txn, &m);
	if (!rc) {
		if (max_bytes)
			m.max_bytes = max_bytes;
		else if (!m.max_bytes)
			m.max_bytes = default_max(c->dir);
		c->max_bytes = m.max_bytes;
		rc = counters_put(c, txn, &m);
	}
	if (rc) {
		txn_abort(c, txn);
		return rc;
	}
	return txn_commit(c, txn);
}

/* Opens the environment; returns an MDB code or errno. */
static int env_open(struct bcache *c, uint64_t max_bytes)
{
	uint64_t want = (max_bytes ? max_bytes : MAX_DEFAULT_MAX) / 2 * 3 + MAP_SLACK;
	MDB_envinfo info;
	struct stat st;
	int dead;
	int rc = mdb_env_create(&c->env);

	if (rc)
		return rc;
	mdb_env_set_maxdbs(c->env, 8);
	mdb_env_set_maxreaders(c->env, MAX_READERS);
	rc = mdb_env_open(c->env, c->dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
	if (rc)
		goto out_close;
	mdb_reader_check(c->env, &dead);
	mdb_env_info(c->env, &info);
	if (info.me_mapsize < want && (rc = mdb_env_set_mapsize(c->env, want)))
		goto out_close;
	if (stat(c->data_path, &st) != 0) {
		rc = errno;
		goto out_close;
	}
	if (mdb_env_get_fd(c->env, &c->fd))
		c->fd = -1;
	c->data_dev = st.st_dev;
	c->data_ino = st.st_ino;
	rc = env_init(c, max_bytes);
	if (rc)
		goto out_close;
	/* the map must hold max_bytes (now known when it was stored) */
	want = c->max_bytes / 2 * 3 + MAP_SLACK;
	mdb_env_info(c->env, &info);
	if (info.me_mapsize < want)
		mdb_env_set_mapsize(c->env, want);
	find_map(c);
	return 0;
out_close:
	mdb_env_close(c->env);
	c->env = NULL;
	c->fd = -1;
	return rc;
}

/* Moves a corrupt data.mdb aside (replacing an older one) and drops the lock. */
static void move_aside(struct bcache *c)
{
	char aside[4096], lock[4096];

	snprintf(aside, sizeof(aside), "%s/%s", c->dir, BC_CORRUPT);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", c->dir);
	if (rename(c->data_path, aside) != 0)
		unlink(c->data_path);
	unlink(lock);
}

static void bc_free(struct bcache *c)
{
	pthread_cond_destroy(&c->put_cond);
	pthread_mutex_destroy(&c->lock);
	pthread_rwlock_destroy(&c->map_lock);
	free(c->data_path);
	free(c->dir);
	free(c);
}

int bc_open(const char *dir, uint64_t max_bytes, struct bcache **out, char *err,
	    size_t errlen)
{
	struct bcache *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return ENOMEM;
	pthread_rwlock_init(&c->map_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->put_cond, NULL);
	c->pending_tail = &c->pending;
	c->fd = -1;
	c->last_flush_ns = now_ns();
	c->dir = strdup(dir);
	if (!c->dir || asprintf(&c->data_path, "%s/data.mdb", dir) < 0) {
		c->data_path = NULL;
		rc = ENOMEM;
		goto out_free;
	}
	rc = dir_prepare(dir, err, errlen);
	if (rc)
		goto out_free;
	rc = env_open(c, max_bytes);
	if (mdb_is_corrupt(rc)) {
		log_msg(LOG_WARNING, "cache: %s is corrupt (%s); moved aside to %s and "
			"rebuilt", c->data_path, mdb_strerror(rc), BC_CORRUPT);
		move_aside(c);
		rc = env_open(c, max_bytes);
	}
	if (rc) {
		snprintf(err, errlen, "cannot open cache in %s: %s", dir, mdb_strerror(rc));
		rc = mdb_errno(rc);
		goto out_free;
	}
	chmod_file(dir, "data.mdb");
	chmod_file(dir, "lock.mdb");
	evict_for(c, 0);		/* the limit may have been lowered */
	*out = c;
	return 0;
out_free:
	bc_free(c);
	return rc;
}

void bc_close(struct bcache *c)
{
	if (!c)
		return;
	flush(c);
	mdb_env_close(c->env);
	bc_free(c);
}

/* --- get --- */

/* Copies n bytes at p in the map out with pread() of data.mdb: the same
 * bytes (the read txn keeps their pages from being reused), without mapping
 * the pages into our RSS (a GiB served from the cache would otherwise stay
 * mapped) nor page faults. Called inside a read txn. */
static void copy_out(struct bcache *c, const char *p, void *buf, size_t n)
{
	uintptr_t at = (uintptr_t)p;
	size_t done = 0;
	ssize_t got = 0;

	if (c->fd >= 0 && at >= c->map_base && at + n <= c->map_end) {
		at -= c->map_base;

		while (done < n && (got = pread(c->fd, (char *)buf + done, n - done,
					       (off_t)(at + done))) > 0)
			done += (size_t)got;
	}
	if (done < n)
		memcpy((char *)buf + done, p + done, n - done);
}

/* True when a "blocks" value holds this identity (not a hash collision nor
 * damage); sets *h to its header. The header and identity are read with
 * copy_out too: touching the value in the map would map its pages (on this
 * kernel a whole large folio of the block) into our RSS. */
static bool value_matches(struct bcache *c, const MDB_val *v, const char *id,
			  size_t id_len, uint32_t block_size, struct vhdr *h)
{
	char small[2048], *head = small;
	size_t n = sizeof(*h) + id_len;
	bool ok;

	if (v->mv_size < n || (n > sizeof(small) && !(head = malloc(n))))
		return false;
	copy_out(c, v->mv_data, head, n);
	memcpy(h, head, sizeof(*h));
	ok = h->magic == VHDR_MAGIC && h->id_len == id_len && h->data_len <= block_size &&
	     v->mv_size == n + h->data_len && !memcmp(head + sizeof(*h), id, id_len);
	if (head != small)
		free(head);
	return ok;
}

/* True when the value can be served. A whole-block read checks the stored
 * identity (value_matches). A range read (random access: one 4 KiB hit should
 * cost one pread, not two) trusts the SHA-256 key and checks only that the
 * value's size is the one its index entry and identity imply, so a value that
 * disagrees with its index entry is still a miss. */
static bool value_fits(struct bcache *c, const MDB_val *v, const struct ientry *ie,
		       const char *id, size_t id_len, uint32_t block_size, bool range,
		       struct vhdr *h)
{
	if (!range)
		return value_matches(c, v, id, id_len, block_size, h);
	if (ie->len > block_size || v->mv_size != sizeof(*h) + id_len + ie->len)
		return false;
	h->magic = VHDR_MAGIC;
	h->id_len = (uint32_t)id_len;
	h->data_len = ie->len;
	return true;
}

/* Looks the block up in one read txn and copies bytes [off, off + n) of it
 * out (n == SIZE_MAX: all from off), setting *block_len to the block's
 * length; a range past the block's end is a miss. Returns an MDB code. */
static int lookup(struct bcache *c, const unsigned char *hash, const char *id,
		  size_t id_len, uint32_t block_size, size_t off, size_t n, void *buf,
		  size_t *block_len, bool *stale)
{
	MDB_val k = { HASH_LEN, (void *)hash }, v;
	struct counters m;
	struct ientry ie;
	struct vhdr h;
	MDB_txn *txn;
	int rc = txn_begin(c, MDB_RDONLY, &txn);

	if (rc)
		return rc;
	rc = mdb_get(txn, c->index, &k, &v);
	if (rc)
		goto out_abort;
	memcpy(&ie, v.mv_data, sizeof(ie));
	rc = mdb_get(txn, c->blocks, &k, &v);
	if (rc)
		goto out_abort;
	if (!value_fits(c, &v, &ie, id, id_len, block_size, n != SIZE_MAX, &h)) {
		rc = MDB_NOTFOUND;		/* a collision or damage: a miss */
		goto out_abort;
	}
	const char *p = (const char *)v.mv_data + sizeof(h);

	if (n == SIZE_MAX && off <= h.data_len)
		n = h.data_len - off;
	if (off > h.data_len || n > h.data_len - off) {
		rc = MDB_NOTFOUND;
		goto out_abort;
	}
	copy_out(c, p + id_len + off, buf, n);
	*block_len = h.data_len;
	rc = counters_get(c, txn, &m);
	uint64_t horizon = m.blocks / 4 > 8 ? m.blocks / 4 : 8;

	*stale = !rc && ie.seq + horizon < m.seq;
	rc = 0;
out_abort:
	txn_abort(c, txn);
	return rc;
}

/* bc_get and bc_get_range: a lookup, counted as a hit (of n bytes, or the
 * block's length for n == SIZE_MAX) or a miss. */
static int get(struct bcache *c, const char *store_id, const char *key, const char *etag,
	       uint32_t block_size, uint64_t index, size_t off, size_t n, void *buf,
	       size_t *block_len)
{
	unsigned char hash[HASH_LEN];
	bool stale = false;
	size_t id_len;
	char *id;
	int rc = ENOENT;

	if (!c)
		return ENOENT;
	id = identity(store_id, key, etag, block_size, index, &id_len, hash);
	if (id && !check_dead(c))
		rc = lookup(c, hash, id, id_len, block_size, off, n, buf, block_len, &stale);
	free(id);
	if (rc)
		rc = ENOENT;
	pthread_mutex_lock(&c->lock);
	if (rc) {
		c->delta.misses++;
	} else {
		c->delta.hits++;
		c->delta.bytes_hit += n == SIZE_MAX ? *block_len : n;
	}
	if (stale && c->n_touch < TOUCH_MAX)
		memcpy(c->touch[c->n_touch++], hash, HASH_LEN);
	pthread_mutex_unlock(&c->lock);
	maybe_flush(c);
	return rc;
}

int bc_get(struct bcache *c, const char *store_id, const char *key, const char *etag,
	   uint32_t block_size, uint64_t index, void *buf, size_t *len)
{
	return get(c, store_id, key, etag, block_size, index, 0, SIZE_MAX, buf, len);
}

int bc_get_range(struct bcache *c, const char *store_id, const char *key,
		 const char *etag, uint32_t block_size, uint64_t index, size_t off,
		 size_t n, void *buf, size_t *block_len)
{
	return get(c, store_id, key, etag, block_size, index, off, n, buf, block_len);
}

/* --- put (group commit) --- */

/* Writes one block unless an entry is already there. m is updated. */
static int put_one(struct bcache *c, MDB_txn *txn, const struct put_req *r,
		   struct counters *m)
{
	MDB_val k = { HASH_LEN, (void *)r->hash }, v;
	struct vhdr h = { VHDR_MAGIC, (uint32_t)r->id_len, r->len };
	struct ientry ie;
	int rc = mdb_get(txn, c->index, &k, &v);

	if (rc != MDB_NOTFOUND)
		return rc;			/* 0: present (another fetcher) */
	v.mv_size = sizeof(h) + r->id_len + r->len;
	rc = mdb_put(txn, c->blocks, &k, &v, MDB_RESERVE);
	if (rc)
		return rc;
	memcpy(v.mv_data, &h, sizeof(h));
	memcpy((char *)v.mv_data + sizeof(h), r->id, r->id_len);
	memcpy((char *)v.mv_data + sizeof(h) + r->id_len, r->data, r->len);
	ie.seq = ++m->seq;
	ie.len = r->len;
	v.mv_data = &ie;
	v.mv_size = sizeof(ie);
	rc = mdb_put(txn, c->index, &k, &v, 0);
	if (rc)
		return rc;
	MDB_val sk = { sizeof(ie.seq), &ie.seq };

	rc = mdb_put(txn, c->lru, &sk, &k, 0);
	if (rc)
		return rc;
	m->blocks++;
	m->bytes += r->len;
	m->bytes_fetched += r->len;
	return 0;
}

static int commit_batch(struct bcache *c, struct put_req *batch)
{
	struct counters m;
	struct delta d;
	MDB_txn *txn;
	int rc = txn_begin(c, 0, &txn);

	if (rc)
		return rc;
	rc = counters_get(c, txn, &m);
	if (!rc)
		rc = touches_apply(c, txn, &m);
	for (struct put_req *r = batch; r && !rc; r = r->next)
		rc = put_one(c, txn, r, &m);
	d = delta_take(c, &m);
	if (!rc)
		rc = counters_put(c, txn, &m);
	if (rc) {
		txn_abort(c, txn);
		delta_restore(c, &d);
		return rc;
	}
	rc = txn_commit(c, txn);
	if (rc)
		delta_restore(c, &d);
	return rc;
}

static void put_batch(struct bcache *c, struct put_req *batch)
{
	uint64_t need = 0, n = 0;
	int rc;

	for (struct put_req *r = batch; r; r = r->next) {
		need += r->len;
		n++;
	}
	if (check_dead(c)) {
		rc = EIO;
		goto out_count;
	}
	rc = evict_for(c, need);
	if (!rc)
		rc = commit_batch(c, batch);
	if (rc == MDB_MAP_FULL) {
		/* free pages are fragmented or held by old readers: make room */
		int dead;

		mdb_reader_check(c->env, &dead);
		rc = evict_for(c, need + c->max_bytes / 4);
		if (!rc)
			rc = commit_batch(c, batch);
	}
	if (!rc)
		return;
	log_msg(LOG_DEBUG, "cache: put of %llu blocks failed: %s", (unsigned long long)n,
		mdb_strerror(rc));
out_count:
	pthread_mutex_lock(&c->lock);
	c->delta.put_failures += n;
	pthread_mutex_unlock(&c->lock);
}

/* Queues reqs[0..n) for the group commit and returns once a leader (this
 * thread or another) committed them; c->lock held. */
static void put_wait(struct bcache *c, struct put_req *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*c->pending_tail = &reqs[i];
		c->pending_tail = &reqs[i].next;
	}
	/* all n joined the list at once, so one batch holds them all */
	while (!reqs[n - 1].done) {
		if (c->committing) {
			pthread_cond_wait(&c->put_cond, &c->lock);
			continue;
		}
		struct put_req *batch = c->pending;

		c->pending = NULL;
		c->pending_tail = &c->pending;
		c->committing = true;
		pthread_mutex_unlock(&c->lock);
		put_batch(c, batch);
		pthread_mutex_lock(&c->lock);
		for (struct put_req *r = batch; r; r = r->next)
			r->done = true;		/* r may be freed right after */
		c->committing = false;
		c->last_flush_ns = now_ns();
		pthread_cond_broadcast(&c->put_cond);
	}
}

int bc_put_many(struct bcache *c, const char *store_id, uint32_t block_size,
		const struct bc_block *blocks, size_t n)
{
	struct put_req *reqs;
	size_t ok = 0;

	if (!c || !n)
		return 0;
	reqs = calloc(n, sizeof(*reqs));
	for (size_t i = 0; reqs && i < n; i++) {
		const struct bc_block *b = &blocks[i];
		struct put_req *r = &reqs[ok];

		if (b->len > block_size)
			continue;
		r->id = identity(store_id, b->key, b->etag, block_size, b->index,
				 &r->id_len, r->hash);
		if (!r->id)
			continue;
		r->data = b->data;
		r->len = b->len;
		ok++;
	}
	pthread_mutex_lock(&c->lock);
	c->delta.put_failures += n - ok;
	if (ok)
		put_wait(c, reqs, ok);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < ok; i++)
		free(reqs[i].id);
	free(reqs);
	return 0;
}

int bc_put(struct bcache *c, const char *store_id, const char *key, const char *etag,
	   uint32_t block_size, uint64_t index, const void *data, size_t len)
{
	struct bc_block b = { key, etag, index, data, len };

	return bc_put_many(c, store_id, block_size, &b, 1);
}

int bc_has(struct bcache *c, const char *store_id, const char *key, const char *etag,
	   uint32_t block_size, uint64_t index)
{
	unsigned char hash[HASH_LEN];
	MDB_val k = { HASH_LEN, hash }, v;
	MDB_txn *txn;
	size_t id_len;
	char *id;
	int found = 0;

	if (!c)
		return 0;
	id = identity(store_id, key, etag, block_size, index, &id_len, hash);
	if (id && !check_dead(c) && !txn_begin(c, MDB_RDONLY, &txn)) {
		struct vhdr h;

		found = !mdb_get(txn, c->blocks, &k, &v) &&
			value_matches(c, &v, id, id_len, block_size, &h);
		txn_abort(c, txn);
	}
	free(id);
	return found;
}

/* --- stats / clear --- */

void bc_note_skipped(struct bcache *c, uint64_t blocks)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->delta.put_failures += blocks;
	pthread_mutex_unlock(&c->lock);
}

int bc_get_stats(struct bcache *c, struct bc_stats *out)
{
	struct counters m;
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&m, 0, sizeof(m));
	if (!check_dead(c) && !txn_begin(c, MDB_RDONLY, &txn)) {
		rc = counters_get(c, txn, &m);
		txn_abort(c, txn);
		if (rc)
			memset(&m, 0, sizeof(m));
	}
	pthread_mutex_lock(&c->lock);
	out->hits = m.hits + c->delta.hits;
	out->misses = m.misses + c->delta.misses;
	out->bytes_hit = m.bytes_hit + c->delta.bytes_hit;
	out->put_failures = m.put_failures + c->delta.put_failures;
	pthread_mutex_unlock(&c->lock);
	out->bytes_fetched = m.bytes_fetched;
	out->evictions = m.evictions;
	out->blocks = m.blocks;
	out->bytes = m.bytes;
	out->max_bytes = c->max_bytes;
	return 0;
}

int bc_clear(struct bcache *c)
{
	MDB_txn *txn;
	int rc;

	if (check_dead(c))
		return EIO;
	rc = txn_begin(c, 0, &txn);
	if (rc)
		return EIO;
	rc = drop_all(c, txn);
	if (rc) {
		txn_abort(c, txn);
		return EIO;
	}
	return txn_commit(c, txn) ? EIO : 0;
}
